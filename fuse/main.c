/*
 * main.c - gprocfs: the FUSE file system behind /gproc (libfuse3 low-level API), and its
 * main. Owns: options, the state the gproc files share (gproc_g), opening the data source
 * (gsrc.c) with its first table, the prepare hook that numbers each snapshot and versions its
 * files (gtree_prepare), and the watcher thread that invalidates the kernel's entries of
 * processes that vanished and of files whose content changed, so that an open rarely meets
 * an outdated inode (ESTALE, see gproc_ops.c). Does not own: the request handlers, open
 * handles, listings and time-outs (gproc_ops.c), names and content (gtree.c).
 * `gprocfs --gfs ...` runs the /gfs file system instead (gfs.c).
 */
#include "fuse/gfs.h"
#include "fuse/gproc_int.h"
#include "fuse/gsrc.h"
#include "fuse/gtree.h"
#include "ssid/ssierr.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHANGED_MAX 65536 /* pending invalidations of changed files; more are dropped */

struct opts {
	char *source;  /* "local" (default) or "ssid" */
	char *conf;    /* config file */
	char *name;    /* node name override */
	char *procdir; /* /proc to read (tests) */
	char *sock;    /* ssid control socket */
	unsigned node; /* node id override */
	unsigned ttl;  /* snapshot ttl, ms */
	int mt;	       /* libfuse's multi-threaded loop */
};

struct gproc_state gproc_g;

/* Files and directories whose content or attributes changed, for the watcher to invalidate. */
struct change {
	uint32_t gpid;
	const char *name; /* a gtree entry name (static), or NULL for the directory */
};
static struct {
	pthread_mutex_t lock; /* protects all below */
	struct change *v;
	size_t n, cap;
} chq = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0};

/* gtree_prepare's report (a fetching thread). */
static void on_changed(void *arg, uint32_t gpid, const char *name)
{
	(void)arg;
	pthread_mutex_lock(&chq.lock);
	if (chq.n == chq.cap && chq.cap < CHANGED_MAX) {
		size_t cap = chq.cap ? chq.cap * 2 : 256;
		struct change *v = realloc(chq.v, cap * sizeof(*v));
		if (v) {
			chq.v = v;
			chq.cap = cap;
		}
	}
	if (chq.n < chq.cap) /* else dropped: an open still gets ESTALE and retries */
		chq.v[chq.n++] = (struct change){gpid, name};
	pthread_mutex_unlock(&chq.lock);
}

/* The gsrc prepare hook: number the snapshot and version its files. */
static void on_snapshot(struct gsnap *snap, const struct gsnap *prev, void *arg)
{
	(void)arg;
	gproc_g.gen_no = gproc_g.gen_no % GTREE_GEN_MAX + 1;
	gtree_prepare(snap, prev, gproc_g.gen_no, on_changed, NULL);
}

long long gproc_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Drop the kernel's entries of files whose content changed (the next open looks the name up
 * and gets the current inode) and the attributes of directories whose owner changed. */
static void invalidate_changed(void)
{
	struct change *v;
	size_t n;

	pthread_mutex_lock(&chq.lock);
	v = chq.v;
	n = chq.n;
	chq.v = NULL;
	chq.n = chq.cap = 0;
	pthread_mutex_unlock(&chq.lock);
	for (size_t i = 0; i < n && !atomic_load(&gproc_g.stop); i++) {
		fuse_ino_t dir = gtree_proc_ino(v[i].gpid);
		if (v[i].name)
			fuse_lowlevel_notify_inval_entry(gproc_g.se, dir, v[i].name,
							 strlen(v[i].name));
		else
			fuse_lowlevel_notify_inval_inode(gproc_g.se, dir, -1, 0);
	}
	free(v);
}

/* Tell the kernel to drop the entries of vanished processes, so a cached dentry does not
 * outlive the process, and those of changed files. Runs outside request handlers (notify
 * from a handler can deadlock). */
void *gproc_watch(void *arg)
{
	(void)arg;
	while (!atomic_load(&gproc_g.stop)) {
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
		if (gproc_mono_ms() - atomic_load(&gproc_g.last_use_ms) > 3000)
			continue; /* nobody looks: the refresher rests too */
		struct gsnap *s;
		if (gsrc_get(gproc_g.src, &s) == 0)
			gsnap_put(s); /* keeps the refresher going while the fs is used */
		uint32_t *gone;
		size_t n;
		gsrc_take_gone(gproc_g.src, &gone, &n);
		for (size_t i = 0; i < n && !atomic_load(&gproc_g.stop); i++) {
			char name[16];
			int len = snprintf(name, sizeof(name), "%u", gone[i]);
			fuse_lowlevel_notify_inval_entry(gproc_g.se, FUSE_ROOT_ID, name,
							 (size_t)len);
		}
		free(gone);
		invalidate_changed();
	}
	return NULL;
}

#define OPT(t, p)                                                                                  \
	{                                                                                          \
		t, offsetof(struct opts, p), 1                                                     \
	}
static const struct fuse_opt optspec[] = {
	OPT("source=%s", source),   OPT("conf=%s", conf), OPT("node_name=%s", name),
	OPT("procdir=%s", procdir), OPT("sock=%s", sock), OPT("node_id=%u", node),
	OPT("ttl_ms=%u", ttl),	    OPT("mt", mt),	  FUSE_OPT_END,
};

