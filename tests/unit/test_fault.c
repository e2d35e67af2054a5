/*
 * test_fault.c - Check suite for the fault-injection points (migrate/fault.c): SSI_FAULT
 * parsing (good and bad specs), firing on every hit or on the N-th, role filtering, the
 * environment variable read once at start, "off" when nothing is set, the pause action and
 * the cut/pause durations, and SSI_FAULT_FILE re-arming when the file changes.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "migrate/fault.h"

START_TEST(env_read_once)
{
	/* Runs first in its own process (CK_FORK): the environment decides. */
	setenv(FAULT_ENV, "mig.after_stream:crash_src,mig.before_ready:cut@2", 1);
	ck_assert_int_eq(fault_init(), 0);
	ck_assert_int_eq(fault_hit("mig.after_stream"), FAULT_CRASH_SRC);
	ck_assert_int_eq(fault_hit("mig.before_ready"), FAULT_NONE);
	ck_assert_int_eq(fault_hit("mig.before_ready"), FAULT_CUT);
	ck_assert_int_eq(fault_hit("mig.before_ready"), FAULT_NONE);
	ck_assert_uint_eq(fault_count("mig.before_ready"), 3);
	/* Changing the variable later has no effect: it is read once. */
	setenv(FAULT_ENV, "mig.other", 1);
	ck_assert_int_eq(fault_hit("mig.other"), FAULT_NONE);
}
END_TEST

START_TEST(env_bad_value_arms_nothing)
{
	setenv(FAULT_ENV, "mig.after_stream:explode", 1);
	ck_assert_int_eq(fault_init(), -EINVAL);
	ck_assert_int_eq(fault_hit("mig.after_stream"), FAULT_NONE);
}
END_TEST

START_TEST(off_without_env)
{
	unsetenv(FAULT_ENV);
	ck_assert_int_eq(fault_init(), 0);
	ck_assert_int_eq(fault_hit("mig.after_stream"), FAULT_NONE);
	ck_assert_uint_eq(fault_count("mig.after_stream"), 0);
	ck_assert_int_eq(fault_hit(NULL), FAULT_NONE);
}
END_TEST

START_TEST(parse_good)
{
	ck_assert_int_eq(fault_set("a.b"), 0);
	ck_assert_int_eq(fault_hit("a.b"), FAULT_FAIL); /* default action */
	ck_assert_int_eq(fault_hit("a.b"), FAULT_FAIL); /* every hit */
	ck_assert_int_eq(fault_hit("a.c"), FAULT_NONE);
	ck_assert_int_eq(fault_set("x:stall,y:crash@3,z@1,w:crash_home,v:crash_dst"), 0);
	ck_assert_int_eq(fault_hit("x"), FAULT_STALL);
	ck_assert_int_eq(fault_hit("y"), FAULT_NONE);
	ck_assert_int_eq(fault_hit("y"), FAULT_NONE);
	ck_assert_int_eq(fault_hit("y"), FAULT_CRASH);
	ck_assert_int_eq(fault_hit("z"), FAULT_FAIL);
	ck_assert_int_eq(fault_hit("z"), FAULT_NONE);
	ck_assert_int_eq(fault_hit("w"), FAULT_CRASH_HOME);
	ck_assert_int_eq(fault_hit("v"), FAULT_CRASH_DST);
	/* A prefix of an armed name is another name. */
	ck_assert_int_eq(fault_hit("x."), FAULT_NONE);
	ck_assert_int_eq(fault_set(""), 0);
	ck_assert_int_eq(fault_hit("x"), FAULT_NONE);
	ck_assert_int_eq(fault_set(NULL), 0);
}
END_TEST

START_TEST(parse_bad)
{
	static const char *const bad[] = {
		",",
		"a,",
		"a,,b",
		":fail",
		"a:",
		"a:boom",
		"a@0",
		"a@",
		"a@x",
		"a@99999999999",
		"A.b",
		"a b",
		"a:fail:2",
		"a@1:fail",
		"a;b",
		"a:FAIL",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};
	char many[256] = "";
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(fault_set("ok.point"), 0);
		ck_assert_msg(fault_set(bad[i]) == -EINVAL, "accepted \"%s\"", bad[i]);
		/* A rejected spec leaves nothing armed, not even what was armed before. */
		ck_assert_int_eq(fault_hit("ok.point"), FAULT_NONE);
	}
	for (i = 0; i <= FAULT_MAX_POINTS; i++)
		strcat(many, i ? ",p" : "p");
	ck_assert_int_eq(fault_set(many), -EINVAL);
	many[strlen(many) - 2] = '\0'; /* exactly FAULT_MAX_POINTS */
	ck_assert_int_eq(fault_set(many), 0);
}
END_TEST

START_TEST(counts_and_reset)
{
	ck_assert_int_eq(fault_set("p.q@2"), 0);
	ck_assert_uint_eq(fault_count("p.q"), 0);
	fault_hit("p.q");
	fault_hit("p.q");
	ck_assert_uint_eq(fault_count("p.q"), 2);
	ck_assert_int_eq(fault_set("p.q@2"), 0);
	ck_assert_uint_eq(fault_count("p.q"), 0);
	ck_assert_int_eq(fault_hit("p.q"), FAULT_NONE);
	ck_assert_int_eq(fault_hit("p.q"), FAULT_FAIL);
	ck_assert_uint_eq(fault_count("unarmed"), 0);
}
END_TEST

