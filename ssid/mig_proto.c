/*
 * mig_proto.c - the daemon side of the migration protocol: one migrate/migproto.h machine
 * per migration per role on this node, the actions they ask for (wire sends, the durable
 * commit record, reports; checkpoint, stream and restore are started in mig_stream.c), the
 * timings the destination reports. The machine table, time-outs, the home's request entry
 * and the membership check: mig_mach.c.
 *
 * Routing: a MIG_* frame's `roles` field (and, for older peers, its request id: from << 8
 * | to) names the sender's and the receiver's role, since home may share a node with the
 * source or the destination. A
 * MIG_OFFER sent by the home to the source (to = SOURCE) is the request "start moving gpid"
 * (gmigrate runs at the home). Sends to this node are posted to our own queue.
 * Fault-injection points of the protocol steps (mig_fault_peer, step_point): docs/migration.md
 * "Fault injection"; the matrix they are tested with: tests/integration/mig_matrix.sh.
 */
#include "migrate/deputy.h"
#include "migrate/fault.h"
#include "ssid/admit.h"
#include "ssid/link.h"
#include "ssid/log.h"
#include "ssid/mig_int.h"
#include "ssid/ssierr.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static uint64_t now_ms(void)
{
	return (uint64_t)cluster_mono_ms();
}

struct mach *mig_mach_find(struct mig *m, uint64_t id, int role)
{
	for (int i = 0; i < MIG_MAX_MACH; i++)
		if (m->mach[i].used && m->mach[i].p.mig_id == id && (int)m->mach[i].p.role == role)
			return &m->mach[i];
	return NULL;
}

static void source_thaw(struct mig *m, struct mach *k);
static int peer_of(const struct mach *k);
static void step_fault(struct mach *k, const char *point);

/* A fault-injection point of the daemon (migrate/fault.h; tests only): "mig.<step>" for the
 * role ("src", "dst", "home"); peer: the node a cut at this step separates us from (0:
 * none). crash: the daemon exits at once (ssi-lab crash takes the rest of the node); pause:
 * holds the calling thread, then FAULT_NONE (a test crashes or cuts nodes meanwhile); cut:
 * the links to peer are dropped for fault_ms(FAULT_CUT), then FAULT_NONE (the step goes on
 * over a cut link); the caller handles fail and stall. */
enum fault_action mig_fault_peer(const char *point, const char *role, int peer)
{
	enum fault_action a = fault_for_role(fault_hit(point), role);

	if (a == FAULT_CRASH) {
		log_err("fault %s: crashing", point);
		_exit(70);
	}
	if (a == FAULT_NONE)
		return a;
	log_warn("fault %s: %s", point, fault_action_name(a));
	if (a == FAULT_PAUSE) {
		for (int left = fault_ms(a); left > 0; left -= 10)
			usleep(10000);
		log_warn("fault %s: pause over", point);
		return FAULT_NONE;
	}
	if (a == FAULT_CUT) {
		if (peer > 0 && link_fault_cut(peer, fault_ms(a)) == 0)
			log_warn("fault %s: link to node %d cut for %d ms", point, peer,
				 fault_ms(a));
		return FAULT_NONE;
	}
	return a;
}

enum fault_action mig_fault(const char *point, const char *role)
{
	return mig_fault_peer(point, role, 0);
}

void mig_post_proto(struct mig *m, uint64_t id, int role, int pev, int err, const char *why)
{
	struct mig_ev *ev = calloc(1, sizeof(*ev));
	if (!ev)
		return;
	ev->kind = EVK_PROTO;
	ev->mig_id = id;
	ev->role = role;
	ev->pev = pev;
	ev->dctl = -1;
	ev->err = err;
	snprintf(ev->reason, sizeof(ev->reason), "%s", why ? why : "");
	mig_post(m, ev);
}

