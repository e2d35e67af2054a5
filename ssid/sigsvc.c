/*
 * sigsvc.c - cluster-wide signals (sigsvc.h).
 *
 * The target is pinned with a pidfd before its credentials are read and checked again after,
 * so a pid reused between the check and the kill can never receive a signal meant for its
 * predecessor: the signal goes through the pidfd (pidfd_send_signal), which names one process.
 * Processes moved by the migration module (grun) are found through mig_signal(): the node
 * holding one kills it by its local pid; its home hands the signal to the migration module,
 * which sends a SIGNAL to the holder (or holds it while the process moves).
 */
#include "ssid/sigsvc.h"
#include "ssid/log.h"
#include "ssid/member.h"
#include "ssid/mig.h"
#include "ssid/ptable.h"
#include "ssid/ssierr.h"
#include "ssid/wire.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

struct sigsvc {
	struct cluster *c;
	struct pending *pend;
	int self_id;
};

int sigsvc_new(struct sigsvc **out, struct cluster *c, struct pending *pend, int self_id)
{
	struct sigsvc *sv = calloc(1, sizeof(*sv));

	*out = NULL;
	if (!sv)
		return -ENOMEM;
	sv->c = c;
	sv->pend = pend;
	sv->self_id = self_id;
	*out = sv;
	return 0;
}

void sigsvc_free(struct sigsvc *sv)
{
	free(sv);
}

/* Real, effective and saved uid of pid from procdir/pid/status. 0, -ESRCH or -EIO. */
static int read_uids(const char *procdir, pid_t pid, uid_t uids[3])
{
	char path[300], line[256];
	FILE *f;
	int r = -EIO;

	snprintf(path, sizeof(path), "%s/%d/status", procdir, (int)pid);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT || errno == ESRCH ? -ESRCH : -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long a, b, c;

		if (strncmp(line, "Uid:", 4))
			continue;
		if (sscanf(line + 4, "%lu %lu %lu", &a, &b, &c) == 3) {
			uids[0] = (uid_t)a;
			uids[1] = (uid_t)b;
			uids[2] = (uid_t)c;
			r = 0;
		}
		break;
	}
	fclose(f);
	return r;
}

/* signo to local pid with kill(2)'s rights check for uid. */
static int signal_pid(const char *procdir, pid_t pid, int signo, uid_t uid)
{
	uid_t ids[3];
	int pfd, r;

	pfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
	if (pfd < 0)
		return errno == EINVAL ? -ESRCH : -errno;
	r = read_uids(procdir, (pid_t)pid, ids);
	/* Still the same process? (the pid may have been reused while we read) */
	if (r == 0 && syscall(SYS_pidfd_send_signal, pfd, 0, NULL, 0) < 0)
		r = -ESRCH;
	if (r == 0 && uid != 0 && uid != ids[0] && uid != ids[1] && uid != ids[2])
		r = -EPERM;
	if (r == 0 && signo && syscall(SYS_pidfd_send_signal, pfd, signo, NULL, 0) < 0)
		r = -errno;
	close(pfd);
	return r;
}

int sigsvc_local(const char *procdir, int self_id, uint32_t gpid, int signo, uid_t uid)
{
	uint32_t pid = gpid & PTABLE_PID_MASK;

	if (signo < 0 || signo > SIGRTMAX)
		return -EINVAL;
	if ((int)(gpid >> PTABLE_PID_BITS) != self_id || pid == 0 || gpid > INT32_MAX)
		return -ESRCH;
	return signal_pid(procdir, (pid_t)pid, signo, uid);
}

/* A process the migration module knows: 1 if not (the caller goes on by gpid), else the
 * result (0 or negative errno). */
static int migrated(uint32_t gpid, int signo, uid_t uid)
{
	pid_t pid = 0;
	int r = mig_signal(mig_current(), gpid, signo, (uint32_t)uid, &pid);

	if (r == -ENOENT)
		return 1;
	if (r == 0)
		return signal_pid("/proc", pid, signo, uid);
	return r == 1 ? 0 : r;
}

