/*
 * migreq.c - see migreq.h: one DEPUTY_MIGRATE request on run_dir/mig.sock and its answer.
 * Shared by gmigrate and ssictl expel/bring so that there is one copy of the exchange.
 * Then the two commands: a table snapshot from the local ssid (gsrc, as gps), the processes
 * to move copied out of it, one migreq_move(gpid, home) each. Rights are the daemon's: a
 * user's request for someone else's process comes back refused and is listed as failed.
 */
#include "tools/lib/migreq.h"
#include "fuse/gsrc.h"
#include "ssid/buf.h"
#include "ssid/config.h"
#include "ssid/ptable.h"
#include "ssid/ssierr.h"

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int migreq_move(const char *run_dir, uint32_t gpid, uint16_t node,
		void (*progress)(const char *step, void *arg), void *arg, struct deputy_result *r)
{
	struct buf b;
	uint16_t type = 0;
	int fd, e;

	memset(r, 0, sizeof(*r));
	r->to = node;
	r->freeze_ms = r->transfer_ms = r->restore_ms = r->total_ms = -1;
	fd = deputy_connect(run_dir, r->text, sizeof(r->text));
	if (fd < 0) {
		r->err = fd;
		return fd;
	}
	buf_init(&b);
	buf_put_u32(&b, gpid);
	buf_put_u16(&b, node);
	e = deputy_send(fd, DEPUTY_MIGRATE, &b);
	while (!e) {
		e = deputy_recv(fd, &type, &b);
		if (e || type == DEPUTY_RESULT || type == DEPUTY_ERROR)
			break;
		if (type == DEPUTY_PROGRESS && progress) {
			char line[256] = "";
			(void)buf_get_cstr(&b, line, sizeof(line));
			progress(line, arg);
		}
	}
	close(fd);
	if (e) {
		buf_free(&b);
		r->err = e;
		snprintf(r->text, sizeof(r->text), "talking to ssid: %s", ssierr_str(e));
		return e;
	}
	if (type == DEPUTY_ERROR) {
		int64_t code = 0;
		(void)buf_get_i64(&b, &code);
		(void)buf_get_cstr(&b, r->text, sizeof(r->text));
		buf_free(&b);
		r->err = code ? code : SSI_E_REFUSED;
		if (!r->text[0])
			snprintf(r->text, sizeof(r->text), "%s", ssierr_str((int)r->err));
		return MIGREQ_REFUSED;
	}
	e = deputy_result_get(&b, r);
	buf_free(&b);
	if (e) {
		memset(r, 0, sizeof(*r));
		r->to = node;
		r->freeze_ms = r->transfer_ms = r->restore_ms = r->total_ms = -1;
		r->err = e;
		snprintf(r->text, sizeof(r->text), "bad result from ssid: %s", ssierr_str(e));
		return e;
	}
	if (r->err && !r->text[0])
		snprintf(r->text, sizeof(r->text), "%s", ssierr_str((int)r->err));
	return 0;
}

/* ---- ssictl expel | bring ---- */

#define GPID_HOME(g) ((unsigned)((g) >> 22))

/* One process to move home, copied out of a table snapshot. */
struct job {
	uint32_t gpid;
	uint16_t node, home;
	uint32_t uid;
	char comm[PTABLE_COMM_MAX];
	int listed; /* seen in the table (a named GPID may not be) */
};

struct ctl {
	const char *cmd; /* "expel" or "bring" */
	int bring, all;
	unsigned self;
	char run_dir[PATH_MAX];
	const struct ptable *t;
	uint32_t *want; /* named GPIDs, or NULL */
	size_t nwant;
	struct job *v; /* the processes of this pass */
	size_t n;
	char (*fail)[640]; /* one line per failure of the last pass */
	size_t nfail;
	uint32_t *done; /* gpids at home (moved or found there), over all passes */
	int done_ok;
	int moved; /* of those, moved by us */
};