void mig_proto_worker_line(struct mig *m, struct proc *p, const char *line)
{
	struct mach *k = p->mig ? mig_mach_find(m, p->mig, MIGPROTO_DEST) : NULL;

	if (line[0] == 'R' && !k) { /* its move is gone: the worker waits for "K" */
		log_warn("gpid %u: restored for a move no longer known; discarded", p->gpid);
		if (p->ctl_fd >= 0 && write(p->ctl_fd, "K", 1) < 0)
			kill(p->wpid, SIGKILL);
	} else if (line[0] == 'R') {
		int pid = 0, pidns = 0;
		double ms = 0;
		if (sscanf(line + 1, "%d %lf %d", &pid, &ms, &pidns) < 2)
			return;
		p->pid = pid;
		k->pid = (uint32_t)pid;
		k->restore_ms = (int64_t)ms;
		k->restore_exact = ms;
		log_info("gpid %u restored as pid %d in %.0f ms%s (held until the commit)", p->gpid,
			 pid, ms, pidns ? " in a new PID namespace" : "");
		struct migproto_event ev = {.type = MIGPROTO_EV_RESTORED};
		enum fault_action f = mig_fault_peer("mig.before_ready", "dst", k->p.src);
		if (f == FAULT_STALL) {
			k->stalled = 1; /* never votes: the others' time-outs must decide */
			return;
		}
		if (f != FAULT_NONE) {
			ev.type = MIGPROTO_EV_RESTORE_FAILED;
			ev.err = -EIO;
			ev.reason = "fault injected at mig.before_ready";
		}
		mig_step(m, k, &ev);
	} else if (line[0] == 'F') {
		if (k && !p->resumed && !p->pid) {
			struct migproto_event ev = {.type = MIGPROTO_EV_RESTORE_FAILED,
						    .err = -EIO,
						    .reason =
							    line[1] ? line + 2 : "restore failed"};
			log_warn("gpid %u: restore failed: %s", p->gpid, ev.reason);
			mig_step(m, k, &ev);
		} else {
			if (!p->pid)
				log_warn("gpid %u: restore here failed: %s", p->gpid,
					 line[1] ? line + 2 : "?");
			p->exited = 1;
			p->status = SIGKILL;
		}
	} else if (line[0] == 'X') {
		p->exited = 1;
		p->status = atoi(line + 1);
		if (p->mig)
			p->src_dead = 1; /* killed by the checkpoint as it leaves */
		mig_proc_exited(m, p);
	}
}

/* ------------------------------------------------------------------ actions */

/* ms (< 0 unknown) as the wire's us (0 unknown; a known time is at least 1 us). */
static uint64_t us_of(double ms)
{
	return ms < 0 ? 0 : ms * 1000.0 < 1.0 ? 1 : (uint64_t)(ms * 1000.0);
}

static int64_t ms_of(uint64_t us)
{
	return us ? (int64_t)(us / 1000) : -1;
}

void mig_send_msg(struct mig *m, struct mach *k, const struct migproto_action *a)
{
	struct wire_msg w;
	uint64_t id = k->p.mig_id;
	/* roles travel in the `roles` field and, for older peers, in the request id */
	uint32_t reqid = (uint32_t)k->p.role << 8 | (uint32_t)a->to_role;
	uint8_t roles = (uint8_t)((unsigned)k->p.role << 4 | (unsigned)a->to_role);
	struct mig_times tm = {.freeze_us = us_of(k->freeze_exact),
			       .transfer_us = us_of(k->transfer_exact),
			       .restore_us = us_of(k->restore_exact),
			       .bytes = k->bytes};

	wire_msg_init(&w, (uint16_t)a->msg, reqid);
	switch (a->msg) {
	case MIGPROTO_OFFER:
		w.u.mig_offer = (struct wire_mig_offer){.mig_id = id,
							.gpid = k->p.gpid,
							.src = k->p.src,
							.dst = k->p.dst,
							.home = k->p.home,
							.uid = k->uid,
							.gid = k->gid};
		snprintf(w.u.mig_offer.comm, sizeof(w.u.mig_offer.comm), "%s", k->comm);
		w.u.mig_offer.roles = roles;
		w.u.mig_offer.rss_kb = admit_rss_kb((pid_t)k->pid); /* for admission (admit.h) */
		break;
	case MIGPROTO_ACCEPT:
		w.u.mig_accept.mig_id = id;
		w.u.mig_accept.roles = roles;
		if (k->img_port && a->to_role == MIGPROTO_SOURCE) /* secret: inside the link */
			mig_imgch_pack(k->img_port, &k->img_key, &w.u.mig_accept);
		break;
	case MIGPROTO_REFUSE:
		w.u.mig_refuse = (struct wire_mig_refuse){.mig_id = id,
							  .err = a->err ? a->err : -EPERM,
							  .reason = a->reason,
							  .roles = roles};
		break;
	case MIGPROTO_READY:
		w.u.mig_ready = (struct wire_mig_ready){.mig_id = id,
							.pid = k->pid,
							.roles = roles,
							.transfer_us = tm.transfer_us,
							.restore_us = tm.restore_us,
							.bytes = tm.bytes};
		tm.freeze_us = 0; /* not known before the resume */
		break;
	case MIGPROTO_COMMIT:
		w.u.mig_commit.mig_id = id;
		w.u.mig_commit.roles = roles;
		break;
	case MIGPROTO_ABORT:
		w.u.mig_abort = (struct wire_mig_abort){
			.mig_id = id, .err = a->err, .reason = a->reason, .roles = roles};
		break;
	case MIGPROTO_DONE:
		w.u.mig_done = (struct wire_mig_done){.mig_id = id,
						      .roles = roles,
						      .freeze_us = tm.freeze_us,
						      .transfer_us = tm.transfer_us,
						      .restore_us = tm.restore_us,
						      .bytes = tm.bytes};
		break;
	case MIGPROTO_QUERY:
		w.u.mig_query.mig_id = id;
		w.u.mig_query.roles = roles;
		break;
	default:
		return;
	}
	if (a->to == m->self) {
		struct mig_ev *ev = calloc(1, sizeof(*ev));
		if (!ev)
			return;
		ev->kind = EVK_WIRE;
		ev->peer = m->self;
		ev->type = w.type;
		ev->reqid = reqid;
		ev->roles = roles;
		ev->mig_id = id;
		ev->err = a->err;
		ev->pid = k->pid;
		if (a->msg == MIGPROTO_READY || a->msg == MIGPROTO_DONE)
			ev->tm = tm;
		if (a->msg == MIGPROTO_OFFER)
			ev->offer = w.u.mig_offer;
		snprintf(ev->reason, sizeof(ev->reason), "%s", a->reason ? a->reason : "");
		mig_post(m, ev);
		return;
	}
	int e = cluster_send(m->c, a->to, &w);
	if (e < 0)
		log_warn("migration %llx: %s to node %d: %s", (unsigned long long)id,
			 migproto_msg_name(a->msg), a->to, ssierr_str(e));
}

