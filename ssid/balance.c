/*
 * balance.c - automatic moves (balance.h): gather the policy's inputs once per interval, call
 * policy_decide(), start its move through gmigrate's path, say what was decided.
 *
 * Coordinator thread only (it reads struct mig's tables without locks). The load facts come
 * from this daemon's own control socket, as grun --best and mig_proto_nodes() read them, so
 * the node list has one builder (cluster_ctl.c). Processes: the grun'd ones running here
 * (grun's children at home and guests restored here), their CPU time and run-queue time
 * from /proc/PID/schedstat, memory from statm, descriptors from fd/.
 */
#include "ssid/balance.h"

#include "migrate/deputy.h"
#include "ssid/client.h"
#include "ssid/ctl.h"
#include "ssid/log.h"
#include "ssid/mig_int.h"
#include "ssid/policy.h"
#include "ssid/ssierr.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BAL_BW_GUESS	 100e6	 /* B_eff before any move was measured, bytes/s */
#define BAL_IO_RUNFRAC	 0.5	 /* runnable less than this share of an interval: I/O-heavy */
#define BAL_ASK_MS	 10000.0 /* a guest asked of its home is not asked again before this */
#define BAL_BACKOFF_MS	 30000.0 /* a process whose automatic move failed rests this long */
#define BAL_HISTORY_ROWS 16	 /* newest history rows looked at for B_eff */
#define BAL_RECENT	 8	 /* moves remembered until the target's facts show them */
#define BAL_SETTLE_MS                                                                              \
	1500.0 /* a target's load shows an arrival in facts this much newer
				  * than the decision (load.h's 1 s window, one sample) */

/* What the balancer remembers of a process running here, by gpid (and pid: a process that
 * left and came back is a new arrival). */
struct bproc {
	uint32_t gpid;
	pid_t pid;
	int live;		   /* seen in this interval's scan */
	double seen_ms;		   /* mig_now_ms() when first seen here (arrival) */
	double t_ms;		   /* last sample */
	uint64_t exec_ns, wait_ns; /* schedstat at t_ms */
	double runfrac;		   /* share of the last interval runnable (running or queued) */
	int have;		   /* runfrac is known */
	uint64_t rss_kb;
	double asked_ms;   /* guest: MOVE_REQ sent to its home at (0: none) */
	uint32_t req;	   /* that request's id */
	double rest_until; /* no automatic move before this (a failed one) */
};

struct balance {
	const struct config *cfg;
	int self;
	struct policy_params pp;
	struct policy_state st;
	struct policy_rng rng;
	double next_ms;
	int64_t hist_id; /* newest finished history row folded into B_eff */
	struct bproc t[MIG_MAX_PROCS];
	struct {
		int dst;
		uint32_t gpid;
		double t_ms; /* decided at (0: free) */
		uint64_t kb;
	} recent[BAL_RECENT]; /* moves decided here, counted at their target as pending until
			       * its gossiped facts are newer than the move (no herding) */
	uint32_t seq;
	unsigned started; /* automatic moves started */
	char status_path[PATH_MAX + 32];
	char last[POLICY_WHY_MAX + 64];
};

static void write_status(struct balance *b, const char *line)
{
	char tmp[sizeof(b->status_path) + 8];
	FILE *f;

	snprintf(b->last, sizeof(b->last), "%s", line);
	snprintf(tmp, sizeof(tmp), "%s.tmp", b->status_path);
	f = fopen(tmp, "we");
	if (!f)
		return; /* run_dir gone: nothing to show */
	fprintf(f, "%s\n", line);
	if (fclose(f) != 0 || rename(tmp, b->status_path) != 0)
		unlink(tmp);
}

