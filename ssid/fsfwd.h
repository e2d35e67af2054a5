/*
 * fsfwd.h - the forwarding side of /gfs: the local socket run_dir/gfs.sock where gprocfs --gfs
 * (running as root) sends FILE_REQ messages for any node, each prefixed with the node id
 * (fsmsg.h framing), and the path of each request to its node: this node's own requests go
 * to the local file service (fsrv) without the network, others over the SSH link as FILE_REQ
 * with a request id of this module, whose FILE_REPLY is routed back to the asking socket.
 *
 * Owns: the socket (mode 0600; a connection from a uid other than 0 is refused, since the
 * uid inside each request is believed), the table of requests in flight, and the time-out:
 * a request not answered within timeout_ms (node unreachable, link cut) is answered -EIO and
 * logged; one that could not be sent yet (no link) is retried every 100 ms until then.
 * Does not own: the links, the serving of files (fsrv), or what a reply means.
 */
#ifndef SSI_FSFWD_H
#define SSI_FSFWD_H

#include "ssid/cluster.h"
#include "ssid/fsrv.h"

#include <stddef.h>

struct fsfwd;

/* Open run_dir/gfs.sock and start the thread that serves it; register the FILE_REPLY handler
 * with c (before cluster_start()). srv (borrowed, outlives the fsfwd) serves self_id's own
 * requests. Returns 0 or a negative code with err saying what to fix. (ssid's main loop runs
 * gprocfs --gfs on the mount point, fusesup.h.) */
int fsfwd_new(struct fsfwd **out, struct cluster *c, struct fsrv *srv, int self_id,
	      const char *run_dir, int timeout_ms, char *err, size_t errlen);

/* Requests in flight now (for status and tests). */
size_t fsfwd_pending(struct fsfwd *f);

/* Stop the thread (nothing more is sent to peers). Call after /gfs is unmounted and before the
 * links go. Idempotent; NULL ok. */
void fsfwd_stop(struct fsfwd *f);

/* fsfwd_stop(), close the socket and unlink it, free. Call after the links are gone (their
 * threads call into it) and after fsrv_stop() (its workers answer into it). NULL ok. */
void fsfwd_free(struct fsfwd *f);

#endif
