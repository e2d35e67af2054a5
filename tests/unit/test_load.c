/*
 * test_load.c - Check suite for the pure parts of ssid/load.c: the /proc text parsers and the
 * smoothed local/exported pair (local rises slowly and falls at once, exported rises at once
 * and decays slowly), plus one real sample of this machine's /proc.
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ssid/load.h"

START_TEST(parsers)
{
	uint64_t t, a, busy, total;
	double psi;

	ck_assert_int_eq(load_parse_meminfo("MemTotal:       16000 kB\nMemFree: 1 kB\n"
					    "MemAvailable:    8000 kB\n",
					    &t, &a),
			 0);
	ck_assert_uint_eq(t, 16000);
	ck_assert_uint_eq(a, 8000);
	ck_assert_int_eq(load_parse_meminfo("MemTotal: 5 kB\n", &t, &a), -EINVAL);
	ck_assert_int_eq(load_parse_psi("some avg10=12.50 avg60=1.00 avg300=0.00 total=5\n"
					"full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
					&psi),
			 0);
	ck_assert(fabs(psi - 12.5) < 1e-9);
	ck_assert_int_eq(load_parse_psi("full avg10=1.00\n", &psi), -EINVAL);
	ck_assert_int_eq(load_parse_stat_cpu("cpu  100 5 50 800 40 3 2 0 0 0\ncpu0 1 2 3 4\n",
					     &busy, &total),
			 0);
	ck_assert_uint_eq(total, 1000);
	ck_assert_uint_eq(busy, 160);
	ck_assert_int_eq(load_parse_stat_cpu("cpu0 1 2 3 4\n", &busy, &total), -EINVAL);
	ck_assert_int_eq(load_parse_task_state("42 (a (weird) name) R 1 42"), 'R');
	ck_assert_int_eq(load_parse_task_state("42 (sleepy) S 1"), 'S');
	ck_assert_int_eq(load_parse_task_state("garbage"), 0);
}
END_TEST

START_TEST(pair_rises_and_falls_asymmetrically)
{
	struct load_state s = {0};
	struct load_raw r = {0};
	double prev_local = 0, prev_export = 0;

	/* A burner appears: the 4-sample mean reaches 1 after 4 samples; exported follows the
	 * mean at once, local lags behind. */
	r.runq = 1;
	for (int i = 0; i < 4; i++) {
		load_update(&s, &r, 0.25);
		ck_assert(s.exported == s.runq_avg);
		ck_assert(s.local < s.exported);
		ck_assert(s.local > prev_local);
	}
	ck_assert(fabs(s.exported - 1.0) < 1e-9);
	for (int i = 0; i < 40; i++) /* 10 s more */
		load_update(&s, &r, 0.25);
	ck_assert(s.local > 0.95);
	prev_local = s.local;
	prev_export = s.exported;
	/* It stops: local falls with the mean at once, exported decays slowly. */
	r.runq = 0;
	for (int i = 0; i < 4; i++)
		load_update(&s, &r, 0.25);
	ck_assert(s.runq_avg == 0);
	ck_assert(s.local == 0);
	ck_assert(s.exported > 0.5 && s.exported < prev_export);
	for (int i = 0; i < 60; i++)
		load_update(&s, &r, 0.25);
	ck_assert(s.exported < 0.01);
	(void)prev_local;
}
END_TEST

START_TEST(cpu_use_from_deltas)
{
	struct load_state s = {0};
	struct load_raw r = {.cpu_busy = 100, .cpu_total = 1000};

	load_update(&s, &r, 0);
	ck_assert(s.cpu_use == 0);
	r.cpu_busy = 150;
	r.cpu_total = 1100;
	load_update(&s, &r, 0.25);
	ck_assert(fabs(s.cpu_use - 0.5) < 1e-9);
}
END_TEST

START_TEST(real_sample)
{
	struct load_raw r;

	ck_assert_int_eq(load_read("/proc", "/sys/fs/cgroup", getpid(), &r), 0);
	ck_assert(r.mem_total_kb > 0);
	ck_assert(r.mem_avail_kb <= r.mem_total_kb);
	ck_assert(r.cpu_total > 0);
	ck_assert(r.runq >= 0);
	ck_assert_int_ge(load_cpus(), 1);
	ck_assert(load_measure_speed() > 0);
}
END_TEST

/* A /proc with the daemon (pid 42, excluded), its helper "ssid-homens" (child of 42, in R:
 * not counted), a user process in R that is also a child of 42 but not named ssid-* (counted:
 * a gprocfs serving users), and a user's thread pair in R (counted twice). */
START_TEST(helpers_not_counted)
{
	char root[] = "/tmp/test_load.XXXXXX", cmd[2048];
	struct load_raw r;

	ck_assert_ptr_nonnull(mkdtemp(root));
	snprintf(cmd, sizeof(cmd),
		 "set -e; cd %s; cp /proc/stat /proc/meminfo .; "
		 "mk() { mkdir -p $1/task/$1; echo \"$1 ($2) R $3 1 1 0\" >$1/stat; "
		 "cp $1/stat $1/task/$1/stat; }; "
		 "mk 42 ssid 1; mk 43 ssid-homens 42; mk 44 gprocfs 42; mk 45 'make -j (x)' 7; "
		 "mkdir -p 45/task/46; cp 45/stat 45/task/46/stat",
		 root);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(load_read(root, NULL, 42, &r), 0);
	ck_assert(fabs(r.runq - 3) < 1e-9); /* 44, 45 and its thread 46 */
	ck_assert_int_eq(load_read(root, NULL, 0, &r), 0);
	ck_assert(fabs(r.runq - 5) < 1e-9); /* nothing excluded */
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static Suite *load_suite(void)
{
	Suite *s = suite_create("load");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, parsers);
	tcase_add_test(tc, pair_rises_and_falls_asymmetrically);
	tcase_add_test(tc, cpu_use_from_deltas);
	tcase_add_test(tc, real_sample);
	tcase_add_test(tc, helpers_not_counted);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(load_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
