/*
 * migproto_roles.c - the migration protocol's transitions, per role: s_* (source), d_*
 * (destination), h_* (home), as named in the table of migproto.h.
 *
 * Owns: every transition, entered through migproto_[sdh]_step() from migproto_step().
 * Does not: perform any action; it only appends them to the step's output. Assumes: the
 * caller (migproto.c) checked the machine, the event and its sender.
 */
#include <errno.h>
#include <stdio.h>

#include "migrate/migproto.h"
#include "migrate/migproto_int.h"
#include "ssid/ssierr.h"

/*
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

static void act(struct migproto_out *o, enum migproto_act kind)
{
	migproto_push(o, (struct migproto_action){.kind = kind});
}

static void report(struct migproto *m, struct migproto_out *o, enum migproto_outcome oc)
{
	bool ok = oc == MIGPROTO_OUT_MOVED;

	migproto_push(o,
		      (struct migproto_action){.kind = MIGPROTO_A_REPORT,
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
	       ev->node == migproto_node_of(m, r) && ev->node != m->self;
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

static void s_abort(struct migproto *m, struct migproto_out *o, bool thaw, enum migproto_outcome oc)
{
	if (thaw)
		act(o, MIGPROTO_A_THAW);
	migproto_send_to(m, o, MIGPROTO_DEST, MIGPROTO_ABORT, true);
	migproto_send_to(m, o, MIGPROTO_HOME, MIGPROTO_ABORT, true);
	report(m, o, oc);
	migproto_finish(m, MIGPROTO_S_ABORTED);
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

static void s_start(struct migproto *m, const struct migproto_event *ev, struct migproto_out *o)
{
	if (ev->type != MIGPROTO_EV_START)
		return;
	migproto_send_to(m, o, MIGPROTO_DEST, MIGPROTO_OFFER, false);
	migproto_send_to(m, o, MIGPROTO_HOME, MIGPROTO_OFFER, false);
	migproto_wait_until(m, MIGPROTO_S_NEGOTIATE, ev->now + m->conf.nego_ms);
}

static void s_negotiate(struct migproto *m, const struct migproto_event *ev, struct migproto_out *o)
{
	if (is_msg(ev, MIGPROTO_ACCEPT, MIGPROTO_DEST) ||
	    is_msg(ev, MIGPROTO_ACCEPT, MIGPROTO_HOME)) {
		if (ev->from == MIGPROTO_DEST)
			m->acc_dst = true;
		else
			m->acc_home = true;
		if (m->acc_dst && m->acc_home) {
			act(o, MIGPROTO_A_FREEZE);
			migproto_wait_until(m, MIGPROTO_S_FREEZING, ev->now + m->conf.freeze_ms);
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

static void s_freezing(struct migproto *m, const struct migproto_event *ev, struct migproto_out *o)
{
	if (ev->type == MIGPROTO_EV_FROZEN) {
		act(o, MIGPROTO_A_STREAM);
		migproto_wait_until(m, MIGPROTO_S_STREAMING, ev->now + m->conf.stream_idle_ms);
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

static void s_streaming(struct migproto *m, const struct migproto_event *ev, struct migproto_out *o)
{
	switch (ev->type) {
	case MIGPROTO_EV_PROGRESS:
		m->deadline = ev->now + m->conf.stream_idle_ms;
		return;
	case MIGPROTO_EV_STREAM_DONE:
		migproto_doubt(m, MIGPROTO_S_DECIDING, ev->now);
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
		migproto_wait_until(m, MIGPROTO_S_CANCELLING, ev->now + m->conf.cancel_ms);
	}
}

void migproto_s_query(struct migproto *m, struct migproto_out *o)
{
	migproto_send_to(m, o, MIGPROTO_HOME, MIGPROTO_QUERY, false);
	migproto_send_to(m, o, MIGPROTO_DEST, MIGPROTO_QUERY, false);
}

static void s_cancelling(struct migproto *m, const struct migproto_event *ev,
			 struct migproto_out *o)
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
		migproto_s_query(m, o);
		migproto_doubt(m, MIGPROTO_S_DECIDING, ev->now);
		if (m->home_dead)
			home_died(m, ev->now);
	}
}

static void s_deciding(struct migproto *m, const struct migproto_event *ev, struct migproto_out *o)
{
	if (ev->type == MIGPROTO_EV_MSG && ev->msg == MIGPROTO_COMMIT &&
	    ev->from != MIGPROTO_SOURCE) {
		act(o, MIGPROTO_A_KILL_FROZEN);
		report(m, o, MIGPROTO_OUT_MOVED);
		migproto_finish(m, MIGPROTO_S_MOVED);
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
			migproto_send_to(m, o, MIGPROTO_HOME, MIGPROTO_ABORT, true);
		report(m, o, MIGPROTO_OUT_ABORTED);
		migproto_finish(m, MIGPROTO_S_ABORTED);
		return;
	}
	if (ev->type == MIGPROTO_EV_NODE_DEAD && ev->node == m->home) {
		home_died(m, ev->now);
		return;
	}
	if (ev->type == MIGPROTO_EV_LINK_UP && (ev->node == m->home || ev->node == m->dst)) {
		migproto_send_to(m, o, ev->node == m->home ? MIGPROTO_HOME : MIGPROTO_DEST,
				 MIGPROTO_QUERY, false);
		return;
	}
	if (!timer_due(m, ev))
		return;
	if (m->grace_end && ev->now >= m->grace_end) {
		set_errf(m, -EHOSTDOWN, "home died during the move", m->home);
		act(o, MIGPROTO_A_KILL_FROZEN);
		report(m, o, MIGPROTO_OUT_LOST);
		migproto_finish(m, MIGPROTO_S_LOST);
		return;
	}
	migproto_s_query(m, o);
	if (!m->doubt_reported && ev->now - m->doubt_since >= m->conf.indoubt_report_ms) {
		m->doubt_reported = true;
		migproto_push(o, (struct migproto_action){
					 .kind = MIGPROTO_A_REPORT,
					 .outcome = MIGPROTO_OUT_INDOUBT,
					 .err = -ETIMEDOUT,
					 .reason = "waiting for the home node's decision"});
	}
	next_query(m, ev->now);
}

static void s_final(struct migproto *m, const struct migproto_event *ev, struct migproto_out *o)
{
	if (m->state == MIGPROTO_S_ABORTED && ev->type == MIGPROTO_EV_FROZEN) {
		act(o, MIGPROTO_A_THAW); /* a freeze that raced with the abort */
		return;
	}
	if (!is_msg(ev, MIGPROTO_QUERY, MIGPROTO_DEST))
		return;
	if (m->state == MIGPROTO_S_MOVED)
		migproto_send_to(m, o, MIGPROTO_DEST, MIGPROTO_COMMIT, false);
	else if (m->state == MIGPROTO_S_ABORTED)
		migproto_send_to(m, o, MIGPROTO_DEST, MIGPROTO_ABORT, true);
}

