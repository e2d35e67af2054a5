/*
 * gps.c - cluster-wide ps: the processes of the cluster table with NODE and HOME columns.
 *
 * Reads the same data source as gprocfs (fuse/gsrc.h: local /proc today, the daemon's table
 * once the control socket serves it) and computes every column from ptable records, with the
 * cluster time base of ptable_rctx (one btime for all nodes). Not a copy of procps: a subset
 * of its selectors and formats (docs/man/gps.1). Output to stdout; errors to stderr, exit 1.
 */
#include "tools/lib/cli.h"
#include "fuse/gsrc.h"
#include "ssid/ptable.h"
#include "ssid/ssierr.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum fmt {
	FMT_DEFAULT,
	FMT_FULL,
	FMT_USER,
	FMT_CUSTOM
};

struct sel {
	int all;      /* -e, -A, a/x */
	int have_uid; /* -u given */
	uid_t uid;    /* effective uid to show */
	int node;     /* --node: node id, 0 all */
	int json;
	int noheader;
	enum fmt fmt;
	char fields[512]; /* -o list */
};

/* One column: name, header, width (negative: left-aligned), and its text for a process. */
struct col {
	const char *name;
	const char *head;
	int width;
	void (*text)(const struct ptable_rctx *r, const struct ptable_proc *p, char *o, size_t n);
};

static void user_of(uid_t uid, char *o, size_t n)
{
	struct passwd *pw = getpwuid(uid);

	if (pw && strlen(pw->pw_name) <= 8)
		snprintf(o, n, "%s", pw->pw_name);
	else
		snprintf(o, n, "%u", (unsigned)uid);
}

static void node_of(const struct ptable_rctx *r, unsigned id, char *o, size_t n)
{
	const struct ptable_node *nd = ptable_node_by_id(r->t, id);

	if (nd)
		snprintf(o, n, "%s", nd->name);
	else
		snprintf(o, n, "%u", id);
}

/* Seconds the process has run (cluster base), at least 1 tick's worth. */
static double age(const struct ptable_rctx *r, const struct ptable_proc *p)
{
	double a = r->uptime - (double)ptable_starttime(r, p) / (double)r->hz;

	return a > 0.01 ? a : 0.01;
}

static double pcpu(const struct ptable_rctx *r, const struct ptable_proc *p)
{
	double cpu = (double)(p->utime + p->stime) / (double)r->hz;
	double v = cpu * 100.0 / age(r, p);

	return v > 999.9 ? 999.9 : v;
}

static double pmem(const struct ptable_rctx *r, const struct ptable_proc *p)
{
	const struct ptable_node *nd = ptable_node_by_id(r->t, p->node);
	uint64_t total = nd ? nd->mem[PTABLE_MEM_TOTAL] : 0;

	return total ? (double)p->vm[PTABLE_VM_RSS] * 100.0 / (double)total : 0.0;
}

/* The tty of a process on another node means nothing here: '?' as /gproc's tty_nr 0. */
static void tty_of(const struct ptable_rctx *r, const struct ptable_proc *p, char *o, size_t n)
{
	unsigned maj = ((unsigned)p->tty_nr >> 8) & 0xfff;
	unsigned min = ((unsigned)p->tty_nr & 0xff) | (((unsigned)p->tty_nr >> 12) & 0xfff00);

	if (p->tty_nr == 0 || p->node != r->local_node)
		snprintf(o, n, "?");
	else if (maj >= 136 && maj <= 143)
		snprintf(o, n, "pts/%u", (maj - 136) * 256 + min);
	else if (maj == 4 && min < 64)
		snprintf(o, n, "tty%u", min);
	else if (maj == 4)
		snprintf(o, n, "ttyS%u", min - 64);
	else
		snprintf(o, n, "%u,%u", maj, min);
}

static void clock_text(uint64_t secs, int days, char *o, size_t n)
{
	if (days && secs >= 86400)
		snprintf(o, n, "%" PRIu64 "-%02" PRIu64 ":%02" PRIu64 ":%02" PRIu64, secs / 86400,
			 secs / 3600 % 24, secs / 60 % 60, secs % 60);
	else
		snprintf(o, n, "%02" PRIu64 ":%02" PRIu64 ":%02" PRIu64, secs / 3600,
			 secs / 60 % 60, secs % 60);
}

static time_t start_epoch(const struct ptable_rctx *r, const struct ptable_proc *p)
{
	return (time_t)(r->btime_cluster + ptable_starttime(r, p) / (uint64_t)r->hz);
}

