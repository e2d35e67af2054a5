/*
 * test_migproto.c - Check suite for the migration protocol machine (migrate/migproto*.c).
 *
 * Part 1, transitions: a table of (role, state, event) -> (next state, actions) rows, one
 * per transition of every role plus the events each state must ignore; a meta test
 * checks every state of every role appears and every waiting state has a time-out row.
 * Part 2, model: home, source and destination machines run in one process over a
 * simulated network (FIFO links, delays, time-outs, a dump engine writing chunks, a
 * restore engine, a durable home record). Faults {cut each link, crash each node, crash
 * and restart home} are injected before every step of the fault-free run, plus seeded
 * random runs with random delays and one or two faults. After every step: at most one
 * runnable copy; at the end: every live machine final, and exactly one runnable copy,
 * unless the holder of the only copy died (the deputy was told LOST) or home died.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migrate/migproto.h"
#include "ssid/ssierr.h"

/* ---------------- part 1: transitions ---------------- */

enum {
	NS = 1,
	ND = 2,
	NH = 3
}; /* node ids in the unit tests: home is a third node */

struct tev {
	enum migproto_ev type; /* 0: none */
	enum migproto_msg msg;
	char who;  /* 'S' 'D' 'H': message sender or the peer of LINK_* / NODE_DEAD */
	int err;   /* MSG err (OFFER: the local verdict) */
	char when; /* 0: 1 ms after the last event; 'T': at the deadline; 'e': 1 ms before;
		    * 'L' (PROGRESS): 1 ms after, and the chunk had last = 1 */
};

#define MSG(k, w)                                                                                  \
	{                                                                                          \
		MIGPROTO_EV_MSG, MIGPROTO_##k, w, 0, 0                                             \
	}
#define ERRMSG(k, w)                                                                               \
	{                                                                                          \
		MIGPROTO_EV_MSG, MIGPROTO_##k, w, -EPERM, 0                                        \
	}
#define EV(t)                                                                                      \
	{                                                                                          \
		MIGPROTO_EV_##t, 0, 0, 0, 0                                                        \
	}
#define PEER(t, w)                                                                                 \
	{                                                                                          \
		MIGPROTO_EV_##t, 0, w, 0, 0                                                        \
	}
#define TIMER                                                                                      \
	{                                                                                          \
		MIGPROTO_EV_TIMER, 0, 0, 0, 'T'                                                    \
	}
#define EARLY                                                                                      \
	{                                                                                          \
		MIGPROTO_EV_TIMER, 0, 0, 0, 'e'                                                    \
	}
#define LASTCHUNK                                                                                  \
	{                                                                                          \
		MIGPROTO_EV_PROGRESS, 0, 0, 0, 'L'                                                 \
	}
#define NOPRE                                                                                      \
	{                                                                                          \
		0, 0, 0, 0, 0                                                                      \
	}

static enum migproto_role role_of(char w)
{
	return w == 'S' ? MIGPROTO_SOURCE : w == 'D' ? MIGPROTO_DEST : MIGPROTO_HOME;
}

static uint16_t node_of(const struct migproto *m, enum migproto_role r)
{
	return r == MIGPROTO_SOURCE ? m->src : r == MIGPROTO_DEST ? m->dst : m->home;
}

static char letter(enum migproto_role r)
{
	return r == MIGPROTO_SOURCE ? 'S' : r == MIGPROTO_DEST ? 'D' : 'H';
}

static struct migproto_event mkev(const struct migproto *m, struct tev t)
{
	struct migproto_event ev = {
		.type = t.type, .msg = t.msg, .err = t.err, .last = t.when == 'L'};

	ev.now = t.when == 'T' ? m->deadline : t.when == 'e' ? m->deadline - 1 : m->last_now + 1;
	if (t.who) {
		ev.from = role_of(t.who);
		ev.node = node_of(m, ev.from);
	}
	if (t.err)
		ev.reason = "test reason";
	return ev;
}

/* "send(D,OFFER) FREEZE report(ABORTED)"; checks each SEND goes to its role's node. */
static void fmt(const struct migproto *m, const struct migproto_action *a, size_t n, char *buf,
		size_t len)
{
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		const char *sep = i ? " " : "";

		if (a[i].kind == MIGPROTO_A_SEND) {
			ck_assert_uint_eq(a[i].to, node_of(m, a[i].to_role));
			off += snprintf(buf + off, len - off, "%ssend(%c,%s)", sep,
					letter(a[i].to_role), migproto_msg_name(a[i].msg));
		} else if (a[i].kind == MIGPROTO_A_REPORT) {
			off += snprintf(buf + off, len - off, "%sreport(%s)", sep,
					migproto_outcome_name(a[i].outcome));
		} else {
			off += snprintf(buf + off, len - off, "%s%s", sep,
					migproto_act_name(a[i].kind));
		}
		ck_assert_uint_lt(off, len);
	}
}

static void feed(struct migproto *m, struct tev t, char *acts, size_t len)
{
	struct migproto_action a[MIGPROTO_MAX_ACTIONS];
	struct migproto_event ev = mkev(m, t);
	size_t n = 99;

	ck_assert_int_eq(migproto_step(m, &ev, a, MIGPROTO_MAX_ACTIONS, &n), 0);
	ck_assert(migproto_check(m));
	fmt(m, a, n, acts, len);
}

static void mk(struct migproto *m, enum migproto_role r, uint16_t src, uint16_t dst, uint16_t home)
{
	struct migproto_params p = {.mig_id = 0x1000000000000001ull,
				    .gpid = 4242,
				    .src = src,
				    .dst = dst,
				    .home = home,
				    .image_bytes = 8u << 20};

	migproto_conf_default(&p.conf);
	p.self = r == MIGPROTO_SOURCE ? src : r == MIGPROTO_DEST ? dst : home;
	ck_assert_int_eq(migproto_init(m, r, &p, 1000), 0);
}

struct path {
	enum migproto_role role;
	enum migproto_state state;
	struct tev steps[4];
};

#define S     MIGPROTO_SOURCE
#define D     MIGPROTO_DEST
#define H     MIGPROTO_HOME
#define ST(x) MIGPROTO_##x

/* How to reach each state from NEW. */
static const struct path paths[] = {
	{S, ST(NEW), {NOPRE}},
	{S, ST(S_NEGOTIATE), {EV(START)}},
	{S, ST(S_FREEZING), {EV(START), MSG(ACCEPT, 'D'), MSG(ACCEPT, 'H')}},
	{S, ST(S_STREAMING), {EV(START), MSG(ACCEPT, 'D'), MSG(ACCEPT, 'H'), EV(FROZEN)}},
	{S, ST(S_DECIDING), {EV(START), MSG(ACCEPT, 'D'), MSG(ACCEPT, 'H'), EV(FROZEN)}},
	{S, ST(S_CANCELLING), {EV(START), MSG(ACCEPT, 'D'), MSG(ACCEPT, 'H'), EV(FROZEN)}},
	{S, ST(S_MOVED), {EV(START), MSG(ACCEPT, 'D'), MSG(ACCEPT, 'H'), EV(FROZEN)}},
	{S, ST(S_ABORTED), {EV(START), MSG(REFUSE, 'D')}},
	{S, ST(S_LOST), {EV(START), MSG(ACCEPT, 'D'), MSG(ACCEPT, 'H'), EV(FROZEN)}},
	{D, ST(NEW), {NOPRE}},
	{D, ST(D_RECEIVING), {MSG(OFFER, 'S')}},
	{D, ST(D_READY), {MSG(OFFER, 'S'), EV(RESTORED)}},
	{D, ST(D_RUNNING), {MSG(OFFER, 'S'), EV(RESTORED), MSG(COMMIT, 'H')}},
	{D, ST(D_ABORTED), {MSG(OFFER, 'S'), EV(RESTORE_FAILED)}},
	{D, ST(D_LOST), {MSG(OFFER, 'S'), EV(RESTORED), PEER(NODE_DEAD, 'H')}},
	{H, ST(NEW), {NOPRE}},
	{H, ST(H_WAIT_READY), {MSG(OFFER, 'S')}},
	{H, ST(H_RECORDING), {MSG(OFFER, 'S'), MSG(READY, 'D')}},
	{H, ST(H_COMMITTED), {MSG(OFFER, 'S'), MSG(READY, 'D'), EV(RECORDED)}},
	{H, ST(H_MOVED), {MSG(OFFER, 'S'), MSG(READY, 'D'), EV(RECORDED), MSG(DONE, 'D')}},
	{H, ST(H_ABORTED), {MSG(OFFER, 'S'), MSG(ABORT, 'S')}},
	{H, ST(H_LOST), {MSG(OFFER, 'S'), MSG(ABORT, 'S'), PEER(NODE_DEAD, 'S')}},
};

/* Drive a fresh machine of role to state (third-node topology). */
static void reach(struct migproto *m, enum migproto_role role, enum migproto_state state)
{
	char acts[256];
	size_t i, j;

	mk(m, role, NS, ND, NH);
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		if (paths[i].role != role || paths[i].state != state)
			continue;
		for (j = 0; j < 4 && paths[i].steps[j].type; j++)
			feed(m, paths[i].steps[j], acts, sizeof(acts));
		/* Finish paths that share a prefix. */
		if (state == ST(S_DECIDING) || state == ST(S_MOVED) || state == ST(S_LOST))
			feed(m, (struct tev)EV(STREAM_DONE), acts, sizeof(acts));
		if (state == ST(S_CANCELLING))
			feed(m, (struct tev)EV(CANCEL), acts, sizeof(acts));
		if (state == ST(S_MOVED))
			feed(m, (struct tev)MSG(COMMIT, 'H'), acts, sizeof(acts));
		if (state == ST(S_LOST)) {
			feed(m, (struct tev)PEER(NODE_DEAD, 'H'), acts, sizeof(acts));
			while (m->state == ST(S_DECIDING))
				feed(m, (struct tev)TIMER, acts, sizeof(acts));
		}
		if (state == ST(D_LOST)) {
			while (m->state == ST(D_READY))
				feed(m, (struct tev)TIMER, acts, sizeof(acts));
		}
		ck_assert_msg(m->state == state, "reach %s: got %s", migproto_state_name(state),
			      migproto_state_name(m->state));
		return;
	}
	ck_abort_msg("no path to %s", migproto_state_name(state));
}

struct row {
	enum migproto_role role;
	enum migproto_state from;
	struct tev pre; /* applied first, if any; its actions are not checked */
	struct tev ev;
	enum migproto_state to;
	const char *acts;
};

