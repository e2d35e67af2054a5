/*
 * pending.h - requests this daemon sent to peers and is waiting for: one entry per request id,
 * filled by the link thread that receives the reply, waited for (with a deadline) by the thread
 * that asked. Used by the process table (PROC_TABLE_REQ, several reply frames) and signals.
 *
 * Owns: request ids (unique per table, never 0), the list of outstanding entries, one mutex
 * and one condition variable (CLOCK_MONOTONIC). Does not own: the entries (the asking thread
 * keeps them, usually on its stack, and must pending_del() each before it goes away), sending.
 * Replies for ids not (or no longer) in the table are dropped: a late reply is harmless.
 */
#ifndef SSI_PENDING_H
#define SSI_PENDING_H

#include "ssid/buf.h"

#include <stddef.h>
#include <stdint.h>

struct pending;

/* One outstanding request. Fields below the line are written under the table's lock by
 * pending_deliver(); read them only after pending_wait() says done, or after pending_del(). */
struct pending_req {
	int peer;	/* node the request went to */
	uint32_t reqid; /* set by pending_add() */
	size_t max;	/* data limit in bytes (0: 16 MiB) */
	/* ---- */
	int done;	 /* 1: the last reply frame arrived (or pending_fail() ran) */
	int err;	 /* 0, or a negative code (data over max, link gone, ...) */
	int32_t value;	 /* small result carried by the reply (SIGNAL: errno) */
	struct buf data; /* concatenated reply data (the caller buf_free()s it) */
	struct pending_req *next;
};

/* New empty table. 0 or -ENOMEM. */
int pending_new(struct pending **out);
/* Free the table (no entries may be left). NULL is fine. */
void pending_free(struct pending *p);

/* Register r for a request to peer (r->max may be set before): zeroes the reply fields and
 * assigns r->reqid. r must stay valid until pending_del(r). */
void pending_add(struct pending *p, struct pending_req *r, int peer);
/* Unregister r: no more frames are delivered to it. Its fields stay readable; the caller
 * frees r->data (buf_free) when done. Safe if r was never added or already deleted. */
void pending_del(struct pending *p, struct pending_req *r);

/* A reply frame for reqid from peer (link thread): appends len bytes of data (NULL allowed
 * with len 0); last = 1 completes the request with value. Returns 0, or -ENOENT if no such
 * request is outstanding for that peer (the frame is ignored). */
int pending_deliver(struct pending *p, uint32_t reqid, int peer, const void *data, size_t len,
		    int last, int32_t value);
/* Complete the request reqid (from peer) with error err (e.g. an ERROR reply). 0 or -ENOENT. */
int pending_fail(struct pending *p, uint32_t reqid, int peer, int err);

/* Wait until every one of reqs[0..n) is done or the monotonic clock (ms, cluster_mono_ms())
 * reaches deadline_ms. Returns how many are done. */
size_t pending_wait(struct pending *p, struct pending_req *const *reqs, size_t n,
		    int64_t deadline_ms);

#endif
