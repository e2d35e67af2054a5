/*
 * link_session.c - one SSH session per thread: server set-up (key exchange, public-key auth
 * through callbacks, the "ssi" subsystem), client set-up (connect, pinned host key, auth,
 * channel) with reconnect and backoff, and the established-link loop that moves wire frames.
 *
 * The thread that owns a session is the only one that calls libssh on it. It polls the
 * session and the link's eventfd with one ssh_event; other threads only append to the
 * link's queue (qlock) and write the eventfd (link_wake).
 * Also the fault-injection cut (link_fault_cut, tests only): a process-wide table of peers
 * cut until a deadline, checked by every link thread at each turn of its loop.
 */
#include "ssid/link_int.h"
#include "ssid/ssierr.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *link_remote(const struct link *l)
{
	return l->remote;
}

int link_outgoing(const struct link *l)
{
	return l->outgoing;
}

void link_wake(struct link *l)
{
	uint64_t one = 1;
	ssize_t r;

	do
		r = write(l->efd, &one, sizeof(one));
	while (r < 0 && errno == EINTR);
}

/* ---------------------------------------------------------------- fault injection: cut */

#define CUT_IDS 512			   /* node ids 1..511 */
static _Atomic int64_t cut_until[CUT_IDS]; /* monotonic ms; the peer is cut until then */
static _Atomic int64_t cut_any_until;	   /* the latest of them */
static pthread_mutex_t cut_lock = PTHREAD_MUTEX_INITIALIZER;
static char cut_name[CUT_IDS][64]; /* cut_lock: the name we dial that peer by, "" unknown */

static _Atomic(struct link_mgr *) cut_mgr; /* the daemon's manager (set by its threads) */

int link_fault_cut(int peer, int ms)
{
	int64_t until = now_ms() + ms, any;
	struct link_mgr *mgr = atomic_load(&cut_mgr);

	if (peer <= 0 || peer >= CUT_IDS || ms <= 0)
		return -EINVAL;
	atomic_store(&cut_until[peer], until);
	any = atomic_load(&cut_any_until);
	while (any < until && !atomic_compare_exchange_weak(&cut_any_until, &any, until))
		;
	if (!mgr)
		return 0;
	/* From now on nothing more is queued for it (link_mgr_send: -ENOTCONN); what was
	 * queued before is lost when its thread closes the link, as in a real cut. */
	pthread_mutex_lock(&mgr->lock);
	for (struct link *l = mgr->links; l; l = l->next)
		if (l->peer_id == peer && l->up) {
			l->up = 0;
			link_wake(l);
		}
	pthread_mutex_unlock(&mgr->lock);
	return 0;
}

/* ms left of a cut of peer, 0 if not cut. */
static int64_t cut_left(int peer)
{
	int64_t d = peer > 0 && peer < CUT_IDS ? atomic_load(&cut_until[peer]) - now_ms() : 0;
	return d > 0 ? d : 0;
}

int link_fault_is_cut(int peer)
{
	return cut_left(peer) > 0;
}

/* A client link found its peer cut: remember the name so that its next dials wait. */
static void cut_note_name(const struct link *l, int peer)
{
	if (!l->outgoing || peer <= 0 || peer >= CUT_IDS)
		return;
	pthread_mutex_lock(&cut_lock);
	snprintf(cut_name[peer], sizeof(cut_name[peer]), "%s", l->name);
	pthread_mutex_unlock(&cut_lock);
}

/* ms a client link to name must still wait before dialling (a cut), 0 if none. */
static int64_t cut_left_name(const char *name)
{
	int64_t left = 0;

	if (atomic_load(&cut_any_until) <= now_ms())
		return 0;
	pthread_mutex_lock(&cut_lock);
	for (int i = 1; i < CUT_IDS; i++)
		if (cut_name[i][0] && !strcmp(cut_name[i], name) && cut_left(i) > left)
			left = cut_left(i);
	pthread_mutex_unlock(&cut_lock);
	return left;
}

static void drain(int efd)
{
	uint64_t v;
	ssize_t r;

	do
		r = read(efd, &v, sizeof(v));
	while (r < 0 && errno == EINTR);
}

