/*
 * test_policy.c - Check suite for ssid/policy.c, the preemptive balancing decision. Each rule
 * of policy.h has a pair of cases: one where the rule lets the move happen and one, differing
 * only in what the rule looks at, where it must not (so removing the rule fails the test):
 * hysteresis (pending arrivals counted), the cost-aware age gate (and the bandwidth EWMA
 * feeding it), stale, blocked and down targets, the memory reserve, one move per interval,
 * residency after a move, and determinism for a seed.
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ssid/place.h"
#include "ssid/policy.h"

#define MIB (1ULL << 20)

static struct policy_params P;
static struct policy_state St;
static struct policy_rng R;

static void setup(void)
{
	policy_params_default(&P, 1000, 64 << 10); /* 1 s interval, 64 MiB reserve */
	policy_init(&St, 100e6);		   /* 100 MB/s */
	policy_rng_seed(&R, 1);
}

/* An idle 1-CPU target: fresh, up, 1 GiB free. */
static struct policy_node T(int id, double load) {
	struct policy_node n = {.id = id,
				.up = 1,
				.age_ms = 300,
				.load = load,
				.cpus = 1,
				.speed = 1.0,
				.mem_free_kb = 1 << 20};
	return n;
}

/* A process with 10 s of CPU, 10 MiB, 3 fds, born here: C_mig = 0.05 + 0.105 + 0.003 s. */
static struct policy_proc
Pr(uint64_t id, double cpu_age)
{
	struct policy_proc p = {.id = id,
				.cpu_age_s = cpu_age,
				.residency_s = cpu_age,
				.dirty_bytes = 10 * MIB,
				.mem_kb = 10 << 10,
				.nfds = 3};
	return p;
}

/* Decide on node 1 (1 CPU, local run queue runq) at now_ms; returns the target or 0. */
static int decide_at(double runq, const struct policy_node *v, size_t nv,
		     const struct policy_proc *pr, size_t np, int64_t now_ms,
		     struct policy_decision *d)
{
	struct policy_input in = {.now_ms = now_ms,
				  .self = 1,
				  .local_runq = runq,
				  .cpus = 1,
				  .speed = 1,
				  .nodes = v,
				  .nnodes = nv,
				  .procs = pr,
				  .nprocs = np};

	ck_assert_int_eq(policy_decide(&St, &P, &in, &R, d), 0);
	ck_assert(d->why[0]);
	return d->move ? d->to : 0;
}

static int decide(double runq, const struct policy_node *v, size_t nv, const struct policy_proc *pr,
		  size_t np)
{
	struct policy_decision d;

	policy_init(&St, St.bw_bps); /* a fresh interval each time */
	return decide_at(runq, v, nv, pr, np, 100000, &d);
}

START_TEST(moves_from_busy_to_idle)
{
	struct policy_node v[2] = {T(1, 4.0), T(2, 0)}; /* self in the table is skipped */
	struct policy_proc p = Pr(7, 10);
	struct policy_decision d;

	ck_assert_int_eq(decide_at(4, v, 2, &p, 1, 5000, &d), 2);
	ck_assert_uint_eq(d.proc, 7);
	ck_assert_int_eq(d.from, 1);
	ck_assert(fabs(d.s_src - 4.0) < 1e-9);
	/* node 2's 0.3 s old "idle" is pulled toward the table's mean 2.0 */
	ck_assert(fabs(d.s_dst - (1.0 + 2.0 * (1 - exp(-0.3 / 2)))) < 1e-9);
	ck_assert(fabs(d.cost_s - (0.05 + 10.0 * MIB / 100e6 + 0.003)) < 1e-9);
	ck_assert_msg(strstr(d.why, "move 7 to node 2"), "%s", d.why);
	ck_assert_int_eq(St.last_move_ms, 5000);
	/* nothing to move, or no other node: no move */
	ck_assert_int_eq(decide(4, v, 2, &p, 0), 0);
	ck_assert_int_eq(decide(4, v, 1, &p, 1), 0);
}
END_TEST

START_TEST(hysteresis)
{
	struct policy_node v[1] = {T(2, 0)};
	struct policy_proc p = Pr(7, 100);

	/* 1 CPU: n_src - (n_dst + pending + 1) >= 1.3 */
	ck_assert_int_eq(decide(2.3, v, 1, &p, 1), 2);
	ck_assert_int_eq(decide(2.25, v, 1, &p, 1), 0);
	ck_assert_int_eq(decide(3, v, 1, &p, 1), 2);
	v[0].load = 0.8; /* n_dst 0.8: 3 - 1.8 = 1.2 */
	ck_assert_int_eq(decide(3, v, 1, &p, 1), 0);
	v[0].load = 0;
	v[0].pending = 1; /* a reserved arrival counts like a process there */
	ck_assert_int_eq(decide(3, v, 1, &p, 1), 0);
	ck_assert_int_eq(decide(3.3, v, 1, &p, 1), 2);
	/* a 4-CPU target: one process weighs 1/4, so 0.3 + 0.25 of gain is enough ... */
	v[0].pending = 0;
	v[0].cpus = 4;
	ck_assert_int_eq(decide(1.6, v, 1, &p, 1), 2);
	/* ... but a move that gains nothing never happens: 1 process per CPU here already */
	ck_assert_int_eq(decide(1.0, v, 1, &p, 1), 0);
}
END_TEST

