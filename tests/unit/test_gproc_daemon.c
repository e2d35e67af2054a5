/*
 * test_gproc_daemon.c - Check suite for the daemon side of issue 4 that runs without a
 * cluster: pending.c (request ids, multi-frame replies, limits, deadlines, a reply from
 * another thread), sigsvc_local() (the kill(2) rights rule, pid pinning, bad input) and the
 * [gproc] mount key of config.c.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ssid/cluster.h"
#include "ssid/config.h"
#include "ssid/pending.h"
#include "ssid/ptable.h"
#include "ssid/sigsvc.h"
#include "ssid/ssierr.h"

START_TEST(pending_frames_and_ids)
{
	struct pending *p;
	struct pending_req a, b, *both[2] = {&a, &b};

	ck_assert_int_eq(pending_new(&p), 0);
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	pending_add(p, &a, 2);
	pending_add(p, &b, 3);
	ck_assert_uint_ne(a.reqid, 0);
	ck_assert_uint_ne(a.reqid, b.reqid);
	/* Wrong peer or unknown id: ignored. */
	ck_assert_int_eq(pending_deliver(p, a.reqid, 3, "x", 1, 1, 0), -ENOENT);
	ck_assert_int_eq(pending_deliver(p, 999999, 2, "x", 1, 1, 0), -ENOENT);
	/* Two frames for a, the second one last. */
	ck_assert_int_eq(pending_deliver(p, a.reqid, 2, "abc", 3, 0, 0), 0);
	ck_assert_int_eq(pending_wait(p, both, 1, cluster_mono_ms() + 20), 0);
	ck_assert_int_eq(pending_deliver(p, a.reqid, 2, "de", 2, 1, -7), 0);
	ck_assert_int_eq(pending_wait(p, both, 1, cluster_mono_ms() + 20), 1);
	ck_assert_int_eq(a.done, 1);
	ck_assert_int_eq(a.value, -7);
	ck_assert_uint_eq(buf_avail(&a.data), 5);
	ck_assert_int_eq(memcmp(buf_rptr(&a.data), "abcde", 5), 0);
	/* A frame after the last one: ignored. */
	ck_assert_int_eq(pending_deliver(p, a.reqid, 2, "z", 1, 1, 0), -ENOENT);
	/* b fails; both done. */
	ck_assert_int_eq(pending_fail(p, b.reqid, 3, -ECONNRESET), 0);
	ck_assert_int_eq(pending_wait(p, both, 2, cluster_mono_ms() + 20), 2);
	ck_assert_int_eq(b.err, -ECONNRESET);
	pending_del(p, &a);
	pending_del(p, &b);
	pending_del(p, &b); /* twice is fine */
	ck_assert_int_eq(pending_deliver(p, b.reqid, 3, "x", 1, 1, 0), -ENOENT);
	buf_free(&a.data);
	buf_free(&b.data);
	pending_free(p);
}
END_TEST

START_TEST(pending_limit_and_deadline)
{
	struct pending *p;
	struct pending_req r, *rp = &r;
	char big[100];
	int64_t t0;

	ck_assert_int_eq(pending_new(&p), 0);
	memset(&r, 0, sizeof(r));
	memset(big, 'a', sizeof(big));
	r.max = 150;
	pending_add(p, &r, 5);
	ck_assert_int_eq(pending_deliver(p, r.reqid, 5, big, 100, 0, 0), 0);
	ck_assert_int_eq(pending_deliver(p, r.reqid, 5, big, 100, 1, 0), 0);
	ck_assert_int_eq(r.done, 1);
	ck_assert_int_eq(r.err, SSI_E_TOOBIG);
	pending_del(p, &r);
	buf_free(&r.data);
	/* Nobody answers: the wait ends at the deadline. */
	memset(&r, 0, sizeof(r));
	pending_add(p, &r, 5);
	t0 = cluster_mono_ms();
	ck_assert_int_eq(pending_wait(p, &rp, 1, t0 + 100), 0);
	ck_assert_int_ge(cluster_mono_ms() - t0, 95);
	ck_assert_int_lt(cluster_mono_ms() - t0, 1000);
	pending_del(p, &r);
	buf_free(&r.data);
	pending_free(p);
}
END_TEST

