/*
 * migproto.c - the migration protocol state machine (contract and transition table in
 * migproto.h; the argument for "at most one copy runs, exactly one survives" in
 * docs/migration.md).
 *
 * Owns: the per-role transition functions s_* (source), d_* (destination), h_* (home).
 * Does not: perform any action; it only appends them to the step's output.
 * Assumes: events come from one thread; the daemon checked that a message's mig_id is
 * this machine's before feeding it.
 *
 * Safety rules every transition below keeps (docs/migration.md, "Why exactly one copy"):
 *  R1 home commits only on the destination's READY, and only once (the decision is final
 *     once sent to anyone); unknown moves are presumed aborted;
 *  R2 the destination resumes only on COMMIT; after READY it discards only on ABORT
 *     (which after READY can only be home's decision, possibly relayed);
 *  R3 the source thaws only if the last chunk never left (the destination cannot vote) or
 *     an abort is known (home decided it, or the destination told it will never vote);
 *  R4 the source kills its frozen copy only on COMMIT, or when home died and the grace
 *     time for an answer ran out (never thawing in that case).
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "migrate/migproto.h"
#include "ssid/ssierr.h"

struct out {
	struct migproto_action a[MIGPROTO_MAX_ACTIONS];
	size_t n;
};

static void push(struct out *o, struct migproto_action a)
{
	assert(o->n < MIGPROTO_MAX_ACTIONS);
	o->a[o->n++] = a;
}

static void act(struct out *o, enum migproto_act kind)
{
	push(o, (struct migproto_action){.kind = kind});
}

static uint16_t node_of(const struct migproto *m, enum migproto_role r)
{
	switch (r) {
	case MIGPROTO_SOURCE:
		return m->src;
	case MIGPROTO_DEST:
		return m->dst;
	case MIGPROTO_HOME:
		return m->home;
	}
	return 0;
}

static void send_to(struct migproto *m, struct out *o, enum migproto_role r, enum migproto_msg msg,
		    bool with_err)
{
	push(o, (struct migproto_action){.kind = MIGPROTO_A_SEND,
					 .to = node_of(m, r),
					 .to_role = r,
					 .msg = msg,
					 .err = with_err ? m->err : 0,
					 .reason = with_err && m->reason[0] ? m->reason : NULL});
}

static void report(struct migproto *m, struct out *o, enum migproto_outcome oc)
{
	bool ok = oc == MIGPROTO_OUT_MOVED;

	push(o, (struct migproto_action){.kind = MIGPROTO_A_REPORT,
					 .outcome = oc,
					 .err = ok ? 0 : m->err,
					 .reason = !ok && m->reason[0] ? m->reason : NULL});
}

/* Remember why the move fails; the first cause wins (later ones are consequences). */
static void set_err(struct migproto *m, int err, const char *reason)
{
	if (m->err != 0)
		return;
	m->err = err ? err : -ECANCELED;
	snprintf(m->reason, sizeof(m->reason), "%s", reason ? reason : "");
}

static void set_errf(struct migproto *m, int err, const char *what, uint16_t node)
{
	char text[96];

	snprintf(text, sizeof(text), "%s (node %u)", what, (unsigned)node);
	set_err(m, err, text);
}

static void finish(struct migproto *m, enum migproto_state s)
{
	m->state = s;
	m->deadline = 0;
	m->grace_end = 0;
}

static void wait_until(struct migproto *m, enum migproto_state s, uint64_t deadline)
{
	m->state = s;
	m->deadline = deadline;
}

/* Enter a state of doubt (S_DECIDING, D_READY): query with back-off. */
static void doubt(struct migproto *m, enum migproto_state s, uint64_t now)
{
	m->doubt_since = now;
	m->backoff_ms = m->conf.query_ms;
	wait_until(m, s, now + m->backoff_ms);
}

static void next_query(struct migproto *m, uint64_t now)
{
	uint64_t d;

	m->backoff_ms =
		m->backoff_ms * 2 > m->conf.query_max_ms ? m->conf.query_max_ms : m->backoff_ms * 2;
	d = now + m->backoff_ms;
	if (m->grace_end && d > m->grace_end)
		d = m->grace_end;
	m->deadline = d;
}

/* A dead home gives the doubting party home_grace_ms more to hear an answer (from a
 * restarted home's history or from the other party), then it gives up (R4). */
static void home_died(struct migproto *m, uint64_t now)
{
	m->home_dead = true;
	if (m->grace_end == 0)
		m->grace_end = now + m->conf.home_grace_ms;
	if (m->deadline > m->grace_end)
		m->deadline = m->grace_end;
}

static bool timer_due(const struct migproto *m, const struct migproto_event *ev)
{
	return ev->type == MIGPROTO_EV_TIMER && m->deadline != 0 && ev->now >= m->deadline;
}

