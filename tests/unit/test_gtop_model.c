/*
 * test_gtop_model.c - Check suite for tools/lib/gtop_model.c on hand-built cluster tables:
 * per-node counts of processes, guests and away; CPU% from tick deltas (node and process);
 * the daemon's facts (load, usable CPUs, CPU use) and when they are used; a down node; memory;
 * cluster totals; the sort orders.
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ssid/client.h"
#include "ssid/ptable.h"
#include "tools/lib/gtop_model.h"

#define HZ 100

/* A node with cpus CPUs, each with `busy` user ticks and `idle` idle ticks. */
static struct ptable_node *node(struct ptable *t, unsigned id, int state, uint32_t cpus,
				uint64_t uptime_cs, uint64_t busy, uint64_t idle)
{
	struct ptable_node *n = ptable_add_node(t);

	ck_assert_ptr_nonnull(n);
	n->id = (uint16_t)id;
	snprintf(n->name, sizeof(n->name), "node%u", id);
	n->state = (uint8_t)state;
	n->cpus = cpus;
	n->uptime_cs = uptime_cs;
	n->btime = 1700000000;
	n->cpu = calloc((size_t)cpus * PTABLE_CPU_FIELDS, sizeof(uint64_t));
	ck_assert_ptr_nonnull(n->cpu);
	for (uint32_t c = 0; c < cpus; c++) {
		n->cpu[c * PTABLE_CPU_FIELDS + 0] = busy;
		n->cpu[c * PTABLE_CPU_FIELDS + 3] = idle;
	}
	n->mem[PTABLE_MEM_TOTAL] = 8000000;
	n->mem[PTABLE_MEM_AVAILABLE] = 6000000;
	n->loadavg_c[0] = 150; /* 1.50 */
	return n;
}

static void proc(struct ptable *t, unsigned node_id, unsigned home, uint32_t pid, uint64_t ut,
		 uint64_t st)
{
	struct ptable_proc *p = ptable_add_proc(t);

	ck_assert_ptr_nonnull(p);
	p->gpid = ptable_gpid(home, pid);
	p->home = (uint16_t)home;
	p->node = (uint16_t)node_id;
	p->pid = pid;
	p->utime = ut;
	p->stime = st;
	snprintf(p->comm, sizeof(p->comm), "p%u", pid);
}

/* node1 (2 CPUs): 3 processes, one of them born on node2 (a guest); node2 (1 CPU): 2
 * processes, one born on node1 (node1's away); node3 down. */
static struct ptable *cluster(uint64_t up1, uint64_t busy1, uint64_t idle1, uint64_t t_a)
{
	struct ptable *t = ptable_new();

	ck_assert_ptr_nonnull(t);
	node(t, 1, PTABLE_NODE_UP, 2, up1, busy1, idle1);
	node(t, 2, PTABLE_NODE_UP, 1, 5000, 10, 10);
	node(t, 3, PTABLE_NODE_DOWN, 4, 5000, 10, 10);
	proc(t, 1, 1, 100, t_a, 0);
	proc(t, 1, 1, 101, 5, 5);
	proc(t, 1, 2, 200, 0, 1);
	proc(t, 2, 2, 201, 0, 0);
	proc(t, 2, 1, 102, 30, 0);
	ptable_sort(t);
	return t;
}

