/*
 * link.c - the link manager (link.h): listening socket, accept (one server thread per
 * connection), dial (one client thread per peer name), the send queue hand-over, counters,
 * reaping and stopping. The session threads themselves are in link_session.c.
 *
 * One thread per session. The thread that owns a session is the only one that calls libssh
 * on it; other threads only touch the link's queue (qlock) and eventfd, and, to stop a
 * thread blocked in connect or key exchange, shutdown(2) its socket under mgr->lock.
 * Lock order: mgr->lock before l->qlock. No callback of struct link_ops runs with either held.
 */
#include "ssid/link_int.h"
#include "ssid/ssierr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---------------------------------------------------------------- manager */

#define OUTQ_BULK_ROOM (2u << 20) /* of OUTQ_MAX, kept free of image chunks */

static struct link *link_new(struct link_mgr *m)
{
	struct link *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->mgr = m;
	l->sockfd = -1;
	l->accepted_fd = -1;
	l->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->efd < 0) {
		free(l);
		return NULL;
	}
	pthread_mutex_init(&l->qlock, NULL);
	buf_init(&l->outq);
	buf_set_max(&l->outq, OUTQ_MAX);
	return l;
}

static void link_destroy(struct link *l)
{
	close(l->efd);
	buf_free(&l->outq);
	pthread_mutex_destroy(&l->qlock);
	free(l);
}

int link_mgr_new(struct link_mgr **out, const struct link_cfg *cfg, const struct link_ops *ops,
		 char *err, size_t errlen)
{
	struct link_mgr *m = calloc(1, sizeof(*m));
	ssh_key key = NULL;
	bool f = false;

	*out = NULL;
	if (!m)
		return -ENOMEM;
	m->cfg = *cfg;
	m->ops = *ops;
	m->lfd = -1;
	m->self_id = cfg->self_id;
	pthread_mutex_init(&m->lock, NULL);
	if (ssh_pki_import_privkey_file(cfg->key_path, NULL, NULL, NULL, &key) != SSH_OK) {
		snprintf(err, errlen, "%s: cannot read the node key; run `ssictl keygen` first",
			 cfg->key_path);
		free(m);
		return -ENOENT;
	}
	m->bind = ssh_bind_new();
	if (!m->bind || ssh_bind_options_set(m->bind, SSH_BIND_OPTIONS_PROCESS_CONFIG, &f) < 0 ||
	    ssh_bind_options_set(m->bind, SSH_BIND_OPTIONS_IMPORT_KEY, key) < 0) {
		snprintf(err, errlen, "libssh: cannot set up the server");
		ssh_key_free(key);
		if (m->bind)
			ssh_bind_free(m->bind);
		free(m);
		return -ENOMEM;
	}
	if (cfg->ciphers[0]) {
		ssh_bind_options_set(m->bind, SSH_BIND_OPTIONS_CIPHERS_C_S, cfg->ciphers);
		ssh_bind_options_set(m->bind, SSH_BIND_OPTIONS_CIPHERS_S_C, cfg->ciphers);
	}
	*out = m;
	return 0;
}

int link_mgr_listen(struct link_mgr *m, const char *host, uint16_t port, char *err, size_t errlen)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd, one = 1, e;

	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		snprintf(err, errlen, "%s:%u: listen needs a numeric IPv4 address", host, port);
		return -EINVAL;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		e = errno;
		snprintf(err, errlen, "socket: %s", strerror(e));
		return -e;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0) {
		e = errno;
		snprintf(err, errlen, "%s:%u: %s", host, port,
			 e == EADDRINUSE      ? "address in use (is another ssid running?)"
			 : e == EADDRNOTAVAIL ? "address not available on this machine"
					      : strerror(e));
		close(fd);
		return -e;
	}
	m->lfd = fd;
	return 0;
}

int link_mgr_listen_fd(const struct link_mgr *m)
{
	return m->lfd;
}

static int start_thread(struct link_mgr *m, struct link *l, void *(*fn)(void *))
{
	int r;

	pthread_mutex_lock(&m->lock);
	r = -pthread_create(&l->thr, NULL, fn, l);
	if (!r) {
		l->next = m->links;
		m->links = l;
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

int link_mgr_accept(struct link_mgr *m, char *err, size_t errlen)
{
	struct sockaddr_in sa;
	socklen_t salen = sizeof(sa);
	char addr[INET_ADDRSTRLEN];
	struct link *l;
	int fd, r;

	fd = accept4(m->lfd, (struct sockaddr *)&sa, &salen, SOCK_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "accept: %s", strerror(-r));
		return r;
	}
	pthread_mutex_lock(&m->lock);
	r = 0;
	for (l = m->links; l; l = l->next)
		r += !l->done;
	pthread_mutex_unlock(&m->lock);
	if (r >= MAX_LINKS) {
		close(fd);
		snprintf(err, errlen, "accept: %d links open already; connection closed", r);
		return -EMFILE;
	}
	l = link_new(m);
	if (!l) {
		close(fd);
		snprintf(err, errlen, "accept: out of memory");
		return -ENOMEM;
	}
	inet_ntop(AF_INET, &sa.sin_addr, addr, sizeof(addr));
	snprintf(l->remote, sizeof(l->remote), "%s:%u", addr, ntohs(sa.sin_port));
	l->s = ssh_new();
	if (!l->s || ssh_bind_accept_fd(m->bind, l->s, fd) != SSH_OK) {
		snprintf(err, errlen, "%s: ssh accept: %s", l->remote,
			 l->s ? ssh_get_error(m->bind) : "out of memory");
		if (l->s)
			ssh_free(l->s);
		close(fd);
		link_destroy(l);
		return -EIO;
	}
	/* As for client links (link_session.c): a cut link must not block a write for ever. */
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &m->cfg.down_ms, sizeof(m->cfg.down_ms));
	l->sockfd = fd;
	r = start_thread(m, l, link_server_thread);
	if (r < 0) {
		snprintf(err, errlen, "%s: thread: %s", l->remote, strerror(-r));
		ssh_free(l->s);
		link_destroy(l);
	}
	return r;
}