static bool is_msg(const struct migproto_event *ev, enum migproto_msg msg, enum migproto_role r)
{
	return ev->type == MIGPROTO_EV_MSG && ev->msg == msg && ev->from == r;
}

static bool peer_gone(const struct migproto *m, const struct migproto_event *ev,
		      enum migproto_role r)
{
	return (ev->type == MIGPROTO_EV_LINK_DOWN || ev->type == MIGPROTO_EV_NODE_DEAD) &&
	       ev->node == node_of(m, r) && ev->node != m->self;
}

static void note_dead(struct migproto *m, const struct migproto_event *ev)
{
	if (ev->type != MIGPROTO_EV_NODE_DEAD)
		return;
	if (ev->node == m->src)
		m->src_dead = true;
	if (ev->node == m->dst)
		m->dst_dead = true;
	if (ev->node == m->home)
		m->home_dead = true;
}

/* ---- source ---- */

static void s_abort(struct migproto *m, struct out *o, bool thaw, enum migproto_outcome oc)
{
	if (thaw)
		act(o, MIGPROTO_A_THAW);
	send_to(m, o, MIGPROTO_DEST, MIGPROTO_ABORT, true);
	send_to(m, o, MIGPROTO_HOME, MIGPROTO_ABORT, true);
	report(m, o, oc);
	finish(m, MIGPROTO_S_ABORTED);
}

/* Why a pre-decision step stops, or false if ev is no reason to. */
static bool s_failure(struct migproto *m, const struct migproto_event *ev)
{
	if (is_msg(ev, MIGPROTO_ABORT, MIGPROTO_DEST) ||
	    is_msg(ev, MIGPROTO_ABORT, MIGPROTO_HOME)) {
		set_err(m, ev->err, ev->reason ? ev->reason : "aborted by peer");
		return true;
	}
	if (timer_due(m, ev)) {
		set_err(m, -ETIMEDOUT, migproto_state_name(m->state));
		return true;
	}
	if (peer_gone(m, ev, MIGPROTO_DEST) || peer_gone(m, ev, MIGPROTO_HOME)) {
		set_errf(m, -ENOTCONN, "link lost", ev->node);
		return true;
	}
	if (ev->type == MIGPROTO_EV_CANCEL) {
		set_err(m, -ECANCELED, "cancelled by the requester");
		return true;
	}
	return false;
}

static void s_start(struct migproto *m, const struct migproto_event *ev, struct out *o)
{
	if (ev->type != MIGPROTO_EV_START)
		return;
	send_to(m, o, MIGPROTO_DEST, MIGPROTO_OFFER, false);
	send_to(m, o, MIGPROTO_HOME, MIGPROTO_OFFER, false);
	wait_until(m, MIGPROTO_S_NEGOTIATE, ev->now + m->conf.nego_ms);
}

static void s_negotiate(struct migproto *m, const struct migproto_event *ev, struct out *o)
{
	if (is_msg(ev, MIGPROTO_ACCEPT, MIGPROTO_DEST) ||
	    is_msg(ev, MIGPROTO_ACCEPT, MIGPROTO_HOME)) {
		if (ev->from == MIGPROTO_DEST)
			m->acc_dst = true;
		else
			m->acc_home = true;
		if (m->acc_dst && m->acc_home) {
			act(o, MIGPROTO_A_FREEZE);
			wait_until(m, MIGPROTO_S_FREEZING, ev->now + m->conf.freeze_ms);
		}
		return;
	}
	if (is_msg(ev, MIGPROTO_REFUSE, MIGPROTO_DEST) ||
	    is_msg(ev, MIGPROTO_REFUSE, MIGPROTO_HOME)) {
		set_err(m, ev->err ? ev->err : SSI_E_REFUSED, ev->reason);
		s_abort(m, o, false, MIGPROTO_OUT_REFUSED);
		return;
	}
	if (s_failure(m, ev))
		s_abort(m, o, false, MIGPROTO_OUT_ABORTED);
}

static void s_freezing(struct migproto *m, const struct migproto_event *ev, struct out *o)
{
	if (ev->type == MIGPROTO_EV_FROZEN) {
		act(o, MIGPROTO_A_STREAM);
		wait_until(m, MIGPROTO_S_STREAMING, ev->now + m->conf.stream_idle_ms);
		return;
	}
	if (ev->type == MIGPROTO_EV_FREEZE_FAILED) {
		set_err(m, ev->err, ev->reason ? ev->reason : "freeze failed");
		s_abort(m, o, true, MIGPROTO_OUT_ABORTED);
		return;
	}
	/* THAW also cancels a freeze in progress (contract of MIGPROTO_A_THAW). */
	if (s_failure(m, ev))
		s_abort(m, o, true, MIGPROTO_OUT_ABORTED);
}