const char *migreq_ctl_usage(void)
{
	return "  expel [--wait SECS]     send every guest process running here (home elsewhere)\n"
	       "                          back to its home node, one after another (root). It\n"
	       "                          does not keep new ones away: run `ssictl block` first.\n"
	       "                          --wait: retry those that failed and any that arrived,\n"
	       "                          until none is left or SECS have passed\n"
	       "  bring [--all] [GPID...] bring this node's processes that run elsewhere back\n"
	       "                          home: your own; --all everyone's (root); GPIDs: only\n"
	       "                          those. expel/bring print one line per process (gpid,\n"
	       "                          home, result); exit 0 only if all went home\n";
}

static void node_name(const struct ptable *t, unsigned id, char *o, size_t n)
{
	const struct ptable_node *nd = t ? ptable_node_by_id(t, id) : NULL;

	if (nd)
		snprintf(o, n, "%s", nd->name);
	else
		snprintf(o, n, "node %u", id);
}

static void user_name(uint32_t uid, char *o, size_t n)
{
	struct passwd *pw = getpwuid(uid);

	if (pw)
		snprintf(o, n, "%s", pw->pw_name);
	else
		snprintf(o, n, "%u", (unsigned)uid);
}

static int is_done(const struct ctl *c, uint32_t gpid)
{
	for (int i = 0; i < c->done_ok; i++)
		if (c->done[i] == gpid)
			return 1;
	return 0;
}

static void add_done(struct ctl *c, uint32_t gpid)
{
	uint32_t *d = realloc(c->done, ((size_t)c->done_ok + 1) * sizeof(*d));

	if (!d)
		return; /* only the count and a later pass's skip are lost */
	c->done = d;
	c->done[c->done_ok++] = gpid;
}

static int wanted(const struct ctl *c, uint32_t gpid)
{
	if (!c->want)
		return 1;
	for (size_t i = 0; i < c->nwant; i++)
		if (c->want[i] == gpid)
			return 1;
	return 0;
}

static int add_job(struct ctl *c, const struct ptable_proc *p, uint32_t gpid)
{
	struct job *j;

	for (size_t i = 0; i < c->n; i++)
		if (c->v[i].gpid == gpid)
			return 0; /* listed twice while it moves */
	if (is_done(c, gpid))
		return 0; /* the table (cached up to ~0.5 s by the daemon) still shows it away */
	j = realloc(c->v, (c->n + 1) * sizeof(*c->v));
	if (!j)
		return -ENOMEM;
	c->v = j;
	j = &c->v[c->n++];
	memset(j, 0, sizeof(*j));
	j->gpid = gpid;
	j->home = (uint16_t)GPID_HOME(gpid);
	if (p) {
		j->listed = 1;
		j->node = p->node;
		j->home = p->home;
		j->uid = p->uid[0];
		snprintf(j->comm, sizeof(j->comm), "%s", p->comm);
	}
	return 0;
}

static void add_fail(struct ctl *c, const struct job *j, const char *why)
{
	char(*f)[640] = realloc(c->fail, (c->nfail + 1) * sizeof(*c->fail));

	if (!f)
		return;
	c->fail = f;
	snprintf(c->fail[c->nfail++], sizeof(*c->fail), "gpid %u (%s): %s", j->gpid,
		 j->comm[0] ? j->comm : "?", why);
}

/* The processes of this pass from the table: expel, the guests here; bring, this node's
 * processes elsewhere (the caller's unless --all), or the named GPIDs. A named GPID that the
 * table shows at home is reported here (not a failure); one of another home is a failure. */
