/*
 * fsfwd.c - route /gfs requests from the local socket to their node (fsfwd.h).
 *
 * One thread polls the listening socket, the client connections (normally one: gprocfs
 * --gfs) and a 100 ms timer that retries unsent requests and fails overdue ones with -EIO.
 * Replies are written to a connection by whichever thread has them (a link thread for a
 * peer's FILE_REPLY, a file-service worker for local ones) under the connection's wlock.
 * Locks: f->lock (pending table, connection list) is never held while writing a socket.
 */
#include "ssid/fsfwd.h"
#include "ssid/usock.h"

#include "ssid/fsmsg.h"
#include "ssid/log.h"
#include "ssid/ssierr.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_CONN   8
#define NBUCKET	   256
#define SWEEP_MS   100
#define LATE_OPENS 256 /* timed-out OPENs remembered, to close a late-opened file */

struct fsfwd;

struct conn {
	struct fsfwd *f;
	int fd;
	int id; /* as a local peer of fsrv: -(slot + 1), so its handles are its own */
	pthread_mutex_t wlock; /* one writer at a time */
	int refs;	       /* f->lock */
	int dead;	       /* f->lock: reader saw EOF or an error */
	struct buf in;	       /* fwd thread only */
	struct rfh *rfh;       /* f->lock: files it has open on other nodes */
};

/* A file a client has open on another node: closed there when the client goes away. */
struct rfh {
	struct rfh *next;
	int node;
	uint64_t fh;
	uint32_t uid, gid;
};

struct pend {
	struct pend *next;
	uint32_t netid;	   /* request id on the link */
	uint32_t cliid;	   /* the client's id */
	int node;	   /* destination */
	struct conn *cn;   /* holds a reference */
	int64_t deadline;  /* monotonic ms */
	int sent;	   /* handed to a link */
	uint32_t op;	   /* for the log, and OPEN/CLOSE handle tracking */
	uint32_t uid, gid; /* of the request */
	uint64_t fh;	   /* CLOSE: the handle */
	char path[96];	   /* for the log (cut) */
	size_t len;
	uint8_t *frame; /* the request with netid in its header, for retries */
};

struct fsfwd {
	struct cluster *c;
	struct fsrv *srv;
	int self;
	int timeout_ms;
	int lfd, evfd;
	char path[PATH_MAX];
	pthread_t th;
	int started;
	pthread_mutex_t lock;
	struct pend *tab[NBUCKET];    /* lock */
	size_t npend;		      /* lock */
	uint32_t next_id;	      /* lock */
	struct conn *conns[MAX_CONN]; /* fwd thread */
	int64_t failed_at[512];	      /* lock: monotonic ms of a node's last time-out */
	struct {
		uint32_t netid, uid, gid;
		int node;
	} late[LATE_OPENS]; /* lock: OPENs that timed out: close what they opened */
	unsigned nlate;	    /* lock: ring position */
};

static void conn_put(struct fsfwd *f, struct conn *cn)
{
	int last;

	pthread_mutex_lock(&f->lock);
	last = --cn->refs == 0;
	pthread_mutex_unlock(&f->lock);
	if (!last)
		return;
	close(cn->fd);
	buf_free(&cn->in);
	pthread_mutex_destroy(&cn->wlock);
	while (cn->rfh) {
		struct rfh *h = cn->rfh;

		cn->rfh = h->next;
		free(h);
	}
	free(cn);
}