START_TEST(age_gate)
{
	struct policy_node v[1] = {T(2, 0)};
	struct policy_proc p = Pr(7, 0.05), big = Pr(8, 3.0);
	double c = 0.05 + 10.0 * MIB / 100e6 + 0.003;

	/* gain 3 (4 -> 1): eligible once cpu_age >= C_mig / 3 */
	p.cpu_age_s = c / 3 - 0.001;
	ck_assert_int_eq(decide(4, v, 1, &p, 1), 0);
	p.cpu_age_s = c / 3 + 0.001;
	ck_assert_int_eq(decide(4, v, 1, &p, 1), 2);
	/* gain 1.5 (2.5 -> 1) halves the gain: twice the age is needed */
	ck_assert_int_eq(decide(2.5, v, 1, &p, 1), 0);
	/* cost-aware: 1 GiB to send at 100 MB/s costs ~10.8 s, so 3 s of CPU is too young */
	big.dirty_bytes = 1024 * MIB;
	ck_assert_int_eq(decide(4, v, 1, &big, 1), 0);
	big.cpu_age_s = 3.7;
	ck_assert_int_eq(decide(4, v, 1, &big, 1), 2);
}
END_TEST

START_TEST(bandwidth_ewma)
{
	struct policy_node v[1] = {T(2, 0)};
	struct policy_proc p = Pr(7, 0.4);
	double before;

	ck_assert_int_eq(decide(4, v, 1, &p, 1), 2); /* C_mig 0.158 s: 0.4 s is old enough */
	before = St.bw_bps;
	for (int i = 0; i < 20; i++) /* moves measured at 1 MB/s */
		policy_note_transfer(&St, 1e6, 1.0);
	ck_assert(St.bw_bps < before / 10 && St.bw_bps > 1e6);
	ck_assert_int_eq(decide(4, v, 1, &p, 1), 0); /* C_mig now ~8 s */
	policy_note_transfer(&St, 0, 1.0);	     /* nonsense is ignored */
	policy_note_transfer(&St, 1e6, 0);
	ck_assert(St.bw_bps > 1e6);
}
END_TEST

START_TEST(stale_unknown_blocked_down)
{
	struct policy_node v[1] = {T(2, 0)};
	struct policy_proc p = Pr(7, 10);

	v[0].age_ms = 5000; /* 5 intervals: still usable */
	ck_assert_int_eq(decide(4, v, 1, &p, 1), 2);
	v[0].age_ms = 5001;
	ck_assert_int_eq(decide(4, v, 1, &p, 1), 0);
	v[0].age_ms = -1;
	ck_assert_int_eq(decide(4, v, 1, &p, 1), 0);
	v[0] = T(2, 0);
	v[0].blocked = 1;
	ck_assert_int_eq(decide(4, v, 1, &p, 1), 0);
	v[0] = T(2, 0);
	v[0].up = 0;
	ck_assert_int_eq(decide(4, v, 1, &p, 1), 0);
	v[0] = T(2, 0);
	v[0].cpus = 0;
	ck_assert_int_eq(decide(4, v, 1, &p, 1), 0);
}
END_TEST

START_TEST(age_correction)
{
	/* node 2 reported idle 4.9 s ago, the table's mean is 1.13 (node 4, blocked, counts
	 * in the mean but is no target): node 2's idle state has probably passed, so it looks
	 * busier than the fresh node 3 reporting 0.4 */
	struct policy_node v[3] = {T(2, 0), T(3, 0.4), T(4, 3.0)};
	struct policy_proc p = Pr(7, 10);

	v[2].blocked = 1;
	v[0].age_ms = 4900;
	ck_assert_int_eq(decide(4, v, 3, &p, 1), 3);
	v[0].age_ms = 100;
	ck_assert_int_eq(decide(4, v, 3, &p, 1), 2);
}
END_TEST

START_TEST(memory_reserve)
{
	struct policy_node v[1] = {T(2, 0)};
	struct policy_proc p = Pr(7, 10);

	v[0].mem_free_kb = (64 + 10) << 10; /* exactly the reserve left after 10 MiB */
	ck_assert_int_eq(decide(4, v, 1, &p, 1), 2);
	v[0].mem_free_kb--;
	ck_assert_int_eq(decide(4, v, 1, &p, 1), 0);
	v[0].mem_free_kb = (64 + 10 + 5) << 10; /* 5 MiB, but 8 MiB already on their way */
	v[0].pending_kb = 8 << 10;
	ck_assert_int_eq(decide(5.5, v, 1, &p, 1), 0);
}
END_TEST

