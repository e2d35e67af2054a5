/*
 * test_gsrc.c - Check suite for fuse/gsrc.c, the data source of gprocfs and gps: the local
 * source (snapshot reuse within ttl, refresh after, vanished gpids reported), and the ssid
 * source against the daemon's real control-socket server code (ssid/ctl.c) answering
 * PTABLE_CTL_TYPE with a two-node table, refusing it (old daemon), or absent. Also
 * ptable_merge, which the daemon uses to assemble the cluster table, and the versions of
 * per-process files gprocfs derives per snapshot (fuse/gtree.c gtree_prepare).
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuse/gsrc.h"
#include "fuse/gtree.h"
#include "ssid/ctl.h"
#include "ssid/ptable.h"
#include "ssid/ssierr.h"

static struct gsrc *local_src(unsigned ttl)
{
	struct gsrc_opts o = {.kind = GSRC_LOCAL, .node_id = 3, .ttl_ms = ttl};
	char err[256];
	struct gsrc *s;

	snprintf(o.node_name, sizeof(o.node_name), "three");
	s = gsrc_new(&o, err, sizeof(err));
	ck_assert_msg(s != NULL, "%s", err);
	return s;
}

START_TEST(local_snapshots_and_gone)
{
	struct gsrc *s = local_src(300);
	struct gsnap *a, *b, *c;
	uint32_t *gone;
	size_t n;
	pid_t child = fork();

	ck_assert_int_ge(child, 0);
	if (child == 0) {
		pause();
		_exit(0);
	}
	ck_assert_int_eq(gsrc_get(s, &a), 0);
	ck_assert_ptr_nonnull(ptable_find(a->t, ptable_gpid(3, (uint32_t)getpid())));
	ck_assert_ptr_nonnull(ptable_find(a->t, ptable_gpid(3, (uint32_t)child)));
	ck_assert_str_eq(a->t->nodes[0].name, "three");
	ck_assert_int_eq(gsrc_get(s, &b), 0);
	ck_assert_ptr_eq(a, b); /* within ttl: the same snapshot */
	gsnap_put(b);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	usleep(350 * 1000);
	ck_assert_int_eq(gsrc_get(s, &c), 0);
	ck_assert_ptr_ne(a, c);
	ck_assert_ptr_null(ptable_find(c->t, ptable_gpid(3, (uint32_t)child)));
	/* The old snapshot is still valid while held. */
	ck_assert_ptr_nonnull(ptable_find(a->t, ptable_gpid(3, (uint32_t)child)));
	ck_assert_int_eq(gsrc_take_gone(s, &gone, &n), 0);
	int found = 0;
	for (size_t i = 0; i < n; i++)
		found |= gone[i] == ptable_gpid(3, (uint32_t)child);
	ck_assert_msg(found, "child's gpid not reported gone");
	free(gone);
	gsnap_put(a);
	gsnap_put(c);
	gsrc_free(s);
}
END_TEST

START_TEST(refresher_serves_without_waiting)
{
	struct gsrc *s = local_src(100);
	struct gsnap *a, *b;

	ck_assert_int_eq(gsrc_start(s), 0);
	ck_assert_int_eq(gsrc_get(s, &a), 0);
	uint64_t first = a->mono_ms;
	gsnap_put(a);
	usleep(150 * 1000);
	/* Stale now: the caller gets the old one at once and the refresher fetches. */
	ck_assert_int_eq(gsrc_get(s, &b), 0);
	gsnap_put(b);
	/* The refresher replaces it (soon: within 2 s even on a loaded machine). */
	uint64_t seen = first;
	for (int i = 0; i < 40 && seen < first + 100; i++) {
		usleep(50 * 1000);
		ck_assert_int_eq(gsrc_get(s, &b), 0);
		seen = b->mono_ms;
		gsnap_put(b);
	}
	ck_assert_uint_ge(seen, first + 100);
	gsrc_free(s);
}
END_TEST

/* ---- a control-socket server using the daemon's own ctl.c ---- */

struct server {
	struct ctl_server *ctl;
	pthread_t th;
	volatile int stop;
	char path[128];
};

static int serve_table(void *ctx, const struct ctl_caller *who, struct buf *req, struct buf *reply)
{
	struct ptable *t = NULL, *peer = ptable_new();
	int r;

	(void)ctx;
	(void)who;
	(void)req;
	r = ptable_read_self(&t, "/proc", 1, "alpha");
	if (r < 0)
		return r;
	struct ptable_node *n = ptable_add_node(peer);
	n->id = 2;
	snprintf(n->name, sizeof(n->name), "beta");
	n->btime = t->nodes[0].btime - 5;
	n->cpus = 1;
	n->cpu = calloc(1, PTABLE_CPU_FIELDS * sizeof(uint64_t));
	struct ptable_proc *p = ptable_add_proc(peer);
	p->home = 1;
	p->node = 2;
	p->pid = 77;
	p->gpid = ptable_gpid(1, 77) | (1u << 21); /* a gpid no local process has */
	p->state = 'S';
	snprintf(p->comm, sizeof(p->comm), "visitor");
	r = ptable_merge(t, peer);
	if (r == 0)
		r = ptable_encode(t, reply);
	ptable_free(peer);
	ptable_free(t);
	return r;
}

