/*
 * test_relaybuf.c - Check suite for ssid/relaybuf.c: window and back-pressure, send/ack/
 * rewind, EOF as a position, receiver verdicts, and a randomised lossy link (pieces lost,
 * repeated, reordered, acks lost) against the plain byte string it must reproduce.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ssid/relaybuf.h"

START_TEST(window_and_backpressure)
{
	struct relaybuf_tx tx;
	uint8_t d[100];

	memset(d, 'x', sizeof(d));
	relaybuf_tx_init(&tx, 250);
	ck_assert_uint_eq(relaybuf_tx_room(&tx), 250);
	ck_assert_int_eq(relaybuf_tx_append(&tx, d, 100), 0);
	ck_assert_int_eq(relaybuf_tx_append(&tx, d, 100), 0);
	ck_assert_uint_eq(relaybuf_tx_room(&tx), 50);
	ck_assert_int_eq(relaybuf_tx_append(&tx, d, 51), -ENOBUFS); /* nothing appended */
	ck_assert_uint_eq(tx.end, 200);
	ck_assert_int_eq(relaybuf_tx_append(&tx, d, 50), 0);
	ck_assert_uint_eq(relaybuf_tx_room(&tx), 0);
	/* sending frees nothing; only an acknowledgement does */
	uint64_t off;
	const uint8_t *p;
	size_t n;
	int eof;
	ck_assert_int_eq(relaybuf_tx_next(&tx, 1000, &off, &p, &n, &eof), 1);
	ck_assert_uint_eq(off, 0);
	ck_assert_uint_eq(n, 250);
	relaybuf_tx_sent(&tx, n, eof);
	ck_assert_uint_eq(relaybuf_tx_room(&tx), 0);
	ck_assert_int_eq(relaybuf_tx_ack(&tx, 120), 1);
	ck_assert_uint_eq(relaybuf_tx_room(&tx), 120);
	ck_assert_uint_eq(relaybuf_tx_unacked(&tx), 130);
	relaybuf_tx_free(&tx);
}
END_TEST

START_TEST(send_ack_rewind)
{
	struct relaybuf_tx tx;
	uint8_t d[10] = "0123456789";
	uint64_t off;
	const uint8_t *p;
	size_t n;
	int eof;

	relaybuf_tx_init(&tx, 0);
	ck_assert_int_eq(relaybuf_tx_next(&tx, 4, &off, &p, &n, &eof), 0); /* nothing yet */
	ck_assert_int_eq(relaybuf_tx_append(&tx, d, 10), 0);
	ck_assert_int_eq(relaybuf_tx_next(&tx, 4, &off, &p, &n, &eof), 1);
	ck_assert_uint_eq(off, 0);
	ck_assert_uint_eq(n, 4);
	ck_assert_int_eq(eof, 0);
	ck_assert_mem_eq(p, "0123", 4);
	relaybuf_tx_sent(&tx, n, eof);
	ck_assert_int_eq(relaybuf_tx_next(&tx, 4, &off, &p, &n, &eof), 1);
	ck_assert_uint_eq(off, 4);
	ck_assert_mem_eq(p, "4567", 4);
	relaybuf_tx_sent(&tx, n, eof);
	/* acknowledged up to 2: a rewind sends from 2 again, never below */
	ck_assert_int_eq(relaybuf_tx_ack(&tx, 2), 1);
	ck_assert_int_eq(relaybuf_tx_ack(&tx, 2), 0); /* repeated: no progress */
	ck_assert_int_eq(relaybuf_tx_ack(&tx, 1), 0); /* old */
	relaybuf_tx_rewind(&tx);
	ck_assert_int_eq(relaybuf_tx_next(&tx, 100, &off, &p, &n, &eof), 1);
	ck_assert_uint_eq(off, 2);
	ck_assert_uint_eq(n, 8);
	ck_assert_mem_eq(p, "23456789", 8);
	/* an acknowledgement of more than was ever appended is refused */
	ck_assert_int_eq(relaybuf_tx_ack(&tx, 11), -EINVAL);
	/* an ack beyond sent (data sent before a rewind) moves sent along */
	ck_assert_int_eq(relaybuf_tx_ack(&tx, 9), 1);
	ck_assert_uint_eq(tx.sent, 9);
	ck_assert_int_eq(relaybuf_tx_next(&tx, 100, &off, &p, &n, &eof), 1);
	ck_assert_uint_eq(off, 9);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(*p, '9');
	relaybuf_tx_free(&tx);
}
END_TEST

