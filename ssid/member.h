/*
 * member.h - membership and failure detection: the up/suspect/down state of every peer, from
 * the time its last heartbeat (or any frame) arrived. Pure: no I/O, no clock, no locks; the
 * caller passes the time (ms, monotonic) and serialises calls.
 *
 *            heard                      silence >= suspect_ms
 *   UNKNOWN --------> UP <------------------------------------+
 *                     |  \___________________ heard __________|___
 *                     | silence >= suspect_ms                 |   \
 *                     v                                       |    |
 *                  SUSPECT ----- silence >= down_ms ----> DOWN     |
 *                     |                                    |       |
 *                     +------------ heard --> UP <-- heard-+-------+
 *
 *   transition              made by
 *   UNKNOWN -> UP           member_heard()
 *   SUSPECT -> UP           member_heard()
 *   DOWN    -> UP           member_heard()   (a restarted or healed node rejoins)
 *   UP      -> SUSPECT      member_tick()    (now - last_heard >= suspect_ms)
 *   SUSPECT -> DOWN         member_tick()    (now - last_heard >= down_ms)
 *   UP      -> DOWN         member_tick()    (both limits passed in one tick, e.g. a stall)
 *   UNKNOWN -> DOWN         member_tick()    (never heard, down_ms after being added)
 *
 * Apart from the state: the peer's node incarnation from its HELLO (member_incarnation()),
 * which changes when the node's processes all died (a crash or reboot of the node), not when
 * only its daemon restarted. A change is recorded as reborn_ms, whatever the state.
 */
#ifndef SSI_MEMBER_H
#define SSI_MEMBER_H

#include <stddef.h>
#include <stdint.h>

#define MEMBER_MAX_ID 511

enum member_state {
	MEMBER_UNKNOWN = 0, /* added (configured or learned), never heard */
	MEMBER_UP,
	MEMBER_SUSPECT,
	MEMBER_DOWN,
};

struct member {
	int present;	       /* 1 if this id is a member */
	int state;	       /* enum member_state */
	int64_t since_ms;      /* when state last changed */
	int64_t last_heard_ms; /* last frame from it; the add time while UNKNOWN */
	uint64_t incarnation;  /* its node incarnation from its last HELLO, 0 = not known */
	int64_t reborn_ms;     /* when a new incarnation was last heard, 0 = never (since init) */
};

struct member_table {
	struct member m[MEMBER_MAX_ID + 1]; /* indexed by node id; [0] unused */
	int self;			    /* own id; never changes state */
	int64_t suspect_ms;		    /* > 0 */
	int64_t down_ms;		    /* > suspect_ms */
};

/* One state change, reported to the caller of member_heard()/member_tick(). */
struct member_change {
	int id;
	int from, to; /* enum member_state */
	int64_t t_ms;
};

/* Start a table for node self with the given time-outs. */
void member_init(struct member_table *t, int self, int64_t suspect_ms, int64_t down_ms);

/* Add id (1..511) at time now, UNKNOWN. No-op if present. Returns 0 or -EINVAL. */
int member_add(struct member_table *t, int id, int64_t now);

/* A frame from id arrived at now (adds it if absent). Returns 1 and fills *ch if the state
 * changed, 0 if not, -EINVAL for a bad id or self. */
int member_heard(struct member_table *t, int id, int64_t now, struct member_change *ch);

/* Apply time-outs at now. Writes up to cap changes to ch; returns how many happened
 * (may exceed cap: the extra ones are applied but not reported). */
int member_tick(struct member_table *t, int64_t now, struct member_change *ch, int cap);

/* id's HELLO at now says incarnation inc (0 = the peer does not say: ignored). Adds id if
 * absent; does not change its state (member_heard() does). Returns 1 if id came back as a new
 * incarnation (a different non-zero one was known: reborn_ms = now), 0 if not (the same, or
 * the first one known), -EINVAL for a bad id or self. */
int member_incarnation(struct member_table *t, int id, uint64_t inc, int64_t now);

/* State of id (MEMBER_UP for self, MEMBER_UNKNOWN if absent). */
int member_state(const struct member_table *t, int id);

/* "unknown", "up", "suspect", "down". Static. */
const char *member_state_str(int state);

/* Invariant check: 0 if the table is consistent, else -EINVAL. */
int member_check(const struct member_table *t);

#endif
