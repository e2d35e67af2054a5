/*
 * test_ptable.c - Check suite for ssid/ptable*.c: the renderers against the real /proc of a
 * test child, field by field (gpid for pid, ppid/pgrp/session as gpids, starttime rebased);
 * the cluster time base and global sums over a synthetic two-node table; the codec's round trip
 * and its refusal of truncated, oversized and inconsistent input.
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ssid/buf.h"
#include "ssid/ptable.h"
#include "ssid/ssierr.h"

#define NODE 7

static pid_t child;

/* Start `sleep 1000 ptable-test` and wait until it has exec'd. */
static void start_child(void)
{
	char path[64], comm[32] = "";

	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		execlp("sleep", "sleep", "1000", NULL);
		_exit(127);
	}
	snprintf(path, sizeof(path), "/proc/%d/comm", child);
	for (int i = 0; i < 200 && strcmp(comm, "sleep\n") != 0; i++) {
		FILE *f = fopen(path, "re");
		if (f) {
			if (!fgets(comm, sizeof(comm), f))
				comm[0] = '\0';
			fclose(f);
		}
		usleep(10000);
	}
	ck_assert_str_eq(comm, "sleep\n");
	usleep(50000); /* let it settle into its sleep */
}

static void stop_child(void)
{
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
}

/* Whole file into a NUL-terminated malloc'd buffer; *len its size. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *b = calloc(1, 65536);
	size_t n;

	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(b);
	n = fread(b, 1, 65535, f);
	fclose(f);
	if (len)
		*len = n;
	return b;
}

static struct ptable *local_table(void)
{
	struct ptable *t = ptable_new();
	struct ptable_node *n = ptable_add_node(t);

	ck_assert_int_eq(ptable_read_node(n, "/proc", NODE, "nodeseven"), 0);
	ck_assert_int_eq(ptable_read_local(t, "/proc", NODE), 0);
	return t;
}

/* Split "pid (comm) f3 f4 ..." into fields; f[1] = comm, f[k] = field k (1-based). */
static int stat_fields(char *s, char **f, int max)
{
	char *open = strchr(s, '('), *close = strrchr(s, ')');
	int n = 3;

	*open = '\0';
	*close = '\0';
	f[1] = s;
	f[2] = open + 1;
	for (char *save = NULL, *t = strtok_r(close + 2, " \n", &save); t && n <= max;
	     t = strtok_r(NULL, " \n", &save))
		f[n++] = t;
	return n - 1;
}

static uint32_t gp(const char *local)
{
	long v = strtol(local, NULL, 10);
	return v > 0 ? ptable_gpid(NODE, (uint32_t)v) : 0;
}

START_TEST(stat_matches_proc)
{
	char path[64], *real, *mine, *rf[60], *mf[60];
	struct ptable_rctx r;
	struct buf out;
	struct ptable *t;

	start_child();
	t = local_table();
	const struct ptable_proc *p = ptable_find(t, ptable_gpid(NODE, (uint32_t)child));
	ck_assert_ptr_nonnull(p);
	snprintf(path, sizeof(path), "/proc/%d/stat", child);
	real = slurp(path, NULL);
	ptable_rctx_init(&r, t, NODE);
	buf_init(&out);
	ck_assert_int_eq(ptable_render_stat(&r, p, &out), 0);
	ck_assert_int_eq(buf_put_u8(&out, 0), 0);
	mine = strdup((const char *)out.d);
	ck_assert_int_eq(stat_fields(real, rf, 52), 52);
	ck_assert_int_eq(stat_fields(mine, mf, 52), 52);
	ck_assert_uint_eq(strtoul(mf[1], NULL, 10), ptable_gpid(NODE, (uint32_t)child));
	ck_assert_str_eq(mf[2], "sleep");
	ck_assert_str_eq(mf[3], rf[3]);
	for (int k = 4; k <= 6; k++) /* ppid pgrp session: gpids */
		ck_assert_uint_eq(strtoul(mf[k], NULL, 10), gp(rf[k]));
	ck_assert_str_eq(mf[7], rf[7]); /* tty_nr: local process keeps it */
	ck_assert_uint_eq((uint32_t)strtol(mf[8], NULL, 10),
			  strcmp(rf[8], "-1") == 0 ? (uint32_t)-1 : gp(rf[8]));
	/* flags, faults, times, priority, nice, threads, itrealvalue, starttime (one node: the
	 * cluster base is this node's btime), vsize, rss, rsslim, signals, exit_signal, cpu,
	 * rt_priority, policy. */
	static const int same[] = {9,  10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
				   22, 23, 24, 25, 31, 32, 33, 34, 38, 39, 40, 41};
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++)
		ck_assert_msg(strcmp(mf[same[i]], rf[same[i]]) == 0, "stat field %d: %s vs %s",
			      same[i], mf[same[i]], rf[same[i]]);
	free(real);
	free(mine);
	buf_free(&out);
	ptable_free(t);
	stop_child();
}
END_TEST