START_TEST(counts_and_down_node)
{
	struct ptable *t = cluster(1000, 100, 900, 10);
	struct gtop_model m;

	ck_assert_int_eq(gtop_model_build(&m, t, NULL, NULL, 0, HZ), 0);
	ck_assert_uint_eq(m.nnodes, 3);
	const struct gtop_node *n1 = gtop_model_node(&m, 1), *n2 = gtop_model_node(&m, 2),
			       *n3 = gtop_model_node(&m, 3);
	ck_assert_str_eq(n1->name, "node1");
	ck_assert_uint_eq(n1->procs, 3);
	ck_assert_uint_eq(n1->guests, 1);
	ck_assert_uint_eq(n1->away, 1);
	ck_assert_uint_eq(n2->procs, 2);
	ck_assert_uint_eq(n2->guests, 1);
	ck_assert_uint_eq(n2->away, 1);
	ck_assert_uint_eq(n1->cpus, 2);
	/* no daemon facts: load = 1-min loadavg per CPU */
	ck_assert_double_eq_tol(n1->load, 0.75, 1e-9);
	ck_assert_double_eq_tol(n2->load, 1.5, 1e-9);
	/* no previous table, no daemon: CPU% unknown */
	ck_assert(n1->cpu_pct < 0);
	ck_assert(n1->proc_pct < 0);
	ck_assert_uint_eq(n1->mem_total_kb, 8000000);
	ck_assert_uint_eq(n1->mem_used_kb, 2000000);
	/* down: state kept, figures unknown, no memory counted */
	ck_assert_int_eq(n3->state, PTABLE_NODE_DOWN);
	ck_assert(n3->load < 0 && n3->cpu_pct < 0);
	ck_assert_uint_eq(n3->procs, 0);
	ck_assert_uint_eq(n3->mem_total_kb, 0);
	/* totals over the two up nodes */
	ck_assert_uint_eq(m.tot.nodes, 3);
	ck_assert_uint_eq(m.tot.nodes_up, 2);
	ck_assert_uint_eq(m.tot.cpus, 3);
	ck_assert_uint_eq(m.tot.procs, 5);
	ck_assert_uint_eq(m.tot.away, 2);
	ck_assert_uint_eq(m.tot.mem_total_kb, 16000000);
	ck_assert_uint_eq(m.tot.mem_used_kb, 4000000);
	ck_assert_double_eq_tol(m.tot.load, (0.75 * 2 + 1.5) / 3, 1e-9);
	ck_assert(m.tot.cpu_pct < 0);
	/* without a previous table processes rank by CPU time */
	ck_assert_uint_eq(m.nprocs, 5);
	ck_assert_uint_eq(m.procs[0].p->gpid, ptable_gpid(1, 102));
	ck_assert(m.procs[0].pct < 0);
	ck_assert_uint_eq(m.procs[1].p->gpid, ptable_gpid(1, 100));
	gtop_model_clear(&m);
	ptable_free(t);
}
END_TEST

START_TEST(cpu_from_tick_deltas)
{
	/* node1: 1 s later (100 ticks), each of 2 CPUs 50 busy + 50 idle ticks more; process
	 * 100 used 60 ticks, node2's record did not advance. */
	struct ptable *prev = cluster(1000, 100, 900, 10);
	struct ptable *cur = cluster(1100, 150, 950, 70);
	struct gtop_model m;

	ck_assert_int_eq(gtop_model_build(&m, cur, prev, NULL, 0, HZ), 0);
	const struct gtop_node *n1 = gtop_model_node(&m, 1), *n2 = gtop_model_node(&m, 2);
	ck_assert_double_eq_tol(n1->cpu_pct, 50.0, 1e-9);
	/* processes on node1 used 60 of 2 x 100 ticks */
	ck_assert_double_eq_tol(n1->proc_pct, 30.0, 1e-9);
	ck_assert_double_eq_tol(m.tot.cpu_pct, 50.0, 1e-9); /* node2 has no figure */
	ck_assert(n2->cpu_pct < 0);
	ck_assert(n2->proc_pct < 0);
	ck_assert_uint_eq(m.procs[0].p->gpid, ptable_gpid(1, 100));
	ck_assert_double_eq_tol(m.procs[0].pct, 60.0, 1e-9);
	ck_assert_uint_eq(m.procs[0].ticks, 70);
	/* the others of node1 used nothing; node2's are unknown and rank last */
	ck_assert_double_eq_tol(m.procs[1].pct, 0.0, 1e-9);
	ck_assert(m.procs[3].pct < 0 && m.procs[4].pct < 0);
	ck_assert_uint_eq(m.procs[3].p->gpid, ptable_gpid(1, 102));
	gtop_model_clear(&m);
	ptable_free(prev);
	ptable_free(cur);
}
END_TEST

START_TEST(new_and_restarted_processes)
{
	struct ptable *prev = ptable_new(), *cur = ptable_new();
	struct gtop_model m;

	node(prev, 1, PTABLE_NODE_UP, 1, 1000, 0, 0);
	node(cur, 1, PTABLE_NODE_UP, 1, 1200, 0, 0); /* 2 s = 200 ticks */
	proc(prev, 1, 1, 10, 500, 0);		     /* restarted below: count from 0 */
	proc(cur, 1, 1, 10, 40, 0);
	proc(cur, 1, 1, 11, 100, 20); /* new: all of its time is in the interval */
	ptable_sort(prev);
	ptable_sort(cur);
	ck_assert_int_eq(gtop_model_build(&m, cur, prev, NULL, 0, HZ), 0);
	ck_assert_uint_eq(m.procs[0].p->pid, 11);
	ck_assert_double_eq_tol(m.procs[0].pct, 60.0, 1e-9);
	ck_assert_uint_eq(m.procs[1].p->pid, 10);
	ck_assert_double_eq_tol(m.procs[1].pct, 20.0, 1e-9);
	ck_assert_double_eq_tol(gtop_model_node(&m, 1)->proc_pct, 80.0, 1e-9);
	/* no CPU ticks at all: no node CPU% */
	ck_assert(gtop_model_node(&m, 1)->cpu_pct < 0);
	gtop_model_clear(&m);
	ptable_free(prev);
	ptable_free(cur);
}
END_TEST