int balance_new(struct balance **out, const struct config *cfg, int self)
{
	struct balance *b = calloc(1, sizeof(*b));
	char line[256];

	*out = NULL;
	if (!b)
		return -ENOMEM;
	b->cfg = cfg;
	b->self = self;
	policy_params_default(&b->pp, cfg->balance_interval_ms, cfg->admit_reserve_mb << 10);
	b->pp.margin = cfg->balance_margin;
	b->pp.c0_s = cfg->balance_c0_ms / 1000.0;
	policy_init(&b->st, BAL_BW_GUESS);
	policy_rng_seed(&b->rng, (uint64_t)cluster_wall_ms() ^ (uint64_t)self << 40 ^
					 (uint64_t)getpid() << 20);
	snprintf(b->status_path, sizeof(b->status_path), "%s/%s", cfg->run_dir,
		 BALANCE_STATUS_NAME);
	if (cfg->balance_enabled)
		snprintf(line, sizeof(line),
			 "on (interval %d ms, margin %.2f, c0 %d ms): no decision yet",
			 cfg->balance_interval_ms, cfg->balance_margin, cfg->balance_c0_ms);
	else
		snprintf(line, sizeof(line),
			 "off ([balance] enabled = no): processes move only "
			 "when asked (gmigrate, grun -n/--best)");
	write_status(b, line);
	*out = b;
	return 0;
}

void balance_free(struct balance *b)
{
	free(b);
}

int balance_status_read(const char *run_dir, char *out, size_t cap)
{
	char path[PATH_MAX + 32];
	FILE *f;

	if (cap)
		out[0] = 0;
	snprintf(path, sizeof(path), "%s/%s", run_dir, BALANCE_STATUS_NAME);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (!fgets(out, (int)cap, f))
		out[0] = 0;
	fclose(f);
	out[strcspn(out, "\n")] = 0;
	return out[0] ? 0 : -ENODATA;
}

/* ------------------------------------------------------------------ inputs */

/* B_eff from the moves this node recorded (it is their home) since the last look. */
static void fold_history(struct mig *m, struct balance *b)
{
	struct db_mig *v = NULL;
	size_t n = 0;
	int64_t top = b->hist_id;

	if (db_mig_list(m->db, 0, BAL_HISTORY_ROWS, &v, &n) < 0)
		return;
	for (size_t i = n; i-- > 0;) { /* oldest first */
		const struct db_mig *x = &v[i];
		if (x->id <= b->hist_id || x->outcome == DB_MIG_PENDING)
			continue;
		top = x->id > top ? x->id : top;
		if (x->outcome == DB_MIG_OK && x->bytes > 0 && x->transfer_ms > 0)
			policy_note_transfer(&b->st, (double)x->bytes, x->transfer_ms / 1000.0);
		if (x->outcome != DB_MIG_OK && !strncmp(x->reason, "auto", 4))
			for (int j = 0; j < MIG_MAX_PROCS; j++)
				if (b->t[j].gpid == x->gpid)
					b->t[j].rest_until = mig_now_ms() + BAL_BACKOFF_MS;
	}
	b->hist_id = top;
	free(v);
}

/* Read a small /proc file of pid into buf. 0 or -errno. */
static int read_proc(pid_t pid, const char *what, char *buf, size_t cap)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	do
		n = read(fd, buf, cap - 1);
	while (n < 0 && errno == EINTR);
	int e = n < 0 ? -errno : 0;
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	return e;
}

static uint32_t count_fds(pid_t pid)
{
	char path[64];
	struct dirent *d;
	uint32_t n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	if (!dir)
		return 0;
	while ((d = readdir(dir)))
		n += d->d_name[0] != '.';
	closedir(dir);
	return n;
}

static struct bproc *bproc_get(struct balance *b, uint32_t gpid, pid_t pid, double now)
{
	struct bproc *free_slot = NULL;

	for (int i = 0; i < MIG_MAX_PROCS; i++) {
		struct bproc *x = &b->t[i];
		if (x->gpid == gpid && x->pid == pid)
			return x;
		if (!x->gpid && !free_slot)
			free_slot = x;
	}
	if (!free_slot)
		return NULL;
	*free_slot = (struct bproc){.gpid = gpid, .pid = pid, .seen_ms = now};
	return free_slot;
}

