/*
 * migproto_int.h - inside of the migration protocol machine, shared by migproto.c (init,
 * adopt, step dispatch, invariants, the helpers below) and migproto_roles.c (the per-role
 * transitions s_*, d_*, h_*). Not for other modules: use migproto.h.
 *
 * Assumes: called only from within migproto_step() / migproto_adopt() on a machine that
 * passed migproto_check(); nothing here fails or checks peer input.
 */
#ifndef SSI_MIGRATE_MIGPROTO_INT_H
#define SSI_MIGRATE_MIGPROTO_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "migrate/migproto.h"

/* The actions one step asks for, copied out to the caller only if they all fit. */
struct migproto_out {
	struct migproto_action a[MIGPROTO_MAX_ACTIONS];
	size_t n; /* used entries of a */
};

/* Append a; asserts room (no transition makes more than MIGPROTO_MAX_ACTIONS). */
void migproto_push(struct migproto_out *o, struct migproto_action a);

/* The node that plays role r in m's move (0 for no such role). */
uint16_t migproto_node_of(const struct migproto *m, enum migproto_role r);

/* Append a SEND of msg to the node playing r; with_err attaches m's error and reason (the
 * reason points into m, valid while m is). */
void migproto_send_to(struct migproto *m, struct migproto_out *o, enum migproto_role r,
		      enum migproto_msg msg, bool with_err);

/* Enter final state s: no deadline, no grace time. */
void migproto_finish(struct migproto *m, enum migproto_state s);

/* Enter waiting state s, timing out at deadline (ms). */
void migproto_wait_until(struct migproto *m, enum migproto_state s, uint64_t deadline);

/* Enter a state of doubt (S_DECIDING, D_READY) at now: query with back-off. */
void migproto_doubt(struct migproto *m, enum migproto_state s, uint64_t now);

/* The source's question in doubt: QUERY to home and to the destination. */
void migproto_s_query(struct migproto *m, struct migproto_out *o);

/* One event for a source / destination / home machine: makes the transition of m->state
 * (maybe none) and appends its actions to o. */
void migproto_s_step(struct migproto *m, const struct migproto_event *ev, struct migproto_out *o);
void migproto_d_step(struct migproto *m, const struct migproto_event *ev, struct migproto_out *o);
void migproto_h_step(struct migproto *m, const struct migproto_event *ev, struct migproto_out *o);

#endif