START_TEST(daemon_facts)
{
	struct ptable *t = cluster(1000, 100, 900, 10);
	struct client_node cn[3];
	struct gtop_model m;

	memset(cn, 0, sizeof(cn));
	cn[0].id = 1; /* node1: the daemon's load, 1 usable CPU, 25% busy */
	snprintf(cn[0].name, sizeof(cn[0].name), "node1");
	snprintf(cn[0].state, sizeof(cn[0].state), "up");
	cn[0].load = 0.4;
	cn[0].cpu_use = 0.25;
	cn[0].cpus = 1;
	cn[1].id = 2; /* node2: no load facts yet (age -1): the table's figures stay */
	snprintf(cn[1].name, sizeof(cn[1].name), "node2");
	snprintf(cn[1].state, sizeof(cn[1].state), "up");
	cn[1].age_ms = -1;
	cn[1].load = 9;
	cn[2].id = 9; /* a node the table lacks */
	snprintf(cn[2].name, sizeof(cn[2].name), "far");
	snprintf(cn[2].state, sizeof(cn[2].state), "suspect");
	cn[2].load = 2.0;
	cn[2].cpus = 8;
	cn[2].mem_total_kb = 1000;
	cn[2].mem_free_kb = 250;
	ck_assert_int_eq(gtop_model_build(&m, t, NULL, cn, 3, HZ), 0);
	const struct gtop_node *n1 = gtop_model_node(&m, 1), *n2 = gtop_model_node(&m, 2),
			       *n9 = gtop_model_node(&m, 9);
	ck_assert_uint_eq(n1->cpus, 1);
	ck_assert_double_eq_tol(n1->load, 0.4, 1e-9);
	ck_assert_double_eq_tol(n1->cpu_pct, 25.0, 1e-9);
	ck_assert_double_eq_tol(n2->load, 1.5, 1e-9);
	ck_assert(n2->cpu_pct < 0);
	ck_assert_ptr_nonnull(n9);
	ck_assert_str_eq(n9->name, "far");
	ck_assert_int_eq(n9->state, PTABLE_NODE_SUSPECT);
	ck_assert_uint_eq(n9->cpus, 8);
	ck_assert_uint_eq(n9->mem_used_kb, 750);
	ck_assert_uint_eq(n9->procs, 0);
	ck_assert_uint_eq(m.nnodes, 4);
	ck_assert_uint_eq(m.nodes[3].id, 9); /* rows by id */
	ck_assert_uint_eq(m.tot.nodes_up, 3);
	ck_assert_uint_eq(m.tot.cpus, 1 + 1 + 8);
	ck_assert_double_eq_tol(m.tot.load, (0.4 + 1.5 + 2.0 * 8) / 10, 1e-9);
	gtop_model_clear(&m);

	/* tick deltas win over the daemon's CPU use when both exist */
	struct ptable *prev = cluster(900, 100, 900, 10), *cur = cluster(1000, 190, 910, 10);
	ck_assert_int_eq(gtop_model_build(&m, cur, prev, cn, 3, HZ), 0);
	ck_assert_double_eq_tol(gtop_model_node(&m, 1)->cpu_pct, 90.0, 1e-9);
	/* node1's processes: 0 ticks over 100 ticks x 1 usable CPU */
	ck_assert_double_eq_tol(gtop_model_node(&m, 1)->proc_pct, 0.0, 1e-9);
	gtop_model_clear(&m);
	ptable_free(prev);
	ptable_free(cur);
	ptable_free(t);
}
END_TEST

START_TEST(memory_without_available)
{
	struct ptable *t = ptable_new();
	struct gtop_model m;
	struct ptable_node *n = node(t, 4, PTABLE_NODE_UP, 1, 1, 0, 0);

	n->mem[PTABLE_MEM_AVAILABLE] = 0;
	n->mem[PTABLE_MEM_FREE] = 1000000;
	n->mem[PTABLE_MEM_BUFFERS] = 500000;
	n->mem[PTABLE_MEM_CACHED] = 500000;
	ck_assert_int_eq(gtop_model_build(&m, t, NULL, NULL, 0, HZ), 0);
	ck_assert_uint_eq(m.nodes[0].mem_used_kb, 6000000);
	gtop_model_clear(&m);
	ptable_free(t);
}
END_TEST

