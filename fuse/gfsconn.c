/*
 * gfsconn.c - request/reply multiplexing over run_dir/gfs.sock (gfsconn.h).
 *
 * Each caller puts a waiter {id, cond} in a list, writes its frame under wlock and sleeps;
 * the reader thread matches replies by id. A broken socket wakes every waiter with -EIO; the
 * next call opens a new socket (the old reader thread has exited by then and is joined).
 */
#include "fuse/gfsconn.h"
#include "ssid/usock.h"

#include "ssid/fsmsg.h"
#include "ssid/ssierr.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct waiter {
	struct waiter *next;
	uint32_t id;
	int done; /* 1: rep filled; -1: connection lost */
	struct wire_msg rep;
	pthread_cond_t cond;
	gfsconn_cb cb; /* asynchronous: called instead (the waiter is malloc'd) */
	void *ctx;
};

struct gfsconn {
	char path[108];
	int wait_ms;
	pthread_mutex_t lock;  /* fd state, waiters, next_id */
	pthread_mutex_t wlock; /* writers on fd */
	int fd;		       /* -1: not connected */
	int reader_live;       /* a reader thread exists (joined before the next one) */
	pthread_t reader;
	struct waiter *waiters;
	uint32_t next_id;
};

static int sock_connect(const char *path)
{
	return usock_connect(path, 0);
}

/* Wake every waiter with "lost"; called with lock held. The asynchronous ones are unlinked
 * and returned: call finish_async() on them after unlocking. */
static struct waiter *fail_all(struct gfsconn *c)
{
	struct waiter **pp = &c->waiters, *w, *async = NULL;

	while ((w = *pp)) {
		if (w->cb) {
			*pp = w->next;
			w->next = async;
			async = w;
			continue;
		}
		if (!w->done) {
			w->done = -1;
			pthread_cond_signal(&w->cond);
		}
		pp = &w->next;
	}
	return async;
}

/* Call and free asynchronous waiters (a list), each with -EIO or with m. */
static void finish_async(struct waiter *w, const struct wire_msg *m)
{
	while (w) {
		struct waiter *next = w->next;

		w->cb(w->ctx, m ? 0 : -EIO, m);
		free(w);
		w = next;
	}
}

static void deliver(struct gfsconn *c, struct wire_msg *m)
{
	struct waiter *w;

	struct waiter **pp;

	pthread_mutex_lock(&c->lock);
	for (pp = &c->waiters; (w = *pp); pp = &w->next)
		if (w->id == m->reqid && !w->done)
			break;
	if (w && w->cb) {
		*pp = w->next;
		pthread_mutex_unlock(&c->lock);
		w->next = NULL;
		finish_async(w, m);
		wire_msg_free(m);
		return;
	}
	if (w) {
		w->rep = *m; /* ownership of its strings moves to the waiter */
		w->done = 1;
		pthread_cond_signal(&w->cond);
	}
	pthread_mutex_unlock(&c->lock);
	if (!w)
		wire_msg_free(m); /* the caller gave up (time-out) */
}

