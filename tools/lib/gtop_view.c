/*
 * gtop_view.c - how gtop shows one frame: the header with cluster totals, the node rows with
 * their load bars, the busiest processes and the last migrations, laid out once (struct out)
 * and either drawn on the curses screen (with the help screen and the status line) or printed
 * as plain text (-b); and the same frame as one JSON object (--json).
 *
 * Owns only the layout and formatting. Does not sample, sort, read keys or own any data: the
 * figures come from tools/lib/gtop_model.c through struct gtop_view, filled by tools/gtop.c.
 * Assumes curses is initialised (newterm) before gtop_view_draw; the others print to stdout.
 */
#include "tools/lib/gtop_view.h"

#include "db/db.h"
#include "ssid/ptable.h"
#include "tools/lib/cli.h"
#include "tools/lib/gtop_model.h"

#include <curses.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define BAR_W	20 /* load bar of -b; the screen gives it what the columns leave */
#define BAR_MAX 60

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

static const char *node_name(const struct gtop_view *v, unsigned id, char *o, size_t n)
{
	const struct gtop_node *g = gtop_model_node(&v->m, id);

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

static void header(const struct gtop_view *v, struct out *o)
{
	const struct gtop_totals *t = &v->m.tot;
	char tm[16], load[16], cpu[16], used[16], tot[16];
	struct tm lt;

	localtime_r(&v->when, &lt);
	strftime(tm, sizeof(tm), "%H:%M:%S", &lt);
	num_text(t->load, "%.2f", load, sizeof(load));
	num_text(t->cpu_pct, "%.1f%%", cpu, sizeof(cpu));
	kb_text(t->mem_used_kb, used, sizeof(used));
	kb_text(t->mem_total_kb, tot, sizeof(tot));
	line(o, A_BOLD,
	     "gtop %s on %s  nodes %" PRIu32 "/%" PRIu32 " up  cpus %" PRIu32 "  procs %" PRIu32
	     "  away %" PRIu32,
	     tm, v->self, t->nodes_up, t->nodes, t->cpus, t->procs, t->away);
	line(o, A_BOLD, "load %s  cpu %s  mem %s/%s  sort %s", load, cpu, used, tot,
	     gtop_sort_name(v->sort));
}

static void node_rows(const struct gtop_view *v, struct out *o)
{
	double scale = 1.0;

	for (size_t i = 0; i < v->m.nnodes; i++)
		if (v->m.nodes[i].load > scale)
			scale = v->m.nodes[i].load;
	line(o, A_REVERSE, "%-10s %-7s %4s %5s %5s %5s %11s %5s %6s %4s %-*s", "NODE", "STATE",
	     "CPUS", "LOAD", "CPU%", "PRC%", "MEM", "PROCS", "GUESTS", "AWAY", o->bar_w + 2,
	     "LOAD");
	for (size_t i = 0; i < v->m.nnodes; i++) {
		const struct gtop_node *g = &v->m.nodes[i];
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
		line(o, g->id == v->sel ? A_BOLD | A_UNDERLINE : A_NORMAL,
		     "%-10s %-7s %4s %5s %5s %5s %11s %5s %6s %4" PRIu32 " %s", g->name,
		     ptable_node_state_name(g->state), cpus, down ? "-" : load, cpu, prc,
		     g->mem_total_kb ? mem : "-", procs, guests, g->away, down ? "" : bar);
	}
}

static void proc_rows(const struct gtop_view *v, struct out *o, int max)
{
	int shown = 0;

	if (v->sel) {
		char sel[PTABLE_NAME_MAX + 8];
		line(o, A_BOLD, "PROCESSES on %s by CPU (a: all nodes)",
		     node_name(v, v->sel, sel, sizeof(sel)));
	} else {
		line(o, A_BOLD, "PROCESSES top %d by CPU, all nodes", max);
	}
	line(o, A_REVERSE, "%10s %-10s %-10s %-8s %5s %8s %6s %-s", "GPID", "NODE", "HOME", "USER",
	     "%CPU", "TIME", "RSS", "COMMAND");
	for (size_t i = 0; i < v->m.nprocs && shown < max; i++) {
		const struct gtop_proc *g = &v->m.procs[i];
		const struct ptable_proc *p = g->p;
		char nd[PTABLE_NAME_MAX + 8], hm[PTABLE_NAME_MAX + 8], user[32], pct[16], t[32],
			rss[16], args[256];
		if (v->sel && p->node != v->sel)
			continue;
		uint64_t s = g->ticks / (uint64_t)v->hz;
		user_text(p->uid[1], user, sizeof(user));
		num_text(g->pct, "%.1f", pct, sizeof(pct));
		snprintf(t, sizeof(t), "%" PRIu64 ":%02" PRIu64, s / 60, s % 60);
		kb_text(p->vm[PTABLE_VM_RSS], rss, sizeof(rss));
		args_text(p, args, sizeof(args));
		line(o, A_NORMAL, "%10" PRIu32 " %-10s %-10s %-8s %5s %8s %6s %s", p->gpid,
		     node_name(v, p->node, nd, sizeof(nd)), node_name(v, p->home, hm, sizeof(hm)),
		     user, pct, t, rss, args);
		shown++;
	}
	if (!shown)
		line(o, A_NORMAL, "(none)");
}

static void mig_rows(const struct gtop_view *v, struct out *o)
{
	line(o, A_BOLD, "MIGRATIONS last %d of this node's processes", v->mig_max);
	if (v->mig_note[0]) {
		line(o, A_NORMAL, "%s", v->mig_note);
		return;
	}
	line(o, A_REVERSE, "%-8s %10s %-10s %-10s %7s %7s %-7s %s", "START", "GPID", "FROM", "TO",
	     "MS", "BYTES", "OUTCOME", "ERROR");
	for (size_t i = 0; i < v->nmig; i++) {
		const struct db_mig *g = &v->mig[i];
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
		     node_name(v, (unsigned)g->from_node, from, sizeof(from)),
		     node_name(v, (unsigned)g->to_node, to, sizeof(to)), ms, b,
		     db_mig_outcome_str(g->outcome), g->error);
	}
	if (!v->nmig)
		line(o, A_NORMAL, "(none)");
}