int sigsvc_send(struct sigsvc *sv, uint32_t gpid, int signo, uid_t uid)
{
	int node = (int)(gpid >> PTABLE_PID_BITS), r;
	struct pending_req req, *rp = &req;
	struct wire_msg m;

	if (signo < 0 || signo > SIGRTMAX)
		return -EINVAL;
	r = migrated(gpid, signo, uid);
	if (r <= 0)
		return r;
	if (node == sv->self_id)
		return sigsvc_local("/proc", sv->self_id, gpid, signo, uid);
	if (node < 1 || node > PTABLE_NODE_MAX || (gpid & PTABLE_PID_MASK) == 0)
		return -ESRCH;
	memset(&req, 0, sizeof(req));
	pending_add(sv->pend, &req, node);
	wire_msg_init(&m, WIRE_SIGNAL, req.reqid);
	m.u.signal.gpid = gpid;
	m.u.signal.signo = (uint32_t)signo;
	m.u.signal.origin_uid = (uint32_t)uid;
	r = cluster_send(sv->c, node, &m);
	if (r == 0) {
		pending_wait(sv->pend, &rp, 1, cluster_mono_ms() + SIGSVC_TIMEOUT_MS);
		pending_del(sv->pend, &req);
		r = !req.done ? -ETIMEDOUT : req.err ? req.err : req.value;
	} else {
		pending_del(sv->pend, &req);
		r = r == -ENOTCONN ? -EHOSTUNREACH : r;
	}
	buf_free(&req.data);
	return r;
}

/* SIGNAL from a peer (link thread): the origin uid's rights apply. */
static int on_signal(void *ctx, int peer, const struct wire_msg *m, struct buf *reply)
{
	struct sigsvc *sv = ctx;
	const struct wire_signal *s = &m->u.signal;
	struct wire_msg out;
	int r = s->signo > (uint32_t)SIGRTMAX
			? -EINVAL
			: migrated(s->gpid, (int)s->signo, (uid_t)s->origin_uid);

	if (r > 0)
		r = sigsvc_local("/proc", sv->self_id, s->gpid, (int)s->signo,
				 (uid_t)s->origin_uid);

	if (r == 0 && s->signo)
		log_info("signal %u to gpid %u (pid %u) for uid %u of node %d", s->signo, s->gpid,
			 s->gpid & PTABLE_PID_MASK, s->origin_uid, peer);
	else if (r < 0)
		log_debug("signal %u to gpid %u for uid %u of node %d: %s", s->signo, s->gpid,
			  s->origin_uid, peer, strerror(-r));
	wire_msg_init(&out, WIRE_SIGNAL_REPLY, m->reqid);
	out.u.signal_reply.err = r;
	return wire_encode(reply, &out);
}

static int on_signal_reply(void *ctx, int peer, const struct wire_msg *m, struct buf *reply)
{
	struct sigsvc *sv = ctx;
	int32_t e = m->u.signal_reply.err;

	(void)reply;
	/* Only errno-sized codes are believed; anything else reads as a failure of the peer. */
	if (e > 0 || e < -4095)
		e = -EPROTO;
	pending_deliver(sv->pend, m->reqid, peer, NULL, 0, 1, e);
	return 0;
}

/* ERROR in answer to our SIGNAL (e.g. an older daemon): that code is the answer. */
static int on_signal_error(void *ctx, int peer, const struct wire_msg *m, struct buf *reply)
{
	struct sigsvc *sv = ctx;
	int32_t e = m->u.error.code;

	(void)reply;
	pending_deliver(sv->pend, m->reqid, peer, NULL, 0, 1, e < 0 && e >= -4095 ? e : -EPROTO);
	return 0;
}

static int ctl_signal(void *ctx, const struct ctl_caller *who, struct buf *req, struct buf *reply)
{
	struct sigsvc *sv = ctx;
	uint32_t gpid, signo;
	int r;

	(void)reply;
	if (buf_get_u32(req, &gpid) < 0 || buf_get_u32(req, &signo) < 0 || buf_avail(req))
		return -EINVAL;
	if (signo > (uint32_t)SIGRTMAX)
		return -EINVAL;
	r = sigsvc_send(sv, gpid, (int)signo, who->uid);
	if (r == 0 && signo)
		log_info("signal %u to gpid %u for uid %u (pid %d)", signo, gpid,
			 (unsigned)who->uid, (int)who->pid);
	return r;
}

int sigsvc_register(struct sigsvc *sv, struct ctl_server *s)
{
	int r = cluster_on_msg(sv->c, WIRE_SIGNAL, on_signal, sv);

	if (r == 0)
		r = cluster_on_msg(sv->c, WIRE_SIGNAL_REPLY, on_signal_reply, sv);
	if (r == 0)
		r = cluster_on_error(sv->c, WIRE_SIGNAL, on_signal_error, sv);
	if (r == 0)
		r = ctl_server_add(s, SIGSVC_CTL_TYPE, 0, ctl_signal, sv);
	return r;
}