START_TEST(role_filter)
{
	ck_assert_int_eq(fault_for_role(FAULT_CRASH_SRC, "src"), FAULT_CRASH);
	ck_assert_int_eq(fault_for_role(FAULT_CRASH_SRC, "dst"), FAULT_NONE);
	ck_assert_int_eq(fault_for_role(FAULT_CRASH_DST, "dst"), FAULT_CRASH);
	ck_assert_int_eq(fault_for_role(FAULT_CRASH_DST, "home"), FAULT_NONE);
	ck_assert_int_eq(fault_for_role(FAULT_CRASH_HOME, "home"), FAULT_CRASH);
	ck_assert_int_eq(fault_for_role(FAULT_CRASH_HOME, NULL), FAULT_NONE);
	ck_assert_int_eq(fault_for_role(FAULT_CUT, "src"), FAULT_CUT);
	ck_assert_int_eq(fault_for_role(FAULT_CRASH, "dst"), FAULT_CRASH);
	ck_assert_int_eq(fault_for_role(FAULT_NONE, "dst"), FAULT_NONE);
	ck_assert_str_eq(fault_action_name(FAULT_CRASH_HOME), "crash_home");
	ck_assert_str_eq(fault_action_name((enum fault_action)99), "none");
}
END_TEST

START_TEST(pause_and_durations)
{
	ck_assert_int_eq(fault_set("mig.freeze:pause,mig.x:cut"), 0);
	ck_assert_int_eq(fault_hit("mig.freeze"), FAULT_PAUSE);
	ck_assert_str_eq(fault_action_name(FAULT_PAUSE), "pause");
	unsetenv("SSI_FAULT_CUT_MS");
	unsetenv("SSI_FAULT_PAUSE_MS");
	ck_assert_int_eq(fault_ms(FAULT_CUT), 5000);
	ck_assert_int_eq(fault_ms(FAULT_PAUSE), 2000);
	ck_assert_int_eq(fault_ms(FAULT_FAIL), 0);
	setenv("SSI_FAULT_CUT_MS", "700", 1);
	setenv("SSI_FAULT_PAUSE_MS", "0", 1); /* out of range: the default */
	ck_assert_int_eq(fault_ms(FAULT_CUT), 700);
	ck_assert_int_eq(fault_ms(FAULT_PAUSE), 2000);
	setenv("SSI_FAULT_PAUSE_MS", "600001", 1);
	ck_assert_int_eq(fault_ms(FAULT_PAUSE), 2000);
}
END_TEST

/* SSI_FAULT_FILE: armed from the file, re-armed (hit counts reset) when it changes, nothing
 * armed once it is removed. Runs in its own process: the environment is read once. */
START_TEST(file_rearms)
{
	char dir[] = "/tmp/test_fault.XXXXXX", path[64];
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/faults", dir);
	unsetenv(FAULT_ENV);
	setenv(FAULT_FILE_ENV, path, 1);
	ck_assert_int_eq(fault_init(), 0);
	ck_assert_int_eq(fault_hit("mig.a"), FAULT_NONE); /* no file yet */
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("mig.a:fail@2\n", f);
	fclose(f);
	ck_assert_int_eq(fault_hit("mig.a"), FAULT_NONE);
	ck_assert_int_eq(fault_hit("mig.a"), FAULT_FAIL);
	f = fopen(path, "w"); /* a different size: re-read, counts start again */
	ck_assert_ptr_nonnull(f);
	fputs("mig.b:stall,mig.a:cut\n", f);
	fclose(f);
	ck_assert_int_eq(fault_hit("mig.a"), FAULT_CUT);
	ck_assert_int_eq(fault_hit("mig.b"), FAULT_STALL);
	ck_assert_uint_eq(fault_count("mig.a"), 1);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(fault_hit("mig.a"), FAULT_NONE);
	ck_assert_int_eq(fault_hit("mig.b"), FAULT_NONE);
	rmdir(dir);
}
END_TEST

static Suite *fault_suite(void)
{
	Suite *s = suite_create("fault");
	TCase *env = tcase_create("env");
	TCase *tc = tcase_create("core");

	/* Each test runs in its own forked process (Check's default), so the read-once
	 * environment is fresh in each. */
	tcase_add_test(env, env_read_once);
	tcase_add_test(env, env_bad_value_arms_nothing);
	tcase_add_test(env, off_without_env);
	tcase_add_test(tc, parse_good);
	tcase_add_test(tc, parse_bad);
	tcase_add_test(tc, counts_and_reset);
	tcase_add_test(tc, role_filter);
	tcase_add_test(tc, pause_and_durations);
	tcase_add_test(env, file_rearms);
	suite_add_tcase(s, env);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(fault_suite());
	int failed;

	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
