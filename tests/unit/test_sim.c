/*
 * test_sim.c - Check suite for the simulator core (tools/lib/sim.c): the processor-sharing
 * engine against the M/G/1-PS closed form, determinism for a seed, common random numbers
 * (every policy measures the same jobs), what each policy may do (none moves nothing, the
 * pooled ideal is the lowest), a burst's makespan between its physical bounds, and refusal
 * of bad configurations. Under 1 s.
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/lib/sim.h"

static struct sim_config small(double rho)
{
	struct sim_config c;

	sim_config_default(&c);
	c.nodes = 8;
	c.rho = rho;
	c.warmup_s = 50;
	c.duration_s = 200;
	c.seed = 7;
	return c;
}

START_TEST(mg1_processor_sharing)
{
	/* one node, one core, no balancing: M/G/1-PS, mean slowdown 1/(1-rho) whatever the
	 * demand distribution (a light tail so that a short run sees the nominal load) */
	struct sim_config c;
	struct sim_result r;

	sim_config_default(&c);
	c.nodes = 1;
	c.alpha = 2.5;
	c.rho = 0.6;
	c.warmup_s = 500;
	c.duration_s = 20000;
	ck_assert_int_eq(sim_run(&c, SIM_NONE, &r), 0);
	ck_assert_msg(fabs(r.mean_slowdown - 2.5) < 0.1, "mean slowdown %.3f, theory 2.5",
		      r.mean_slowdown);
	ck_assert(r.p95_slowdown > r.mean_slowdown);
	ck_assert(r.jobs > 100000);
	/* the pooled ideal of one node is the same server */
	struct sim_result i;
	ck_assert_int_eq(sim_run(&c, SIM_IDEAL, &i), 0);
	ck_assert(fabs(i.mean_slowdown - r.mean_slowdown) < 1e-12);
}
END_TEST

START_TEST(bounded_pareto_mean)
{
	struct sim_config c;

	sim_config_default(&c);
	/* alpha 1: L H / (H - L) ln(H / L) */
	ck_assert(fabs(sim_mean_demand(&c) - 0.01 * 1e4 / (1e4 - 0.01) * log(1e6)) < 1e-9);
	c.alpha = 2;
	c.x_min_s = 1;
	c.x_max_s = 1e9; /* nearly an unbounded Pareto(2, 1): mean 2 */
	ck_assert(fabs(sim_mean_demand(&c) - 2) < 1e-6);
}
END_TEST

START_TEST(deterministic_and_common_numbers)
{
	struct sim_config c = small(0.8);
	struct sim_result r[SIM_NPOLICIES], again;

	for (int p = 0; p < SIM_NPOLICIES; p++) {
		ck_assert_int_eq(sim_run(&c, p, &r[p]), 0);
		/* the same jobs arrive in the measured window whatever the policy */
		ck_assert_uint_eq(r[p].jobs, r[SIM_NONE].jobs);
		ck_assert(r[p].mean_slowdown >= 1.0 - 1e-9);
	}
	ck_assert_int_eq(sim_run(&c, SIM_OURS, &again), 0);
	ck_assert_mem_eq(&again, &r[SIM_OURS], sizeof(again));
	c.seed++;
	ck_assert_int_eq(sim_run(&c, SIM_OURS, &again), 0);
	ck_assert(again.mean_slowdown != r[SIM_OURS].mean_slowdown);
	/* what the policies may do */
	ck_assert(r[SIM_NONE].mig_per_proc == 0 && r[SIM_IDEAL].mig_per_proc == 0);
	ck_assert(r[SIM_OURS].mig_per_proc > 0 && r[SIM_MOSIX].mig_per_proc > 0);
	ck_assert(r[SIM_RANDOM].pingpong == 0 && r[SIM_THRESHOLD].pingpong == 0);
	for (int p = 0; p < SIM_NPOLICIES; p++)
		if (p != SIM_IDEAL)
			ck_assert_msg(r[SIM_IDEAL].mean_slowdown < r[p].mean_slowdown,
				      "ideal %.3f not below %s %.3f", r[SIM_IDEAL].mean_slowdown,
				      sim_policy_name(p), r[p].mean_slowdown);
	ck_assert(r[SIM_OURS].mean_slowdown < r[SIM_NONE].mean_slowdown);
}
END_TEST

START_TEST(burst_bounds)
{
	/* 16 jobs of 20 s start at once on node 1 of 8: without balancing they need 320 s
	 * of that one core; pooled, 320 s over 8 cores; balancing lands in between */
	struct sim_config c = small(0.2);
	struct sim_result none, ideal, ours;

	c.burst = 16;
	c.burst_cpu_s = 20;
	ck_assert_int_eq(sim_run(&c, SIM_NONE, &none), 0);
	ck_assert_int_eq(sim_run(&c, SIM_IDEAL, &ideal), 0);
	ck_assert_int_eq(sim_run(&c, SIM_OURS, &ours), 0);
	ck_assert_msg(none.burst_makespan_s >= 320, "none: %.1f s", none.burst_makespan_s);
	ck_assert(none.burst_slowdown > 10 && none.burst_moves == 0);
	ck_assert_msg(ideal.burst_makespan_s >= 40 && ideal.burst_makespan_s < 80, "ideal: %.1f s",
		      ideal.burst_makespan_s);
	ck_assert_msg(ours.burst_makespan_s < none.burst_makespan_s / 3, "ours: %.1f s",
		      ours.burst_makespan_s);
	ck_assert(ours.burst_moves >= 8);	 /* at least half the burst left node 1 */
	ck_assert_uint_eq(ours.jobs, none.jobs); /* burst jobs are counted apart */
}
END_TEST

START_TEST(names_and_bad_config)
{
	struct sim_config c = small(0.5);
	struct sim_result r;

	for (int p = 0; p < SIM_NPOLICIES; p++)
		ck_assert_int_eq(sim_policy_parse(sim_policy_name(p)), p);
	ck_assert_int_eq(sim_policy_parse("ours+place"), SIM_OURS_PLACE);
	ck_assert_int_eq(sim_policy_parse("Ours"), -1);
	ck_assert_int_eq(sim_run(&c, SIM_NPOLICIES, &r), -EINVAL);
	c.nodes = 0;
	ck_assert_int_eq(sim_run(&c, SIM_NONE, &r), -EINVAL);
	c = small(0);
	ck_assert_int_eq(sim_run(&c, SIM_NONE, &r), -EINVAL);
	c = small(0.5);
	c.x_max_s = c.x_min_s;
	ck_assert_int_eq(sim_run(&c, SIM_NONE, &r), -EINVAL);
	ck_assert_int_eq(sim_run(NULL, SIM_NONE, &r), -EINVAL);
}
END_TEST

static Suite *sim_suite(void)
{
	Suite *s = suite_create("sim");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, mg1_processor_sharing);
	tcase_add_test(tc, bounded_pareto_mean);
	tcase_add_test(tc, deterministic_and_common_numbers);
	tcase_add_test(tc, burst_bounds);
	tcase_add_test(tc, names_and_bad_config);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(sim_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
