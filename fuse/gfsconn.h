/*
 * gfsconn.h - gprocfs --gfs's line to its ssid: the socket run_dir/gfs.sock (fsfwd.h), where
 * FILE_REQ messages for any node go out with request ids of their own, many in flight at
 * once from many FUSE threads, and one reader thread hands each FILE_REPLY to its caller.
 *
 * Owns the socket, the reader thread and the table of waiting callers. Reconnects (at the
 * next call) after the daemon went away. Thread-safe. Never logs.
 */
#ifndef SSI_GFSCONN_H
#define SSI_GFSCONN_H

#include "ssid/wire.h"

#include <stddef.h>
#include <stdint.h>

struct gfsconn;

/* Connect to path. wait_ms: the longest a call waits for its reply (the daemon answers -EIO
 * itself after its own time-out; this guards against a hung daemon). err says what to fix. */
int gfsconn_open(struct gfsconn **out, const char *path, int wait_ms, char *err, size_t errlen);

/* Send req (a FILE_REQ; its reqid is set here) to node and wait for the answer, decoded into
 * *rep (call wire_msg_free(rep) after a 0 return). Returns 0 (the file result is
 * rep->u.file_reply.err), or -EIO: no daemon, the socket broke, or no answer in wait_ms. */
int gfsconn_call(struct gfsconn *c, uint32_t node, struct wire_msg *req, struct wire_msg *rep);

/* Called once per asynchronous call: r = 0 with the reply (valid during the call), or -EIO
 * with rep NULL (the socket broke). Runs on the reader thread: must not call gfsconn. */
typedef void (*gfsconn_cb)(void *ctx, int r, const struct wire_msg *rep);

/* As gfsconn_call without waiting: cb gets the answer. Returns 0 (cb will be called exactly
 * once, perhaps before this returns), or -EIO / -ENOMEM (cb will not be called). No time-out
 * of its own: the daemon answers every request (EIO after its time-out) or the socket breaks. */
int gfsconn_call_async(struct gfsconn *c, uint32_t node, struct wire_msg *req, gfsconn_cb cb,
		       void *ctx);

/* Close the socket, fail waiting calls, stop the reader, free. Safe with NULL. */
void gfsconn_close(struct gfsconn *c);

#endif
