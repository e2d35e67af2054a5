/*
 * gfs.c - gprocfs --gfs: its main, and where and as whom a request goes. Owns the options,
 * the state the gfs_*.c files share (gfs_g), the line to ssid (gfsconn on run_dir/gfs.sock),
 * the node list (from ssid's control socket, refreshed when a name is unknown or the root is
 * listed), the path mapping /<node>/<rest> -> (node id, /<rest>), one FILE_REQ per operation
 * made as the FUSE caller (many in flight: one per FUSE thread), and the multi-threaded loop.
 * High-level API: every operation is path based, as the file service is (like sshfs).
 * Does not own: open files, their reopen and write-behind (gfs_fh.c), the operations table
 * and the path operations (gfs_ops.c), rights (the serving ssid checks them as the caller),
 * time-outs (ssid's).
 */
#include "fuse/gfs.h"
#include "fuse/gfs_int.h"
#include <fuse3/fuse_lowlevel.h> /* fuse_parse_cmdline */

#include "ssid/client.h"
#include "ssid/config.h"
#include "ssid/fsmsg.h"

#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NODES_FRESH_S 1	 /* an unknown name refreshes the list at most this often */
#define MAX_THREADS   32 /* FUSE worker threads: requests in flight at most */

struct gfs_state gfs_g = {.nlock = PTHREAD_MUTEX_INITIALIZER};

/* ---- nodes and requests ---- */

void gfs_nodes_refresh(int force)
{
	struct client_node *list = NULL;
	struct client *cl;
	char err[256];
	size_t n = 0;
	time_t now = time(NULL);

	pthread_mutex_lock(&gfs_g.nlock);
	if (!force && now - gfs_g.nodes_at < NODES_FRESH_S) {
		pthread_mutex_unlock(&gfs_g.nlock);
		return;
	}
	gfs_g.nodes_at = now;
	pthread_mutex_unlock(&gfs_g.nlock);
	if (client_open(&cl, gfs_g.ctl_sock, err, sizeof(err)) < 0)
		return;
	if (client_nodes(cl, &list, &n) == 0) {
		pthread_mutex_lock(&gfs_g.nlock);
		gfs_g.nnodes = 0;
		for (size_t i = 0; i < n && gfs_g.nnodes < MAX_NODES; i++) {
			if (list[i].id < 1 || !config_name_ok(list[i].name))
				continue;
			gfs_g.nodes[gfs_g.nnodes].id = list[i].id;
			snprintf(gfs_g.nodes[gfs_g.nnodes].name, sizeof(gfs_g.nodes[0].name), "%s",
				 list[i].name);
			gfs_g.nnodes++;
		}
		pthread_mutex_unlock(&gfs_g.nlock);
	}
	free(list);
	client_close(cl);
}

static int node_find(const char *name, size_t len)
{
	int id = 0;

	pthread_mutex_lock(&gfs_g.nlock);
	for (int i = 0; i < gfs_g.nnodes && !id; i++)
		if (strlen(gfs_g.nodes[i].name) == len && !memcmp(gfs_g.nodes[i].name, name, len))
			id = gfs_g.nodes[i].id;
	pthread_mutex_unlock(&gfs_g.nlock);
	return id;
}

/* "/node1/a/b" -> node id of node1 and "/a/b"; "/node1" -> "/". -ENOENT: unknown node;
 * 1: path is the root of /gfs itself. */
int gfs_split(const char *path, uint32_t *node, const char **rest)
{
	const char *name, *slash;
	size_t len;
	int id;

	if (!path)
		return -ENOENT; /* libfuse may pass none for an open file whose path is gone */
	if (!path[0] || !path[1])
		return 1;
	name = path + 1;
	slash = strchr(name, '/');
	len = slash ? (size_t)(slash - name) : strlen(name);
	id = node_find(name, len);
	if (!id) {
		gfs_nodes_refresh(0);
		id = node_find(name, len);
	}
	if (!id)
		return -ENOENT;
	*node = (uint32_t)id;
	*rest = slash ? slash : "/";
	return 0;
}