/* Value of key in a status text ("" if absent). */
static void status_val(const char *s, const char *key, char *v, size_t cap)
{
	size_t kl = strlen(key);

	v[0] = '\0';
	for (const char *l = s; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strncmp(l, key, kl) == 0 && l[kl] == ':') {
			const char *b = l + kl + 1;
			size_t n = strcspn(b, "\n");
			snprintf(v, cap, "%.*s", (int)(n < cap ? n : cap - 1), b);
			return;
		}
	}
}

START_TEST(status_statm_cmdline_cgroup_match_proc)
{
	char path[64], *real, rv[256], mv[256];
	struct ptable_rctx r;
	struct buf out;
	struct ptable *t;
	size_t rlen;

	start_child();
	t = local_table();
	const struct ptable_proc *p = ptable_find(t, ptable_gpid(NODE, (uint32_t)child));
	ck_assert_ptr_nonnull(p);
	ptable_rctx_init(&r, t, NODE);

	/* status: every key we render has the kernel's value, except the pid keys. */
	snprintf(path, sizeof(path), "/proc/%d/status", child);
	real = slurp(path, NULL);
	buf_init(&out);
	ck_assert_int_eq(ptable_render_status(&r, p, &out), 0);
	ck_assert_int_eq(buf_put_u8(&out, 0), 0);
	const char *mine = (const char *)out.d;
	int keys = 0;
	for (const char *l = mine; *l; l = strchr(l, '\n') + 1) {
		char key[32];
		snprintf(key, sizeof(key), "%.*s", (int)strcspn(l, ":"), l);
		status_val(mine, key, mv, sizeof(mv));
		status_val(real, key, rv, sizeof(rv));
		keys++;
		if (!strcmp(key, "Tgid") || !strcmp(key, "Pid")) {
			ck_assert_uint_eq(strtoul(mv + 1, NULL, 10),
					  ptable_gpid(NODE, (uint32_t)child));
		} else if (!strcmp(key, "PPid")) {
			ck_assert_uint_eq(strtoul(mv + 1, NULL, 10), gp(rv + 1));
		} else if (!strcmp(key, "SigQ")) {
			/* queued/limit: the count is the whole uid's, which other processes of
			 * the same user change between the two reads; the limit is the task's */
			ck_assert_msg(strchr(mv, '/') && strchr(rv, '/') &&
					      !strcmp(strchr(mv, '/'), strchr(rv, '/')),
				      "status SigQ: '%s' vs '%s'", mv, rv);
		} else if (strcmp(key, "Ngid") != 0) {
			ck_assert_msg(strcmp(mv, rv) == 0, "status %s: '%s' vs '%s'", key, mv, rv);
		}
	}
	ck_assert_int_ge(keys, 30);
	free(real);

	/* statm: all seven numbers. */
	snprintf(path, sizeof(path), "/proc/%d/statm", child);
	real = slurp(path, NULL);
	buf_reset(&out);
	ck_assert_int_eq(ptable_render_statm(&r, p, &out), 0);
	ck_assert_int_eq(buf_put_u8(&out, 0), 0);
	ck_assert_str_eq((const char *)out.d, real);
	free(real);

	/* cmdline and cgroup: the same bytes. */
	snprintf(path, sizeof(path), "/proc/%d/cmdline", child);
	real = slurp(path, &rlen);
	buf_reset(&out);
	ck_assert_int_eq(ptable_render_cmdline(&r, p, &out), 0);
	ck_assert_uint_eq(out.len, rlen);
	ck_assert_mem_eq(out.d, real, rlen);
	ck_assert_mem_eq(out.d, "sleep\0001000\000", rlen);
	free(real);
	snprintf(path, sizeof(path), "/proc/%d/cgroup", child);
	real = slurp(path, &rlen);
	buf_reset(&out);
	ck_assert_int_eq(ptable_render_cgroup(&r, p, &out), 0);
	ck_assert_uint_eq(out.len, rlen);
	ck_assert_mem_eq(out.d, real, rlen);
	free(real);
	buf_free(&out);
	ptable_free(t);
	stop_child();
}
END_TEST