START_TEST(eof_is_a_position)
{
	struct relaybuf_tx tx;
	uint64_t off;
	const uint8_t *p;
	size_t n;
	int eof;

	relaybuf_tx_init(&tx, 0);
	ck_assert_int_eq(relaybuf_tx_append(&tx, "abc", 3), 0);
	relaybuf_tx_close(&tx);
	ck_assert_uint_eq(relaybuf_tx_room(&tx), 0);
	ck_assert_int_eq(relaybuf_tx_append(&tx, "d", 1), -EPIPE);
	ck_assert_uint_eq(relaybuf_tx_unacked(&tx), 4);
	ck_assert_int_eq(relaybuf_tx_next(&tx, 2, &off, &p, &n, &eof), 1);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(eof, 0);
	relaybuf_tx_sent(&tx, n, eof);
	ck_assert_int_eq(relaybuf_tx_next(&tx, 2, &off, &p, &n, &eof), 1);
	ck_assert_uint_eq(off, 2);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(eof, 1); /* the last byte and the EOF travel together */
	relaybuf_tx_sent(&tx, n, eof);
	ck_assert_int_eq(relaybuf_tx_next(&tx, 2, &off, &p, &n, &eof), 0);
	ck_assert_int_eq(relaybuf_tx_ack(&tx, 3), 1);
	ck_assert_int_eq(relaybuf_tx_done(&tx), 0); /* bytes delivered, EOF not yet */
	relaybuf_tx_rewind(&tx);
	ck_assert_int_eq(relaybuf_tx_next(&tx, 2, &off, &p, &n, &eof), 1);
	ck_assert_uint_eq(off, 3);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(eof, 1); /* only the EOF is resent */
	ck_assert_int_eq(relaybuf_tx_ack(&tx, 4), 1);
	ck_assert_int_eq(relaybuf_tx_done(&tx), 1);
	ck_assert_uint_eq(relaybuf_tx_unacked(&tx), 0);
	relaybuf_tx_free(&tx);

	/* an empty stream: EOF alone is position 0 */
	relaybuf_tx_init(&tx, 0);
	relaybuf_tx_close(&tx);
	ck_assert_int_eq(relaybuf_tx_next(&tx, 10, &off, &p, &n, &eof), 1);
	ck_assert_uint_eq(off, 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(eof, 1);
	ck_assert_int_eq(relaybuf_tx_ack(&tx, 1), 1);
	ck_assert_int_eq(relaybuf_tx_done(&tx), 1);
	relaybuf_tx_free(&tx);
}
END_TEST

START_TEST(rx_verdicts)
{
	struct relaybuf_rx rx;
	size_t skip;
	int eof;

	relaybuf_rx_init(&rx);
	ck_assert_int_eq(relaybuf_rx_accept(&rx, 0, 10, 0, &skip, &eof), RELAYBUF_TAKE);
	ck_assert_uint_eq(skip, 0);
	ck_assert_uint_eq(rx.delivered, 10);
	ck_assert_int_eq(relaybuf_rx_accept(&rx, 0, 10, 0, &skip, &eof), RELAYBUF_DUP);
	ck_assert_int_eq(relaybuf_rx_accept(&rx, 5, 5, 0, &skip, &eof), RELAYBUF_DUP);
	ck_assert_int_eq(relaybuf_rx_accept(&rx, 11, 5, 0, &skip, &eof), RELAYBUF_GAP);
	ck_assert_uint_eq(rx.delivered, 10); /* a gap changes nothing */
	/* overlapping: only the new part is taken */
	ck_assert_int_eq(relaybuf_rx_accept(&rx, 6, 10, 0, &skip, &eof), RELAYBUF_TAKE);
	ck_assert_uint_eq(skip, 4);
	ck_assert_uint_eq(rx.delivered, 16);
	/* EOF alone after bytes already delivered */
	ck_assert_int_eq(relaybuf_rx_accept(&rx, 10, 6, 1, &skip, &eof), RELAYBUF_TAKE);
	ck_assert_uint_eq(skip, 6);
	ck_assert_int_eq(eof, 1);
	ck_assert_uint_eq(rx.delivered, 17);
	ck_assert_int_eq(relaybuf_rx_accept(&rx, 16, 0, 1, &skip, &eof), RELAYBUF_DUP);
	ck_assert_int_eq(relaybuf_rx_accept(&rx, 17, 3, 0, &skip, &eof), RELAYBUF_BAD);
	ck_assert_int_eq(relaybuf_rx_accept(&rx, UINT64_MAX - 2, 5, 0, &skip, &eof), RELAYBUF_BAD);
}
END_TEST

/* A lossy link between one sender and one receiver: each piece sent is lost, delivered, or
 * delivered twice; acknowledgements are lost at random; when nothing moves the sender
 * rewinds (what mig.c does on its resend timer or on a gap report). The receiver's output
 * must be the input exactly, and the sender must end with everything acknowledged. */
START_TEST(lossy_link_is_exact)
{
	enum {
		LEN = 300000,
		MAXQ = 64
	};
	uint8_t *src = malloc(LEN), *dst = malloc(LEN);
	size_t fed = 0, got = 0;
	struct relaybuf_tx tx;
	struct relaybuf_rx rx;
	struct piece {
		uint64_t off;
		size_t n;
		int eof;
		uint8_t d[4096];
	} *q = malloc(MAXQ * sizeof(*q));
	unsigned seed = 12345u + (unsigned)_i;
	int nq = 0, got_eof = 0, rounds = 0;

	ck_assert_ptr_nonnull(src);
	ck_assert_ptr_nonnull(dst);
	ck_assert_ptr_nonnull(q);
	for (size_t i = 0; i < LEN; i++)
		src[i] = (uint8_t)(rand_r(&seed) & 0xff);
	relaybuf_tx_init(&tx, 20000); /* a small window: back-pressure happens often */
	relaybuf_rx_init(&rx);
	while (!relaybuf_tx_done(&tx) && rounds++ < 1000000) {
		/* the process writes what fits */
		size_t room = relaybuf_tx_room(&tx), n = (size_t)(rand_r(&seed) % 5000);
		if (n > room)
			n = room;
		if (n > LEN - fed)
			n = LEN - fed;
		ck_assert_int_eq(relaybuf_tx_append(&tx, src + fed, n), 0);
		fed += n;
		if (fed == LEN)
			relaybuf_tx_close(&tx);
		/* the sender puts pieces on the link */
		uint64_t off;
		const uint8_t *p;
		int eof;
		while (nq < MAXQ &&
		       relaybuf_tx_next(&tx, 1 + rand_r(&seed) % 4096, &off, &p, &n, &eof)) {
			q[nq] = (struct piece){.off = off, .n = n, .eof = eof};
			memcpy(q[nq].d, p, n);
			relaybuf_tx_sent(&tx, n, eof);
			int fate = (int)(rand_r(&seed) % 10);
			if (fate == 0)
				continue; /* lost */
			nq++;
			if (fate == 1 && nq < MAXQ) { /* repeated */
				q[nq] = q[nq - 1];
				nq++;
			}
		}
		if (nq > 1 && rand_r(&seed) % 4 == 0) { /* two pieces swap places */
			struct piece t = q[0];
			q[0] = q[1];
			q[1] = t;
		}
		/* the receiver takes them */
		int progress = 0, gap = 0;
		for (int i = 0; i < nq; i++) {
			size_t skip;
			int e;
			enum relaybuf_verdict v =
				relaybuf_rx_accept(&rx, q[i].off, q[i].n, q[i].eof, &skip, &e);
			ck_assert_int_ne(v, RELAYBUF_BAD);
			if (v == RELAYBUF_GAP)
				gap = 1;
			if (v == RELAYBUF_DUP &&
			    rand_r(&seed) % 3) /* duplicates are acknowledged */
				progress |= relaybuf_tx_ack(&tx, rx.delivered) > 0;
			if (v != RELAYBUF_TAKE)
				continue;
			ck_assert_uint_le(got + q[i].n - skip, LEN);
			memcpy(dst + got, q[i].d + skip, q[i].n - skip);
			got += q[i].n - skip;
			got_eof |= e;
			if (rand_r(&seed) % 3) /* the acknowledgement may be lost */
				progress |= relaybuf_tx_ack(&tx, rx.delivered) > 0;
		}
		nq = 0;
		if (gap || (!progress && rand_r(&seed) % 3 == 0))
			relaybuf_tx_rewind(&tx); /* a gap report, or the resend timer */
	}
	ck_assert_int_eq(relaybuf_tx_done(&tx), 1);
	ck_assert_int_eq(got_eof, 1);
	ck_assert_uint_eq(got, LEN);
	ck_assert_mem_eq(dst, src, LEN);
	ck_assert_uint_eq(rx.delivered, (uint64_t)LEN + 1);
	relaybuf_tx_free(&tx);
	free(q);
	free(src);
	free(dst);
}
END_TEST

/* stdin: the receiver holds bytes it did not acknowledge (the process has not read them): a
 * resend starts after what it holds, never before base, never forward; after a move the
 * exact read offset is acknowledged and everything above it goes to the next holder. */
START_TEST(rewind_to_received)
{
	struct relaybuf_tx tx;
	uint8_t d[10] = "0123456789";
	uint64_t off;
	const uint8_t *p;
	size_t n;
	int eof;

	relaybuf_tx_init(&tx, 0);
	ck_assert_int_eq(relaybuf_tx_append(&tx, d, 10), 0);
	relaybuf_tx_close(&tx);
	ck_assert_int_eq(relaybuf_tx_next(&tx, 100, &off, &p, &n, &eof), 1);
	ck_assert_int_eq(eof, 1);
	relaybuf_tx_sent(&tx, n, eof);
	ck_assert_uint_eq(tx.sent, 11);
	ck_assert_int_eq(relaybuf_tx_ack(&tx, 3), 1); /* read by the process */
	relaybuf_tx_rewind_to(&tx, 6);		      /* received up to 6 */
	ck_assert_uint_eq(tx.sent, 6);
	ck_assert_int_eq(relaybuf_tx_next(&tx, 100, &off, &p, &n, &eof), 1);
	ck_assert_uint_eq(off, 6);
	ck_assert_uint_eq(n, 4);
	ck_assert_int_eq(eof, 1);
	ck_assert_mem_eq(p, "6789", 4);
	relaybuf_tx_rewind_to(&tx, 1); /* below base: from base */
	ck_assert_uint_eq(tx.sent, 3);
	relaybuf_tx_rewind_to(&tx, 9); /* never forward */
	ck_assert_uint_eq(tx.sent, 3);
	relaybuf_tx_sent(&tx, 8, 1);
	relaybuf_tx_rewind_to(&tx, 100); /* beyond sent: nothing changes */
	ck_assert_uint_eq(tx.sent, 11);
	/* a move: the old holder's process read 5; the next holder gets "56789" and EOF */
	ck_assert_int_eq(relaybuf_tx_ack(&tx, 5), 1);
	relaybuf_tx_rewind(&tx);
	ck_assert_int_eq(relaybuf_tx_next(&tx, 100, &off, &p, &n, &eof), 1);
	ck_assert_uint_eq(off, 5);
	ck_assert_uint_eq(n, 5);
	ck_assert_mem_eq(p, "56789", 5);
	ck_assert_int_eq(eof, 1);
	relaybuf_tx_free(&tx);
}
END_TEST

static Suite *relaybuf_suite(void)
{
	Suite *s = suite_create("relaybuf");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, window_and_backpressure);
	tcase_add_test(tc, send_ack_rewind);
	tcase_add_test(tc, eof_is_a_position);
	tcase_add_test(tc, rx_verdicts);
	tcase_add_test(tc, rewind_to_received);
	tcase_add_loop_test(tc, lossy_link_is_exact, 0, 8);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(relaybuf_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