static void deliver_held(struct mig *m, struct proc *p)
{
	uint64_t q = p->sigq;
	p->sigq = 0;
	for (int s = 1; s < 64; s++)
		if (q & 1ull << s)
			mig_deliver_signal(m, p, s);
}

/* Home: the migration ended (moved, failed or lost): history, requester, deputy. */
static void home_finish(struct mig *m, struct mach *k, int outcome, int err, const char *why)
{
	struct proc *p = mig_proc(m, k->p.gpid);
	struct db_mig r = {.id = k->db_id,
			   .end_ms = cluster_wall_ms(),
			   .freeze_ms = k->freeze_ms,
			   .transfer_ms = k->transfer_ms,
			   .restore_ms = k->restore_ms,
			   .bytes = k->bytes,
			   .outcome = outcome};
	struct deputy_result res = {.err = err,
				    .from = k->p.src,
				    .to = k->p.dst,
				    .mig_id = k->p.mig_id,
				    .bytes = k->bytes,
				    .freeze_ms = k->freeze_ms,
				    .transfer_ms = k->transfer_ms,
				    .restore_ms = k->restore_ms,
				    .total_ms = (int64_t)(mig_now_ms() - k->t0_mono)};

	if (k->reported)
		return;
	k->reported = 1;
	snprintf(r.error, sizeof(r.error), "%s", why ? why : "");
	snprintf(res.text, sizeof(res.text), "%s", why ? why : "");
	if (k->db_id > 0 && db_mig_finish(m->db, &r) < 0)
		log_warn("migration %llx: history: %s", (unsigned long long)k->p.mig_id,
			 db_errmsg(m->db));
	struct buf b;
	buf_init(&b);
	deputy_result_put(&b, &res);
	mig_client_send(m, k->requester, DEPUTY_RESULT, &b);
	buf_free(&b);
	log_info("migration %llx of gpid %u %d -> %d: %s%s%s", (unsigned long long)k->p.mig_id,
		 k->p.gpid, k->p.src, k->p.dst, db_mig_outcome_str(outcome), why ? ": " : "",
		 why ? why : "");
	if (p && outcome == DB_MIG_OK && p->mig == k->p.mig_id) { /* DONE: it runs there */
		p->mig = 0;
		deliver_held(m, p);
	}
	if (!p || outcome == DB_MIG_OK)
		return;
	if (outcome == DB_MIG_LOST) {
		mig_deputy_exit(m, p, SIGKILL,
				"the process was lost during its migration (the node holding "
				"its only copy failed)");
		return;
	}
	/* Failed: the source decides what runs (source_thaw); here only when it is elsewhere. */
	if (p->mig != k->p.mig_id || k->p.src == m->self)
		return;
	p->mig = 0;
	deliver_held(m, p);
}

