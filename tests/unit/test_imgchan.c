/*
 * test_imgchan.c - the image channel's sockets (migrate/imgchan.c) over real loopback TCP:
 * accept picks the connection of its migration among wrong and silent ones; 64 MiB of
 * pseudo-random bytes in 1 MiB records reach a consumer process through a shmring intact;
 * a destination that stops reading for a while is waited for; a connection cut before the
 * last record, a forged record, an idle peer, a cancel, a consumer that goes away, a closed
 * port: each gives its error, within its time bound.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "migrate/imgchan.h"
#include "ssid/ssierr.h"

#define MIB (1u << 20)

static const struct imgseal_key tkey = {
	.key = {0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe, 1, 2, 3, 4, 5, 6, 7, 8},
	.salt = {9, 8, 7, 6},
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static void fill(uint8_t *p, size_t n, uint64_t *x)
{
	for (size_t i = 0; i + 8 <= n; i += 8) {
		*x ^= *x << 13;
		*x ^= *x >> 7;
		*x ^= *x << 17;
		memcpy(p + i, x, 8);
	}
}

static int listen_lo(uint16_t *port)
{
	char err[200];
	int lfd = imgchan_listen("127.0.0.1", port, err, sizeof(err));
	ck_assert_msg(lfd >= 0, "%s", err);
	ck_assert_uint_ne(*port, 0);
	return lfd;
}

/* A plain connection without a preface (or with a hand-made one). */
static int raw_connect(uint16_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* 1 when fd sees the end of the stream (or a reset) within ms. */
static int sees_eof(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char c;
	if (poll(&p, 1, ms) != 1)
		return 0;
	ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno == ECONNRESET);
}

START_TEST(accept_right_preface)
{
	char err[200];
	uint16_t port;
	int lfd = listen_lo(&port);
	uint8_t d[100];
	uint32_t len;
	uint8_t fl;

	int wrong = imgchan_connect("127.0.0.1", port, 99, 2000, err, sizeof(err));
	ck_assert_msg(wrong >= 0, "%s", err);
	int silent = raw_connect(port); /* must not hold up the right one */
	int junk = raw_connect(port);
	ck_assert_int_eq(send(junk, "SSHIMG01\0\0\0\0\0\0\0\7", 16, 0), 16); /* bad magic */
	int right = imgchan_connect("127.0.0.1", port, 7, 2000, err, sizeof(err));
	ck_assert_msg(right >= 0, "%s", err);

	int64_t t0 = now_ms();
	int fd = imgchan_accept(lfd, 7, 3000, NULL, err, sizeof(err));
	ck_assert_msg(fd >= 0, "%s", err);
	ck_assert_int_lt(now_ms() - t0, 1000);
	ck_assert(sees_eof(wrong, 1000));
	ck_assert(sees_eof(junk, 1000));
	ck_assert(sees_eof(silent, 1000)); /* closed when accept returned */

	/* it is the right connection: a record sealed for migration 7 opens */
	struct imgseal *s, *o;
	struct shmring *ring;
	ck_assert_int_eq(imgseal_new(&s, &tkey, 7, 1), 0);
	ck_assert_int_eq(imgseal_new(&o, &tkey, 7, 0), 0);
	ck_assert_int_eq(shmring_create(0, &ring), 0);
	memset(d, 0x33, sizeof(d));
	ck_assert_int_eq(
		imgchan_send(right, s, d, sizeof(d), IMGSEAL_F_LAST, 1000, NULL, err, sizeof(err)),
		0);
	ck_assert_int_eq(imgchan_recv_ring(fd, o, ring, 1000, NULL, &len, &fl, err, sizeof(err)),
			 0);
	ck_assert_uint_eq(len, 100);
	ck_assert_uint_eq(fl, IMGSEAL_F_LAST);
	size_t n;
	const uint8_t *p = shmring_rptr(ring, &n);
	ck_assert_uint_eq(n, 100);
	memset(d, 0x33, sizeof(d));
	ck_assert_mem_eq(p, d, 100);

	shmring_free(ring);
	imgseal_free(s);
	imgseal_free(o);
	close(fd);
	close(wrong);
	close(silent);
	close(junk);
	close(right);
	close(lfd);
}
END_TEST