int link_mgr_dial(struct link_mgr *m, const char *name, const char *host, uint16_t port)
{
	struct link *l;
	int r;

	if (atomic_load(&m->stopping))
		return -ESHUTDOWN;
	pthread_mutex_lock(&m->lock);
	for (l = m->links; l; l = l->next)
		if (l->outgoing && !strcmp(l->name, name))
			break;
	pthread_mutex_unlock(&m->lock);
	if (l)
		return 0;
	if (strlen(name) >= sizeof(l->name) || strlen(host) >= sizeof(l->host))
		return -EINVAL;
	l = link_new(m);
	if (!l)
		return -ENOMEM;
	l->outgoing = 1;
	strcpy(l->name, name);
	strcpy(l->host, host);
	l->port = port;
	snprintf(l->remote, sizeof(l->remote), "%s:%u", host, port);
	r = start_thread(m, l, link_client_thread);
	if (r < 0)
		link_destroy(l);
	return r;
}

int link_mgr_send(struct link_mgr *m, int peer_id, const struct wire_msg *msg)
{
	struct link *l, *best = NULL;
	int r = -ENOTCONN;

	pthread_mutex_lock(&m->lock);
	/* Two links per peer (one each way). Frames go on the one we dialled; but image chunks,
	 * which must arrive in order, stay on the oldest link up: a second link coming up in
	 * the middle of a stream (the peer's daemon just restarted and dialled us back) would
	 * otherwise overtake the chunks still queued on the first. */
	for (l = m->links; l; l = l->next)
		if (l->up && l->peer_id == peer_id &&
		    (!best ||
		     (msg->type == WIRE_MIG_STREAM ? l->up_seq < best->up_seq : l->outgoing)))
			best = l;
	if (best) {
		pthread_mutex_lock(&best->qlock);
		/* Image chunks stop OUTQ_BULK_ROOM short of the bound (SSI_E_TOOBIG, the stream
		 * waits), so that replies (a 1 MiB /gfs READ) still fit during a migration. */
		if (msg->type == WIRE_MIG_STREAM &&
		    buf_avail(&best->outq) + WIRE_MAX_FRAME > OUTQ_MAX - OUTQ_BULK_ROOM)
			r = SSI_E_TOOBIG;
		else
			r = wire_encode(&best->outq, msg);
		pthread_mutex_unlock(&best->qlock);
		if (!r) {
			atomic_fetch_add(&m->frames_tx, 1);
			link_wake(best);
		}
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

size_t link_mgr_up_peers(struct link_mgr *m, int *ids, size_t cap)
{
	size_t n = 0;

	pthread_mutex_lock(&m->lock);
	for (struct link *l = m->links; l; l = l->next) {
		size_t i;
		if (!l->up)
			continue;
		for (i = 0; i < n && ids[i] != l->peer_id; i++)
			;
		if (i == n && n < cap)
			ids[n++] = l->peer_id;
	}
	pthread_mutex_unlock(&m->lock);
	return n;
}

void link_mgr_stats(struct link_mgr *m, struct link_stats *st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&m->lock);
	for (struct link *l = m->links; l; l = l->next) {
		st->links += !l->done;
		st->up += l->up;
	}
	pthread_mutex_unlock(&m->lock);
	st->frames_tx = atomic_load(&m->frames_tx);
	st->frames_rx = atomic_load(&m->frames_rx);
	st->bytes_tx = atomic_load(&m->bytes_tx);
	st->bytes_rx = atomic_load(&m->bytes_rx);
}

void link_mgr_reap(struct link_mgr *m)
{
	struct link **pp, *dead = NULL;

	pthread_mutex_lock(&m->lock);
	for (pp = &m->links; *pp;) {
		struct link *l = *pp;
		if (l->done) {
			*pp = l->next;
			l->next = dead;
			dead = l;
		} else {
			pp = &l->next;
		}
	}
	pthread_mutex_unlock(&m->lock);
	while (dead) {
		struct link *l = dead;
		dead = l->next;
		pthread_join(l->thr, NULL);
		link_destroy(l);
	}
}

void link_mgr_free(struct link_mgr *m)
{
	struct link *l;

	if (!m)
		return;
	atomic_store(&m->stopping, 1);
	pthread_mutex_lock(&m->lock);
	for (l = m->links; l; l = l->next) {
		link_wake(l);
		if (l->sockfd >= 0)
			shutdown(l->sockfd, SHUT_RDWR);
	}
	pthread_mutex_unlock(&m->lock);
	while ((l = m->links)) {
		m->links = l->next;
		pthread_join(l->thr, NULL);
		link_destroy(l);
	}
	if (m->lfd >= 0)
		close(m->lfd);
	ssh_bind_free(m->bind);
	pthread_mutex_destroy(&m->lock);
	free(m);
}
