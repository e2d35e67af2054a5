/*
 * test_buf.c - Check suite for ssid/buf.c: every putter and getter, big-endian layout,
 * truncation (nothing consumed, output zeroed), limits, NUL inside strings, views.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ssid/buf.h"
#include "ssid/ssierr.h"

START_TEST(put_get_ints)
{
	struct buf b;
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
	int64_t i64;
	static const uint8_t want[] = {0xab, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 0x01,
				       0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0xff,
				       0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe};

	buf_init(&b);
	ck_assert_int_eq(buf_put_u8(&b, 0xab), 0);
	ck_assert_int_eq(buf_put_u16(&b, 0x1234), 0);
	ck_assert_int_eq(buf_put_u32(&b, 0xdeadbeef), 0);
	ck_assert_int_eq(buf_put_u64(&b, 0x0102030405060708ull), 0);
	ck_assert_int_eq(buf_put_i64(&b, -2), 0);
	ck_assert_uint_eq(b.len, sizeof(want));
	ck_assert_mem_eq(b.d, want, sizeof(want)); /* big-endian on the wire */

	ck_assert_int_eq(buf_get_u8(&b, &u8), 0);
	ck_assert_uint_eq(u8, 0xab);
	ck_assert_int_eq(buf_get_u16(&b, &u16), 0);
	ck_assert_uint_eq(u16, 0x1234);
	ck_assert_int_eq(buf_get_u32(&b, &u32), 0);
	ck_assert_uint_eq(u32, 0xdeadbeef);
	ck_assert_int_eq(buf_get_u64(&b, &u64), 0);
	ck_assert_uint_eq(u64, 0x0102030405060708ull);
	ck_assert_int_eq(buf_get_i64(&b, &i64), 0);
	ck_assert_int_eq(i64, -2);
	ck_assert_uint_eq(buf_avail(&b), 0);
	buf_free(&b);
}
END_TEST

START_TEST(getters_truncated)
{
	struct buf b;
	uint8_t u8 = 7, raw[3] = {1, 2, 3};
	uint16_t u16 = 7;
	uint32_t u32 = 7;
	uint64_t u64 = 7;
	int64_t i64 = 7;
	char *s = (char *)"x";
	char cs[8] = "junk";
	const uint8_t *p = raw;
	size_t n = 9;

	buf_init(&b);
	ck_assert_int_eq(buf_get_u8(&b, &u8), SSI_E_TRUNCATED);
	ck_assert_uint_eq(u8, 0);
	ck_assert_int_eq(buf_put_u8(&b, 0x55), 0);
	ck_assert_int_eq(buf_get_u16(&b, &u16), SSI_E_TRUNCATED);
	ck_assert_uint_eq(u16, 0);
	ck_assert_int_eq(buf_get_u32(&b, &u32), SSI_E_TRUNCATED);
	ck_assert_uint_eq(u32, 0);
	ck_assert_int_eq(buf_get_u64(&b, &u64), SSI_E_TRUNCATED);
	ck_assert_uint_eq(u64, 0);
	ck_assert_int_eq(buf_get_i64(&b, &i64), SSI_E_TRUNCATED);
	ck_assert_int_eq(i64, 0);
	ck_assert_int_eq(buf_get(&b, raw, 2), SSI_E_TRUNCATED);
	ck_assert_uint_eq(raw[0] | raw[1], 0);
	ck_assert_int_eq(buf_skip(&b, 2), SSI_E_TRUNCATED);
	ck_assert_uint_eq(buf_avail(&b), 1); /* nothing consumed by any failure */

	/* A length prefix that promises more than is there. */
	buf_reset(&b);
	ck_assert_int_eq(buf_put_u32(&b, 5), 0);
	ck_assert_int_eq(buf_put(&b, "abcd", 4), 0);
	ck_assert_int_eq(buf_get_bytes_ref(&b, &p, &n, 100), SSI_E_TRUNCATED);
	ck_assert_ptr_null(p);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(buf_get_str(&b, &s, 100), SSI_E_TRUNCATED);
	ck_assert_ptr_null(s);
	ck_assert_int_eq(buf_get_cstr(&b, cs, sizeof(cs)), SSI_E_TRUNCATED);
	ck_assert_str_eq(cs, "");
	ck_assert_uint_eq(buf_avail(&b), 8);
	/* Only part of the length itself. */
	buf_reset(&b);
	ck_assert_int_eq(buf_put_u16(&b, 0), 0);
	ck_assert_int_eq(buf_get_str(&b, &s, 100), SSI_E_TRUNCATED);
	ck_assert_uint_eq(buf_avail(&b), 2);
	buf_free(&b);
}
END_TEST