static void s_streaming(struct migproto *m, const struct migproto_event *ev, struct out *o)
{
	switch (ev->type) {
	case MIGPROTO_EV_PROGRESS:
		m->deadline = ev->now + m->conf.stream_idle_ms;
		return;
	case MIGPROTO_EV_STREAM_DONE:
		doubt(m, MIGPROTO_S_DECIDING, ev->now);
		return;
	case MIGPROTO_EV_STREAM_FAILED:
		/* Contract: the last chunk never left, so dst cannot vote (R3). */
		set_err(m, ev->err, ev->reason ? ev->reason : "image stream failed");
		s_abort(m, o, true, MIGPROTO_OUT_ABORTED);
		return;
	default:
		break;
	}
	note_dead(m, ev);
	if (s_failure(m, ev)) {
		/* Whether the last chunk left is known only from the engine's last word. */
		if (ev->type == MIGPROTO_EV_MSG)
			m->abort_known = true;
		act(o, MIGPROTO_A_CANCEL_STREAM);
		wait_until(m, MIGPROTO_S_CANCELLING, ev->now + m->conf.cancel_ms);
	}
}

static void s_query(struct migproto *m, struct out *o)
{
	send_to(m, o, MIGPROTO_HOME, MIGPROTO_QUERY, false);
	send_to(m, o, MIGPROTO_DEST, MIGPROTO_QUERY, false);
}

static void s_cancelling(struct migproto *m, const struct migproto_event *ev, struct out *o)
{
	if (is_msg(ev, MIGPROTO_ABORT, MIGPROTO_DEST) ||
	    is_msg(ev, MIGPROTO_ABORT, MIGPROTO_HOME)) {
		m->abort_known = true;
		return;
	}
	note_dead(m, ev);
	if (ev->type == MIGPROTO_EV_STREAM_FAILED ||
	    (m->abort_known && (timer_due(m, ev) || ev->type == MIGPROTO_EV_STREAM_DONE))) {
		s_abort(m, o, true, MIGPROTO_OUT_ABORTED);
		return;
	}
	if (ev->type == MIGPROTO_EV_STREAM_DONE || timer_due(m, ev)) {
		/* The last chunk may be out: dst may vote; only home can say (R3). */
		s_query(m, o);
		doubt(m, MIGPROTO_S_DECIDING, ev->now);
		if (m->home_dead)
			home_died(m, ev->now);
	}
}

static void s_deciding(struct migproto *m, const struct migproto_event *ev, struct out *o)
{
	if (ev->type == MIGPROTO_EV_MSG && ev->msg == MIGPROTO_COMMIT &&
	    ev->from != MIGPROTO_SOURCE) {
		act(o, MIGPROTO_A_KILL_FROZEN);
		report(m, o, MIGPROTO_OUT_MOVED);
		finish(m, MIGPROTO_S_MOVED);
		return;
	}
	if (is_msg(ev, MIGPROTO_ABORT, MIGPROTO_HOME) ||
	    is_msg(ev, MIGPROTO_ABORT, MIGPROTO_DEST)) {
		set_err(m, ev->err, ev->reason ? ev->reason : "aborted by home");
		act(o, MIGPROTO_A_THAW);
		/* D's ABORT means D never voted (or relays home's abort): pass it on, so that
		 * home, whose copy from D may have been lost with a link, decides now instead
		 * of at its READY time-out. */
		if (ev->from == MIGPROTO_DEST)
			send_to(m, o, MIGPROTO_HOME, MIGPROTO_ABORT, true);
		report(m, o, MIGPROTO_OUT_ABORTED);
		finish(m, MIGPROTO_S_ABORTED);
		return;
	}
	if (ev->type == MIGPROTO_EV_NODE_DEAD && ev->node == m->home) {
		home_died(m, ev->now);
		return;
	}
	if (ev->type == MIGPROTO_EV_LINK_UP && (ev->node == m->home || ev->node == m->dst)) {
		send_to(m, o, ev->node == m->home ? MIGPROTO_HOME : MIGPROTO_DEST, MIGPROTO_QUERY,
			false);
		return;
	}
	if (!timer_due(m, ev))
		return;
	if (m->grace_end && ev->now >= m->grace_end) {
		set_errf(m, -EHOSTDOWN, "home died during the move", m->home);
		act(o, MIGPROTO_A_KILL_FROZEN);
		report(m, o, MIGPROTO_OUT_LOST);
		finish(m, MIGPROTO_S_LOST);
		return;
	}
	s_query(m, o);
	if (!m->doubt_reported && ev->now - m->doubt_since >= m->conf.indoubt_report_ms) {
		m->doubt_reported = true;
		push(o, (struct migproto_action){.kind = MIGPROTO_A_REPORT,
						 .outcome = MIGPROTO_OUT_INDOUBT,
						 .err = -ETIMEDOUT,
						 .reason = "waiting for the home node's decision"});
	}
	next_query(m, ev->now);
}