START_TEST(accept_timeout_and_cancel)
{
	char err[200];
	uint16_t port;
	int lfd = listen_lo(&port);
	volatile int cancel = 1;

	int silent = raw_connect(port);
	int64_t t0 = now_ms();
	ck_assert_int_eq(imgchan_accept(lfd, 7, 300, NULL, err, sizeof(err)), -ETIMEDOUT);
	int64_t dt = now_ms() - t0;
	ck_assert_int_ge(dt, 290);
	ck_assert_int_lt(dt, 1000);
	ck_assert_ptr_nonnull(strstr(err, "127.0.0.1:"));
	ck_assert(sees_eof(silent, 1000));

	t0 = now_ms();
	ck_assert_int_eq(imgchan_accept(lfd, 7, 5000, &cancel, err, sizeof(err)), -ECANCELED);
	ck_assert_int_lt(now_ms() - t0, 200);
	close(silent);
	close(lfd);
}
END_TEST

/* The source side, in a thread: records of reclen, nrec of them, the last one flagged LAST
 * unless cut (then the connection is closed without it). hash: of every plain byte sent. */
struct sender {
	uint16_t port;
	uint64_t mig;
	uint32_t reclen;
	int nrec, cut;
	int conn_ms; /* connect's time-out (its TCP_USER_TIMEOUT); 0: 2000 */
	uint64_t hash, bytes;
	int rc;
	char err[200];
};

static void *send_thread(void *a)
{
	struct sender *x = a;
	struct imgseal *s;
	uint8_t *buf = malloc(x->reclen ? x->reclen : 1);
	uint64_t rnd = 0x9e3779b97f4a7c15ull;
	int fd = imgchan_connect("127.0.0.1", x->port, x->mig, x->conn_ms ? x->conn_ms : 2000,
				 x->err, sizeof(x->err));

	x->hash = 0xcbf29ce484222325ull;
	x->rc = fd < 0 ? fd : imgseal_new(&s, &tkey, x->mig, 1);
	for (int i = 0; x->rc == 0 && i < x->nrec; i++) {
		fill(buf, x->reclen, &rnd);
		x->hash = fnv(x->hash, buf, x->reclen);
		x->bytes += x->reclen;
		uint8_t fl = i == x->nrec - 1 && !x->cut ? IMGSEAL_F_LAST : 0;
		x->rc = imgchan_send(fd, s, buf, x->reclen, fl, 2000, NULL, x->err, sizeof(x->err));
	}
	if (fd >= 0) {
		imgseal_free(s);
		close(fd);
	}
	free(buf);
	return NULL;
}

/* The consumer, in a child process like the restore worker: hashes all it reads, then writes
 * hash and byte count to out and exits. */
static void consume_child(struct shmring *r, int out)
{
	uint64_t h = 0xcbf29ce484222325ull, total = 0, res[3];
	size_t n;

	shmring_set_role(r, SHMRING_CONSUMER, -1);
	for (;;) {
		shmring_wait_data(r, 1, -1);
		const uint8_t *p = shmring_rptr(r, &n);
		if (n) {
			h = fnv(h, p, n);
			total += n;
			shmring_consume(r, n);
			continue;
		}
		int st = shmring_state(r);
		if (st == 0)
			continue;
		shmring_rptr(r, &n);
		if (n)
			continue;
		res[0] = h;
		res[1] = total;
		res[2] = (uint64_t)(int64_t)st;
		_exit(write(out, res, sizeof(res)) == sizeof(res) ? 0 : 1);
	}
}

