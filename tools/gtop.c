/*
 * gtop.c - live cluster monitor (like MOSIX mon): per-node load, CPU, memory, processes,
 * guests and away, the busiest processes of the cluster, and the last migrations.
 *
 * Data: the cluster table from the daemon (fuse/gsrc.h, as gps reads it), the daemon's node
 * list (client_nodes: load index, usable CPUs) and, for root, this node's migration history
 * (db/db.h, as `ssictl history`). The numbers come from tools/lib/gtop_model.c, the layout
 * of a frame (screen, -b text, --json) from tools/lib/gtop_view.c; this file owns the options,
 * sampling, the screen's loop and keys, and the batch loop.
 */
#include "tools/lib/cli.h"
#include "db/db.h"
#include "fuse/gsrc.h"
#include "ssid/client.h"
#include "ssid/config.h"
#include "ssid/ctl.h"
#include "ssid/ptable.h"
#include "ssid/ssierr.h"
#include "tools/lib/gtop_model.h"
#include "tools/lib/gtop_view.h"

#include <curses.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct opts {
	double delay;	  /* -d seconds between frames */
	int batch;	  /* -b */
	long frames;	  /* -n, 0 = until interrupted */
	int json;	  /* --json: one frame as JSON */
	int ntop;	  /* -t processes listed; 0 = 10, or what fits the screen */
	int nmig;	  /* -m migrations listed */
	int sort;	  /* -s, enum gtop_sort; the screen's order is in struct gtop_view */
	const char *node; /* --node: that node's processes */
};

/* Everything kept from one frame to the next. */
struct mon {
	struct opts *o;
	struct gsrc *src;
	int from_ssid;		  /* the table comes from the daemon (ask it for nodes too) */
	struct gsnap *cur, *prev; /* held snapshots; prev feeds the CPU deltas */
	char sock[PATH_MAX + 16]; /* control socket for client_nodes, "" none */
	struct client_node *cn;	  /* the daemon's node list of this frame, may be NULL */
	size_t ncn;
	char dbpath[PATH_MAX + 16]; /* state_dir/ssid.db, "" unknown */
	struct db *db;		    /* open history, root only */
	char err[600];		    /* the last failed refresh, "" if it worked */
	int help;		    /* curses: the help screen is up */
	struct gtop_view v; /* what is shown: model built from cur/prev/cn, migrations, selection */
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* ------------------------------------------------------------------ sampling */

static void load_migrations(struct mon *mo)
{
	char err[1024];

	free(mo->v.mig);
	mo->v.mig = NULL;
	mo->v.nmig = 0;
	mo->v.mig_note[0] = '\0';
	if (mo->o->nmig == 0) /* -m 0: no migrations part */
		return;
	if (!mo->dbpath[0]) {
		snprintf(mo->v.mig_note, sizeof(mo->v.mig_note),
			 "migrations: unknown (no readable ssid config)");
		return;
	}
	if (geteuid() != 0) {
		snprintf(mo->v.mig_note, sizeof(mo->v.mig_note),
			 "migrations: need root (the history is in %s, readable by root only)",
			 mo->dbpath);
		return;
	}
	if (!mo->db && access(mo->dbpath, F_OK) < 0) { /* db_open would create it */
		snprintf(mo->v.mig_note, sizeof(mo->v.mig_note), "migrations: none yet (no %s)",
			 mo->dbpath);
		return;
	}
	if (!mo->db && db_open(&mo->db, mo->dbpath, err, sizeof(err)) < 0) {
		mo->db = NULL;
		snprintf(mo->v.mig_note, sizeof(mo->v.mig_note), "migrations: %s", err);
		return;
	}
	/* On failure the handle stays for the next frame (see close_all on closing it). */
	if (db_mig_list(mo->db, 0, (size_t)mo->o->nmig, &mo->v.mig, &mo->v.nmig) < 0) {
		snprintf(mo->v.mig_note, sizeof(mo->v.mig_note), "migrations: %s",
			 db_errmsg(mo->db));
		mo->v.mig = NULL;
		mo->v.nmig = 0;
	}
}

/* The daemon's node list; on failure the frame goes on without it (the table suffices).
 * One connection per frame: the daemon may close a control connection after a reply. */
static void load_nodes(struct mon *mo)
{
	struct client *cl;
	char err[512];

	free(mo->cn);
	mo->cn = NULL;
	mo->ncn = 0;
	if (!mo->from_ssid || !mo->sock[0] || client_open(&cl, mo->sock, err, sizeof(err)) < 0)
		return;
	if (client_nodes(cl, &mo->cn, &mo->ncn) < 0) {
		mo->cn = NULL;
		mo->ncn = 0;
	}
	client_close(cl);
}

/* Take a new frame. 0, or a negative code with mo->err set (the previous frame stays). */
static int sample(struct mon *mo)
{
	struct gsnap *snap;
	struct gtop_model m;
	int r = gsrc_refresh(mo->src, &snap);

	if (r < 0) {
		char e[512];
		gsrc_last_error(mo->src, e, sizeof(e));
		snprintf(mo->err, sizeof(mo->err), "reading the cluster table: %s",
			 e[0] ? e : ssierr_str(r));
		return r;
	}
	load_nodes(mo);
	r = gtop_model_build(&m, snap->t, mo->cur ? mo->cur->t : NULL, mo->cn, mo->ncn, mo->v.hz);
	if (r < 0) {
		gsnap_put(snap);
		snprintf(mo->err, sizeof(mo->err), "building the frame: %s", ssierr_str(r));
		return r;
	}
	gtop_model_clear(&mo->v.m);
	mo->v.m = m;
	gtop_model_sort(&mo->v.m, mo->v.sort);
	if (mo->prev)
		gsnap_put(mo->prev);
	mo->prev = mo->cur;
	mo->cur = snap;
	mo->v.when = time(NULL);
	mo->err[0] = '\0';
	load_migrations(mo);
	return 0;
}

/* ------------------------------------------------------------------ loops */

/* Sleep s seconds unless a signal stops us. */
static void nap(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};