START_TEST(one_per_interval)
{
	struct policy_node v[2] = {T(2, 0), T(3, 0)};
	struct policy_proc p[2] = {Pr(7, 10), Pr(8, 10)};
	struct policy_decision d;

	policy_init(&St, 100e6);
	ck_assert_int_ne(decide_at(6, v, 2, p, 2, 10000, &d), 0);
	ck_assert_int_eq(decide_at(6, v, 2, p, 2, 10999, &d), 0);
	ck_assert_msg(strstr(d.why, "one move per interval"), "%s", d.why);
	ck_assert_int_ne(decide_at(6, v, 2, p, 2, 11000, &d), 0);
}
END_TEST

START_TEST(residency)
{
	struct policy_node v[1] = {T(2, 0)};
	struct policy_proc p = Pr(7, 10);
	double c = 0.05 + 10.0 * MIB / 100e6 + 0.003;

	p.migrated = 1;
	p.residency_s = 2 * c - 0.01; /* arrived by migration too recently */
	ck_assert_int_eq(decide(4, v, 1, &p, 1), 0);
	p.residency_s = 2 * c + 0.01;
	ck_assert_int_eq(decide(4, v, 1, &p, 1), 2);
	p.migrated = 0; /* born here: only the age gate applies */
	p.residency_s = 0.1;
	ck_assert_int_eq(decide(4, v, 1, &p, 1), 2);
}
END_TEST

START_TEST(choice_of_process)
{
	struct policy_node v[2] = {T(2, 1.0), T(3, 0)};
	struct policy_proc p[4] = {Pr(5, 5), Pr(6, 50), Pr(7, 500), Pr(8, 80)};
	struct policy_decision d;

	p[2].io_heavy = 1;  /* never moved */
	p[3].immovable = 1; /* never moved */
	policy_init(&St, 100e6);
	/* both targets are drawn (only two); the idle one gives the larger gain */
	ck_assert_int_eq(decide_at(5, v, 2, p, 4, 1000, &d), 3);
	ck_assert_uint_eq(d.proc, 6); /* the oldest movable process: the largest gain */
	ck_assert(fabs(d.gain - (50 * (d.s_src - d.s_dst) - d.cost_s)) < 1e-9);
	ck_assert(d.s_dst < 1.1); /* node 3, age-corrected a little toward the mean 0.5 */
}
END_TEST

/* 20 decisions among 30 identical idle nodes: the sequence of targets. */
static void run_seed(uint64_t seed, int *to)
{
	struct policy_node v[30];
	struct policy_proc p = Pr(7, 10);
	struct policy_decision d;

	for (int i = 0; i < 30; i++)
		v[i] = T(i + 2, 0);
	policy_init(&St, 100e6);
	policy_rng_seed(&R, seed);
	for (int i = 0; i < 20; i++)
		to[i] = decide_at(4, v, 30, &p, 1, 1000 * (i + 1), &d);
}

START_TEST(deterministic_for_a_seed)
{
	int a[20], b[20], c[20], distinct = 0;

	run_seed(42, a);
	run_seed(42, b);
	run_seed(43, c);
	ck_assert_mem_eq(a, b, sizeof(a));
	ck_assert(memcmp(a, c, sizeof(a)) != 0);
	for (int i = 0; i < 20; i++) {
		int seen = 0;

		ck_assert_int_ge(a[i], 2);
		for (int j = 0; j < i; j++)
			seen |= a[j] == a[i];
		distinct += !seen;
	}
	ck_assert_int_ge(distinct, 8); /* random choices spread the moves: no herding */
}
END_TEST

START_TEST(rng_and_bad_input)
{
	struct policy_rng a, b;
	struct policy_input in = {.self = 1, .cpus = 0};
	struct policy_decision d;

	policy_rng_seed(&a, 7);
	policy_rng_seed(&b, 7);
	for (int i = 0; i < 1000; i++) {
		double u = policy_rng_uniform(&a);

		ck_assert(u >= 0 && u < 1);
		ck_assert(u == policy_rng_uniform(&b));
	}
	ck_assert_int_eq(policy_decide(&St, &P, &in, &R, &d), -EINVAL); /* 0 CPUs */
	in.cpus = 1;
	ck_assert_int_eq(policy_decide(NULL, &P, &in, &R, &d), -EINVAL);
	in.nprocs = 1; /* procs NULL */
	ck_assert_int_eq(policy_decide(&St, &P, &in, &R, &d), -EINVAL);
	ck_assert(fabs(P.margin - PLACE_MARGIN) < 1e-12);
	ck_assert_int_eq(P.stale_intervals, PLACE_AGE_INTERVALS);
}
END_TEST

static Suite *policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, moves_from_busy_to_idle);
	tcase_add_test(tc, hysteresis);
	tcase_add_test(tc, age_gate);
	tcase_add_test(tc, bandwidth_ewma);
	tcase_add_test(tc, stale_unknown_blocked_down);
	tcase_add_test(tc, age_correction);
	tcase_add_test(tc, memory_reserve);
	tcase_add_test(tc, one_per_interval);
	tcase_add_test(tc, residency);
	tcase_add_test(tc, choice_of_process);
	tcase_add_test(tc, deterministic_for_a_seed);
	tcase_add_test(tc, rng_and_bad_input);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(policy_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
