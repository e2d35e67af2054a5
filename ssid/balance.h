/*
 * balance.h - automatic moves: the daemon's glue between its facts and the pure policy
 * (policy.h; docs/balancing.md "In the daemon"). Owns: once per [balance] interval_ms, on the
 * migration coordinator thread, gathering the inputs (load pair and node table from this
 * daemon's control socket, movable grun'd processes here from /proc, pending moves, B_eff from
 * the store), policy_decide(), and starting its move the way gmigrate does (the home decides
 * for a guest); history reason "auto: ...", run_dir/balance.status, a log line per move.
 * Does not: decide (policy.c), move bytes (mig*.c), judge admission (admit.h). Off unless
 * [balance] enabled = yes. Threads: the coordinator thread of struct mig only.
 */
#ifndef SSI_BALANCE_H
#define SSI_BALANCE_H

#include "ssid/config.h"

#include <stdint.h>

struct mig;
struct mig_ev;
struct balance;

/* Request ids of MOVE_REQs sent by the balancer carry this bit (gmigrate's forwarded ones
 * never do), so the home marks the move automatic in its history. */
#define BALANCE_REQ_AUTO    0x80000000u
#define BALANCE_STATUS_NAME "balance.status" /* in run_dir */

/* State for cfg (borrowed, must outlive it) on node self; writes the status file once
 * (balancing on or off). 0 or -ENOMEM. */
int balance_new(struct balance **out, const struct config *cfg, int self);
/* Safe with NULL. */
void balance_free(struct balance *b);

/* Every turn of the coordinator loop: one decision when the interval has elapsed (a move
 * may be started); lowers *tmo_ms to the next decision. Nothing when off or b is NULL. */
void balance_tick(struct mig *m, struct balance *b, int *tmo_ms);

/* After the loop handled ev (a MOVE_REQ / MOVE_RESULT / ERROR): the home marks an automatic
 * request's history row; the asking node logs the home's answer to its own request. */
void balance_wire_ev(struct mig *m, struct balance *b, const struct mig_ev *ev);

/* Read run_dir's status line (for ssictl) into out: "on: ..." / "off: ...". 0, or a negative
 * errno (-ENOENT: the daemon never wrote one). */
int balance_status_read(const char *run_dir, char *out, size_t cap);

#endif