void migproto_s_step(struct migproto *m, const struct migproto_event *ev, struct migproto_out *o)
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

static void d_offer(struct migproto *m, const struct migproto_event *ev, struct migproto_out *o)
{
	if (!is_msg(ev, MIGPROTO_OFFER, MIGPROTO_SOURCE))
		return;
	if (ev->err != 0) {
		set_err(m, ev->err, ev->reason);
		migproto_send_to(m, o, MIGPROTO_SOURCE, MIGPROTO_REFUSE, true);
		report(m, o, MIGPROTO_OUT_REFUSED);
		migproto_finish(m, MIGPROTO_D_ABORTED);
		return;
	}
	act(o, MIGPROTO_A_RESTORE);
	migproto_send_to(m, o, MIGPROTO_SOURCE, MIGPROTO_ACCEPT, false);
	migproto_wait_until(m, MIGPROTO_D_RECEIVING, ev->now + m->conf.recv_idle_ms);
}

static void d_give_up(struct migproto *m, struct migproto_out *o, bool tell)
{
	act(o, MIGPROTO_A_DISCARD);
	if (tell) {
		migproto_send_to(m, o, MIGPROTO_SOURCE, MIGPROTO_ABORT, true);
		migproto_send_to(m, o, MIGPROTO_HOME, MIGPROTO_ABORT, true);
	}
	report(m, o, MIGPROTO_OUT_ABORTED);
	migproto_finish(m, MIGPROTO_D_ABORTED);
}