static void s_final(struct migproto *m, const struct migproto_event *ev, struct out *o)
{
	if (m->state == MIGPROTO_S_ABORTED && ev->type == MIGPROTO_EV_FROZEN) {
		act(o, MIGPROTO_A_THAW); /* a freeze that raced with the abort */
		return;
	}
	if (!is_msg(ev, MIGPROTO_QUERY, MIGPROTO_DEST))
		return;
	if (m->state == MIGPROTO_S_MOVED)
		send_to(m, o, MIGPROTO_DEST, MIGPROTO_COMMIT, false);
	else if (m->state == MIGPROTO_S_ABORTED)
		send_to(m, o, MIGPROTO_DEST, MIGPROTO_ABORT, true);
}

static void s_step(struct migproto *m, const struct migproto_event *ev, struct out *o)
{
	switch (m->state) {
	case MIGPROTO_NEW:
		s_start(m, ev, o);
		break;
	case MIGPROTO_S_NEGOTIATE:
		s_negotiate(m, ev, o);
		break;
	case MIGPROTO_S_FREEZING:
		s_freezing(m, ev, o);
		break;
	case MIGPROTO_S_STREAMING:
		s_streaming(m, ev, o);
		break;
	case MIGPROTO_S_CANCELLING:
		s_cancelling(m, ev, o);
		break;
	case MIGPROTO_S_DECIDING:
		s_deciding(m, ev, o);
		break;
	default:
		s_final(m, ev, o);
		break;
	}
}

/* ---- destination ---- */

static void d_offer(struct migproto *m, const struct migproto_event *ev, struct out *o)
{
	if (!is_msg(ev, MIGPROTO_OFFER, MIGPROTO_SOURCE))
		return;
	if (ev->err != 0) {
		set_err(m, ev->err, ev->reason);
		send_to(m, o, MIGPROTO_SOURCE, MIGPROTO_REFUSE, true);
		report(m, o, MIGPROTO_OUT_REFUSED);
		finish(m, MIGPROTO_D_ABORTED);
		return;
	}
	act(o, MIGPROTO_A_RESTORE);
	send_to(m, o, MIGPROTO_SOURCE, MIGPROTO_ACCEPT, false);
	wait_until(m, MIGPROTO_D_RECEIVING, ev->now + m->conf.recv_idle_ms);
}

static void d_give_up(struct migproto *m, struct out *o, bool tell)
{
	act(o, MIGPROTO_A_DISCARD);
	if (tell) {
		send_to(m, o, MIGPROTO_SOURCE, MIGPROTO_ABORT, true);
		send_to(m, o, MIGPROTO_HOME, MIGPROTO_ABORT, true);
	}
	report(m, o, MIGPROTO_OUT_ABORTED);
	finish(m, MIGPROTO_D_ABORTED);
}

static void d_receiving(struct migproto *m, const struct migproto_event *ev, struct out *o)
{
	note_dead(m, ev);
	switch (ev->type) {
	case MIGPROTO_EV_PROGRESS:
		m->deadline = ev->now + m->conf.recv_idle_ms;
		m->image_whole |= ev->last;
		return;
	case MIGPROTO_EV_RESTORED:
		send_to(m, o, MIGPROTO_HOME, MIGPROTO_READY, false);
		doubt(m, MIGPROTO_D_READY, ev->now);
		return;
	case MIGPROTO_EV_RESTORE_FAILED:
		set_err(m, ev->err, ev->reason ? ev->reason : "restore failed");
		d_give_up(m, o, true);
		return;
	default:
		break;
	}
	if (is_msg(ev, MIGPROTO_ABORT, MIGPROTO_SOURCE) ||
	    is_msg(ev, MIGPROTO_ABORT, MIGPROTO_HOME)) {
		set_err(m, ev->err, ev->reason ? ev->reason : "aborted by peer");
		d_give_up(m, o, false);
	} else if (timer_due(m, ev)) {
		set_err(m, -ETIMEDOUT, "image stream stalled");
		d_give_up(m, o, true);
	} else if (ev->type == MIGPROTO_EV_NODE_DEAD && ev->node == m->home) {
		/* Not voted yet: dropping out is safe, and a process dies with its home.
		 * A cut link to home is no reason: home may hear the vote once the link is
		 * back; nor is a lost source once the whole image is here. */
		set_errf(m, -EHOSTDOWN, "home died", ev->node);
		d_give_up(m, o, true);
	} else if ((ev->type == MIGPROTO_EV_NODE_DEAD || ev->type == MIGPROTO_EV_LINK_DOWN) &&
		   ev->node == m->src && !m->image_whole) {
		/* The link from the source went down (or the source died) before the last
		 * chunk arrived: chunks lost with a link are never sent again, so the image
		 * can never be whole. Not voted yet: drop out now rather than at the idle
		 * time-out (home then knows at once if the only copy died with the source). */
		set_errf(m, -EHOSTDOWN,
			 ev->type == MIGPROTO_EV_NODE_DEAD
				 ? "source died before the whole image arrived"
				 : "link to the source lost before the whole image arrived",
			 ev->node);
		d_give_up(m, o, true);
	}
}

