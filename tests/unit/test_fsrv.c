/*
 * test_fsrv.c - the /gfs file service without links: fsmsg layouts, and fsrv serving
 * requests with the caller's rights (needs root for the rights cases; they are skipped with a
 * message otherwise): a uid's request gets that uid's answer, files it creates are its own,
 * handles are bound to peer and uid, and no worker's credentials leak into the process.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ssid/fsmsg.h"
#include "ssid/fsrv.h"
#include "ssid/ssierr.h"

#define USER 1001

struct result {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;
	int err;
	uint64_t fh, value;
	uint32_t uid, mode;
	struct buf data;
};

static void done_cb(void *ctx, uint32_t reqid, const struct wire_msg *rep)
{
	struct result *r = ctx;

	(void)reqid;
	pthread_mutex_lock(&r->lock);
	r->err = rep->u.file_reply.err;
	r->fh = rep->u.file_reply.fh;
	r->value = rep->u.file_reply.value;
	r->uid = rep->u.file_reply.uid;
	r->mode = rep->u.file_reply.mode;
	buf_reset(&r->data);
	buf_put(&r->data, rep->u.file_reply.data, rep->u.file_reply.data_len);
	r->done = 1;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

static struct fsrv *srv;
static struct result res = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
static char dir[64];

/* Serve q as peer; returns the reply's err (details in res). */
static int run(int peer, const struct wire_file_req *q)
{
	struct wire_msg m;
	struct buf b;

	wire_msg_init(&m, WIRE_FILE_REQ, 7);
	m.u.file_req = *q;
	buf_init(&b);
	ck_assert_int_eq(wire_encode(&b, &m), 0);
	res.done = 0;
	ck_assert_int_eq(fsrv_submit_frame(srv, peer, b.d, b.len, done_cb, &res), 0);
	buf_free(&b);
	pthread_mutex_lock(&res.lock);
	while (!res.done)
		pthread_cond_wait(&res.cond, &res.lock);
	pthread_mutex_unlock(&res.lock);
	return res.err;
}

static struct wire_file_req req(uint32_t op, uint32_t uid, const char *path)
{
	struct wire_file_req q;

	memset(&q, 0, sizeof(q));
	q.op = op;
	q.uid = uid;
	q.gid = uid;
	q.path = path;
	return q;
}