static void *server_loop(void *arg)
{
	struct server *sv = arg;

	while (!sv->stop) {
		struct pollfd pfd = {ctl_server_fd(sv->ctl), POLLIN, 0};
		if (poll(&pfd, 1, 50) == 1)
			ctl_server_serve(sv->ctl);
	}
	return NULL;
}

static void server_start(struct server *sv, int with_handler)
{
	char err[256];

	memset(sv, 0, sizeof(*sv));
	snprintf(sv->path, sizeof(sv->path), "/tmp/test_gsrc.%d.sock", (int)getpid());
	ck_assert_int_eq(ctl_server_open(&sv->ctl, sv->path, err, sizeof(err)), 0);
	if (with_handler)
		ck_assert_int_eq(ctl_server_add(sv->ctl, PTABLE_CTL_TYPE, 0, serve_table, NULL), 0);
	ck_assert_int_eq(pthread_create(&sv->th, NULL, server_loop, sv), 0);
}

static void server_stop(struct server *sv)
{
	sv->stop = 1;
	pthread_join(sv->th, NULL);
	ctl_server_free(sv->ctl);
}

static struct gsrc *ssid_src(const char *sock)
{
	struct gsrc_opts o = {.kind = GSRC_SSID, .node_id = 1, .sock = sock};
	char err[256];
	struct gsrc *s;

	snprintf(o.node_name, sizeof(o.node_name), "alpha");
	s = gsrc_new(&o, err, sizeof(err));
	ck_assert_msg(s != NULL, "%s", err);
	return s;
}

START_TEST(ssid_source_reads_cluster_table)
{
	struct server sv;
	struct gsnap *g;
	struct gsrc *s;
	char err[256];

	server_start(&sv, 1);
	s = ssid_src(sv.path);
	ck_assert_int_eq(gsrc_get(s, &g), 0);
	ck_assert_int_eq(gsrc_last_error(s, err, sizeof(err)), 0);
	ck_assert_uint_eq(g->t->nnodes, 2);
	const struct ptable_proc *v = ptable_find(g->t, ptable_gpid(1, 77) | (1u << 21));
	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(v->comm, "visitor");
	ck_assert_str_eq(ptable_node_by_id(g->t, v->node)->name, "beta");
	ck_assert_ptr_nonnull(ptable_find(g->t, ptable_gpid(1, (uint32_t)getpid())));
	/* The cluster time base is the earlier boot (beta's). */
	ck_assert_uint_eq(ptable_btime_cluster(g->t), ptable_node_by_id(g->t, 1)->btime - 5);
	gsnap_put(g);
	gsrc_free(s);
	server_stop(&sv);
}
END_TEST

START_TEST(ssid_source_errors)
{
	struct server sv;
	struct gsnap *g;
	struct gsrc *s;
	char err[256];

	server_start(&sv, 0); /* a daemon without the table request */
	s = ssid_src(sv.path);
	ck_assert_int_eq(gsrc_get(s, &g), -EOPNOTSUPP);
	ck_assert_ptr_null(g);
	ck_assert_int_eq(gsrc_last_error(s, err, sizeof(err)), -EOPNOTSUPP);
	ck_assert_ptr_nonnull(strstr(err, "does not serve the table"));
	gsrc_free(s);
	server_stop(&sv);

	s = ssid_src("/tmp/test_gsrc.nonexistent.sock");
	ck_assert_int_eq(gsrc_get(s, &g), -ENOENT);
	gsrc_last_error(s, err, sizeof(err));
	ck_assert_ptr_nonnull(strstr(err, "is ssid running?"));
	gsrc_free(s);
}
END_TEST

START_TEST(merge_refuses_duplicates)
{
	struct ptable *a = NULL, *b = NULL;

	ck_assert_int_eq(ptable_read_self(&a, "/proc", 4, "four"), 0);
	ck_assert_int_eq(ptable_read_self(&b, "/proc", 4, "other"), 0);
	uint32_t na = a->nprocs;
	ck_assert_int_eq(ptable_merge(a, b), SSI_E_BADFIELD); /* same node id */
	ck_assert_uint_eq(a->nprocs, na);
	ptable_free(b);
	ck_assert_int_eq(ptable_read_self(&b, "/proc", 5, "five"), 0);
	uint32_t nb = b->nprocs;
	ck_assert_int_eq(ptable_merge(a, b), 0);
	ck_assert_uint_eq(a->nprocs, na + nb);
	ck_assert_uint_eq(a->nnodes, 2);
	ck_assert_uint_eq(b->nprocs, 0);
	ck_assert_ptr_nonnull(ptable_find(a, ptable_gpid(5, (uint32_t)getpid())));
	ck_assert_ptr_nonnull(ptable_find(a, ptable_gpid(4, (uint32_t)getpid())));
	ptable_free(b);
	ptable_free(a);
}
END_TEST