START_TEST(stream_64mib)
{
	struct sender x = {.mig = 0x5151, .reclen = MIB, .nrec = 64};
	struct shmring *ring;
	struct imgseal *o;
	char err[200];
	uint64_t res[3], got = 0;
	uint32_t len;
	uint8_t fl = 0;
	int pfd[2], st, recs = 0;
	pthread_t th;

	int lfd = listen_lo(&x.port);
	ck_assert_int_eq(shmring_create(4 * MIB, &ring), 0);
	ck_assert_int_eq(pipe2(pfd, O_CLOEXEC), 0);
	pid_t c = fork();
	ck_assert_int_ge(c, 0);
	if (c == 0) {
		close(pfd[0]);
		consume_child(ring, pfd[1]);
	}
	close(pfd[1]);
	ck_assert_int_eq(shmring_set_role(ring, SHMRING_PRODUCER, -1), 0);
	ck_assert_int_eq(pthread_create(&th, NULL, send_thread, &x), 0);
	int fd = imgchan_accept(lfd, x.mig, 3000, NULL, err, sizeof(err));
	ck_assert_msg(fd >= 0, "%s", err);
	ck_assert_int_eq(imgseal_new(&o, &tkey, x.mig, 0), 0);
	while (!(fl & IMGSEAL_F_LAST)) {
		int e = imgchan_recv_ring(fd, o, ring, 3000, NULL, &len, &fl, err, sizeof(err));
		ck_assert_msg(e == 0, "record %d: %s", recs, err);
		got += len;
		recs++;
	}
	shmring_close(ring, 0);
	pthread_join(th, NULL);
	ck_assert_msg(x.rc == 0, "sender: %s", x.err);
	ck_assert_int_eq(recs, 64);
	ck_assert_uint_eq(got, 64ull * MIB);
	ck_assert_int_eq(read(pfd[0], res, sizeof(res)), sizeof(res));
	ck_assert_int_eq(waitpid(c, &st, 0), c);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ck_assert_uint_eq(res[1], 64ull * MIB);
	ck_assert_uint_eq(res[2], 1); /* clean end */
	ck_assert_uint_eq(res[0], x.hash);
	imgseal_free(o);
	shmring_free(ring);
	close(pfd[0]);
	close(fd);
	close(lfd);
}
END_TEST

/* The destination stops reading (its ring full: the restore waits) for longer than the
 * connect's time-out but less than the send's idle limit: the connection must survive the
 * zero window, and every record arrive. */
START_TEST(slow_reader_survives)
{
	struct sender x = {.mig = 12, .reclen = MIB, .nrec = 24, .conn_ms = 200};
	struct shmring *ring;
	struct imgseal *o;
	char err[200];
	uint32_t len;
	uint8_t fl = 0;
	pthread_t th;
	size_t n;
	int recs = 0;

	int lfd = listen_lo(&x.port);
	ck_assert_int_eq(shmring_create(2 * MIB, &ring), 0);
	ck_assert_int_eq(pthread_create(&th, NULL, send_thread, &x), 0);
	int fd = imgchan_accept(lfd, x.mig, 3000, NULL, err, sizeof(err));
	ck_assert_msg(fd >= 0, "%s", err);
	ck_assert_int_eq(imgseal_new(&o, &tkey, x.mig, 0), 0);
	usleep(1200 * 1000); /* the socket buffers fill up, then a zero window */
	while (!(fl & IMGSEAL_F_LAST)) {
		int e = imgchan_recv_ring(fd, o, ring, 3000, NULL, &len, &fl, err, sizeof(err));
		ck_assert_msg(e == 0, "record %d: %s", recs, err);
		shmring_rptr(ring, &n);
		shmring_consume(ring, n);
		recs++;
	}
	pthread_join(th, NULL);
	ck_assert_msg(x.rc == 0, "sender: %s", x.err);
	ck_assert_int_eq(recs, 24);
	imgseal_free(o);
	shmring_free(ring);
	close(fd);
	close(lfd);
}
END_TEST

/* Accept x's connection and receive up to max records into ring; returns the last result. */
static int recv_some(int lfd, struct sender *x, struct shmring *ring, int max, int *recs, char *err,
		     size_t errlen)
{
	struct imgseal *o;
	uint32_t len;
	uint8_t fl;
	int e = 0;
	int fd = imgchan_accept(lfd, x->mig, 3000, NULL, err, errlen);

	ck_assert_msg(fd >= 0, "%s", err);
	ck_assert_int_eq(imgseal_new(&o, &tkey, x->mig, 0), 0);
	for (*recs = 0; *recs < max; (*recs)++) {
		e = imgchan_recv_ring(fd, o, ring, 2000, NULL, &len, &fl, err, errlen);
		if (e < 0)
			break;
		ck_assert_uint_eq(len, x->reclen);
	}
	imgseal_free(o);
	close(fd);
	return e;
}

