/*
 * mig_client.c - run_dir/mig.sock as the migration loop sees it: accept (SO_PEERCRED),
 * framing (migrate/deputy.h), the requests of deputies (REGISTER, CHILD, SIGNAL, STDIN) and
 * of gmigrate (MIGRATE), and what goes back to a deputy (OUTPUT, WHERE, EXIT). Called only
 * by the coordinator thread (mig.c); sockets are non-blocking with an output buffer each.
 * gmigrate anywhere: a MIGRATE for a gpid homed elsewhere goes to its home as MOVE_REQ with
 * the caller's uid (SO_PEERCRED here; the link is node-key authenticated, as for gkill);
 * the home serves it from a client slot of its own (rnode) and answers with MOVE_PROGRESS,
 * then MOVE_RESULT or ERROR, relayed here to gmigrate as PROGRESS, RESULT, ERROR.
 */
#include "migrate/deputy.h"
#include "ssid/log.h"
#include "ssid/member.h"
#include "ssid/mig_int.h"
#include "ssid/ssierr.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void mig_client_flush(struct mig *m, int ci)
{
	struct client *k = &m->cl[ci];

	while (k->fd >= 0 && buf_avail(&k->out)) {
		ssize_t w = send(k->fd, buf_rptr(&k->out), buf_avail(&k->out), MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			break; /* EAGAIN: poll for POLLOUT; other errors: the read side notices */
		k->out.off += (size_t)w;
	}
	buf_compact(&k->out);
}

static void remote_send(struct mig *m, int ci, uint16_t type, struct buf *body);

void mig_client_send(struct mig *m, int ci, uint16_t type, struct buf *body)
{
	if (ci >= 0 && ci < MIG_MAX_CLIENTS && m->cl[ci].rnode)
		return remote_send(m, ci, type, body);
	if (ci < 0 || ci >= MIG_MAX_CLIENTS || m->cl[ci].fd < 0)
		return;
	body->off = 0;
	if (deputy_frame(&m->cl[ci].out, type, body) < 0)
		log_warn("client %d: reply of type %u dropped (buffer full)", ci, type);
	mig_client_flush(m, ci);
}

/* A DEPUTY_ERROR {code, text} to client ci. */
void mig_client_error(struct mig *m, int ci, int code, const char *text)
{
	struct buf b;
	buf_init(&b);
	buf_put_i64(&b, code);
	buf_put_str(&b, text);
	mig_client_send(m, ci, DEPUTY_ERROR, &b);
	buf_free(&b);
}

void mig_deputy_where(struct mig *m, struct proc *p)
{
	struct buf b;
	buf_init(&b);
	buf_put_u16(&b, (uint16_t)p->where);
	buf_put_u8(&b, p->kind != P_CHILD);
	mig_client_send(m, p->deputy, DEPUTY_WHERE, &b);
	buf_free(&b);
}

void mig_deputy_exit(struct mig *m, struct proc *p, int status, const char *text)
{
	struct buf b;

	buf_init(&b);
	buf_put_i64(&b, status);
	buf_put_str(&b, text ? text : "");
	mig_client_send(m, p->deputy, DEPUTY_EXIT, &b);
	buf_free(&b);
	if (db_proc_del(m->db, p->gpid) < 0)
		log_debug("gpid %u: %s", p->gpid, db_errmsg(m->db));
	log_info("gpid %u ended (status %#x)%s%s", p->gpid, status, text ? ": " : "",
		 text ? text : "");
	mig_proc_drop(m, p);
}

void mig_deliver_signal(struct mig *m, struct proc *p, int signo)
{
	if (signo <= 0 || signo >= 64)
		return;
	if (p->mig) {
		p->sigq |= 1ull << signo; /* delivered where it ends up */
		return;
	}
	if (p->where == m->self) {
		if (kill(p->pid, signo) < 0)
			log_debug("gpid %u pid %d: kill %d: %s", p->gpid, p->pid, signo,
				  strerror(errno));
		return;
	}
	/* A SIGNAL frame to the node holding it: its sigsvc finds it through mig_signal() and
	 * checks the rights again (the owner's uid: the deputy's, or checked by mig_signal). The
	 * answer (request id 0) is not waited for. */
	struct wire_msg w;
	wire_msg_init(&w, WIRE_SIGNAL, 0);
	w.u.signal = (struct wire_signal){
		.gpid = p->gpid, .signo = (uint32_t)signo, .origin_uid = p->uid};
	int e = cluster_send(m->c, p->where, &w);
	if (e < 0)
		log_warn("gpid %u: signal %d to node %d: %s", p->gpid, signo, p->where,
			 ssierr_str(e));
}

/* The parent pid of pid from /proc/PID/stat, -1 if it cannot be read. */
int mig_parent_of(pid_t pid)
{
	char path[64], line[512];
	FILE *f;
	int ppid = -1;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (fgets(line, sizeof(line), f)) {
		char *e = strrchr(line, ')');
		if (e && sscanf(e + 1, " %*c %d", &ppid) != 1)
			ppid = -1;
	}
	fclose(f);
	return ppid;
}

static void on_register(struct mig *m, int ci, struct buf *b)
{
	struct client *k = &m->cl[ci];
	uint32_t pid;
	char cmd[DB_CMD_MAX] = "";
	struct proc *p;

	if (buf_get_u32(b, &pid) || buf_get_cstr(b, cmd, sizeof(cmd)))
		return mig_client_error(m, ci, -EINVAL, "malformed REGISTER");
	if (pid == 0 || pid >= (1u << 22) || mig_parent_of((pid_t)pid) != k->pid) {
		char err[128];
		snprintf(err, sizeof(err), "pid %u is not a child of the caller (pid %d)", pid,
			 k->pid);
		return mig_client_error(m, ci, -EPERM, err);
	}
	uint32_t gpid = (uint32_t)m->self << 22 | pid;
	if (k->gpid || mig_proc(m, gpid) || !(p = mig_proc_new(m, gpid)))
		return mig_client_error(m, ci, -EBUSY, "already registered or table full");
	p->uid = k->uid;
	p->home = p->where = m->self;
	p->kind = P_CHILD;
	p->pid = (pid_t)pid;
	p->deputy = ci;
	snprintf(p->comm, sizeof(p->comm), "%.*s", (int)sizeof(p->comm) - 1,
		 cmd); /* cut, like comm */
	k->gpid = gpid;
	struct db_proc r = {.gpid = gpid,
			    .home_node = m->self,
			    .node = m->self,
			    .uid = k->uid,
			    .state = DB_PROC_RUNNING,
			    .since_ms = cluster_wall_ms()};
	snprintf(r.cmd, sizeof(r.cmd), "%s", cmd);
	if (db_proc_put(m->db, &r) < 0)
		log_warn("gpid %u: storing the record: %s", gpid, db_errmsg(m->db));
	struct buf o;
	buf_init(&o);
	buf_put_u32(&o, gpid);
	mig_client_send(m, ci, DEPUTY_REGISTERED, &o);
	buf_free(&o);
	log_info("gpid %u registered: pid %d uid %u deputy pid %d: %s", gpid, pid, k->uid, k->pid,
		 cmd);
}

void mig_send_stdin(struct mig *m, struct proc *p, uint8_t eof, const uint8_t *d, size_t n)
{
	/* grun's (DEPUTY_STDIN): exactly once (mig_stdin.c) */
	if (p->home == m->self) {
		if (p->kind != P_CHILD) /* a P_CHILD reads grun's stdin itself */
			mig_stdin_put(m, p, eof, d, n);
		return;
	}
	/* a STDIO frame without offsets, from an older home: written as it comes */
	if (p->kind == P_RESTORED && p->where == m->self) {
		if (n && p->in_fd >= 0 && write(p->in_fd, d, n) < 0)
			log_debug("gpid %u: stdin: %s", p->gpid, strerror(errno));
		if (eof)
			close_fd(&p->in_fd);
	}
}

/* ------------------------------------------------------------------ gmigrate anywhere */

static uint32_t fwd_seq; /* request ids of MOVE_REQs sent from here (coordinator only) */
/* The home answers a MOVE_REQ at once (refusal, or the first progress line); silence this
 * long means it never will (it went away, or it does not know the message). */
#define MIG_FWD_ANSWER_MS 10000

/* gmigrate here for a process homed on node `home`: MOVE_REQ with the caller's uid. */
static void forward(struct mig *m, int ci, uint32_t gpid, uint16_t dst, int home)
{
	struct client *k = &m->cl[ci];
	struct wire_msg w;
	int e;

	if (k->fnode)
		return mig_client_error(m, ci, -EBUSY,
					"a move is already asked on this connection");
	fwd_seq = fwd_seq % 0x7fffffffu + 1; /* never 0: "no reply expected" */
	wire_msg_init(&w, WIRE_MOVE_REQ, fwd_seq);
	w.u.move_req = (struct wire_move_req){.gpid = gpid, .dst = dst, .origin_uid = k->uid};
	e = cluster_send(m->c, home, &w);
	if (e < 0) {
		char err[256];
		snprintf(err, sizeof(err),
			 "no process with gpid %u can be reached: node %d, its home, is %s", gpid,
			 home,
			 e == -ENOTCONN ? "not connected (down, or not in the cluster)"
					: ssierr_str(e));
		return mig_client_error(m, ci, e == -ENOTCONN ? -EHOSTUNREACH : e, err);
	}
	k->fnode = home;
	k->freq = fwd_seq;
	k->fgpid = gpid;
	k->fsince = mig_now_ms();
	k->fheard = 0;
	log_info("gpid %u: move to node %u (0: home) asked by uid %u (pid %d), forwarded to its "
		 "home, node %d",
		 gpid, dst, (unsigned)k->uid, (int)k->pid, home);
}

/* MIGRATE {gpid, node}: from gmigrate on mig.sock, or a peer's MOVE_REQ (k->rnode). */
static void on_migrate(struct mig *m, int ci, struct buf *b)
{
	uint32_t gpid;
	uint16_t node;
	char err[512];

	if (buf_get_u32(b, &gpid) || buf_get_u16(b, &node))
		return mig_client_error(m, ci, -EINVAL, "malformed MIGRATE");
	int home = (int)(gpid >> 22);
	if (home < 1 || home > MEMBER_MAX_ID) {
		snprintf(err, sizeof(err),
			 "no process with gpid %u: it names node %d, and node ids are 1..%d", gpid,
			 home, MEMBER_MAX_ID);
		return mig_client_error(m, ci, -ESRCH, err);
	}
	if (home != m->self && !m->cl[ci].rnode)
		return forward(m, ci, gpid, node, home);
	if (home == m->self && !mig_proc(m, gpid)) {
		snprintf(err, sizeof(err),
			 "no process with gpid %u was started by grun on %s (node %d, its home)",
			 gpid, m->cfg->name, m->self);
		return mig_client_error(m, ci, -ESRCH, err);
	}
	int e = mig_proto_request(m, ci, gpid, node, err, sizeof(err));
	if (e < 0)
		mig_client_error(m, ci, e, err);
}

static void remote_free(struct mig *m, int ci)
{
	for (int i = 0; i < MIG_MAX_MACH; i++)
		if (m->mach[i].used && m->mach[i].requester == ci)
			m->mach[i].requester = -1;
	memset(&m->cl[ci], 0, sizeof(m->cl[ci]));
	m->cl[ci].fd = -1;
}

/* Home: what the move code says to a remote requester goes back over the link. */
static void remote_send(struct mig *m, int ci, uint16_t type, struct buf *body)
{
	struct client *k = &m->cl[ci];
	struct deputy_result r;
	char text[WIRE_TEXT_MAX + 1] = "";
	struct wire_msg w;
	int64_t code = 0;
	int e = 0, last = 1;

	body->off = 0;
	switch (type) {
	case DEPUTY_PROGRESS:
		last = 0;
		(void)buf_get_cstr(body, text, sizeof(text));
		wire_msg_init(&w, WIRE_MOVE_PROGRESS, k->rreq);
		w.u.move_progress.step = text;
		break;
	case DEPUTY_RESULT:
		memset(&r, 0, sizeof(r));
		(void)deputy_result_get(body, &r);
		wire_msg_init(&w, WIRE_MOVE_RESULT, k->rreq);
		w.u.move_result = (struct wire_move_result){.err = (int32_t)r.err,
							    .from = r.from,
							    .to = r.to,
							    .mig_id = r.mig_id,
							    .bytes = r.bytes,
							    .freeze_ms = r.freeze_ms,
							    .transfer_ms = r.transfer_ms,
							    .restore_ms = r.restore_ms,
							    .total_ms = r.total_ms,
							    .text = r.text};
		break;
	case DEPUTY_ERROR:
		(void)buf_get_i64(body, &code);
		(void)buf_get_cstr(body, text, sizeof(text));
		wire_msg_init(&w, WIRE_ERROR, k->rreq);
		w.u.error = (struct wire_error){
			.code = (int32_t)code, .text = text, .ref_type = WIRE_MOVE_REQ};
		break;
	default:
		return; /* not a deputy: nothing else is meant for it */
	}
	e = cluster_send(m->c, k->rnode, &w);
	if (e < 0)
		log_warn("move asked by node %d (request %u): %s lost: %s", k->rnode, k->rreq,
			 wire_type_name(w.type), ssierr_str(e));
	if (last)
		remote_free(m, ci);
}

/* Copy a peer's MOVE_* frame (or ERROR for our MOVE_REQ) into an event for the loop: its
 * body in the mig.sock encoding of the matching deputy message. Link threads. */
int mig_client_on_wire(void *ctx, int peer, const struct wire_msg *w, struct buf *reply)
{
	struct mig *m = ctx;
	struct mig_ev *ev;
	struct buf b;
	int e = 0;

	(void)reply;
	if (m->stopping)
		return 0;
	buf_init(&b);
	switch (w->type) {
	case WIRE_MOVE_REQ:
		e = buf_put_u32(&b, w->u.move_req.gpid);
		if (!e)
			e = buf_put_u16(&b, w->u.move_req.dst);
		if (!e) /* an automatic move's reason (balance_wire_ev) */
			e = buf_put_str(&b, w->u.move_req.why ? w->u.move_req.why : "");
		break;
	case WIRE_MOVE_PROGRESS:
		e = buf_put_str(&b, w->u.move_progress.step ? w->u.move_progress.step : "");
		break;
	case WIRE_MOVE_RESULT: {
		const struct wire_move_result *x = &w->u.move_result;
		struct deputy_result r = {.err = x->err,
					  .from = x->from,
					  .to = x->to,
					  .mig_id = x->mig_id,
					  .bytes = x->bytes,
					  .freeze_ms = x->freeze_ms,
					  .transfer_ms = x->transfer_ms,
					  .restore_ms = x->restore_ms,
					  .total_ms = x->total_ms};
		snprintf(r.text, sizeof(r.text), "%s", x->text ? x->text : "");
		e = deputy_result_put(&b, &r);
		break;
	}
	case WIRE_ERROR:
		e = buf_put_i64(&b, w->u.error.code < 0 ? w->u.error.code : -EPROTO);
		if (!e)
			e = buf_put_str(&b, w->u.error.text ? w->u.error.text : "");
		break;
	default:
		e = -EINVAL;
	}
	ev = e ? NULL : calloc(1, sizeof(*ev));
	if (ev)
		ev->data = malloc(b.len);
	if (!ev || !ev->data) {
		log_warn("%s from node %d (request %u) dropped: %s", wire_type_name(w->type), peer,
			 w->reqid, e ? ssierr_str(e) : "out of memory");
		free(ev);
		buf_free(&b);
		return 0;
	}
	memcpy(ev->data, b.d, b.len);
	ev->len = b.len;
	buf_free(&b);
	ev->kind = EVK_WIRE;
	ev->peer = peer;
	ev->type = w->type;
	ev->reqid = w->reqid;
	if (w->type == WIRE_MOVE_REQ)
		ev->uid = w->u.move_req.origin_uid;
	mig_post(m, ev);
	return 0;
}

/* Home: a peer's MOVE_REQ, served like gmigrate's MIGRATE with the origin uid. */
static void on_move_req(struct mig *m, struct mig_ev *ev, struct buf *b)
{
	int ci = -1;

	for (int i = 0; i < MIG_MAX_CLIENTS; i++) {
		const struct client *k = &m->cl[i];
		if (k->rnode == ev->peer && k->rreq == ev->reqid)
			return; /* the same request again: it is being served */
		if (ci < 0 && k->fd < 0 && !k->rnode)
			ci = i;
	}
	if (ci < 0) {
		struct wire_msg w;
		wire_msg_init(&w, WIRE_ERROR, ev->reqid);
		w.u.error = (struct wire_error){.code = -EAGAIN,
						.text = "too many requests at the home node",
						.ref_type = WIRE_MOVE_REQ};
		(void)cluster_send(m->c, ev->peer, &w);
		return;
	}
	struct client *k = &m->cl[ci];
	memset(k, 0, sizeof(*k));
	k->fd = -1;
	k->rnode = ev->peer;
	k->rreq = ev->reqid;
	k->rsince = mig_now_ms();
	k->uid = (uid_t)ev->uid;
	log_info("move asked on node %d by uid %u (request %u)", ev->peer, ev->uid, ev->reqid);
	on_migrate(m, ci, b);
}

void mig_client_wire_ev(struct mig *m, struct mig_ev *ev)
{
	struct buf b;
	uint16_t type = ev->type == WIRE_MOVE_PROGRESS ? DEPUTY_PROGRESS
			: ev->type == WIRE_MOVE_RESULT ? DEPUTY_RESULT
						       : DEPUTY_ERROR;

	buf_view(&b, ev->data, ev->len);
	if (ev->type == WIRE_MOVE_REQ)
		return on_move_req(m, ev, &b);
	for (int i = 0; i < MIG_MAX_CLIENTS; i++) {
		struct client *k = &m->cl[i];
		if (k->fd < 0 || k->fnode != ev->peer || k->freq != ev->reqid)
			continue;
		k->fheard = 1;
		if (type != DEPUTY_PROGRESS)
			k->fnode = 0; /* answered */
		mig_client_send(m, i, type, &b);
		return;
	}
	log_debug("%s from node %d for request %u: nobody waits for it", wire_type_name(ev->type),
		  ev->peer, ev->reqid);
}

void mig_client_fwd_check(struct mig *m)
{
	struct cluster_peer peers[MEMBER_MAX_ID];
	size_t n = 0;
	int any = 0;

	for (int i = 0; i < MIG_MAX_CLIENTS; i++) {
		struct client *k = &m->cl[i];
		any |= k->fnode && k->fd >= 0;
		/* a request served here whose move never started or never reported: free it */
		if (k->rnode && mig_now_ms() - k->rsince > 60000) {
			int held = 0;
			for (int j = 0; j < MIG_MAX_MACH && !held; j++)
				held = m->mach[j].used && m->mach[j].requester == i;
			if (!held)
				remote_free(m, i);
		}
	}
	if (!any)
		return;
	n = cluster_peers(m->c, peers, sizeof(peers) / sizeof(peers[0]));
	for (int i = 0; i < MIG_MAX_CLIENTS; i++) {
		struct client *k = &m->cl[i];
		int down = 1;
		char err[256];

		if (!k->fnode || k->fd < 0)
			continue;
		for (size_t j = 0; j < n; j++)
			if (peers[j].id == k->fnode)
				down = peers[j].state == MEMBER_DOWN;
		if (!down && (k->fheard || mig_now_ms() - k->fsince < MIG_FWD_ANSWER_MS))
			continue;
		if (!k->fheard)
			snprintf(err, sizeof(err),
				 "node %d, the home of gpid %u, did not answer the request (%s)",
				 k->fnode, k->fgpid,
				 down ? "it is down, or cut off from here"
				      : "an ssid without MOVE_REQ?");
		else
			snprintf(err, sizeof(err),
				 "lost contact with node %d, the home of gpid %u, during the move: "
				 "its outcome is not known here (gps shows where it runs)",
				 k->fnode, k->fgpid);
		k->fnode = 0;
		mig_client_error(m, i, -ETIMEDOUT, err); /* gmigrate: outcome "unknown" */
	}
}

static void on_client_msg(struct mig *m, int ci, uint16_t type, struct buf *b)
{
	struct client *k = &m->cl[ci];
	struct proc *p = k->gpid ? mig_proc(m, k->gpid) : NULL;

	switch (type) {
	case DEPUTY_REGISTER:
		on_register(m, ci, b);
		return;
	case DEPUTY_CHILD: {
		int64_t st;
		if (!p || buf_get_i64(b, &st) || p->kind != P_CHILD)
			return;
		if (p->mig) { /* killed by the checkpoint: the process is on its way */
			p->src_dead = 1;
			p->status = (int)st;
			return;
		}
		mig_deputy_exit(m, p, (int)st, NULL);
		k->gpid = 0;
		return;
	}
	case DEPUTY_SIGNAL: {
		uint32_t sig;
		if (p && !buf_get_u32(b, &sig))
			mig_deliver_signal(m, p, (int)sig);
		return;
	}
	case DEPUTY_STDIN: {
		uint8_t eof;
		const uint8_t *d;
		size_t n;
		if (p && !buf_get_u8(b, &eof) && !buf_get_bytes_ref(b, &d, &n, WIRE_MAX_CHUNK))
			mig_send_stdin(m, p, eof, d, n);
		return;
	}
	case DEPUTY_MIGRATE:
		on_migrate(m, ci, b);
		return;
	case DEPUTY_REATTACH: /* after a restart of this ssid (mig_adopt.c) */
		mig_reattach(m, ci, b);
		return;
	default:
		mig_client_error(m, ci, -EOPNOTSUPP, "unknown request");
	}
}

static void client_close(struct mig *m, int ci)
{
	struct client *k = &m->cl[ci];
	struct proc *p = k->gpid ? mig_proc(m, k->gpid) : NULL;

	if (p && p->deputy == ci) {
		p->deputy = -1;
		log_info("gpid %u: its deputy went away; killing the process", p->gpid);
		mig_deliver_signal(m, p, SIGKILL);
	}
	for (int i = 0; i < MIG_MAX_MACH; i++)
		if (m->mach[i].used && m->mach[i].requester == ci)
			m->mach[i].requester = -1;
	close(k->fd);
	k->fd = -1;
	k->gpid = 0;
	buf_free(&k->in);
	buf_free(&k->out);
}

void mig_client_read(struct mig *m, int ci)
{
	struct client *k = &m->cl[ci];
	uint8_t *w = buf_reserve(&k->in, 65536);
	ssize_t r;
	struct buf body;
	uint16_t type;
	int e = 0;

	if (!w)
		return client_close(m, ci);
	do
		r = read(k->fd, w, 65536);
	while (r < 0 && errno == EINTR);
	if (r < 0 && errno == EAGAIN)
		return;
	if (r <= 0)
		return client_close(m, ci);
	buf_commit(&k->in, (size_t)r);
	while (k->fd >= 0 && (e = deputy_split(&k->in, &type, &body)) == 1)
		on_client_msg(m, ci, type, &body);
	if (k->fd >= 0 && e < 0)
		return client_close(m, ci);
	if (k->fd >= 0)
		buf_compact(&k->in);
}

void mig_client_accept(struct mig *m)
{
	struct ucred cr;
	socklen_t crlen = sizeof(cr);
	int fd = accept4(m->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) < 0) {
		close(fd);
		return;
	}
	for (int i = 0; i < MIG_MAX_CLIENTS; i++) {
		struct client *k = &m->cl[i];
		if (k->fd >= 0 || k->rnode)
			continue;
		memset(k, 0, sizeof(*k));
		k->fd = fd;
		k->uid = cr.uid;
		k->pid = cr.pid;
		buf_init(&k->in);
		buf_init(&k->out);
		buf_set_max(&k->out, 64u << 20);
		return;
	}
	log_warn("mig.sock: %d clients already; refusing pid %d", MIG_MAX_CLIENTS, cr.pid);
	close(fd);
}