static void d_receiving(struct migproto *m, const struct migproto_event *ev, struct migproto_out *o)
{
	note_dead(m, ev);
	switch (ev->type) {
	case MIGPROTO_EV_PROGRESS:
		m->deadline = ev->now + m->conf.recv_idle_ms;
		m->image_whole |= ev->last;
		return;
	case MIGPROTO_EV_RESTORED:
		migproto_send_to(m, o, MIGPROTO_HOME, MIGPROTO_READY, false);
		migproto_doubt(m, MIGPROTO_D_READY, ev->now);
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

static void d_ready(struct migproto *m, const struct migproto_event *ev, struct migproto_out *o)
{
	if (ev->type == MIGPROTO_EV_MSG && ev->msg == MIGPROTO_COMMIT &&
	    ev->from != MIGPROTO_DEST) {
		act(o, MIGPROTO_A_RESUME);
		migproto_send_to(m, o, MIGPROTO_HOME, MIGPROTO_DONE, false);
		migproto_send_to(m, o, MIGPROTO_SOURCE, MIGPROTO_DONE, false);
		report(m, o, MIGPROTO_OUT_MOVED);
		migproto_finish(m, MIGPROTO_D_RUNNING);
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
		migproto_send_to(m, o, MIGPROTO_HOME, MIGPROTO_READY, false);
		return;
	}
	if (ev->type == MIGPROTO_EV_LINK_UP && ev->node == m->src) {
		migproto_send_to(m, o, MIGPROTO_SOURCE, MIGPROTO_QUERY, false);
		return;
	}
	if (!timer_due(m, ev))
		return;
	if (m->grace_end && ev->now >= m->grace_end) {
		set_errf(m, -EHOSTDOWN, "home died during the move", m->home);
		act(o, MIGPROTO_A_DISCARD);
		report(m, o, MIGPROTO_OUT_LOST);
		migproto_finish(m, MIGPROTO_D_LOST);
		return;
	}
	/* READY again is the query to home: idempotent, and a vote home may still need. */
	migproto_send_to(m, o, MIGPROTO_HOME, MIGPROTO_READY, false);
	migproto_send_to(m, o, MIGPROTO_SOURCE, MIGPROTO_QUERY, false);
	next_query(m, ev->now);
}

static void d_final(struct migproto *m, const struct migproto_event *ev, struct migproto_out *o)
{
	if (m->state == MIGPROTO_D_ABORTED && ev->type == MIGPROTO_EV_RESTORED) {
		act(o, MIGPROTO_A_DISCARD); /* a restore that raced with the abort */
		return;
	}
	if (m->state == MIGPROTO_D_RUNNING && ev->type == MIGPROTO_EV_MSG &&
	    ev->msg == MIGPROTO_COMMIT && ev->from == MIGPROTO_HOME) {
		migproto_send_to(m, o, MIGPROTO_HOME, MIGPROTO_DONE, false); /* our DONE was lost */
		return;
	}
	if (!is_msg(ev, MIGPROTO_QUERY, MIGPROTO_SOURCE))
		return;
	if (m->state == MIGPROTO_D_RUNNING)
		migproto_send_to(m, o, MIGPROTO_SOURCE, MIGPROTO_COMMIT, false);
	else if (m->state == MIGPROTO_D_ABORTED)
		migproto_send_to(m, o, MIGPROTO_SOURCE, MIGPROTO_ABORT, true);
}

void migproto_d_step(struct migproto *m, const struct migproto_event *ev, struct migproto_out *o)
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

static void h_offer(struct migproto *m, const struct migproto_event *ev, struct migproto_out *o)
{
	if (!is_msg(ev, MIGPROTO_OFFER, MIGPROTO_SOURCE))
		return;
	if (ev->err != 0) {
		set_err(m, ev->err, ev->reason);
		migproto_send_to(m, o, MIGPROTO_SOURCE, MIGPROTO_REFUSE, true);
		report(m, o, MIGPROTO_OUT_REFUSED);
		migproto_finish(m, MIGPROTO_H_ABORTED);
		return;
	}
	migproto_send_to(m, o, MIGPROTO_SOURCE, MIGPROTO_ACCEPT, false);
	migproto_wait_until(m, MIGPROTO_H_WAIT_READY, ev->now + ready_ms(m));
}

/* The abort decision (R1: only before any COMMIT was sent). */
static void h_abort(struct migproto *m, struct migproto_out *o, enum migproto_role skip)
{
	if (skip != MIGPROTO_SOURCE)
		migproto_send_to(m, o, MIGPROTO_SOURCE, MIGPROTO_ABORT, true);
	if (skip != MIGPROTO_DEST)
		migproto_send_to(m, o, MIGPROTO_DEST, MIGPROTO_ABORT, true);
	if (m->src_dead) {
		set_errf(m, -EHOSTDOWN, "source died before the move committed", m->src);
		report(m, o, MIGPROTO_OUT_LOST);
		migproto_finish(m, MIGPROTO_H_LOST);
		return;
	}
	report(m, o, MIGPROTO_OUT_ABORTED);
	migproto_finish(m, MIGPROTO_H_ABORTED);
}

static void h_wait_ready(struct migproto *m, const struct migproto_event *ev,
			 struct migproto_out *o)
{
	note_dead(m, ev);
	if (is_msg(ev, MIGPROTO_READY, MIGPROTO_DEST)) {
		act(o, MIGPROTO_A_RECORD_COMMIT);
		migproto_wait_until(m, MIGPROTO_H_RECORDING, ev->now + m->conf.ready_base_ms);
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

static void h_recording(struct migproto *m, const struct migproto_event *ev, struct migproto_out *o)
{
	note_dead(m, ev);
	if (ev->type == MIGPROTO_EV_RECORDED) {
		m->committed = true;
		migproto_send_to(m, o, MIGPROTO_DEST, MIGPROTO_COMMIT, false);
		migproto_send_to(m, o, MIGPROTO_SOURCE, MIGPROTO_COMMIT, false);
		report(m, o, MIGPROTO_OUT_MOVED);
		migproto_wait_until(m, MIGPROTO_H_COMMITTED, ev->now + m->conf.commit_retry_ms);
		if (m->dst_dead) {
			set_errf(m, -EHOSTDOWN, "destination died after the commit", m->dst);
			report(m, o, MIGPROTO_OUT_LOST);
			migproto_finish(m, MIGPROTO_H_LOST);
		}
	} else if (ev->type == MIGPROTO_EV_RECORD_FAILED) {
		set_err(m, ev->err, ev->reason ? ev->reason : "commit record failed");
		h_abort(m, o, (enum migproto_role)0);
	} else if (timer_due(m, ev)) {
		/* Nothing may be decided before the record's fate is known; say so. */
		migproto_push(
			o, (struct migproto_action){.kind = MIGPROTO_A_REPORT,
						    .outcome = MIGPROTO_OUT_INDOUBT,
						    .err = -ETIMEDOUT,
						    .reason = "commit record not confirmed yet"});
		m->deadline = ev->now + m->conf.ready_base_ms;
	}
}

static void h_committed(struct migproto *m, const struct migproto_event *ev, struct migproto_out *o)
{
	if (is_msg(ev, MIGPROTO_DONE, MIGPROTO_DEST)) {
		migproto_finish(m, MIGPROTO_H_MOVED);
	} else if (is_msg(ev, MIGPROTO_READY, MIGPROTO_DEST) || timer_due(m, ev) ||
		   (ev->type == MIGPROTO_EV_LINK_UP && ev->node == m->dst)) {
		migproto_send_to(m, o, MIGPROTO_DEST, MIGPROTO_COMMIT, false);
		m->deadline = ev->now + m->conf.commit_retry_ms;
	} else if (is_msg(ev, MIGPROTO_QUERY, MIGPROTO_SOURCE)) {
		migproto_send_to(m, o, MIGPROTO_SOURCE, MIGPROTO_COMMIT, false);
	} else if (ev->type == MIGPROTO_EV_NODE_DEAD && ev->node == m->dst) {
		m->dst_dead = true;
		set_errf(m, -EHOSTDOWN, "destination died after the commit", m->dst);
		report(m, o, MIGPROTO_OUT_LOST);
		migproto_finish(m, MIGPROTO_H_LOST);
	}
}

static void h_final(struct migproto *m, const struct migproto_event *ev, struct migproto_out *o)
{
	uint16_t holder = m->committed ? m->dst : m->src;

	if (ev->type == MIGPROTO_EV_MSG &&
	    (ev->msg == MIGPROTO_READY || ev->msg == MIGPROTO_QUERY) && ev->from != MIGPROTO_HOME) {
		if (m->committed)
			migproto_send_to(m, o, ev->from, MIGPROTO_COMMIT, false);
		else
			migproto_send_to(m, o, ev->from, MIGPROTO_ABORT, true);
		return;
	}
	/* The record names the holder of the only copy; its death is the process's. */
	if (ev->type == MIGPROTO_EV_NODE_DEAD && ev->node == holder &&
	    m->state != MIGPROTO_H_LOST) {
		m->err = 0;
		set_errf(m, -EHOSTDOWN, "node holding the process died", holder);
		report(m, o, MIGPROTO_OUT_LOST);
		migproto_finish(m, MIGPROTO_H_LOST);
	}
}

void migproto_h_step(struct migproto *m, const struct migproto_event *ev, struct migproto_out *o)
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