static int select_jobs(struct ctl *c, int first)
{
	const struct ptable *t = c->t;
	uid_t me = getuid();

	c->n = 0;
	for (uint32_t i = 0; i < t->nprocs; i++) {
		const struct ptable_proc *p = &t->procs[i];
		int e = 0;

		if (!c->bring) {
			if (p->node == c->self && p->home != c->self)
				e = add_job(c, p, p->gpid);
		} else if (p->home == c->self && p->node != c->self && wanted(c, p->gpid) &&
			   (c->all || c->want || p->uid[0] == me)) {
			e = add_job(c, p, p->gpid);
		}
		if (e)
			return e;
	}
	for (size_t w = 0; first && w < c->nwant; w++) {
		const struct ptable_proc *p = ptable_find(t, c->want[w]);
		int listed = 0;
		for (size_t i = 0; i < c->n; i++)
			listed |= c->v[i].gpid == c->want[w];
		if (listed)
			continue;
		char home[PTABLE_NAME_MAX + 16];
		struct job j = {.gpid = c->want[w], .home = (uint16_t)GPID_HOME(c->want[w])};
		if (p)
			snprintf(j.comm, sizeof(j.comm), "%s", p->comm);
		node_name(t, j.home, home, sizeof(home));
		if (j.home != c->self) {
			char why[256];
			snprintf(why, sizeof(why),
				 "its home is %s, not this node (gmigrate %u home moves it)", home,
				 j.gpid);
			printf("gpid %u home %s: not moved: %s\n", j.gpid, home, why);
			add_fail(c, &j, why);
		} else if (p && p->node == c->self) {
			printf("gpid %u (%s) home %s: already at home\n", j.gpid, p->comm, home);
			add_done(c, j.gpid);
		} else if (add_job(c, NULL, j.gpid) < 0) {
			return -ENOMEM; /* not in the table: the daemon will say why */
		}
	}
	return 0;
}

/* Move the selected processes home one after another, one line each. */
static void run_jobs(struct ctl *c)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct job *j = &c->v[i];
		struct deputy_result r;
		char home[PTABLE_NAME_MAX + 16];

		node_name(c->t, j->home, home, sizeof(home));
		if (j->listed) {
			char at[PTABLE_NAME_MAX + 16], user[64];
			node_name(c->t, j->node, at, sizeof(at));
			user_name(j->uid, user, sizeof(user));
			printf("gpid %u (%s, %s) on %s -> home %s: ", j->gpid, j->comm, user, at,
			       home);
		} else {
			printf("gpid %u (not in the process table) -> home %s: ", j->gpid, home);
		}
		fflush(stdout);
		int e = migreq_move(c->run_dir, j->gpid, 0, NULL, NULL, &r);
		if (e == 0 && !r.err) {
			printf("moved in %lld ms (%.1f MiB, frozen %lld ms)\n",
			       (long long)r.total_ms, (double)r.bytes / 1048576.0,
			       (long long)r.freeze_ms);
			add_done(c, j->gpid);
			c->moved++;
		} else if (e == MIGREQ_REFUSED && r.err == -EALREADY) {
			printf("already at home\n"); /* went home since the table was taken */
			add_done(c, j->gpid);
		} else {
			printf("FAILED: %s\n", r.text);
			add_fail(c, j, r.text);
		}
		fflush(stdout);
	}
}

