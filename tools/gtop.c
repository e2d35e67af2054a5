/*
 * gtop.c - live cluster monitor (like MOSIX mon): per-node load, CPU, memory, processes,
 * guests and away, the busiest processes of the cluster, and the last migrations.
 *
 * Data: the cluster table from the daemon (fuse/gsrc.h, as gps reads it), the daemon's node
 * list (client_nodes: load index, usable CPUs) and, for root, this node's migration history
 * (db/db.h, as `ssictl history`). The numbers come from tools/lib/gtop_model.c; this file
 * owns sampling, the curses screen, the plain-text frames of -b and the --json object.
 * One frame is laid out once (struct out) and either drawn by curses or printed.
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

#include <curses.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BAR_W	20 /* load bar of -b; the screen gives it what the columns leave */
#define BAR_MAX 60

struct opts {
	double delay;	  /* -d seconds between frames */
	int batch;	  /* -b */
	long frames;	  /* -n, 0 = until interrupted */
	int json;	  /* --json: one frame as JSON */
	int ntop;	  /* -t processes listed; 0 = 10, or what fits the screen */
	int nmig;	  /* -m migrations listed */
	int sort;	  /* enum gtop_sort */
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
	struct gtop_model m;	    /* built from cur/prev/cn */
	char dbpath[PATH_MAX + 16]; /* state_dir/ssid.db, "" unknown */
	struct db *db;		    /* open history, root only */
	struct db_mig *mig;	    /* last migrations, newest first */
	size_t nmig;
	char mig_note[PATH_MAX + 128]; /* why there are no migration rows, "" if there are */
	char err[600];		       /* the last failed refresh, "" if it worked */
	long hz;
	unsigned sel; /* node whose processes are listed, 0 = all */
	int help;     /* curses: the help screen is up */
	time_t when;  /* wall clock of cur */
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