#define ABORT_BOTH "send(D,ABORT) send(H,ABORT)"
static const struct row rows[] = {
	/* source */
	{S, ST(NEW), NOPRE, EV(START), ST(S_NEGOTIATE), "send(D,OFFER) send(H,OFFER)"},
	{S, ST(NEW), NOPRE, MSG(ACCEPT, 'D'), ST(NEW), ""},
	{S, ST(NEW), NOPRE, EV(TIMER), ST(NEW), ""},
	{S, ST(S_NEGOTIATE), NOPRE, MSG(ACCEPT, 'D'), ST(S_NEGOTIATE), ""},
	{S, ST(S_NEGOTIATE), NOPRE, MSG(ACCEPT, 'H'), ST(S_NEGOTIATE), ""},
	{S, ST(S_NEGOTIATE), MSG(ACCEPT, 'D'), MSG(ACCEPT, 'H'), ST(S_FREEZING), "FREEZE"},
	{S, ST(S_NEGOTIATE), MSG(ACCEPT, 'H'), MSG(ACCEPT, 'D'), ST(S_FREEZING), "FREEZE"},
	{S, ST(S_NEGOTIATE), MSG(ACCEPT, 'H'), MSG(ACCEPT, 'H'), ST(S_NEGOTIATE), ""},
	{S, ST(S_NEGOTIATE), NOPRE, ERRMSG(REFUSE, 'D'), ST(S_ABORTED),
	 ABORT_BOTH " report(REFUSED)"},
	{S, ST(S_NEGOTIATE), NOPRE, ERRMSG(REFUSE, 'H'), ST(S_ABORTED),
	 ABORT_BOTH " report(REFUSED)"},
	{S, ST(S_NEGOTIATE), NOPRE, MSG(ABORT, 'D'), ST(S_ABORTED), ABORT_BOTH " report(ABORTED)"},
	{S, ST(S_NEGOTIATE), NOPRE, MSG(ABORT, 'H'), ST(S_ABORTED), ABORT_BOTH " report(ABORTED)"},
	{S, ST(S_NEGOTIATE), NOPRE, TIMER, ST(S_ABORTED), ABORT_BOTH " report(ABORTED)"},
	{S, ST(S_NEGOTIATE), NOPRE, EARLY, ST(S_NEGOTIATE), ""},
	{S, ST(S_NEGOTIATE), NOPRE, PEER(LINK_DOWN, 'D'), ST(S_ABORTED),
	 ABORT_BOTH " report(ABORTED)"},
	{S, ST(S_NEGOTIATE), NOPRE, PEER(LINK_DOWN, 'H'), ST(S_ABORTED),
	 ABORT_BOTH " report(ABORTED)"},
	{S, ST(S_NEGOTIATE), NOPRE, PEER(NODE_DEAD, 'D'), ST(S_ABORTED),
	 ABORT_BOTH " report(ABORTED)"},
	{S, ST(S_NEGOTIATE), NOPRE, EV(CANCEL), ST(S_ABORTED), ABORT_BOTH " report(ABORTED)"},
	{S, ST(S_NEGOTIATE), NOPRE, MSG(COMMIT, 'H'), ST(S_NEGOTIATE), ""},
	{S, ST(S_FREEZING), NOPRE, EV(FROZEN), ST(S_STREAMING), "STREAM"},
	{S, ST(S_FREEZING), NOPRE, EV(FREEZE_FAILED), ST(S_ABORTED),
	 "THAW " ABORT_BOTH " report(ABORTED)"},
	{S, ST(S_FREEZING), NOPRE, MSG(ABORT, 'H'), ST(S_ABORTED),
	 "THAW " ABORT_BOTH " report(ABORTED)"},
	{S, ST(S_FREEZING), NOPRE, MSG(ABORT, 'D'), ST(S_ABORTED),
	 "THAW " ABORT_BOTH " report(ABORTED)"},
	{S, ST(S_FREEZING), NOPRE, TIMER, ST(S_ABORTED), "THAW " ABORT_BOTH " report(ABORTED)"},
	{S, ST(S_FREEZING), NOPRE, PEER(LINK_DOWN, 'D'), ST(S_ABORTED),
	 "THAW " ABORT_BOTH " report(ABORTED)"},
	{S, ST(S_FREEZING), NOPRE, PEER(LINK_DOWN, 'H'), ST(S_ABORTED),
	 "THAW " ABORT_BOTH " report(ABORTED)"},
	{S, ST(S_FREEZING), NOPRE, EV(CANCEL), ST(S_ABORTED),
	 "THAW " ABORT_BOTH " report(ABORTED)"},
	{S, ST(S_FREEZING), NOPRE, EV(STREAM_DONE), ST(S_FREEZING), ""},
	{S, ST(S_STREAMING), NOPRE, EV(PROGRESS), ST(S_STREAMING), ""},
	{S, ST(S_STREAMING), NOPRE, EV(STREAM_DONE), ST(S_DECIDING), ""},
	{S, ST(S_STREAMING), NOPRE, EV(STREAM_FAILED), ST(S_ABORTED),
	 "THAW " ABORT_BOTH " report(ABORTED)"},
	{S, ST(S_STREAMING), NOPRE, MSG(ABORT, 'D'), ST(S_CANCELLING), "CANCEL_STREAM"},
	{S, ST(S_STREAMING), NOPRE, MSG(ABORT, 'H'), ST(S_CANCELLING), "CANCEL_STREAM"},
	{S, ST(S_STREAMING), NOPRE, PEER(LINK_DOWN, 'H'), ST(S_CANCELLING), "CANCEL_STREAM"},
	{S, ST(S_STREAMING), NOPRE, PEER(LINK_DOWN, 'D'), ST(S_CANCELLING), "CANCEL_STREAM"},
	{S, ST(S_STREAMING), NOPRE, PEER(NODE_DEAD, 'H'), ST(S_CANCELLING), "CANCEL_STREAM"},
	{S, ST(S_STREAMING), NOPRE, TIMER, ST(S_CANCELLING), "CANCEL_STREAM"},
	{S, ST(S_STREAMING), NOPRE, EV(CANCEL), ST(S_CANCELLING), "CANCEL_STREAM"},
	{S, ST(S_STREAMING), NOPRE, PEER(LINK_UP, 'D'), ST(S_STREAMING), ""},
	{S, ST(S_STREAMING), NOPRE, MSG(COMMIT, 'H'), ST(S_STREAMING), ""},
	{S, ST(S_CANCELLING), NOPRE, EV(STREAM_FAILED), ST(S_ABORTED),
	 "THAW " ABORT_BOTH " report(ABORTED)"},
	{S, ST(S_CANCELLING), NOPRE, EV(STREAM_DONE), ST(S_DECIDING),
	 "send(H,QUERY) send(D,QUERY)"},
	{S, ST(S_CANCELLING), NOPRE, TIMER, ST(S_DECIDING), "send(H,QUERY) send(D,QUERY)"},
	{S, ST(S_CANCELLING), NOPRE, MSG(ABORT, 'H'), ST(S_CANCELLING), ""},
	{S, ST(S_CANCELLING), MSG(ABORT, 'H'), EV(STREAM_DONE), ST(S_ABORTED),
	 "THAW " ABORT_BOTH " report(ABORTED)"},
	{S, ST(S_CANCELLING), MSG(ABORT, 'D'), TIMER, ST(S_ABORTED),
	 "THAW " ABORT_BOTH " report(ABORTED)"},
	{S, ST(S_CANCELLING), NOPRE, EV(PROGRESS), ST(S_CANCELLING), ""},
	{S, ST(S_DECIDING), NOPRE, MSG(COMMIT, 'H'), ST(S_MOVED), "KILL_FROZEN report(MOVED)"},
	{S, ST(S_DECIDING), NOPRE, MSG(COMMIT, 'D'), ST(S_MOVED), "KILL_FROZEN report(MOVED)"},
	{S, ST(S_DECIDING), NOPRE, MSG(ABORT, 'H'), ST(S_ABORTED), "THAW report(ABORTED)"},
	{S, ST(S_DECIDING), NOPRE, MSG(ABORT, 'D'), ST(S_ABORTED),
	 "THAW send(H,ABORT) report(ABORTED)"},
	{S, ST(S_DECIDING), NOPRE, TIMER, ST(S_DECIDING), "send(H,QUERY) send(D,QUERY)"},
	{S, ST(S_DECIDING), NOPRE, EARLY, ST(S_DECIDING), ""},
	{S, ST(S_DECIDING), NOPRE, PEER(LINK_UP, 'H'), ST(S_DECIDING), "send(H,QUERY)"},
	{S, ST(S_DECIDING), NOPRE, PEER(LINK_UP, 'D'), ST(S_DECIDING), "send(D,QUERY)"},
	{S, ST(S_DECIDING), NOPRE, PEER(LINK_DOWN, 'H'), ST(S_DECIDING), ""},
	{S, ST(S_DECIDING), NOPRE, PEER(NODE_DEAD, 'H'), ST(S_DECIDING), ""},
	{S, ST(S_DECIDING), NOPRE, PEER(NODE_DEAD, 'D'), ST(S_DECIDING), ""},
	{S, ST(S_DECIDING), NOPRE, MSG(QUERY, 'D'), ST(S_DECIDING), ""},
	{S, ST(S_DECIDING), NOPRE, EV(STREAM_FAILED), ST(S_DECIDING), ""},
	{S, ST(S_DECIDING), NOPRE, EV(CANCEL), ST(S_DECIDING), ""},
	{S, ST(S_MOVED), NOPRE, MSG(QUERY, 'D'), ST(S_MOVED), "send(D,COMMIT)"},
	{S, ST(S_MOVED), NOPRE, MSG(ABORT, 'H'), ST(S_MOVED), ""},
	{S, ST(S_ABORTED), NOPRE, MSG(QUERY, 'D'), ST(S_ABORTED), "send(D,ABORT)"},
	{S, ST(S_ABORTED), NOPRE, EV(FROZEN), ST(S_ABORTED), "THAW"},
	{S, ST(S_ABORTED), NOPRE, MSG(COMMIT, 'H'), ST(S_ABORTED), ""},
	{S, ST(S_LOST), NOPRE, MSG(QUERY, 'D'), ST(S_LOST), ""},
	{S, ST(S_LOST), NOPRE, MSG(ABORT, 'H'), ST(S_LOST), ""},
	/* destination */
	{D, ST(NEW), NOPRE, MSG(OFFER, 'S'), ST(D_RECEIVING), "RESTORE send(S,ACCEPT)"},
	{D, ST(NEW), NOPRE, ERRMSG(OFFER, 'S'), ST(D_ABORTED), "send(S,REFUSE) report(REFUSED)"},
	{D, ST(NEW), NOPRE, MSG(OFFER, 'H'), ST(NEW), ""},
	{D, ST(D_RECEIVING), NOPRE, EV(PROGRESS), ST(D_RECEIVING), ""},
	{D, ST(D_RECEIVING), NOPRE, EV(RESTORED), ST(D_READY), "send(H,READY)"},
	{D, ST(D_RECEIVING), NOPRE, EV(RESTORE_FAILED), ST(D_ABORTED),
	 "DISCARD send(S,ABORT) send(H,ABORT) report(ABORTED)"},
	{D, ST(D_RECEIVING), NOPRE, MSG(ABORT, 'S'), ST(D_ABORTED), "DISCARD report(ABORTED)"},
	{D, ST(D_RECEIVING), NOPRE, MSG(ABORT, 'H'), ST(D_ABORTED), "DISCARD report(ABORTED)"},
	{D, ST(D_RECEIVING), NOPRE, TIMER, ST(D_ABORTED),
	 "DISCARD send(S,ABORT) send(H,ABORT) report(ABORTED)"},
	{D, ST(D_RECEIVING), NOPRE, PEER(LINK_DOWN, 'H'), ST(D_RECEIVING), ""},
	{D, ST(D_RECEIVING), NOPRE, PEER(NODE_DEAD, 'H'), ST(D_ABORTED),
	 "DISCARD send(S,ABORT) send(H,ABORT) report(ABORTED)"},
	{D, ST(D_RECEIVING), NOPRE, PEER(LINK_DOWN, 'S'), ST(D_ABORTED),
	 "DISCARD send(S,ABORT) send(H,ABORT) report(ABORTED)"},
	{D, ST(D_RECEIVING), LASTCHUNK, PEER(LINK_DOWN, 'S'), ST(D_RECEIVING), ""},
	{D, ST(D_RECEIVING), NOPRE, PEER(NODE_DEAD, 'S'), ST(D_ABORTED),
	 "DISCARD send(S,ABORT) send(H,ABORT) report(ABORTED)"},
	{D, ST(D_RECEIVING), EV(PROGRESS), PEER(NODE_DEAD, 'S'), ST(D_ABORTED),
	 "DISCARD send(S,ABORT) send(H,ABORT) report(ABORTED)"},
	{D, ST(D_RECEIVING), LASTCHUNK, PEER(NODE_DEAD, 'S'), ST(D_RECEIVING), ""},
	{D, ST(D_RECEIVING), LASTCHUNK, EV(RESTORED), ST(D_READY), "send(H,READY)"},
	{D, ST(D_RECEIVING), NOPRE, MSG(COMMIT, 'H'), ST(D_RECEIVING), ""},
	{D, ST(D_READY), NOPRE, MSG(COMMIT, 'H'), ST(D_RUNNING),
	 "RESUME send(H,DONE) send(S,DONE) report(MOVED)"},
	{D, ST(D_READY), NOPRE, MSG(COMMIT, 'S'), ST(D_RUNNING),
	 "RESUME send(H,DONE) send(S,DONE) report(MOVED)"},
	{D, ST(D_READY), NOPRE, MSG(ABORT, 'H'), ST(D_ABORTED), "DISCARD report(ABORTED)"},
	{D, ST(D_READY), NOPRE, MSG(ABORT, 'S'), ST(D_ABORTED), "DISCARD report(ABORTED)"},
	{D, ST(D_READY), NOPRE, TIMER, ST(D_READY), "send(H,READY) send(S,QUERY)"},
	{D, ST(D_READY), NOPRE, EARLY, ST(D_READY), ""},
	{D, ST(D_READY), NOPRE, PEER(LINK_UP, 'H'), ST(D_READY), "send(H,READY)"},
	{D, ST(D_READY), NOPRE, PEER(LINK_UP, 'S'), ST(D_READY), "send(S,QUERY)"},
	{D, ST(D_READY), NOPRE, PEER(LINK_DOWN, 'H'), ST(D_READY), ""},
	{D, ST(D_READY), NOPRE, PEER(LINK_DOWN, 'S'), ST(D_READY), ""},
	{D, ST(D_READY), NOPRE, PEER(NODE_DEAD, 'H'), ST(D_READY), ""},
	{D, ST(D_READY), NOPRE, PEER(NODE_DEAD, 'S'), ST(D_READY), ""},
	{D, ST(D_READY), NOPRE, MSG(QUERY, 'S'), ST(D_READY), ""},
	{D, ST(D_READY), NOPRE, EV(RESTORE_FAILED), ST(D_READY), ""},
	{D, ST(D_RUNNING), NOPRE, MSG(COMMIT, 'H'), ST(D_RUNNING), "send(H,DONE)"},
	{D, ST(D_RUNNING), NOPRE, MSG(QUERY, 'S'), ST(D_RUNNING), "send(S,COMMIT)"},
	{D, ST(D_RUNNING), NOPRE, MSG(ABORT, 'H'), ST(D_RUNNING), ""},
	{D, ST(D_ABORTED), NOPRE, MSG(QUERY, 'S'), ST(D_ABORTED), "send(S,ABORT)"},
	{D, ST(D_ABORTED), NOPRE, EV(RESTORED), ST(D_ABORTED), "DISCARD"},
	{D, ST(D_ABORTED), NOPRE, MSG(COMMIT, 'H'), ST(D_ABORTED), ""},
	{D, ST(D_LOST), NOPRE, MSG(QUERY, 'S'), ST(D_LOST), ""},
	{D, ST(D_LOST), NOPRE, MSG(COMMIT, 'H'), ST(D_LOST), ""},
	/* home */
	{H, ST(NEW), NOPRE, MSG(OFFER, 'S'), ST(H_WAIT_READY), "send(S,ACCEPT)"},
	{H, ST(NEW), NOPRE, ERRMSG(OFFER, 'S'), ST(H_ABORTED), "send(S,REFUSE) report(REFUSED)"},
	{H, ST(NEW), NOPRE, MSG(READY, 'D'), ST(NEW), ""},
	{H, ST(H_WAIT_READY), NOPRE, MSG(READY, 'D'), ST(H_RECORDING), "RECORD_COMMIT"},
	{H, ST(H_WAIT_READY), NOPRE, MSG(ABORT, 'S'), ST(H_ABORTED),
	 "send(D,ABORT) report(ABORTED)"},
	{H, ST(H_WAIT_READY), NOPRE, MSG(ABORT, 'D'), ST(H_ABORTED),
	 "send(S,ABORT) report(ABORTED)"},
	{H, ST(H_WAIT_READY), NOPRE, TIMER, ST(H_ABORTED),
	 "send(S,ABORT) send(D,ABORT) report(ABORTED)"},
	{H, ST(H_WAIT_READY), NOPRE, EARLY, ST(H_WAIT_READY), ""},
	{H, ST(H_WAIT_READY), NOPRE, PEER(NODE_DEAD, 'D'), ST(H_ABORTED),
	 "send(S,ABORT) send(D,ABORT) report(ABORTED)"},
	{H, ST(H_WAIT_READY), NOPRE, PEER(NODE_DEAD, 'S'), ST(H_WAIT_READY), ""},
	{H, ST(H_WAIT_READY), PEER(NODE_DEAD, 'S'), TIMER, ST(H_WAIT_READY), ""},
	{H, ST(H_WAIT_READY), PEER(NODE_DEAD, 'S'), MSG(ABORT, 'D'), ST(H_LOST),
	 "send(S,ABORT) report(LOST)"},
	{H, ST(H_WAIT_READY), PEER(NODE_DEAD, 'S'), MSG(READY, 'D'), ST(H_RECORDING),
	 "RECORD_COMMIT"},
	{H, ST(H_WAIT_READY), NOPRE, PEER(LINK_DOWN, 'D'), ST(H_WAIT_READY), ""},
	{H, ST(H_WAIT_READY), NOPRE, MSG(QUERY, 'S'), ST(H_WAIT_READY), ""},
	{H, ST(H_RECORDING), NOPRE, EV(RECORDED), ST(H_COMMITTED),
	 "send(D,COMMIT) send(S,COMMIT) report(MOVED)"},
	{H, ST(H_RECORDING), NOPRE, EV(RECORD_FAILED), ST(H_ABORTED),
	 "send(S,ABORT) send(D,ABORT) report(ABORTED)"},
	{H, ST(H_RECORDING), NOPRE, TIMER, ST(H_RECORDING), "report(INDOUBT)"},
	{H, ST(H_RECORDING), NOPRE, MSG(ABORT, 'S'), ST(H_RECORDING), ""},
	{H, ST(H_RECORDING), NOPRE, MSG(QUERY, 'S'), ST(H_RECORDING), ""},
	{H, ST(H_RECORDING), PEER(NODE_DEAD, 'D'), EV(RECORDED), ST(H_LOST),
	 "send(D,COMMIT) send(S,COMMIT) report(MOVED) report(LOST)"},
	{H, ST(H_COMMITTED), NOPRE, MSG(DONE, 'D'), ST(H_MOVED), ""},
	{H, ST(H_COMMITTED), NOPRE, TIMER, ST(H_COMMITTED), "send(D,COMMIT)"},
	{H, ST(H_COMMITTED), NOPRE, MSG(READY, 'D'), ST(H_COMMITTED), "send(D,COMMIT)"},
	{H, ST(H_COMMITTED), NOPRE, PEER(LINK_UP, 'D'), ST(H_COMMITTED), "send(D,COMMIT)"},
	{H, ST(H_COMMITTED), NOPRE, MSG(QUERY, 'S'), ST(H_COMMITTED), "send(S,COMMIT)"},
	{H, ST(H_COMMITTED), NOPRE, PEER(NODE_DEAD, 'D'), ST(H_LOST), "report(LOST)"},
	{H, ST(H_COMMITTED), NOPRE, PEER(NODE_DEAD, 'S'), ST(H_COMMITTED), ""},
	{H, ST(H_COMMITTED), NOPRE, MSG(ABORT, 'S'), ST(H_COMMITTED), ""},
	{H, ST(H_MOVED), NOPRE, MSG(QUERY, 'S'), ST(H_MOVED), "send(S,COMMIT)"},
	{H, ST(H_MOVED), NOPRE, MSG(READY, 'D'), ST(H_MOVED), "send(D,COMMIT)"},
	{H, ST(H_MOVED), NOPRE, PEER(NODE_DEAD, 'D'), ST(H_LOST), "report(LOST)"},
	{H, ST(H_MOVED), NOPRE, PEER(NODE_DEAD, 'S'), ST(H_MOVED), ""},
	{H, ST(H_ABORTED), NOPRE, MSG(READY, 'D'), ST(H_ABORTED), "send(D,ABORT)"},
	{H, ST(H_ABORTED), NOPRE, MSG(QUERY, 'S'), ST(H_ABORTED), "send(S,ABORT)"},
	{H, ST(H_ABORTED), NOPRE, PEER(NODE_DEAD, 'S'), ST(H_LOST), "report(LOST)"},
	{H, ST(H_ABORTED), NOPRE, PEER(NODE_DEAD, 'D'), ST(H_ABORTED), ""},
	{H, ST(H_LOST), NOPRE, MSG(QUERY, 'S'), ST(H_LOST), "send(S,ABORT)"},
	{H, ST(H_LOST), NOPRE, PEER(NODE_DEAD, 'S'), ST(H_LOST), ""},
};
#define NROWS (sizeof(rows) / sizeof(rows[0]))