/* The last line when all went home: "ssictl expel: 2 processes went home (1 already there)". */
static void summary(const struct ctl *c)
{
	printf("ssictl %s: %d process%s went home", c->cmd, c->moved, c->moved == 1 ? "" : "es");
	if (c->done_ok > c->moved)
		printf(" (%d already there)", c->done_ok - c->moved);
	printf("\n");
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int parse_args(struct ctl *c, int argc, char **argv, long *wait_s)
{
	for (int i = 1; i < argc; i++) {
		char *end;
		if (!c->bring && !strcmp(argv[i], "--wait") && i + 1 < argc) {
			*wait_s = strtol(argv[++i], &end, 10);
			if (*end || *wait_s < 0 || *wait_s > 86400) {
				fprintf(stderr, "ssictl expel: --wait wants 0..86400 seconds\n");
				return -1;
			}
		} else if (c->bring && !strcmp(argv[i], "--all")) {
			c->all = 1;
		} else if (c->bring && argv[i][0] != '-') {
			unsigned long g = strtoul(argv[i], &end, 10);
			uint32_t *w = realloc(c->want, (c->nwant + 1) * sizeof(*w));
			if (*end || !g || g > 0xffffffffUL || !w) {
				free(w ? w : c->want);
				c->want = NULL;
				fprintf(stderr, "ssictl bring: '%s' is not a gpid\n", argv[i]);
				return -1;
			}
			c->want = w;
			c->want[c->nwant++] = (uint32_t)g;
		} else {
			fprintf(stderr, "ssictl %s: unknown argument '%s' (%s)\n", c->cmd, argv[i],
				c->bring ? "--all, GPID..." : "--wait SECS");
			return -1;
		}
	}
	return 0;
}

int migreq_ctl_main(const char *conf, int argc, char **argv)
{
	struct ctl c = {.cmd = argv[0], .bring = !strcmp(argv[0], "bring")};
	struct gsrc_opts so = {.kind = GSRC_SSID, .conf = conf};
	struct gsnap *snap = NULL;
	struct gsrc *src;
	struct config cf;
	char err[1024];
	long wait_s = 0;
	int r = 1, pass = 0;

	if (parse_args(&c, argc, argv, &wait_s) < 0)
		return 2;
	if (geteuid() != 0 && (!c.bring || c.all)) {
		fprintf(stderr, "ssictl %s: must be root (%s)\n", c.cmd,
			c.bring ? "--all moves every user's processes; without it you bring your "
				  "own"
				: "it moves every user's processes");
		free(c.want);
		return 1;
	}
	if (config_load(conf, &cf, err, sizeof(err)) < 0) {
		fprintf(stderr, "ssictl %s: %s\n", c.cmd, err);
		free(c.want);
		return 1;
	}
	snprintf(c.run_dir, sizeof(c.run_dir), "%s", cf.run_dir);
	config_free(&cf);
	src = gsrc_new(&so, err, sizeof(err));
	if (!src) {
		fprintf(stderr, "ssictl %s: %s\n", c.cmd, err);
		free(c.want);
		return 1;
	}
	c.self = gsrc_node_id(src);
	int64_t deadline = mono_ms() + wait_s * 1000;
	for (;;) {
		int e = pass ? gsrc_refresh(src, &snap) : gsrc_get(src, &snap);
		if (e < 0) {
			gsrc_last_error(src, err, sizeof(err));
			fprintf(stderr, "ssictl %s: reading the process table: %s\n", c.cmd,
				err[0] ? err : ssierr_str(e));
			break;
		}
		c.t = snap->t;
		c.nfail = 0;
		e = select_jobs(&c, pass == 0);
		if (e < 0) {
			fprintf(stderr, "ssictl %s: %s\n", c.cmd, ssierr_str(e));
			break;
		}
		if (pass == 0 && c.n == 0 && c.nfail == 0 && c.done_ok == 0) {
			printf("%s\n",
			       c.bring ? "nothing to bring home"
				       : "no guest processes on this node; nothing to expel");
			r = 0;
			break;
		}
		if (c.n == 0 && c.nfail == 0) {
			summary(&c);
			r = 0;
			break;
		}
		run_jobs(&c);
		gsnap_put(snap);
		snap = NULL;
		c.t = NULL;
		pass++;
		if (c.bring || mono_ms() >= deadline) {
			if (!c.nfail) {
				summary(&c);
				r = 0;
				break;
			}
			fprintf(stderr, "ssictl %s: %zu process%s did not go home:\n", c.cmd,
				c.nfail, c.nfail == 1 ? "" : "es");
			for (size_t i = 0; i < c.nfail; i++)
				fprintf(stderr, "  %s\n", c.fail[i]);
			break;
		}
		/* --wait: look again once the daemon's table has caught up (PROCTAB_CACHE_MS) */
		usleep(600 * 1000);
	}
	if (snap)
		gsnap_put(snap);
	gsrc_free(src);
	free(c.want);
	free(c.v);
	free(c.fail);
	free(c.done);
	return r;
}
