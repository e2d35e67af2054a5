/*
 * relaybuf.h - offset bookkeeping of one relayed stdio stream (docs/protocol.md "STDIO
 * offsets and acknowledgements"): what the sending side keeps, what it sends or sends again,
 * and what the receiving side takes, drops as a duplicate or refuses as a gap.
 *
 * Owns: the bytes not yet acknowledged (sender) and the delivered offset (receiver). Does
 * not: do I/O, know about frames, peers, time or processes (ssid/mig.c drives it). Pure and
 * single-threaded: the caller serialises access.
 *
 * Offsets: byte positions in the stream since it started on this holder, from 0. The end of
 * the stream (EOF) counts as one more position, after the last byte, so that "EOF delivered"
 * is an acknowledgement like any other: a stream of n bytes and EOF is complete once the
 * receiver acknowledges n + 1.
 */
#ifndef SSI_RELAYBUF_H
#define SSI_RELAYBUF_H

#include <stddef.h>
#include <stdint.h>

/* Bytes a sender keeps unacknowledged per stream by default: when full, it stops reading
 * the process's pipe (the process blocks on write: back-pressure, nothing dropped). */
#define RELAYBUF_DEFAULT_LIMIT (4u << 20)

/* Sender. Invariant: base <= sent <= top and end - base <= limit, where top = end + eof. */
struct relaybuf_tx {
	uint8_t *data; /* bytes [base, end) at data + head (owned) */
	size_t head;   /* index of offset base in data */
	size_t alloc;  /* bytes allocated at data */
	size_t limit;  /* most bytes kept, > 0 */
	uint64_t base; /* acknowledged by the receiver: nothing below is kept */
	uint64_t sent; /* the next position to send */
	uint64_t end;  /* offset after the last byte appended */
	int eof;       /* 1: the stream ends at end (EOF is position end) */
};

/* An empty stream at offset 0 keeping at most limit bytes (0: RELAYBUF_DEFAULT_LIMIT).
 * Allocates nothing yet; relaybuf_tx_free() releases what appends allocated. */
void relaybuf_tx_init(struct relaybuf_tx *tx, size_t limit);
void relaybuf_tx_free(struct relaybuf_tx *tx);
/* Bytes that may be appended now: 0 when the window is full or EOF was appended. */
size_t relaybuf_tx_room(const struct relaybuf_tx *tx);
/* Append n bytes read from the process. 0 (always for n == 0), -ENOBUFS (n > room: nothing
 * appended), -EPIPE (after EOF), -ENOMEM. */
int relaybuf_tx_append(struct relaybuf_tx *tx, const void *d, size_t n);
/* Mark the end of the stream (the pipe's EOF). Idempotent. */
void relaybuf_tx_close(struct relaybuf_tx *tx);
/* The next piece to send, at most max data bytes: 1 with *off (its first position), *d
 * (borrowed, valid until the next append, ack or free), *n and *eof (1: the piece ends the
 * stream) set; 0 when everything was sent. It stays "next" until relaybuf_tx_sent(). */
int relaybuf_tx_next(const struct relaybuf_tx *tx, size_t max, uint64_t *off, const uint8_t **d,
		     size_t *n, int *eof);
/* The piece relaybuf_tx_next() returned went out (n bytes, eof as returned). */
void relaybuf_tx_sent(struct relaybuf_tx *tx, size_t n, int eof);
/* The receiver delivered everything below off: forget it. Returns 1 (progress), 0 (old or
 * repeated acknowledgement: nothing changes) or -EINVAL (off beyond anything appended: a
 * confused peer; nothing changes). sent never falls below base. */
int relaybuf_tx_ack(struct relaybuf_tx *tx, uint64_t off);
/* Send everything not acknowledged again, from base (a lost link, a gap at the receiver). */
void relaybuf_tx_rewind(struct relaybuf_tx *tx);
/* Send again from off (the receiver has everything below off but did not acknowledge it:
 * stdin, where "acknowledged" means "read by the process"): sent becomes off, clamped to
 * [base, sent] (never forward, never below base). */
void relaybuf_tx_rewind_to(struct relaybuf_tx *tx, uint64_t off);
/* Positions not acknowledged (bytes, plus 1 for an unacknowledged EOF). */
uint64_t relaybuf_tx_unacked(const struct relaybuf_tx *tx);
/* Positions appended but not sent since the last rewind. */
uint64_t relaybuf_tx_unsent(const struct relaybuf_tx *tx);
/* 1 when the stream ended and the receiver acknowledged all of it, EOF included. */
int relaybuf_tx_done(const struct relaybuf_tx *tx);

/* Receiver: the next position expected. */
struct relaybuf_rx {
	uint64_t delivered; /* positions delivered (EOF included once delivered) */
	int eof;	    /* EOF delivered */
};

enum relaybuf_verdict {
	RELAYBUF_TAKE = 1, /* deliver data[skip .. len) and then EOF if *eof_out */
	RELAYBUF_DUP,	   /* everything in it was delivered already: drop it, acknowledge */
	RELAYBUF_GAP,	   /* it starts beyond delivered (something before it was lost):
			    * drop it, ask for a resend from delivered */
	RELAYBUF_BAD,	   /* impossible positions (overflow, data after EOF): drop it */
};

void relaybuf_rx_init(struct relaybuf_rx *rx);
/* A piece {off, len bytes, eof} arrived. Returns a verdict; on RELAYBUF_TAKE *skip is the
 * number of leading bytes already delivered (< len, or == len when only the EOF is new) and
 * *eof_out whether to deliver EOF after the bytes; delivered has moved past the piece. */
enum relaybuf_verdict relaybuf_rx_accept(struct relaybuf_rx *rx, uint64_t off, size_t len, int eof,
					 size_t *skip, int *eof_out);

#endif