/* A request of op as the caller (uid, gid; groups only where a path is resolved). */
void gfs_call_init(struct gfs_call *c, uint32_t op, int with_groups)
{
	struct fuse_context *ctx = fuse_get_context();
	struct wire_file_req *q = &c->req.u.file_req;

	wire_msg_init(&c->req, WIRE_FILE_REQ, 0);
	q->op = op;
	if (!ctx) /* redo()'s thread: requests on a handle, made as its opener */
		return;
	q->uid = ctx->uid;
	q->gid = ctx->gid;
	if (with_groups) {
		gid_t gl[NGROUPS_SEND];
		int n = fuse_getgroups(NGROUPS_SEND, gl);

		for (int i = 0; i < n && i < NGROUPS_SEND; i++)
			c->groups[i] = gl[i];
		if (n > 0) {
			q->groups = c->groups;
			q->ngroups = (size_t)(n < NGROUPS_SEND ? n : NGROUPS_SEND);
		}
	}
}

/* Is the caller a thread of the ssid that started us? Then it is a file-service worker
 * serving a path through /gfs itself (/gfs/n1/gfs/n1/...): every level would hold one more
 * worker until none is left, so such requests are refused (ELOOP). */
static int from_daemon(void)
{
	char p[64];
	struct stat st;
	pid_t tid = fuse_get_context() ? fuse_get_context()->pid : 0;

	if (!gfs_g.daemon || tid <= 0)
		return 0;
	snprintf(p, sizeof(p), "/proc/%d/task/%d", (int)gfs_g.daemon, (int)tid);
	return stat(p, &st) == 0;
}

/* Send; returns the file result (0 or -errno) and leaves c->rep to read when 0 (free with
 * gfs_call_done). */
int gfs_call_run(struct gfs_call *c)
{
	int r = c->req.u.file_req.op == WIRE_FOP_WRITE || c->nobarrier ? 0 : gfs_barrier();

	if (r == 0 && from_daemon())
		r = -ELOOP;
	if (r < 0)
		return r;
	r = gfsconn_call(gfs_g.conn, c->node, &c->req, &c->rep);

	if (r < 0)
		return r;
	r = c->rep.u.file_reply.err;
	if (r < -4095)
		r = -EIO; /* an ssi code: not an errno the caller would understand */
	if (r < 0)
		wire_msg_free(&c->rep);
	return r;
}

void gfs_call_done(struct gfs_call *c)
{
	wire_msg_free(&c->rep);
}

/* A path operation with no result beyond its status. */
int gfs_path_op(uint32_t op, const char *path, const char *path2, uint32_t mode, uint32_t flags,
		uint64_t offset, const void *data, size_t len)
{
	struct gfs_call c;
	const char *rest;
	int r;

	memset(&c, 0, sizeof(c));
	r = gfs_split(path, &c.node, &rest);
	if (r)
		return r > 0 ? -EPERM : r;
	gfs_call_init(&c, op, 1);
	c.req.u.file_req.path = rest;
	c.req.u.file_req.path2 = path2;
	c.req.u.file_req.mode = mode;
	c.req.u.file_req.flags = flags;
	c.req.u.file_req.offset = offset;
	c.req.u.file_req.data = data;
	c.req.u.file_req.data_len = len;
	r = gfs_call_run(&c);
	if (r == 0)
		gfs_call_done(&c);
	return r;
}

/* ---- main ---- */

struct gfs_opts {
	char *conf;	  /* config file: run_dir */
	char *run_dir;	  /* override */
	unsigned wait_ms; /* client-side guard, default 30000 */
	double attr_to;	  /* seconds, default 1.0 */
};

#define OPT(t, f)                                                                                  \
	{                                                                                          \
		t, offsetof(struct gfs_opts, f), 0                                                 \
	}
static const struct fuse_opt gfs_optspec[] = {
	OPT("conf=%s", conf),
	OPT("run_dir=%s", run_dir),
	OPT("wait_ms=%u", wait_ms),
	OPT("attr_timeout=%lf", attr_to),
	FUSE_OPT_END,
};

static void gfs_usage(const char *prog)
{
	printf("usage: %s --gfs MOUNTPOINT [-f] [-o options]\n"
	       "/gfs: every node's files at MOUNTPOINT/<node>/<path>, served by that node's ssid\n"
	       "with the caller's rights (docs/gfs.md). Run as root (ssid starts it).\n\n"
	       "options (-o name=value):\n"
	       "  conf=FILE         config for run_dir (default $SSID_CONF or %s)\n"
	       "  run_dir=DIR       ssid's run directory (gfs.sock, ssid.sock); overrides conf\n"
	       "  attr_timeout=S    entry and attribute cache time-out, seconds (default 1)\n"
	       "  wait_ms=N         longest wait for ssid's answer (default 30000; ssid itself\n"
	       "                    answers EIO after [gfs] timeout_ms)\n"
	       "Always on: allow_other, no default_permissions (the serving node checks).\n"
	       "Not done yet: a migrated process's namespace rooted at its home's /gfs view.\n",
	       prog, CONFIG_DEFAULT_PATH);
}