START_TEST(cut_before_last)
{
	struct sender x = {.mig = 3, .reclen = 1000, .nrec = 2, .cut = 1};
	struct shmring *ring;
	char err[200];
	pthread_t th;
	size_t n;
	int recs;

	int lfd = listen_lo(&x.port);
	ck_assert_int_eq(shmring_create(0, &ring), 0);
	ck_assert_int_eq(pthread_create(&th, NULL, send_thread, &x), 0);
	ck_assert_int_eq(recv_some(lfd, &x, ring, 10, &recs, err, sizeof(err)), -EPIPE);
	pthread_join(th, NULL);
	ck_assert_int_eq(x.rc, 0);
	ck_assert_int_eq(recs, 2);
	ck_assert_ptr_nonnull(strstr(err, "connection ended before the last record"));
	shmring_rptr(ring, &n);
	ck_assert_uint_eq(n, 2000);

	/* cut inside a record: a header, then half of its bytes */
	struct imgseal *o;
	uint8_t pre[IMGSEAL_PREFACE_LEN], hdr[8] = {0, 0, 0x10, 0, 0, 0, 0, 0}, half[2048] = {0};
	uint32_t len;
	uint8_t fl;
	int c = raw_connect(x.port);
	imgseal_preface(pre, 4);
	ck_assert_int_eq(send(c, pre, sizeof(pre), 0), sizeof(pre));
	ck_assert_int_eq(send(c, hdr, sizeof(hdr), 0), sizeof(hdr));
	ck_assert_int_eq(send(c, half, sizeof(half), 0), sizeof(half));
	close(c);
	int fd = imgchan_accept(lfd, 4, 2000, NULL, err, sizeof(err));
	ck_assert_msg(fd >= 0, "%s", err);
	ck_assert_int_eq(imgseal_new(&o, &tkey, 4, 0), 0);
	ck_assert_int_eq(imgchan_recv_ring(fd, o, ring, 2000, NULL, &len, &fl, err, sizeof(err)),
			 -EPIPE);
	shmring_rptr(ring, &n);
	ck_assert_uint_eq(n, 2000); /* nothing of it committed */
	imgseal_free(o);
	close(fd);
	shmring_free(ring);
	close(lfd);
}
END_TEST

START_TEST(forged_record)
{
	struct imgseal *s, *o;
	struct shmring *ring;
	uint8_t pre[IMGSEAL_PREFACE_LEN], hdr[8], tag[16], d[4096];
	uint16_t port;
	char err[200];
	uint32_t len;
	uint8_t fl;
	size_t n;
	int lfd = listen_lo(&port);

	ck_assert_int_eq(shmring_create(0, &ring), 0);
	ck_assert_int_eq(imgseal_new(&s, &tkey, 5, 1), 0);
	ck_assert_int_eq(imgseal_new(&o, &tkey, 5, 0), 0);
	int c = raw_connect(port);
	imgseal_preface(pre, 5);
	ck_assert_int_eq(send(c, pre, sizeof(pre), 0), sizeof(pre));
	for (int i = 0; i < 2; i++) { /* a good record, then one with a byte changed */
		memset(d, 'a' + i, sizeof(d));
		ck_assert_int_eq(imgseal_seal(s, d, sizeof(d), 0, hdr, tag), 0);
		if (i == 1)
			d[1234] ^= 0x08;
		ck_assert_int_eq(send(c, hdr, sizeof(hdr), 0), sizeof(hdr));
		ck_assert_int_eq(send(c, d, sizeof(d), 0), sizeof(d));
		ck_assert_int_eq(send(c, tag, sizeof(tag), 0), sizeof(tag));
	}
	int fd = imgchan_accept(lfd, 5, 2000, NULL, err, sizeof(err));
	ck_assert_msg(fd >= 0, "%s", err);
	ck_assert_int_eq(imgchan_recv_ring(fd, o, ring, 2000, NULL, &len, &fl, err, sizeof(err)),
			 0);
	ck_assert_int_eq(imgchan_recv_ring(fd, o, ring, 2000, NULL, &len, &fl, err, sizeof(err)),
			 SSI_E_CORRUPT);
	ck_assert_ptr_nonnull(strstr(err, "does not authenticate"));
	const uint8_t *p = shmring_rptr(ring, &n);
	ck_assert_uint_eq(n, 4096); /* the good record only */
	memset(d, 'a', sizeof(d));
	ck_assert_mem_eq(p, d, 4096);
	close(fd);

	/* a header with a reserved byte set: refused before any byte of the record */
	c = raw_connect(port);
	imgseal_preface(pre, 6);
	uint8_t bad[8] = {0, 0, 0, 16, 0, 0, 1, 0};
	ck_assert_int_eq(send(c, pre, sizeof(pre), 0), sizeof(pre));
	ck_assert_int_eq(send(c, bad, sizeof(bad), 0), sizeof(bad));
	fd = imgchan_accept(lfd, 6, 2000, NULL, err, sizeof(err));
	ck_assert_msg(fd >= 0, "%s", err);
	imgseal_free(o);
	ck_assert_int_eq(imgseal_new(&o, &tkey, 6, 0), 0);
	ck_assert_int_eq(imgchan_recv_ring(fd, o, ring, 2000, NULL, &len, &fl, err, sizeof(err)),
			 SSI_E_CORRUPT);
	shmring_rptr(ring, &n);
	ck_assert_uint_eq(n, 4096);
	close(fd);
	close(c);
	imgseal_free(s);
	imgseal_free(o);
	shmring_free(ring);
	close(lfd);
}
END_TEST

