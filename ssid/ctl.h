/*
 * ctl.h - the control socket run_dir/ssid.sock: local programs (ssictl, gps, ...) ask the
 * daemon questions and give it orders.
 *
 * Owns: the socket, the framing, the caller's credentials (SO_PEERCRED) and the request table
 * {type, flags, handler}. Requests of a type not in the table are answered -EOPNOTSUPP; a
 * CTL_ROOT_ONLY request from another uid is answered -EPERM. Does not own what requests mean.
 *
 * Framing (both directions, big-endian through struct buf):
 *   request  = u32 body length, u16 type, u16 reserved (0), body
 *   response = u32 body length, i32 status (0 or negative code), body
 * A connection may carry several requests; bodies are at most CTL_MAX_MSG bytes.
 * Threads: ctl_server_* are called from one thread (the daemon's main loop).
 */
#ifndef SSI_CTL_H
#define SSI_CTL_H

#include "ssid/buf.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CTL_SOCK_NAME "ssid.sock"
#define CTL_MAX_MSG   (16u << 20)
#define CTL_TYPES     256

/* Request types. Numbers are fixed; modules of other engineers take free numbers >= 32. */
enum ctl_type {
	CTL_STATUS = 1, /* -> client_status encoding (client.h) */
	CTL_NODES = 2,	/* -> u16 count + client_node encodings */
	CTL_EVENTS = 3, /* u32 limit -> u32 count + client_event encodings */
	CTL_BLOCK = 44, /* u8 blocked (1 block, 0 unblock) -> empty; root (ssictl block) */
};

#define CTL_ROOT_ONLY 1u

struct ctl_caller {
	pid_t pid;
	uid_t uid;
	gid_t gid;
};

/* A handler reads the request body from req and appends the reply body to reply. Returns the
 * status sent back (0 or negative code); on a negative status the reply body is dropped. */
typedef int (*ctl_handler)(void *ctx, const struct ctl_caller *who, struct buf *req,
			   struct buf *reply);

struct ctl_server;

/* Create the socket at path (a stale socket file is replaced; a live one is -EADDRINUSE),
 * mode 0666 (each request checks the caller). err names the path and the fix. */
int ctl_server_open(struct ctl_server **out, const char *path, char *err, size_t errlen);
/* Register fn for type (< CTL_TYPES). -EEXIST if taken. */
int ctl_server_add(struct ctl_server *s, uint16_t type, unsigned flags, ctl_handler fn, void *ctx);
/* The listening descriptor to poll for POLLIN. */
int ctl_server_fd(const struct ctl_server *s);
/* Accept one connection and answer its requests until it closes or is idle for 1 s.
 * Returns 0 or negative (the connection is dropped; the server stays usable). */
int ctl_server_serve(struct ctl_server *s);
/* Close and unlink the socket. Safe with NULL. */
void ctl_server_free(struct ctl_server *s);

/* Framing helpers shared with client.c. Read/write one whole message on fd (EINTR retried).
 * ctl_recv reads the 4-byte length, then hdr_len more header bytes into *hdr, then the body
 * into body. Returns 0, -ECONNRESET at a clean EOF before a message, SSI_E_TOOBIG, -errno. */
int ctl_send(int fd, const void *hdr, size_t hdr_len, const struct buf *body);
int ctl_recv(int fd, void *hdr, size_t hdr_len, struct buf *body);

#endif