/* Two up nodes (btime 1000 and 1010, 2 and 1 CPUs) and a down one (ignored by sums). */
static struct ptable *two_nodes(void)
{
	struct ptable *t = ptable_new();
	static const struct {
		unsigned id, cpus, state;
		uint64_t btime, memtotal;
		const char *name;
	} spec[] = {{1, 2, PTABLE_NODE_UP, 1000, 1000, "a"},
		    {2, 1, PTABLE_NODE_UP, 1010, 500, "b"},
		    {3, 4, PTABLE_NODE_DOWN, 900, 7777, "c"}};

	for (int i = 0; i < 3; i++) {
		struct ptable_node *n = ptable_add_node(t);
		n->id = (uint16_t)spec[i].id;
		snprintf(n->name, sizeof(n->name), "%s", spec[i].name);
		n->state = (uint8_t)spec[i].state;
		n->btime = spec[i].btime;
		n->mem[PTABLE_MEM_TOTAL] = spec[i].memtotal;
		n->loadavg_c[0] = 150;
		n->cpus = spec[i].cpus;
		n->cpu = calloc(n->cpus, PTABLE_CPU_FIELDS * sizeof(uint64_t));
		for (uint32_t c = 0; c < n->cpus; c++)
			n->cpu[c * PTABLE_CPU_FIELDS] = 10 * (c + 1),
				   n->cpu[c * PTABLE_CPU_FIELDS + 3] = 100;
	}
	for (int i = 0; i < 2; i++) {
		struct ptable_proc *p = ptable_add_proc(t);
		p->home = 1;
		p->node = (uint16_t)(i + 1);
		p->pid = (uint32_t)(100 + i);
		p->gpid = ptable_gpid(1, p->pid);
		p->state = 'S';
		p->tty_nr = 34816;
		p->tpgid = (int32_t)p->gpid;
		p->starttime = 500;
		snprintf(p->comm, sizeof(p->comm), "a) b");
	}
	ptable_sort(t);
	return t;
}

