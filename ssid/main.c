/*
 * main.c - ssid, the node daemon: start-up checks, the main loop, clean shutdown.
 *
 * The main thread owns the listening SSH socket (accepts and hands each session to its own
 * thread in link.c), the control socket, a signalfd, and the timers: load sampling, gossip
 * rounds and the membership tick (cluster.c). Link threads do all SSH I/O. SIGTERM/SIGINT:
 * links are closed and joined, the last events written, the store closed; exit 0.
 */
#include "db/db.h"
#include "ssid/cluster.h"
#include "ssid/config.h"
#include "ssid/ctl.h"
#include "ssid/fsfwd.h"
#include "ssid/fsrv.h"
#include "ssid/fusesup.h"
#include "ssid/keys.h"
#include "ssid/link.h"
#include "ssid/log.h"
#include "ssid/mig.h"
#include "ssid/pending.h"
#include "ssid/proctab.h"
#include "ssid/sigsvc.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libssh/libssh.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ssid [-f] [-c CONF] [-s STATE_DIR] [-r RUN_DIR] [-v] [--syslog]\n"
		"The ssi node daemon: SSH links to peer nodes, membership, load gossip, control\n"
		"socket RUN_DIR/ssid.sock. See ssid(8).\n"
		"  -f, --foreground   stay in the foreground, log to stderr (else: detach, "
		"syslog)\n"
		"  -c, --config CONF  config file (default $SSID_CONF or %s)\n"
		"  -s, --state-dir D  override [node] state_dir (holds ssid.db)\n"
		"  -r, --run-dir D    override [node] run_dir (holds ssid.sock)\n"
		"      --syslog       log to syslog even in the foreground\n"
		"  -v, --verbose      debug log lines\n"
		"  -h, --help         this text\n"
		"Serves the cluster process table (for gprocfs and gps) and signals to any\n"
		"process of the cluster (gkill); starts gprocfs on [gproc] mount (default "
		"/gproc).\n"
		"Serves this node's files to peers and starts gprocfs --gfs on [gfs] mount\n"
		"(default /gfs: every node's files, with the caller's rights).\n"
		"Migration: grun and gmigrate talk to RUN_DIR/mig.sock; MIG_*, STDIO and EXIT\n"
		"frames from peers (docs/migration-daemon.md).\n",
		CONFIG_DEFAULT_PATH);
}

static int ensure_dir(const char *what, const char *path)
{
	if (mkdir(path, 0755) == 0 || errno == EEXIST)
		return 0;
	fprintf(stderr, "ssid: %s %s: %s; create its parent or change %s in the config\n", what,
		path, strerror(errno), what);
	return -1;
}

struct daemon {
	int report_fd; /* background start: pipe to the waiting parent, else -1 */
	struct config cfg;
	struct db *db;
	struct link_mgr *links;
	struct ctl_server *ctl;
	struct cluster *cl;
	struct pending *pend;
	struct proctab *ptab;
	struct sigsvc *sig;
	struct fusesup *gproc, *gfs; /* gprocfs on /gproc, gprocfs --gfs on /gfs */
	struct fsrv *fsrv;	     /* /gfs: this node's files, for peers and for us */
	struct fsfwd *fsfwd;	     /* /gfs: requests of gprocfs --gfs to their node */
	struct mig *mig;	     /* migration: grun, gmigrate, MIG_* frames (ssid/mig.h) */
	int sigfd;
};

static int min_int(int a, int b)
{
	return a < b ? a : b;
}

/* Supervisors for the two FUSE views gprocfs serves: /gproc (the cluster process table, read
 * from our control socket sock) and /gfs (every node's files, through run_dir/gfs.sock). */
static int start_views_new(struct daemon *d, const char *sock, char *err, size_t errlen)
{
	char gproc_opts[PATH_MAX + 128], gfs_opts[PATH_MAX + 16];
	int r;

	snprintf(gproc_opts, sizeof(gproc_opts), "source=ssid,sock=%s,node_id=%d,node_name=%s",
		 sock, d->cfg.id, d->cfg.name);
	snprintf(gfs_opts, sizeof(gfs_opts), "run_dir=%s", d->cfg.run_dir);
	r = fusesup_new(&d->gproc,
			&(struct fusesup_spec){.what = "/gproc",
					       .mount = d->cfg.gproc_mount,
					       .fsname = "gprocfs",
					       .opts = gproc_opts},
			err, errlen);
	if (r == 0)
		r = fusesup_new(&d->gfs,
				&(struct fusesup_spec){.what = "/gfs",
						       .mode = "--gfs",
						       .mount = d->cfg.gfs_mount,
						       .fsname = "gfs",
						       .opts = gfs_opts},
				err, errlen);
	return r;
}