START_TEST(transition)
{
	const struct row *r = &rows[_i];
	struct migproto m;
	char acts[256];

	reach(&m, r->role, r->from);
	if (r->pre.type)
		feed(&m, r->pre, acts, sizeof(acts));
	feed(&m, r->ev, acts, sizeof(acts));
	ck_assert_msg(m.state == r->to && strcmp(acts, r->acts) == 0,
		      "row %d: %s %s + %s: got %s [%s], want %s [%s]", _i,
		      migproto_role_name(r->role), migproto_state_name(r->from),
		      migproto_ev_name(r->ev.type), migproto_state_name(m.state), acts,
		      migproto_state_name(r->to), r->acts);
}
END_TEST

/* Every state of every role has rows; every waiting state has a firing time-out row. */
START_TEST(table_covers_every_state)
{
	size_t p, i;

	for (p = 0; p < sizeof(paths) / sizeof(paths[0]); p++) {
		bool seen = false, timer = false;
		struct migproto m;

		reach(&m, paths[p].role, paths[p].state);
		for (i = 0; i < NROWS; i++) {
			if (rows[i].role != paths[p].role || rows[i].from != paths[p].state)
				continue;
			seen = true;
			if (rows[i].ev.type == MIGPROTO_EV_TIMER && rows[i].ev.when == 'T')
				timer = true;
		}
		ck_assert_msg(seen, "no row for %s", migproto_state_name(paths[p].state));
		if (migproto_deadline(&m) != 0)
			ck_assert_msg(timer, "no time-out row for %s",
				      migproto_state_name(paths[p].state));
		else
			ck_assert(paths[p].state == MIGPROTO_NEW || migproto_final(&m));
	}
}
END_TEST

START_TEST(init_rejects_bad_params)
{
	struct migproto m;
	struct migproto_params p = {
		.mig_id = 1, .gpid = 1, .self = 1, .src = 1, .dst = 2, .home = 1};

	migproto_conf_default(&p.conf);
	ck_assert_int_eq(migproto_init(&m, MIGPROTO_SOURCE, &p, 0), 0);
	ck_assert_int_eq(migproto_init(&m, MIGPROTO_HOME, &p, 0), 0);	    /* home == src */
	ck_assert_int_eq(migproto_init(&m, MIGPROTO_DEST, &p, 0), -EINVAL); /* self != dst */
	ck_assert_int_eq(migproto_init(&m, (enum migproto_role)7, &p, 0), -EINVAL);
	p.dst = 1;
	ck_assert_int_eq(migproto_init(&m, MIGPROTO_SOURCE, &p, 0), -EINVAL);
	p.dst = 2;
	p.home = 0;
	ck_assert_int_eq(migproto_init(&m, MIGPROTO_SOURCE, &p, 0), -EINVAL);
	p.home = 2;
	p.conf.query_max_ms = p.conf.query_ms - 1;
	ck_assert_int_eq(migproto_init(&m, MIGPROTO_SOURCE, &p, 0), -EINVAL);
	migproto_conf_default(&p.conf);
	p.conf.nego_ms = 0;
	ck_assert_int_eq(migproto_init(&m, MIGPROTO_SOURCE, &p, 0), -EINVAL);
}
END_TEST