START_TEST(time_base_and_sums)
{
	struct ptable *t = two_nodes();
	struct ptable_rctx r;
	struct buf out;
	char *f[60], *s;

	ptable_rctx_init(&r, t, 1);
	ck_assert_uint_eq(r.btime_cluster, 1000);
	/* The process on node b (booted 10 s later) is rebased by 10 s of ticks. */
	ck_assert_uint_eq(ptable_starttime(&r, &t->procs[1]), 500 + 10 * (uint64_t)r.hz);
	ck_assert_uint_eq(ptable_starttime(&r, &t->procs[0]), 500);
	buf_init(&out);
	ck_assert_int_eq(ptable_render_stat(&r, &t->procs[1], &out), 0);
	ck_assert_int_eq(buf_put_u8(&out, 0), 0);
	s = strdup((const char *)out.d);
	ck_assert_int_ge(stat_fields(s, f, 52), 41);
	ck_assert_str_eq(f[2], "a) b"); /* comm up to the LAST ')' */
	ck_assert_str_eq(f[7], "0");	/* remote: no tty */
	ck_assert_str_eq(f[8], "-1");
	ck_assert_uint_eq(strtoull(f[22], NULL, 10), 500 + 10 * (uint64_t)r.hz);
	free(s);

	buf_reset(&out);
	ck_assert_int_eq(ptable_render_gstat(&r, &out), 0);
	ck_assert_int_eq(buf_put_u8(&out, 0), 0);
	/* cpu: 10+20 (a) + 10 (b); 3 cpuN lines; node c (down) left out; btime = 1000. */
	ck_assert_ptr_nonnull(strstr((const char *)out.d, "cpu  40 0 0 300 0 0 0 0 0 0\n"));
	ck_assert_ptr_nonnull(strstr((const char *)out.d, "\ncpu2 10 0 0 100"));
	ck_assert_ptr_null(strstr((const char *)out.d, "\ncpu3 "));
	ck_assert_ptr_nonnull(strstr((const char *)out.d, "\nbtime 1000\n"));

	buf_reset(&out);
	ck_assert_int_eq(ptable_render_meminfo(&r, &out), 0);
	ck_assert_int_eq(buf_put_u8(&out, 0), 0);
	ck_assert_ptr_nonnull(strstr((const char *)out.d, "MemTotal:           1500 kB\n"));

	buf_reset(&out);
	ck_assert_int_eq(ptable_render_loadavg(&r, &out), 0);
	ck_assert_int_eq(strncmp((const char *)out.d, "3.00 ", 5), 0);

	buf_reset(&out);
	ck_assert_int_eq(ptable_render_cpuinfo(&r, &out), 0);
	ck_assert_int_eq(buf_put_u8(&out, 0), 0);
	ck_assert_ptr_nonnull(strstr((const char *)out.d, "processor\t: 2\n"));
	ck_assert_ptr_null(strstr((const char *)out.d, "processor\t: 3\n"));

	buf_reset(&out);
	ck_assert_int_eq(ptable_render_pid_max(&r, &out), 0);
	ck_assert_mem_eq(out.d, "2147483647\n", 11);
	buf_free(&out);
	ptable_free(t);
}
END_TEST

START_TEST(uptime_is_now_minus_btime)
{
	struct ptable *t = local_table();
	struct ptable_rctx r;

	ptable_rctx_init(&r, t, NODE);
	double now = (double)time(NULL);
	ck_assert_msg(r.uptime + (double)r.btime_cluster > now - 1.5 &&
			      r.uptime + (double)r.btime_cluster < now + 1.5,
		      "btime %" PRIu64 " + uptime %.2f vs now %.0f", r.btime_cluster, r.uptime,
		      now);
	ptable_free(t);
}
END_TEST

START_TEST(codec_round_trip)
{
	struct ptable *t = local_table(), *d = NULL;
	struct buf a, b;

	buf_init(&a);
	buf_init(&b);
	ck_assert_int_gt(t->nprocs, 3);
	ck_assert_int_eq(ptable_encode(t, &a), 0);
	ck_assert_int_eq(ptable_decode(&a, &d), 0);
	ck_assert_uint_eq(buf_avail(&a), 0);
	ck_assert_uint_eq(d->nprocs, t->nprocs);
	ck_assert_uint_eq(d->nnodes, 1);
	ck_assert_str_eq(d->nodes[0].name, "nodeseven");
	ck_assert_uint_eq(d->nodes[0].cpus, t->nodes[0].cpus);
	for (uint32_t i = 0; i < t->nprocs; i++) {
		const struct ptable_proc *x = &t->procs[i], *y = &d->procs[i];
		ck_assert_uint_eq(x->gpid, y->gpid);
		ck_assert_str_eq(x->comm, y->comm);
		ck_assert_uint_eq(x->cmdline_len, y->cmdline_len);
		if (x->cmdline_len)
			ck_assert_mem_eq(x->cmdline, y->cmdline, x->cmdline_len);
		ck_assert_mem_eq(x->vm, y->vm, sizeof(x->vm));
		ck_assert_uint_eq(x->starttime, y->starttime);
	}
	ck_assert_int_eq(ptable_encode(d, &b), 0);
	ck_assert_uint_eq(a.len, b.len);
	ck_assert_mem_eq(a.d, b.d, a.len);
	buf_free(&a);
	buf_free(&b);
	ptable_free(t);
	ptable_free(d);
}
END_TEST