/* Write one reply (reqid = the client's id) for node to cn; a dead connection drops it. */
static void conn_reply(struct fsfwd *f, struct conn *cn, uint32_t node, uint32_t cliid,
		       const struct wire_msg *rep)
{
	struct wire_msg m = *rep;
	struct buf b;
	int dead;

	pthread_mutex_lock(&f->lock);
	dead = cn->dead;
	pthread_mutex_unlock(&f->lock);
	if (dead)
		return;
	m.reqid = cliid;
	buf_init(&b);
	if (fsmsg_frame_put(&b, node, &m) < 0) {
		struct wire_msg e;

		wire_msg_init(&e, WIRE_FILE_REPLY, cliid);
		e.u.file_reply.err = -EIO;
		buf_reset(&b);
		if (fsmsg_frame_put(&b, node, &e) < 0)
			goto out;
	}
	pthread_mutex_lock(&cn->wlock);
	for (size_t off = 0; off < b.len;) {
		ssize_t n = send(cn->fd, b.d + off, b.len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* the reader notices the broken socket */
		off += (size_t)n;
	}
	pthread_mutex_unlock(&cn->wlock);
out:
	buf_free(&b);
}

static void reply_err(struct fsfwd *f, struct conn *cn, uint32_t node, uint32_t cliid, int err)
{
	struct wire_msg e;

	wire_msg_init(&e, WIRE_FILE_REPLY, cliid);
	e.u.file_reply.err = err;
	conn_reply(f, cn, node, cliid, &e);
}

/* Local request served by fsrv: ctx is the connection (one reference per request). */
static void local_done(void *ctx, uint32_t reqid, const struct wire_msg *reply)
{
	struct conn *cn = ctx;

	conn_reply(cn->f, cn, (uint32_t)cn->f->self, reqid, reply);
	conn_put(cn->f, cn);
}

static struct pend **bucket(struct fsfwd *f, uint32_t id)
{
	return &f->tab[id % NBUCKET];
}

/* Remove and return the pending request netid from node (NULL: unknown, e.g. timed out). */
static struct pend *pend_take(struct fsfwd *f, uint32_t netid, int node)
{
	struct pend **pp, *p = NULL;

	pthread_mutex_lock(&f->lock);
	for (pp = bucket(f, netid); *pp; pp = &(*pp)->next)
		if ((*pp)->netid == netid && (*pp)->node == node) {
			p = *pp;
			*pp = p->next;
			f->npend--;
			break;
		}
	pthread_mutex_unlock(&f->lock);
	return p;
}

static void pend_free(struct fsfwd *f, struct pend *p)
{
	conn_put(f, p->cn);
	free(p->frame);
	free(p);
}

/* Hand p's frame to its node's link. 0, or -ENOTCONN (no link now), or an encoding error. */
static int pend_send(struct fsfwd *f, const struct pend *p)
{
	struct wire_msg m;
	int r = wire_decode(p->frame, p->len, &m);

	if (r < 0)
		return r;
	r = cluster_send(f->c, p->node, &m);
	wire_msg_free(&m);
	return r;
}

/* Remember a file p's client opened on p's node (best effort: without memory it is only
 * not closed early). */
static void track_open(struct fsfwd *f, const struct pend *p, uint64_t fh)
{
	struct rfh *h = malloc(sizeof(*h));
	int dead;

	if (!h)
		return;
	h->node = p->node;
	h->fh = fh;
	h->uid = p->uid;
	h->gid = p->gid;
	pthread_mutex_lock(&f->lock);
	dead = p->cn->dead;
	if (!dead) {
		h->next = p->cn->rfh;
		p->cn->rfh = h;
	}
	pthread_mutex_unlock(&f->lock);
	if (dead) { /* its client is gone already: close it now */
		struct wire_msg m;

		wire_msg_init(&m, WIRE_FILE_REQ, 0);
		m.u.file_req.op = WIRE_FOP_CLOSE;
		m.u.file_req.uid = h->uid;
		m.u.file_req.gid = h->gid;
		m.u.file_req.fh = fh;
		cluster_send(f->c, h->node, &m);
		free(h);
	}
}

static void track_close(struct fsfwd *f, const struct pend *p)
{
	struct rfh **hp, *h = NULL;

	pthread_mutex_lock(&f->lock);
	for (hp = &p->cn->rfh; *hp; hp = &(*hp)->next)
		if ((*hp)->node == p->node && (*hp)->fh == p->fh) {
			h = *hp;
			*hp = h->next;
			break;
		}
	pthread_mutex_unlock(&f->lock);
	free(h);
}

/* A client went away: close what it had open on other nodes (no answer awaited). */
static size_t close_remote(struct fsfwd *f, struct conn *cn)
{
	struct rfh *list;
	size_t n = 0;

	pthread_mutex_lock(&f->lock);
	list = cn->rfh;
	cn->rfh = NULL;
	pthread_mutex_unlock(&f->lock);
	while (list) {
		struct rfh *h = list;
		struct wire_msg m;

		list = h->next;
		wire_msg_init(&m, WIRE_FILE_REQ, 0);
		m.u.file_req.op = WIRE_FOP_CLOSE;
		m.u.file_req.uid = h->uid;
		m.u.file_req.gid = h->gid;
		m.u.file_req.fh = h->fh;
		n += cluster_send(f->c, h->node, &m) == 0;
		free(h);
	}
	return n;
}

/* An OPEN that timed out was done after all: close that file again on its node. Only an
 * OPEN's reply carries an fh. */
static void close_late_open(struct fsfwd *f, int node, uint32_t netid, uint64_t fh)
{
	struct wire_msg m;
	int found = 0;

	wire_msg_init(&m, WIRE_FILE_REQ, 0);
	pthread_mutex_lock(&f->lock);
	for (unsigned i = 0; i < LATE_OPENS && !found; i++)
		if (f->late[i].netid == netid && f->late[i].node == node) {
			m.u.file_req.uid = f->late[i].uid;
			m.u.file_req.gid = f->late[i].gid;
			f->late[i].netid = 0;
			found = 1;
		}
	pthread_mutex_unlock(&f->lock);
	if (!found)
		return;
	m.u.file_req.op = WIRE_FOP_CLOSE;
	m.u.file_req.fh = fh;
	if (cluster_send(f->c, node, &m) == 0)
		log_info("gfs: node %d: closed a file opened after its request timed out", node);
}

/* FILE_REPLY from a peer, on its link thread: route it back to the asking connection. */
static int on_file_reply(void *ctx, int peer, const struct wire_msg *m, struct buf *reply)
{
	struct fsfwd *f = ctx;
	struct pend *p = pend_take(f, m->reqid, peer);

	(void)reply;
	if (!p) {
		log_debug("file reply %u from node %d: no such request (timed out?)", m->reqid,
			  peer);
		if (m->type == WIRE_FILE_REPLY && m->u.file_reply.err == 0 && m->u.file_reply.fh)
			close_late_open(f, peer, m->reqid, m->u.file_reply.fh);
		return 0;
	}
	if (p->op == WIRE_FOP_OPEN && m->type == WIRE_FILE_REPLY && m->u.file_reply.err == 0)
		track_open(f, p, m->u.file_reply.fh);
	else if (p->op == WIRE_FOP_CLOSE)
		track_close(f, p);
	conn_reply(f, p->cn, (uint32_t)p->node, p->cliid, m);
	pend_free(f, p);
	return 0;
}

/* One request from the socket: frame (len bytes) for node. */
static void take_request(struct fsfwd *f, struct conn *cn, uint32_t node, const uint8_t *frame,
			 size_t len)
{
	struct wire_msg m = {0};
	struct pend *p;
	int r = wire_decode(frame, len, &m);

	if (r < 0 || m.type != WIRE_FILE_REQ) {
		reply_err(f, cn, node, m.reqid, r < 0 ? -EINVAL : -EOPNOTSUPP);
		if (r == 0)
			wire_msg_free(&m);
		return;
	}
	if ((int)node == f->self) {
		pthread_mutex_lock(&f->lock);
		cn->refs++;
		pthread_mutex_unlock(&f->lock);
		r = fsrv_submit_frame(f->srv, cn->id, frame, len, local_done, cn);
		if (r < 0) {
			reply_err(f, cn, node, m.reqid, -EIO);
			conn_put(f, cn);
		}
		wire_msg_free(&m);
		return;
	}
	p = calloc(1, sizeof(*p));
	if (!p || node < 1 || node > 511 || !(p->frame = malloc(len))) {
		reply_err(f, cn, node, m.reqid, p ? -EHOSTUNREACH : -ENOMEM);
		free(p);
		wire_msg_free(&m);
		return;
	}
	memcpy(p->frame, frame, len);
	p->len = len;
	p->cliid = m.reqid;
	p->node = (int)node;
	p->op = m.u.file_req.op;
	p->uid = m.u.file_req.uid;
	p->gid = m.u.file_req.gid;
	p->fh = m.u.file_req.fh;
	snprintf(p->path, sizeof(p->path), "%s", m.u.file_req.path ? m.u.file_req.path : "");
	p->deadline = cluster_mono_ms() + f->timeout_ms;
	p->cn = cn;
	wire_msg_free(&m);
	pthread_mutex_lock(&f->lock);
	cn->refs++;
	do
		p->netid = ++f->next_id;
	while (!p->netid);
	/* the request id sits in bytes 8..11 of the wire header, big-endian */
	p->frame[8] = (uint8_t)(p->netid >> 24);
	p->frame[9] = (uint8_t)(p->netid >> 16);
	p->frame[10] = (uint8_t)(p->netid >> 8);
	p->frame[11] = (uint8_t)p->netid;
	p->next = *bucket(f, p->netid);
	*bucket(f, p->netid) = p;
	f->npend++;
	/* Sent under the lock: the reply can not arrive before the entry is in the table, and
	 * the sweeper never resends it concurrently. (Order: f->lock -> link locks.) */
	r = pend_send(f, p);
	p->sent = r == 0;
	/* A request to this node timed out a moment ago and there is still no link: this one
	 * fails at once, so that one path walk (revalidate, then lookup) does not wait twice. */
	if (r == -ENOTCONN && f->failed_at[node] &&
	    cluster_mono_ms() - f->failed_at[node] < f->timeout_ms)
		r = -EHOSTUNREACH;
	pthread_mutex_unlock(&f->lock);
	if (r < 0 && r != -ENOTCONN) {
		p = pend_take(f, p->netid, (int)node);
		if (p) {
			if (r == -EHOSTUNREACH)
				log_debug(
					"gfs: node %u: %s %s: no link since the last time-out; EIO",
					node, fsmsg_op_name(p->op), p->path);
			reply_err(f, cn, node, p->cliid, r == SSI_E_TOOBIG ? -E2BIG : -EIO);
			pend_free(f, p);
		}
	}
}

/* Every SWEEP_MS: send what found no link before, fail what is overdue. */
static void sweep(struct fsfwd *f, int64_t now)
{
	struct pend *late = NULL, *p;

	pthread_mutex_lock(&f->lock);
	for (int b = 0; b < NBUCKET; b++) {
		struct pend **pp = &f->tab[b];

		while ((p = *pp)) {
			if (now >= p->deadline && !p->cn->dead)
				f->failed_at[p->node] = now;
			if (now >= p->deadline && p->op == WIRE_FOP_OPEN && p->sent) {
				unsigned k = f->nlate++ % LATE_OPENS;

				f->late[k].netid = p->netid;
				f->late[k].node = p->node;
				f->late[k].uid = p->uid;
				f->late[k].gid = p->gid;
			}
			if (now >= p->deadline || p->cn->dead) {
				*pp = p->next;
				f->npend--;
				p->next = late;
				late = p;
				continue;
			}
			if (!p->sent)
				p->sent = pend_send(f, p) == 0;
			pp = &p->next;
		}
	}
	pthread_mutex_unlock(&f->lock);
	while ((p = late)) {
		late = p->next;
		if (!p->cn->dead) {
			log_warn("gfs: node %d: %s %s: no answer within %d ms (%s); EIO", p->node,
				 fsmsg_op_name(p->op), p->path, f->timeout_ms,
				 p->sent ? "link silent" : "no link");
			reply_err(f, p->cn, (uint32_t)p->node, p->cliid, -EIO);
		}
		pend_free(f, p);
	}
}

static void conn_accept(struct fsfwd *f)
{
	struct ucred cr;
	socklen_t cl = sizeof(cr);
	struct conn *cn;
	int fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC), i;

	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0 || cr.uid != 0) {
		log_warn("gfs: %s: refused a client of uid %d (only root may send requests)",
			 f->path, (int)cr.uid);
		close(fd);
		return;
	}
	for (i = 0; i < MAX_CONN && f->conns[i]; i++)
		;
	cn = i < MAX_CONN ? calloc(1, sizeof(*cn)) : NULL;
	if (!cn) {
		log_warn("gfs: %s: too many clients", f->path);
		close(fd);
		return;
	}
	cn->f = f;
	cn->fd = fd;
	cn->id = -(i + 1);
	cn->refs = 1;
	pthread_mutex_init(&cn->wlock, NULL);
	buf_init(&cn->in);
	f->conns[i] = cn;
	log_debug("gfs: client pid %d connected", (int)cr.pid);
}

