/*
 * test_member.c - Check suite for ssid/member.c: every transition of the membership state
 * machine in member.h, driven by an explicit clock.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>

#include "ssid/member.h"

static struct member_table t;

static void setup(void)
{
	member_init(&t, 1, 1500, 4000);
}

START_TEST(unknown_up_suspect_down_up)
{
	struct member_change ch[4];

	ck_assert_int_eq(member_add(&t, 3, 0), 0);
	ck_assert_int_eq(member_state(&t, 3), MEMBER_UNKNOWN);
	ck_assert_int_eq(member_heard(&t, 3, 100, ch), 1);
	ck_assert_int_eq(ch[0].from, MEMBER_UNKNOWN);
	ck_assert_int_eq(ch[0].to, MEMBER_UP);
	ck_assert_int_eq(member_heard(&t, 3, 200, ch), 0); /* no change while up */
	ck_assert_int_eq(member_tick(&t, 1699, ch, 4), 0); /* 1499 ms of silence */
	ck_assert_int_eq(member_tick(&t, 1700, ch, 4), 1);
	ck_assert_int_eq(ch[0].to, MEMBER_SUSPECT);
	ck_assert_int_eq(ch[0].t_ms, 1700);
	ck_assert_int_eq(member_tick(&t, 4199, ch, 4), 0);
	ck_assert_int_eq(member_tick(&t, 4200, ch, 4), 1);
	ck_assert_int_eq(ch[0].from, MEMBER_SUSPECT);
	ck_assert_int_eq(ch[0].to, MEMBER_DOWN);
	ck_assert_int_eq(member_tick(&t, 9000, ch, 4), 0);  /* stays down */
	ck_assert_int_eq(member_heard(&t, 3, 9100, ch), 1); /* rejoin */
	ck_assert_int_eq(ch[0].from, MEMBER_DOWN);
	ck_assert_int_eq(ch[0].to, MEMBER_UP);
	ck_assert_int_eq(t.m[3].since_ms, 9100);
	ck_assert_int_eq(member_check(&t), 0);
}
END_TEST

START_TEST(suspect_back_up)
{
	struct member_change ch[2];

	member_heard(&t, 2, 0, ch);
	ck_assert_int_eq(member_tick(&t, 2000, ch, 2), 1);
	ck_assert_int_eq(member_state(&t, 2), MEMBER_SUSPECT);
	ck_assert_int_eq(member_heard(&t, 2, 2100, ch), 1);
	ck_assert_int_eq(ch[0].from, MEMBER_SUSPECT);
	ck_assert_int_eq(member_state(&t, 2), MEMBER_UP);
}
END_TEST

START_TEST(up_straight_to_down_after_stall)
{
	struct member_change ch[2];

	member_heard(&t, 2, 0, ch);
	ck_assert_int_eq(member_tick(&t, 5000, ch, 2), 1);
	ck_assert_int_eq(ch[0].from, MEMBER_UP);
	ck_assert_int_eq(ch[0].to, MEMBER_DOWN);
}
END_TEST

START_TEST(never_heard_goes_down)
{
	struct member_change ch[2];

	member_add(&t, 7, 1000);
	ck_assert_int_eq(member_tick(&t, 2600, ch, 2), 0); /* unknown does not become suspect */
	ck_assert_int_eq(member_tick(&t, 5000, ch, 2), 1);
	ck_assert_int_eq(ch[0].from, MEMBER_UNKNOWN);
	ck_assert_int_eq(ch[0].to, MEMBER_DOWN);
}
END_TEST