/* STIME/START: HH:MM today, else MonDD. */
static void start_text(const struct ptable_rctx *r, const struct ptable_proc *p, char *o, size_t n)
{
	time_t s = start_epoch(r, p), now = time(NULL);
	struct tm tm;

	localtime_r(&s, &tm);
	strftime(o, n, now - s < 86400 ? "%H:%M" : "%b%d", &tm);
}

static void args_text(const struct ptable_proc *p, char *o, size_t n)
{
	size_t k = 0;

	if (!p->cmdline_len) {
		snprintf(o, n, "[%s]", p->comm);
		return;
	}
	for (uint32_t i = 0; i < p->cmdline_len && k + 1 < n; i++)
		o[k++] = p->cmdline[i] ? p->cmdline[i] : ' ';
	while (k > 0 && o[k - 1] == ' ')
		k--;
	o[k] = '\0';
}

static void stat_text(const struct ptable_rctx *r, const struct ptable_proc *p, char *o, size_t n)
{
	size_t k = 0;

	o[k++] = p->state;
	if (p->nice < 0)
		o[k++] = '<';
	else if (p->nice > 0)
		o[k++] = 'N';
	if (p->vm[PTABLE_VM_LCK])
		o[k++] = 'L';
	if (p->session == p->gpid)
		o[k++] = 's';
	if (p->num_threads > 1)
		o[k++] = 'l';
	if (p->node == r->local_node && p->tpgid > 0 && (uint32_t)p->tpgid == p->pgrp)
		o[k++] = '+';
	o[k < n ? k : n - 1] = '\0';
}

#define C(fn)                                                                                      \
	static void fn(const struct ptable_rctx *r, const struct ptable_proc *p, char *o, size_t n)
C(c_gpid)
{
	(void)r;
	snprintf(o, n, "%" PRIu32, p->gpid);
}
C(c_pid)
{
	(void)r;
	snprintf(o, n, "%" PRIu32, p->pid);
}
C(c_ppid)
{
	(void)r;
	snprintf(o, n, "%" PRIu32, p->ppid);
}
C(c_pgid)
{
	(void)r;
	snprintf(o, n, "%" PRIu32, p->pgrp);
}
C(c_sid)
{
	(void)r;
	snprintf(o, n, "%" PRIu32, p->session);
}
C(c_user)
{
	(void)r;
	user_of(p->uid[1], o, n);
}
C(c_uid)
{
	(void)r;
	snprintf(o, n, "%" PRIu32, p->uid[1]);
}
C(c_gid)
{
	(void)r;
	snprintf(o, n, "%" PRIu32, p->gid[1]);
}
C(c_comm)
{
	(void)r;
	snprintf(o, n, "%s", p->comm);
}
C(c_args)
{
	(void)r;
	args_text(p, o, n);
}
C(c_state)
{
	(void)r;
	snprintf(o, n, "%c", p->state);
}
C(c_stat)
{
	stat_text(r, p, o, n);
}
C(c_node)
{
	node_of(r, p->node, o, n);
}
C(c_home)
{
	node_of(r, p->home, o, n);
}
C(c_tty)
{
	tty_of(r, p, o, n);
}
C(c_time)
{
	clock_text((p->utime + p->stime) / (uint64_t)r->hz, 1, o, n);
}
C(c_etime)
{
	clock_text((uint64_t)age(r, p), 1, o, n);
}
C(c_stime)
{
	start_text(r, p, o, n);
}
C(c_pcpu)
{
	snprintf(o, n, "%.1f", pcpu(r, p));
}
C(c_c)
{
	snprintf(o, n, "%d", (int)pcpu(r, p));
}
C(c_pmem)
{
	snprintf(o, n, "%.1f", pmem(r, p));
}
C(c_vsz)
{
	(void)r;
	snprintf(o, n, "%" PRIu64, p->vsize / 1024);
}
C(c_rss)
{
	(void)r;
	snprintf(o, n, "%" PRIu64, p->vm[PTABLE_VM_RSS]);
}
C(c_nlwp)
{
	(void)r;
	snprintf(o, n, "%" PRIu32, p->num_threads);
}
C(c_ni)
{
	(void)r;
	snprintf(o, n, "%" PRId32, p->nice);
}
C(c_pri)
{
	(void)r;
	snprintf(o, n, "%" PRId32, p->priority);
}
C(c_psr)
{
	(void)r;
	snprintf(o, n, "%" PRId32, p->processor);
}
C(c_btime)
{
	snprintf(o, n, "%lld", (long long)start_epoch(r, p));
}
C(c_ucpu)
{ /* TIME as ps aux shows it: M:SS */
	uint64_t s = (p->utime + p->stime) / (uint64_t)r->hz;
	snprintf(o, n, "%" PRIu64 ":%02" PRIu64, s / 60, s % 60);
}
#undef C