/* Read what cn has; returns -1 when it is finished. */
static int conn_read(struct fsfwd *f, struct conn *cn)
{
	const uint8_t *frame;
	uint32_t node;
	size_t len;
	uint8_t *p = buf_reserve(&cn->in, 256 * 1024);
	ssize_t n;
	int r;

	if (!p)
		return -1;
	n = recv(cn->fd, p, 256 * 1024, 0);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0)
		return -1;
	buf_commit(&cn->in, (size_t)n);
	while ((r = fsmsg_frame_cut(&cn->in, &node, &frame, &len)) == 1)
		take_request(f, cn, node, frame, len);
	buf_compact(&cn->in);
	if (r < 0)
		log_warn("gfs: bad frame from the client: %s; closing it", ssierr_str(r));
	return r < 0 ? -1 : 0;
}

static void *fwd_thread(void *arg)
{
	struct fsfwd *f = arg;
	int64_t next = cluster_mono_ms() + SWEEP_MS;

	for (;;) {
		struct pollfd pf[MAX_CONN + 2];
		int idx[MAX_CONN], n = 2, tmo;
		int64_t now = cluster_mono_ms();

		if (now >= next) {
			sweep(f, now);
			next = now + SWEEP_MS;
		}
		pf[0] = (struct pollfd){.fd = f->evfd, .events = POLLIN};
		pf[1] = (struct pollfd){.fd = f->lfd, .events = POLLIN};
		for (int i = 0; i < MAX_CONN; i++)
			if (f->conns[i]) {
				idx[n - 2] = i;
				pf[n++] = (struct pollfd){.fd = f->conns[i]->fd, .events = POLLIN};
			}
		tmo = (int)(next - now);
		if (poll(pf, (nfds_t)n, tmo < 0 ? 0 : tmo) < 0 && errno != EINTR)
			return NULL;
		if (pf[0].revents)
			return NULL;
		if (pf[1].revents & POLLIN)
			conn_accept(f);
		for (int k = 2; k < n; k++) {
			struct conn *cn = f->conns[idx[k - 2]];
			size_t n_closed, n_remote;

			if (!pf[k].revents || conn_read(f, cn) == 0)
				continue;
			f->conns[idx[k - 2]] = NULL;
			pthread_mutex_lock(&f->lock);
			cn->dead = 1; /* its requests are dropped by the next sweep */
			pthread_mutex_unlock(&f->lock);
			shutdown(cn->fd, SHUT_RDWR);
			n_closed = fsrv_close_peer(f->srv, cn->id);
			n_remote = close_remote(f, cn);
			if (n_closed || n_remote)
				log_info("gfs: client gone; closed its %zu open files here and "
					 "%zu on other nodes",
					 n_closed, n_remote);
			conn_put(f, cn);
		}
	}
}