static int decode_bytes(const uint8_t *p, size_t n)
{
	struct ptable *t = (struct ptable *)1;
	struct buf v;
	int r;

	buf_view(&v, p, n);
	r = ptable_decode(&v, &t);
	if (r < 0)
		ck_assert_ptr_null(t);
	ptable_free(t);
	return r;
}

START_TEST(codec_rejects_bad_input)
{
	struct ptable *t = two_nodes();
	struct buf a;

	buf_init(&a);
	ck_assert_int_eq(ptable_encode(t, &a), 0);
	ck_assert_int_eq(decode_bytes(a.d, a.len), 0);
	/* Every proper prefix is refused. */
	for (size_t n = 0; n < a.len; n++)
		ck_assert_int_lt(decode_bytes(a.d, n), 0);
	uint8_t *c = malloc(a.len);
	memcpy(c, a.d, a.len);
	c[0] ^= 1; /* magic */
	ck_assert_int_eq(decode_bytes(c, a.len), SSI_E_CORRUPT);
	memcpy(c, a.d, a.len);
	c[5] = 9; /* version */
	ck_assert_int_eq(decode_bytes(c, a.len), SSI_E_VERSION);
	memcpy(c, a.d, a.len);
	c[18] = c[19] = c[20] = c[21] = 0xff; /* nprocs 2^32-1 */
	ck_assert_int_eq(decode_bytes(c, a.len), SSI_E_TOOBIG);
	memcpy(c, a.d, a.len);
	c[21] = 200; /* 200 processes claimed in a few hundred bytes */
	ck_assert_int_eq(decode_bytes(c, a.len), SSI_E_TRUNCATED);
	free(c);
	buf_free(&a);

	/* Inconsistent tables: duplicate gpid, unknown node, gpid not of its home. */
	t->procs[1].gpid = t->procs[0].gpid;
	buf_init(&a);
	ck_assert_int_eq(ptable_encode(t, &a), 0);
	ck_assert_int_eq(decode_bytes(a.d, a.len), SSI_E_BADFIELD);
	buf_free(&a);
	t->procs[1].gpid = ptable_gpid(1, 101);
	t->procs[1].node = 9;
	buf_init(&a);
	ck_assert_int_eq(ptable_encode(t, &a), 0);
	ck_assert_int_eq(decode_bytes(a.d, a.len), SSI_E_BADFIELD);
	buf_free(&a);
	t->procs[1].node = 2;
	t->procs[1].home = 2;
	buf_init(&a);
	ck_assert_int_eq(ptable_encode(t, &a), 0);
	ck_assert_int_eq(decode_bytes(a.d, a.len), SSI_E_BADFIELD);
	buf_free(&a);
	ptable_free(t);
}
END_TEST

START_TEST(read_pid_gone)
{
	struct ptable_proc p;
	pid_t c = fork();

	ck_assert_int_ge(c, 0);
	if (c == 0)
		_exit(0);
	waitpid(c, NULL, 0);
	ck_assert_int_eq(ptable_read_pid("/proc", NODE, (uint32_t)c, &p), -ENOENT);
	ck_assert_int_eq(ptable_read_pid("/proc", NODE, (uint32_t)getpid(), &p), 0);
	ck_assert_uint_eq(p.gpid, ptable_gpid(NODE, (uint32_t)getpid()));
	ck_assert_uint_eq(p.uid[1], geteuid());
	ptable_proc_clear(&p);
	ck_assert_int_eq(ptable_read_pid("/nonexistent", NODE, 1, &p), -ENOENT);
}
END_TEST

static Suite *ptable_suite(void)
{
	Suite *s = suite_create("ptable");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, stat_matches_proc);
	tcase_add_test(tc, status_statm_cmdline_cgroup_match_proc);
	tcase_add_test(tc, time_base_and_sums);
	tcase_add_test(tc, uptime_is_now_minus_btime);
	tcase_add_test(tc, codec_round_trip);
	tcase_add_test(tc, codec_rejects_bad_input);
	tcase_add_test(tc, read_pid_gone);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ptable_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