struct later {
	struct pending *p;
	uint32_t reqid;
};

static void *answer_later(void *arg)
{
	struct later *l = arg;

	nanosleep(&(struct timespec){0, 50 * 1000000L}, NULL);
	pending_deliver(l->p, l->reqid, 4, "ok", 2, 1, 0);
	return NULL;
}

START_TEST(pending_reply_from_another_thread)
{
	struct pending *p;
	struct pending_req r, *rp = &r;
	struct later l;
	pthread_t th;
	int64_t t0;

	ck_assert_int_eq(pending_new(&p), 0);
	memset(&r, 0, sizeof(r));
	pending_add(p, &r, 4);
	l.p = p;
	l.reqid = r.reqid;
	t0 = cluster_mono_ms();
	ck_assert_int_eq(pthread_create(&th, NULL, answer_later, &l), 0);
	ck_assert_int_eq(pending_wait(p, &rp, 1, t0 + 5000), 1);
	ck_assert_int_lt(cluster_mono_ms() - t0, 2000);
	pthread_join(th, NULL);
	pending_del(p, &r);
	ck_assert_uint_eq(buf_avail(&r.data), 2);
	buf_free(&r.data);
	pending_free(p);
}
END_TEST

/* A child that sleeps with uids (ruid, euid, suid); returns its pid. */
static pid_t child_as(uid_t ruid, uid_t euid, uid_t suid)
{
	pid_t pid = fork();

	if (pid == 0) {
		if (setresuid(ruid, euid, suid) < 0)
			_exit(3);
		for (;;)
			pause();
	}
	ck_assert_int_gt(pid, 0);
	/* Let it change its uids before anyone looks. */
	for (int i = 0; i < 100; i++) {
		char path[64], line[256];
		FILE *f;
		int done = 0;

		snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
		f = fopen(path, "re");
		while (f && fgets(line, sizeof(line), f))
			if (!strncmp(line, "Uid:", 4)) {
				unsigned a = 0, b = 0, c = 0;
				sscanf(line + 4, "%u %u %u", &a, &b, &c);
				done = a == ruid && b == euid && c == suid;
			}
		if (f)
			fclose(f);
		if (done)
			break;
		nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
	}
	return pid;
}

static int reap(pid_t pid)
{
	int st = 0;

	waitpid(pid, &st, 0);
	return WIFSIGNALED(st) ? WTERMSIG(st) : -1;
}

START_TEST(signal_rights_like_kill)
{
	const int self = 1;
	pid_t c;
	uint32_t g;

	if (geteuid() != 0)
		return; /* setresuid needs root; the integration tests cover the rest */
	c = child_as(1001, 1001, 1001);
	g = ptable_gpid(self, (uint32_t)c);
	ck_assert_uint_ne(g, 0);
	ck_assert_int_eq(sigsvc_local("/proc", self, g, SIGTERM, 1002), -EPERM);
	ck_assert_int_eq(sigsvc_local("/proc", self, g, 0, 1002), -EPERM);
	ck_assert_int_eq(sigsvc_local("/proc", self, g, 0, 1001), 0); /* exists, allowed */
	ck_assert_int_eq(kill(c, 0), 0);
	ck_assert_int_eq(sigsvc_local("/proc", self, g, SIGUSR1, 1001), 0);
	ck_assert_int_eq(reap(c), SIGUSR1);
	/* Gone: ESRCH, whoever asks. */
	ck_assert_int_eq(sigsvc_local("/proc", self, g, SIGTERM, 0), -ESRCH);

	/* Saved uid matches (kill(2) rule); effective uid matches too. */
	c = child_as(1003, 1004, 1005);
	g = ptable_gpid(self, (uint32_t)c);
	ck_assert_int_eq(sigsvc_local("/proc", self, g, SIGTERM, 1006), -EPERM);
	ck_assert_int_eq(sigsvc_local("/proc", self, g, 0, 1005), 0);
	ck_assert_int_eq(sigsvc_local("/proc", self, g, 0, 1004), 0);
	ck_assert_int_eq(sigsvc_local("/proc", self, g, SIGKILL, 1003), 0);
	ck_assert_int_eq(reap(c), SIGKILL);

	/* Root may signal anyone. */
	c = child_as(1001, 1001, 1001);
	ck_assert_int_eq(sigsvc_local("/proc", self, ptable_gpid(self, (uint32_t)c), SIGKILL, 0),
			 0);
	ck_assert_int_eq(reap(c), SIGKILL);
}
END_TEST

