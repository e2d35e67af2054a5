/*
 * relaybuf.c - offset bookkeeping of one relayed stdio stream (contract: relaybuf.h).
 *
 * The sender keeps its unacknowledged bytes in one linear array: acknowledged bytes are
 * dropped by moving head, and the array is compacted (memmove) only when an append would
 * not fit behind them, so each byte is copied at most a few times. Storage grows on demand
 * up to the window limit; an idle stream holds nothing once all is acknowledged.
 * Pure: no I/O, no clock, no logging.
 */
#include "ssid/relaybuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void relaybuf_tx_init(struct relaybuf_tx *tx, size_t limit)
{
	memset(tx, 0, sizeof(*tx));
	tx->limit = limit ? limit : RELAYBUF_DEFAULT_LIMIT;
}

void relaybuf_tx_free(struct relaybuf_tx *tx)
{
	free(tx->data);
	tx->data = NULL;
	tx->head = tx->alloc = 0;
}

static uint64_t top(const struct relaybuf_tx *tx)
{
	return tx->end + (tx->eof ? 1 : 0);
}

size_t relaybuf_tx_room(const struct relaybuf_tx *tx)
{
	uint64_t kept = tx->end - (tx->base < tx->end ? tx->base : tx->end);

	if (tx->eof || kept >= tx->limit)
		return 0;
	return tx->limit - (size_t)kept;
}

int relaybuf_tx_append(struct relaybuf_tx *tx, const void *d, size_t n)
{
	size_t kept = (size_t)(tx->end - tx->base);

	if (!n)
		return 0;
	if (tx->eof)
		return -EPIPE;
	if (n > relaybuf_tx_room(tx))
		return -ENOBUFS;
	if (tx->head + kept + n > tx->alloc) {
		if (kept + n <= tx->alloc) { /* fits once the acknowledged bytes are gone */
			memmove(tx->data, tx->data + tx->head, kept);
			tx->head = 0;
		} else {
			size_t want = tx->alloc ? tx->alloc * 2 : 65536;
			while (want < kept + n)
				want *= 2;
			if (want > tx->limit)
				want = tx->limit;
			uint8_t *nd = malloc(want);
			if (!nd)
				return -ENOMEM;
			if (kept)
				memcpy(nd, tx->data + tx->head, kept);
			free(tx->data);
			tx->data = nd;
			tx->alloc = want;
			tx->head = 0;
		}
	}
	memcpy(tx->data + tx->head + kept, d, n);
	tx->end += n;
	return 0;
}

void relaybuf_tx_close(struct relaybuf_tx *tx)
{
	tx->eof = 1;
}

int relaybuf_tx_next(const struct relaybuf_tx *tx, size_t max, uint64_t *off, const uint8_t **d,
		     size_t *n, int *eof)
{
	*off = tx->sent;
	*d = NULL;
	*n = 0;
	*eof = 0;
	if (tx->sent >= top(tx))
		return 0;
	if (tx->sent < tx->end) {
		uint64_t left = tx->end - tx->sent;
		*n = left < max ? (size_t)left : max;
		*d = tx->data + tx->head + (size_t)(tx->sent - tx->base);
		*eof = tx->eof && tx->sent + *n == tx->end;
		if (!*n && !*eof)
			return 0; /* max == 0 */
	} else {
		*eof = 1; /* only the EOF is left */
	}
	return 1;
}

void relaybuf_tx_sent(struct relaybuf_tx *tx, size_t n, int eof)
{
	uint64_t s = tx->sent + n + (eof ? 1 : 0);

	tx->sent = s < top(tx) ? s : top(tx);
}

int relaybuf_tx_ack(struct relaybuf_tx *tx, uint64_t off)
{
	if (off > top(tx))
		return -EINVAL;
	if (off <= tx->base)
		return 0;
	uint64_t upto = off < tx->end ? off : tx->end; /* bytes to forget end there */
	if (upto > tx->base)
		tx->head += (size_t)(upto - tx->base);
	tx->base = off;
	if (tx->base >= tx->end)
		tx->head = 0; /* nothing kept: start the array afresh */
	if (tx->sent < tx->base)
		tx->sent = tx->base;
	return 1;
}

void relaybuf_tx_rewind(struct relaybuf_tx *tx)
{
	tx->sent = tx->base;
}

void relaybuf_tx_rewind_to(struct relaybuf_tx *tx, uint64_t off)
{
	if (off < tx->base)
		off = tx->base;
	if (off < tx->sent)
		tx->sent = off;
}

uint64_t relaybuf_tx_unacked(const struct relaybuf_tx *tx)
{
	return top(tx) - tx->base;
}

uint64_t relaybuf_tx_unsent(const struct relaybuf_tx *tx)
{
	return top(tx) - tx->sent;
}

int relaybuf_tx_done(const struct relaybuf_tx *tx)
{
	return tx->eof && tx->base == top(tx);
}

void relaybuf_rx_init(struct relaybuf_rx *rx)
{
	memset(rx, 0, sizeof(*rx));
}

enum relaybuf_verdict relaybuf_rx_accept(struct relaybuf_rx *rx, uint64_t off, size_t len, int eof,
					 size_t *skip, int *eof_out)
{
	uint64_t last;

	*skip = 0;
	*eof_out = 0;
	eof = eof ? 1 : 0;
	if (off > UINT64_MAX - len - 1)
		return RELAYBUF_BAD;
	last = off + len + (uint64_t)eof; /* one past the piece's last position */
	if (last <= rx->delivered)
		return RELAYBUF_DUP;
	if (rx->eof)
		return RELAYBUF_BAD; /* positions after the end of the stream */
	if (off > rx->delivered)
		return RELAYBUF_GAP;
	*skip = (size_t)(rx->delivered - off);
	if (*skip > len)
		return RELAYBUF_BAD; /* cannot happen: off + len >= delivered when last > delivered */
	*eof_out = eof;
	rx->delivered = last;
	rx->eof = eof;
	return RELAYBUF_TAKE;
}