static void d_ready(struct migproto *m, const struct migproto_event *ev, struct out *o)
{
	if (ev->type == MIGPROTO_EV_MSG && ev->msg == MIGPROTO_COMMIT &&
	    ev->from != MIGPROTO_DEST) {
		act(o, MIGPROTO_A_RESUME);
		send_to(m, o, MIGPROTO_HOME, MIGPROTO_DONE, false);
		send_to(m, o, MIGPROTO_SOURCE, MIGPROTO_DONE, false);
		report(m, o, MIGPROTO_OUT_MOVED);
		finish(m, MIGPROTO_D_RUNNING);
		return;
	}
	/* After READY an ABORT is home's decision, maybe relayed by the source (R2). */
	if (is_msg(ev, MIGPROTO_ABORT, MIGPROTO_HOME) ||
	    is_msg(ev, MIGPROTO_ABORT, MIGPROTO_SOURCE)) {
		set_err(m, ev->err, ev->reason ? ev->reason : "aborted by home");
		d_give_up(m, o, false);
		return;
	}
	if (ev->type == MIGPROTO_EV_NODE_DEAD && ev->node == m->home) {
		home_died(m, ev->now);
		return;
	}
	if (ev->type == MIGPROTO_EV_LINK_UP && ev->node == m->home) {
		send_to(m, o, MIGPROTO_HOME, MIGPROTO_READY, false);
		return;
	}
	if (ev->type == MIGPROTO_EV_LINK_UP && ev->node == m->src) {
		send_to(m, o, MIGPROTO_SOURCE, MIGPROTO_QUERY, false);
		return;
	}
	if (!timer_due(m, ev))
		return;
	if (m->grace_end && ev->now >= m->grace_end) {
		set_errf(m, -EHOSTDOWN, "home died during the move", m->home);
		act(o, MIGPROTO_A_DISCARD);
		report(m, o, MIGPROTO_OUT_LOST);
		finish(m, MIGPROTO_D_LOST);
		return;
	}
	/* READY again is the query to home: idempotent, and a vote home may still need. */
	send_to(m, o, MIGPROTO_HOME, MIGPROTO_READY, false);
	send_to(m, o, MIGPROTO_SOURCE, MIGPROTO_QUERY, false);
	next_query(m, ev->now);
}

static void d_final(struct migproto *m, const struct migproto_event *ev, struct out *o)
{
	if (m->state == MIGPROTO_D_ABORTED && ev->type == MIGPROTO_EV_RESTORED) {
		act(o, MIGPROTO_A_DISCARD); /* a restore that raced with the abort */
		return;
	}
	if (m->state == MIGPROTO_D_RUNNING && ev->type == MIGPROTO_EV_MSG &&
	    ev->msg == MIGPROTO_COMMIT && ev->from == MIGPROTO_HOME) {
		send_to(m, o, MIGPROTO_HOME, MIGPROTO_DONE, false); /* our DONE was lost */
		return;
	}
	if (!is_msg(ev, MIGPROTO_QUERY, MIGPROTO_SOURCE))
		return;
	if (m->state == MIGPROTO_D_RUNNING)
		send_to(m, o, MIGPROTO_SOURCE, MIGPROTO_COMMIT, false);
	else if (m->state == MIGPROTO_D_ABORTED)
		send_to(m, o, MIGPROTO_SOURCE, MIGPROTO_ABORT, true);
}

static void d_step(struct migproto *m, const struct migproto_event *ev, struct out *o)
{
	switch (m->state) {
	case MIGPROTO_NEW:
		d_offer(m, ev, o);
		break;
	case MIGPROTO_D_RECEIVING:
		d_receiving(m, ev, o);
		break;
	case MIGPROTO_D_READY:
		d_ready(m, ev, o);
		break;
	default:
		d_final(m, ev, o);
		break;
	}
}

/* ---- home ---- */

static uint64_t ready_ms(const struct migproto *m)
{
	uint64_t bytes_per_s = (uint64_t)m->conf.min_rate_kib_s * 1024;

	return m->conf.ready_base_ms + m->image_bytes * 1000 / bytes_per_s;
}

static void h_offer(struct migproto *m, const struct migproto_event *ev, struct out *o)
{
	if (!is_msg(ev, MIGPROTO_OFFER, MIGPROTO_SOURCE))
		return;
	if (ev->err != 0) {
		set_err(m, ev->err, ev->reason);
		send_to(m, o, MIGPROTO_SOURCE, MIGPROTO_REFUSE, true);
		report(m, o, MIGPROTO_OUT_REFUSED);
		finish(m, MIGPROTO_H_ABORTED);
		return;
	}
	send_to(m, o, MIGPROTO_SOURCE, MIGPROTO_ACCEPT, false);
	wait_until(m, MIGPROTO_H_WAIT_READY, ev->now + ready_ms(m));
}