struct later {
	int ms;
	volatile int *flag;
	struct shmring *abort;
	int64_t at;
};

static void *do_later(void *a)
{
	struct later *l = a;
	usleep((useconds_t)l->ms * 1000);
	l->at = now_ms();
	if (l->flag)
		*l->flag = 1;
	if (l->abort)
		shmring_abort(l->abort);
	return NULL;
}

/* A connected pair through the channel: *src (connected, preface sent) and the accepted fd. */
static int pair(int lfd, uint16_t port, uint64_t mig, int *src)
{
	char err[200];
	*src = imgchan_connect("127.0.0.1", port, mig, 2000, err, sizeof(err));
	ck_assert_msg(*src >= 0, "%s", err);
	int fd = imgchan_accept(lfd, mig, 2000, NULL, err, sizeof(err));
	ck_assert_msg(fd >= 0, "%s", err);
	return fd;
}

START_TEST(idle_and_cancel)
{
	struct imgseal *o, *s;
	struct shmring *ring;
	volatile int cancel = 0;
	char err[200];
	uint32_t len;
	uint8_t fl;
	uint16_t port;
	int src, lfd = listen_lo(&port);
	pthread_t th;

	ck_assert_int_eq(shmring_create(0, &ring), 0);
	ck_assert_int_eq(imgseal_new(&o, &tkey, 8, 0), 0);
	int fd = pair(lfd, port, 8, &src);

	/* idle: the source sends nothing */
	int64_t t0 = now_ms();
	ck_assert_int_eq(imgchan_recv_ring(fd, o, ring, 300, NULL, &len, &fl, err, sizeof(err)),
			 -ETIMEDOUT);
	int64_t dt = now_ms() - t0;
	ck_assert_int_ge(dt, 290);
	ck_assert_int_lt(dt, 1000);

	/* cancel while waiting for bytes */
	struct later l = {.ms = 150, .flag = &cancel};
	ck_assert_int_eq(pthread_create(&th, NULL, do_later, &l), 0);
	ck_assert_int_eq(
		imgchan_recv_ring(fd, o, ring, 10000, &cancel, &len, &fl, err, sizeof(err)),
		-ECANCELED);
	dt = now_ms() - l.at;
	pthread_join(th, NULL);
	ck_assert_int_lt(dt, 800); /* 100 ms slices, far below the idle limit */

	/* cancel while waiting for room in the ring: it is full, nobody consumes */
	size_t room, cap = shmring_cap(ring);
	uint8_t d[4096] = {0};
	shmring_wptr(ring, &room);
	shmring_commit(ring, room - 100);
	ck_assert_int_eq(imgseal_new(&s, &tkey, 8, 1), 0);
	ck_assert_int_eq(imgchan_send(src, s, d, sizeof(d), 0, 1000, NULL, err, sizeof(err)), 0);
	cancel = 0;
	ck_assert_int_eq(pthread_create(&th, NULL, do_later, &l), 0);
	ck_assert_int_eq(imgchan_recv_ring(fd, o, ring, 100, &cancel, &len, &fl, err, sizeof(err)),
			 -ECANCELED); /* the idle limit does not apply to the ring's wait */
	dt = now_ms() - l.at;
	pthread_join(th, NULL);
	ck_assert_int_lt(dt, 800); /* 100 ms slices, far below the idle limit */
	size_t n;
	shmring_rptr(ring, &n);
	ck_assert_uint_eq(n, cap - 100);

	imgseal_free(s);
	imgseal_free(o);
	shmring_free(ring);
	close(fd);
	close(src);
	close(lfd);
}
END_TEST