/* ---- versions of per-process files (gtree_prepare through the gsrc prepare hook) ---- */

struct vlog {
	uint32_t gen_no;
	int calls, with_prev;
	uint32_t watch; /* gpid whose reports are recorded */
	int stat, cmdline, dir;
};

static void on_changed(void *arg, uint32_t gpid, const char *name)
{
	struct vlog *v = arg;

	if (gpid != v->watch)
		return;
	if (!name)
		v->dir++;
	else if (!strcmp(name, "stat"))
		v->stat++;
	else if (!strcmp(name, "cmdline"))
		v->cmdline++;
}

static void on_snapshot(struct gsnap *snap, const struct gsnap *prev, void *arg)
{
	struct vlog *v = arg;

	v->calls++;
	v->with_prev += prev != NULL;
	gtree_prepare(snap, prev, ++v->gen_no, on_changed, v);
}

/* Generation and length of /<gpid>/<file> in the current snapshot; the length is checked
 * against the content rendered. */
static uint32_t gen_of(struct gsrc *s, uint32_t gpid, const char *file)
{
	char path[64];
	struct gtree_ref ref;
	struct buf b;

	snprintf(path, sizeof(path), "/%u/%s", gpid, file);
	ck_assert_int_eq(gtree_resolve(s, path, 0, &ref), 0);
	ck_assert(gtree_versioned(&ref));
	buf_init(&b);
	ck_assert_int_eq(gtree_render(&ref, &b), 0);
	ck_assert_uint_eq(ref.len, b.len);
	struct stat st;
	gtree_stat(&ref, &st);
	ck_assert_int_eq(st.st_size, (off_t)b.len);
	ck_assert_uint_eq(gtree_ino_gen(st.st_ino), ref.gen);
	uint32_t g = ref.gen;
	buf_free(&b);
	gtree_ref_release(&ref);
	return g;
}

START_TEST(versions_follow_content)
{
	struct vlog v = {0};
	struct gsrc_opts o = {.kind = GSRC_LOCAL, .node_id = 3, .ttl_ms = 10000};
	char err[256];
	struct gsnap *g;
	pid_t child = fork();

	ck_assert_int_ge(child, 0);
	if (child == 0) {
		for (;;)
			pause();
	}
	snprintf(o.node_name, sizeof(o.node_name), "three");
	o.prepare = on_snapshot;
	o.prepare_arg = &v;
	struct gsrc *s = gsrc_new(&o, err, sizeof(err));
	ck_assert_msg(s != NULL, "%s", err);
	v.watch = ptable_gpid(3, (uint32_t)child);
	usleep(50 * 1000); /* the child has reached pause() */
	ck_assert_int_eq(gsrc_refresh(s, &g), 0);
	gsnap_put(g);
	ck_assert_int_eq(v.calls, 1);
	ck_assert_int_eq(v.with_prev, 0);
	uint32_t st1 = gen_of(s, v.watch, "stat"), cl1 = gen_of(s, v.watch, "cmdline");
	ck_assert_uint_eq(st1, 1);

	/* Same content in the next snapshot: same generations, nothing reported. */
	ck_assert_int_eq(gsrc_refresh(s, &g), 0);
	gsnap_put(g);
	ck_assert_int_eq(v.calls, 2);
	ck_assert_int_eq(v.with_prev, 1);
	ck_assert_uint_eq(gen_of(s, v.watch, "stat"), st1);
	ck_assert_uint_eq(gen_of(s, v.watch, "cmdline"), cl1);
	ck_assert_int_eq(v.stat + v.cmdline + v.dir, 0);

	/* Stopped: stat's content changed (state T), cmdline's did not. */
	kill(child, SIGSTOP);
	usleep(50 * 1000);
	ck_assert_int_eq(gsrc_refresh(s, &g), 0);
	gsnap_put(g);
	ck_assert_uint_eq(gen_of(s, v.watch, "stat"), 3);
	ck_assert_uint_eq(gen_of(s, v.watch, "cmdline"), cl1);
	ck_assert_int_eq(v.stat, 1);
	ck_assert_int_eq(v.cmdline, 0);

	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	gsrc_free(s);
}
END_TEST

static Suite *gsrc_suite(void)
{
	Suite *s = suite_create("gsrc");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, local_snapshots_and_gone);
	tcase_add_test(tc, refresher_serves_without_waiting);
	tcase_add_test(tc, ssid_source_reads_cluster_table);
	tcase_add_test(tc, ssid_source_errors);
	tcase_add_test(tc, merge_refuses_duplicates);
	tcase_add_test(tc, versions_follow_content);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(gsrc_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