/* The abort decision (R1: only before any COMMIT was sent). */
static void h_abort(struct migproto *m, struct out *o, enum migproto_role skip)
{
	if (skip != MIGPROTO_SOURCE)
		send_to(m, o, MIGPROTO_SOURCE, MIGPROTO_ABORT, true);
	if (skip != MIGPROTO_DEST)
		send_to(m, o, MIGPROTO_DEST, MIGPROTO_ABORT, true);
	if (m->src_dead) {
		set_errf(m, -EHOSTDOWN, "source died before the move committed", m->src);
		report(m, o, MIGPROTO_OUT_LOST);
		finish(m, MIGPROTO_H_LOST);
		return;
	}
	report(m, o, MIGPROTO_OUT_ABORTED);
	finish(m, MIGPROTO_H_ABORTED);
}

static void h_wait_ready(struct migproto *m, const struct migproto_event *ev, struct out *o)
{
	note_dead(m, ev);
	if (is_msg(ev, MIGPROTO_READY, MIGPROTO_DEST)) {
		act(o, MIGPROTO_A_RECORD_COMMIT);
		wait_until(m, MIGPROTO_H_RECORDING, ev->now + m->conf.ready_base_ms);
	} else if (is_msg(ev, MIGPROTO_ABORT, MIGPROTO_SOURCE) ||
		   is_msg(ev, MIGPROTO_ABORT, MIGPROTO_DEST)) {
		set_err(m, ev->err, ev->reason ? ev->reason : "aborted by peer");
		h_abort(m, o, ev->from);
	} else if (timer_due(m, ev) && m->src_dead && !m->waited_longer) {
		/* Aborting now loses the process for sure; the destination may hold the
		 * whole image behind a cut link. Wait once more, bounded. */
		m->waited_longer = true;
		m->deadline = ev->now + m->conf.home_grace_ms;
	} else if (timer_due(m, ev)) {
		set_err(m, -ETIMEDOUT, "no READY from the destination in time");
		h_abort(m, o, (enum migproto_role)0);
	} else if (ev->type == MIGPROTO_EV_NODE_DEAD && ev->node == m->dst) {
		set_errf(m, -EHOSTDOWN, "destination died", m->dst);
		h_abort(m, o, (enum migproto_role)0);
	}
}

static void h_recording(struct migproto *m, const struct migproto_event *ev, struct out *o)
{
	note_dead(m, ev);
	if (ev->type == MIGPROTO_EV_RECORDED) {
		m->committed = true;
		send_to(m, o, MIGPROTO_DEST, MIGPROTO_COMMIT, false);
		send_to(m, o, MIGPROTO_SOURCE, MIGPROTO_COMMIT, false);
		report(m, o, MIGPROTO_OUT_MOVED);
		wait_until(m, MIGPROTO_H_COMMITTED, ev->now + m->conf.commit_retry_ms);
		if (m->dst_dead) {
			set_errf(m, -EHOSTDOWN, "destination died after the commit", m->dst);
			report(m, o, MIGPROTO_OUT_LOST);
			finish(m, MIGPROTO_H_LOST);
		}
	} else if (ev->type == MIGPROTO_EV_RECORD_FAILED) {
		set_err(m, ev->err, ev->reason ? ev->reason : "commit record failed");
		h_abort(m, o, (enum migproto_role)0);
	} else if (timer_due(m, ev)) {
		/* Nothing may be decided before the record's fate is known; say so. */
		push(o, (struct migproto_action){.kind = MIGPROTO_A_REPORT,
						 .outcome = MIGPROTO_OUT_INDOUBT,
						 .err = -ETIMEDOUT,
						 .reason = "commit record not confirmed yet"});
		m->deadline = ev->now + m->conf.ready_base_ms;
	}
}

static void h_committed(struct migproto *m, const struct migproto_event *ev, struct out *o)
{
	if (is_msg(ev, MIGPROTO_DONE, MIGPROTO_DEST)) {
		finish(m, MIGPROTO_H_MOVED);
	} else if (is_msg(ev, MIGPROTO_READY, MIGPROTO_DEST) || timer_due(m, ev) ||
		   (ev->type == MIGPROTO_EV_LINK_UP && ev->node == m->dst)) {
		send_to(m, o, MIGPROTO_DEST, MIGPROTO_COMMIT, false);
		m->deadline = ev->now + m->conf.commit_retry_ms;
	} else if (is_msg(ev, MIGPROTO_QUERY, MIGPROTO_SOURCE)) {
		send_to(m, o, MIGPROTO_SOURCE, MIGPROTO_COMMIT, false);
	} else if (ev->type == MIGPROTO_EV_NODE_DEAD && ev->node == m->dst) {
		m->dst_dead = true;
		set_errf(m, -EHOSTDOWN, "destination died after the commit", m->dst);
		report(m, o, MIGPROTO_OUT_LOST);
		finish(m, MIGPROTO_H_LOST);
	}
}