/* Fill pr for p (running here) from its /proc; 0, or -errno if it is gone. */
static int sample_proc(struct mig *m, struct balance *b, const struct proc *p, double now,
		       struct policy_proc *pr)
{
	char buf[256];
	unsigned long long ex = 0, wt = 0;
	unsigned long size = 0, rss = 0;
	struct bproc *x = bproc_get(b, p->gpid, p->pid, now);
	int e;

	if (!x)
		return -ENOSPC;
	x->live = 1;
	e = read_proc(p->pid, "schedstat", buf, sizeof(buf));
	if (e < 0 || sscanf(buf, "%llu %llu", &ex, &wt) != 2)
		return e < 0 ? e : -EINVAL;
	if (x->t_ms > 0 && now > x->t_ms) {
		double d = (double)(ex - x->exec_ns) + (double)(wt - x->wait_ns);
		x->runfrac = d / ((now - x->t_ms) * 1e6);
		x->have = 1;
	}
	x->t_ms = now;
	x->exec_ns = ex;
	x->wait_ns = wt;
	if (read_proc(p->pid, "statm", buf, sizeof(buf)) == 0 &&
	    sscanf(buf, "%lu %lu", &size, &rss) == 2)
		x->rss_kb = (uint64_t)rss * ((uint64_t)sysconf(_SC_PAGESIZE) / 1024);
	memset(pr, 0, sizeof(*pr));
	pr->id = p->gpid;
	pr->cpu_age_s = (double)ex / 1e9;
	pr->residency_s = (now - x->seen_ms) / 1000.0;
	pr->migrated = p->kind == P_RESTORED;
	pr->dirty_bytes = x->rss_kb << 10; /* ~ what a move sends */
	pr->mem_kb = x->rss_kb;
	pr->nfds = count_fds(p->pid);
	pr->io_heavy = !x->have || x->runfrac < BAL_IO_RUNFRAC; /* unknown: wait one interval */
	pr->immovable = p->mig != 0 || p->exit_held || p->await_deputy > 0 ||
			(p->kind == P_RESTORED && (!p->resumed || p->exited)) ||
			now < x->rest_until ||
			(p->home != m->self && x->asked_ms > 0 && now - x->asked_ms < BAL_ASK_MS);
	return 0;
}

static int moving_from_here(struct mig *m, uint32_t gpid)
{
	for (int i = 0; i < MIG_MAX_MACH; i++) {
		const struct mach *k = &m->mach[i];
		if (k->used && !migproto_final(&k->p) && k->p.role == MIGPROTO_SOURCE &&
		    k->p.gpid == gpid)
			return 1;
	}
	return 0;
}

/* Moves under way from here to node id (whose facts are age_ms old at now): how many and
 * their memory; a move already done counts until id's facts are newer than it. */
static void pending_to(struct mig *m, struct balance *b, int id, int64_t age_ms, double now,
		       uint32_t *n, uint64_t *kb)
{
	*n = 0;
	*kb = 0;
	for (int i = 0; i < MIG_MAX_MACH; i++) {
		const struct mach *k = &m->mach[i];
		if (!k->used || migproto_final(&k->p) || k->p.role != MIGPROTO_SOURCE ||
		    k->p.dst != id)
			continue;
		(*n)++;
		for (int j = 0; j < MIG_MAX_PROCS; j++)
			if (b->t[j].gpid == k->p.gpid)
				*kb += b->t[j].rss_kb;
	}
	for (int i = 0; i < BAL_RECENT; i++) {
		if (!b->recent[i].t_ms || b->recent[i].dst != id)
			continue;
		if (now - b->recent[i].t_ms > BAL_ASK_MS) {
			b->recent[i].t_ms = 0; /* the target's facts are stale anyway */
			continue;
		}
		if (moving_from_here(m, b->recent[i].gpid) ||
		    (age_ms >= 0 && now - (double)age_ms >= b->recent[i].t_ms + BAL_SETTLE_MS))
			continue; /* counted above, or shown in its facts */
		(*n)++;
		*kb += b->recent[i].kb;
	}
}