START_TEST(step_rejects_bad_events_and_small_output)
{
	struct migproto m, before;
	struct migproto_action a[MIGPROTO_MAX_ACTIONS];
	struct migproto_event ev = {.type = MIGPROTO_EV_START, .now = 999};
	size_t n = 5;

	mk(&m, MIGPROTO_SOURCE, NS, ND, NH);
	ck_assert_int_eq(migproto_step(&m, &ev, a, MIGPROTO_MAX_ACTIONS, &n), -EINVAL);
	ck_assert_uint_eq(n, 0); /* time went back */
	ev.now = 2000;
	ev.type = (enum migproto_ev)77;
	ck_assert_int_eq(migproto_step(&m, &ev, a, MIGPROTO_MAX_ACTIONS, &n), -EINVAL);
	ev.type = MIGPROTO_EV_START;
	before = m;
	ck_assert_int_eq(migproto_step(&m, &ev, a, 1, &n), -ENOSPC);
	ck_assert_uint_eq(n, 0);
	ck_assert(memcmp(&before, &m, sizeof(m)) == 0); /* unchanged */
	ck_assert_int_eq(migproto_step(&m, &ev, a, 2, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(m.state, MIGPROTO_S_NEGOTIATE);
	ck_assert_uint_eq(migproto_deadline(&m), 2000 + m.conf.nego_ms);
}
END_TEST

/* A message is believed only from the node of the role it claims. */
START_TEST(wrong_sender_ignored)
{
	struct migproto m;
	struct migproto_action a[MIGPROTO_MAX_ACTIONS];
	struct migproto_event ev;
	size_t n;

	reach(&m, MIGPROTO_SOURCE, MIGPROTO_S_DECIDING);
	ev = mkev(&m, (struct tev)MSG(COMMIT, 'H'));
	ev.node = ND; /* claims home, comes from dst's node */
	ck_assert_int_eq(migproto_step(&m, &ev, a, MIGPROTO_MAX_ACTIONS, &n), 0);
	ck_assert_uint_eq(n, 0);
	ev.node = NH;
	ev.from = MIGPROTO_SOURCE; /* claims our own role */
	ck_assert_int_eq(migproto_step(&m, &ev, a, MIGPROTO_MAX_ACTIONS, &n), 0);
	ck_assert_uint_eq(n, 0);
	ev.from = (enum migproto_role)9;
	ck_assert_int_eq(migproto_step(&m, &ev, a, MIGPROTO_MAX_ACTIONS, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(m.state, MIGPROTO_S_DECIDING);
}
END_TEST

/* home == dst (move back home): ACCEPTs from one node are told apart by role. */
START_TEST(home_equals_dst_and_src)
{
	struct migproto m;
	char acts[256];

	mk(&m, MIGPROTO_SOURCE, 2, 1, 1);
	feed(&m, (struct tev)EV(START), acts, sizeof(acts));
	ck_assert_str_eq(acts, "send(D,OFFER) send(H,OFFER)");
	feed(&m, (struct tev)MSG(ACCEPT, 'D'), acts, sizeof(acts));
	ck_assert_int_eq(m.state, MIGPROTO_S_NEGOTIATE);
	feed(&m, (struct tev)MSG(ACCEPT, 'H'), acts, sizeof(acts));
	ck_assert_str_eq(acts, "FREEZE");
	/* A link event about our own node (home == src) is meaningless and ignored. */
	mk(&m, MIGPROTO_SOURCE, 1, 2, 1);
	feed(&m, (struct tev)EV(START), acts, sizeof(acts));
	feed(&m, (struct tev)PEER(LINK_DOWN, 'H'), acts, sizeof(acts));
	ck_assert_int_eq(m.state, MIGPROTO_S_NEGOTIATE);
	ck_assert_str_eq(acts, "");
}
END_TEST

START_TEST(progress_moves_idle_deadline)
{
	struct migproto m;
	char acts[256];
	uint64_t d;

	reach(&m, MIGPROTO_SOURCE, MIGPROTO_S_STREAMING);
	d = migproto_deadline(&m);
	feed(&m, (struct tev){MIGPROTO_EV_PROGRESS, 0, 0, 0, 'e'}, acts, sizeof(acts));
	ck_assert_uint_eq(migproto_deadline(&m), d - 1 + m.conf.stream_idle_ms);
	reach(&m, MIGPROTO_DEST, MIGPROTO_D_RECEIVING);
	d = migproto_deadline(&m);
	feed(&m, (struct tev){MIGPROTO_EV_PROGRESS, 0, 0, 0, 'e'}, acts, sizeof(acts));
	ck_assert_uint_eq(migproto_deadline(&m), d - 1 + m.conf.recv_idle_ms);
}
END_TEST

/* Home waits for READY in proportion to the image size. */
START_TEST(ready_timeout_scales_with_image)
{
	struct migproto m;
	char acts[256];

	reach(&m, MIGPROTO_HOME, MIGPROTO_H_WAIT_READY);
	/* 8 MiB at 8192 KiB/s: one second more than the base. */
	ck_assert_uint_eq(migproto_deadline(&m), m.last_now + m.conf.ready_base_ms + 1000);
	feed(&m, (struct tev)MSG(READY, 'D'), acts, sizeof(acts));
	ck_assert_str_eq(acts, "RECORD_COMMIT");
}
END_TEST

/* In doubt: re-query with doubling back-off up to the cap; INDOUBT reported once. */
START_TEST(doubt_backoff_and_report)
{
	struct migproto m;
	char acts[256];
	uint32_t expect;
	int reports = 0, i;

	reach(&m, MIGPROTO_SOURCE, MIGPROTO_S_DECIDING);
	expect = m.conf.query_ms;
	for (i = 0; i < 12; i++) {
		uint64_t before = migproto_deadline(&m);

		ck_assert_uint_eq(m.backoff_ms, expect);
		feed(&m, (struct tev)TIMER, acts, sizeof(acts));
		ck_assert_int_eq(m.state, MIGPROTO_S_DECIDING);
		if (strstr(acts, "report(INDOUBT)"))
			reports++;
		expect = expect * 2 > m.conf.query_max_ms ? m.conf.query_max_ms : expect * 2;
		ck_assert_uint_eq(migproto_deadline(&m), before + expect);
	}
	ck_assert_int_eq(reports, 1);
}
END_TEST

/* Home dead: the doubting source and destination give up after the grace time, and they
 * never let their copy run (R4): source kills, destination discards. */
START_TEST(home_dead_grace)
{
	struct migproto m;
	char acts[256];
	uint64_t dead_at;

	reach(&m, MIGPROTO_SOURCE, MIGPROTO_S_DECIDING);
	feed(&m, (struct tev)PEER(NODE_DEAD, 'H'), acts, sizeof(acts));
	dead_at = m.last_now;
	while (m.state == MIGPROTO_S_DECIDING) {
		feed(&m, (struct tev)TIMER, acts, sizeof(acts));
		ck_assert(strstr(acts, "THAW") == NULL);
	}
	ck_assert_int_eq(m.state, MIGPROTO_S_LOST);
	ck_assert_str_eq(acts, "KILL_FROZEN report(LOST)");
	ck_assert_uint_eq(m.last_now, dead_at + m.conf.home_grace_ms);
	/* An answer within the grace time wins. */
	reach(&m, MIGPROTO_DEST, MIGPROTO_D_READY);
	feed(&m, (struct tev)PEER(NODE_DEAD, 'H'), acts, sizeof(acts));
	feed(&m, (struct tev)TIMER, acts, sizeof(acts));
	feed(&m, (struct tev)MSG(COMMIT, 'S'), acts, sizeof(acts));
	ck_assert_int_eq(m.state, MIGPROTO_D_RUNNING);
	/* Home died before the stream ended: the source cancels and may thaw (R3). */
	reach(&m, MIGPROTO_SOURCE, MIGPROTO_S_STREAMING);
	feed(&m, (struct tev)PEER(NODE_DEAD, 'H'), acts, sizeof(acts));
	feed(&m, (struct tev)EV(STREAM_FAILED), acts, sizeof(acts));
	ck_assert_str_eq(acts, "THAW " ABORT_BOTH " report(ABORTED)");
	/* ... but if the last chunk left, it waits for an answer, with the grace time. */
	reach(&m, MIGPROTO_SOURCE, MIGPROTO_S_STREAMING);
	feed(&m, (struct tev)PEER(NODE_DEAD, 'H'), acts, sizeof(acts));
	feed(&m, (struct tev)EV(STREAM_DONE), acts, sizeof(acts));
	ck_assert_int_eq(m.state, MIGPROTO_S_DECIDING);
	ck_assert_uint_ne(m.grace_end, 0);
}
END_TEST

/* Source dead before READY: home waits once more (the destination may hold the whole
 * image behind a cut link), then gives up and tells the deputy the process is lost. */
START_TEST(home_waits_longer_when_src_died)
{
	struct migproto m;
	char acts[256];
	uint64_t t;

	reach(&m, MIGPROTO_HOME, MIGPROTO_H_WAIT_READY);
	feed(&m, (struct tev)PEER(NODE_DEAD, 'S'), acts, sizeof(acts));
	feed(&m, (struct tev)TIMER, acts, sizeof(acts));
	ck_assert_str_eq(acts, "");
	t = m.last_now;
	ck_assert_uint_eq(migproto_deadline(&m), t + m.conf.home_grace_ms);
	feed(&m, (struct tev)TIMER, acts, sizeof(acts));
	ck_assert_int_eq(m.state, MIGPROTO_H_LOST);
	ck_assert_str_eq(acts, "send(S,ABORT) send(D,ABORT) report(LOST)");
	/* READY within the extra time still saves it. */
	reach(&m, MIGPROTO_HOME, MIGPROTO_H_WAIT_READY);
	feed(&m, (struct tev)PEER(NODE_DEAD, 'S'), acts, sizeof(acts));
	feed(&m, (struct tev)TIMER, acts, sizeof(acts));
	feed(&m, (struct tev)MSG(READY, 'D'), acts, sizeof(acts));
	feed(&m, (struct tev)EV(RECORDED), acts, sizeof(acts));
	ck_assert_int_eq(m.state, MIGPROTO_H_COMMITTED);
}
END_TEST

START_TEST(reasons_travel)
{
	struct migproto m;
	struct migproto_action a[MIGPROTO_MAX_ACTIONS];
	struct migproto_event ev;
	size_t n;

	reach(&m, MIGPROTO_DEST, MIGPROTO_NEW);
	ev = mkev(&m, (struct tev)ERRMSG(OFFER, 'S'));
	ev.err = SSI_E_REFUSED;
	ev.reason = "blocked by ssictl block";
	ck_assert_int_eq(migproto_step(&m, &ev, a, MIGPROTO_MAX_ACTIONS, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(a[0].msg, MIGPROTO_REFUSE);
	ck_assert_int_eq(a[0].err, SSI_E_REFUSED);
	ck_assert_str_eq(a[0].reason, "blocked by ssictl block");
	reach(&m, MIGPROTO_SOURCE, MIGPROTO_S_NEGOTIATE);
	ev = mkev(&m, (struct tev)ERRMSG(REFUSE, 'D'));
	ev.err = SSI_E_UNSUPPORTED;
	ev.reason = "missing CPU features: avx512f";
	ck_assert_int_eq(migproto_step(&m, &ev, a, MIGPROTO_MAX_ACTIONS, &n), 0);
	ck_assert_int_eq(a[n - 1].outcome, MIGPROTO_OUT_REFUSED);
	ck_assert_int_eq(a[n - 1].err, SSI_E_UNSUPPORTED);
	ck_assert_str_eq(a[n - 1].reason, "missing CPU features: avx512f");
}
END_TEST

START_TEST(home_orphan_answers)
{
	struct migproto_action a[2];
	struct migproto_event ev = {
		.type = MIGPROTO_EV_MSG, .msg = MIGPROTO_READY, .from = MIGPROTO_DEST, .node = 7};
	size_t n;

	ck_assert_int_eq(migproto_home_orphan(false, &ev, a, 2, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(a[0].msg, MIGPROTO_ABORT); /* presumed abort */
	ck_assert_uint_eq(a[0].to, 7);
	ck_assert_int_eq(a[0].to_role, MIGPROTO_DEST);
	ev.msg = MIGPROTO_QUERY;
	ev.from = MIGPROTO_SOURCE;
	ck_assert_int_eq(migproto_home_orphan(true, &ev, a, 2, &n), 0);
	ck_assert_int_eq(a[0].msg, MIGPROTO_COMMIT);
	ck_assert_int_eq(a[0].to_role, MIGPROTO_SOURCE);
	ev.msg = MIGPROTO_ABORT;
	ck_assert_int_eq(migproto_home_orphan(true, &ev, a, 2, &n), 0);
	ck_assert_uint_eq(n, 0);
	ev.msg = MIGPROTO_QUERY;
	ck_assert_int_eq(migproto_home_orphan(true, &ev, a, 0, &n), -ENOSPC);
}
END_TEST

/* A restarted daemon adopts a held copy (migproto_adopt): in doubt, it asks; only COMMIT or
 * ABORT decide; time alone never lets a held copy go or run; a dead home ends in LOST
 * (the held copy killed or discarded, never run). */
static void adopt(struct migproto *m, enum migproto_role r, char *acts, size_t len)
{
	struct migproto_action a[MIGPROTO_MAX_ACTIONS];
	struct migproto_params p = {
		.mig_id = 0x1000000000000001ull, .gpid = 4242, .src = NS, .dst = ND, .home = NH};
	size_t n = 99;

	migproto_conf_default(&p.conf);
	p.self = r == MIGPROTO_SOURCE ? NS : ND;
	ck_assert_int_eq(migproto_adopt(m, r, &p, false, 1000, a, MIGPROTO_MAX_ACTIONS, &n), 0);
	ck_assert(migproto_check(m));
	fmt(m, a, n, acts, len);
}

START_TEST(adopt_held_copy)
{
	struct migproto m;
	struct migproto_action a[2];
	struct migproto_params p = {
		.mig_id = 1, .gpid = 1, .self = NH, .src = NS, .dst = ND, .home = NH};
	char acts[256];
	size_t n = 7;

	migproto_conf_default(&p.conf);
	ck_assert_int_eq(migproto_adopt(&m, MIGPROTO_HOME, &p, false, 1, a, 2, &n), -EINVAL);
	p.self = NS;
	ck_assert_int_eq(migproto_adopt(&m, MIGPROTO_SOURCE, &p, true, 1, a, 2, &n), -EINVAL);
	ck_assert_int_eq(migproto_adopt(&m, MIGPROTO_SOURCE, &p, false, 1, a, 1, &n), -ENOSPC);
	ck_assert_uint_eq(n, 0);
	/* destination, already running (resumed before the restart): DONE again, final */
	p.self = ND;
	ck_assert_int_eq(migproto_adopt(&m, MIGPROTO_DEST, &p, true, 1, a, 2, &n), 0);
	fmt(&m, a, n, acts, sizeof(acts));
	ck_assert_str_eq(acts, "send(H,DONE) send(S,DONE)");
	ck_assert(migproto_final(&m));
	feed(&m, (struct tev)MSG(COMMIT, 'H'), acts, sizeof(acts));
	ck_assert_str_eq(acts, "send(H,DONE)");
	p.self = NS;
	p.dst = NS;
	ck_assert_int_eq(migproto_adopt(&m, MIGPROTO_SOURCE, &p, false, 1, a, 2, &n), -EINVAL);

	/* source: commit -> the frozen copy dies */
	adopt(&m, MIGPROTO_SOURCE, acts, sizeof(acts));
	ck_assert_str_eq(acts, "send(H,QUERY) send(D,QUERY)");
	ck_assert_int_eq(m.state, MIGPROTO_S_DECIDING);
	for (int i = 0; i < 8; i++) { /* time alone: ask again, never thaw */
		feed(&m, (struct tev)TIMER, acts, sizeof(acts));
		ck_assert_ptr_null(strstr(acts, "THAW"));
		ck_assert_ptr_nonnull(strstr(acts, "send(H,QUERY) send(D,QUERY)"));
	}
	feed(&m, (struct tev)MSG(COMMIT, 'H'), acts, sizeof(acts));
	ck_assert_str_eq(acts, "KILL_FROZEN report(MOVED)");
	ck_assert_int_eq(m.state, MIGPROTO_S_MOVED);
	/* source: home's abort -> it runs here again */
	adopt(&m, MIGPROTO_SOURCE, acts, sizeof(acts));
	feed(&m, (struct tev)ERRMSG(ABORT, 'H'), acts, sizeof(acts));
	ck_assert_str_eq(acts, "THAW report(ABORTED)");
	/* source: the destination's word is enough too (it relays or never voted) */
	adopt(&m, MIGPROTO_SOURCE, acts, sizeof(acts));
	feed(&m, (struct tev)MSG(COMMIT, 'D'), acts, sizeof(acts));
	ck_assert_str_eq(acts, "KILL_FROZEN report(MOVED)");
	/* source: home dead -> after the grace, killed, never thawed */
	adopt(&m, MIGPROTO_SOURCE, acts, sizeof(acts));
	feed(&m, (struct tev)PEER(NODE_DEAD, 'H'), acts, sizeof(acts));
	while (m.state == MIGPROTO_S_DECIDING) {
		feed(&m, (struct tev)TIMER, acts, sizeof(acts));
		ck_assert_ptr_null(strstr(acts, "THAW"));
	}
	ck_assert_int_eq(m.state, MIGPROTO_S_LOST);
	ck_assert_str_eq(acts, "KILL_FROZEN report(LOST)");

	/* destination: commit -> resume and DONE */
	adopt(&m, MIGPROTO_DEST, acts, sizeof(acts));
	ck_assert_str_eq(acts, "send(H,READY) send(S,QUERY)");
	ck_assert_int_eq(m.state, MIGPROTO_D_READY);
	feed(&m, (struct tev)TIMER, acts, sizeof(acts));
	ck_assert_str_eq(acts, "send(H,READY) send(S,QUERY)");
	feed(&m, (struct tev)MSG(COMMIT, 'H'), acts, sizeof(acts));
	ck_assert_str_eq(acts, "RESUME send(H,DONE) send(S,DONE) report(MOVED)");
	/* destination: the source still has it (home aborted, relayed) -> discard */
	adopt(&m, MIGPROTO_DEST, acts, sizeof(acts));
	feed(&m, (struct tev)ERRMSG(ABORT, 'S'), acts, sizeof(acts));
	ck_assert_ptr_nonnull(strstr(acts, "DISCARD"));
	ck_assert_ptr_null(strstr(acts, "RESUME"));
	ck_assert_int_eq(m.state, MIGPROTO_D_ABORTED);
	/* destination: a dying source says nothing about the decision */
	adopt(&m, MIGPROTO_DEST, acts, sizeof(acts));
	feed(&m, (struct tev)PEER(NODE_DEAD, 'S'), acts, sizeof(acts));
	ck_assert_int_eq(m.state, MIGPROTO_D_READY);
	ck_assert_str_eq(acts, "");
}
END_TEST

/* A party that came back as a new incarnation (ssid: HELLO) is dead for a move that began
 * before it came back, at once and with no LINK_DOWN first; not for one that began after,
 * nor for a final machine, self or a node that takes no part. */
START_TEST(reborn_party_is_dead)
{
	struct migproto m;
	char acts[256];

	mk(&m, MIGPROTO_HOME, NS, ND, NH); /* born at 1000 */
	ck_assert_uint_eq(m.born, 1000);
	ck_assert(!migproto_reborn(&m, ND, 999)); /* back before the move began */
	ck_assert(migproto_reborn(&m, ND, 1000));
	ck_assert(migproto_reborn(&m, NS, 5000));
	ck_assert(!migproto_reborn(&m, NH, 5000)); /* self */
	ck_assert(!migproto_reborn(&m, 7, 5000));  /* no party */
	ck_assert(!migproto_reborn(&m, 0, 5000));
	ck_assert(!migproto_reborn(NULL, ND, 5000));
	reach(&m, MIGPROTO_HOME, MIGPROTO_H_COMMITTED);
	ck_assert(migproto_reborn(&m, ND, m.last_now));
	feed(&m, (struct tev)PEER(NODE_DEAD, 'D'), acts, sizeof(acts));
	ck_assert_str_eq(acts, "report(LOST)");
	ck_assert(!migproto_reborn(&m, ND, m.last_now + 1)); /* final */
	/* the source streaming to a destination that crashed and came back: it gives up */
	reach(&m, MIGPROTO_SOURCE, MIGPROTO_S_STREAMING);
	ck_assert(migproto_reborn(&m, ND, m.last_now));
	feed(&m, (struct tev)PEER(NODE_DEAD, 'D'), acts, sizeof(acts));
	ck_assert_int_ne(m.state, MIGPROTO_S_STREAMING);
	ck_assert_int_ne(m.state, MIGPROTO_S_MOVED);
}
END_TEST

START_TEST(check_catches_corruption)
{
	struct migproto m;

	reach(&m, MIGPROTO_SOURCE, MIGPROTO_S_DECIDING);
	ck_assert(migproto_check(&m));
	m.deadline = 0; /* a waiting state without a time-out */
	ck_assert(!migproto_check(&m));
	reach(&m, MIGPROTO_SOURCE, MIGPROTO_S_DECIDING);
	m.state = MIGPROTO_H_COMMITTED; /* a home state in a source machine */
	ck_assert(!migproto_check(&m));
	reach(&m, MIGPROTO_HOME, MIGPROTO_H_ABORTED);
	m.committed = true;
	ck_assert(!migproto_check(&m));
	ck_assert(!migproto_check(NULL));
	ck_assert_str_eq(migproto_state_name((enum migproto_state)99), "?");
	ck_assert_str_eq(migproto_msg_name(MIGPROTO_QUERY), "QUERY");
	ck_assert_str_eq(migproto_ev_name(MIGPROTO_EV_NODE_DEAD), "NODE_DEAD");
	ck_assert_str_eq(migproto_role_name(MIGPROTO_HOME), "home");
}
END_TEST

/* ---------------- part 2: the model ---------------- */

#define MAXN	4	/* node ids 1..3 */
#define NCHUNKS 3	/* image chunks */
#define MAXQ	4096	/* queued items */
#define T_END	3600000 /* ms: a run that is not quiet by then "waits forever" */
#define MIG_ID	0x2000000000000007ull

enum copy {
	C_NONE,
	C_RUNNING,
	C_FROZEN,
	C_PARTIAL,
	C_STOPPED
};

enum qkind {
	Q_MSG = 1,
	Q_CHUNK,
	Q_LOCAL,
	Q_NOTE,
	Q_WRITE,
	Q_HEAL,
	Q_RESTART,
	Q_DAEMON_UP /* the daemon alone of node `to` is back (fault 4) */
};

struct item {
	uint64_t t, seq;
	enum qkind kind;
	uint16_t to, from;	  /* nodes */
	enum migproto_role role;  /* target machine (MSG, LOCAL) */
	struct migproto_event ev; /* MSG, LOCAL, NOTE: the event (now set at delivery) */
	unsigned epoch;		  /* MSG, CHUNK: link epoch at sending */
	unsigned inc;		  /* LOCAL, WRITE: incarnation of the node at scheduling */
	unsigned chunk;		  /* CHUNK */
	uint16_t a, b;		  /* HEAL: link */
};

struct mnode {
	bool alive, ever_crashed;
	unsigned inc;	      /* incarnation: bumped at each crash */
	bool has[4];	      /* machines by role */
	struct migproto m[4]; /* by role */
	enum copy copy;	      /* the process on this node */
	bool freezing;	      /* FREEZE asked, FROZEN not yet delivered */
	bool streaming;	      /* dump engine active */
	unsigned next_chunk;  /* dump engine */
	bool restoring;	      /* restore engine active */
	unsigned expect;      /* restore engine: next chunk */
	bool daemon_down;     /* fault 4: its daemon alone died, not back yet */
};

struct fault {
	int kind; /* 0 none, 1 cut a-b, 2 crash a, 3 crash a then restart, 4 restart the
		   * daemon of a alone (the node and its process copies stay) */
	uint16_t a, b;
};

struct world {
	uint64_t now, seq;
	struct item q[MAXQ];
	size_t nq;
	struct mnode n[MAXN];
	bool up[MAXN][MAXN];
	unsigned epoch[MAXN][MAXN];
	uint64_t fifo[MAXN][MAXN]; /* last delivery time per directed link */
	uint16_t src, dst, home;
	bool durable_commit; /* home's record (survives home's crash) */
	bool deputy_alive, deputy_lost, deputy_moved;
	bool home_crashed;
	bool home_forgot;      /* home's daemon restarted with the move undecided: presumed abort */
	bool only_holder_died; /* a crash took the last complete, authoritative copy */
	unsigned steps;
	/* random mode */
	bool rnd;
	uint64_t rs;
	/* fault injection */
	struct fault f[2];
	unsigned fault_step[2]; /* inject before this step (random mode: time) */
	uint64_t fault_time[2];
	bool fault_done[2];
	char trace[64];
};

static unsigned rnd_next(struct world *w)
{
	w->rs ^= w->rs << 13;
	w->rs ^= w->rs >> 7;
	w->rs ^= w->rs << 17;
	return (unsigned)(w->rs >> 11);
}

/* A delay: fixed in the deterministic runs, in [lo, hi] in random runs. */
static uint64_t dly(struct world *w, uint64_t fixed, uint64_t lo, uint64_t hi)
{
	return w->rnd ? lo + rnd_next(w) % (hi - lo + 1) : fixed;
}

static void enq(struct world *w, struct item it)
{
	ck_assert_uint_lt(w->nq, MAXQ);
	it.seq = w->seq++;
	w->q[w->nq++] = it;
}

static uint64_t fifo_time(struct world *w, uint16_t a, uint16_t b, uint64_t d)
{
	uint64_t t = w->now + d;

	if (t < w->fifo[a][b])
		t = w->fifo[a][b];
	w->fifo[a][b] = t;
	return t;
}

static void local(struct world *w, uint16_t node, enum migproto_role role, enum migproto_ev t,
		  uint64_t d)
{
	struct item it = {.t = w->now + d, .kind = Q_LOCAL, .to = node, .role = role};

	it.ev.type = t;
	it.inc = w->n[node].inc;
	enq(w, it);
}

static void note(struct world *w, uint16_t to, enum migproto_ev t, uint16_t about, uint64_t d)
{
	struct item it = {.t = w->now + d, .kind = Q_NOTE, .to = to};

	it.ev.type = t;
	it.ev.node = about;
	it.inc = w->n[to].inc;
	enq(w, it);
}

static int runnable(const struct world *w)
{
	int i, c = 0;

	for (i = 1; i < MAXN; i++)
		if (w->n[i].alive && w->n[i].copy == C_RUNNING)
			c++;
	return c;
}

static void do_actions(struct world *w, uint16_t node, enum migproto_role role,
		       const struct migproto_action *a, size_t n);

static void step_machine(struct world *w, uint16_t node, enum migproto_role role,
			 struct migproto_event ev)
{
	struct migproto_action a[MIGPROTO_MAX_ACTIONS];
	size_t n;

	ev.now = w->now;
	ck_assert_int_eq(migproto_step(&w->n[node].m[role], &ev, a, MIGPROTO_MAX_ACTIONS, &n), 0);
	if (getenv("MIGPROTO_TRACE")) { /* debugging aid: MIGPROTO_TRACE=1 test_migproto */
		char acts[256];

		fmt(&w->n[node].m[role], a, n, acts, sizeof(acts));
		fprintf(stderr, "%8llu n%u %-11s %-9s %-7s n%u -> %-12s %s\n",
			(unsigned long long)w->now, node, migproto_role_name(role),
			migproto_ev_name(ev.type),
			ev.type == MIGPROTO_EV_MSG ? migproto_msg_name(ev.msg) : "", ev.node,
			migproto_state_name(w->n[node].m[role].state), acts);
	}
	do_actions(w, node, role, a, n);
}

static void do_actions(struct world *w, uint16_t node, enum migproto_role role,
		       const struct migproto_action *a, size_t n)
{
	struct mnode *me = &w->n[node];
	size_t i;

	for (i = 0; i < n; i++) {
		switch (a[i].kind) {
		case MIGPROTO_A_SEND: {
			struct item it = {
				.kind = Q_MSG, .to = a[i].to, .from = node, .role = a[i].to_role};

			it.t = fifo_time(w, node, a[i].to, dly(w, 5, 1, 300));
			it.ev.type = MIGPROTO_EV_MSG;
			it.ev.msg = a[i].msg;
			it.ev.from = role;
			it.ev.node = node;
			it.ev.err = a[i].err;
			it.epoch = w->epoch[node][a[i].to];
			enq(w, it);
			break;
		}
		case MIGPROTO_A_FREEZE:
			ck_assert_int_eq(me->copy, C_RUNNING);
			me->freezing = true;
			local(w, node, role, MIGPROTO_EV_FROZEN, dly(w, 10, 1, 100));
			break;
		case MIGPROTO_A_THAW:
			/* R3: never after the commit is recorded. */
			ck_assert_msg(!w->durable_commit, "thaw after commit %s", w->trace);
			me->freezing = false;
			if (me->copy == C_FROZEN)
				me->copy = C_RUNNING;
			break;
		case MIGPROTO_A_STREAM: {
			struct item it = {.kind = Q_WRITE, .to = node, .inc = me->inc};

			ck_assert_int_eq(me->copy, C_FROZEN);
			me->streaming = true;
			me->next_chunk = 0;
			it.t = w->now + dly(w, 20, 1, 400);
			enq(w, it);
			break;
		}
		case MIGPROTO_A_CANCEL_STREAM:
			if (me->streaming) {
				me->streaming = false;
				local(w, node, role, MIGPROTO_EV_STREAM_FAILED, 1);
			}
			break;
		case MIGPROTO_A_KILL_FROZEN:
			ck_assert_int_eq(me->copy, C_FROZEN);
			/* R4: only after the commit is durable, or home died. */
			ck_assert_msg(w->durable_commit || w->home_crashed, "kill w/o commit %s",
				      w->trace);
			me->copy = C_NONE;
			break;
		case MIGPROTO_A_RESTORE:
			ck_assert_int_eq(me->copy, C_NONE);
			me->copy = C_PARTIAL;
			me->restoring = true;
			me->expect = 0;
			break;
		case MIGPROTO_A_DISCARD:
			ck_assert_int_ne(me->copy, C_RUNNING);
			me->restoring = false;
			me->copy = C_NONE;
			break;
		case MIGPROTO_A_RESUME:
			ck_assert_int_eq(me->copy, C_STOPPED);
			ck_assert_msg(w->durable_commit, "resume w/o commit %s", w->trace);
			me->copy = C_RUNNING;
			break;
		case MIGPROTO_A_RECORD_COMMIT:
			local(w, node, role, MIGPROTO_EV_RECORDED, dly(w, 5, 1, 50));
			break;
		case MIGPROTO_A_REPORT:
			if (role == MIGPROTO_HOME && w->deputy_alive) {
				if (a[i].outcome == MIGPROTO_OUT_LOST)
					w->deputy_lost = true;
				if (a[i].outcome == MIGPROTO_OUT_MOVED)
					w->deputy_moved = true;
			}
			break;
		}
	}
}

static void new_machine(struct world *w, uint16_t node, enum migproto_role role)
{
	struct migproto_params p = {.mig_id = MIG_ID,
				    .gpid = 77,
				    .self = node,
				    .src = w->src,
				    .dst = w->dst,
				    .home = w->home,
				    .image_bytes = 1u << 20};

	migproto_conf_default(&p.conf);
	ck_assert_int_eq(migproto_init(&w->n[node].m[role], role, &p, w->now), 0);
	w->n[node].has[role] = true;
}

static void deliver_msg(struct world *w, struct item *it)
{
	struct mnode *to = &w->n[it->to];

	if (!to->alive)
		return;
	if (it->from != it->to &&
	    (!w->up[it->from][it->to] || w->epoch[it->from][it->to] != it->epoch))
		return; /* lost with the link */
	if (!to->has[it->role]) {
		if (it->ev.msg == MIGPROTO_OFFER && it->role != MIGPROTO_SOURCE &&
		    !to->ever_crashed) {
			new_machine(w, it->to, it->role);
		} else if (it->role == MIGPROTO_HOME) {
			struct migproto_action a[1];
			size_t n;
			struct migproto_event ev = it->ev;

			ev.now = w->now;
			ck_assert_int_eq(migproto_home_orphan(w->durable_commit, &ev, a, 1, &n), 0);
			do_actions(w, it->to, MIGPROTO_HOME, a, n);
			return;
		} else {
			return; /* a restarted node knows nothing of this move */
		}
	}
	step_machine(w, it->to, it->role, it->ev);
}

static void stream_write(struct world *w, struct item *it)
{
	struct mnode *me = &w->n[it->to];
	struct item c = {.kind = Q_CHUNK, .to = w->dst, .from = it->to};

	if (!me->alive || it->inc != me->inc || !me->streaming)
		return;
	if (!w->up[it->to][w->dst]) {
		me->streaming = false; /* write fails: the last chunk did not leave */
		local(w, it->to, MIGPROTO_SOURCE, MIGPROTO_EV_STREAM_FAILED, 1);
		return;
	}
	c.chunk = me->next_chunk++;
	c.epoch = w->epoch[it->to][w->dst];
	c.t = fifo_time(w, it->to, w->dst, dly(w, 5, 1, 300));
	enq(w, c);
	local(w, it->to, MIGPROTO_SOURCE, MIGPROTO_EV_PROGRESS, 0);
	if (me->next_chunk == NCHUNKS) {
		me->streaming = false;
		/* The engine's word may be queued behind other events of the daemon. */
		local(w, it->to, MIGPROTO_SOURCE, MIGPROTO_EV_STREAM_DONE, dly(w, 0, 0, 300));
		return;
	}
	it->t = w->now + dly(w, 20, 1, 400);
	it->seq = w->seq;
	enq(w, *it);
}

static void deliver_chunk(struct world *w, struct item *it)
{
	struct mnode *d = &w->n[it->to];

	if (!d->alive || !w->up[it->from][it->to] || w->epoch[it->from][it->to] != it->epoch)
		return;
	if (!d->restoring)
		return;
	if (it->chunk != d->expect) {
		d->restoring = false;
		local(w, it->to, MIGPROTO_DEST, MIGPROTO_EV_RESTORE_FAILED, 1);
		return;
	}
	d->expect++;
	local(w, it->to, MIGPROTO_DEST, MIGPROTO_EV_PROGRESS, 0);
	if (d->expect == NCHUNKS)
		w->q[w->nq - 1].ev.last = true; /* that PROGRESS is the last chunk's */
	if (d->expect == NCHUNKS)
		local(w, it->to, MIGPROTO_DEST, MIGPROTO_EV_RESTORED, dly(w, 30, 1, 3000));
}

static void deliver_local(struct world *w, struct item *it)
{
	struct mnode *me = &w->n[it->to];

	if (!me->alive || it->inc != me->inc || !me->has[it->role])
		return;
	switch (it->ev.type) {
	case MIGPROTO_EV_FROZEN:
		if (!me->freezing)
			return; /* cancelled by THAW */
		me->freezing = false;
		me->copy = C_FROZEN;
		break;
	case MIGPROTO_EV_RESTORED:
		if (!me->restoring)
			return;
		me->restoring = false;
		me->copy = C_STOPPED;
		break;
	case MIGPROTO_EV_RECORDED:
		w->durable_commit = true; /* fsync'd before the event is seen */
		break;
	default:
		break;
	}
	step_machine(w, it->to, it->role, it->ev);
}

static void deliver_note(struct world *w, struct item *it)
{
	struct mnode *me = &w->n[it->to];
	int r;

	if (!me->alive || it->inc != me->inc)
		return;
	/* The daemon's rule outside any move: home's record names the node holding the
	 * process; when that node dies, the deputy is told. */
	if (it->to == w->home && !me->has[MIGPROTO_HOME] && it->ev.type == MIGPROTO_EV_NODE_DEAD &&
	    it->ev.node == (w->durable_commit ? w->dst : w->src) && w->deputy_alive)
		w->deputy_lost = true;
	for (r = 1; r <= 3; r++)
		if (me->has[r])
			step_machine(w, it->to, (enum migproto_role)r, it->ev);
}

static void set_link(struct world *w, uint16_t a, uint16_t b, bool up)
{
	w->up[a][b] = w->up[b][a] = up;
	w->epoch[a][b]++;
	w->epoch[b][a]++;
}

static void crash(struct world *w, uint16_t x, bool restart)
{
	struct mnode *me = &w->n[x];
	bool others = false, held = false;
	uint16_t p;

	/* Another complete copy that may still become (or stay) the process: a stopped
	 * restored one, or the frozen source before the commit is recorded. */
	for (p = 1; p < MAXN; p++) {
		enum copy c = w->n[p].copy;

		if (p != x && w->n[p].alive &&
		    (c == C_RUNNING || c == C_STOPPED || (c == C_FROZEN && !w->durable_commit) ||
		     (c == C_PARTIAL && w->n[p].expect == NCHUNKS)))
			others = true;
	}
	if ((me->copy != C_NONE && me->copy != C_PARTIAL) ||
	    (me->copy == C_PARTIAL && me->expect == NCHUNKS))
		held = true;
	if (held && !others)
		w->only_holder_died = true;
	me->alive = false;
	me->ever_crashed = true;
	me->daemon_down = false;
	me->inc++;
	memset(me->has, 0, sizeof(me->has));
	me->copy = C_NONE;
	me->freezing = me->streaming = me->restoring = false;
	if (x == w->home) {
		w->home_crashed = true;
		w->deputy_alive = false;
	}
	for (p = 1; p < MAXN; p++) {
		if (p == x || !w->n[p].alive)
			continue;
		set_link(w, x, p, false);
		note(w, p, MIGPROTO_EV_LINK_DOWN, x, dly(w, 2000, 20, 5000));
		if (!restart)
			note(w, p, MIGPROTO_EV_NODE_DEAD, x, dly(w, 8000, 5000, 20000));
	}
	if (restart) {
		struct item it = {.kind = Q_RESTART, .to = x};

		it.t = w->now + dly(w, 5000, 100, 20000);
		enq(w, it);
	}
}

static void restart(struct world *w, uint16_t x)
{
	uint16_t p;

	w->n[x].alive = true;
	for (p = 1; p < MAXN; p++) {
		if (p == x || !w->n[p].alive)
			continue;
		set_link(w, x, p, true);
		/* Peers see the new boot id when the link comes back. */
		note(w, p, MIGPROTO_EV_LINK_UP, x, dly(w, 100, 10, 2000));
		note(w, p, MIGPROTO_EV_NODE_DEAD, x, dly(w, 100, 10, 2000));
	}
}

/* Fault 4: only the daemon of x dies (kill -9 of ssid) and comes back later. Its machines,
 * its pending local events and its link sessions go; the process copies stay, held by
 * their helpers where the outcome may be unknown (ssid/mig_adopt.c): a frozen source copy
 * whose last chunk left, a restored stopped copy. A copy frozen before its last chunk left
 * is released; a half-restored one dies with its image stream. Peers see the links go
 * down and come back, never a death. The home's deputy re-attaches: it stays alive. */
static void daemon_down(struct world *w, uint16_t x)
{
	struct mnode *me = &w->n[x];
	struct item it = {.kind = Q_DAEMON_UP, .to = x};
	uint16_t p;

	if (!me->alive || me->daemon_down)
		return;
	me->daemon_down = true;
	me->ever_crashed = true; /* a late OFFER finds no machine (as for a restart) */
	if (x == w->home && me->has[MIGPROTO_HOME] && !migproto_final(&me->m[MIGPROTO_HOME]) &&
	    !w->durable_commit)
		w->home_forgot = true;
	me->inc++;
	memset(me->has, 0, sizeof(me->has));
	if (me->copy == C_FROZEN && me->next_chunk < NCHUNKS)
		me->copy = C_RUNNING; /* no 'L' yet: the checkpoint child lets it go */
	/* A restore that has its whole image ends under its worker, which then holds the
	 * copy; one still missing chunks fails (the rest died with the daemon). */
	if (me->copy == C_PARTIAL)
		me->copy = me->restoring && me->expect == NCHUNKS ? C_STOPPED : C_NONE;
	me->freezing = me->streaming = me->restoring = false;
	for (p = 1; p < MAXN; p++) {
		if (p == x || !w->n[p].alive)
			continue;
		set_link(w, x, p, false);
		note(w, p, MIGPROTO_EV_LINK_DOWN, x, dly(w, 2000, 20, 5000));
	}
	it.inc = me->inc;
	it.t = w->now + dly(w, 1000, 50, 8000);
	enq(w, it);
}

/* The daemon is back: links again; it adopts the copies held for it (migproto_adopt). */
static void daemon_up(struct world *w, uint16_t x, unsigned inc)
{
	struct mnode *me = &w->n[x];
	struct migproto_action a[MIGPROTO_MAX_ACTIONS];
	struct migproto_params p = {.mig_id = MIG_ID,
				    .gpid = 77,
				    .self = x,
				    .src = w->src,
				    .dst = w->dst,
				    .home = w->home,
				    .image_bytes = 1u << 20};
	enum migproto_role role = 0;
	bool running = false;
	size_t n;
	uint16_t q;

	if (!me->alive || me->inc != inc || !me->daemon_down)
		return;
	me->daemon_down = false;
	for (q = 1; q < MAXN; q++) {
		if (q == x || (!w->n[q].alive && !w->n[q].ever_crashed))
			continue;
		if (!w->n[q].alive) { /* its membership finds a dead peer silent, then dead */
			note(w, x, MIGPROTO_EV_LINK_DOWN, q, dly(w, 4000, 3000, 5000));
			note(w, x, MIGPROTO_EV_NODE_DEAD, q, dly(w, 8000, 6000, 20000));
			continue;
		}
		set_link(w, x, q, true);
		note(w, q, MIGPROTO_EV_LINK_UP, x, dly(w, 100, 10, 2000));
	}
	if (me->copy == C_FROZEN && x == w->src)
		role = MIGPROTO_SOURCE;
	else if (me->copy == C_STOPPED && x == w->dst)
		role = MIGPROTO_DEST;
	else if (me->copy == C_RUNNING && x == w->dst) /* resumed: a guest now */
		role = MIGPROTO_DEST, running = true;
	if (!role)
		return;
	migproto_conf_default(&p.conf);
	ck_assert_int_eq(migproto_adopt(&me->m[role], role, &p, running, w->now, a,
					MIGPROTO_MAX_ACTIONS, &n),
			 0);
	me->has[role] = true;
	do_actions(w, x, role, a, n);
}

static void cut(struct world *w, uint16_t a, uint16_t b)
{
	struct item it = {.kind = Q_HEAL, .a = a, .b = b};

	if (!w->up[a][b])
		return;
	set_link(w, a, b, false);
	note(w, a, MIGPROTO_EV_LINK_DOWN, b, dly(w, 2000, 20, 5000));
	note(w, b, MIGPROTO_EV_LINK_DOWN, a, dly(w, 2000, 20, 5000));
	/* Partitions heal within home_grace_ms: home waits that long for the only
	 * remaining copy before it declares the process lost (docs/migration.md). */
	it.t = w->now + dly(w, 25000, 1000, 60000);
	enq(w, it);
}

static void heal(struct world *w, struct item *it)
{
	if (!w->n[it->a].alive || !w->n[it->b].alive || w->up[it->a][it->b])
		return;
	set_link(w, it->a, it->b, true);
	note(w, it->a, MIGPROTO_EV_LINK_UP, it->b, dly(w, 100, 10, 2000));
	note(w, it->b, MIGPROTO_EV_LINK_UP, it->a, dly(w, 100, 10, 2000));
}

static void inject(struct world *w, const struct fault *f)
{
	if (f->kind == 1)
		cut(w, f->a, f->b);
	else if ((f->kind == 2 || f->kind == 3) && w->n[f->a].alive)
		crash(w, f->a, f->kind == 3);
	else if (f->kind == 4)
		daemon_down(w, f->a);
}

static void world_init(struct world *w, uint16_t src, uint16_t dst, uint16_t home)
{
	int a, b;

	memset(w, 0, sizeof(*w));
	w->now = 1000;
	w->src = src;
	w->dst = dst;
	w->home = home;
	w->deputy_alive = true;
	for (a = 1; a < MAXN; a++) {
		w->n[a].alive = true;
		for (b = 1; b < MAXN; b++)
			w->up[a][b] = true;
	}
	w->n[src].copy = C_RUNNING;
	new_machine(w, src, MIGPROTO_SOURCE);
}

/* Index of the next queued item (earliest time, then FIFO), or -1. */
static int next_item(const struct world *w)
{
	size_t i;
	int best = -1;

	for (i = 0; i < w->nq; i++) {
		if (best < 0 || w->q[i].t < w->q[best].t ||
		    (w->q[i].t == w->q[best].t && w->q[i].seq < w->q[best].seq))
			best = (int)i;
	}
	return best;
}

/* Earliest machine deadline: *node, *role; 0 if none. */
static uint64_t next_timer(const struct world *w, uint16_t *node, int *role)
{
	uint64_t best = 0;
	uint16_t x;
	int r;

	for (x = 1; x < MAXN; x++) {
		if (!w->n[x].alive)
			continue;
		for (r = 1; r <= 3; r++) {
			uint64_t d;

			if (!w->n[x].has[r])
				continue;
			d = migproto_deadline(&w->n[x].m[r]);
			if (d && (!best || d < best)) {
				best = d;
				*node = x;
				*role = r;
			}
		}
	}
	return best;
}

static void maybe_inject(struct world *w)
{
	int i;

	for (i = 0; i < 2; i++) {
		if (w->f[i].kind == 0 || w->fault_done[i])
			continue;
		if ((!w->rnd && w->steps >= w->fault_step[i]) ||
		    (w->rnd && w->now >= w->fault_time[i])) {
			w->fault_done[i] = true;
			inject(w, &w->f[i]);
		}
	}
}

/* Run to quiescence. Returns the number of steps. */
static unsigned run(struct world *w)
{
	struct migproto_event start = {.type = MIGPROTO_EV_START};

	if (getenv("MIGPROTO_TRACE"))
		fprintf(stderr, "--- run %s\n", w->trace);
	maybe_inject(w);
	if (w->n[w->src].alive)
		step_machine(w, w->src, MIGPROTO_SOURCE, start);
	for (;;) {
		int qi, role = 0;
		uint16_t tnode = 0;
		uint64_t tt, qt;
		struct item it;

		w->steps++;
		maybe_inject(w);
		qi = next_item(w);
		tt = next_timer(w, &tnode, &role);
		if (w->rnd) {
			uint64_t ft = 0;
			int i;

			for (i = 0; i < 2; i++)
				if (w->f[i].kind && !w->fault_done[i] &&
				    (!ft || w->fault_time[i] < ft))
					ft = w->fault_time[i];
			if (ft && (qi < 0 || ft < w->q[qi].t) && (!tt || ft < tt)) {
				w->now = ft;
				continue;
			}
		}
		if (qi < 0 && !tt)
			break;
		qt = qi >= 0 ? w->q[qi].t : 0;
		if (tt && (qi < 0 || tt < qt)) {
			struct migproto_event ev = {.type = MIGPROTO_EV_TIMER};

			w->now = tt > w->now ? tt : w->now;
			step_machine(w, tnode, (enum migproto_role)role, ev);
		} else {
			it = w->q[qi];
			w->q[qi] = w->q[--w->nq];
			w->now = it.t > w->now ? it.t : w->now;
			switch (it.kind) {
			case Q_MSG:
				deliver_msg(w, &it);
				break;
			case Q_CHUNK:
				deliver_chunk(w, &it);
				break;
			case Q_LOCAL:
				deliver_local(w, &it);
				break;
			case Q_NOTE:
				deliver_note(w, &it);
				break;
			case Q_WRITE:
				stream_write(w, &it);
				break;
			case Q_HEAL:
				heal(w, &it);
				break;
			case Q_RESTART:
				restart(w, it.to);
				break;
			case Q_DAEMON_UP:
				daemon_up(w, it.to, it.inc);
				break;
			}
		}
		ck_assert_msg(runnable(w) <= 1, "two copies run %s", w->trace);
		ck_assert_msg(w->now < T_END, "not quiet after an hour %s", w->trace);
	}
	return w->steps;
}

/* The end state a user may see. */
static void check_end(const struct world *w)
{
	int r = runnable(w), x, role;

	for (x = 1; x < MAXN; x++) {
		if (!w->n[x].alive)
			continue;
		for (role = 1; role <= 3; role++)
			ck_assert_msg(!w->n[x].has[role] || migproto_final(&w->n[x].m[role]),
				      "%s left waiting in %s %s",
				      migproto_role_name((enum migproto_role)role),
				      migproto_state_name(w->n[x].m[role].state), w->trace);
		/* No copy is left frozen or half-restored. */
		ck_assert_msg(w->n[x].copy == C_NONE || w->n[x].copy == C_RUNNING,
			      "node %d left copy state %d %s", x, w->n[x].copy, w->trace);
	}
	if (r == 1) {
		bool at_dst = w->n[w->dst].alive && w->n[w->dst].copy == C_RUNNING;

		/* The record names where it runs (unless home died with its record's
		 * meaning: a restarted home presumes abort for what it never committed). */
		if (!w->home_crashed)
			ck_assert_msg(at_dst == w->durable_commit, "record disagrees %s", w->trace);
		ck_assert_msg(!w->deputy_lost, "deputy told lost but it runs %s", w->trace);
	} else {
		/* Zero copies only when the holder of the only copy died (deputy told), or
		 * home died (the deputy with it). A cut link never loses the process. */
		bool dst_died = w->n[w->dst].ever_crashed;

		/* After the commit the destination's copy is the process (docs: a source that
		 * resumed its frozen copy could repeat what the destination already did). */
		/* A home whose daemon restarted before it committed presumes abort: the
		 * destination discards, and a source that crashed meanwhile took the last copy
		 * (as when the home itself crashed and restarted). */
		ck_assert_msg(w->home_crashed ||
				      (w->deputy_lost && (w->only_holder_died || w->home_forgot ||
							  (w->durable_commit && dst_died))),
			      "process vanished %s", w->trace);
	}
	if (w->deputy_moved && !w->home_crashed)
		ck_assert(w->durable_commit);
}

static const uint16_t topo[3][3] = {
	/* src, dst, home */
	{1, 2, 1}, /* first move away from home */
	{2, 1, 1}, /* move back home */
	{2, 3, 1}, /* from a non-home node to a third node */
};

/* The faults that make sense in a topology. */
static size_t faults_for(const uint16_t *t, struct fault *f)
{
	uint16_t nodes[3] = {0};
	size_t nn = 0, i, j, k = 0;

	for (i = 0; i < 3; i++) {
		for (j = 0; j < nn && nodes[j] != t[i]; j++)
			;
		if (j == nn)
			nodes[nn++] = t[i];
	}
	for (i = 0; i < nn; i++)
		for (j = i + 1; j < nn; j++)
			f[k++] = (struct fault){1, nodes[i], nodes[j]};
	for (i = 0; i < nn; i++)
		f[k++] = (struct fault){2, nodes[i], 0};
	f[k++] = (struct fault){3, t[2], 0}; /* home crashes and restarts */
	for (i = 0; i < nn; i++)
		f[k++] = (struct fault){4, nodes[i], 0}; /* its daemon alone restarts */
	return k;
}

START_TEST(model_fault_free)
{
	int t;

	for (t = 0; t < 3; t++) {
		struct world *w = calloc(1, sizeof(*w));

		world_init(w, topo[t][0], topo[t][1], topo[t][2]);
		run(w);
		check_end(w);
		ck_assert(w->durable_commit && w->deputy_moved);
		ck_assert_int_eq(w->n[topo[t][1]].copy, C_RUNNING);
		ck_assert_int_eq(w->n[topo[t][0]].copy, C_NONE);
		ck_assert_int_eq(w->n[topo[t][2]].m[MIGPROTO_HOME].state, MIGPROTO_H_MOVED);
		free(w);
	}
}
END_TEST

static unsigned model_scenarios;

/* Every fault before every step of the fault-free run, in each topology. */
START_TEST(model_fault_matrix)
{
	unsigned total = 0, lost = 0, moved = 0, stayed = 0;
	unsigned kind_lost[5] = {0}, kind_total[5] = {0};
	int t;

	for (t = 0; t < 3; t++) {
		struct world *w = calloc(1, sizeof(*w));
		struct fault f[12];
		size_t nf = faults_for(topo[t], f), i;
		unsigned steps, k;

		world_init(w, topo[t][0], topo[t][1], topo[t][2]);
		steps = run(w);
		for (i = 0; i < nf; i++) {
			for (k = 0; k <= steps; k++) {
				world_init(w, topo[t][0], topo[t][1], topo[t][2]);
				w->f[0] = f[i];
				w->fault_step[0] = k;
				snprintf(w->trace, sizeof(w->trace),
					 "[topo %d fault %d %u-%u at step %u]", t, f[i].kind,
					 f[i].a, f[i].b, k);
				run(w);
				check_end(w);
				total++;
				/* A cut link, healed, never loses the process nor leaves it
				 * unrun; a restarted home always ends the move. */
				if (f[i].kind == 1)
					ck_assert_msg(runnable(w) == 1, "cut lost it %s", w->trace);
				if (f[i].kind == 4) /* held copies adopted: never lost */
					ck_assert_msg(runnable(w) == 1, "daemon restart lost it %s",
						      w->trace);
				kind_lost[f[i].kind] += runnable(w) == 0;
				kind_total[f[i].kind]++;
				if (runnable(w) == 0)
					lost++;
				else if (w->n[w->dst].copy == C_RUNNING)
					moved++;
				else
					stayed++;
			}
		}
		free(w);
	}
	model_scenarios += total;
	fprintf(stderr,
		"model fault matrix: %u scenarios: %u moved, %u stayed, %u lost (cut %u/%u, "
		"crash %u/%u, crash+restart home %u/%u, daemon restart %u/%u)\n",
		total, moved, stayed, lost, kind_lost[1], kind_total[1], kind_lost[2],
		kind_total[2], kind_lost[3], kind_total[3], kind_lost[4], kind_total[4]);
	ck_assert_uint_gt(moved, 0);
	ck_assert_uint_gt(stayed, 0);
}
END_TEST

/* Seeded random delays and one or two faults at random times. */
START_TEST(model_random)
{
	unsigned seed, total = 0, lost = 0, moved = 0, nseeds = 20000;

	if (getenv("MIGPROTO_SEEDS")) /* longer soak: MIGPROTO_SEEDS=1000000 */
		nseeds = (unsigned)strtoul(getenv("MIGPROTO_SEEDS"), NULL, 10);
	for (seed = 1; seed <= nseeds; seed++) {
		struct world *w = calloc(1, sizeof(*w));
		struct fault f[12];
		int t, i, nfault;
		size_t nf;

		w->rs = 0x9e3779b97f4a7c15ull * seed;
		t = (int)(w->rs % 3);
		world_init(w, topo[t][0], topo[t][1], topo[t][2]);
		w->rnd = true;
		w->rs = 0x9e3779b97f4a7c15ull * seed;
		nf = faults_for(topo[t], f);
		nfault = (int)(rnd_next(w) % 3); /* 0, 1 or 2 faults */
		for (i = 0; i < nfault; i++) {
			w->f[i] = f[rnd_next(w) % nf];
			w->fault_time[i] = w->now + rnd_next(w) % 6000;
		}
		snprintf(w->trace, sizeof(w->trace), "[random seed %u]", seed);
		run(w);
		check_end(w);
		total++;
		lost += runnable(w) == 0;
		moved += w->n[w->dst].alive && w->n[w->dst].copy == C_RUNNING;
		free(w);
	}
	fprintf(stderr, "model random: %u runs: %u moved, %u lost\n", total, moved, lost);
	ck_assert_uint_gt(moved, total / 4);
}
END_TEST

static void add_model_tests(TCase *tc)
{
	tcase_add_test(tc, model_fault_free);
	tcase_add_test(tc, model_fault_matrix);
	tcase_add_test(tc, model_random);
}

static Suite *migproto_suite(void)
{
	Suite *s = suite_create("migproto");
	TCase *tc = tcase_create("transitions");
	TCase *model = tcase_create("model");

	tcase_add_loop_test(tc, transition, 0, (int)NROWS);
	tcase_add_test(tc, table_covers_every_state);
	tcase_add_test(tc, init_rejects_bad_params);
	tcase_add_test(tc, step_rejects_bad_events_and_small_output);
	tcase_add_test(tc, wrong_sender_ignored);
	tcase_add_test(tc, home_equals_dst_and_src);
	tcase_add_test(tc, progress_moves_idle_deadline);
	tcase_add_test(tc, ready_timeout_scales_with_image);
	tcase_add_test(tc, doubt_backoff_and_report);
	tcase_add_test(tc, home_dead_grace);
	tcase_add_test(tc, home_waits_longer_when_src_died);
	tcase_add_test(tc, reasons_travel);
	tcase_add_test(tc, home_orphan_answers);
	tcase_add_test(tc, adopt_held_copy);
	tcase_add_test(tc, reborn_party_is_dead);
	tcase_add_test(tc, check_catches_corruption);
	suite_add_tcase(s, tc);
	add_model_tests(model);
	tcase_set_timeout(model, 120);
	suite_add_tcase(s, model);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(migproto_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