/* Source: the move is abandoned; the process must run here again. The checkpoint either
 * failed (it runs on) or holds it frozen: then it is released (dump_release), it continues
 * as if never stopped. */
static void source_thaw(struct mig *m, struct mach *k)
{
	struct proc *p = mig_proc(m, k->p.gpid);

	k->cancel = 1;
	if (k->th_started) { /* the stream thread has the last word on what happened */
		k->thaw_pending = 1;
		return;
	}
	mig_dump_ctl(k, 'R');
	if (k->thawed)
		return;
	k->thawed = 1;
	if (!p || p->mig != k->p.mig_id)
		return;
	p->mig = 0;
	if (p->src_dead && p->kind == P_CHILD) /* it ended on its own meanwhile */
		mig_deputy_exit(m, p, p->status, NULL);
	else
		deliver_held(m, p);
}

static void report(struct mig *m, struct mach *k, const struct migproto_action *a)
{
	static const int out_db[] = {[MIGPROTO_OUT_MOVED] = DB_MIG_OK,
				     [MIGPROTO_OUT_ABORTED] = DB_MIG_FAILED,
				     [MIGPROTO_OUT_REFUSED] = DB_MIG_FAILED,
				     [MIGPROTO_OUT_INDOUBT] = DB_MIG_PENDING,
				     [MIGPROTO_OUT_LOST] = DB_MIG_LOST};
	const char *why = a->reason && a->reason[0] ? a->reason : k->p.reason;

	log_info("migration %llx (%s): %s%s%s", (unsigned long long)k->p.mig_id,
		 migproto_role_name(k->p.role), migproto_outcome_name(a->outcome),
		 why[0] ? ": " : "", why);
	if (k->p.role == MIGPROTO_SOURCE &&
	    (a->outcome == MIGPROTO_OUT_ABORTED || a->outcome == MIGPROTO_OUT_REFUSED))
		source_thaw(m, k);
	if (k->p.role != MIGPROTO_HOME || a->outcome == MIGPROTO_OUT_INDOUBT)
		return;
	if (a->outcome == MIGPROTO_OUT_MOVED) {
		struct proc *p = mig_proc(m, k->p.gpid);
		if (!p)
			return;
		p->where = k->p.dst;
		if (k->p.dst == m->self) { /* back home: RESUME (destination) finishes it */
			mig_deputy_where(m, p);
			return;
		}
		if (p->kind == P_RESTORED) /* it left home: the checkpoint killed the local copy */
			mig_proc_detach_worker(p);
		p->kind = P_REMOTE;
		mig_deputy_where(m, p);
		/* signals stay held (p->mig) until DONE (home_finish): sent now, one could reach
		 * the destination before its RESUME and find no process there to signal */
		return;
	}
	char text[MIGPROTO_REASON_MAX + 64];
	int err = a->err ? a->err : k->p.err ? k->p.err : -EIO;
	snprintf(text, sizeof(text), "%s%s%s", ssierr_str(err), why[0] ? " in " : "", why);
	if (err == -ETIMEDOUT && !strncmp(why, "S_NEGOTIATE", 11))
		snprintf(text, sizeof(text), "node %d did not answer the offer (is it up?)",
			 k->p.dst);
	else if (why[0] && strchr(why, ' '))
		snprintf(text, sizeof(text), "%s", why); /* a sentence already */
	home_finish(m, k, out_db[a->outcome], err, text);
}