static int efd_cb(socket_t fd, int revents, void *userdata)
{
	(void)revents;
	(void)userdata;
	drain(fd);
	return 0;
}

static void set_sock(struct link *l, int fd)
{
	int uto = l->mgr->cfg.down_ms;

	/* Data unacknowledged for down_ms (a cut link) aborts the connection, so a blocking
	 * write of a big frame cannot hold this thread past the failure time-out. */
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &uto, sizeof(uto));
	pthread_mutex_lock(&l->mgr->lock);
	l->sockfd = fd;
	pthread_mutex_unlock(&l->mgr->lock);
}

static void set_up(struct link *l, int up, int peer_id)
{
	pthread_mutex_lock(&l->mgr->lock);
	if (up && !l->up)
		l->up_seq = ++l->mgr->ups;
	l->up = up;
	l->peer_id = peer_id;
	pthread_mutex_unlock(&l->mgr->lock);
}

/* Write all of b to the channel; 0, -EIO, or -ETIMEDOUT when the peer's window stayed shut
 * (no byte accepted) for longer than down_ms: a cut link must not hold this thread in a
 * blocking write for ever (libssh returns 0 after the session time-out and we would retry). */
static int chan_write_all(struct link *l, struct buf *b)
{
	const uint8_t *p = buf_rptr(b);
	size_t n = buf_avail(b);
	int64_t stalled = 0;

	while (n) {
		int w = ssh_channel_write(l->ch, p, n > 65536 ? 65536 : (uint32_t)n);
		if (w == SSH_ERROR || w < 0)
			return -EIO;
		if (w == 0) {
			int64_t now = now_ms();
			if (!stalled)
				stalled = now;
			else if (now - stalled > l->mgr->cfg.down_ms)
				return -ETIMEDOUT;
			continue;
		}
		stalled = 0;
		p += w;
		n -= (size_t)w;
		atomic_fetch_add(&l->mgr->bytes_tx, (uint64_t)w);
	}
	buf_reset(b);
	return 0;
}

static int encode_count(struct link *l, struct buf *out, const struct wire_msg *m)
{
	int r = wire_encode(out, m);

	if (!r)
		atomic_fetch_add(&l->mgr->frames_tx, 1);
	return r;
}

/* Handle the complete frames in in. 0 to go on, or -1 with reason filled. */
static int handle_frames(struct link *l, struct buf *in, struct buf *reply, int64_t *last_rx,
			 char *reason, size_t cap)
{
	const struct link_ops *ops = &l->mgr->ops;
	struct wire_msg m;
	char why[256] = "";
	int r;

	/* image chunks by reference: on_msg hands them on (copied once, into the restore's
	 * ring) before in is read into again */
	while ((r = wire_read_ref(in, &m)) == 1) {
		if (l->peer_id > 0 && cut_left(l->peer_id)) { /* cut meanwhile: drop it */
			wire_msg_free(&m);
			snprintf(reason, cap, "link to node %d cut (fault injection)", l->peer_id);
			return -1;
		}
		*last_rx = now_ms();
		atomic_fetch_add(&l->mgr->frames_rx, 1);
		if (!l->up) {
			int id = -1;
			if (m.type != WIRE_HELLO) {
				snprintf(reason, cap, "first frame was %s, not HELLO",
					 wire_type_name(m.type));
			} else if (cut_left(m.u.hello.node_id)) { /* before on_hello: unheard */
				cut_note_name(l, m.u.hello.node_id);
				snprintf(reason, cap, "link to node %u cut (fault injection)",
					 m.u.hello.node_id);
			} else {
				id = ops->on_hello(ops->ctx, l, &m.u.hello, l->key_name, l->name,
						   why, sizeof(why));
				if (id < 0)
					snprintf(reason, cap, "HELLO refused: %s", why);
			}
			wire_msg_free(&m);
			if (id <= 0)
				return -1;
			set_up(l, 1, id);
			continue;
		}
		if (m.type == WIRE_HELLO) {
			snprintf(reason, cap, "second HELLO on an established link");
			wire_msg_free(&m);
			return -1;
		}
		r = ops->on_msg(ops->ctx, l, l->peer_id, &m, reply, why, sizeof(why));
		wire_msg_free(&m);
		if (r < 0) {
			snprintf(reason, cap, "%s", why[0] ? why : ssierr_str(r));
			return -1;
		}
	}
	if (r < 0) {
		if (m.type)
			snprintf(reason, cap, "malformed frame: %s (type %u %s, field %u)",
				 ssierr_str(r), m.type, wire_type_name(m.type), m.bad_tag);
		else
			snprintf(reason, cap, "malformed frame: %s (bad header)", ssierr_str(r));
		return -1;
	}
	if (in->off > 65536)
		buf_compact(in);
	return 0;
}

