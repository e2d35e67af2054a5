/*
 * test_gfs_retry.c - open /gfs handles across a restart of the serving ssid: the pure
 * decisions of fsmsg.h (retry or not, reopen flags, same file or not) and fsrv's side: a
 * handle of another server instance is refused with ESTALE (not EBADF), while a closed or
 * forged handle of this instance stays EBADF, and the OPEN reply's stamp tells a file from
 * one created again under its name. Runs without links (fsrv_submit_frame).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ssid/fsmsg.h"
#include "ssid/fsrv.h"

struct result {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;
	struct wire_file_reply rep; /* data not kept */
};

static void done_cb(void *ctx, uint32_t reqid, const struct wire_msg *rep)
{
	struct result *r = ctx;

	(void)reqid;
	pthread_mutex_lock(&r->lock);
	r->rep = rep->u.file_reply;
	r->rep.data = NULL;
	r->done = 1;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

static struct result res = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
static char dir[64];

/* Serve q on s as peer 2 (uid 0); returns the reply's err (reply in res.rep). */
static int run(struct fsrv *s, const struct wire_file_req *q)
{
	struct wire_msg m;
	struct buf b;

	wire_msg_init(&m, WIRE_FILE_REQ, 9);
	m.u.file_req = *q;
	buf_init(&b);
	ck_assert_int_eq(wire_encode(&b, &m), 0);
	res.done = 0;
	ck_assert_int_eq(fsrv_submit_frame(s, 2, b.d, b.len, done_cb, &res), 0);
	buf_free(&b);
	pthread_mutex_lock(&res.lock);
	while (!res.done)
		pthread_cond_wait(&res.cond, &res.lock);
	pthread_mutex_unlock(&res.lock);
	return res.rep.err;
}

static struct wire_file_req req(uint32_t op, const char *path, uint64_t fh)
{
	struct wire_file_req q;

	memset(&q, 0, sizeof(q));
	q.op = op;
	q.path = path;
	q.fh = fh;
	q.length = 4;
	return q;
}

static struct fsrv *srv_new(void)
{
	struct fsrv *s;
	char err[128];

	ck_assert_int_eq(fsrv_new(&s, NULL, 2, err, sizeof(err)), 0);
	return s;
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_gfs_retry.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

START_TEST(decisions)
{
	struct fsmsg_fileid a = {.ino = 12, .stamp = 1700000000123456789ull, .type = S_IFREG};
	struct fsmsg_fileid b = a;

	ck_assert_int_eq(fsmsg_should_reopen(WIRE_FOP_READ, -ESTALE, 0), 1);
	ck_assert_int_eq(fsmsg_should_reopen(WIRE_FOP_WRITE, -ESTALE, 0), 1);
	ck_assert_int_eq(fsmsg_should_reopen(WIRE_FOP_STAT, -ESTALE, 0), 1);
	ck_assert_int_eq(fsmsg_should_reopen(FSMSG_OP_FSYNC, -ESTALE, 0), 1);
	ck_assert_int_eq(fsmsg_should_reopen(WIRE_FOP_READ, -ESTALE, 1), 0); /* once only */
	ck_assert_int_eq(fsmsg_should_reopen(WIRE_FOP_READ, -EBADF, 0), 0);
	ck_assert_int_eq(fsmsg_should_reopen(WIRE_FOP_READ, -EIO, 0), 0);
	ck_assert_int_eq(fsmsg_should_reopen(WIRE_FOP_READ, 0, 0), 0);
	ck_assert_int_eq(fsmsg_should_reopen(WIRE_FOP_CLOSE, -ESTALE, 0), 0);
	ck_assert_int_eq(fsmsg_should_reopen(WIRE_FOP_OPEN, -ESTALE, 0), 0);

	ck_assert_uint_eq(fsmsg_reopen_flags(O_WRONLY | O_CREAT | O_EXCL | O_TRUNC | O_APPEND),
			  O_WRONLY | O_APPEND);
	ck_assert_uint_eq(fsmsg_reopen_flags(O_RDWR | O_NOFOLLOW | O_SYNC),
			  O_RDWR | O_NOFOLLOW | O_SYNC);

	ck_assert_int_eq(fsmsg_same_file(&a, &b), 1);
	b.stamp++; /* same inode number, born later: deleted and created again */
	ck_assert_int_eq(fsmsg_same_file(&a, &b), 0);
	b = a;
	b.ino++;
	ck_assert_int_eq(fsmsg_same_file(&a, &b), 0);
	b = a;
	b.type = S_IFDIR;
	ck_assert_int_eq(fsmsg_same_file(&a, &b), 0);
	b = a;
	b.stamp = 0; /* one side without a stamp: not the same */
	ck_assert_int_eq(fsmsg_same_file(&a, &b), 0);
	a.stamp = 0; /* a file system without birth times: ino and type */
	ck_assert_int_eq(fsmsg_same_file(&a, &b), 1);
}
END_TEST

/* A handle of a server that ran before (another fsrv) is ESTALE; the file reopened by path
 * is the same file (fileid); closed handles of this server stay EBADF. */
START_TEST(handles_of_another_instance)
{
	char path[128];
	struct fsrv *old = srv_new(), *cur;
	struct fsmsg_fileid was, now;
	struct wire_file_req q;
	uint64_t fh, fh2;
	int estale = 0;

	snprintf(path, sizeof(path), "%s/f", dir);
	put_file(path, "abcdefgh");
	q = req(WIRE_FOP_OPEN, path, 0);
	ck_assert_int_eq(run(old, &q), 0);
	fh = res.rep.fh;
	fsmsg_fileid_from_reply(&was, &res.rep);
	q = req(WIRE_FOP_READ, NULL, fh);
	ck_assert_int_eq(run(old, &q), 0);
	fsrv_free(old); /* the daemon dies; its handles with it */

	/* The instance is 16 random bits: a new one equals the old with p = 2^-16; three tries. */
	for (int i = 0; i < 3 && !estale; i++) {
		cur = srv_new();
		q = req(WIRE_FOP_READ, NULL, fh);
		estale = run(cur, &q) == -ESTALE;
		if (!estale)
			fsrv_free(cur);
	}
	ck_assert_msg(estale, "a handle of an earlier server is not ESTALE");
	q = req(WIRE_FOP_WRITE, NULL, fh);
	ck_assert_int_eq(run(cur, &q), -ESTALE);
	q = req(WIRE_FOP_STAT, NULL, fh);
	ck_assert_int_eq(run(cur, &q), -ESTALE);

	q = req(WIRE_FOP_OPEN, path, 0);
	ck_assert_int_eq(run(cur, &q), 0);
	fh2 = res.rep.fh;
	fsmsg_fileid_from_reply(&now, &res.rep);
	ck_assert_int_eq(fsmsg_same_file(&was, &now), 1);
	q = req(WIRE_FOP_READ, NULL, fh2);
	ck_assert_int_eq(run(cur, &q), 0);
	ck_assert_uint_eq(res.rep.data_len, 4);
	q = req(WIRE_FOP_CLOSE, NULL, fh2);
	ck_assert_int_eq(run(cur, &q), 0);
	q = req(WIRE_FOP_READ, NULL, fh2); /* closed, this instance: EBADF, no reopen */
	ck_assert_int_eq(run(cur, &q), -EBADF);
	q = req(WIRE_FOP_READ, NULL, fh2 ^ 0x7); /* another slot of this instance */
	ck_assert_int_eq(run(cur, &q), -EBADF);

	/* The same name, another file (deleted, created again): told apart. */
	ck_assert_int_eq(unlink(path), 0);
	usleep(2000);
	put_file(path, "other");
	q = req(WIRE_FOP_OPEN, path, 0);
	ck_assert_int_eq(run(cur, &q), 0);
	fsmsg_fileid_from_reply(&now, &res.rep);
	ck_assert_int_eq(fsmsg_same_file(&was, &now), 0);
	q = req(WIRE_FOP_CLOSE, NULL, res.rep.fh);
	ck_assert_int_eq(run(cur, &q), 0);
	fsrv_free(cur);
}
END_TEST

static Suite *retry_suite(void)
{
	Suite *s = suite_create("gfs_retry");
	TCase *t = tcase_create("core");

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 30);
	tcase_add_test(t, decisions);
	tcase_add_test(t, handles_of_another_instance);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(retry_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
