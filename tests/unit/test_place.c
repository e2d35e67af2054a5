/*
 * test_place.c - Check suite for ssid/place.c: the choice of grun --best. Home is kept
 * unless a candidate is better by the margin; nodes down, blocked, stale, of unknown size
 * or short of memory are no candidates; ties are broken deterministically whatever the
 * order of the input.
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ssid/place.h"

static struct place_params P;

static void setup(void)
{
	place_params_default(&P, 500, 64 << 10); /* 2.5 s max age, 64 MiB */
}

/* A node: id, load per CPU, cpus; up, fresh, 1 GiB free, speed 1. */
static struct place_node N(int id, double load, uint32_t cpus) {
	struct place_node n = {.id = id,
			       .up = 1,
			       .age_ms = 300,
			       .load = load,
			       .cpus = cpus,
			       .speed = 1.0,
			       .mem_free_kb = 1 << 20};
	snprintf(n.name, sizeof(n.name), "node%d", id);
	return n;
}

static int
choose(struct place_node *v, size_t n, struct place_result *r)
{
	int e = place_choose(v, n, &P, r);

	ck_assert_int_eq(e, 0);
	return r->node;
}

START_TEST(slowdown)
{
	struct place_node a = N(1, 0, 2), b = N(2, 1.0, 2), c = N(3, 0.5, 1), d = N(4, 0, 0);

	ck_assert(fabs(place_slowdown(&a) - 1.0) < 1e-9); /* a spare CPU: full speed */
	ck_assert(fabs(place_slowdown(&b) - 1.5) < 1e-9); /* 2 busy on 2 + 1 = 3/2 */
	ck_assert(fabs(place_slowdown(&c) - 1.5) < 1e-9);
	ck_assert(fabs(place_slowdown(&d) - 1.0) < 1e-9); /* cpus unknown: taken as 1 */
	a.speed = 2.0;
	ck_assert(fabs(place_slowdown(&a) - 0.5) < 1e-9);
}
END_TEST

START_TEST(home_alone_or_idle)
{
	struct place_node v[3] = {N(1, 0, 2), N(2, 0, 2), N(3, 0, 8)};
	struct place_result r;

	v[0].self = 1;
	ck_assert_int_eq(choose(v, 1, &r), 1);
	ck_assert_ptr_nonnull(strstr(r.why, "no other candidate"));
	/* Idle home vs idle (even bigger) nodes: S 1 everywhere, home stays. */
	ck_assert_int_eq(choose(v, 3, &r), 1);
	ck_assert_int_eq(r.home, 1);
	ck_assert_ptr_nonnull(strstr(r.why, "not better"));
	/* A home with one spare CPU of two: still S 1. */
	v[0].load = 0.4;
	ck_assert_int_eq(choose(v, 3, &r), 1);
}
END_TEST

START_TEST(busy_home_moves)
{
	struct place_node v[3] = {N(1, 1.0, 2), N(2, 1.5, 2), N(3, 0, 2)};
	struct place_result r;

	v[0].self = 1; /* home 2 busy on 2 CPUs: S 1.5; node2 S 2; node3 S 1 */
	ck_assert_int_eq(choose(v, 3, &r), 3);
	ck_assert(fabs(r.s_home - 1.5) < 1e-9);
	ck_assert(fabs(r.s_node - 1.0) < 1e-9);
	ck_assert_ptr_nonnull(strstr(r.why, "node3"));
	ck_assert_ptr_nonnull(strstr(r.why, "beats home node1"));
}
END_TEST

START_TEST(hysteresis)
{
	/* Home S 1.25 (1.5 busy on 2), node2 idle S 1.0: better by 0.25 < 0.3: stays. */
	struct place_node v[2] = {N(1, 0.75, 2), N(2, 0, 2)};
	struct place_result r;

	v[0].self = 1;
	ck_assert_int_eq(choose(v, 2, &r), 1);
	/* Exactly the margin: moves (S(node) <= S(home) - margin). */
	v[0].load = 0.8; /* S 1.3 */
	ck_assert_int_eq(choose(v, 2, &r), 2);
	/* No margin: any better node wins. */
	v[0].load = 0.75;
	P.margin = 0;
	ck_assert_int_eq(choose(v, 2, &r), 2);
}
END_TEST