/* Read what the channel has into in. 0, or -1 with reason. */
static int read_channel(struct link *l, struct buf *in, char *reason, size_t cap)
{
	for (;;) {
		uint8_t *p = buf_reserve(in, 16384);
		int n;

		if (!p) {
			snprintf(reason, cap, "input buffer full");
			return -1;
		}
		n = ssh_channel_read_nonblocking(l->ch, p, 16384, 0);
		if (n == SSH_ERROR || n < 0) {
			snprintf(reason, cap, "read: %s", ssh_get_error(l->s));
			return -1;
		}
		if (n == 0)
			return 0;
		buf_commit(in, (size_t)n);
		atomic_fetch_add(&l->mgr->bytes_rx, (uint64_t)n);
	}
}

/* The established-link loop. Returns when the link must close; reason says why. */
static void run(struct link *l, char *reason, size_t cap)
{
	struct link_mgr *mgr = l->mgr;
	struct buf in, out, reply;
	struct wire_msg m;
	int64_t start = now_ms(), last_rx = start, last_hb = start;
	/* While a fault-injection cut is on, a server link answers HELLO only after the
	 * client's (a cut peer must not hear from us); otherwise both send it at once. */
	int hello_sent = l->outgoing || atomic_load(&cut_any_until) <= start;
	int r;

	buf_init(&in);
	buf_init(&out);
	buf_init(&reply);
	buf_set_max(&in, WIRE_MAX_FRAME + 65536);
	wire_msg_init(&m, WIRE_HELLO, 0);
	mgr->ops.make_hello(mgr->ops.ctx, &m);
	if (hello_sent && (encode_count(l, &out, &m) < 0 || chan_write_all(l, &out) < 0)) {
		snprintf(reason, cap, "sending HELLO: %s", ssh_get_error(l->s));
		goto out;
	}
	for (;;) {
		int64_t now;

		if (atomic_load(&mgr->stopping)) {
			snprintf(reason, cap, "daemon stopping");
			break;
		}
		if (l->peer_id > 0 && cut_left(l->peer_id)) { /* own field: no lock needed */
			cut_note_name(l, l->peer_id);
			snprintf(reason, cap, "link to node %d cut (fault injection)", l->peer_id);
			break;
		}
		if (ssh_event_dopoll(l->ev, POLL_MS) == SSH_ERROR) {
			snprintf(reason, cap, "connection lost: %s", ssh_get_error(l->s));
			break;
		}
		if (read_channel(l, &in, reason, cap) < 0 ||
		    handle_frames(l, &in, &reply, &last_rx, reason, cap) < 0)
			break;
		if (ssh_channel_is_eof(l->ch) || !ssh_channel_is_open(l->ch)) {
			snprintf(reason, cap, "peer closed the link");
			break;
		}
		if (!hello_sent && l->up) {
			wire_msg_init(&m, WIRE_HELLO, 0);
			mgr->ops.make_hello(mgr->ops.ctx, &m);
			/* out is empty here (flushed at the end of every turn): HELLO goes first */
			if (encode_count(l, &out, &m) < 0 || chan_write_all(l, &out) < 0) {
				snprintf(reason, cap, "sending HELLO: %s", ssh_get_error(l->s));
				break;
			}
			hello_sent = 1;
		}
		now = now_ms();
		pthread_mutex_lock(&l->qlock);
		if (buf_avail(&l->outq)) {
			struct buf t = out;
			out = l->outq;
			l->outq = t;
			/* The limit is the queue's, not its storage's: without this every other
			 * swap gave the queue no bound (flow control lost, 256 MiB buffers). */
			buf_set_max(&l->outq, OUTQ_MAX);
			buf_set_max(&out, BUF_MAX_SIZE);
		}
		pthread_mutex_unlock(&l->qlock);
		if (buf_avail(&reply) && buf_put(&out, buf_rptr(&reply), buf_avail(&reply)) == 0)
			buf_reset(&reply);
		if (l->up && now - last_hb >= mgr->cfg.heartbeat_ms) {
			wire_msg_init(&m, WIRE_HEARTBEAT, 0);
			m.u.heartbeat.node_id = (uint16_t)mgr->self_id;
			m.u.heartbeat.seq = ++l->hb_seq;
			m.u.heartbeat.uptime_ms = (uint64_t)(now - start);
			encode_count(l, &out, &m);
			last_hb = now;
		}
		if (buf_avail(&out) && (r = chan_write_all(l, &out)) < 0) {
			if (r == -ETIMEDOUT)
				snprintf(reason, cap,
					 "write stalled for over %d ms (peer window shut)",
					 mgr->cfg.down_ms);
			else
				snprintf(reason, cap, "write: %s", ssh_get_error(l->s));
			break;
		}
		if (now - last_rx > mgr->cfg.down_ms) {
			snprintf(reason, cap, "nothing heard for %lld ms",
				 (long long)(now - last_rx));
			break;
		}
		if (!l->up && now - start > HELLO_TIMEOUT_MS) {
			snprintf(reason, cap, "no HELLO within %d ms", HELLO_TIMEOUT_MS);
			break;
		}
	}
out:
	buf_free(&in);
	buf_free(&out);
	buf_free(&reply);
}