static void usage(const char *prog)
{
	printf("usage: %s MOUNTPOINT [options]\n"
	       "The cluster process table as a /proc-like file system (docs/gproc.md).\n\n"
	       "gprocfs options (-o name=value):\n"
	       "  source=local|ssid   data source (default local: this node's /proc only;\n"
	       "                      ssid: the cluster table from the daemon's control socket,\n"
	       "                      which needs a daemon that serves request %d)\n"
	       "  sock=PATH           control socket (default: run_dir of the config/ssid.sock)\n"
	       "  conf=FILE           config file for [node] id and name (default $SSID_CONF or\n"
	       "                      /etc/ssid/ssid.conf)\n"
	       "  node_id=N           node id (1..511), overrides the config\n"
	       "  node_name=NAME      node name, overrides the config\n"
	       "  ttl_ms=N            snapshot lifetime in ms (default 500)\n"
	       "  procdir=DIR         the /proc to read (default /proc)\n"
	       "  mt                  libfuse's multi-threaded loop (default: one request\n"
	       "                      thread plus a helper for root listings; faster)\n"
	       "Always on: allow_other, default_permissions.\n"
	       "%s --gfs MOUNTPOINT: the /gfs file system instead (%s --gfs --help).\n\n",
	       prog, PTABLE_CTL_TYPE, prog, prog);
	fuse_cmdline_help();
	fuse_lowlevel_help();
}

/* Identity and first table, so that a mount never starts answering EIO. */
static int open_source(const struct opts *o)
{
	struct gsrc_opts so = {0};
	struct gsnap *first;
	char err[512] = "";
	int r;

	if (o->source && gsrc_kind_parse(o->source, &so.kind) < 0) {
		fprintf(stderr, "gprocfs: source=%s: expected local or ssid\n", o->source);
		return 2;
	}
	so.node_id = o->node;
	if (o->name)
		snprintf(so.node_name, sizeof(so.node_name), "%s", o->name);
	so.conf = o->conf;
	so.procdir = o->procdir;
	so.ttl_ms = o->ttl;
	so.sock = o->sock;
	so.prepare = on_snapshot;
	gproc_g.src = gsrc_new(&so, err, sizeof(err));
	if (!gproc_g.src) {
		fprintf(stderr, "gprocfs: %s\n", err);
		return 1;
	}
	r = gsrc_get(gproc_g.src, &first);
	if (r < 0) {
		gsrc_last_error(gproc_g.src, err, sizeof(err));
		fprintf(stderr, "gprocfs: %s\n", err[0] ? err : ssierr_str(r));
		gsrc_free(gproc_g.src);
		gproc_g.src = NULL;
		return 1;
	}
	gsnap_put(first);
	return 0;
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts co = {0};
	struct fuse_loop_config *lc = NULL;
	struct opts o = {0};
	int r = 1;

	/* `gprocfs --gfs MOUNTPOINT ...`: the /gfs file system instead (fuse/gfs.c). */
	if (argc > 1 && !strcmp(argv[1], "--gfs")) {
		argv[1] = argv[0];
		return gfs_main(argc - 1, argv + 1);
	}
	if (fuse_opt_parse(&args, &o, optspec, NULL) < 0 || fuse_parse_cmdline(&args, &co) != 0)
		return 2;
	if (co.show_help) {
		usage(argv[0]);
		r = 0;
		goto out;
	}
	if (co.show_version) {
		printf("gprocfs (ssi), FUSE library %s\n", fuse_pkgversion());
		r = 0;
		goto out;
	}
	if (!co.mountpoint) {
		fprintf(stderr, "usage: %s MOUNTPOINT [options] (--help for more)\n", argv[0]);
		r = 2;
		goto out;
	}
	r = open_source(&o);
	if (r)
		goto out;
	r = 1;
	fuse_opt_add_arg(&args, "-oallow_other,default_permissions,fsname=gprocfs,subtype=gproc");
	gproc_g.se = fuse_session_new(&args, &gproc_ops, sizeof(gproc_ops), NULL);
	if (!gproc_g.se)
		goto out;
	if (fuse_set_signal_handlers(gproc_g.se) != 0)
		goto out_session;
	if (fuse_session_mount(gproc_g.se, co.mountpoint) != 0)
		goto out_handlers;
	atomic_store(&gproc_g.last_use_ms, gproc_mono_ms());
	fuse_daemonize(co.foreground);
	gproc_g.single = !o.mt;
	if (gproc_g.single) {
		r = fuse_session_loop(gproc_g.se);
	} else {
		lc = fuse_loop_cfg_create();
		fuse_loop_cfg_set_clone_fd(lc, (unsigned)co.clone_fd);
		/* fuse_parse_cmdline leaves UINT_MAX for "not given". */
		unsigned mt = co.max_threads, idle = co.max_idle_threads;
		fuse_loop_cfg_set_max_threads(lc, mt && mt <= 1000 ? mt : 16);
		fuse_loop_cfg_set_idle_threads(lc, idle && idle <= 1000 ? idle : 4);
		r = fuse_session_loop_mt(gproc_g.se, lc);
		fuse_loop_cfg_destroy(lc);
	}
	r = r ? 1 : 0;
	fuse_session_unmount(gproc_g.se);
out_handlers:
	fuse_remove_signal_handlers(gproc_g.se);
out_session:
	fuse_session_destroy(gproc_g.se);
out:
	if (gproc_g.src)
		gsrc_free(gproc_g.src);
	free(co.mountpoint);
	fuse_opt_free_args(&args);
	free(o.source);
	free(o.conf);
	free(o.name);
	free(o.procdir);
	free(o.sock);
	return r;
}