static void act(struct mig *m, struct mach *k, const struct migproto_action *a)
{
	struct proc *p = mig_proc(m, k->p.gpid);

	if (k->stalled)
		return; /* a stall fault: this side does nothing more */
	if (a->kind == MIGPROTO_A_RESUME &&
	    mig_fault_peer("mig.before_resume", "dst", k->p.src) != FAULT_NONE) {
		k->stalled = 1;
		return;
	}
	switch (a->kind) {
	case MIGPROTO_A_SEND:
		mig_send_msg(m, k, a);
		break;
	case MIGPROTO_A_FREEZE:
		mig_hold_note(k, 0); /* for the checkpoint child, should this ssid die */
		mig_stream_start(m, k);
		break;
	case MIGPROTO_A_STREAM: /* the stream runs from the freeze on */
		break;
	case MIGPROTO_A_CANCEL_STREAM:
		k->cancel = 1;
		break;
	case MIGPROTO_A_THAW:
		source_thaw(m, k);
		break;
	case MIGPROTO_A_KILL_FROZEN: /* committed: the frozen copy here dies (dump_kill) */
		mig_dump_ctl(k, 'K');
		if (!p || p->where != m->self)
			break;
		mig_relay_drain(m, p);
		if (p->home != m->self) {
			mig_proc_drop(m, p);
		} else if (p->kind == P_RESTORED) {
			/* the home record stays; the worker and pipes go */
			int wpid = p->wpid;
			uint32_t g = p->gpid;
			int dep = p->deputy;
			uint32_t uid = p->uid;
			uint64_t mig = p->mig, q = p->sigq;
			char comm[64];
			snprintf(comm, sizeof(comm), "%s", p->comm);
			mig_proc_drop(m, p);
			p = mig_proc_new(m, g);
			if (p) {
				p->uid = uid;
				p->home = m->self;
				p->where = k->p.dst;
				p->kind = P_REMOTE;
				p->deputy = dep;
				p->mig = mig;
				p->sigq = q;
				snprintf(p->comm, sizeof(p->comm), "%s", comm);
			}
			(void)wpid;
		}
		break;
	case MIGPROTO_A_RESTORE: {
		int e = -ENOMEM;
		struct proc *n = p ? p : mig_proc_new(m, k->p.gpid);
		if (n) {
			if (!p) {
				n->uid = k->uid;
				n->home = k->p.home;
				n->where = m->self;
				n->kind = P_RESTORED;
				snprintf(n->comm, sizeof(n->comm), "%s", k->comm);
			}
			n->mig = k->p.mig_id;
			mig_hold_note(k, 1); /* for the worker, should this ssid die */
			e = mig_worker_spawn(m, n, k->p.mig_id, -1);
			mig_hold_note(NULL, 1);
			if (e == 0) /* before ACCEPT (the next action) announces it */
				mig_imgrx_start(m, k);
			if (e < 0 && !p)
				mig_proc_drop(m, n);
		}
		if (e < 0)
			mig_post_proto(m, k->p.mig_id, MIGPROTO_DEST, MIGPROTO_EV_RESTORE_FAILED, e,
				       "cannot start the restore worker");
		break;
	}
	case MIGPROTO_A_DISCARD:
		mig_sink_close(m, k->p.mig_id);
		if (p && p->mig == k->p.mig_id && p->st_fd >= 0 && !p->resumed) {
			if (p->ctl_fd >= 0 && write(p->ctl_fd, "K", 1) < 0)
				kill(p->wpid, SIGKILL);
			if (p->kind == P_RESTORED) {
				mig_proc_drop(m, p);
			} else { /* home record: only the incoming copy goes */
				if (p->wpid > 0)
					kill(p->wpid, SIGKILL);
				p->wpid = 0;
				p->mig = 0;
			}
		}
		break;
	case MIGPROTO_A_RESUME:
		if (p && !p->resumed && p->ctl_fd >= 0) {
			if (write(p->ctl_fd, "C", 1) < 0)
				log_warn("gpid %u: resume: %s", p->gpid, strerror(errno));
			p->resumed = 1;
			p->kind = P_RESTORED;
			p->where = m->self;
			p->mig = 0;
			if (k->t_first > 0) {
				k->freeze_exact = mig_now_ms() - k->t_first;
				k->freeze_ms = (int64_t)k->freeze_exact;
			}
			log_info("gpid %u now runs here as pid %d", p->gpid, p->pid);
			/* before DONE goes (the next action): the home then reports the move and
			 * grun -n sends its SIGUSR1 "go", which the link thread's sigsvc looks up
			 * in the snapshot: a stale one drops it (ESRCH), the child waits forever */
			mig_snapshot(m);
			if (p->home == m->self)
				deliver_held(m, p);
		}
		break;
	case MIGPROTO_A_RECORD_COMMIT: {
		enum fault_action f = mig_fault_peer("mig.before_commit", "home", peer_of(k));
		if (f == FAULT_STALL) {
			k->stalled = 1;
			break;
		}
		if (f != FAULT_NONE) {
			mig_post_proto(m, k->p.mig_id, MIGPROTO_HOME, MIGPROTO_EV_RECORD_FAILED,
				       -EIO, "fault injected at mig.before_commit");
			break;
		}
		struct db_proc r = {.gpid = k->p.gpid,
				    .home_node = m->self,
				    .node = k->p.dst,
				    .uid = p ? p->uid : 0,
				    .state = DB_PROC_RUNNING,
				    .since_ms = cluster_wall_ms(),
				    .mig_id = (int64_t)k->p.mig_id}; /* the commit, for a restart */
		if (p)
			snprintf(r.cmd, sizeof(r.cmd), "%s", p->comm);
		int e = db_proc_put(m->db, &r);
		mig_post_proto(m, k->p.mig_id, MIGPROTO_HOME,
			       e < 0 ? MIGPROTO_EV_RECORD_FAILED : MIGPROTO_EV_RECORDED, e,
			       e < 0 ? db_errmsg(m->db) : NULL);
		break;
	}
	case MIGPROTO_A_REPORT:
		report(m, k, a);
		break;
	}
}