static const struct col cols[] = {
	{"gpid", "GPID", 10, c_gpid},
	{"pid", "PID", 7, c_pid},
	{"ppid", "PPID", 10, c_ppid},
	{"pgid", "PGID", 10, c_pgid},
	{"sid", "SID", 10, c_sid},
	{"user", "USER", -8, c_user},
	{"uname", "UID", -8, c_user},
	{"uid", "UID", 5, c_uid},
	{"gid", "GID", 5, c_gid},
	{"comm", "COMMAND", -15, c_comm},
	{"args", "COMMAND", -1, c_args},
	{"cmd", "CMD", -1, c_args},
	{"state", "S", 1, c_state},
	{"stat", "STAT", -4, c_stat},
	{"node", "NODE", -8, c_node},
	{"home", "HOME", -8, c_home},
	{"tty", "TTY", -8, c_tty},
	{"time", "TIME", 8, c_time},
	{"etime", "ELAPSED", 11, c_etime},
	{"stime", "STIME", 5, c_stime},
	{"start", "START", 5, c_stime},
	{"pcpu", "%CPU", 4, c_pcpu},
	{"c", "C", 2, c_c},
	{"pmem", "%MEM", 4, c_pmem},
	{"vsz", "VSZ", 7, c_vsz},
	{"rss", "RSS", 6, c_rss},
	{"nlwp", "NLWP", 4, c_nlwp},
	{"ni", "NI", 3, c_ni},
	{"pri", "PRI", 3, c_pri},
	{"psr", "PSR", 3, c_psr},
	{"bsdtime", "TIME", 6, c_ucpu},
	{"lstart", "STARTED", 10, c_btime},
};
#define NCOLS (sizeof(cols) / sizeof(cols[0]))

static const char *const fmt_fields[] = {
	[FMT_DEFAULT] = "gpid,node,home,tty,time,cmd",
	[FMT_FULL] = "uname,gpid,ppid,c,stime,node,home,tty,time,cmd",
	[FMT_USER] = "user,gpid,pcpu,pmem,vsz,rss,node,home,tty,stat,start,bsdtime,args",
};

static const struct col *col_by_name(const char *s)
{
	for (size_t i = 0; i < NCOLS; i++)
		if (strcmp(cols[i].name, s) == 0)
			return &cols[i];
	return NULL;
}

/* Parse "a,b c" into up to max columns; returns the count or -1 naming the bad field. */
static int parse_fields(const char *list, const struct col **out, int max)
{
	char copy[512], *save = NULL;
	int n = 0;

	snprintf(copy, sizeof(copy), "%s", list);
	for (char *f = strtok_r(copy, ", ", &save); f; f = strtok_r(NULL, ", ", &save)) {
		const struct col *c = col_by_name(f);
		if (!c) {
			fprintf(stderr, "gps: unknown field '%s' (see gps --help)\n", f);
			return -1;
		}
		if (n < max)
			out[n++] = c;
	}
	return n;
}

static void print_table(const struct ptable_rctx *r, const struct sel *s,
			const struct ptable_proc **v, size_t nv, const struct col **c, int nc)
{
	char text[PTABLE_CMDLINE_MAX + 64];

	for (int k = 0; k < nc && !s->noheader; k++) {
		int w = c[k]->width, last = k == nc - 1;
		printf(w < 0 ? "%-*s%s" : "%*s%s", last && w < 0 ? 0 : abs(w), c[k]->head,
		       last ? "\n" : " ");
	}
	for (size_t i = 0; i < nv; i++)
		for (int k = 0; k < nc; k++) {
			int w = c[k]->width, last = k == nc - 1;
			c[k]->text(r, v[i], text, sizeof(text));
			printf(w < 0 ? "%-*s%s" : "%*s%s", last && w < 0 ? 0 : abs(w), text,
			       last ? "\n" : " ");
		}
}