static void *reader(void *arg)
{
	struct gfsconn *c = arg;
	struct waiter *lost;
	struct buf in;
	int fd;

	pthread_mutex_lock(&c->lock);
	fd = c->fd;
	pthread_mutex_unlock(&c->lock);
	buf_init(&in);
	for (;;) {
		const uint8_t *frame;
		uint32_t node;
		size_t len;
		uint8_t *p = buf_reserve(&in, 256 * 1024);
		ssize_t n;
		int r;

		if (!p)
			break;
		n = recv(fd, p, 256 * 1024, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		buf_commit(&in, (size_t)n);
		while ((r = fsmsg_frame_cut(&in, &node, &frame, &len)) == 1) {
			struct wire_msg m;

			if (wire_decode(frame, len, &m) == 0)
				deliver(c, &m);
		}
		if (r < 0)
			break;
		buf_compact(&in);
	}
	buf_free(&in);
	pthread_mutex_lock(&c->lock);
	if (c->fd == fd) {
		shutdown(fd, SHUT_RDWR);
		c->fd = -1;
	}
	close(fd);
	lost = fail_all(c);
	pthread_mutex_unlock(&c->lock);
	finish_async(lost, NULL);
	return NULL;
}

/* With lock held: make sure a socket and its reader exist. */
static int ensure_connected(struct gfsconn *c)
{
	int fd;

	if (c->fd >= 0)
		return 0;
	if (c->reader_live) {
		pthread_t t = c->reader;

		c->reader_live = 0;
		pthread_mutex_unlock(&c->lock);
		pthread_join(t, NULL);
		pthread_mutex_lock(&c->lock);
		if (c->fd >= 0)
			return 0; /* another caller reconnected meanwhile */
	}
	fd = sock_connect(c->path);
	if (fd < 0)
		return fd;
	c->fd = fd;
	if (pthread_create(&c->reader, NULL, reader, c) != 0) {
		close(fd);
		c->fd = -1;
		return -EAGAIN;
	}
	c->reader_live = 1;
	return 0;
}

/* Take w out of the waiter list if it is still there (lock held): 1 if it was. Compares the
 * pointer only, so w may be one the reader has already finished and freed. */
static int unlink_waiter(struct gfsconn *c, const struct waiter *w)
{
	struct waiter **pp;

	for (pp = &c->waiters; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			return 1;
		}
	return 0;
}

/* Put w (set up by the caller) in the waiter list with a fresh id and write req for node on
 * the socket, connecting if need be. 0: sent, w is the reader's until it is done (an
 * asynchronous one may be finished and freed before this returns; one the reader failed
 * already counts as sent). Else w is not listed and the caller's again: -EIO (no connection,
 * or the write failed), -E2BIG (too big for a frame) or -EINVAL (not encodable). */
static int send_req(struct gfsconn *c, uint32_t node, struct wire_msg *req, struct waiter *w)
{
	struct buf b;
	int r, fd;

	pthread_mutex_lock(&c->lock);
	if (ensure_connected(c) < 0) {
		pthread_mutex_unlock(&c->lock);
		return -EIO;
	}
	do
		w->id = ++c->next_id;
	while (!w->id);
	req->reqid = w->id;
	w->next = c->waiters;
	c->waiters = w;
	fd = c->fd;
	pthread_mutex_unlock(&c->lock);

	buf_init(&b);
	r = fsmsg_frame_put(&b, node, req);
	if (r == 0) {
		pthread_mutex_lock(&c->wlock);
		for (size_t off = 0; off < b.len && r == 0;) {
			ssize_t n = send(fd, b.d + off, b.len - off, MSG_NOSIGNAL);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				r = -EIO;
			else
				off += (size_t)n;
		}
		pthread_mutex_unlock(&c->wlock);
	} else {
		r = r == SSI_E_TOOBIG ? -E2BIG : -EINVAL;
	}
	buf_free(&b);
	if (r == 0)
		return 0;
	pthread_mutex_lock(&c->lock);
	if (!unlink_waiter(c, w))
		r = 0; /* the reader has failed it already (connection lost) */
	pthread_mutex_unlock(&c->lock);
	return r;
}

int gfsconn_call(struct gfsconn *c, uint32_t node, struct wire_msg *req, struct wire_msg *rep)
{
	struct waiter w = {0};
	struct timespec dl;
	int r;

	memset(rep, 0, sizeof(*rep));
	pthread_cond_init(&w.cond, NULL);
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += c->wait_ms / 1000;
	dl.tv_nsec += (long)(c->wait_ms % 1000) * 1000000;
	if (dl.tv_nsec >= 1000000000) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000;
	}
	/* w lives on this stack until it is unlinked (by send_req or below), before return. */
	r = send_req(c, node, req, &w);
	if (r == 0) {
		pthread_mutex_lock(&c->lock);
		while (!w.done)
			if (pthread_cond_timedwait(&w.cond, &c->lock, &dl) == ETIMEDOUT)
				break;
		r = w.done == 1 ? 0 : -EIO;
		unlink_waiter(c, &w);
		pthread_mutex_unlock(&c->lock);
	}
	if (r == 0)
		*rep = w.rep;
	else if (w.done == 1)
		wire_msg_free(&w.rep);
	pthread_cond_destroy(&w.cond);
	return r;
}

int gfsconn_call_async(struct gfsconn *c, uint32_t node, struct wire_msg *req, gfsconn_cb cb,
		       void *ctx)
{
	struct waiter *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	w->cb = cb;
	w->ctx = ctx;
	if (send_req(c, node, req, w) == 0)
		return 0;
	free(w); /* not sent and not listed: cb will not run */
	return -EIO;
}

int gfsconn_open(struct gfsconn **out, const char *path, int wait_ms, char *err, size_t errlen)
{
	struct gfsconn *c = calloc(1, sizeof(*c));
	int r;

	*out = NULL;
	if (!c)
		return -ENOMEM;
	if (strlen(path) >= sizeof(c->path)) {
		free(c);
		snprintf(err, errlen, "%s: socket path too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(c->path, path);
	c->wait_ms = wait_ms > 0 ? wait_ms : 15000;
	c->fd = -1;
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->wlock, NULL);
	pthread_mutex_lock(&c->lock);
	r = ensure_connected(c);
	pthread_mutex_unlock(&c->lock);
	if (r < 0) {
		snprintf(err, errlen, "%s: %s (is ssid running, with the /gfs file service?)", path,
			 strerror(-r));
		gfsconn_close(c);
		return r;
	}
	*out = c;
	return 0;
}

void gfsconn_close(struct gfsconn *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	if (c->fd >= 0)
		shutdown(c->fd, SHUT_RDWR); /* the reader sees EOF, closes it, fails waiters */
	pthread_mutex_unlock(&c->lock);
	if (c->reader_live)
		pthread_join(c->reader, NULL);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->wlock);
	free(c);
}