	free(mo->mig);
	mo->mig = NULL;
	mo->nmig = 0;
	mo->mig_note[0] = '\0';
	if (mo->o->nmig == 0) /* -m 0: no migrations part */
		return;
	if (!mo->dbpath[0]) {
		snprintf(mo->mig_note, sizeof(mo->mig_note),
			 "migrations: unknown (no readable ssid config)");
		return;
	}
	if (geteuid() != 0) {
		snprintf(mo->mig_note, sizeof(mo->mig_note),
			 "migrations: need root (the history is in %s, readable by root only)",
			 mo->dbpath);
		return;
	}
	if (!mo->db && access(mo->dbpath, F_OK) < 0) { /* db_open would create it */
		snprintf(mo->mig_note, sizeof(mo->mig_note), "migrations: none yet (no %s)",
			 mo->dbpath);
		return;
	}
	if (!mo->db && db_open(&mo->db, mo->dbpath, err, sizeof(err)) < 0) {
		mo->db = NULL;
		snprintf(mo->mig_note, sizeof(mo->mig_note), "migrations: %s", err);
		return;
	}
	/* On failure the handle stays for the next frame (see close_all on closing it). */
	if (db_mig_list(mo->db, 0, (size_t)mo->o->nmig, &mo->mig, &mo->nmig) < 0) {
		snprintf(mo->mig_note, sizeof(mo->mig_note), "migrations: %s", db_errmsg(mo->db));
		mo->mig = NULL;
		mo->nmig = 0;
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
	r = gtop_model_build(&m, snap->t, mo->cur ? mo->cur->t : NULL, mo->cn, mo->ncn, mo->hz);
	if (r < 0) {
		gsnap_put(snap);
		snprintf(mo->err, sizeof(mo->err), "building the frame: %s", ssierr_str(r));
		return r;
	}
	gtop_model_clear(&mo->m);
	mo->m = m;
	gtop_model_sort(&mo->m, mo->o->sort);
	if (mo->prev)
		gsnap_put(mo->prev);
	mo->prev = mo->cur;
	mo->cur = snap;
	mo->when = time(NULL);
	mo->err[0] = '\0';
	load_migrations(mo);
	return 0;
}

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

/* ------------------------------------------------------------------ text of a frame */

/* Where a frame goes: curses rows (clipped to the screen) or stdout lines. */
struct out {
	int curses;
	int row, rows, cols;
	int bar_w; /* characters inside the load bar's brackets */
};

static void line(struct out *o, attr_t attr, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void line(struct out *o, attr_t attr, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (!o->curses) {
		size_t n = strlen(text);
		while (n > 0 && text[n - 1] == ' ')
			text[--n] = '\0';
		puts(text);
		return;
	}
	if (o->row >= o->rows)
		return;
	move(o->row, 0);
	clrtoeol();
	attron(attr);
	addnstr(text, o->cols);
	attroff(attr);
	o->row++;
}

static void kb_text(uint64_t kb, char *o, size_t n)
{
	if (kb < 1024)
		snprintf(o, n, "%" PRIu64 "K", kb);
	else if (kb < 1024 * 1024)
		snprintf(o, n, "%.1fM", (double)kb / 1024);
	else if (kb < 1024ull * 1024 * 1024)
		snprintf(o, n, "%.1fG", (double)kb / (1024 * 1024));
	else
		snprintf(o, n, "%.1fT", (double)kb / (1024.0 * 1024 * 1024));
}

/* v with fmt, or "-" when unknown (negative). */
static void num_text(double v, const char *fmt, char *o, size_t n)
{
	if (v < 0)
		snprintf(o, n, "-");
	else
		snprintf(o, n, fmt, v);
}

static const char *node_name(const struct mon *mo, unsigned id, char *o, size_t n)
{
	const struct gtop_node *g = gtop_model_node(&mo->m, id);

	if (g)
		snprintf(o, n, "%s", g->name);
	else
		snprintf(o, n, "%u", id);
	return o;
}

static void user_text(uint32_t uid, char *o, size_t n)
{
	struct passwd *pw = getpwuid(uid);

	if (pw && strlen(pw->pw_name) <= 8)
		snprintf(o, n, "%s", pw->pw_name);
	else
		snprintf(o, n, "%u", uid);
}

static void args_text(const struct ptable_proc *p, char *o, size_t n)
{
	size_t k = 0;

	if (!p->cmdline_len || !p->cmdline) {
		snprintf(o, n, "[%s]", p->comm);
		return;
	}
	for (uint32_t i = 0; i < p->cmdline_len && k + 1 < n; i++) {
		unsigned char c = (unsigned char)p->cmdline[i];
		o[k++] = c == 0 ? ' ' : c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	while (k > 0 && o[k - 1] == ' ')
		k--;
	o[k] = '\0';
}

static void header(const struct mon *mo, struct out *o)
{
	const struct gtop_totals *t = &mo->m.tot;
	char tm[16], load[16], cpu[16], used[16], tot[16];
	struct tm lt;

	localtime_r(&mo->when, &lt);
	strftime(tm, sizeof(tm), "%H:%M:%S", &lt);
	num_text(t->load, "%.2f", load, sizeof(load));
	num_text(t->cpu_pct, "%.1f%%", cpu, sizeof(cpu));
	kb_text(t->mem_used_kb, used, sizeof(used));
	kb_text(t->mem_total_kb, tot, sizeof(tot));
	line(o, A_BOLD,
	     "gtop %s on %s  nodes %" PRIu32 "/%" PRIu32 " up  cpus %" PRIu32 "  procs %" PRIu32
	     "  away %" PRIu32,
	     tm, gsrc_node_name(mo->src), t->nodes_up, t->nodes, t->cpus, t->procs, t->away);
	line(o, A_BOLD, "load %s  cpu %s  mem %s/%s  sort %s", load, cpu, used, tot,
	     gtop_sort_name(mo->o->sort));
}

static void node_rows(const struct mon *mo, struct out *o)
{
	double scale = 1.0;

	for (size_t i = 0; i < mo->m.nnodes; i++)
		if (mo->m.nodes[i].load > scale)
			scale = mo->m.nodes[i].load;
	line(o, A_REVERSE, "%-10s %-7s %4s %5s %5s %5s %11s %5s %6s %4s %-*s", "NODE", "STATE",
	     "CPUS", "LOAD", "CPU%", "PRC%", "MEM", "PROCS", "GUESTS", "AWAY", o->bar_w + 2,
	     "LOAD");
	for (size_t i = 0; i < mo->m.nnodes; i++) {
		const struct gtop_node *g = &mo->m.nodes[i];
		char cpus[16], load[16], cpu[16], prc[16], mem[40], u[16], t[16], procs[16],
			guests[16], bar[BAR_MAX + 3];
		int down = g->state == PTABLE_NODE_DOWN;
		num_text(g->cpus ? g->cpus : -1.0, "%.0f", cpus, sizeof(cpus));
		num_text(g->load, "%.2f", load, sizeof(load));
		num_text(g->cpu_pct, "%.1f", cpu, sizeof(cpu));
		num_text(g->proc_pct, "%.1f", prc, sizeof(prc));
		kb_text(g->mem_used_kb, u, sizeof(u));
		kb_text(g->mem_total_kb, t, sizeof(t));
		snprintf(mem, sizeof(mem), "%s/%s", u, t);
		num_text(down ? -1.0 : g->procs, "%.0f", procs, sizeof(procs));
		num_text(down ? -1.0 : g->guests, "%.0f", guests, sizeof(guests));
		int w = o->bar_w, fill = g->load > 0 ? (int)lround(g->load / scale * w) : 0;
		bar[0] = '[';
		for (int k = 0; k < w; k++)
			bar[k + 1] = k < fill ? '#' : ' ';
		snprintf(bar + w + 1, 2, "]");
		line(o, g->id == mo->sel ? A_BOLD | A_UNDERLINE : A_NORMAL,
		     "%-10s %-7s %4s %5s %5s %5s %11s %5s %6s %4" PRIu32 " %s", g->name,
		     ptable_node_state_name(g->state), cpus, down ? "-" : load, cpu, prc,
		     g->mem_total_kb ? mem : "-", procs, guests, g->away, down ? "" : bar);
	}
}

static void proc_rows(const struct mon *mo, struct out *o, int max)
{
	int shown = 0;

	if (mo->sel) {
		char sel[PTABLE_NAME_MAX + 8];
		line(o, A_BOLD, "PROCESSES on %s by CPU (a: all nodes)",
		     node_name(mo, mo->sel, sel, sizeof(sel)));
	} else {
		line(o, A_BOLD, "PROCESSES top %d by CPU, all nodes", max);
	}
	line(o, A_REVERSE, "%10s %-10s %-10s %-8s %5s %8s %6s %-s", "GPID", "NODE", "HOME", "USER",
	     "%CPU", "TIME", "RSS", "COMMAND");
	for (size_t i = 0; i < mo->m.nprocs && shown < max; i++) {
		const struct gtop_proc *g = &mo->m.procs[i];
		const struct ptable_proc *p = g->p;
		char nd[PTABLE_NAME_MAX + 8], hm[PTABLE_NAME_MAX + 8], user[32], pct[16], t[32],
			rss[16], args[256];
		if (mo->sel && p->node != mo->sel)
			continue;
		uint64_t s = g->ticks / (uint64_t)mo->hz;
		user_text(p->uid[1], user, sizeof(user));
		num_text(g->pct, "%.1f", pct, sizeof(pct));
		snprintf(t, sizeof(t), "%" PRIu64 ":%02" PRIu64, s / 60, s % 60);
		kb_text(p->vm[PTABLE_VM_RSS], rss, sizeof(rss));
		args_text(p, args, sizeof(args));
		line(o, A_NORMAL, "%10" PRIu32 " %-10s %-10s %-8s %5s %8s %6s %s", p->gpid,
		     node_name(mo, p->node, nd, sizeof(nd)), node_name(mo, p->home, hm, sizeof(hm)),
		     user, pct, t, rss, args);
		shown++;
	}
	if (!shown)
		line(o, A_NORMAL, "(none)");
}

static void mig_rows(const struct mon *mo, struct out *o)
{
	line(o, A_BOLD, "MIGRATIONS last %d of this node's processes", mo->o->nmig);
	if (mo->mig_note[0]) {
		line(o, A_NORMAL, "%s", mo->mig_note);
		return;
	}
	line(o, A_REVERSE, "%-8s %10s %-10s %-10s %7s %7s %-7s %s", "START", "GPID", "FROM", "TO",
	     "MS", "BYTES", "OUTCOME", "ERROR");
	for (size_t i = 0; i < mo->nmig; i++) {
		const struct db_mig *g = &mo->mig[i];
		char ts[16], from[PTABLE_NAME_MAX + 8], to[PTABLE_NAME_MAX + 8], ms[24], b[16];
		time_t t = (time_t)(g->start_ms / 1000);
		struct tm lt;
		localtime_r(&t, &lt);
		strftime(ts, sizeof(ts), "%H:%M:%S", &lt);
		if (g->end_ms > 0)
			snprintf(ms, sizeof(ms), "%" PRId64, g->end_ms - g->start_ms);
		else
			snprintf(ms, sizeof(ms), "-");
		kb_text(g->bytes / 1024, b, sizeof(b));
		line(o, A_NORMAL, "%-8s %10" PRIu32 " %-10s %-10s %7s %7s %-7s %s", ts, g->gpid,
		     node_name(mo, (unsigned)g->from_node, from, sizeof(from)),
		     node_name(mo, (unsigned)g->to_node, to, sizeof(to)), ms, b,
		     db_mig_outcome_str(g->outcome), g->error);
	}
	if (!mo->nmig)
		line(o, A_NORMAL, "(none)");
}

/* One frame. ntop: process rows; < 0 = what the screen leaves after the other parts. */
static void frame(const struct mon *mo, struct out *o, int ntop)
{
	int mig_lines =
		mo->o->nmig == 0 ? 0 : 3 + (mo->mig_note[0] ? 0 : (int)(mo->nmig ? mo->nmig : 1));

	header(mo, o);
	node_rows(mo, o);
	line(o, A_NORMAL, "%s", "");
	if (ntop < 0) {
		ntop = o->rows - o->row - 2 - mig_lines;
		if (ntop < 1)
			ntop = 1;
	}
	proc_rows(mo, o, ntop);
	if (mo->o->nmig > 0) {
		line(o, A_NORMAL, "%s", "");
		mig_rows(mo, o);
	}
}

/* ------------------------------------------------------------------ JSON */

/* A figure, or null when unknown. */
static void json_num(const char *key, double v, const char *sep)
{
	if (v < 0)
		printf("\"%s\":null%s", key, sep);
	else
		printf("\"%s\":%.2f%s", key, v, sep);
}

static void json_frame(const struct mon *mo)
{
	const struct gtop_totals *t = &mo->m.tot;
	char a[PTABLE_NAME_MAX + 8], b[PTABLE_NAME_MAX + 8];
	int shown = 0;

	printf("{\"time\":%lld,\"node\":", (long long)mo->when);
	cli_json_str(gsrc_node_name(mo->src));
	printf(",\"totals\":{\"nodes\":%" PRIu32 ",\"nodes_up\":%" PRIu32 ",\"cpus\":%" PRIu32 ",",
	       t->nodes, t->nodes_up, t->cpus);
	json_num("load", t->load, ",");
	json_num("cpu_pct", t->cpu_pct, ",");
	printf("\"mem_used_kb\":%" PRIu64 ",\"mem_total_kb\":%" PRIu64 ",\"procs\":%" PRIu32
	       ",\"away\":%" PRIu32 "},\n\"nodes\":[",
	       t->mem_used_kb, t->mem_total_kb, t->procs, t->away);
	for (size_t i = 0; i < mo->m.nnodes; i++) {
		const struct gtop_node *g = &mo->m.nodes[i];
		printf("%s\n{\"id\":%u,\"name\":", i ? "," : "", g->id);
		cli_json_str(g->name);
		printf(",\"state\":\"%s\",\"cpus\":%" PRIu32 ",", ptable_node_state_name(g->state),
		       g->cpus);
		json_num("load", g->load, ",");
		json_num("cpu_pct", g->cpu_pct, ",");
		json_num("proc_pct", g->proc_pct, ",");
		printf("\"mem_used_kb\":%" PRIu64 ",\"mem_total_kb\":%" PRIu64 ",\"procs\":%" PRIu32
		       ",\"guests\":%" PRIu32 ",\"away\":%" PRIu32 "}",
		       g->mem_used_kb, g->mem_total_kb, g->procs, g->guests, g->away);
	}
	printf("],\n\"procs\":[");
	for (size_t i = 0; i < mo->m.nprocs && shown < mo->o->ntop; i++) {
		const struct gtop_proc *g = &mo->m.procs[i];
		char user[32], args[PTABLE_CMDLINE_MAX + 64];
		if (mo->sel && g->p->node != mo->sel)
			continue;
		user_text(g->p->uid[1], user, sizeof(user));
		args_text(g->p, args, sizeof(args));
		printf("%s\n{\"gpid\":%" PRIu32 ",\"node\":", shown ? "," : "", g->p->gpid);
		cli_json_str(node_name(mo, g->p->node, a, sizeof(a)));
		printf(",\"home\":");
		cli_json_str(node_name(mo, g->p->home, b, sizeof(b)));
		printf(",\"user\":");
		cli_json_str(user);
		printf(",\"uid\":%" PRIu32 ",", g->p->uid[1]);
		json_num("pcpu", g->pct, ",");
		printf("\"cpu_s\":%.2f,\"rss_kb\":%" PRIu64 ",\"comm\":",
		       (double)g->ticks / (double)mo->hz, g->p->vm[PTABLE_VM_RSS]);
		cli_json_str(g->p->comm);
		printf(",\"args\":");
		cli_json_str(args);
		putchar('}');
		shown++;
	}
	printf("],\n\"migrations\":");
	if (mo->mig_note[0]) {
		printf("null,\"migrations_note\":");
		cli_json_str(mo->mig_note);
	} else {
		putchar('[');
		for (size_t i = 0; i < mo->nmig; i++) {
			const struct db_mig *g = &mo->mig[i];
			printf("%s\n{\"id\":%lld,\"gpid\":%" PRIu32 ",\"from\":", i ? "," : "",
			       (long long)g->id, g->gpid);
			cli_json_str(node_name(mo, (unsigned)g->from_node, a, sizeof(a)));
			printf(",\"to\":");
			cli_json_str(node_name(mo, (unsigned)g->to_node, b, sizeof(b)));
			printf(",\"start_ms\":%lld,\"end_ms\":%lld,\"bytes\":%" PRIu64
			       ",\"outcome\":\"%s\",\"error\":",
			       (long long)g->start_ms, (long long)g->end_ms, g->bytes,
			       db_mig_outcome_str(g->outcome));
			cli_json_str(g->error);
			putchar('}');
		}
		putchar(']');
	}
	printf("}\n");
}

/* ------------------------------------------------------------------ the screen */

static const char *const help_text[] = {
	"gtop - live cluster monitor",
	"",
	"  q        quit",
	"  s        next sort order of the nodes (node, load, cpu, mem, guests)",
	"  n / p    show the processes of the next / previous node",
	"  a        show the busiest processes of all nodes again",
	"  space    refresh now",
	"  h, ?     this help",
	"",
	"LOAD: the daemon's load index (run queue per usable CPU); CPU%: the node's busy CPU",
	"share (kernel counters); PRC%: CPU used by the processes running there, per CPU;",
	"GUESTS: processes running there born elsewhere; AWAY: processes born there running",
	"elsewhere. A node that stopped answering reads down.",
	"",
	"press any key to go back",
};

static void draw(const struct mon *mo)
{
	/* the node columns take 73 characters; the bar gets the rest */
	struct out o = {1, 0, LINES, COLS,
			COLS - 75 < 5	      ? 5
			: COLS - 75 > BAR_MAX ? BAR_MAX
					      : COLS - 75};

	erase();
	if (mo->help) {
		for (size_t i = 0; i < sizeof(help_text) / sizeof(help_text[0]); i++)
			line(&o, i ? A_NORMAL : A_BOLD, "%s", help_text[i]);
	} else {
		o.rows = LINES - 1; /* the last line is the status line */
		frame(mo, &o, -1);
		o.rows = LINES;
		o.row = LINES - 1;
		if (mo->err[0])
			line(&o, A_BOLD, "%s; retrying", mo->err);
		else
			line(&o, A_NORMAL, "q quit  s sort  n/p node  a all  h help");
	}
	refresh();
}

/* Step the node selection through all -> rows in screen order -> all. */
static void pick(struct mon *mo, int dir)
{
	size_t n = mo->m.nnodes;
	long at = -1; /* -1 = all */

	if (!n)
		return;
	for (size_t i = 0; i < n; i++)
		if (mo->m.nodes[i].id == mo->sel)
			at = (long)i;
	at += dir;
	if (at < -1)
		at = (long)n - 1;
	if (at >= (long)n)
		at = -1;
	mo->sel = at < 0 ? 0 : mo->m.nodes[at].id;
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
	draw(mo);
	while (!stop) {
		int64_t left = next - mono_ms();
		if (left <= 0) {
			sample(mo);
			next = mono_ms() + (int64_t)(mo->o->delay * 1000);
			draw(mo);
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
			mo->o->sort = (mo->o->sort + 1) % GTOP_SORT_N;
			gtop_model_sort(&mo->m, mo->o->sort);
		} else if (c == 'n' || c == KEY_DOWN) {
			pick(mo, 1);
		} else if (c == 'p' || c == KEY_UP) {
			pick(mo, -1);
		} else if (c == 'a') {
			mo->sel = 0;
		} else if (c == 'h' || c == '?') {
			mo->help = 1;
		} else if (c == ' ') {
			next = 0;
		}
		draw(mo); /* also after KEY_RESIZE: LINES/COLS are new */
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
	for (size_t i = 0; i < mo->m.nnodes; i++)
		if (strcmp(mo->m.nodes[i].name, s) == 0) {
			mo->sel = mo->m.nodes[i].id;
			return 0;
		}
	id = strtoul(s, &end, 10);
	if (*s && !*end && gtop_model_node(&mo->m, (unsigned)id)) {
		mo->sel = (unsigned)id;
		return 0;
	}
	fprintf(stderr, "gtop: no node '%s' in the cluster table\n", s);
	return -1;
}

static int run_batch(struct mon *mo)
{
	struct out o = {0, 0, INT_MAX, INT_MAX, BAR_W};

	if (mo->o->json) {
		json_frame(mo);
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
		o.row = 0;
		frame(mo, &o, mo->o->ntop);
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
	gtop_model_clear(&mo->m);
	if (mo->cur)
		gsnap_put(mo->cur);
	if (mo->prev)
		gsnap_put(mo->prev);
	if (mo->src)
		gsrc_free(mo->src);
	free(mo->cn);
	free(mo->mig);
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
	mo.hz = sysconf(_SC_CLK_TCK) > 0 ? sysconf(_SC_CLK_TCK) : 100;
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