START_TEST(no_candidates)
{
	struct place_node v[7] = {N(1, 2.0, 2), N(2, 0, 2), N(3, 0, 2),	 N(4, 0, 2),
				  N(5, 0, 2),	N(6, 0, 2), N(7, 3.0, 2)};
	struct place_result r;

	v[0].self = 1; /* home S 2.5 */
	v[1].up = 0;
	v[2].blocked = 1;
	v[3].age_ms = 10000; /* older than 5 x 500 ms */
	v[4].mem_free_kb = 1000;
	v[5].cpus = 0;
	/* node7 is a candidate, but worse than home */
	ck_assert_int_eq(choose(v, 7, &r), 1);
	ck_assert_ptr_nonnull(strstr(r.why, "node2 not up"));
	ck_assert_ptr_nonnull(strstr(r.why, "node3 blocked"));
	ck_assert_ptr_nonnull(strstr(r.why, "node4 facts 10.0 s old"));
	ck_assert_ptr_nonnull(strstr(r.why, "node5 0 MiB available"));
	ck_assert_ptr_nonnull(strstr(r.why, "node6 cpus unknown"));
	ck_assert_ptr_nonnull(strstr(r.why, "best other node7"));
	/* Facts never received. */
	v[6].age_ms = -1;
	ck_assert_int_eq(choose(v, 7, &r), 1);
	ck_assert_ptr_nonnull(strstr(r.why, "node7 no load facts"));
	/* Unblocked, node3 wins. */
	v[2].blocked = 0;
	ck_assert_int_eq(choose(v, 7, &r), 3);
	/* No age limit: node4 (equal S, older facts) still loses to node3 (fresher). */
	P.max_age_ms = 0;
	ck_assert_int_eq(choose(v, 7, &r), 3);
	/* The home itself is never skipped: blocked, short of memory, stale. */
	v[2].blocked = 1;
	v[3].blocked = 1;
	v[0].blocked = 1;
	v[0].mem_free_kb = 0;
	v[0].age_ms = -1;
	ck_assert_int_eq(choose(v, 7, &r), 1);
}
END_TEST

START_TEST(ties_deterministic)
{
	struct place_node v[4] = {N(1, 2.0, 2), N(4, 0, 2), N(2, 0, 2), N(3, 0, 2)};
	struct place_result r;
	int first = -1;

	v[0].self = 1;
	/* Equal S and age: the lowest id, in every order of the input. */
	for (int k = 0; k < 24; k++) {
		struct place_node w[4];
		int perm[4] = {0, 1, 2, 3}, x = k;
		for (int i = 3; i > 0; i--) { /* k-th permutation */
			int j = x % (i + 1), t = perm[i];
			x /= i + 1;
			perm[i] = perm[j];
			perm[j] = t;
		}
		for (int i = 0; i < 4; i++)
			w[i] = v[perm[i]];
		int got = choose(w, 4, &r);
		if (first < 0)
			first = got;
		ck_assert_int_eq(got, first);
	}
	ck_assert_int_eq(first, 2);
	/* Equal S: fresher facts first. */
	v[2].age_ms = 900;
	ck_assert_int_eq(choose(v, 4, &r), 3);
	/* Lower S beats fresher facts; a faster CPU lowers S. */
	v[1].speed = 1.2;
	ck_assert_int_eq(choose(v, 4, &r), 4);
}
END_TEST

START_TEST(bad_input)
{
	struct place_node v[2] = {N(1, 0, 2), N(2, 0, 2)};
	struct place_result r;

	ck_assert_int_eq(place_choose(v, 2, &P, &r), -ENOENT);
	ck_assert_ptr_nonnull(strstr(r.why, "not in the node list"));
	v[0].self = v[1].self = 1;
	ck_assert_int_eq(place_choose(v, 2, &P, &r), -EINVAL);
	ck_assert_int_eq(place_choose(NULL, 0, &P, &r), -EINVAL);
	ck_assert_int_eq(place_choose(v, 0, &P, &r), -ENOENT);
}
END_TEST

static Suite *place_suite(void)
{
	Suite *s = suite_create("place");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, slowdown);
	tcase_add_test(tc, home_alone_or_idle);
	tcase_add_test(tc, busy_home_moves);
	tcase_add_test(tc, hysteresis);
	tcase_add_test(tc, no_candidates);
	tcase_add_test(tc, ties_deterministic);
	tcase_add_test(tc, bad_input);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(place_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
