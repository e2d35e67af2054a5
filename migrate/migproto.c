/*
 * migproto.c - the migration protocol machine's common part (contract and transition table
 * in migproto.h; design in docs/migration.md): migproto_init/adopt/step/check, the step's
 * dispatch to a role, and the helpers the transitions share (migproto_int.h).
 *
 * Owns: the invariants (migproto_check), event and sender validation, adoption of a held
 * copy after a restart. Does not: make any transition of a running move (migproto_roles.c),
 * nor name things (migproto_names.c). Assumes: events come from one thread; the daemon
 * checked that a message's mig_id is this machine's before feeding it.
 */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "migrate/migproto.h"
#include "migrate/migproto_int.h"

void migproto_push(struct migproto_out *o, struct migproto_action a)
{
	assert(o->n < MIGPROTO_MAX_ACTIONS);
	o->a[o->n++] = a;
}

uint16_t migproto_node_of(const struct migproto *m, enum migproto_role r)
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

void migproto_send_to(struct migproto *m, struct migproto_out *o, enum migproto_role r,
		      enum migproto_msg msg, bool with_err)
{
	migproto_push(
		o, (struct migproto_action){.kind = MIGPROTO_A_SEND,
					    .to = migproto_node_of(m, r),
					    .to_role = r,
					    .msg = msg,
					    .err = with_err ? m->err : 0,
					    .reason = with_err && m->reason[0] ? m->reason : NULL});
}

void migproto_finish(struct migproto *m, enum migproto_state s)
{
	m->state = s;
	m->deadline = 0;
	m->grace_end = 0;
}

void migproto_wait_until(struct migproto *m, enum migproto_state s, uint64_t deadline)
{
	m->state = s;
	m->deadline = deadline;
}

/* Enter a state of doubt (S_DECIDING, D_READY): query with back-off. */
void migproto_doubt(struct migproto *m, enum migproto_state s, uint64_t now)
{
	m->doubt_since = now;
	m->backoff_ms = m->conf.query_ms;
	migproto_wait_until(m, s, now + m->backoff_ms);
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
	if (migproto_node_of(m, role) != p->self)
		return -EINVAL;
	assert(migproto_check(m));
	return 0;
}

int migproto_adopt(struct migproto *m, enum migproto_role role, const struct migproto_params *p,
		   bool running, uint64_t now, struct migproto_action *out, size_t max, size_t *n)
{
	struct migproto_out o = {.n = 0};
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
		migproto_s_query(m, &o);
		migproto_doubt(m, MIGPROTO_S_DECIDING, now);
	} else if (running) { /* resumed before: committed; its DONE may have been lost */
		m->image_whole = true;
		migproto_send_to(m, &o, MIGPROTO_HOME, MIGPROTO_DONE, false);
		migproto_send_to(m, &o, MIGPROTO_SOURCE, MIGPROTO_DONE, false);
		migproto_finish(m, MIGPROTO_D_RUNNING);
	} else {
		m->image_whole = true;
		migproto_send_to(m, &o, MIGPROTO_HOME, MIGPROTO_READY, false);
		migproto_send_to(m, &o, MIGPROTO_SOURCE, MIGPROTO_QUERY, false);
		migproto_doubt(m, MIGPROTO_D_READY, now);
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
	    migproto_node_of(m, m->role) != m->self || !conf_ok(&m->conf))
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
	return ev->from != m->role && migproto_node_of(m, ev->from) == ev->node;
}

int migproto_step(struct migproto *m, const struct migproto_event *ev, struct migproto_action *out,
		  size_t max, size_t *n)
{
	struct migproto saved;
	struct migproto_out o = {.n = 0};

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
		migproto_s_step(m, ev, &o);
	else if (m->role == MIGPROTO_DEST)
		migproto_d_step(m, ev, &o);
	else
		migproto_h_step(m, ev, &o);
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