START_TEST(strings_and_bytes)
{
	struct buf b;
	const uint8_t *p;
	size_t n;
	char *s;
	char cs[6];

	buf_init(&b);
	ck_assert_int_eq(buf_put_str(&b, "hello"), 0);
	ck_assert_int_eq(buf_put_str(&b, NULL), 0);
	ck_assert_int_eq(buf_put_bytes(&b, "a\0b", 3), 0);
	ck_assert_int_eq(buf_put_str(&b, "hello"), 0);
	ck_assert_uint_eq(b.len, 4 + 5 + 4 + 4 + 3 + 4 + 5);
	ck_assert_int_eq(buf_get_str(&b, &s, 5), 0);
	ck_assert_str_eq(s, "hello");
	free(s);
	ck_assert_int_eq(buf_get_str(&b, &s, 5), 0);
	ck_assert_str_eq(s, ""); /* NULL was written as empty */
	free(s);
	/* Bytes may hold NUL; as a string they are refused, without consuming. */
	ck_assert_int_eq(buf_get_str(&b, &s, 100), SSI_E_CORRUPT);
	ck_assert_ptr_null(s);
	ck_assert_int_eq(buf_get_cstr(&b, cs, sizeof(cs)), SSI_E_CORRUPT);
	ck_assert_int_eq(buf_get_bytes_ref(&b, &p, &n, 3), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_mem_eq(p, "a\0b", 3);
	/* Limits: max is the longest accepted length. */
	ck_assert_int_eq(buf_get_str(&b, &s, 4), SSI_E_TOOBIG);
	ck_assert_int_eq(buf_get_cstr(&b, cs, 5), SSI_E_TOOBIG);
	ck_assert_int_eq(buf_get_bytes_ref(&b, &p, &n, 4), SSI_E_TOOBIG);
	ck_assert_int_eq(buf_get_cstr(&b, cs, 0), -EINVAL);
	ck_assert_int_eq(buf_get_cstr(&b, cs, sizeof(cs)), 0);
	ck_assert_str_eq(cs, "hello");
	ck_assert_uint_eq(buf_avail(&b), 0);
	buf_free(&b);
}
END_TEST

START_TEST(limits)
{
	struct buf b;
	uint8_t *w;

	buf_init(&b);
	ck_assert_uint_eq(b.max, BUF_MAX_SIZE);
	buf_set_max(&b, (size_t)BUF_MAX_SIZE * 4);
	ck_assert_uint_eq(b.max, BUF_MAX_SIZE); /* clamped */
	buf_set_max(&b, 10);
	ck_assert_int_eq(buf_put(&b, "0123456789", 10), 0);
	ck_assert_int_eq(buf_put_u8(&b, 1), SSI_E_TOOBIG);
	ck_assert_uint_eq(b.len, 10);
	buf_reset(&b);
	ck_assert_int_eq(buf_put_u64(&b, 1), 0);
	/* buf_put_bytes is all or nothing: the length prefix fits, the bytes do not. */
	ck_assert_int_eq(buf_put_bytes(&b, "abc", 3), SSI_E_TOOBIG);
	ck_assert_uint_eq(b.len, 8);
	errno = 0;
	ck_assert_ptr_null(buf_reserve(&b, 3));
	ck_assert_int_eq(errno, EFBIG);
	/* A huge length never wraps around. */
	ck_assert_ptr_null(buf_reserve(&b, SIZE_MAX));
	w = buf_reserve(&b, 2);
	ck_assert_ptr_nonnull(w);
	w[0] = 'x';
	w[1] = 'y';
	buf_commit(&b, 2);
	ck_assert_uint_eq(b.len, 10);
	ck_assert_mem_eq(b.d + 8, "xy", 2);
	buf_free(&b);
	ck_assert_ptr_null(b.d);
	ck_assert_uint_eq(b.len, 0);
}
END_TEST

START_TEST(grow_compact_truncate_poke)
{
	struct buf b;
	uint32_t v, i;

	buf_init(&b);
	for (i = 0; i < 100000; i++)
		ck_assert_int_eq(buf_put_u32(&b, i), 0);
	for (i = 0; i < 50000; i++) {
		ck_assert_int_eq(buf_get_u32(&b, &v), 0);
		ck_assert_uint_eq(v, i);
	}
	buf_compact(&b);
	ck_assert_uint_eq(b.off, 0);
	ck_assert_uint_eq(b.len, 50000 * 4);
	ck_assert_int_eq(buf_get_u32(&b, &v), 0);
	ck_assert_uint_eq(v, 50000);
	ck_assert_int_eq(buf_poke_u32(&b, 0, 0xcafef00d), 0);
	ck_assert_int_eq(buf_poke_u32(&b, b.len - 4, 1), 0);
	ck_assert_int_eq(buf_poke_u32(&b, b.len - 3, 1), -ERANGE);
	b.off = 0;
	ck_assert_int_eq(buf_get_u32(&b, &v), 0);
	ck_assert_uint_eq(v, 0xcafef00d);
	buf_truncate(&b, 2);
	ck_assert_uint_eq(b.len, 2);
	ck_assert_uint_eq(b.off, 2); /* clamped */
	buf_truncate(&b, 100);
	ck_assert_uint_eq(b.len, 2);
	buf_reset(&b);
	ck_assert_uint_eq(buf_avail(&b), 0);
	ck_assert_int_eq(buf_poke_u32(&b, 0, 1), -ERANGE);
	buf_free(&b);
	buf_free(&b); /* twice is safe */
}
END_TEST

START_TEST(view)
{
	static const uint8_t data[] = {0, 0, 0, 2, 'h', 'i', 0x7f};
	struct buf b;
	char *s;
	uint8_t u8;

	buf_view(&b, data, sizeof(data));
	ck_assert_uint_eq(buf_avail(&b), sizeof(data));
	ck_assert_ptr_eq(buf_rptr(&b), data); /* no copy */
	ck_assert_int_eq(buf_put_u8(&b, 1), -EROFS);
	ck_assert_int_eq(buf_put(&b, "", 0), -EROFS);
	ck_assert_int_eq(buf_poke_u32(&b, 0, 1), -EROFS);
	errno = 0;
	ck_assert_ptr_null(buf_reserve(&b, 1));
	ck_assert_int_eq(errno, EROFS);
	ck_assert_int_eq(buf_get_str(&b, &s, 10), 0);
	ck_assert_str_eq(s, "hi");
	free(s);
	buf_compact(&b); /* moves the window, never writes */
	ck_assert_ptr_eq(buf_rptr(&b), data + 6);
	ck_assert_int_eq(buf_get_u8(&b, &u8), 0);
	ck_assert_uint_eq(u8, 0x7f);
	ck_assert_int_eq(buf_get_u8(&b, &u8), SSI_E_TRUNCATED);
	buf_free(&b); /* no-op on caller memory */
	ck_assert_uint_eq(data[6], 0x7f);

	buf_view(&b, NULL, 5);
	ck_assert_uint_eq(buf_avail(&b), 0);
	ck_assert_ptr_nonnull(buf_rptr(&b));
	ck_assert_int_eq(buf_get_u8(&b, &u8), SSI_E_TRUNCATED);
	buf_free(&b);
}
END_TEST

START_TEST(zeroed_buf_is_empty)
{
	struct buf b;
	uint8_t u8;

	memset(&b, 0, sizeof(b));
	ck_assert_uint_eq(buf_avail(&b), 0);
	ck_assert_int_eq(buf_get_u8(&b, &u8), SSI_E_TRUNCATED);
	ck_assert_int_eq(buf_put_u8(&b, 1), SSI_E_TOOBIG); /* max 0 until buf_init */
	buf_free(&b);
	ck_assert_int_eq(buf_put_u8(&b, 1), 0);
	buf_free(&b);
}
END_TEST

static Suite *buf_suite(void)
{
	Suite *s = suite_create("buf");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, put_get_ints);
	tcase_add_test(tc, getters_truncated);
	tcase_add_test(tc, strings_and_bytes);
	tcase_add_test(tc, limits);
	tcase_add_test(tc, grow_compact_truncate_poke);
	tcase_add_test(tc, view);
	tcase_add_test(tc, zeroed_buf_is_empty);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(buf_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