/* ------------------------------------------------------------------ acting */

/* A process this node is home of: gmigrate's path, as root with no gmigrate waiting. */
static int move_home(struct mig *m, const struct policy_decision *d, char *err, size_t errlen)
{
	int ci = -1, e;

	for (int i = 0; i < MIG_MAX_CLIENTS && ci < 0; i++)
		if (m->cl[i].fd < 0 && !m->cl[i].rnode)
			ci = i;
	if (ci < 0) {
		snprintf(err, errlen, "no free request slot");
		return -EAGAIN;
	}
	struct client *k = &m->cl[ci];
	memset(k, 0, sizeof(*k));
	k->fd = -1;
	k->uid = 0; /* the daemon itself */
	e = mig_proto_request(m, ci, (uint32_t)d->proc, d->to, err, errlen);
	struct proc *p = mig_proc(m, (uint32_t)d->proc);
	struct mach *h = p && p->mig ? mig_mach_find(m, p->mig, MIGPROTO_HOME) : NULL;
	if (h) {
		char why[DB_TEXT_MAX];
		h->requester = -1; /* nobody waits for its progress lines */
		snprintf(why, sizeof(why), "auto: %s", d->why);
		if (e == 0 && h->db_id > 0 && db_mig_set_reason(m->db, h->db_id, why) < 0)
			log_warn("balance: gpid %u: marking the move automatic: %s",
				 (unsigned)d->proc, db_errmsg(m->db));
	}
	memset(k, 0, sizeof(*k));
	k->fd = -1;
	return e;
}

/* A guest: its home decides; MOVE_REQ as root, with the automatic bit in the request id. */
static int move_guest(struct mig *m, struct balance *b, const struct policy_decision *d, char *err,
		      size_t errlen)
{
	struct wire_msg w;
	int home = (int)(d->proc >> 22), e;

	b->seq = (b->seq + 1) & 0x7fffffff;
	uint32_t req = BALANCE_REQ_AUTO | b->seq;
	wire_msg_init(&w, WIRE_MOVE_REQ, req);
	w.u.move_req = (struct wire_move_req){
		.gpid = (uint32_t)d->proc, .dst = (uint16_t)d->to, .origin_uid = 0, .why = d->why};
	e = cluster_send(m->c, home, &w);
	if (e < 0) {
		snprintf(err, errlen, "asking its home, node %d: %s", home, ssierr_str(e));
		return e;
	}
	for (int i = 0; i < MIG_MAX_PROCS; i++)
		if (b->t[i].gpid == (uint32_t)d->proc && b->t[i].live) {
			b->t[i].asked_ms = mig_now_ms();
			b->t[i].req = req;
		}
	return 0;
}