static void h_final(struct migproto *m, const struct migproto_event *ev, struct out *o)
{
	uint16_t holder = m->committed ? m->dst : m->src;

	if (ev->type == MIGPROTO_EV_MSG &&
	    (ev->msg == MIGPROTO_READY || ev->msg == MIGPROTO_QUERY) && ev->from != MIGPROTO_HOME) {
		if (m->committed)
			send_to(m, o, ev->from, MIGPROTO_COMMIT, false);
		else
			send_to(m, o, ev->from, MIGPROTO_ABORT, true);
		return;
	}
	/* The record names the holder of the only copy; its death is the process's. */
	if (ev->type == MIGPROTO_EV_NODE_DEAD && ev->node == holder &&
	    m->state != MIGPROTO_H_LOST) {
		m->err = 0;
		set_errf(m, -EHOSTDOWN, "node holding the process died", holder);
		report(m, o, MIGPROTO_OUT_LOST);
		finish(m, MIGPROTO_H_LOST);
	}
}

static void h_step(struct migproto *m, const struct migproto_event *ev, struct out *o)
{
	switch (m->state) {
	case MIGPROTO_NEW:
		h_offer(m, ev, o);
		break;
	case MIGPROTO_H_WAIT_READY:
		h_wait_ready(m, ev, o);
		break;
	case MIGPROTO_H_RECORDING:
		h_recording(m, ev, o);
		break;
	case MIGPROTO_H_COMMITTED:
		h_committed(m, ev, o);
		break;
	default:
		h_final(m, ev, o);
		break;
	}
}

/* ---- public ---- */

static bool conf_ok(const struct migproto_conf *c)
{
	return c->nego_ms && c->freeze_ms && c->stream_idle_ms && c->cancel_ms && c->recv_idle_ms &&
	       c->ready_base_ms && c->min_rate_kib_s && c->query_ms &&
	       c->query_max_ms >= c->query_ms && c->home_grace_ms && c->commit_retry_ms;
}

bool migproto_reborn(const struct migproto *m, uint16_t node, uint64_t reborn_ms)
{
	if (!m || node == 0 || node == m->self || migproto_final(m))
		return false;
	if (node != m->src && node != m->dst && node != m->home)
		return false;
	return reborn_ms >= m->born;
}

int migproto_init(struct migproto *m, enum migproto_role role, const struct migproto_params *p,
		  uint64_t now)
{
	if (!m || !p || p->src == 0 || p->dst == 0 || p->home == 0 || p->src == p->dst ||
	    !conf_ok(&p->conf))
		return -EINVAL;
	if (role != MIGPROTO_SOURCE && role != MIGPROTO_DEST && role != MIGPROTO_HOME)
		return -EINVAL;
	*m = (struct migproto){.role = role,
			       .state = MIGPROTO_NEW,
			       .mig_id = p->mig_id,
			       .gpid = p->gpid,
			       .self = p->self,
			       .src = p->src,
			       .dst = p->dst,
			       .home = p->home,
			       .image_bytes = p->image_bytes,
			       .conf = p->conf,
			       .born = now,
			       .last_now = now};
	if (node_of(m, role) != p->self)
		return -EINVAL;
	assert(migproto_check(m));
	return 0;
}

int migproto_adopt(struct migproto *m, enum migproto_role role, const struct migproto_params *p,
		   bool running, uint64_t now, struct migproto_action *out, size_t max, size_t *n)
{
	struct out o = {.n = 0};
	int e;

	if (!n || (!out && max))
		return -EINVAL;
	*n = 0;
	if ((role != MIGPROTO_SOURCE && role != MIGPROTO_DEST) ||
	    (running && role != MIGPROTO_DEST))
		return -EINVAL; /* home: its record answers (migproto_home_orphan) */
	if (max < 2)
		return -ENOSPC;
	e = migproto_init(m, role, p, now);
	if (e < 0)
		return e;
	/* The copy is held, whole, and the vote may have been cast: exactly the doubt of
	 * S_DECIDING / D_READY. Ask at once; the usual transitions decide from here. */
	if (role == MIGPROTO_SOURCE) {
		s_query(m, &o);
		doubt(m, MIGPROTO_S_DECIDING, now);
	} else if (running) { /* resumed before: committed; its DONE may have been lost */
		m->image_whole = true;
		send_to(m, &o, MIGPROTO_HOME, MIGPROTO_DONE, false);
		send_to(m, &o, MIGPROTO_SOURCE, MIGPROTO_DONE, false);
		finish(m, MIGPROTO_D_RUNNING);
	} else {
		m->image_whole = true;
		send_to(m, &o, MIGPROTO_HOME, MIGPROTO_READY, false);
		send_to(m, &o, MIGPROTO_SOURCE, MIGPROTO_QUERY, false);
		doubt(m, MIGPROTO_D_READY, now);
	}
	memcpy(out, o.a, o.n * sizeof(o.a[0]));
	*n = o.n;
	assert(migproto_check(m));
	return 0;
}