static void print_json(const struct ptable_rctx *r, const struct ptable_proc **v, size_t nv)
{
	static const char *const strs[] = {"user", "comm", "args", "stat", "node", "home", "tty"};
	static const char *const nums[] = {"gpid", "pid", "ppid", "pgid", "sid", "uid", "gid",
					   "vsz",  "rss", "nlwp", "ni",	  "pri", "psr"};
	char text[PTABLE_CMDLINE_MAX + 64];

	printf("[");
	for (size_t i = 0; i < nv; i++) {
		const struct ptable_proc *p = v[i];
		printf("%s\n{", i ? "," : "");
		for (size_t k = 0; k < sizeof(nums) / sizeof(nums[0]); k++) {
			col_by_name(nums[k])->text(r, p, text, sizeof(text));
			printf("\"%s\":%s,", nums[k], text);
		}
		for (size_t k = 0; k < sizeof(strs) / sizeof(strs[0]); k++) {
			col_by_name(strs[k])->text(r, p, text, sizeof(text));
			printf("\"%s\":", strs[k]);
			cli_json_str(text);
			putchar(',');
		}
		printf("\"node_id\":%u,\"home_id\":%u,\"state\":\"%c\",\"utime\":%" PRIu64
		       ",\"stime\":%" PRIu64 ",\"start_time\":%lld,\"pcpu\":%.1f,\"pmem\":%.1f}",
		       p->node, p->home, p->state, p->utime, p->stime, (long long)start_epoch(r, p),
		       pcpu(r, p), pmem(r, p));
	}
	printf("%s]\n", nv ? "\n" : "");
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: gps [-e|-A] [-f] [aux] [-o FIELDS] [-u USER] [--node NODE] [--json]\n"
		"Cluster-wide ps: every process of the cluster table, with NODE (where it runs) "
		"and\n"
		"HOME (where it was born); GPID = home node id << 22 | pid there.\n\n"
		"  (no option)     your own processes (effective uid), on every node\n"
		"  -e, -A          all processes\n"
		"  -f              full format (UID GPID PPID C STIME NODE HOME TTY TIME CMD)\n"
		"  aux             BSD user format, all processes\n"
		"  -o FIELDS       columns, comma separated, from:\n"
		"                  gpid pid ppid pgid sid user uid gid comm args cmd state stat "
		"node\n"
		"                  home tty time etime stime start pcpu c pmem vsz rss nlwp ni "
		"pri psr\n"
		"                  bsdtime lstart\n"
		"  -u USER         processes of USER (name or uid, effective uid)\n"
		"  --node NODE     processes running on NODE (name or id)\n"
		"  --json          a JSON array of objects, one per process\n"
		"  --no-headers    no header line\n"
		"  --source ssid|local  ssid: the cluster table from the daemon's control socket;\n"
		"                  local: this node's /proc only. Default: ssid, and if no daemon\n"
		"                  serves the table, local with a warning on stderr\n"
		"  --sock PATH     the daemon's control socket (default: config "
		"run_dir/ssid.sock)\n"
		"  --conf FILE, --node-id N, --node-name NAME  this node's identity (default: "
		"config)\n"
		"  -h, --help\n");
}

/* The source asked for, or by default ssid falling back to local with a warning. */
static struct gsrc *open_source(struct gsrc_opts *so, int given, struct gsnap **snap)
{
	char err[512];
	struct gsrc *src;
	int r;

	if (!given)
		so->kind = GSRC_SSID;
	src = gsrc_new(so, err, sizeof(err));
	if (!src) {
		fprintf(stderr, "gps: %s\n", err);
		return NULL;
	}
	r = gsrc_get(src, snap);
	if (r < 0 && !given && (r == -ENOENT || r == -ECONNREFUSED || r == -EOPNOTSUPP)) {
		gsrc_last_error(src, err, sizeof(err));
		fprintf(stderr, "gps: warning: %s; showing this node only\n", err);
		gsrc_free(src);
		so->kind = GSRC_LOCAL;
		return open_source(so, 1, snap);
	}
	if (r < 0) {
		gsrc_last_error(src, err, sizeof(err));
		fprintf(stderr, "gps: reading the process table: %s\n",
			err[0] ? err : ssierr_str(r));
		gsrc_free(src);
		return NULL;
	}
	return src;
}