static void session_close(struct link *l)
{
	set_sock(l, -1);
	if (l->ev) {
		if (l->s)
			ssh_event_remove_session(l->ev, l->s);
		ssh_event_remove_fd(l->ev, l->efd);
		ssh_event_free(l->ev);
		l->ev = NULL;
	}
	if (l->ch) {
		ssh_channel_close(l->ch);
		ssh_channel_free(l->ch);
		l->ch = NULL;
	}
	if (l->s) {
		ssh_disconnect(l->s);
		ssh_free(l->s);
		l->s = NULL;
	}
	pthread_mutex_lock(&l->qlock);
	buf_reset(&l->outq);
	pthread_mutex_unlock(&l->qlock);
}

static int make_event(struct link *l)
{
	l->ev = ssh_event_new();
	if (!l->ev || ssh_event_add_session(l->ev, l->s) != SSH_OK ||
	    ssh_event_add_fd(l->ev, l->efd, POLLIN, efd_cb, l) != SSH_OK)
		return -ENOMEM;
	return 0;
}

/* ---------------------------------------------------------------- server side */

static int srv_auth_pubkey(ssh_session s, const char *user, struct ssh_key_struct *pubkey,
			   char sigstate, void *ud)
{
	struct link *l = ud;
	const struct link_ops *ops = &l->mgr->ops;

	(void)s;
	(void)user;
	if (sigstate != SSH_PUBLICKEY_STATE_NONE && sigstate != SSH_PUBLICKEY_STATE_VALID)
		goto deny;
	if (ops->auth_key(ops->ctx, l->remote, pubkey, l->key_name, sizeof(l->key_name), l->refusal,
			  sizeof(l->refusal)) < 0)
		goto deny;
	if (sigstate == SSH_PUBLICKEY_STATE_VALID)
		l->authed = 1;
	return SSH_AUTH_SUCCESS;
deny:
	l->denials++;
	return SSH_AUTH_DENIED;
}

static int srv_subsystem(ssh_session s, ssh_channel ch, const char *sub, void *ud)
{
	struct link *l = ud;

	(void)s;
	(void)ch;
	if (strcmp(sub, SUBSYSTEM))
		return 1;
	l->sub_ok = 1;
	return 0;
}