static bool state_of_role(enum migproto_role r, enum migproto_state s)
{
	if (s == MIGPROTO_NEW)
		return true;
	switch (r) {
	case MIGPROTO_SOURCE:
		return s >= MIGPROTO_S_NEGOTIATE && s <= MIGPROTO_S_LOST;
	case MIGPROTO_DEST:
		return s >= MIGPROTO_D_RECEIVING && s <= MIGPROTO_D_LOST;
	case MIGPROTO_HOME:
		return s >= MIGPROTO_H_WAIT_READY && s <= MIGPROTO_H_LOST;
	}
	return false;
}

static bool is_final(enum migproto_state s)
{
	switch (s) {
	case MIGPROTO_S_MOVED:
	case MIGPROTO_S_ABORTED:
	case MIGPROTO_S_LOST:
	case MIGPROTO_D_RUNNING:
	case MIGPROTO_D_ABORTED:
	case MIGPROTO_D_LOST:
	case MIGPROTO_H_MOVED:
	case MIGPROTO_H_ABORTED:
	case MIGPROTO_H_LOST:
		return true;
	default:
		return false;
	}
}

bool migproto_check(const struct migproto *m)
{
	bool waiting;

	if (!m || !state_of_role(m->role, m->state) || m->state >= MIGPROTO_STATE_COUNT)
		return false;
	if (m->src == 0 || m->dst == 0 || m->home == 0 || m->src == m->dst ||
	    node_of(m, m->role) != m->self || !conf_ok(&m->conf))
		return false;
	waiting = m->state != MIGPROTO_NEW && !is_final(m->state);
	if (waiting != (m->deadline != 0))
		return false; /* every waiting state has a time-out; no other state has one */
	if (m->grace_end && (!m->home_dead || m->deadline > m->grace_end))
		return false;
	if (m->state == MIGPROTO_S_DECIDING || m->state == MIGPROTO_D_READY) {
		if (m->backoff_ms < m->conf.query_ms || m->backoff_ms > m->conf.query_max_ms)
			return false;
	}
	if ((m->state == MIGPROTO_H_COMMITTED || m->state == MIGPROTO_H_MOVED) && !m->committed)
		return false;
	if ((m->state == MIGPROTO_H_ABORTED || m->state == MIGPROTO_H_WAIT_READY) && m->committed)
		return false;
	if (m->acc_dst && m->acc_home && m->state == MIGPROTO_S_NEGOTIATE)
		return false;
	return memchr(m->reason, '\0', sizeof(m->reason)) != NULL;
}

static bool ev_ok(const struct migproto *m, const struct migproto_event *ev)
{
	if (!ev || ev->now < m->last_now)
		return false;
	if (ev->type < MIGPROTO_EV_START || ev->type > MIGPROTO_EV_NODE_DEAD)
		return false;
	return true;
}

/* A message is believed only from the node that plays its claimed role (a peer's bug or
 * a stale link must not be able to commit or abort anything). */
static bool sender_ok(const struct migproto *m, const struct migproto_event *ev)
{
	if (ev->type != MIGPROTO_EV_MSG)
		return true;
	if (ev->from != MIGPROTO_SOURCE && ev->from != MIGPROTO_DEST && ev->from != MIGPROTO_HOME)
		return false;
	return ev->from != m->role && node_of(m, ev->from) == ev->node;
}

int migproto_step(struct migproto *m, const struct migproto_event *ev, struct migproto_action *out,
		  size_t max, size_t *n)
{
	struct migproto saved;
	struct out o = {.n = 0};

	assert(migproto_check(m));
	assert(n && (out || max == 0));
	*n = 0;
	if (!ev_ok(m, ev))
		return -EINVAL;
	if (!sender_ok(m, ev))
		return 0;
	saved = *m;
	m->last_now = ev->now;
	if (m->role == MIGPROTO_SOURCE)
		s_step(m, ev, &o);
	else if (m->role == MIGPROTO_DEST)
		d_step(m, ev, &o);
	else
		h_step(m, ev, &o);
	if (o.n > max) {
		*m = saved;
		return -ENOSPC;
	}
	memcpy(out, o.a, o.n * sizeof(o.a[0]));
	*n = o.n;
	assert(migproto_check(m));
	return 0;
}

uint64_t migproto_deadline(const struct migproto *m)
{
	assert(migproto_check(m));
	return m->deadline;
}

bool migproto_final(const struct migproto *m)
{
	assert(migproto_check(m));
	return is_final(m->state);
}
