/*
 * test_gossip.c - Check suite for ssid/gossip.c: merge by freshness, window selection, the
 * push/pull plan with an injected random source, jitter bounds, learning of new nodes, the
 * conversion to and from the wire codec; and a small simulation showing that news reaches
 * every node of 16 within O(log n) rounds.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ssid/gossip.h"
#include "ssid/ssierr.h"

static uint32_t seq_next(void *ctx)
{
	uint32_t *v = ctx;
	return (*v)++;
}

static uint32_t lcg_next(void *ctx)
{
	uint64_t *s = ctx;
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(*s >> 33);
}

static struct gossip_entry mk(int id, const char *name, double load)
{
	struct gossip_entry e;

	memset(&e, 0, sizeof(e));
	e.id = id;
	snprintf(e.name, sizeof(e.name), "%s", name);
	snprintf(e.addr, sizeof(e.addr), "127.0.1.%d:7022", id);
	e.l.load = load;
	e.l.cpus = 2;
	return e;
}

START_TEST(merge_fresher_wins)
{
	static struct gossip_table t;
	struct gossip_entry in[2];
	uint32_t age[2];
	int fresh[4];

	gossip_init(&t, 1, "node1", "127.0.1.1:7022");
	in[0] = mk(2, "node2", 0.5);
	age[0] = 300;
	ck_assert_int_eq(gossip_merge(&t, in, age, 1, 10000, fresh, 4), 1);
	ck_assert_int_eq(fresh[0], 2);
	ck_assert_int_eq(gossip_age(&t, 2, 10000), 300);
	/* Older news (age 500 at t=10100 -> origin 9600 < 9700) is ignored. */
	in[0] = mk(2, "node2", 9.0);
	age[0] = 500;
	ck_assert_int_eq(gossip_merge(&t, in, age, 1, 10100, fresh, 4), 0);
	ck_assert(t.e[2].l.load == 0.5);
	/* Fresher news replaces it and keeps the address when the sender omits it. */
	in[0] = mk(2, "node2", 1.5);
	in[0].addr[0] = '\0';
	age[0] = 10;
	gossip_merge(&t, in, age, 1, 10100, fresh, 4);
	ck_assert(t.e[2].l.load == 1.5);
	ck_assert_str_eq(t.e[2].addr, "127.0.1.2:7022");
	/* A known id with another name is not taken over by gossip. */
	in[0] = mk(2, "impostor", 3.0);
	age[0] = 0;
	gossip_merge(&t, in, age, 1, 10300, fresh, 4);
	ck_assert_str_eq(t.e[2].name, "node2");
	ck_assert(t.e[2].l.load == 1.5);
	/* Our own entry is never overwritten by others. */
	in[0] = mk(1, "node1", 7.0);
	age[0] = 0;
	gossip_merge(&t, in, age, 1, 10200, fresh, 4);
	ck_assert(t.e[1].l.load == 0.0);
}
END_TEST

START_TEST(window_freshest_first_self_first)
{
	static struct gossip_table t;
	struct gossip_entry in[20], out[GOSSIP_WINDOW];
	uint32_t age[20], oage[GOSSIP_WINDOW];
	struct gossip_load self = {.load = 0.25, .cpus = 4};
	int fresh[20];
	size_t n;

	gossip_init(&t, 1, "node1", "");
	for (int i = 0; i < 20; i++) {
		char name[16];
		snprintf(name, sizeof(name), "n%d", i + 2);
		in[i] = mk(i + 2, name, i);
		age[i] = (uint32_t)(100 * (i + 1)); /* node 2 freshest, node 21 oldest */
	}
	ck_assert_int_eq(gossip_merge(&t, in, age, 20, 50000, fresh, 20), 20);
	gossip_set_self(&t, &self, 49000); /* self older than others: still first */
	n = gossip_window(&t, 50000, out, oage, GOSSIP_WINDOW);
	ck_assert_uint_eq(n, GOSSIP_WINDOW);
	ck_assert_int_eq(out[0].id, 1);
	ck_assert_uint_eq(oage[0], 1000);
	for (size_t i = 1; i < n; i++) {
		ck_assert_int_eq(out[i].id, (int)i + 1);
		ck_assert_uint_eq(oage[i], 100 * i);
	}
}
END_TEST

START_TEST(window_skips_unknown_facts)
{
	static struct gossip_table t;
	struct gossip_entry out[4];
	uint32_t age[4];

	gossip_init(&t, 1, "node1", "");
	gossip_know(&t, 5, "node5", "127.0.1.5:7022");		   /* configured, never heard */
	ck_assert_uint_eq(gossip_window(&t, 100, out, age, 4), 0); /* self not sampled yet */
	ck_assert_int_eq(gossip_age(&t, 5, 100), -1);
}
END_TEST

