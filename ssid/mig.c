/*
 * mig.c - the migration module's loop (run_dir/mig.sock requests: mig_client.c), the table
 * of processes this node is home of or holds, dispatch of wire frames and SIGNAL. The stdio
 * relay between a process restored here and its deputy, and EXIT frames: mig_relay.c. The
 * protocol itself: mig_proto.c; image stream and restore worker: mig_stream.c.
 *
 * One coordinator thread owns all of that; link threads only post copies of frames. A
 * process started by grun here is a P_CHILD (its stdio are grun's own); once it has moved,
 * the home keeps a P_REMOTE record (where it runs) and the node holding it a P_RESTORED
 * entry (worker, pipes). The home is authoritative for "where" (the durable commit record).
 * SIGNAL frames belong to sigsvc, which asks mig_signal() where a moved process runs.
 */
#include "ssid/mig.h"
#include "migrate/deputy.h"
#include "ssid/balance.h"
#include "ssid/log.h"
#include "ssid/mig_home.h"
#include "ssid/mig_int.h"
#include "ssid/ssierr.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

double mig_now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

void mig_post(struct mig *m, struct mig_ev *ev)
{
	uint64_t one = 1;

	ev->next = NULL;
	pthread_mutex_lock(&m->qlock);
	if (m->qtail)
		m->qtail->next = ev;
	else
		m->qhead = ev;
	m->qtail = ev;
	pthread_mutex_unlock(&m->qlock);
	if (write(m->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("waking the migration loop: %s", strerror(errno));
}

/* ------------------------------------------------------------------ wire (link threads) */

static int on_wire(void *ctx, int peer, const struct wire_msg *w, struct buf *reply)
{
	struct mig *m = ctx;
	struct mig_ev *ev;

	(void)reply;
	if (m->stopping)
		return 0;
	if (w->type == WIRE_MIG_STREAM) {
		int e = mig_sink_write(m, &w->u.mig_stream);
		if (e < 0)
			log_debug("stream chunk %llu of migration %llx from node %d: %s",
				  (unsigned long long)w->u.mig_stream.seq,
				  (unsigned long long)w->u.mig_stream.mig_id, peer, ssierr_str(e));
		ev = calloc(1, sizeof(*ev));
		if (!ev)
			return 0;
		ev->kind = EVK_PROTO;
		ev->role = MIGPROTO_DEST;
		ev->pev = e < 0 ? MIGPROTO_EV_RESTORE_FAILED : MIGPROTO_EV_PROGRESS;
		ev->err = e;
		ev->last_ms = mig_now_ms(); /* arrival: the destination's transfer time */
		ev->bytes = w->u.mig_stream.len;
		ev->eof = w->u.mig_stream.last;
		ev->mig_id = w->u.mig_stream.mig_id;
		if (e < 0)
			snprintf(ev->reason, sizeof(ev->reason), "image stream: %s", ssierr_str(e));
		mig_post(m, ev);
		return 0;
	}
	ev = calloc(1, sizeof(*ev));
	if (!ev)
		return 0;
	ev->kind = EVK_WIRE;
	ev->peer = peer;
	ev->type = w->type;
	ev->reqid = w->reqid;
	switch (w->type) {
	case WIRE_MIG_OFFER:
		ev->offer = w->u.mig_offer;
		ev->mig_id = w->u.mig_offer.mig_id;
		ev->roles = w->u.mig_offer.roles;
		break;
	case WIRE_MIG_ACCEPT:
		ev->accept = w->u.mig_accept;
		ev->mig_id = w->u.mig_accept.mig_id;
		ev->roles = w->u.mig_accept.roles;
		break;
	case WIRE_MIG_QUERY:
		ev->mig_id = w->u.mig_query.mig_id;
		ev->roles = w->u.mig_query.roles;
		break;
	case WIRE_MIG_REFUSE:
		ev->mig_id = w->u.mig_refuse.mig_id;
		ev->roles = w->u.mig_refuse.roles;
		ev->err = w->u.mig_refuse.err;
		snprintf(ev->reason, sizeof(ev->reason), "%s",
			 w->u.mig_refuse.reason ? w->u.mig_refuse.reason : "");
		break;
	case WIRE_MIG_READY:
		ev->mig_id = w->u.mig_ready.mig_id;
		ev->pid = w->u.mig_ready.pid;
		ev->roles = w->u.mig_ready.roles;
		ev->tm = (struct mig_times){.freeze_us = w->u.mig_ready.freeze_us,
					    .transfer_us = w->u.mig_ready.transfer_us,
					    .restore_us = w->u.mig_ready.restore_us,
					    .bytes = w->u.mig_ready.bytes};
		break;
	case WIRE_MIG_COMMIT:
		ev->mig_id = w->u.mig_commit.mig_id;
		ev->roles = w->u.mig_commit.roles;
		break;
	case WIRE_MIG_ABORT:
		ev->mig_id = w->u.mig_abort.mig_id;
		ev->roles = w->u.mig_abort.roles;
		ev->err = w->u.mig_abort.err;
		snprintf(ev->reason, sizeof(ev->reason), "%s",
			 w->u.mig_abort.reason ? w->u.mig_abort.reason : "");
		break;
	case WIRE_MIG_DONE:
		ev->mig_id = w->u.mig_done.mig_id;
		ev->err = w->u.mig_done.err;
		ev->roles = w->u.mig_done.roles;
		ev->tm = (struct mig_times){.freeze_us = w->u.mig_done.freeze_us,
					    .transfer_us = w->u.mig_done.transfer_us,
					    .restore_us = w->u.mig_done.restore_us,
					    .bytes = w->u.mig_done.bytes};
		break;
	case WIRE_STDIO:
		ev->gpid = w->u.stdio.gpid;
		ev->stream = w->u.stdio.stream;
		ev->eof = w->u.stdio.eof;
		if (w->u.stdio.len) {
			ev->data = malloc(w->u.stdio.len);
			if (!ev->data) {
				free(ev);
				return 0;
			}
			memcpy(ev->data, w->u.stdio.data, w->u.stdio.len);
			ev->len = w->u.stdio.len;
		}
		ev->off = w->u.stdio.offset;
		ev->ack = w->u.stdio.ack;
		ev->epoch = w->u.stdio.epoch;
		ev->flags = w->u.stdio.flags;
		break;
	case WIRE_EXIT:
		ev->gpid = w->u.exit.gpid;
		ev->status = w->u.exit.status;
		ev->flags = w->u.exit.flags;
		break;
	default:
		free(ev);
		return 0;
	}
	mig_post(m, ev);
	return 0;
}

/* ------------------------------------------------------------------ processes */

struct proc *mig_proc(struct mig *m, uint32_t gpid)
{
	for (int i = 0; i < MIG_MAX_PROCS; i++)
		if (m->procs[i].used && m->procs[i].gpid == gpid)
			return &m->procs[i];
	return NULL;
}

struct proc *mig_proc_new(struct mig *m, uint32_t gpid)
{
	for (int i = 0; i < MIG_MAX_PROCS; i++) {
		struct proc *p = &m->procs[i];
		if (p->used)
			continue;
		memset(p, 0, sizeof(*p));
		p->used = 1;
		p->gpid = gpid;
		p->deputy = -1;
		p->st_fd = p->ctl_fd = p->in_fd = p->out_fd = p->err_fd = -1;
		buf_init(&p->st_in);
		buf_init(&p->dep_out);
		return p;
	}
	return NULL;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void mig_proc_drop(struct mig *m, struct proc *p)
{
	close_fd(&p->st_fd);
	close_fd(&p->ctl_fd);
	close_fd(&p->in_fd);
	close_fd(&p->out_fd);
	close_fd(&p->err_fd);
	buf_free(&p->st_in);
	buf_free(&p->dep_out);
	mig_relay_forget(m, p);
	if (p->wpid > 0)
		waitpid(p->wpid, NULL, WNOHANG); /* else reaped by reap_workers() */
	p->used = 0;
}

void mig_proc_detach_worker(struct proc *p)
{
	close_fd(&p->st_fd);
	close_fd(&p->ctl_fd);
	close_fd(&p->in_fd);
	close_fd(&p->out_fd);
	close_fd(&p->err_fd);
	buf_reset(&p->st_in);
	p->wpid = 0; /* reaped by reap_workers() */
	p->pid = 0;
	p->resumed = p->exited = 0;
}

static void reap_workers(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

static void proc_io(struct mig *m, struct proc *p, int which)
{
	if (which == 0) {
		uint8_t *w = buf_reserve(&p->st_in, 512);
		ssize_t r = w ? read(p->st_fd, w, 512) : -1;
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			return;
		if (r <= 0) {
			close_fd(&p->st_fd);
			if (!p->exited)
				mig_proto_worker_line(m, p, "F the restore worker died");
			if (!p->used)
				return;
		} else {
			buf_commit(&p->st_in, (size_t)r);
		}
		for (;;) {
			const char *s = (const char *)buf_rptr(&p->st_in);
			const char *nl = memchr(s, '\n', buf_avail(&p->st_in));
			char line[512];
			if (!nl)
				break;
			size_t n = (size_t)(nl - s);
			snprintf(line, sizeof(line), "%.*s", (int)(n < 511 ? n : 511), s);
			p->st_in.off += n + 1;
			mig_proto_worker_line(m, p, line);
			if (!p->used)
				return;
		}
		buf_compact(&p->st_in);
	} else if (which == 1) {
		mig_relay_fd(m, p, &p->out_fd, 1, 0);
	} else {
		mig_relay_fd(m, p, &p->err_fd, 2, 0);
	}
	if (p->used)
		mig_proc_exited(m, p);
}

/* ------------------------------------------------------------------ wire events */

static void on_wire_ev(struct mig *m, struct mig_ev *ev)
{
	struct proc *p;

	switch (ev->type) {
	case WIRE_STDIO:
		mig_relay_stdio_ev(m, ev);
		return;
	case WIRE_EXIT:
		mig_relay_exit_ev(m, ev);
		return;
	case WIRE_SIGNAL: /* posted by mig_signal(): rights checked there */
		p = mig_proc(m, ev->gpid);
		if (p && p->home == m->self)
			mig_deliver_signal(m, p, (int)ev->signo);
		return;
	case WIRE_MOVE_REQ: /* gmigrate on another node (mig_client.c) */
	case WIRE_MOVE_PROGRESS:
	case WIRE_MOVE_RESULT:
	case WIRE_ERROR:
		mig_client_wire_ev(m, ev);
		balance_wire_ev(m, m->bal, ev); /* automatic moves: history, answers */
		return;
	default:
		mig_proto_wire(m, ev);
	}
}

/* ------------------------------------------------------------------ loop */

static void drain_queue(struct mig *m)
{
	for (;;) {
		pthread_mutex_lock(&m->qlock);
		struct mig_ev *ev = m->qhead;
		if (ev) {
			m->qhead = ev->next;
			if (!m->qhead)
				m->qtail = NULL;
		}
		pthread_mutex_unlock(&m->qlock);
		if (!ev)
			return;
		if (ev->kind == EVK_WIRE)
			on_wire_ev(m, ev);
		else
			mig_proto_local(m, ev);
		free(ev->data);
		free(ev);
	}
}

/* The snapshot mig_entries() and mig_signal() read (mig_int.h). */
void mig_snapshot(struct mig *m)
{
	size_t n = 0;

	pthread_mutex_lock(&m->elock);
	for (int i = 0; i < MIG_MAX_PROCS; i++) {
		const struct proc *p = &m->procs[i];
		if (!p->used || (p->kind == P_RESTORED && !p->resumed))
			continue;
		m->ents[n++] = (struct mig_entry){.gpid = p->gpid,
						  .uid = p->uid,
						  .home = p->home,
						  .node = p->where,
						  .pid = p->where == m->self ? p->pid : 0,
						  .moving = p->mig != 0,
						  .child = p->kind == P_CHILD};
	}
	m->nents = n;
	pthread_mutex_unlock(&m->elock);
}

size_t mig_entries(struct mig *m, struct mig_entry *out, size_t cap)
{
	size_t n;

	if (!m)
		return 0;
	pthread_mutex_lock(&m->elock);
	n = m->nents < cap ? m->nents : cap;
	memcpy(out, m->ents, n * sizeof(*out));
	pthread_mutex_unlock(&m->elock);
	return n;
}

static pthread_mutex_t cur_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mig *cur_mig; /* cur_lock */

struct mig *mig_current(void)
{
	pthread_mutex_lock(&cur_lock);
	struct mig *m = cur_mig;
	pthread_mutex_unlock(&cur_lock);
	return m;
}

int mig_signal(struct mig *m, uint32_t gpid, int signo, uint32_t uid, pid_t *pid)
{
	struct mig_entry e = {0};
	int found = 0;

	*pid = 0;
	if (!m || signo < 0)
		return -ENOENT;
	pthread_mutex_lock(&m->elock);
	for (size_t i = 0; i < m->nents && !found; i++)
		if (m->ents[i].gpid == gpid) {
			e = m->ents[i];
			found = 1;
		}
	pthread_mutex_unlock(&m->elock);
	if (!found || (e.child && !e.moving))
		return -ENOENT;
	if (e.node == m->self && e.pid > 0 && (!e.moving || e.home != m->self)) {
		*pid = e.pid;
		return 0;
	}
	if (e.home != m->self)
		return -ENOENT; /* known here only as a copy leaving or arriving */
	if (uid != 0 && uid != e.uid)
		return -EPERM;
	if (signo == 0)
		return 1;
	if (signo >= 64)
		return -EINVAL; /* not carried to a moved process (held signals are a u64 mask) */
	struct mig_ev *ev = calloc(1, sizeof(*ev));
	if (!ev)
		return -ENOMEM;
	ev->kind = EVK_WIRE;
	ev->peer = m->self;
	ev->type = WIRE_SIGNAL;
	ev->gpid = gpid;
	ev->signo = (uint32_t)signo;
	ev->uid = uid;
	mig_post(m, ev);
	return 1;
}

static void *loop(void *arg)
{
	struct mig *m = arg;
	struct pollfd pf[2 + MIG_MAX_CLIENTS + 3 * MIG_MAX_PROCS];
	int who[2 + MIG_MAX_CLIENTS + 3 * MIG_MAX_PROCS];
	double t_nodes = 0;

	while (!m->stopping) {
		nfds_t n = 0;
		int tmo = 1000;

		pf[n] = (struct pollfd){.fd = m->evfd, .events = POLLIN};
		who[n++] = -1;
		pf[n] = (struct pollfd){.fd = m->lfd, .events = POLLIN};
		who[n++] = -2;
		for (int i = 0; i < MIG_MAX_CLIENTS; i++) {
			if (m->cl[i].fd < 0)
				continue;
			pf[n] = (struct pollfd){
				.fd = m->cl[i].fd,
				.events =
					(short)(POLLIN | (buf_avail(&m->cl[i].out) ? POLLOUT : 0))};
			who[n++] = i;
		}
		for (int i = 0; i < MIG_MAX_PROCS; i++) {
			struct proc *p = &m->procs[i];
			if (!p->used)
				continue;
			if (p->st_fd >= 0) {
				pf[n] = (struct pollfd){.fd = p->st_fd, .events = POLLIN};
				who[n++] = 1000 + i * 3;
			}
			if (!p->resumed || p->mig)
				continue; /* output waits for the commit */
			/* ended: the EXIT waits for its acknowledgements */
			if (p->exit_held) {
				tmo = 200;
				mig_proc_exited(m, p);
				continue;
			}
			/* a full window (output not acknowledged yet): the pipe waits */
			if (p->out_fd >= 0 && mig_relay_room(m, p, 1)) {
				pf[n] = (struct pollfd){.fd = p->out_fd, .events = POLLIN};
				who[n++] = 1000 + i * 3 + 1;
			}
			if (p->err_fd >= 0 && mig_relay_room(m, p, 2)) {
				pf[n] = (struct pollfd){.fd = p->err_fd, .events = POLLIN};
				who[n++] = 1000 + i * 3 + 2;
			}
		}
		mig_adopt_scan(m);	 /* copies held by helpers of a previous ssid (every 2 s) */
		mig_reload_tick(m);	 /* reloaded processes whose deputy never came back */
		mig_relay_turn(m, &tmo); /* stdio resent, acknowledgements sent */
		mig_proto_timers(m, &tmo);
		mig_home_tick(m->cfg, m->c); /* home views' "same" answers warm (a child) */
		if (mig_now_ms() - t_nodes >= 1000) {
			t_nodes = mig_now_ms();
			int busy = 0;
			for (int i = 0; i < MIG_MAX_PROCS && !busy; i++)
				busy = m->procs[i].used && m->procs[i].kind == P_REMOTE;
			for (int i = 0; i < MIG_MAX_MACH && !busy; i++)
				busy = m->mach[i].used;
			if (busy)
				mig_proto_nodes(m);
			mig_client_fwd_check(m); /* gmigrate's moves asked of other homes */
		}
		balance_tick(m, m->bal, &tmo); /* automatic moves, once per interval */
		if (poll(pf, n, tmo) < 0 && errno != EINTR) {
			log_err("migration loop: poll: %s", strerror(errno));
			break;
		}
		for (nfds_t i = 0; i < n; i++) {
			if (!pf[i].revents)
				continue;
			if (who[i] == -1) {
				uint64_t v;
				if (read(m->evfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
					log_debug("eventfd: %s", strerror(errno));
			} else if (who[i] == -2) {
				mig_client_accept(m);
			} else if (who[i] < MIG_MAX_CLIENTS) {
				int ci = who[i];
				if (m->cl[ci].fd >= 0 && pf[i].revents & POLLOUT)
					mig_client_flush(m, ci);
				if (m->cl[ci].fd >= 0 &&
				    pf[i].revents & (POLLIN | POLLHUP | POLLERR))
					mig_client_read(m, ci);
			} else if (who[i] >= 1000) {
				struct proc *p = &m->procs[(who[i] - 1000) / 3];
				if (p->used)
					proc_io(m, p, (who[i] - 1000) % 3);
			}
		}
		drain_queue(m);
		reap_workers();
		mig_snapshot(m);
	}
	return NULL;
}

int mig_new(struct mig **out, struct cluster *c, const struct config *cfg, char *err, size_t errlen)
{
	static const uint16_t types[] = {WIRE_MIG_OFFER,  WIRE_MIG_ACCEPT, WIRE_MIG_REFUSE,
					 WIRE_MIG_STREAM, WIRE_MIG_READY,  WIRE_MIG_COMMIT,
					 WIRE_MIG_ABORT,  WIRE_MIG_DONE,   WIRE_MIG_QUERY,
					 WIRE_STDIO,	  WIRE_EXIT};
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char dbpath[PATH_MAX + 16];
	struct mig *m;
	int r;

	*out = NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->c = c;
	m->cfg = cfg;
	m->self = cfg->id;
	m->lfd = m->evfd = -1;
	pthread_mutex_init(&m->qlock, NULL);
	pthread_mutex_init(&m->elock, NULL);
	for (int i = 0; i < MIG_MAX_CLIENTS; i++)
		m->cl[i].fd = -1;
	for (int i = 0; i < MIG_MAX_SINKS; i++)
		m->sinks[i].fd = -1;
	snprintf(dbpath, sizeof(dbpath), "%s/ssid.db", cfg->state_dir);
	r = db_open(&m->db, dbpath, err, errlen);
	if (r < 0)
		goto fail;
	mig_hold_dir(cfg->run_dir);
	r = balance_new(&m->bal, cfg, cfg->id);
	if (r < 0) {
		snprintf(err, errlen, "balancing: %s", strerror(-r));
		goto fail;
	}
	mig_reload(m); /* before any frame or deputy: a restarted home knows its processes */
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		r = cluster_on_msg(c, types[i], on_wire, m);
		if (r < 0) {
			snprintf(err, errlen, "migration: registering %s frames: %s",
				 wire_type_name(types[i]), strerror(-r));
			goto fail;
		}
	}
	for (uint16_t t = WIRE_MOVE_REQ; t <= WIRE_MOVE_RESULT && r == 0; t++)
		r = cluster_on_msg(c, t, mig_client_on_wire, m);
	if (r == 0)
		r = cluster_on_error(c, WIRE_MOVE_REQ, mig_client_on_wire, m);
	if (r < 0) {
		snprintf(err, errlen, "migration: registering MOVE_* frames: %s", strerror(-r));
		goto fail;
	}
	snprintf(m->sock_path, sizeof(m->sock_path), "%s/%s", cfg->run_dir, DEPUTY_SOCK_NAME);
	if (strlen(m->sock_path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: path too long", m->sock_path);
		r = -ENAMETOOLONG;
		goto fail;
	}
	memcpy(sa.sun_path, m->sock_path, strlen(m->sock_path) + 1); /* length checked above */
	m->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	m->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->lfd < 0 || m->evfd < 0) {
		r = -errno;
		snprintf(err, errlen, "migration socket: %s", strerror(errno));
		goto fail;
	}
	unlink(sa.sun_path);
	if (bind(m->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(m->lfd, 64) < 0 ||
	    chmod(sa.sun_path, 0666) < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", sa.sun_path, strerror(errno));
		goto fail;
	}
	if (fault_init() < 0)
		log_warn("%s: malformed, no fault armed (see migrate/fault.h)", FAULT_ENV);
	r = pthread_create(&m->th, NULL, loop, m);
	if (r) {
		snprintf(err, errlen, "migration thread: %s", strerror(r));
		r = -r;
		goto fail;
	}
	m->running = 1;
	pthread_mutex_lock(&cur_lock);
	cur_mig = m;
	pthread_mutex_unlock(&cur_lock);
	*out = m;
	return 0;
fail:
	mig_free(m);
	return r;
}

void mig_stop(struct mig *m)
{
	uint64_t one = 1;

	if (!m || !m->running)
		return;
	m->stopping = 1;
	if (write(m->evfd, &one, sizeof(one)) < 0)
		log_debug("eventfd: %s", strerror(errno));
	pthread_join(m->th, NULL);
	m->running = 0;
}

void mig_free(struct mig *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&cur_lock);
	if (cur_mig == m)
		cur_mig = NULL;
	pthread_mutex_unlock(&cur_lock);
	mig_stop(m);
	mig_sink_close_all(m); /* receivers stop within 100 ms: they use m */
	for (int i = 0; i < 300 && atomic_load(&m->rx_live) > 0; i++)
		usleep(10000);
	if (atomic_load(&m->rx_live) > 0) { /* stuck: leave m to the exiting process */
		log_warn("%d image channel receivers still running at exit",
			 atomic_load(&m->rx_live));
		return;
	}
	mig_proto_free(m);
	for (int i = 0; i < MIG_MAX_CLIENTS; i++)
		if (m->cl[i].fd >= 0) {
			close(m->cl[i].fd);
			buf_free(&m->cl[i].in);
			buf_free(&m->cl[i].out);
		}
	for (int i = 0; i < MIG_MAX_PROCS; i++)
		if (m->procs[i].used)
			mig_proc_drop(m, &m->procs[i]);
	while (m->qhead) {
		struct mig_ev *e = m->qhead;
		m->qhead = e->next;
		free(e->data);
		free(e);
	}
	if (m->lfd >= 0) {
		close(m->lfd);
		unlink(m->sock_path);
	}
	if (m->evfd >= 0)
		close(m->evfd);
	db_close(m->db);
	balance_free(m->bal);
	pthread_mutex_destroy(&m->qlock);
	pthread_mutex_destroy(&m->elock);
	free(m);
}