START_TEST(self_and_bad_ids)
{
	struct member_change ch[2];

	ck_assert_int_eq(member_state(&t, 1), MEMBER_UP);
	ck_assert_int_eq(member_heard(&t, 1, 10, ch), -EINVAL);
	ck_assert_int_eq(member_heard(&t, 0, 10, ch), -EINVAL);
	ck_assert_int_eq(member_heard(&t, 512, 10, ch), -EINVAL);
	ck_assert_int_eq(member_add(&t, -1, 10), -EINVAL);
	ck_assert_int_eq(member_tick(&t, 1000000, ch, 2), 0); /* self never times out */
	ck_assert_int_eq(member_state(&t, 1), MEMBER_UP);
	ck_assert_int_eq(member_state(&t, 99), MEMBER_UNKNOWN);
}
END_TEST

START_TEST(more_changes_than_cap)
{
	struct member_change ch[2];

	for (int id = 2; id <= 6; id++)
		member_heard(&t, id, 0, NULL);
	ck_assert_int_eq(member_tick(&t, 1500, ch, 2), 5); /* all applied, 2 reported */
	for (int id = 2; id <= 6; id++)
		ck_assert_int_eq(member_state(&t, id), MEMBER_SUSPECT);
	ck_assert_str_eq(member_state_str(MEMBER_SUSPECT), "suspect");
}
END_TEST

/* A node incarnation from HELLO: the first known is no rebirth, the same again (a daemon
 * restart) neither, a different one is, whatever the state; 0 (not sent) changes nothing. */
START_TEST(incarnation_changes)
{
	struct member_change ch[2];

	ck_assert_int_eq(member_incarnation(&t, 1, 7, 10), -EINVAL); /* self */
	ck_assert_int_eq(member_incarnation(&t, 0, 7, 10), -EINVAL);
	ck_assert_int_eq(member_incarnation(&t, 3, 0, 10), 0); /* an older peer: not said */
	ck_assert_int_eq(t.m[3].present, 1);
	/* the state is member_heard()'s job */
	ck_assert_int_eq(member_state(&t, 3), MEMBER_UNKNOWN);
	ck_assert_int_eq(member_incarnation(&t, 3, 0xaaa, 100), 0); /* first known */
	ck_assert_int_eq(member_heard(&t, 3, 100, ch), 1);
	ck_assert_int_eq(member_incarnation(&t, 3, 0xaaa, 900), 0); /* its daemon restarted */
	ck_assert_int_eq(t.m[3].reborn_ms, 0);
	ck_assert_int_eq(member_incarnation(&t, 3, 0, 950), 0); /* not said: still 0xaaa */
	ck_assert_uint_eq(t.m[3].incarnation, 0xaaa);
	/* crashed and back before anyone saw it go down: still UP, but reborn */
	ck_assert_int_eq(member_incarnation(&t, 3, 0xbbb, 1000), 1);
	ck_assert_int_eq(t.m[3].reborn_ms, 1000);
	ck_assert_int_eq(member_state(&t, 3), MEMBER_UP);
	ck_assert_int_eq(member_incarnation(&t, 3, 0xbbb, 1100), 0); /* its second link */
	ck_assert_int_eq(t.m[3].reborn_ms, 1000);
	/* down, then back as yet another incarnation */
	ck_assert_int_eq(member_tick(&t, 5200, ch, 2), 1);
	ck_assert_int_eq(member_state(&t, 3), MEMBER_DOWN);
	ck_assert_int_eq(member_incarnation(&t, 3, 0xccc, 6000), 1);
	ck_assert_int_eq(t.m[3].reborn_ms, 6000);
	ck_assert_int_eq(member_state(&t, 3), MEMBER_DOWN);
	ck_assert_int_eq(member_check(&t), 0);
}
END_TEST

static Suite *member_suite(void)
{
	Suite *s = suite_create("member");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, unknown_up_suspect_down_up);
	tcase_add_test(tc, suspect_back_up);
	tcase_add_test(tc, up_straight_to_down_after_stall);
	tcase_add_test(tc, never_heard_goes_down);
	tcase_add_test(tc, self_and_bad_ids);
	tcase_add_test(tc, more_changes_than_cap);
	tcase_add_test(tc, incarnation_changes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(member_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
