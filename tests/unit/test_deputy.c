/*
 * test_deputy.c - Check suite for the framing of run_dir/mig.sock (migrate/deputy.c): frame
 * and split round trip, partial input, oversized length, several messages in one read, the
 * RESULT encoding, blocking send/recv over a socketpair and EOF.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "migrate/deputy.h"
#include "ssid/buf.h"
#include "ssid/ssierr.h"

START_TEST(frame_split_roundtrip)
{
	struct buf body, out, view;
	uint16_t type = 0;
	uint32_t v;

	buf_init(&body);
	buf_init(&out);
	ck_assert_int_eq(buf_put_u32(&body, 4194391), 0);
	ck_assert_int_eq(deputy_frame(&out, DEPUTY_REGISTERED, &body), 0);
	ck_assert_int_eq(deputy_frame(&out, DEPUTY_CHILD, NULL), 0);
	ck_assert_uint_eq(out.len, 6 + 4 + 6);
	ck_assert_int_eq(deputy_split(&out, &type, &view), 1);
	ck_assert_uint_eq(type, DEPUTY_REGISTERED);
	ck_assert_int_eq(buf_get_u32(&view, &v), 0);
	ck_assert_uint_eq(v, 4194391);
	ck_assert_int_eq(deputy_split(&out, &type, &view), 1);
	ck_assert_uint_eq(type, DEPUTY_CHILD);
	ck_assert_uint_eq(buf_avail(&view), 0);
	ck_assert_int_eq(deputy_split(&out, &type, &view), 0);
	buf_free(&body);
	buf_free(&out);
}
END_TEST

START_TEST(split_partial_and_too_big)
{
	struct buf in, view;
	uint16_t type;
	const uint8_t part[] = {0, 0, 0, 8, 0, 5, 1, 2};
	const uint8_t big[] = {0x7f, 0, 0, 0, 0, 1};

	buf_init(&in);
	buf_put(&in, part, 3);
	ck_assert_int_eq(deputy_split(&in, &type, &view), 0);
	buf_put(&in, part + 3, sizeof(part) - 3);
	ck_assert_int_eq(deputy_split(&in, &type, &view), 0); /* 2 of 8 body bytes */
	ck_assert_uint_eq(in.off, 0);			      /* nothing consumed */
	buf_free(&in);
	buf_init(&in);
	buf_put(&in, big, sizeof(big));
	ck_assert_int_eq(deputy_split(&in, &type, &view), SSI_E_TOOBIG);
	buf_free(&in);
}
END_TEST

START_TEST(result_roundtrip)
{
	struct deputy_result a = {.err = -EPERM,
				  .from = 2,
				  .to = 3,
				  .mig_id = 0x2a2174eaef502ull,
				  .bytes = 250397,
				  .freeze_ms = 3,
				  .transfer_ms = -1,
				  .restore_ms = 12,
				  .total_ms = 15},
			     b;
	struct buf buf;

	snprintf(a.text, sizeof(a.text), "Operation not permitted: gpid 1 belongs to uid 0");
	buf_init(&buf);
	ck_assert_int_eq(deputy_result_put(&buf, &a), 0);
	memset(&b, 0, sizeof(b));
	ck_assert_int_eq(deputy_result_get(&buf, &b), 0);
	ck_assert(a.err == b.err && a.from == b.from && a.to == b.to && a.mig_id == b.mig_id);
	ck_assert(a.bytes == b.bytes && a.freeze_ms == b.freeze_ms);
	ck_assert(a.transfer_ms == b.transfer_ms && a.restore_ms == b.restore_ms);
	ck_assert(a.total_ms == b.total_ms);
	ck_assert_str_eq(a.text, b.text);
	buf.off = 0;
	buf_truncate(&buf, buf.len - 1);
	ck_assert_int_lt(deputy_result_get(&buf, &b), 0);
	buf_free(&buf);
}
END_TEST

START_TEST(send_recv_socketpair)
{
	int sv[2];
	struct buf body, got;
	uint16_t type = 0;
	char s[64];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	buf_init(&body);
	buf_init(&got);
	buf_put_str(&body, "node2");
	ck_assert_int_eq(deputy_send(sv[0], DEPUTY_MIGRATE, &body), 0);
	ck_assert_int_eq(deputy_recv(sv[1], &type, &got), 0);
	ck_assert_uint_eq(type, DEPUTY_MIGRATE);
	ck_assert_int_eq(buf_get_cstr(&got, s, sizeof(s)), 0);
	ck_assert_str_eq(s, "node2");
	close(sv[0]);
	ck_assert_int_eq(deputy_recv(sv[1], &type, &got), -ECONNRESET);
	close(sv[1]);
	buf_free(&body);
	buf_free(&got);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("deputy");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, frame_split_roundtrip);
	tcase_add_test(tc, split_partial_and_too_big);
	tcase_add_test(tc, result_roundtrip);
	tcase_add_test(tc, send_recv_socketpair);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