static ssh_channel srv_channel_open(ssh_session s, void *ud)
{
	struct link *l = ud;

	if (!l->authed || l->ch)
		return NULL;
	l->ch = ssh_channel_new(s);
	if (!l->ch)
		return NULL;
	memset(&l->ccb, 0, sizeof(l->ccb));
	l->ccb.userdata = l;
	l->ccb.channel_subsystem_request_function = srv_subsystem;
	ssh_callbacks_init(&l->ccb);
	ssh_set_channel_callbacks(l->ch, &l->ccb);
	return l->ch;
}

static int server_setup(struct link *l, char *reason, size_t cap)
{
	int64_t deadline = now_ms() + SETUP_TIMEOUT_MS;
	long tmo = CONNECT_TIMEOUT_S * 3;

	ssh_options_set(l->s, SSH_OPTIONS_TIMEOUT, &tmo);
	ssh_set_auth_methods(l->s, SSH_AUTH_METHOD_PUBLICKEY);
	memset(&l->scb, 0, sizeof(l->scb));
	l->scb.userdata = l;
	l->scb.auth_pubkey_function = srv_auth_pubkey;
	l->scb.channel_open_request_session_function = srv_channel_open;
	ssh_callbacks_init(&l->scb);
	ssh_set_server_callbacks(l->s, &l->scb);
	if (ssh_handle_key_exchange(l->s) != SSH_OK) {
		snprintf(reason, cap, "key exchange: %s", ssh_get_error(l->s));
		return -1;
	}
	if (make_event(l) < 0) {
		snprintf(reason, cap, "out of memory");
		return -1;
	}
	while (!(l->authed && l->ch && l->sub_ok)) {
		if (l->denials >= 3 || (l->refusal[0] && !ssh_is_connected(l->s))) {
			snprintf(reason, cap, "refused: %s",
				 l->refusal[0] ? l->refusal : "bad key");
			return -1;
		}
		if (atomic_load(&l->mgr->stopping) || now_ms() > deadline) {
			snprintf(reason, cap, "%s",
				 l->refusal[0] ? l->refusal : "no authenticated channel in time");
			return -1;
		}
		if (ssh_event_dopoll(l->ev, POLL_MS) == SSH_ERROR) {
			snprintf(reason, cap, "%s%s", l->refusal[0] ? "refused: " : "setup: ",
				 l->refusal[0] ? l->refusal : ssh_get_error(l->s));
			return -1;
		}
	}
	return 0;
}

void *link_server_thread(void *arg)
{
	struct link *l = arg;
	atomic_store(&cut_mgr, l->mgr);
	const struct link_ops *ops = &l->mgr->ops;
	char reason[512] = "";
	int peer;

	if (server_setup(l, reason, sizeof(reason)) == 0)
		run(l, reason, sizeof(reason));
	pthread_mutex_lock(&l->mgr->lock);
	peer = l->peer_id;
	l->up = 0;
	pthread_mutex_unlock(&l->mgr->lock);
	session_close(l);
	ops->on_close(ops->ctx, l, peer, l->remote, reason);
	pthread_mutex_lock(&l->mgr->lock);
	l->done = 1;
	pthread_mutex_unlock(&l->mgr->lock);
	return NULL;
}

/* ---------------------------------------------------------------- client side */