/* fuse_main() without its loop defaults: up to MAX_THREADS requests in flight. */
static int run_fuse(struct fuse_args *args)
{
	struct fuse_cmdline_opts co = {0};
	struct fuse_loop_config *lc;
	struct fuse *fs;
	int r = 1;

	if (fuse_parse_cmdline(args, &co) != 0)
		return 2;
	if (!co.mountpoint) {
		fprintf(stderr,
			"usage: gprocfs --gfs MOUNTPOINT [options] (--gfs --help for more)\n");
		return 2;
	}
	fs = fuse_new(args, &gfs_ops, sizeof(gfs_ops), NULL);
	if (!fs)
		goto out;
	if (fuse_mount(fs, co.mountpoint) != 0)
		goto out_new;
	if (fuse_daemonize(co.foreground) != 0 || fuse_set_signal_handlers(fuse_get_session(fs)))
		goto out_mount;
	lc = fuse_loop_cfg_create();
	if (lc) {
		fuse_loop_cfg_set_max_threads(lc, MAX_THREADS);
		fuse_loop_cfg_set_idle_threads(lc, 4);
		r = co.singlethread ? fuse_loop(fs) : fuse_loop_mt(fs, lc);
		r = r ? 1 : 0;
		fuse_loop_cfg_destroy(lc);
	}
	fuse_remove_signal_handlers(fuse_get_session(fs));
out_mount:
	fuse_unmount(fs);
out_new:
	fuse_destroy(fs);
out:
	free(co.mountpoint);
	return r;
}

int gfs_main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct gfs_opts o = {0};
	char err[PATH_MAX + 128], gsock[PATH_MAX + 16];
	int r = 1;

	o.attr_to = 1.0;
	if (fuse_opt_parse(&args, &o, gfs_optspec, NULL) < 0)
		return 2;
	for (int i = 1; i < args.argc; i++)
		if (!strcmp(args.argv[i], "-h") || !strcmp(args.argv[i], "--help")) {
			gfs_usage(argv[0]);
			r = 0;
			goto out;
		}
	if (geteuid() != 0) {
		/* ssid believes the uid in each request only from a root client */
		fprintf(stderr, "gprocfs --gfs: must run as root (ssid starts it)\n");
		goto out;
	}
	if (!o.run_dir) {
		struct config c;
		const char *path = o.conf ? o.conf : config_default_path();

		if (config_load(path, &c, err, sizeof(err)) < 0) {
			fprintf(stderr, "gprocfs --gfs: %s (or give -o run_dir=DIR)\n", err);
			goto out;
		}
		o.run_dir = strdup(c.run_dir);
		config_free(&c);
		if (!o.run_dir)
			goto out;
	}
	snprintf(gfs_g.ctl_sock, sizeof(gfs_g.ctl_sock), "%s/ssid.sock", o.run_dir);
	snprintf(gsock, sizeof(gsock), "%s/%s", o.run_dir, FSMSG_SOCK_NAME);
	gfs_g.attr_to = o.attr_to >= 0 ? o.attr_to : 1.0;
	gfs_g.wait_ms = o.wait_ms ? (int)o.wait_ms : 30000;
	{
		char p[64], comm[32] = "";
		FILE *f;

		snprintf(p, sizeof(p), "/proc/%d/comm", (int)getppid());
		f = fopen(p, "re");
		if (f) {
			if (!fgets(comm, sizeof(comm), f))
				comm[0] = '\0';
			fclose(f);
		}
		if (!strcmp(comm, "ssid\n"))
			gfs_g.daemon = getppid();
	}
	if (gfsconn_open(&gfs_g.conn, gsock, gfs_g.wait_ms, err, sizeof(err)) < 0) {
		fprintf(stderr, "gprocfs --gfs: %s\n", err);
		goto out;
	}
	mallopt(M_MMAP_THRESHOLD, 4 << 20); /* 1 MiB request buffers: see fsrv_new() */
	mallopt(M_TRIM_THRESHOLD, 16 << 20);
	gfs_nodes_refresh(1);
	fuse_opt_add_arg(&args, "-oallow_other,fsname=gfs,subtype=gfs");
	r = run_fuse(&args);
	gfsconn_close(gfs_g.conn);
out:
	fuse_opt_free_args(&args);
	free(o.conf);
	free(o.run_dir);
	return r;
}