	while (!stop && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The first frame needs a previous table for CPU%: take one, wait a little, take another. */
static int first_sample(struct mon *mo)
{
	int r = sample(mo);

	if (r < 0)
		return r;
	nap(mo->o->delay < 0.5 ? mo->o->delay : 0.5);
	return stop ? 0 : sample(mo);
}

/* Step the node selection through all -> rows in screen order -> all. */
static void pick(struct mon *mo, int dir)
{
	size_t n = mo->v.m.nnodes;
	long at = -1; /* -1 = all */

	if (!n)
		return;
	for (size_t i = 0; i < n; i++)
		if (mo->v.m.nodes[i].id == mo->v.sel)
			at = (long)i;
	at += dir;
	if (at < -1)
		at = (long)n - 1;
	if (at >= (long)n)
		at = -1;
	mo->v.sel = at < 0 ? 0 : mo->v.m.nodes[at].id;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* TERM unset (cron, CI) or unknown: fall back to a common terminal rather than fail. */
static SCREEN *open_screen(void)
{
	static const char *const terms[] = {NULL, "xterm", "vt100"};
	const char *env = getenv("TERM");

	for (size_t i = 0; i < sizeof(terms) / sizeof(terms[0]); i++) {
		const char *t = i ? terms[i] : env && *env ? env : NULL;
		if (!t)
			continue;
		SCREEN *s = newterm(t, stdout, stdin);
		if (s)
			return s;
	}
	return NULL;
}

static int run_screen(struct mon *mo)
{
	SCREEN *scr;
	int64_t next;

	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fprintf(stderr, "gtop: not a terminal; use -b for plain-text frames\n");
		return 1;
	}
	scr = open_screen();
	if (!scr) {
		fprintf(stderr, "gtop: cannot drive this terminal (TERM=%s); use -b\n",
			getenv("TERM") ? getenv("TERM") : "");
		return 1;
	}
	cbreak();
	noecho();
	keypad(stdscr, TRUE);
	curs_set(0);
	next = mono_ms() + (mo->o->delay < 0.5 ? (int64_t)(mo->o->delay * 1000) : 500);
	gtop_view_draw(&mo->v, mo->help, mo->err);
	while (!stop) {
		int64_t left = next - mono_ms();
		if (left <= 0) {
			sample(mo);
			next = mono_ms() + (int64_t)(mo->o->delay * 1000);
			gtop_view_draw(&mo->v, mo->help, mo->err);
			continue;
		}
		timeout((int)left);
		int c = getch();
		if (c == ERR)
			continue;
		if (mo->help) {
			mo->help = 0;
		} else if (c == 'q' || c == 'Q') {
			break;
		} else if (c == 's') {
			mo->v.sort = (mo->v.sort + 1) % GTOP_SORT_N;
			gtop_model_sort(&mo->v.m, mo->v.sort);
		} else if (c == 'n' || c == KEY_DOWN) {
			pick(mo, 1);
		} else if (c == 'p' || c == KEY_UP) {
			pick(mo, -1);
		} else if (c == 'a') {
			mo->v.sel = 0;
		} else if (c == 'h' || c == '?') {
			mo->help = 1;
		} else if (c == ' ') {
			next = 0;
		}
		gtop_view_draw(&mo->v, mo->help,
			       mo->err); /* also after KEY_RESIZE: LINES/COLS are new */
	}
	/* Started in a background process group (timeout(1) makes one), the terminal writes of
	 * endwin would stop us with SIGTTOU forever: quitting must not depend on job control. */
	signal(SIGTTOU, SIG_IGN);
	endwin();
	delscreen(scr);
	return 0;
}

/* ------------------------------------------------------------------ batch */

static int resolve_node(struct mon *mo)
{
	const char *s = mo->o->node;
	char *end;
	unsigned long id;

	if (!s)
		return 0;
	for (size_t i = 0; i < mo->v.m.nnodes; i++)
		if (strcmp(mo->v.m.nodes[i].name, s) == 0) {
			mo->v.sel = mo->v.m.nodes[i].id;
			return 0;
		}
	id = strtoul(s, &end, 10);
	if (*s && !*end && gtop_model_node(&mo->v.m, (unsigned)id)) {
		mo->v.sel = (unsigned)id;
		return 0;
	}
	fprintf(stderr, "gtop: no node '%s' in the cluster table\n", s);
	return -1;
}

static int run_batch(struct mon *mo)
{
	if (mo->o->json) {
		gtop_view_json(&mo->v, mo->o->ntop);
		return 0;
	}
	for (long i = 0; !stop && (mo->o->frames == 0 || i < mo->o->frames); i++) {
		if (i > 0) {
			nap(mo->o->delay);
			if (stop)
				break;
			if (sample(mo) < 0) {
				fprintf(stderr, "gtop: %s\n", mo->err);
				return 1;
			}
			putchar('\n');
		}
		gtop_view_text(&mo->v, mo->o->ntop);
		if (fflush(stdout) != 0) {
			fprintf(stderr, "gtop: writing output: %s\n", strerror(errno));
			return 1;
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ start */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: gtop [-d SECS] [-s KEY] [-t N] [-m N] [--node NODE]\n"
		"       gtop -b [-n N] [...] | gtop --json [...]\n"
		"Live cluster monitor: a header with cluster totals, one row per node (state, "
		"CPUs,\n"
		"load, CPU%%, memory, processes, guests, away, a load bar), the busiest processes "
		"of\n"
		"the cluster with NODE and HOME, and the last migrations of this node's processes "
		"(root).\n\n"
		"  -d SECS         seconds between frames (default 1)\n"
		"  -b              batch: plain-text frames on stdout, no screen handling\n"
		"  -n N            with -b: N frames, then exit (default: until interrupted)\n"
		"  --json          one frame as a JSON object, then exit\n"
		"  -s KEY          sort the nodes by node, load, cpu, mem or guests (default "
		"node)\n"
		"  -t N            processes listed (default 10; on the screen: what fits)\n"
		"  -m N            migrations listed (default 5)\n"
		"  --node NODE     list the processes running on NODE (name or id)\n"
		"  --source ssid|local  ssid (default): the cluster table from the daemon; local:\n"
		"                  this node's /proc only, no daemon needed\n"
		"  --sock PATH     the daemon's control socket (default: config "
		"run_dir/ssid.sock)\n"
		"  -c, --conf FILE ssid config (default $SSID_CONF or %s)\n"
		"  --node-id N, --node-name NAME  this node's identity (default: config)\n"
		"  -h, --help\n"
		"Keys: q quit, s sort, n/p next/previous node's processes, a all, space refresh,\n"
		"h help. See gtop(1).\n",
		CONFIG_DEFAULT_PATH);
}

/* Source, config paths (socket, database). Returns 0, or 1 after saying what is wrong. */
static int open_all(struct mon *mo, struct gsrc_opts *so, int source_given)
{
	char err[1024];
	struct config c;
	int r;

	if (!source_given)
		so->kind = GSRC_SSID;
	mo->from_ssid = so->kind == GSRC_SSID;
	mo->src = gsrc_new(so, err, sizeof(err));
	if (!mo->src) {
		fprintf(stderr, "gtop: %s\n", err);
		return 1;
	}
	mo->v.self = gsrc_node_name(mo->src);
	if (config_load(so->conf ? so->conf : config_default_path(), &c, err, sizeof(err)) == 0) {
		snprintf(mo->sock, sizeof(mo->sock), "%s/%s", c.run_dir, CTL_SOCK_NAME);
		snprintf(mo->dbpath, sizeof(mo->dbpath), "%s/ssid.db", c.state_dir);
		config_free(&c);
	}
	if (so->sock)
		snprintf(mo->sock, sizeof(mo->sock), "%s", so->sock);
	r = first_sample(mo);
	if (mo->from_ssid && (r == -ENOENT || r == -ECONNREFUSED || r == -ETIMEDOUT ||
			      r == -EAGAIN || r == -ECONNRESET || r == -EPIPE)) {
		fprintf(stderr,
			"gtop: ssid %s on this node (%s).\n"
			"Start it (ssid -f, or ssi-lab up for a lab cluster) and try again, or use "
			"--source local to watch this node alone.\n",
			r == -ENOENT || r == -ECONNREFUSED ? "is not running" : "does not answer",
			mo->err);
		return 1;
	}
	if (r < 0) {
		fprintf(stderr, "gtop: %s\n", mo->err);
		return 1;
	}
	return 0;
}

static void close_all(struct mon *mo)
{
	gtop_model_clear(&mo->v.m);
	if (mo->cur)
		gsnap_put(mo->cur);
	if (mo->prev)
		gsnap_put(mo->prev);
	if (mo->src)
		gsrc_free(mo->src);
	free(mo->cn);
	free(mo->v.mig);
	db_close(mo->db);
	mo->db = NULL;
}

static int int_arg(const char *s, long lo, long hi, long *v)
{
	char *end;

	errno = 0;
	*v = strtol(s, &end, 10);
	return errno || !*s || *end || *v < lo || *v > hi ? -1 : 0;
}

static int parse(int argc, char **argv, struct opts *o, struct gsrc_opts *so, int *source_given)
{
	static const struct option lo[] = {{"json", no_argument, NULL, 'J'},
					   {"node", required_argument, NULL, 'N'},
					   {"source", required_argument, NULL, 'S'},
					   {"conf", required_argument, NULL, 'C'},
					   {"sock", required_argument, NULL, 'K'},
					   {"node-id", required_argument, NULL, 'I'},
					   {"node-name", required_argument, NULL, 'M'},
					   {"help", no_argument, NULL, 'h'},
					   {NULL, 0, NULL, 0}};
	char *end;
	long v;
	int c;

	while ((c = getopt_long(argc, argv, "d:bn:s:t:m:c:h", lo, NULL)) != -1) {
		switch (c) {
		case 'd':
			o->delay = strtod(optarg, &end);
			if (*end || !(o->delay >= 0.1 && o->delay <= 3600)) {
				fprintf(stderr, "gtop: -d %s: seconds from 0.1 to 3600\n", optarg);
				return 1;
			}
			break;
		case 'b':
			o->batch = 1;
			break;
		case 'n':
			if (int_arg(optarg, 1, LONG_MAX, &o->frames) < 0) {
				fprintf(stderr, "gtop: -n %s: a number of frames >= 1\n", optarg);
				return 1;
			}
			break;
		case 't':
		case 'm':
			if (int_arg(optarg, 0, 100000, &v) < 0) {
				fprintf(stderr, "gtop: -%c %s: a count from 0\n", c, optarg);
				return 1;
			}
			*(c == 't' ? &o->ntop : &o->nmig) = (int)v;
			break;
		case 's':
			if (gtop_sort_parse(optarg, &o->sort) < 0) {
				fprintf(stderr, "gtop: -s %s: node, load, cpu, mem or guests\n",
					optarg);
				return 1;
			}
			break;
		case 'J':
			o->json = 1;
			break;
		case 'N':
			o->node = optarg;
			break;
		case 'S':
			*source_given = 1;
			if (gsrc_kind_parse(optarg, &so->kind) < 0) {
				fprintf(stderr, "gtop: --source %s: expected local or ssid\n",
					optarg);
				return 1;
			}
			break;
		case 'c':
		case 'C':
			so->conf = optarg;
			break;
		case 'I':
			if (int_arg(optarg, 1, PTABLE_NODE_MAX, &v) < 0) {
				fprintf(stderr, "gtop: --node-id %s: 1..%d\n", optarg,
					PTABLE_NODE_MAX);
				return 1;
			}
			so->node_id = (unsigned)v;
			break;
		case 'M':
			snprintf(so->node_name, sizeof(so->node_name), "%s", optarg);
			break;
		case 'K':
			so->sock = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "gtop: unexpected argument '%s' (see gtop --help)\n", argv[optind]);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = {.delay = 1.0, .nmig = 5, .ntop = -1};
	struct gsrc_opts so = {0};
	struct mon mo = {0};
	struct sigaction sa;
	int source_given = 0, r;

	if (parse(argc, argv, &o, &so, &source_given))
		return 1;
	if (o.json)
		o.batch = 1;
	if (o.ntop < 0 && o.batch)
		o.ntop = 10;
	mo.o = &o;
	mo.v.sort = o.sort;
	mo.v.mig_max = o.nmig;
	mo.v.hz = sysconf(_SC_CLK_TCK) > 0 ? sysconf(_SC_CLK_TCK) : 100;
	/* No SA_RESTART: a signal ends the sleep or getch at once and the loop sees `stop`. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	r = open_all(&mo, &so, source_given);
	if (r == 0 && resolve_node(&mo) < 0)
		r = 1;
	if (r == 0)
		r = o.batch ? run_batch(&mo) : run_screen(&mo);
	close_all(&mo);
	return r;
}