void mig_act_list(struct mig *m, struct mach *k, const struct migproto_action *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		act(m, k, &a[i]);
}

/* ------------------------------------------------------------------ fault points at steps */

/* The node a cut at one of k's steps separates us from: source <-> destination; the home
 * (when it is neither) from the destination. */
static int peer_of(const struct mach *k)
{
	if (k->p.role == MIGPROTO_SOURCE)
		return k->p.dst;
	if (k->p.role == MIGPROTO_DEST)
		return k->p.src;
	return k->p.dst != k->p.self ? k->p.dst : k->p.src;
}

static const char *const role_tag[] = {
	[MIGPROTO_SOURCE] = "src", [MIGPROTO_DEST] = "dst", [MIGPROTO_HOME] = "home"};

/* The fault point of a step of k (docs/migration.md "Fault points"): before action a of
 * the step that left state `before` (a != NULL), or once the step is done (a == NULL). */
static const char *step_point(const struct mach *k, enum migproto_state before,
			      const struct migproto_action *a)
{
	enum migproto_state now = k->p.state;

	if (a) {
		if (before == MIGPROTO_H_RECORDING && a->kind == MIGPROTO_A_SEND &&
		    a->msg == MIGPROTO_COMMIT)
			return "mig.after_record"; /* durable, COMMIT not sent yet */
		if (before == MIGPROTO_D_READY && a->kind == MIGPROTO_A_SEND &&
		    a->msg == MIGPROTO_DONE)
			return "mig.after_resume"; /* it runs, DONE not sent yet */
		if (a->kind == MIGPROTO_A_KILL_FROZEN && k->p.role == MIGPROTO_SOURCE)
			return "mig.before_kill"; /* COMMIT here, frozen copy still alive */
		return NULL;
	}
	if (before == now)
		return NULL;
	switch (now) {
	case MIGPROTO_S_NEGOTIATE:
		return "mig.after_offer";
	case MIGPROTO_S_DECIDING:
		return before == MIGPROTO_S_STREAMING ? "mig.after_last" : NULL;
	case MIGPROTO_S_MOVED:
		return "mig.after_kill";
	case MIGPROTO_D_RECEIVING:
		return "mig.after_accept";
	case MIGPROTO_D_READY:
		return "mig.after_ready";
	default:
		return NULL;
	}
}

/* Hit the step's point; a stall (or fail: no error to return here) ends this side. */
static void step_fault(struct mach *k, const char *point)
{
	enum fault_action f;

	if (!point || k->stalled)
		return;
	f = mig_fault_peer(point, role_tag[k->p.role], peer_of(k));
	if (f == FAULT_STALL || f == FAULT_FAIL)
		k->stalled = 1;
}