START_TEST(signal_bad_input)
{
	uint32_t me = ptable_gpid(1, (uint32_t)getpid());

	ck_assert_int_eq(sigsvc_local("/proc", 1, me, -1, 0), -EINVAL);
	ck_assert_int_eq(sigsvc_local("/proc", 1, me, SIGRTMAX + 1, 0), -EINVAL);
	ck_assert_int_eq(sigsvc_local("/proc", 1, me, 1000, 0), -EINVAL);
	/* Another node's gpid is not ours to signal here. */
	ck_assert_int_eq(sigsvc_local("/proc", 2, me, 0, 0), -ESRCH);
	/* pid 0 of a node, and a gpid above 2^31. */
	ck_assert_int_eq(sigsvc_local("/proc", 1, 1u << PTABLE_PID_BITS, 0, 0), -ESRCH);
	ck_assert_int_eq(sigsvc_local("/proc", 1, 0x80000001u, 0, 0), -ESRCH);
	/* Signal 0 to ourselves, as root or as our own uid: exists. */
	ck_assert_int_eq(sigsvc_local("/proc", 1, me, 0, getuid()), 0);
}
END_TEST

START_TEST(config_gproc_mount)
{
	static const char *base = "[node]\nid = 1\nname = node1\n";
	struct config c;
	char text[512], err[512];

	ck_assert_int_eq(config_load_string(base, "/tmp", &c, err, sizeof(err)), 0);
	ck_assert_str_eq(c.gproc_mount, "/gproc");
	config_free(&c);
	snprintf(text, sizeof(text), "%s[gproc]\nmount =\n", base);
	ck_assert_int_eq(config_load_string(text, "/tmp", &c, err, sizeof(err)), 0);
	ck_assert_str_eq(c.gproc_mount, "");
	config_free(&c);
	snprintf(text, sizeof(text), "%s[gproc]\nmount = /mnt/g\n", base);
	ck_assert_int_eq(config_load_string(text, "/tmp", &c, err, sizeof(err)), 0);
	ck_assert_str_eq(c.gproc_mount, "/mnt/g");
	config_free(&c);
	snprintf(text, sizeof(text), "%s[gproc]\nmount = rel/dir\n", base);
	ck_assert_int_eq(config_load_string(text, "/tmp", &c, err, sizeof(err)), SSI_E_BADFIELD);
	ck_assert_msg(strstr(err, ":5:") && strstr(err, "absolute"), "%s", err);
	snprintf(text, sizeof(text), "%s[gproc]\nmnt = /g\n", base);
	ck_assert_int_eq(config_load_string(text, "/tmp", &c, err, sizeof(err)), SSI_E_BADFIELD);
	ck_assert_msg(strstr(err, "unknown key 'mnt' in [gproc]"), "%s", err);
}
END_TEST

static Suite *gproc_daemon_suite(void)
{
	Suite *s = suite_create("gproc_daemon");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, pending_frames_and_ids);
	tcase_add_test(tc, pending_limit_and_deadline);
	tcase_add_test(tc, pending_reply_from_another_thread);
	tcase_add_test(tc, signal_rights_like_kill);
	tcase_add_test(tc, signal_bad_input);
	tcase_add_test(tc, config_gproc_mount);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(gproc_daemon_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