static int parse_user(const char *s, uid_t *uid)
{
	struct passwd *pw = getpwnam(s);
	char *end;

	if (pw) {
		*uid = pw->pw_uid;
		return 0;
	}
	unsigned long v = strtoul(s, &end, 10);
	if (*s && !*end) {
		*uid = (uid_t)v;
		return 0;
	}
	return -1;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {{"json", no_argument, NULL, 'J'},
					   {"node", required_argument, NULL, 'N'},
					   {"source", required_argument, NULL, 'S'},
					   {"conf", required_argument, NULL, 'C'},
					   {"node-id", required_argument, NULL, 'I'},
					   {"node-name", required_argument, NULL, 'M'},
					   {"sock", required_argument, NULL, 'K'},
					   {"no-headers", no_argument, NULL, 'H'},
					   {"help", no_argument, NULL, 'h'},
					   {NULL, 0, NULL, 0}};
	struct gsrc_opts so = {0};
	struct sel s = {0};
	const char *node_arg = NULL;
	int source_given = 0;
	int c;

	while ((c = getopt_long(argc, argv, "eAfo:u:h", lo, NULL)) != -1) {
		switch (c) {
		case 'e':
		case 'A':
			s.all = 1;
			break;
		case 'f':
			s.fmt = FMT_FULL;
			break;
		case 'o':
			s.fmt = FMT_CUSTOM;
			snprintf(s.fields, sizeof(s.fields), "%s", optarg);
			break;
		case 'u':
			if (parse_user(optarg, &s.uid) < 0) {
				fprintf(stderr, "gps: no such user: %s\n", optarg);
				return 1;
			}
			s.have_uid = 1;
			break;
		case 'J':
			s.json = 1;
			break;
		case 'N':
			node_arg = optarg;
			break;
		case 'S':
			source_given = 1;
			if (gsrc_kind_parse(optarg, &so.kind) < 0) {
				fprintf(stderr, "gps: --source %s: expected local or ssid\n",
					optarg);
				return 1;
			}
			break;
		case 'C':
			so.conf = optarg;
			break;
		case 'I':
			so.node_id = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'M':
			snprintf(so.node_name, sizeof(so.node_name), "%s", optarg);
			break;
		case 'H':
			s.noheader = 1;
			break;
		case 'K':
			so.sock = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	for (int i = optind; i < argc; i++) {
		/* BSD-style words: a and x select all, u the user format. */
		if (strspn(argv[i], "aux") != strlen(argv[i]) || !argv[i][0]) {
			fprintf(stderr, "gps: unexpected argument '%s' (see gps --help)\n",
				argv[i]);
			return 1;
		}
		if (strpbrk(argv[i], "ax"))
			s.all = 1;
		if (strchr(argv[i], 'u'))
			s.fmt = FMT_USER;
	}

	struct gsnap *snap;
	struct gsrc *src = open_source(&so, source_given, &snap);
	if (!src)
		return 1;
	int r;
	const struct ptable *t = snap->t;
	if (node_arg) {
		const struct ptable_node *nd = ptable_node_by_name(t, node_arg);
		char *end;
		unsigned long id = strtoul(node_arg, &end, 10);
		if (!nd && !*end)
			nd = ptable_node_by_id(t, (unsigned)id);
		if (!nd) {
			fprintf(stderr, "gps: no node '%s' in the cluster table\n", node_arg);
			gsnap_put(snap);
			gsrc_free(src);
			return 1;
		}
		s.node = nd->id;
	}
	if (!s.all && !s.have_uid) {
		s.have_uid = 1;
		s.uid = geteuid();
	}

	struct ptable_rctx rc;
	ptable_rctx_init(&rc, t, gsrc_node_id(src));
	const struct ptable_proc **v = calloc(t->nprocs + 1, sizeof(*v));
	size_t nv = 0;
	if (!v) {
		fprintf(stderr, "gps: out of memory\n");
		return 1;
	}
	for (uint32_t i = 0; i < t->nprocs; i++) {
		const struct ptable_proc *p = &t->procs[i];
		if ((s.have_uid && p->uid[1] != s.uid) || (s.node && p->node != s.node))
			continue;
		v[nv++] = p;
	}

	r = 0;
	if (s.json) {
		print_json(&rc, v, nv);
	} else {
		const struct col *cl[64];
		int nc = parse_fields(s.fmt == FMT_CUSTOM ? s.fields : fmt_fields[s.fmt], cl, 64);
		if (nc <= 0)
			r = 1;
		else
			print_table(&rc, &s, v, nv, cl, nc);
	}
	free(v);
	gsnap_put(snap);
	gsrc_free(src);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "gps: writing output: %s\n", strerror(errno));
		return 1;
	}
	return r;
}