size_t fsfwd_pending(struct fsfwd *f)
{
	size_t n;

	pthread_mutex_lock(&f->lock);
	n = f->npend;
	pthread_mutex_unlock(&f->lock);
	return n;
}

static int sock_open(struct fsfwd *f, char *err, size_t errlen)
{
	/* Only our own daemon uses this name: a leftover is stale. 0600: only root (gprocfs)
	 * may connect, since ssid believes the uid inside each request. */
	f->lfd = usock_listen(f->path, 0600, USOCK_NONBLOCK, 8);
	if (f->lfd < 0) {
		snprintf(err, errlen, "gfs socket %s: %s", f->path,
			 f->lfd == -ENAMETOOLONG ? "path too long; shorten run_dir"
						 : strerror(-f->lfd));
		return f->lfd;
	}
	return 0;
}

int fsfwd_new(struct fsfwd **out, struct cluster *c, struct fsrv *srv, int self_id,
	      const char *run_dir, int timeout_ms, char *err, size_t errlen)
{
	struct fsfwd *f = calloc(1, sizeof(*f));
	int r;

	*out = NULL;
	if (!f)
		return -ENOMEM;
	f->c = c;
	f->srv = srv;
	f->self = self_id;
	f->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
	f->lfd = f->evfd = -1;
	pthread_mutex_init(&f->lock, NULL);
	snprintf(f->path, sizeof(f->path), "%s/%s", run_dir, FSMSG_SOCK_NAME);
	r = sock_open(f, err, errlen);
	if (r < 0)
		goto fail;
	f->evfd = eventfd(0, EFD_CLOEXEC);
	if (f->evfd < 0) {
		r = -errno;
		snprintf(err, errlen, "gfs: eventfd: %s", strerror(errno));
		goto fail;
	}
	r = cluster_on_msg(c, WIRE_FILE_REPLY, on_file_reply, f);
	if (r < 0) {
		snprintf(err, errlen, "gfs: FILE_REPLY handler: %s", ssierr_str(r));
		goto fail;
	}
	r = -pthread_create(&f->th, NULL, fwd_thread, f);
	if (r < 0) {
		snprintf(err, errlen, "gfs: thread: %s", strerror(-r));
		goto fail;
	}
	f->started = 1;
	*out = f;
	return 0;
fail:
	fsfwd_free(f);
	return r;
}

void fsfwd_stop(struct fsfwd *f)
{
	uint64_t one = 1;

	if (!f)
		return;
	if (f->started) {
		if (write(f->evfd, &one, sizeof(one)) < 0)
			log_warn("gfs: waking the forwarder: %s", strerror(errno));
		pthread_join(f->th, NULL);
		f->started = 0;
	}
}

void fsfwd_free(struct fsfwd *f)
{
	if (!f)
		return;
	fsfwd_stop(f);
	for (int b = 0; b < NBUCKET; b++)
		while (f->tab[b]) {
			struct pend *p = f->tab[b];

			f->tab[b] = p->next;
			pend_free(f, p);
		}
	for (int i = 0; i < MAX_CONN; i++)
		if (f->conns[i])
			conn_put(f, f->conns[i]);
	if (f->lfd >= 0) {
		close(f->lfd);
		unlink(f->path);
	}
	if (f->evfd >= 0)
		close(f->evfd);
	pthread_mutex_destroy(&f->lock);
	free(f);
}