void mig_step(struct mig *m, struct mach *k, struct migproto_event *ev)
{
	struct migproto_action a[MIGPROTO_MAX_ACTIONS];
	size_t n = 0;
	uint64_t t = now_ms();
	int e;

	ev->now = t > k->p.last_now ? t : k->p.last_now;
	enum migproto_state before = k->p.state;
	e = migproto_step(&k->p, ev, a, MIGPROTO_MAX_ACTIONS, &n);
	if (e < 0) {
		log_warn("migration %llx: step %s: %s", (unsigned long long)k->p.mig_id,
			 migproto_ev_name(ev->type), strerror(-e));
		return;
	}
	if (before != k->p.state)
		log_debug("migration %llx %s: %s -> %s on %s", (unsigned long long)k->p.mig_id,
			  migproto_role_name(k->p.role), migproto_state_name(before),
			  migproto_state_name(k->p.state), migproto_ev_name(ev->type));
	const char *fired = NULL;
	for (size_t i = 0; i < n; i++) {
		const char *pt = step_point(k, before, &a[i]);
		if (pt && pt != fired) { /* once per step, before its first such action */
			fired = pt;
			step_fault(k, pt);
		}
		act(m, k, &a[i]);
	}
	step_fault(k, step_point(k, before, NULL));
	if (k->p.role == MIGPROTO_HOME && k->p.state == MIGPROTO_H_MOVED)
		home_finish(m, k, DB_MIG_OK, 0, NULL);
}

/* ------------------------------------------------------------------ entry points */

void mig_proto_wire(struct mig *m, struct mig_ev *ev)
{
	int from = ev->roles ? ev->roles >> 4 : (int)(ev->reqid >> 8),
	    to = ev->roles ? ev->roles & 0xf : (int)(ev->reqid & 0xff);
	struct migproto_event pe = {.type = MIGPROTO_EV_MSG,
				    .node = (uint16_t)ev->peer,
				    .from = (enum migproto_role)from,
				    .msg = (enum migproto_msg)ev->type,
				    .err = ev->err,
				    .reason = ev->reason[0] ? ev->reason : NULL};
	struct mach *k;

	if (from < MIGPROTO_SOURCE || from > MIGPROTO_HOME || to < MIGPROTO_SOURCE ||
	    to > MIGPROTO_HOME) {
		log_debug("%s from node %d without roles (request id %#x): dropped",
			  wire_type_name(ev->type), ev->peer, ev->reqid);
		return;
	}
	if (ev->type == WIRE_MIG_OFFER && !mig_mach_find(m, ev->mig_id, to)) {
		const struct wire_mig_offer *o = &ev->offer;
		struct migproto_params pp = {.mig_id = o->mig_id,
					     .gpid = o->gpid,
					     .self = (uint16_t)m->self,
					     .src = o->src,
					     .dst = o->dst,
					     .home = o->home};
		struct proc *p = mig_proc(m, o->gpid);
		migproto_conf_default(&pp.conf);
		k = mig_mach_new(m, to, &pp);
		if (!k) {
			log_warn("migration %llx: bad or too many offers",
				 (unsigned long long)o->mig_id);
			return;
		}
		k->uid = o->uid;
		k->gid = o->gid;
		snprintf(k->comm, sizeof(k->comm), "%s", o->comm);
		if (to == MIGPROTO_SOURCE) { /* the home asks us to move it */
			struct migproto_event st = {.type = MIGPROTO_EV_START};
			if (!p || p->where != m->self || p->mig || !p->pid) {
				struct migproto_action r = {.kind = MIGPROTO_A_SEND,
							    .to = o->home,
							    .to_role = MIGPROTO_HOME,
							    .msg = MIGPROTO_REFUSE,
							    .err = -ESRCH,
							    .reason = "the process is not here"};
				mig_send_msg(m, k, &r);
				k->used = 0;
				return;
			}
			k->pid = (uint32_t)p->pid;
			p->mig = o->mig_id;
			mig_step(m, k, &st);
			return;
		}
		if (to == MIGPROTO_DEST) /* blocked? memory? (admit.h) */
			pe.err = p && p->home != m->self
					 ? -EEXIST
					 : admit_offer(m->db, m->cfg, o, &pe.reason);
		else if (!p || p->where != o->src || (p->mig && p->mig != o->mig_id))
			pe.err = -ESRCH;
		mig_step(m, k, &pe);
		return;
	}
	k = mig_mach_find(m, ev->mig_id, to);
	if (!k && to == MIGPROTO_HOME && mig_orphan_answer(m, &pe, ev->mig_id))
		return; /* decided before this daemon started (mig_adopt.c) */
	if (!k) {
		log_debug("%s for unknown migration %llx from node %d", wire_type_name(ev->type),
			  (unsigned long long)ev->mig_id, ev->peer);
		return;
	}
	if (ev->type == WIRE_MIG_ACCEPT && to == MIGPROTO_SOURCE && from == MIGPROTO_DEST &&
	    ev->accept.img_port) { /* the destination's image channel (mig_imgch.c) */
		k->img_port = mig_imgch_unpack(&ev->accept, &k->img_key);
	}
	if (to == MIGPROTO_HOME && k->p.state == MIGPROTO_NEW && ev->type == WIRE_MIG_REFUSE) {
		struct proc *p = mig_proc(m, k->p.gpid);
		if (p && p->mig == k->p.mig_id)
			p->mig = 0;
		home_finish(m, k, DB_MIG_FAILED, ev->err, ev->reason);
		k->used = 0;
		return;
	}
	if (ev->type == WIRE_MIG_READY && to == MIGPROTO_HOME &&
	    k->p.state == MIGPROTO_H_WAIT_READY) {
		k->pid = ev->pid;
		mig_merge_stats(m, k, -1, ms_of(ev->tm.transfer_us), ms_of(ev->tm.restore_us),
				ev->tm.bytes);
		mig_progress(m, k, "node %d is ready: committing", k->p.dst);
	}
	if (ev->type == WIRE_MIG_DONE && to == MIGPROTO_HOME && !k->reported) {
		int64_t fr = ms_of(ev->tm.freeze_us);
		if (k->p.src == m->self && k->t_first > 0) /* frozen here: one clock */
			fr = (int64_t)(mig_now_ms() - k->t_first);
		mig_merge_stats(m, k, fr, -1, -1, ev->tm.bytes);
	}
	mig_step(m, k, &pe);
}

