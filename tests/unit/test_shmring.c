/*
 * test_shmring.c - the shared-memory byte ring: contiguous views across the wrap-around,
 * full and empty, clean end and error states, time-outs, abort, a producer that dies, and
 * two processes moving 64 MiB through a small ring with a checksum on each side, and an
 * image written and read through a ring by two processes (in place and copied sections,
 * a stream cut before its end).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "migrate/image.h"
#include "migrate/shmring.h"
#include "ssid/buf.h"
#include "ssid/ssierr.h"

START_TEST(wrap_contiguous)
{
	struct shmring *r;
	ck_assert_int_eq(shmring_create(1000, &r), 0);
	size_t cap = shmring_cap(r), room, n;
	ck_assert_uint_eq(cap, SHMRING_MIN_CAP);
	uint8_t *src = malloc(cap);
	for (size_t i = 0; i < cap; i++)
		src[i] = (uint8_t)(i * 7 + 3);
	/* move the counters to 100 bytes before the end, then write across the end */
	ck_assert_int_eq(shmring_write(r, src, cap - 100), 0);
	shmring_rptr(r, &n);
	ck_assert_uint_eq(n, cap - 100);
	shmring_consume(r, n);
	uint8_t *w = shmring_wptr(r, &room);
	ck_assert_uint_eq(room, cap);
	memcpy(w, src, cap); /* one memcpy over the wrap: the second mapping takes it */
	shmring_commit(r, cap);
	shmring_wptr(r, &room);
	ck_assert_uint_eq(room, 0); /* full */
	ck_assert_int_eq(shmring_wait_space(r, 1, 10), -ETIMEDOUT);
	const uint8_t *p = shmring_rptr(r, &n);
	ck_assert_uint_eq(n, cap);
	ck_assert_mem_eq(p, src, cap);
	shmring_consume(r, cap);
	shmring_rptr(r, &n);
	ck_assert_uint_eq(n, 0); /* empty */
	ck_assert_int_eq(shmring_wait_data(r, 1, 10), -ETIMEDOUT);
	ck_assert_int_eq(shmring_state(r), 0);
	free(src);
	shmring_free(r);
}
END_TEST

START_TEST(eof_and_error)
{
	struct shmring *r;
	uint8_t b[16];
	ck_assert_int_eq(shmring_create(0, &r), 0);
	ck_assert_int_eq(shmring_write(r, "hello", 5), 0);
	shmring_close(r, 0);
	shmring_close(r, -EIO);				    /* only the first close counts */
	ck_assert_int_eq(shmring_wait_data(r, 100, -1), 0); /* closed: no wait */
	ck_assert_int_eq(shmring_read(r, b, 3), 3);
	ck_assert_int_eq(shmring_read(r, b + 3, sizeof(b)), 2);
	ck_assert_mem_eq(b, "hello", 5);
	ck_assert_int_eq(shmring_read(r, b, sizeof(b)), 0);
	ck_assert_int_eq(shmring_state(r), 1);
	shmring_free(r);

	ck_assert_int_eq(shmring_create(0, &r), 0);
	ck_assert_int_eq(shmring_write(r, "ab", 2), 0);
	shmring_close(r, -EIO);
	ck_assert_int_eq(shmring_read(r, b, sizeof(b)), 2); /* bytes before the error stay */
	ck_assert_int_eq(shmring_read(r, b, sizeof(b)), -EIO);
	ck_assert_int_eq(shmring_state(r), -EIO);
	shmring_free(r);

	ck_assert_int_eq(shmring_create(0, &r), 0);
	shmring_abort(r);
	ck_assert_int_eq(shmring_write(r, "x", 1), -EPIPE);
	ck_assert_int_eq(shmring_wait_space(r, 1, -1), -EPIPE);
	shmring_free(r);
}
END_TEST

/* Deterministic bytes: position-dependent so that a lost or repeated span shows. */
static void pattern(uint8_t *p, size_t n, uint64_t off)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t x = (off + i) * 0x9e3779b97f4a7c15ull;
		p[i] = (uint8_t)(x >> 56);
	}
}

START_TEST(two_processes)
{
	struct shmring *r;
	int res[2];
	const size_t total = 64u << 20;
	ck_assert_int_eq(shmring_create(256u << 10, &r), 0);
	ck_assert_int_eq(pipe(res), 0);
	pid_t c = fork();
	ck_assert_int_ge(c, 0);
	if (c == 0) { /* producer: odd-sized writes, some through wptr/commit */
		close(res[0]);
		if (shmring_set_role(r, SHMRING_PRODUCER, 100) < 0)
			_exit(3);
		int rw = fcntl(res[1], F_DUPFD, 102);
		close_range(3, 99, 0); /* as the daemon's children do */
		uint8_t *b = malloc(300000);
		uint32_t crc = 0;
		size_t off = 0, k = 1;
		while (off < total) {
			size_t n = (k * 7919) % 300000 + 1;
			if (n > total - off)
				n = total - off;
			pattern(b, n, off);
			if (k % 3 == 0) {
				size_t room;
				if (shmring_wait_space(r, 1, -1) < 0)
					_exit(4);
				uint8_t *w = shmring_wptr(r, &room);
				n = n < room ? n : room;
				memcpy(w, b, n);
				shmring_commit(r, n);
			} else if (shmring_write(r, b, n) < 0) {
				_exit(5);
			}
			crc = image_crc32c(crc, b, n);
			off += n;
			k++;
		}
		shmring_close(r, 0);
		_exit(write(rw, &crc, sizeof(crc)) == sizeof(crc) ? 0 : 6);
	}
	close(res[1]);
	ck_assert_int_eq(shmring_set_role(r, SHMRING_CONSUMER, -1), 0);
	uint8_t *want = malloc(1 << 20);
	size_t got = 0;
	uint32_t crc_got = 0, crc_want = 0;
	for (;;) {
		size_t n;
		ck_assert_int_eq(shmring_wait_data(r, 100000, -1), 0);
		const uint8_t *p = shmring_rptr(r, &n);
		if (n == 0) {
			ck_assert_int_eq(shmring_state(r), 1);
			break;
		}
		if (n > 1 << 20)
			n = 1 << 20;
		pattern(want, n, got);
		crc_got = image_crc32c(crc_got, p, n);
		crc_want = image_crc32c(crc_want, want, n);
		ck_assert_mem_eq(p, want, n);
		shmring_consume(r, n);
		got += n;
	}
	ck_assert_uint_eq(got, total);
	ck_assert_uint_eq(crc_got, crc_want);
	uint32_t crc_sent = 0;
	ck_assert_int_eq(read(res[0], &crc_sent, sizeof(crc_sent)), sizeof(crc_sent));
	ck_assert_uint_eq(crc_got, crc_sent); /* the producer's checksum of what it wrote */
	int st;
	ck_assert_int_eq(waitpid(c, &st, 0), c);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	free(want);
	shmring_free(r);
}
END_TEST