static int start(struct daemon *d, char *err, size_t errlen)
{
	struct link_cfg lc;
	char dbpath[PATH_MAX + 16], sock[PATH_MAX + 16];
	ssh_key key;
	int r;

	r = keys_load_private(d->cfg.key, &key, err, errlen);
	if (r < 0)
		return r;
	ssh_key_free(key);
	if (ensure_dir("state_dir", d->cfg.state_dir) < 0 ||
	    ensure_dir("run_dir", d->cfg.run_dir) < 0)
		return -ENOENT;
	memset(&lc, 0, sizeof(lc));
	lc.self_id = d->cfg.id;
	lc.heartbeat_ms = d->cfg.heartbeat_ms;
	lc.down_ms = d->cfg.down_ms;
	lc.reconnect_min_ms = d->cfg.reconnect_min_ms;
	lc.reconnect_max_ms = d->cfg.reconnect_max_ms;
	snprintf(lc.key_path, sizeof(lc.key_path), "%s", d->cfg.key);
	snprintf(dbpath, sizeof(dbpath), "%s/ssid.db", d->cfg.state_dir);
	r = db_open(&d->db, dbpath, err, errlen);
	if (r < 0)
		return r;
	r = cluster_new(&d->cl, &d->cfg, d->db, err, errlen);
	if (r < 0)
		return r;
	r = link_mgr_new(&d->links, &lc, cluster_link_ops(d->cl), err, errlen);
	if (r < 0)
		return r;
	r = link_mgr_listen(d->links, d->cfg.listen_host, d->cfg.listen_port, err, errlen);
	if (r < 0)
		return r;
	snprintf(sock, sizeof(sock), "%s/%s", d->cfg.run_dir, CTL_SOCK_NAME);
	r = ctl_server_open(&d->ctl, sock, err, errlen);
	if (r < 0)
		return r;
	r = cluster_ctl_register(d->cl, d->ctl);
	if (r == 0)
		r = pending_new(&d->pend);
	if (r == 0)
		r = proctab_new(&d->ptab, d->cl, &d->cfg, d->pend, "/proc");
	if (r == 0)
		r = proctab_register(d->ptab, d->ctl);
	if (r == 0)
		r = sigsvc_new(&d->sig, d->cl, d->pend, d->cfg.id);
	if (r == 0)
		r = sigsvc_register(d->sig, d->ctl);
	if (r < 0) {
		snprintf(err, errlen, "control requests: %s", strerror(-r));
		return r;
	}
	r = start_views_new(d, sock, err, errlen);
	if (r < 0)
		return r;
	r = fsrv_new(&d->fsrv, d->cl, 4, err, errlen);
	if (r == 0)
		r = fsfwd_new(&d->fsfwd, d->cl, d->fsrv, d->cfg.id, d->cfg.run_dir,
			      d->cfg.gfs_timeout_ms, err, errlen);
	if (r < 0)
		return r;
	r = mig_new(&d->mig, d->cl, &d->cfg, err, errlen);
	if (r < 0)
		return r;
	cluster_start(d->cl, d->links);
	/* gprocfs asks for its first table at once: the main loop answers it. */
	r = fusesup_start(d->gproc, cluster_mono_ms(), err, errlen);
	if (r == 0)
		r = fusesup_start(d->gfs, cluster_mono_ms(), err, errlen);
	return r;
}

static void stop(struct daemon *d)
{
	fusesup_free(d->gproc); /* unmount /gproc first: nothing reads it once we are gone */
	fusesup_free(d->gfs);	/* and /gfs, before its forwarder stops answering */
	fsfwd_stop(d->fsfwd);	/* unmounts /gfs; it and fsrv send through the links */
	fsrv_stop(d->fsrv);
	mig_stop(d->mig);
	link_mgr_free(d->links); /* joins every link thread first: they call into the cluster */
	mig_free(d->mig);
	fsrv_free(d->fsrv);
	fsfwd_free(d->fsfwd);
	proctab_free(d->ptab);
	sigsvc_free(d->sig);
	pending_free(d->pend);
	cluster_free(d->cl);
	ctl_server_free(d->ctl);
	db_close(d->db);
	config_free(&d->cfg);
}

/*
 * Background mode: fork before any thread exists (threads do not survive fork). The parent
 * waits on a pipe for the child's start-up result, prints an error if there is one and exits
 * with it, so `ssid` without -f still stops with one clear line when something is wrong.
 * Returns 0 in the child, 1 in a parent that must exit 1, and exits 0 in a happy parent.
 */
static int detach(struct daemon *d)
{
	char msg[1024];
	int pfd[2];
	ssize_t n;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
		fprintf(stderr, "ssid: cannot detach: %s\n", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		close(pfd[0]);
		d->report_fd = pfd[1];
		setsid();
		return 0;
	}
	close(pfd[1]);
	do
		n = read(pfd[0], msg, sizeof(msg) - 1);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		fprintf(stderr, "ssid: the daemon died during start-up; run ssid -f to see why\n");
		exit(1);
	}
	msg[n] = '\0';
	if (strcmp(msg, "ok")) {
		fprintf(stderr, "ssid: %s\n", msg);
		exit(1);
	}
	exit(0);
}