void mig_proto_local(struct mig *m, struct mig_ev *ev)
{
	struct mach *k = mig_mach_find(m, ev->mig_id, ev->role);
	struct migproto_event pe = {.type = (enum migproto_ev)ev->pev,
				    .err = ev->err,
				    .reason = ev->reason[0] ? ev->reason : NULL,
				    .last = ev->pev == MIGPROTO_EV_PROGRESS && ev->eof};

	int end = ev->pev == MIGPROTO_EV_STREAM_DONE || ev->pev == MIGPROTO_EV_STREAM_FAILED ||
		  ev->pev == MIGPROTO_EV_FREEZE_FAILED;

	if (!k) {
		if (end && ev->dctl >= 0)
			close(ev->dctl); /* EOF: the child decides (mig_stream.c) */
		return;
	}
	if (end && ev->role == MIGPROTO_SOURCE && ev->dctl >= 0) {
		if (k->dctl >= 0)
			close(k->dctl);
		k->dctl = ev->dctl;
		k->dpid = ev->dpid;
	}
	if (ev->pev == MIGPROTO_EV_STREAM_DONE) { /* the source's view, for its log */
		log_debug("migration %llx: image %llu bytes sent in %.0f ms, engine froze it "
			  "for %.0f ms",
			  (unsigned long long)k->p.mig_id, (unsigned long long)ev->bytes,
			  ev->last_ms - ev->first_ms, ev->dst.frozen_ms);
	}
	if (ev->pev == MIGPROTO_EV_FROZEN && ev->role == MIGPROTO_SOURCE && k->p.home == m->self) {
		struct mach *h = mig_mach_find(m, k->p.mig_id, MIGPROTO_HOME);
		if (h)
			h->t_first = mig_now_ms();
	}
	if (ev->pev == MIGPROTO_EV_PROGRESS && ev->role == MIGPROTO_DEST && ev->last_ms > 0) {
		if (k->t_first <= 0)
			k->t_first = ev->last_ms;
		k->bytes += ev->bytes;
		if (ev->eof) {
			k->t_last = ev->last_ms;
			k->transfer_exact = k->t_last - k->t_first;
			k->transfer_ms = (int64_t)k->transfer_exact;
		}
	}
	if (ev->pev == MIGPROTO_EV_STREAM_DONE || ev->pev == MIGPROTO_EV_STREAM_FAILED ||
	    ev->pev == MIGPROTO_EV_FREEZE_FAILED) {
		if (k->th_started) {
			pthread_join(k->th, NULL);
			k->th_started = 0;
		}
		if (ev->pev != MIGPROTO_EV_STREAM_DONE)
			log_warn("migration %llx: %s", (unsigned long long)k->p.mig_id, ev->reason);
	}
	mig_step(m, k, &pe);
	if (pe.last && k->p.role == MIGPROTO_DEST)
		step_fault(k, "mig.last_chunk"); /* whole image here, not voted yet */
	if (k->thaw_pending && !k->th_started) {
		k->thaw_pending = 0;
		source_thaw(m, k);
	}
}