static int client_setup(struct link *l, ssh_key key, char *reason, size_t cap)
{
	const struct link_ops *ops = &l->mgr->ops;
	long tmo = CONNECT_TIMEOUT_S;
	unsigned int port = l->port;
	bool f = false;
	int nodelay = 1;
	ssh_key srv = NULL;
	char why[256] = "";

	l->s = ssh_new();
	if (!l->s) {
		snprintf(reason, cap, "out of memory");
		return -1;
	}
	ssh_options_set(l->s, SSH_OPTIONS_HOST, l->host);
	ssh_options_set(l->s, SSH_OPTIONS_PORT, &port);
	ssh_options_set(l->s, SSH_OPTIONS_USER, "ssid");
	ssh_options_set(l->s, SSH_OPTIONS_PROCESS_CONFIG, &f);
	ssh_options_set(l->s, SSH_OPTIONS_TIMEOUT, &tmo);
	ssh_options_set(l->s, SSH_OPTIONS_NODELAY, &nodelay);
	ssh_options_set(l->s, SSH_OPTIONS_HOSTKEYS, "ssh-ed25519");
	ssh_options_set(l->s, SSH_OPTIONS_KNOWNHOSTS, "/dev/null");
	if (l->mgr->cfg.ciphers[0]) {
		ssh_options_set(l->s, SSH_OPTIONS_CIPHERS_C_S, l->mgr->cfg.ciphers);
		ssh_options_set(l->s, SSH_OPTIONS_CIPHERS_S_C, l->mgr->cfg.ciphers);
	}
	if (ssh_connect(l->s) != SSH_OK) {
		snprintf(reason, cap, "connect: %s", ssh_get_error(l->s));
		return -1;
	}
	set_sock(l, ssh_get_fd(l->s));
	if (ssh_get_server_publickey(l->s, &srv) != SSH_OK) {
		snprintf(reason, cap, "no host key from server");
		return -1;
	}
	if (ops->host_key(ops->ctx, l->name, l->remote, srv, why, sizeof(why)) < 0) {
		ssh_key_free(srv);
		snprintf(reason, cap, "refused: %s", why);
		return -1;
	}
	ssh_key_free(srv);
	if (ssh_userauth_publickey(l->s, NULL, key) != SSH_AUTH_SUCCESS) {
		snprintf(reason, cap, "%s refused our key (is it in its authorized_keys?)",
			 l->name);
		return -1;
	}
	l->ch = ssh_channel_new(l->s);
	if (!l->ch || ssh_channel_open_session(l->ch) != SSH_OK ||
	    ssh_channel_request_subsystem(l->ch, SUBSYSTEM) != SSH_OK) {
		snprintf(reason, cap, "opening the channel: %s", ssh_get_error(l->s));
		return -1;
	}
	if (make_event(l) < 0) {
		snprintf(reason, cap, "out of memory");
		return -1;
	}
	return 0;
}

/* Sleep ms, or less if the link is woken (stop). */
static void nap(struct link *l, int ms)
{
	struct pollfd p = {.fd = l->efd, .events = POLLIN};

	if (poll(&p, 1, ms) > 0)
		drain(l->efd);
}

void *link_client_thread(void *arg)
{
	struct link *l = arg;
	atomic_store(&cut_mgr, l->mgr);
	struct link_mgr *mgr = l->mgr;
	const struct link_ops *ops = &mgr->ops;
	int backoff = mgr->cfg.reconnect_min_ms;
	ssh_key key = NULL;
	char reason[512];

	while (!atomic_load(&mgr->stopping)) {
		int64_t t0 = now_ms();
		int peer;

		reason[0] = '\0';
		int64_t cut = cut_left_name(l->name);
		if (cut) { /* fault injection: the peer is cut off; dial once the cut is over */
			nap(l, (int)(cut < 1000 ? cut : 1000));
			continue;
		}
		if (!key && ssh_pki_import_privkey_file(mgr->cfg.key_path, NULL, NULL, NULL,
							&key) != SSH_OK) {
			snprintf(reason, sizeof(reason), "cannot read the node key");
			key = NULL;
		} else if (client_setup(l, key, reason, sizeof(reason)) == 0) {
			run(l, reason, sizeof(reason));
		}
		pthread_mutex_lock(&mgr->lock);
		peer = l->peer_id;
		l->up = 0;
		l->peer_id = 0;
		pthread_mutex_unlock(&mgr->lock);
		session_close(l);
		ops->on_close(ops->ctx, l, peer, l->remote, reason);
		if (atomic_load(&mgr->stopping))
			break;
		if (now_ms() - t0 > STABLE_MS)
			backoff = mgr->cfg.reconnect_min_ms;
		/* +-25% jitter so that restarted nodes do not all dial at once. */
		nap(l, backoff * 3 / 4 + rand() % (backoff / 2 + 1));
		backoff = backoff * 2 > mgr->cfg.reconnect_max_ms ? mgr->cfg.reconnect_max_ms
								  : backoff * 2;
	}
	ssh_key_free(key);
	return NULL;
}
