/*
 * fsrv.h - the serving side of /gfs: this node's files, for FILE_REQ messages from peers and
 * from the local gprocfs --gfs (through fsfwd), each run with the caller's rights.
 *
 * Owns: a pool of worker threads, the table of open file handles, and per-thread credentials:
 * before each request a worker sets its own fsuid, fsgid and supplementary groups with the
 * raw system calls (glibc's setgroups()/setresuid() would change every thread of the daemon).
 * A request of uid U is never run with root's rights unless U is 0: the kernel drops the
 * file-system capabilities of a thread whose fsuid is not 0.
 * Does not own: the links (replies to peers go out through cluster_send()), the local socket
 * (fsfwd.c), or which uid a peer may claim (a peer daemon is trusted as authenticated).
 * Handles: an fh is valid only for the peer (node, or local client) and uid that opened it;
 * an fh of an earlier instance of this server (before a restart) is refused with ESTALE, so
 * the client reopens by path (fsmsg.h fsmsg_should_reopen).
 */
#ifndef SSI_FSRV_H
#define SSI_FSRV_H

#include "ssid/cluster.h"
#include "ssid/wire.h"

#include <stddef.h>
#include <stdint.h>

struct fsrv;

/* Called on a worker thread with the FILE_REPLY (reply and its data live for the call only).
 * reqid is the request's own id. */
typedef void (*fsrv_done_fn)(void *ctx, uint32_t reqid, const struct wire_msg *reply);

/* Start nthreads workers (1..64). With c non-NULL, register the FILE_REQ handler (call before
 * cluster_start()); replies to peers go back with cluster_send(). Returns 0 or a negative
 * code; err says what failed. */
int fsrv_new(struct fsrv **out, struct cluster *c, int nthreads, char *err, size_t errlen);

/* Queue one encoded FILE_REQ frame (copied) from peer (> 0: a node id; <= 0: a local client
 * of the caller's numbering, whose handles are its own) to be served; done
 * (NULL: send the reply to peer over the cluster) gets the reply. Returns 0, -ENOMEM, or
 * -ESHUTDOWN after fsrv_free() began. */
int fsrv_submit_frame(struct fsrv *s, int peer, const void *frame, size_t len, fsrv_done_fn done,
		      void *ctx);

/* Open handles held for peer, e.g. for status; closes nothing. */
size_t fsrv_handles(struct fsrv *s, int peer);
/* Close every handle of peer (a local client that went away); handles in use are closed
 * when their request finishes. Returns how many were closed or marked. */
size_t fsrv_close_peer(struct fsrv *s, int peer);

/* Stop the workers (queued requests are dropped unanswered; later submits get -ESHUTDOWN).
 * Call before the links go (workers send replies through them). Idempotent; NULL ok. */
void fsrv_stop(struct fsrv *s);

/* fsrv_stop(), close every handle, free. Call after the links are gone (their threads submit
 * requests). Safe with NULL. */
void fsrv_free(struct fsrv *s);

#endif