static void decide(struct mig *m, struct balance *b, double now)
{
	char sock[PATH_MAX + 16], err[256], line[sizeof(b->last)];
	struct policy_proc procs[MIG_MAX_PROCS];
	struct policy_node *nodes = NULL;
	struct client_node *v = NULL;
	struct client_status st;
	struct policy_decision d;
	struct client *cl;
	size_t n = 0, np = 0;
	int e;

	fold_history(m, b);
	snprintf(sock, sizeof(sock), "%s/%s", m->cfg->run_dir, CTL_SOCK_NAME);
	e = client_open(&cl, sock, err, sizeof(err));
	if (e == 0) {
		e = client_status(cl, &st);
		if (e == 0)
			e = client_nodes(cl, &v, &n);
		client_close(cl);
		snprintf(err, sizeof(err), "%s", ssierr_str(e));
	}
	nodes = e == 0 && n ? calloc(n, sizeof(*nodes)) : NULL;
	if (e == 0 && n && !nodes)
		snprintf(err, sizeof(err), "out of memory");
	if (e < 0 || (n && !nodes)) {
		snprintf(line, sizeof(line), "on: no load facts from this ssid (%s)", err);
		write_status(b, line);
		free(v);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct policy_node *x = &nodes[i];
		*x = (struct policy_node){.id = v[i].id,
					  .up = v[i].self || !strcmp(v[i].state, "up"),
					  .blocked = v[i].blocked,
					  .age_ms = v[i].age_ms,
					  .load = v[i].load,
					  .cpus = v[i].cpus,
					  .speed = v[i].speed,
					  .mem_free_kb = v[i].mem_free_kb};
		pending_to(m, b, x->id, x->age_ms, now, &x->pending, &x->pending_kb);
	}
	for (int i = 0; i < MIG_MAX_PROCS; i++)
		b->t[i].live = 0;
	for (int i = 0; i < MIG_MAX_PROCS; i++) {
		const struct proc *p = &m->procs[i];
		if (!p->used || p->where != m->self || p->pid <= 0 ||
		    (p->kind != P_CHILD && p->kind != P_RESTORED))
			continue;
		if (sample_proc(m, b, p, now, &procs[np]) == 0)
			np++;
	}
	for (int i = 0; i < MIG_MAX_PROCS; i++) /* forget processes gone from here */
		if (b->t[i].gpid && !b->t[i].live)
			memset(&b->t[i], 0, sizeof(b->t[i]));
	struct policy_input in = {.now_ms = (int64_t)now,
				  .self = m->self,
				  .local_runq = st.load_local * (st.cpus ? st.cpus : 1),
				  .cpus = st.cpus ? st.cpus : 1,
				  .speed = st.speed,
				  .nodes = nodes,
				  .nnodes = n,
				  .procs = procs,
				  .nprocs = np};
	e = policy_decide(&b->st, &b->pp, &in, &b->rng, &d);
	free(nodes);
	free(v);
	if (e < 0) {
		snprintf(line, sizeof(line), "on: policy: %s", ssierr_str(e));
		write_status(b, line);
		return;
	}
	if (!d.move) {
		snprintf(line, sizeof(line), "on: %u moved; last: %s", b->started, d.why);
		write_status(b, line);
		return;
	}
	int home = (int)(d.proc >> 22);
	e = home == m->self ? move_home(m, &d, err, sizeof(err))
			    : move_guest(m, b, &d, err, sizeof(err));
	if (e < 0) {
		for (int i = 0; i < MIG_MAX_PROCS; i++)
			if (b->t[i].gpid == (uint32_t)d.proc)
				b->t[i].rest_until = now + BAL_BACKOFF_MS;
		log_warn("balance: gpid %u: automatic move to node %d not started: %s (%s)",
			 (unsigned)d.proc, d.to, err, d.why);
		snprintf(line, sizeof(line),
			 "on: %u moved; last: gpid %u to node %d not started: %s", b->started,
			 (unsigned)d.proc, d.to, err);
		write_status(b, line);
		return;
	}
	b->started++;
	int slot = 0;
	for (int i = 1; i < BAL_RECENT; i++)
		if (b->recent[i].t_ms < b->recent[slot].t_ms)
			slot = i;
	b->recent[slot].dst = d.to;
	b->recent[slot].gpid = (uint32_t)d.proc;
	b->recent[slot].t_ms = now;
	b->recent[slot].kb = 0;
	for (int i = 0; i < MIG_MAX_PROCS; i++)
		if (b->t[i].gpid == (uint32_t)d.proc)
			b->recent[slot].kb = b->t[i].rss_kb;
	log_info("balance: automatic move of gpid %u from node %d to node %d%s: %s",
		 (unsigned)d.proc, d.from, d.to, home == m->self ? "" : " asked of its home",
		 d.why);
	snprintf(line, sizeof(line), "on: %u moved; last: %s", b->started, d.why);
	write_status(b, line);
}

