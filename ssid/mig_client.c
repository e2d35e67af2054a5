/*
 * mig_client.c - run_dir/mig.sock as the migration loop sees it: accept (SO_PEERCRED),
 * framing (migrate/deputy.h), the requests of deputies (REGISTER, CHILD, SIGNAL, STDIN) and
 * of gmigrate (MIGRATE), and what goes back to a deputy (OUTPUT, WHERE, EXIT). Called only
 * by the coordinator thread (mig.c); sockets are non-blocking with an output buffer each.
 */
#include "migrate/deputy.h"
#include "ssid/log.h"
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

void mig_client_send(struct mig *m, int ci, uint16_t type, struct buf *body)
{
	if (ci < 0 || ci >= MIG_MAX_CLIENTS || m->cl[ci].fd < 0)
		return;
	body->off = 0;
	if (deputy_frame(&m->cl[ci].out, type, body) < 0)
		log_warn("client %d: reply of type %u dropped (buffer full)", ci, type);
	mig_client_flush(m, ci);
}

static void client_error(struct mig *m, int ci, int code, const char *text)
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

static int parent_of(pid_t pid)
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
		return client_error(m, ci, -EINVAL, "malformed REGISTER");
	if (pid == 0 || pid >= (1u << 22) || parent_of((pid_t)pid) != k->pid) {
		char err[128];
		snprintf(err, sizeof(err), "pid %u is not a child of the caller (pid %d)", pid,
			 k->pid);
		return client_error(m, ci, -EPERM, err);
	}
	uint32_t gpid = (uint32_t)m->self << 22 | pid;
	if (k->gpid || mig_proc(m, gpid) || !(p = mig_proc_new(m, gpid)))
		return client_error(m, ci, -EBUSY, "already registered or table full");
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
	if (p->kind == P_RESTORED && p->where == m->self) {
		if (n && p->in_fd >= 0 && write(p->in_fd, d, n) < 0)
			log_debug("gpid %u: stdin: %s", p->gpid, strerror(errno));
		if (eof)
			close_fd(&p->in_fd);
		return;
	}
	if (p->kind != P_REMOTE)
		return;
	struct wire_msg w;
	wire_msg_init(&w, WIRE_STDIO, 0);
	w.u.stdio = (struct wire_stdio){
		.gpid = p->gpid, .stream = 0, .data = n ? d : NULL, .len = n, .eof = eof};
	if (cluster_send(m->c, p->where, &w) < 0)
		log_debug("gpid %u: stdin to node %d lost", p->gpid, p->where);
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
	case DEPUTY_MIGRATE: {
		uint32_t gpid;
		uint16_t node;
		char err[512];
		if (buf_get_u32(b, &gpid) || buf_get_u16(b, &node))
			return client_error(m, ci, -EINVAL, "malformed MIGRATE");
		int e = mig_proto_request(m, ci, gpid, node, err, sizeof(err));
		if (e < 0)
			client_error(m, ci, e, err);
		return;
	}
	default:
		client_error(m, ci, -EOPNOTSUPP, "unknown request");
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
		if (k->fd >= 0)
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