START_TEST(consumer_gone)
{
	struct imgseal *o, *s;
	struct shmring *ring;
	char err[200];
	uint32_t len;
	uint8_t fl, d[8192] = {0};
	uint16_t port;
	size_t room;
	int src, lfd = listen_lo(&port);
	pthread_t th;

	ck_assert_int_eq(shmring_create(0, &ring), 0);
	ck_assert_int_eq(imgseal_new(&o, &tkey, 9, 0), 0);
	ck_assert_int_eq(imgseal_new(&s, &tkey, 9, 1), 0);
	int fd = pair(lfd, port, 9, &src);
	shmring_wptr(ring, &room);
	shmring_commit(ring, room - 10);
	ck_assert_int_eq(imgchan_send(src, s, d, sizeof(d), 0, 1000, NULL, err, sizeof(err)), 0);
	struct later l = {.ms = 150, .abort = ring};
	ck_assert_int_eq(pthread_create(&th, NULL, do_later, &l), 0);
	ck_assert_int_eq(imgchan_recv_ring(fd, o, ring, 5000, NULL, &len, &fl, err, sizeof(err)),
			 -EPIPE);
	int64_t dt = now_ms() - l.at;
	pthread_join(th, NULL);
	ck_assert_int_lt(dt, 800); /* 100 ms slices, far below the idle limit */
	ck_assert_ptr_nonnull(strstr(err, "reader is gone"));
	imgseal_free(s);
	imgseal_free(o);
	shmring_free(ring);
	close(fd);
	close(src);
	close(lfd);
}
END_TEST

START_TEST(send_idle_and_shutdown)
{
	struct imgseal *s;
	char err[200];
	uint16_t port;
	int src, lfd = listen_lo(&port), e = 0;
	uint8_t *d = malloc(MIB);

	memset(d, 1, MIB);
	ck_assert_int_eq(imgseal_new(&s, &tkey, 10, 1), 0);
	int fd = pair(lfd, port, 10, &src);
	/* the destination never reads: the socket buffers fill, then no progress */
	int64_t t0 = now_ms();
	for (int i = 0; i < 256 && e == 0; i++)
		e = imgchan_send(src, s, d, MIB, 0, 300, NULL, err, sizeof(err));
	ck_assert_int_eq(e, -ETIMEDOUT);
	ck_assert_int_lt(now_ms() - t0, 3000);
	ck_assert_ptr_nonnull(strstr(err, "127.0.0.1:"));
	/* the destination goes away: the source sees it, no SIGPIPE */
	close(fd);
	e = 0;
	for (int i = 0; i < 16 && e != -EPIPE; i++) { /* a reset first, then EPIPE */
		e = imgchan_send(src, s, d, MIB, 0, 1000, NULL, err, sizeof(err));
		ck_assert(e == 0 || e == -EPIPE || e == -ECONNRESET);
	}
	ck_assert_int_eq(e, -EPIPE);
	imgseal_free(s);
	free(d);
	close(src);
	close(lfd);
}
END_TEST

START_TEST(refused)
{
	char err[200], want[64];
	uint16_t port;
	int lfd = listen_lo(&port);

	close(lfd); /* nobody listens on port now */
	ck_assert_int_eq(imgchan_connect("127.0.0.1", port, 1, 2000, err, sizeof(err)),
			 -ECONNREFUSED);
	snprintf(want, sizeof(want), "127.0.0.1:%u", port);
	ck_assert_msg(strstr(err, want) != NULL, "%s", err);
	ck_assert_int_eq(imgchan_listen("not-an-address", &port, err, sizeof(err)), -EINVAL);
}
END_TEST

static Suite *imgchan_suite(void)
{
	Suite *s = suite_create("imgchan");
	TCase *t = tcase_create("core");
	tcase_set_timeout(t, 20);
	tcase_add_test(t, accept_right_preface);
	tcase_add_test(t, accept_timeout_and_cancel);
	tcase_add_test(t, stream_64mib);
	tcase_add_test(t, slow_reader_survives);
	tcase_add_test(t, cut_before_last);
	tcase_add_test(t, forged_record);
	tcase_add_test(t, idle_and_cancel);
	tcase_add_test(t, consumer_gone);
	tcase_add_test(t, send_idle_and_shutdown);
	tcase_add_test(t, refused);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	/* SIGPIPE left at its default: a send without MSG_NOSIGNAL would kill the test */
	SRunner *sr = srunner_create(imgchan_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