static void setup(void)
{
	char err[128];

	buf_init(&res.data);
	ck_assert_int_eq(fsrv_new(&srv, NULL, 4, err, sizeof(err)), 0);
	snprintf(dir, sizeof(dir), "/tmp/test_fsrv.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	chmod(dir, 0755);
}

static void teardown(void)
{
	char cmd[128];

	fsrv_free(srv);
	buf_free(&res.data);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(codec_roundtrip)
{
	struct stat st = {.st_mode = S_IFREG | 0640, .st_size = 12345, .st_uid = 7, .st_ino = 9};
	struct statvfs sv = {.f_bsize = 4096, .f_blocks = 100, .f_namemax = 255};
	struct statvfs sv2;
	struct stat st2;
	const uint8_t *frame;
	struct wire_msg m, d;
	struct buf b;
	uint32_t node;
	size_t len;
	char name[256];

	st.st_mtim.tv_sec = 1000;
	st.st_mtim.tv_nsec = 5;
	buf_init(&b);
	ck_assert_int_eq(fsmsg_dirent_put(&b, "a.txt", &st), 0);
	ck_assert_int_eq(fsmsg_dirent_put(&b, "bad/name", &st), 0);
	ck_assert_int_eq(fsmsg_statfs_put(&b, &sv), 0);
	ck_assert_int_eq(fsmsg_dirent_get(&b, name, sizeof(name), &st2), 0);
	ck_assert_str_eq(name, "a.txt");
	ck_assert_int_eq(st2.st_size, 12345);
	ck_assert_int_eq(st2.st_mode, S_IFREG | 0640);
	ck_assert_int_eq(st2.st_mtim.tv_sec, 1000);
	ck_assert_int_eq(st2.st_mtim.tv_nsec, 5);
	/* a name with '/' from a peer is refused and nothing consumed */
	ck_assert_int_eq(fsmsg_dirent_get(&b, name, sizeof(name), &st2), SSI_E_CORRUPT);
	buf_reset(&b);
	ck_assert_int_eq(fsmsg_statfs_put(&b, &sv), 0);
	ck_assert_int_eq(fsmsg_statfs_get(&b, &sv2), 0);
	ck_assert_int_eq(sv2.f_blocks, 100);
	ck_assert_int_eq(fsmsg_statfs_get(&b, &sv2), SSI_E_TRUNCATED);
	/* socket framing: two messages, cut in one byte short, then whole */
	buf_reset(&b);
	wire_msg_init(&m, WIRE_FILE_REQ, 42);
	m.u.file_req.op = WIRE_FOP_LSTAT;
	m.u.file_req.path = "/etc";
	ck_assert_int_eq(fsmsg_frame_put(&b, 3, &m), 0);
	ck_assert_int_eq(fsmsg_frame_put(&b, 511, &m), 0);
	b.len--;
	ck_assert_int_eq(fsmsg_frame_cut(&b, &node, &frame, &len), 1);
	ck_assert_int_eq(node, 3);
	ck_assert_int_eq(wire_decode(frame, len, &d), 0);
	ck_assert_int_eq(d.reqid, 42);
	ck_assert_str_eq(d.u.file_req.path, "/etc");
	wire_msg_free(&d);
	ck_assert_int_eq(fsmsg_frame_cut(&b, &node, &frame, &len), 0);
	b.len++;
	ck_assert_int_eq(fsmsg_frame_cut(&b, &node, &frame, &len), 1);
	ck_assert_int_eq(node, 511);
	ck_assert_str_eq(fsmsg_op_name(FSMSG_OP_STATFS), "STATFS");
	ck_assert_str_eq(fsmsg_op_name(999), "?");
	buf_free(&b);
}
END_TEST

START_TEST(io_and_readdir)
{
	char p[128], big[200];
	struct wire_file_req q;
	uint64_t fh, next = 0;
	int names = 0, pages = 0;
	static char seen[1500];

	snprintf(p, sizeof(p), "%s/f", dir);
	q = req(WIRE_FOP_OPEN, 0, p);
	q.flags = O_RDWR | O_CREAT | O_APPEND;
	q.mode = 0644;
	ck_assert_int_eq(run(-1, &q), 0);
	fh = res.fh;
	for (int i = 0; i < 2; i++) {
		q = req(WIRE_FOP_WRITE, 0, NULL);
		q.fh = fh;
		q.offset = 0; /* O_APPEND: the end, whatever the offset */
		q.data = (const uint8_t *)"abc";
		q.data_len = 3;
		ck_assert_int_eq(run(-1, &q), 0);
		ck_assert_int_eq(res.value, 3);
	}
	q = req(WIRE_FOP_READ, 0, NULL);
	q.fh = fh;
	q.offset = 1;
	q.length = 100;
	ck_assert_int_eq(run(-1, &q), 0);
	ck_assert_int_eq(buf_avail(&res.data), 5);
	ck_assert_int_eq(memcmp(buf_rptr(&res.data), "bcabc", 5), 0);
	q.length = WIRE_MAX_CHUNK + 1; /* a peer asking for too much */
	ck_assert_int_eq(run(-1, &q), -EINVAL);
	q = req(WIRE_FOP_CLOSE, 0, NULL);
	q.fh = fh;
	ck_assert_int_eq(run(-1, &q), 0);
	ck_assert_int_eq(run(-1, &q), -EBADF); /* closed */
	/* a FIFO nobody writes does not hold a worker (this would hang otherwise) */
	snprintf(p, sizeof(p), "%s/fifo", dir);
	ck_assert_int_eq(mkfifo(p, 0644), 0);
	q = req(WIRE_FOP_OPEN, 0, p);
	q.flags = O_RDONLY;
	ck_assert_int_eq(run(-1, &q), 0);
	q = req(WIRE_FOP_CLOSE, 0, NULL);
	q.fh = res.fh;
	ck_assert_int_eq(run(-1, &q), 0);
	ck_assert_int_eq(unlink(p), 0);
	/* 1,500 long names: more than one READDIR page, every name once */
	memset(big, 'n', sizeof(big));
	big[150] = '\0';
	for (int i = 0; i < 1500; i++) {
		char f[512];
		int fd;

		snprintf(f, sizeof(f), "%s/%s%04d", dir, big, i);
		fd = open(f, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
		ck_assert_int_ge(fd, 0);
		close(fd);
	}
	do {
		struct stat st;
		char name[256];
		struct buf b;

		q = req(WIRE_FOP_READDIR, 0, dir);
		q.offset = next;
		ck_assert_int_eq(run(-1, &q), 0);
		next = res.fh ? res.value : 0;
		pages++;
		buf_view(&b, buf_rptr(&res.data), buf_avail(&res.data));
		while (buf_avail(&b)) {
			ck_assert_int_eq(fsmsg_dirent_get(&b, name, sizeof(name), &st), 0);
			names++;
			if (strlen(name) == 154) { /* each numbered name exactly once */
				unsigned k = (unsigned)atoi(name + 150);

				ck_assert(k < 1500 && !seen[k % 1500]);
				seen[k % 1500] = 1;
			}
		}
	} while (next);
	ck_assert_int_eq(names, 1501);
	ck_assert_int_gt(pages, 1);
}
END_TEST

START_TEST(rights_of_the_caller)
{
	char secret[128], rootdir[128], open_dir[128], mine[256];
	struct wire_file_req q;
	struct stat st;
	gid_t groups[64];
	int ng, fd;
	uint64_t fh;

	if (geteuid() != 0) {
		fprintf(stderr, "rights_of_the_caller: skipped (needs root)\n");
		return;
	}
	ng = getgroups(64, groups);
	snprintf(secret, sizeof(secret), "%s/secret", dir);
	snprintf(rootdir, sizeof(rootdir), "%s/rootdir", dir);
	snprintf(open_dir, sizeof(open_dir), "%s/open", dir);
	snprintf(mine, sizeof(mine), "%s/open/mine", dir);
	fd = open(secret, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "s", 1), 1);
	close(fd);
	ck_assert_int_eq(mkdir(rootdir, 0755), 0);
	ck_assert_int_eq(mkdir(open_dir, 0777), 0);
	chmod(open_dir, 0777);

	q = req(WIRE_FOP_OPEN, USER, secret);
	q.flags = O_RDONLY;
	ck_assert_int_eq(run(-1, &q), -EACCES);
	snprintf(mine, sizeof(mine), "%s/x", rootdir);
	q = req(WIRE_FOP_OPEN, USER, mine);
	q.flags = O_WRONLY | O_CREAT;
	q.mode = 0644;
	ck_assert_int_eq(run(-1, &q), -EACCES);
	ck_assert_int_eq(access(mine, F_OK), -1);
	q = req(WIRE_FOP_MKDIR, USER, mine);
	q.mode = 0755;
	ck_assert_int_eq(run(-1, &q), -EACCES);
	/* what the user creates is the user's */
	snprintf(mine, sizeof(mine), "%s/open/mine", dir);
	q = req(WIRE_FOP_OPEN, USER, mine);
	q.flags = O_WRONLY | O_CREAT;
	q.mode = 0644;
	ck_assert_int_eq(run(-1, &q), 0);
	fh = res.fh;
	ck_assert_int_eq(stat(mine, &st), 0);
	ck_assert_int_eq(st.st_uid, USER);
	ck_assert_int_eq(st.st_gid, USER);
	/* the handle is the user's, from this peer only */
	q = req(WIRE_FOP_WRITE, 0, NULL);
	q.fh = fh;
	q.data = (const uint8_t *)"x";
	q.data_len = 1;
	ck_assert_int_eq(run(-1, &q), -EBADF);
	q.uid = USER;
	ck_assert_int_eq(run(-2, &q), -EBADF);
	ck_assert_int_eq(run(-1, &q), 0);
	/* no chown to root, no chmod of root's file */
	{
		uint8_t d[8] = {0};

		q = req(FSMSG_OP_CHOWN, USER, mine);
		q.data = d;
		q.data_len = 8;
		ck_assert_int_eq(run(-1, &q), -EPERM);
	}
	q = req(WIRE_FOP_CHMOD, USER, secret);
	q.mode = 0666;
	ck_assert_int_eq(run(-1, &q), -EPERM);
	q = req(WIRE_FOP_ACCESS, USER, secret);
	q.mode = R_OK;
	ck_assert_int_eq(run(-1, &q), -EACCES);
	/* root keeps root */
	q = req(WIRE_FOP_OPEN, 0, secret);
	q.flags = O_RDONLY;
	ck_assert_int_eq(run(-1, &q), 0);
	/* a group the request carries counts, the process's own groups do not leak */
	{
		uint32_t g = 4242;

		ck_assert_int_eq(chown(secret, 0, 4242), 0);
		ck_assert_int_eq(chmod(secret, 0640), 0);
		q = req(WIRE_FOP_OPEN, USER, secret);
		q.flags = O_RDONLY;
		ck_assert_int_eq(run(-1, &q), -EACCES);
		q.groups = &g;
		q.ngroups = 1;
		ck_assert_int_eq(run(-1, &q), 0);
	}
	/* the daemon's own /proc is not a user's: /proc/self is the serving process */
	q = req(WIRE_FOP_OPEN, USER, "/proc/self/environ");
	q.flags = O_RDONLY;
	ck_assert_int_eq(run(-1, &q), -EACCES);
	q = req(WIRE_FOP_OPEN, USER, "/proc/self/mem");
	q.flags = O_RDWR;
	ck_assert_int_eq(run(-1, &q), -EACCES);
	q = req(WIRE_FOP_READLINK, USER, "/proc/self/exe");
	ck_assert_int_eq(run(-1, &q), -EACCES);
	q = req(WIRE_FOP_READDIR, USER, "/proc/self/fd");
	ck_assert_int_eq(run(-1, &q), -EACCES);
	q = req(WIRE_FOP_READLINK, 0, "/proc/self/exe"); /* root stays root */
	ck_assert_int_eq(run(-1, &q), 0);
	/* this thread's (and the process's) credentials are untouched */
	ck_assert_int_eq(syscall(SYS_setfsuid, -1), 0);
	ck_assert_int_eq(syscall(SYS_setfsgid, -1), 0);
	ck_assert_int_eq(getgroups(64, groups), ng);
	ck_assert_int_eq(geteuid(), 0);
}
END_TEST

/* Many requests of root and of a user at once on the 4 workers: each file is created with
 * the rights of its own request only (credentials are per thread and reset after each). */
struct mixed {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int left;
	int errs[400];
};

static void mixed_cb(void *ctx, uint32_t reqid, const struct wire_msg *rep)
{
	struct mixed *mx = ctx;

	pthread_mutex_lock(&mx->lock);
	mx->errs[reqid] = rep->u.file_reply.err;
	mx->left--;
	pthread_cond_signal(&mx->cond);
	pthread_mutex_unlock(&mx->lock);
}

START_TEST(rights_under_load)
{
	static struct mixed mx = {.lock = PTHREAD_MUTEX_INITIALIZER,
				  .cond = PTHREAD_COND_INITIALIZER};
	char open_dir[128], rootonly[128], p[400][256];

	if (geteuid() != 0) {
		fprintf(stderr, "rights_under_load: skipped (needs root)\n");
		return;
	}
	snprintf(open_dir, sizeof(open_dir), "%s/open", dir);
	snprintf(rootonly, sizeof(rootonly), "%s/rootonly", dir);
	ck_assert_int_eq(mkdir(open_dir, 0777), 0);
	chmod(open_dir, 0777);
	ck_assert_int_eq(mkdir(rootonly, 0755), 0);
	mx.left = 400;
	for (uint32_t i = 0; i < 400; i++) {
		/* even: root in the root-only dir (must work); odd: the user in the open dir (must
		 * work, owned by the user) or, every fourth, in the root-only dir (must fail) */
		uint32_t uid = i % 2 ? USER : 0;
		const char *d = i % 4 == 1 ? open_dir : rootonly;
		struct wire_msg m;
		struct buf b;

		snprintf(p[i], sizeof(p[i]), "%s/f%u", d, i);
		wire_msg_init(&m, WIRE_FILE_REQ, i);
		m.u.file_req = req(WIRE_FOP_MKDIR, uid, p[i]);
		m.u.file_req.mode = 0755;
		buf_init(&b);
		ck_assert_int_eq(wire_encode(&b, &m), 0);
		ck_assert_int_eq(fsrv_submit_frame(srv, -1, b.d, b.len, mixed_cb, &mx), 0);
		buf_free(&b);
	}
	pthread_mutex_lock(&mx.lock);
	while (mx.left)
		pthread_cond_wait(&mx.cond, &mx.lock);
	pthread_mutex_unlock(&mx.lock);
	for (int i = 0; i < 400; i++) {
		struct stat st;

		if (i % 2 == 0 || i % 4 == 1) {
			ck_assert_msg(mx.errs[i] == 0, "request %d: %d", i, mx.errs[i]);
			ck_assert_int_eq(stat(p[i], &st), 0);
			ck_assert_int_eq(st.st_uid, i % 2 ? USER : 0);
		} else {
			ck_assert_msg(mx.errs[i] == -EACCES, "user request %d in root's dir: %d", i,
				      mx.errs[i]);
			ck_assert_int_eq(stat(p[i], &st), -1);
		}
	}
}
END_TEST

static Suite *fsrv_suite(void)
{
	Suite *s = suite_create("fsrv");
	TCase *t = tcase_create("core");

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 30);
	tcase_add_test(t, codec_roundtrip);
	tcase_add_test(t, io_and_readdir);
	tcase_add_test(t, rights_of_the_caller);
	tcase_add_test(t, rights_under_load);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(fsrv_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