/* Tell a waiting parent how start-up went (error text, or NULL for success). */
static void report_start(struct daemon *d, const char *error)
{
	const char *m = error ? error : "ok";

	if (d->report_fd < 0)
		return;
	if (write(d->report_fd, m, strlen(m)) < 0)
		log_warn("reporting start-up: %s", strerror(errno));
	close(d->report_fd);
	d->report_fd = -1;
	if (!error) {
		int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
	}
}

static int next_ms(int64_t due, int64_t now)
{
	return due <= now ? 0 : (int)(due - now);
}

static void loop(struct daemon *d)
{
	int64_t now = cluster_mono_ms(), t_sample = now, t_gossip = now + d->cfg.gossip_ms,
		t_tick = now, t_gproc = now;
	struct pollfd p[3] = {
		{.fd = link_mgr_listen_fd(d->links), .events = POLLIN},
		{.fd = ctl_server_fd(d->ctl), .events = POLLIN},
		{.fd = d->sigfd, .events = POLLIN},
	};
	char err[256];

	for (;;) {
		int tmo;

		now = cluster_mono_ms();
		if (now >= t_sample)
			t_sample = now + cluster_sample(d->cl, now);
		if (now >= t_gossip)
			t_gossip = now + cluster_gossip(d->cl, now);
		if (now >= t_tick)
			t_tick = now + cluster_tick(d->cl, now);
		if (now >= t_gproc)
			t_gproc = now +
				  min_int(fusesup_tick(d->gproc, now), fusesup_tick(d->gfs, now));
		now = cluster_mono_ms();
		tmo = next_ms(t_sample, now);
		if (next_ms(t_gossip, now) < tmo)
			tmo = next_ms(t_gossip, now);
		if (next_ms(t_tick, now) < tmo)
			tmo = next_ms(t_tick, now);
		if (next_ms(t_gproc, now) < tmo)
			tmo = next_ms(t_gproc, now);
		if (poll(p, 3, tmo) < 0) {
			if (errno == EINTR)
				continue;
			log_err("poll: %s", strerror(errno));
			return;
		}
		if (p[0].revents & POLLIN && link_mgr_accept(d->links, err, sizeof(err)) < 0)
			log_warn("%s", err);
		if (p[1].revents & POLLIN) {
			int r = ctl_server_serve(d->ctl);
			if (r < 0)
				log_debug("control request: %s", strerror(-r));
		}
		if (p[2].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(d->sigfd, &si, sizeof(si)) == sizeof(si) &&
			    si.ssi_signo != SIGHUP) {
				log_info("signal %u: shutting down", si.ssi_signo);
				return;
			}
		}
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"foreground", no_argument, NULL, 'f'},
		{"config", required_argument, NULL, 'c'},
		{"state-dir", required_argument, NULL, 's'},
		{"run-dir", required_argument, NULL, 'r'},
		{"syslog", no_argument, NULL, 'S'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *conf = config_default_path(), *state = NULL, *run = NULL;
	int fg = 0, use_syslog = 0, verbose = 0, o, r;
	struct daemon d;
	char err[1024] = "";
	sigset_t set;

	while ((o = getopt_long(argc, argv, "fc:s:r:vh", opts, NULL)) != -1) {
		switch (o) {
		case 'f':
			fg = 1;
			break;
		case 'c':
			conf = optarg;
			break;
		case 's':
			state = optarg;
			break;
		case 'r':
			run = optarg;
			break;
		case 'S':
			use_syslog = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "ssid: unexpected argument '%s'; see ssid --help\n", argv[optind]);
		return 2;
	}
	memset(&d, 0, sizeof(d));
	d.report_fd = -1;
	r = config_load(conf, &d.cfg, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "ssid: %s\n", err);
		return 1;
	}
	if ((state && snprintf(d.cfg.state_dir, sizeof(d.cfg.state_dir), "%s", state) < 0) ||
	    (run && snprintf(d.cfg.run_dir, sizeof(d.cfg.run_dir), "%s", run) < 0))
		return 1;
	log_init("ssid", use_syslog || !fg, verbose);
	ssh_init();
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	signal(SIGPIPE, SIG_IGN);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* before any thread: they inherit it */
	d.sigfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (!fg && detach(&d) != 0)
		return 1; /* the parent exits here, with the child's start-up result */
	r = start(&d, err, sizeof(err));
	report_start(&d, r < 0 ? (err[0] ? err : strerror(-r)) : NULL);
	if (r < 0) {
		if (fg)
			fprintf(stderr, "ssid: %s\n", err[0] ? err : strerror(-r));
		stop(&d);
		return 1;
	}
	log_info("%s (id %d) listening on %s:%u, %zu configured peers", d.cfg.name, d.cfg.id,
		 d.cfg.listen_host, d.cfg.listen_port, d.cfg.npeers);
	loop(&d);
	stop(&d);
	ssh_finalize();
	log_info("stopped");
	return 0;
}