void balance_tick(struct mig *m, struct balance *b, int *tmo_ms)
{
	double now = mig_now_ms();

	if (!b || !b->cfg->balance_enabled)
		return;
	if (now < b->next_ms) {
		double left = b->next_ms - now + 1;
		if (left < *tmo_ms)
			*tmo_ms = (int)left;
		return;
	}
	b->next_ms = now + b->cfg->balance_interval_ms;
	decide(m, b, now);
	if (b->cfg->balance_interval_ms < *tmo_ms)
		*tmo_ms = b->cfg->balance_interval_ms;
}

void balance_wire_ev(struct mig *m, struct balance *b, const struct mig_ev *ev)
{
	struct buf body;
	uint32_t gpid = 0;

	if (!(ev->reqid & BALANCE_REQ_AUTO))
		return;
	if (ev->type == WIRE_MOVE_REQ) { /* home: mark the move it started for this request */
		char asked[WIRE_TEXT_MAX + 1] = "";
		uint16_t dst;
		buf_view(&body, ev->data, ev->len);
		if (buf_get_u32(&body, &gpid) < 0)
			return;
		if (buf_get_u16(&body, &dst) < 0 || buf_get_cstr(&body, asked, sizeof(asked)) < 0)
			asked[0] = '\0'; /* an older peer: no reason given */
		struct proc *p = mig_proc(m, gpid);
		struct mach *h = p && p->mig ? mig_mach_find(m, p->mig, MIGPROTO_HOME) : NULL;
		if (!h || h->requester < 0 || m->cl[h->requester].rnode != ev->peer ||
		    m->cl[h->requester].rreq != ev->reqid)
			return; /* refused (the answer says why) or an old request again */
		char why[DB_TEXT_MAX];
		if (asked[0])
			snprintf(why, sizeof(why), "auto: node %d: %s", ev->peer, asked);
		else
			snprintf(why, sizeof(why), "auto: asked by node %d's balancer", ev->peer);
		if (h->db_id > 0 && db_mig_set_reason(m->db, h->db_id, why) < 0)
			log_warn("balance: gpid %u: marking the move automatic: %s", gpid,
				 db_errmsg(m->db));
		log_info("balance: gpid %u: automatic move to node %d asked by node %d", gpid,
			 h->p.dst, ev->peer);
		return;
	}
	if (!b || (ev->type != WIRE_MOVE_RESULT && ev->type != WIRE_ERROR))
		return;
	for (int i = 0; i < MIG_MAX_PROCS; i++) {
		struct bproc *x = &b->t[i];
		if (!x->gpid || x->req != ev->reqid || (int)(x->gpid >> 22) != ev->peer)
			continue;
		struct deputy_result r;
		int64_t code = 0;
		char text[WIRE_TEXT_MAX + 1] = "";
		buf_view(&body, ev->data, ev->len);
		memset(&r, 0, sizeof(r));
		if (ev->type == WIRE_ERROR) {
			(void)buf_get_i64(&body, &code);
			(void)buf_get_cstr(&body, text, sizeof(text));
		} else if (deputy_result_get(&body, &r) == 0) {
			code = r.err;
			snprintf(text, sizeof(text), "%s", r.text);
		}
		if (code < 0) {
			x->rest_until = mig_now_ms() + BAL_BACKOFF_MS;
			log_warn("balance: gpid %u: its home, node %d, did not move it: %s",
				 x->gpid, ev->peer, text[0] ? text : ssierr_str((int)code));
		} else {
			log_info("balance: gpid %u: moved by its home, node %d, to node %u",
				 x->gpid, ev->peer, (unsigned)r.to);
		}
		x->req = 0;
		return;
	}
}
