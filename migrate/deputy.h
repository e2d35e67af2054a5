/*
 * deputy.h - the deputy runtime (grun) and the local protocol between the tools (grun,
 * gmigrate) and the node daemon's migration module (ssid/mig.c) on run_dir/mig.sock.
 *
 * Owns: the framing and message numbers of that socket, and deputy_run(): start a command
 * as a child, register it with the local ssid, relay its stdio while it runs elsewhere,
 * forward signals, and end with its exit status. Does not: move processes (ssid does).
 * Assumes: one ssid per node listening on run_dir/mig.sock (root), SO_PEERCRED identifies
 * the caller; a deputy keeps its connection open for the process's whole life (the daemon
 * kills the process when that connection closes).
 *
 * Framing (both ways): u32 body length, u16 type, body (big-endian, struct buf encodings).
 */
#ifndef SSI_MIGRATE_DEPUTY_H
#define SSI_MIGRATE_DEPUTY_H

#include "ssid/buf.h"

#include <stddef.h>
#include <stdint.h>

#define DEPUTY_SOCK_NAME "mig.sock"
#define DEPUTY_MAX_MSG	 (2u << 20)

/* stdin of a process away from grun: bytes ssid keeps until the process read them. */
#define DEPUTY_STDIN_WINDOW (1u << 20)

enum deputy_type {
	DEPUTY_REGISTER = 1,  /* grun->ssid: u32 pid (its child), str cmd */
	DEPUTY_REGISTERED,    /* ssid->grun: u32 gpid */
	DEPUTY_CHILD,	      /* grun->ssid: i64 wait status of the local child (it was reaped) */
	DEPUTY_SIGNAL,	      /* grun->ssid: u32 signo (deliver wherever the process runs) */
	DEPUTY_STDIN,	      /* grun->ssid: u8 eof, bytes data */
	DEPUTY_OUTPUT,	      /* ssid->grun: u8 stream (1, 2), u8 eof, bytes data */
	DEPUTY_WHERE,	      /* ssid->grun: u16 node now holding the process */
	DEPUTY_EXIT,	      /* ssid->grun: i64 wait status, str text ("" or why it was lost) */
	DEPUTY_MIGRATE,	      /* gmigrate->ssid: u32 gpid, u16 destination node */
	DEPUTY_PROGRESS,      /* ssid->gmigrate: str step */
	DEPUTY_RESULT,	      /* ssid->gmigrate: struct deputy_result */
	DEPUTY_ERROR,	      /* ssid->client: i64 code, str text (request refused) */
	DEPUTY_REATTACH = 32, /* grun->ssid: u32 gpid: its deputy again, after ssid restarted;
			       * answer REGISTERED then WHERE, kept OUTPUT/EXIT, or ERROR */

	/* ssid->grun: u64 limit: grun may send STDIN bytes until it sent limit in all on this
	 * connection (it starts with DEPUTY_STDIN_WINDOW); an older grun ignores it */
	DEPUTY_STDIN_CREDIT = 33,
};

/* Outcome of one migration as reported to gmigrate. Durations in ms, -1 = not reached. */
struct deputy_result {
	int64_t err; /* 0 = moved */
	uint16_t from, to;
	uint64_t mig_id;
	uint64_t bytes;
	int64_t freeze_ms, transfer_ms, restore_ms, total_ms;
	char text[512]; /* error text, "" if moved */
};

int deputy_result_put(struct buf *b, const struct deputy_result *r);
int deputy_result_get(struct buf *b, struct deputy_result *r);

/* Write one whole message on a blocking fd (EINTR retried). 0 or -errno. */
int deputy_send(int fd, uint16_t type, const struct buf *body);
/* Read one whole message from a blocking fd into body (reset first). 0, -ECONNRESET at EOF,
 * SSI_E_TOOBIG, -errno. */
int deputy_recv(int fd, uint16_t *type, struct buf *body);
/* Cut one message out of the bytes in in (non-blocking readers): 1 = *type set and body a
 * view over the message body (valid until in changes), 0 = need more, SSI_E_TOOBIG. */
int deputy_split(struct buf *in, uint16_t *type, struct buf *body);
/* Append one framed message of type with body bytes to out. 0 or a buf error. */
int deputy_frame(struct buf *out, uint16_t type, const struct buf *body);

/* Connect to run_dir/mig.sock. Returns the fd or -errno; err says what to fix. */
int deputy_connect(const char *run_dir, char *err, size_t errlen);

/* grun: run argv as a deputy-managed process (see grun(1)); node > 0: move it there at
 * once after it started (it runs here if that fails, with a message). Returns the exit code
 * for grun (or raises the child's fatal signal and does not return). Prints its own errors
 * to stderr with prefix "grun: ". */
int deputy_run(const char *run_dir, char **argv, int node);

#endif