START_TEST(plan_push_pull_jitter)
{
	static struct gossip_table t;
	struct gossip_entry in[3];
	uint32_t age[3] = {100, 5000, 200}, v = 0;
	struct gossip_rng rng = {seq_next, &v};
	struct gossip_plan p;
	int up[3] = {2, 3, 4}, fresh[3];

	gossip_init(&t, 1, "node1", "");
	in[0] = mk(2, "node2", 0);
	in[1] = mk(3, "node3", 0);
	in[2] = mk(4, "node4", 0);
	gossip_merge(&t, in, age, 3, 10000, fresh, 3);
	gossip_plan_round(&t, up, 3, 10000, 1000, &rng, &p); /* round 1: push only */
	ck_assert_int_eq(p.push_to, up[1 % 3]);
	ck_assert_int_eq(p.pull_from, 0);
	gossip_plan_round(&t, up, 3, 10000, 1000, &rng, &p); /* round 2: pull from oldest */
	ck_assert_int_eq(p.pull_from, 3);
	for (int i = 0; i < 1000; i++) {
		gossip_plan_round(&t, up, 3, 10000, 1000, &rng, &p);
		ck_assert_int_ge(p.next_delay_ms, 800);
		ck_assert_int_le(p.next_delay_ms, 1200);
	}
	gossip_plan_round(&t, NULL, 0, 10000, 1000, &rng, &p);
	ck_assert_int_eq(p.push_to, 0);
	ck_assert_int_eq(p.pull_from, 0);
}
END_TEST

START_TEST(wire_round_trip_and_validation)
{
	struct gossip_entry e = mk(7, "node7", 1.234), back;
	struct wire_load_entry w;
	uint32_t age;

	e.l.mem_total_kb = 1000;
	e.l.mem_free_kb = 500;
	e.l.psi_cpu = 12.5;
	e.l.speed = 1.5;
	gossip_to_wire(&e, 42, &w);
	ck_assert_uint_eq(w.load, 1234);
	ck_assert_int_eq(gossip_from_wire(&w, &back, &age), 0);
	ck_assert_uint_eq(age, 42);
	ck_assert_int_eq(back.id, 7);
	ck_assert(back.l.load > 1.2339 && back.l.load < 1.2341);
	ck_assert(back.l.psi_cpu == 12.5);
	ck_assert_uint_eq(back.l.mem_free_kb, 500);
	w.node_id = 0;
	ck_assert_int_eq(gossip_from_wire(&w, &back, &age), SSI_E_BADFIELD);
	w.node_id = 7;
	strcpy(w.name, "Bad Name");
	ck_assert_int_eq(gossip_from_wire(&w, &back, &age), SSI_E_BADFIELD);
}
END_TEST

/* 16 nodes, each knowing only itself and its ring neighbour as up peers (all are up); news
 * of node 1's load must reach all within a few rounds of push-pull. */
START_TEST(simulation_spreads_news)
{
	enum {
		N = 16
	};
	static struct gossip_table t[N + 1];
	uint64_t seed = 12345;
	struct gossip_rng rng = {lcg_next, &seed};
	int rounds = 0, done = 0;

	for (int i = 1; i <= N; i++) {
		struct gossip_load l = {.load = i == 1 ? 5.0 : 0.0, .cpus = 1};
		char name[16];
		snprintf(name, sizeof(name), "n%d", i);
		gossip_init(&t[i], i, name, "");
		gossip_set_self(&t[i], &l, 0);
	}
	while (!done && rounds < 30) {
		int64_t now = 1000 * ++rounds;
		for (int i = 1; i <= N; i++) {
			struct gossip_entry w[GOSSIP_WINDOW];
			uint32_t age[GOSSIP_WINDOW];
			int up[N], nup = 0, fresh[N];
			struct gossip_plan p;
			size_t n;
			for (int j = 1; j <= N; j++)
				if (j != i)
					up[nup++] = j;
			gossip_plan_round(&t[i], up, (size_t)nup, now, 1000, &rng, &p);
			n = gossip_window(&t[i], now, w, age, GOSSIP_WINDOW);
			gossip_merge(&t[p.push_to], w, age, n, now, fresh, N);
			if (p.pull_from) {
				n = gossip_window(&t[p.pull_from], now, w, age, GOSSIP_WINDOW);
				gossip_merge(&t[i], w, age, n, now, fresh, N);
			}
		}
		done = 1;
		for (int i = 2; i <= N; i++)
			if (t[i].e[1].l.load != 5.0)
				done = 0;
	}
	ck_assert_msg(done, "news of node 1 did not reach all 16 nodes in 30 rounds");
	ck_assert_int_le(rounds, 8);
}
END_TEST

static Suite *gossip_suite(void)
{
	Suite *s = suite_create("gossip");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, merge_fresher_wins);
	tcase_add_test(tc, window_freshest_first_self_first);
	tcase_add_test(tc, window_skips_unknown_facts);
	tcase_add_test(tc, plan_push_pull_jitter);
	tcase_add_test(tc, wire_round_trip_and_validation);
	tcase_add_test(tc, simulation_spreads_news);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(gossip_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