START_TEST(producer_dies)
{
	struct shmring *r;
	uint8_t b[8];
	ck_assert_int_eq(shmring_create(0, &r), 0);
	pid_t c = fork();
	ck_assert_int_ge(c, 0);
	if (c == 0) {
		shmring_set_role(r, SHMRING_PRODUCER, -1);
		shmring_write(r, "abc", 3);
		_exit(0); /* no close: a crash, not an end */
	}
	ck_assert_int_eq(shmring_set_role(r, SHMRING_CONSUMER, -1), 0);
	ck_assert_int_eq(shmring_read(r, b, sizeof(b)), 3);
	ck_assert_int_eq(shmring_read(r, b, sizeof(b)), -EPIPE);
	waitpid(c, NULL, 0);
	shmring_free(r);
}
END_TEST

START_TEST(consumer_dies)
{
	struct shmring *r;
	ck_assert_int_eq(shmring_create(0, &r), 0);
	size_t cap = shmring_cap(r);
	pid_t c = fork();
	ck_assert_int_ge(c, 0);
	if (c == 0) {
		shmring_set_role(r, SHMRING_CONSUMER, -1);
		_exit(0);
	}
	ck_assert_int_eq(shmring_set_role(r, SHMRING_PRODUCER, -1), 0);
	uint8_t *big = calloc(1, cap + 1);
	ck_assert_int_eq(shmring_write(r, big, cap + 1), -EPIPE); /* never blocks for ever */
	waitpid(c, NULL, 0);
	free(big);
	shmring_free(r);
}
END_TEST

/* The image codec over a ring (as a migration uses it): sections that fit half the ring are
 * read in place, a larger one through a copy; a stream cut before END is truncated. */
static void write_image(struct shmring *r, int finish)
{
	struct image_writer w;
	uint8_t *b = malloc(1 << 20);
	int ok = image_writer_start_ring(&w, r) == 0;
	for (int i = 0; ok && i < 40; i++) {
		size_t n = i == 7 ? 1u << 20 : 100000 + (size_t)i;
		pattern(b, n, (uint64_t)i << 32);
		ok = image_write_section(&w, i == 7 ? IMG_S_VMAS : IMG_S_PAGES, b, n) == 0;
	}
	if (ok && finish)
		ok = image_writer_finish(&w) == 0;
	shmring_close(r, 0);
	free(b);
	_exit(ok ? 0 : 1);
}

static int read_image(struct shmring *r, int *sections)
{
	struct image_reader rd;
	struct buf p;
	uint32_t t;
	uint8_t *want = malloc(1 << 20);
	int e = image_reader_start_ring(&rd, r);
	*sections = 0;
	while (e == 0 && (e = image_read_section(&rd, &t, &p)) == 0) {
		int i = (*sections)++;
		size_t n = i == 7 ? 1u << 20 : 100000 + (size_t)i;
		pattern(want, n, (uint64_t)i << 32);
		ck_assert_uint_eq(buf_avail(&p), n);
		ck_assert_mem_eq(buf_rptr(&p), want, n);
		ck_assert_uint_eq(t, i == 7 ? IMG_S_VMAS : IMG_S_PAGES);
	}
	image_reader_free(&rd);
	free(want);
	return e;
}

START_TEST(image_over_ring)
{
	for (int finish = 1; finish >= 0; finish--) {
		struct shmring *r;
		int n, st;
		ck_assert_int_eq(shmring_create(256u << 10, &r), 0);
		pid_t c = fork();
		ck_assert_int_ge(c, 0);
		if (c == 0) {
			shmring_set_role(r, SHMRING_PRODUCER, -1);
			write_image(r, finish);
		}
		ck_assert_int_eq(shmring_set_role(r, SHMRING_CONSUMER, -1), 0);
		int e = read_image(r, &n);
		ck_assert_int_eq(n, 40);
		ck_assert_int_eq(e, finish ? 1 : SSI_E_TRUNCATED);
		ck_assert_int_eq(waitpid(c, &st, 0), c);
		ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		shmring_free(r);
	}
}
END_TEST

Suite *shmring_suite(void)
{
	Suite *s = suite_create("shmring");
	TCase *t = tcase_create("core");
	tcase_set_timeout(t, 60);
	tcase_add_test(t, wrap_contiguous);
	tcase_add_test(t, eof_and_error);
	tcase_add_test(t, two_processes);
	tcase_add_test(t, producer_dies);
	tcase_add_test(t, consumer_dies);
	tcase_add_test(t, image_over_ring);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	SRunner *sr = srunner_create(shmring_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