/* One frame. ntop: process rows; < 0 = what the screen leaves after the other parts. */
static void frame(const struct gtop_view *v, struct out *o, int ntop)
{
	int mig_lines =
		v->mig_max == 0 ? 0 : 3 + (v->mig_note[0] ? 0 : (int)(v->nmig ? v->nmig : 1));

	header(v, o);
	node_rows(v, o);
	line(o, A_NORMAL, "%s", "");
	if (ntop < 0) {
		ntop = o->rows - o->row - 2 - mig_lines;
		if (ntop < 1)
			ntop = 1;
	}
	proc_rows(v, o, ntop);
	if (v->mig_max > 0) {
		line(o, A_NORMAL, "%s", "");
		mig_rows(v, o);
	}
}

void gtop_view_text(const struct gtop_view *v, int ntop)
{
	struct out o = {0, 0, INT_MAX, INT_MAX, BAR_W};

	frame(v, &o, ntop);
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

void gtop_view_json(const struct gtop_view *v, int ntop)
{
	const struct gtop_totals *t = &v->m.tot;
	char a[PTABLE_NAME_MAX + 8], b[PTABLE_NAME_MAX + 8];
	int shown = 0;

	printf("{\"time\":%lld,\"node\":", (long long)v->when);
	cli_json_str(v->self);
	printf(",\"totals\":{\"nodes\":%" PRIu32 ",\"nodes_up\":%" PRIu32 ",\"cpus\":%" PRIu32 ",",
	       t->nodes, t->nodes_up, t->cpus);
	json_num("load", t->load, ",");
	json_num("cpu_pct", t->cpu_pct, ",");
	printf("\"mem_used_kb\":%" PRIu64 ",\"mem_total_kb\":%" PRIu64 ",\"procs\":%" PRIu32
	       ",\"away\":%" PRIu32 "},\n\"nodes\":[",
	       t->mem_used_kb, t->mem_total_kb, t->procs, t->away);
	for (size_t i = 0; i < v->m.nnodes; i++) {
		const struct gtop_node *g = &v->m.nodes[i];
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
	for (size_t i = 0; i < v->m.nprocs && shown < ntop; i++) {
		const struct gtop_proc *g = &v->m.procs[i];
		char user[32], args[PTABLE_CMDLINE_MAX + 64];
		if (v->sel && g->p->node != v->sel)
			continue;
		user_text(g->p->uid[1], user, sizeof(user));
		args_text(g->p, args, sizeof(args));
		printf("%s\n{\"gpid\":%" PRIu32 ",\"node\":", shown ? "," : "", g->p->gpid);
		cli_json_str(node_name(v, g->p->node, a, sizeof(a)));
		printf(",\"home\":");
		cli_json_str(node_name(v, g->p->home, b, sizeof(b)));
		printf(",\"user\":");
		cli_json_str(user);
		printf(",\"uid\":%" PRIu32 ",", g->p->uid[1]);
		json_num("pcpu", g->pct, ",");
		printf("\"cpu_s\":%.2f,\"rss_kb\":%" PRIu64 ",\"comm\":",
		       (double)g->ticks / (double)v->hz, g->p->vm[PTABLE_VM_RSS]);
		cli_json_str(g->p->comm);
		printf(",\"args\":");
		cli_json_str(args);
		putchar('}');
		shown++;
	}
	printf("],\n\"migrations\":");
	if (v->mig_note[0]) {
		printf("null,\"migrations_note\":");
		cli_json_str(v->mig_note);
	} else {
		putchar('[');
		for (size_t i = 0; i < v->nmig; i++) {
			const struct db_mig *g = &v->mig[i];
			printf("%s\n{\"id\":%lld,\"gpid\":%" PRIu32 ",\"from\":", i ? "," : "",
			       (long long)g->id, g->gpid);
			cli_json_str(node_name(v, (unsigned)g->from_node, a, sizeof(a)));
			printf(",\"to\":");
			cli_json_str(node_name(v, (unsigned)g->to_node, b, sizeof(b)));
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

void gtop_view_draw(const struct gtop_view *v, int help, const char *err)
{
	/* the node columns take 73 characters; the bar gets the rest */
	struct out o = {1, 0, LINES, COLS,
			COLS - 75 < 5	      ? 5
			: COLS - 75 > BAR_MAX ? BAR_MAX
					      : COLS - 75};

	erase();
	if (help) {
		for (size_t i = 0; i < sizeof(help_text) / sizeof(help_text[0]); i++)
			line(&o, i ? A_NORMAL : A_BOLD, "%s", help_text[i]);
	} else {
		o.rows = LINES - 1; /* the last line is the status line */
		frame(v, &o, -1);
		o.rows = LINES;
		o.row = LINES - 1;
		if (err[0])
			line(&o, A_BOLD, "%s; retrying", err);
		else
			line(&o, A_NORMAL, "q quit  s sort  n/p node  a all  h help");
	}
	refresh();
}