static void order(const struct gtop_model *m, const unsigned *want, size_t n)
{
	ck_assert_uint_eq(m->nnodes, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_uint_eq(m->nodes[i].id, want[i]);
}

START_TEST(sort_orders)
{
	struct ptable *prev = ptable_new(), *cur = ptable_new();
	struct gtop_model m;

	/* node1: load 0.5, 10% busy, mem 50%, 0 guests; node2: load 2, 90%, 25%, 2 guests;
	 * node3: load 0.5, 50%, 75%, 1 guest; node4 down */
	const uint64_t busy[] = {10, 90, 50}, avail[] = {4000, 6000, 2000}, la[] = {50, 200, 50};
	for (unsigned k = 1; k <= 3; k++) {
		node(prev, k, PTABLE_NODE_UP, 1, 100, 0, 0);
		struct ptable_node *n =
			node(cur, k, PTABLE_NODE_UP, 1, 200, busy[k - 1], 100 - busy[k - 1]);
		n->mem[PTABLE_MEM_TOTAL] = 8000;
		n->mem[PTABLE_MEM_AVAILABLE] = avail[k - 1];
		n->loadavg_c[0] = (uint32_t)la[k - 1];
	}
	node(cur, 4, PTABLE_NODE_DOWN, 1, 200, 0, 0);
	proc(cur, 2, 1, 5, 0, 0);
	proc(cur, 2, 3, 6, 0, 0);
	proc(cur, 3, 1, 7, 0, 0);
	ptable_sort(cur);
	ck_assert_int_eq(gtop_model_build(&m, cur, prev, NULL, 0, HZ), 0);
	order(&m, (unsigned[]){1, 2, 3, 4}, 4);
	gtop_model_sort(&m, GTOP_SORT_LOAD);
	order(&m, (unsigned[]){2, 1, 3, 4}, 4);
	gtop_model_sort(&m, GTOP_SORT_CPU);
	order(&m, (unsigned[]){2, 3, 1, 4}, 4);
	gtop_model_sort(&m, GTOP_SORT_MEM);
	order(&m, (unsigned[]){3, 1, 2, 4}, 4);
	gtop_model_sort(&m, GTOP_SORT_GUESTS);
	order(&m, (unsigned[]){2, 3, 1, 4}, 4);
	gtop_model_sort(&m, GTOP_SORT_NODE);
	order(&m, (unsigned[]){1, 2, 3, 4}, 4);
	gtop_model_sort(&m, 99);
	order(&m, (unsigned[]){1, 2, 3, 4}, 4);
	ck_assert_uint_eq(gtop_model_node(&m, 1)->away, 2);
	gtop_model_clear(&m);
	ptable_free(prev);
	ptable_free(cur);
}
END_TEST

START_TEST(sort_names)
{
	int k = -1;

	for (int i = 0; i < GTOP_SORT_N; i++) {
		ck_assert_int_eq(gtop_sort_parse(gtop_sort_name(i), &k), 0);
		ck_assert_int_eq(k, i);
	}
	ck_assert_str_eq(gtop_sort_name(GTOP_SORT_GUESTS), "guests");
	ck_assert_str_eq(gtop_sort_name(GTOP_SORT_N), "?");
	ck_assert_int_eq(gtop_sort_parse("speed", &k), -EINVAL);
}
END_TEST

START_TEST(empty_table)
{
	struct ptable *t = ptable_new();
	struct gtop_model m;

	ck_assert_int_eq(gtop_model_build(&m, t, t, NULL, 0, HZ), 0);
	ck_assert_uint_eq(m.nnodes, 0);
	ck_assert_uint_eq(m.nprocs, 0);
	ck_assert(m.tot.load < 0 && m.tot.cpu_pct < 0);
	gtop_model_sort(&m, GTOP_SORT_LOAD);
	gtop_model_clear(&m);
	gtop_model_clear(&m);
	ptable_free(t);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("gtop_model");
	TCase *tc = tcase_create("model");

	tcase_add_test(tc, counts_and_down_node);
	tcase_add_test(tc, cpu_from_tick_deltas);
	tcase_add_test(tc, new_and_restarted_processes);
	tcase_add_test(tc, daemon_facts);
	tcase_add_test(tc, memory_without_available);
	tcase_add_test(tc, sort_orders);
	tcase_add_test(tc, sort_names);
	tcase_add_test(tc, empty_table);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
