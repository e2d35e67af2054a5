/*
 * mig_stream.c - the byte-moving half of a migration: on the source, the checkpoint child and
 * the thread that streams its image (on the image channel, mig_imgch.c, or as MIG_STREAM
 * chunks; no temporary file); on the destination, the restore worker (restore with fds 0-2
 * as pipes, hold until the commit, wait, report), fed by a sink (mig_sink.c); and the
 * progress lines and the merge of the timings the destination reports (mig_proto.c).
 *
 * Threads: the stream thread only reads its ring, sends and posts events; the worker is a
 * forked process that reports on a status pipe the coordinator reads ("R pid ms pidns",
 * "F error", "X status").
 */
#include "migrate/deputy.h"
#include "migrate/dump.h"
#include "migrate/imgchan.h"
#include "migrate/restore.h"
#include "migrate/shmring.h"
#include "ssid/link.h"
#include "ssid/log.h"
#include "ssid/mig_home.h"
#include "ssid/mig_int.h"
#include "ssid/ssierr.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* ------------------------------------------------------------------ source: stream */

/* Image rings (shmring.h: checkpoint child -> stream thread, sink -> restore worker): shared
 * memory instead of pipes, so the bytes are copied once into the ring and read in place (a
 * pipe copied them in and out of kernel pages). 4 MiB: room for a 1 MiB chunk waiting for
 * its successor plus the sections being written, without waiting on each other for every
 * chunk; small enough to stay warm in the cache. */
#define MIG_RING_SZ (4u << 20)

/* What the checkpoint child reports on its result pipe. */
struct dump_result {
	int rc;
	struct dump_stats st;
	char err[512];
};

/* The checkpoint runs in a child process: the engine's checks assume the tracer is the
 * process's main thread (getpid()), which a daemon thread is not. Returns the child's pid. */
/* The child holds the process frozen (dump_begin) after the image is out and waits on its
 * control pipe (ctlfd): 'L' the last chunk is about to leave (a commit may follow), 'K' kill
 * it (committed), 'R' release it (abandoned). EOF (ssid died): release if 'L' never came;
 * after 'L' the outcome is unknown and the destination may run it, so hold it frozen (never
 * two running copies) until a restarted ssid adopts this child and passes on the home's
 * decision (mig_hold_wait, ssid/mig_adopt.c). One thread: the handle belongs to it. Exit
 * status 0 done, 1 kill/release failed, 2 result pipe failed. */
static pid_t fork_dumper(pid_t pid, struct shmring *ring, int resfd, int ctlfd)
{
	pid_t c = fork();

	if (c != 0)
		return c;
	struct dump_result r;
	struct dump_handle *h = NULL;
	/* the image ring's wake-up pipes at 1003-1004 (producer side), the pipes at 1001-1002 */
	int ringok = shmring_set_role(ring, SHMRING_PRODUCER, 1003),
	    rf = fcntl(resfd, F_DUPFD, 1005), cf = fcntl(ctlfd, F_DUPFD, 1005), last = 0, e = 0;
	char ch = 0, err[256];
	ssize_t n;
	dup2(rf, 1001);
	dup2(cf, 1002);
	close_range(3, 999, 0);
	close_range(1005, ~0u, 0);
	prctl(PR_SET_NAME, "ssid-ckpt"); /* in ps: not the daemon (pgrep -x ssid) */
	memset(&r, 0, sizeof(r));
	(void)mig_home_join(pid); /* away from home: read its paths in its own view */
	r.rc = ringok < 0 ? ringok : dump_begin_ring(pid, ring, &h, &r.st, r.err, sizeof(r.err));
	if (ringok < 0)
		snprintf(r.err, sizeof(r.err), "image ring: %s", strerror(-ringok));
	shmring_close(ring, r.rc < 0 ? r.rc : 0); /* the end of the image */
	shmring_free(ring);
	if (write(1001, &r, sizeof(r)) != (ssize_t)sizeof(r)) {
		if (h)
			dump_release(h, err, sizeof(err));
		_exit(2);
	}
	if (r.rc < 0)
		_exit(0);
	for (;;) {
		n = read(1002, &ch, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 1 && ch == 'L') {
			last = 1;
			continue;
		}
		break;
	}
	if (n != 1 && last) { /* ssid died after the last chunk left: held for adoption */
		ch = mig_hold_wait(MIGPROTO_SOURCE, pid, -1, 1002);
		n = ch ? 1 : 0;
	}
	if (n == 1 && ch == 'K')
		e = dump_kill(h, err, sizeof(err));
	else if ((n == 1 && ch == 'R') || !last)
		e = dump_release(h, err, sizeof(err));
	else
		for (;;) /* the move was never noted (cannot happen): hold it frozen */
			pause();
	_exit(e < 0 ? 1 : 0);
}

/* Tell the checkpoint child the outcome ('K' kill, 'R' release) and wait for it: on return
 * the process is dead or runs again. */
void mig_dump_ctl(struct mach *k, char c)
{
	int st = 0;
	if (k->dctl < 0)
		return;
	if (write(k->dctl, &c, 1) != 1)
		log_warn("migration %llx: checkpoint child: %s", (unsigned long long)k->p.mig_id,
			 strerror(errno));
	if (k->dpid < 0) { /* adopted (mig_adopt.c), not our child: its socket closes when done */
		struct pollfd pf = {.fd = k->dctl, .events = POLLIN};
		char b;
		while (poll(&pf, 1, 10000) > 0 && read(k->dctl, &b, 1) > 0)
			;
	}
	close(k->dctl);
	k->dctl = -1;
	while (k->dpid > 0 && waitpid(k->dpid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
		log_warn("migration %llx: pid %u could not be %s", (unsigned long long)k->p.mig_id,
			 k->pid, c == 'K' ? "killed" : "released");
	k->dpid = 0;
}

struct streamer {
	struct mig *m;
	struct mach *k;
	uint64_t id;
	pid_t pid;
	int dst;
	int home;
	uint32_t gpid;
	int outfd[2]; /* copies of a restored process's stdout/stderr pipes, -1 if none */
	/* the image channel (mig_imgch.c): the destination's port (0: none), its key; the
	 * connection (-1: stream over the SSH link) and its sealer */
	uint16_t img_port;
	struct imgseal_key img_key;
	int img_fd;
	struct imgseal *seal;
	char detail[300]; /* why the last chunk could not go, if more than an error code */
};

/* The checkpoint froze the process: send what it wrote before the freeze to the home,
 * ahead of the last chunk (so it arrives before the destination's first output). The
 * coordinator does not read these pipes while the process is migrating. A home elsewhere
 * must have acknowledged all of it before the last chunk goes (mig_relay_handover): the
 * next holder's output then follows it, none lost or repeated; if it cannot within the
 * stream time-out the move fails and the process stays here. 0 or a negative errno. */
static int drain_output(struct streamer *s, char *why, size_t whylen)
{
	uint8_t d[65536];

	if (s->home != s->m->self)
		return mig_relay_handover(s->m, s->gpid, s->home, s->outfd, &s->k->cancel,
					  (int)s->k->p.conf.stream_idle_ms, why, whylen);
	for (int i = 0; i < 2; i++) {
		if (s->outfd[i] < 0)
			continue;
		for (;;) {
			ssize_t r = read(s->outfd[i], d, sizeof(d));
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			if (s->home == s->m->self) { /* leaving home: straight to the deputy */
				struct mig_ev *ev = calloc(1, sizeof(*ev));
				if (!ev || !(ev->data = malloc((size_t)r))) {
					free(ev);
					continue;
				}
				ev->kind = EVK_WIRE;
				ev->type = WIRE_STDIO;
				ev->peer = s->home;
				ev->gpid = s->gpid;
				ev->stream = (uint8_t)(i + 1);
				memcpy(ev->data, d, (size_t)r);
				ev->len = (size_t)r;
				mig_post(s->m, ev);
			}
		}
	}
	return 0;
}

/* Open the image channel to the destination if it announced one; else, or if that fails
 * (logged), the chunks go over the SSH link. Before the freeze: a slow connect costs no
 * frozen time. */
static void open_channel(struct streamer *s)
{
	char why[400];

	s->img_fd = -1;
	if (!s->img_port)
		return;
	int fd = mig_imgtx_connect(s->m, s->id, s->dst, s->img_port, why, sizeof(why));
	if (fd >= 0 && imgseal_new(&s->seal, &s->img_key, s->id, 1) < 0) {
		snprintf(why, sizeof(why), "no memory for the cipher");
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		log_warn("migration %llx: image channel to node %d: %s; the image goes over the "
			 "SSH link",
			 (unsigned long long)s->id, s->dst, why);
		return;
	}
	s->img_fd = fd;
}

static int send_chunk(struct streamer *s, uint64_t seq, uint64_t off, const uint8_t *d, size_t n,
		      int last)
{
	struct wire_msg w;

	if (s->img_fd >= 0) {
		/* a test's cut of the SSH link (migrate/fault.h) stops this connection too */
		if (link_fault_is_cut(s->dst)) {
			snprintf(s->detail, sizeof(s->detail), "link to node %d cut", s->dst);
			return -ENOTCONN;
		}
		/* sealed in place: the ring's bytes are ours until consumed, never read again */
		return imgchan_send(s->img_fd, s->seal, (uint8_t *)d, (uint32_t)n,
				    last ? IMGSEAL_F_LAST : 0, (int)s->k->p.conf.stream_idle_ms,
				    &s->k->cancel, s->detail, sizeof(s->detail));
	}
	wire_msg_init(&w, WIRE_MIG_STREAM, 0);
	w.u.mig_stream = (struct wire_mig_stream){.mig_id = s->id,
						  .seq = seq,
						  .offset = off,
						  .data = d,
						  .len = n,
						  .last = (uint8_t)last};
	/* The link's send queue is bounded (SSI_E_TOOBIG when full): that is the flow control.
	 * Wait for it to drain, up to the stream idle time-out. */
	double t0 = mig_now_ms();
	int e;
	while ((e = cluster_send(s->m->c, s->dst, &w)) == SSI_E_TOOBIG && !s->k->cancel &&
	       mig_now_ms() - t0 < s->k->p.conf.stream_idle_ms)
		usleep(2000);
	return e;
}

static void *stream_thread(void *a)
{
	struct streamer *s = a;
	struct mach *k = s->k;
	struct dump_result d = {.rc = -EIO};
	struct shmring *ring = NULL;
	const uint8_t *prev = NULL;
	size_t nprev = 0;
	uint64_t seq = 0, off = 0;
	int e = 0, have_prev = 0, got = 0;
	double t_first = 0, t_last = 0;
	int res[2] = {-1, -1}, ctl[2] = {-1, -1};
	pid_t dpid;
	char why[600] = "";

	if (shmring_create(MIG_RING_SZ, &ring) < 0 || pipe2(res, O_CLOEXEC) < 0 ||
	    pipe2(ctl, O_CLOEXEC) < 0) {
		mig_post_proto(s->m, s->id, MIGPROTO_SOURCE, MIGPROTO_EV_FREEZE_FAILED, -ENOMEM,
			       "no memory or pipe for the image stream");
		goto out;
	}
	open_channel(s);
	dpid = fork_dumper(s->pid, ring, res[1], ctl[0]);
	e = dpid < 0 ? -errno : 0;
	(void)shmring_set_role(ring, SHMRING_CONSUMER, -1); /* the child's death is seen */
	close(res[1]);
	close(ctl[0]);
	if (dpid < 0) {
		close(res[0]);
		close(ctl[1]);
		mig_post_proto(s->m, s->id, MIGPROTO_SOURCE, MIGPROTO_EV_FREEZE_FAILED, e,
			       "cannot start the checkpoint process");
		goto out;
	}
	/* Chunks are encoded straight from the ring into the link's queue. A full chunk leaves
	 * only once more bytes are known to follow, so the one still in the ring at the end is
	 * the last (sent with last = 1 after the checkpoint's result). */
	for (;;) {
		size_t n;
		int w = shmring_wait_data(ring, got ? WIRE_MAX_CHUNK + 1 : 1, 100);
		if (w == -ETIMEDOUT && !k->cancel)
			continue;
		prev = shmring_rptr(ring, &n);
		if (!got && n > 0) {
			got = 1;
			t_first = mig_now_ms();
			mig_post_proto(s->m, s->id, MIGPROTO_SOURCE, MIGPROTO_EV_FROZEN, 0, NULL);
			/* a fault here holds the stream: frozen, nothing sent yet */
			if (mig_fault_peer("mig.after_freeze", "src", s->dst) != FAULT_NONE)
				k->cancel = 1; /* fail/stall: the move gives up */
		}
		if (k->cancel) {
			snprintf(why, sizeof(why), "stream cancelled");
			e = -ECANCELED;
			break;
		}
		if (n <= WIRE_MAX_CHUNK) {
			if (shmring_state(ring) == 0)
				continue;
			/* closed: count again, the end may have come after n was read */
			prev = shmring_rptr(ring, &n);
			if (n > WIRE_MAX_CHUNK)
				continue;
			nprev = n; /* the end: what is left is the last chunk */
			have_prev = n > 0;
			break;
		}
		e = send_chunk(s, seq, off, prev, WIRE_MAX_CHUNK, 0);
		if (e < 0) {
			snprintf(why, sizeof(why), "sending chunk %llu to node %d: %s",
				 (unsigned long long)seq, s->dst,
				 s->detail[0] ? s->detail : ssierr_str(e));
			break;
		}
		shmring_consume(ring, WIRE_MAX_CHUNK);
		seq++;
		off += WIRE_MAX_CHUNK;
		mig_post_proto(s->m, s->id, MIGPROTO_SOURCE, MIGPROTO_EV_PROGRESS, 0, NULL);
		enum fault_action f = mig_fault_peer("mig.mid_stream", "src", s->dst);
		while (f == FAULT_STALL && !k->cancel)
			usleep(10000);
		if (f != FAULT_NONE) {
			e = -EIO;
			snprintf(why, sizeof(why), "fault injected at mig.mid_stream");
			break;
		}
	}
	if (e < 0) /* a dump still writing fails with EPIPE and leaves the process running */
		shmring_abort(ring);
	{
		ssize_t r;
		do
			r = read(res[0], &d, sizeof(d));
		while (r < 0 && errno == EINTR);
		if (r != (ssize_t)sizeof(d)) {
			d.rc = -EIO;
			snprintf(d.err, sizeof(d.err), "the checkpoint process died");
		}
		close(res[0]);
	}
	if (!e && d.rc < 0) {
		e = d.rc;
		snprintf(why, sizeof(why), "checkpoint of pid %d: %s", s->pid, d.err);
	}
	if (!e)
		e = drain_output(s, why, sizeof(why));
	if (!e && have_prev) {
		enum fault_action f = mig_fault_peer("mig.after_stream", "src", s->dst);
		while (f == FAULT_STALL && !s->k->cancel)
			usleep(10000);
		if (f != FAULT_NONE) {
			e = -EIO;
			snprintf(why, sizeof(why), "fault injected at mig.after_stream");
		}
	}
	if (!e && have_prev) {
		if (write(ctl[1], "L", 1) != 1) /* from here on a commit may follow */
			e = -errno;
		else
			e = send_chunk(s, seq, off, prev, nprev, 1);
		if (e < 0)
			snprintf(why, sizeof(why), "sending the last chunk to node %d: %s", s->dst,
				 s->detail[0] ? s->detail : ssierr_str(e));
		off += nprev;
	}
	for (size_t l = strlen(why); l && why[l - 1] == '\n'; l--)
		why[l - 1] = '\0';
	t_last = mig_now_ms();
	struct mig_ev *ev = calloc(1, sizeof(*ev));
	if (ev) {
		ev->kind = EVK_PROTO;
		ev->mig_id = s->id;
		ev->role = MIGPROTO_SOURCE;
		ev->pev = !e	? MIGPROTO_EV_STREAM_DONE
			  : got ? MIGPROTO_EV_STREAM_FAILED
				: MIGPROTO_EV_FREEZE_FAILED;
		ev->err = e;
		snprintf(ev->reason, sizeof(ev->reason), "%s", why);
		ev->dst = d.st;
		ev->first_ms = t_first;
		ev->last_ms = t_last;
		ev->bytes = off;
		ev->dctl = -1;
		if (!e && d.rc == 0) { /* frozen: the coordinator says kill or release */
			ev->dctl = ctl[1];
			ev->dpid = dpid;
			ctl[1] = -1;
		}
	}
	if (ctl[1] >= 0) { /* failed (or no memory for the event): let it go on */
		if (d.rc == 0 && write(ctl[1], "R", 1) != 1)
			log_warn("migration %llx: releasing pid %d: %s", (unsigned long long)s->id,
				 s->pid, strerror(errno));
		close(ctl[1]);
		waitpid(dpid, NULL, 0); /* or reaped already by the loop */
	}
	if (ev)
		mig_post(s->m, ev);
out:
	shmring_free(ring); /* after the last chunk: it was sent from the ring */
	if (s->img_fd >= 0)
		close(s->img_fd);
	imgseal_free(s->seal);
	for (int i = 0; i < 2; i++)
		if (s->outfd[i] >= 0)
			close(s->outfd[i]);
	free(s);
	return NULL;
}

void mig_stream_start(struct mig *m, struct mach *k)
{
	struct streamer *s = calloc(1, sizeof(*s));
	int e;

	if (!s) {
		mig_post_proto(m, k->p.mig_id, MIGPROTO_SOURCE, MIGPROTO_EV_FREEZE_FAILED, -ENOMEM,
			       "out of memory");
		return;
	}
	*s = (struct streamer){.m = m,
			       .k = k,
			       .id = k->p.mig_id,
			       .pid = (pid_t)k->pid,
			       .dst = k->p.dst,
			       .home = k->p.home,
			       .gpid = k->p.gpid,
			       .outfd = {-1, -1},
			       .img_port = k->p.dst != m->self ? k->img_port : 0,
			       .img_key = k->img_key,
			       .img_fd = -1};
	struct proc *p = mig_proc(m, k->p.gpid);
	if (p && p->kind == P_RESTORED && p->resumed) {
		s->outfd[0] = p->out_fd >= 0 ? fcntl(p->out_fd, F_DUPFD_CLOEXEC, 3) : -1;
		s->outfd[1] = p->err_fd >= 0 ? fcntl(p->err_fd, F_DUPFD_CLOEXEC, 3) : -1;
	}
	e = pthread_create(&k->th, NULL, stream_thread, s);
	if (e) {
		free(s);
		mig_post_proto(m, k->p.mig_id, MIGPROTO_SOURCE, MIGPROTO_EV_FREEZE_FAILED, -e,
			       "cannot start the stream thread");
		return;
	}
	k->th_started = 1;
}

/* ------------------------------------------------------------------ destination: worker */

/* img: the image file, or -1 and ring (the sinks feed it). */
__attribute__((noreturn)) static void worker_main(int img, struct shmring *ring, int stw, int ctl,
						  const struct mig_home *hm)
{
	char err[1024];
	struct restore_stats rs;
	struct restore_handle *h = NULL;
	sigset_t none;
	pid_t pid;
	int st, fd;
	char c = 0;

	prctl(PR_SET_NAME, "ssid-restore"); /* in ps: not the daemon (pgrep -x ssid) */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_IGN); /* ssid died: EPIPE, then held for adoption (mig_adopt.c);
				   * the process gets every disposition from its image */
	if (mig_home_enter(hm, err, sizeof(err)) < 0) { /* away: files through home's view */
		dprintf(stw, "F home namespace: %s\n", err);
		_exit(1);
	}
	if ((ring ? restore_stopped_ring(ring, &h, &pid, &rs, err, sizeof(err))
		  : restore_stopped(img, &h, &pid, &rs, err, sizeof(err))) < 0) {
		for (char *q = err; *q; q++)
			if (*q == '\n')
				*q = ' ';
		dprintf(stw, "F %s\n", err);
		_exit(1);
	}
	pid_t waitfor = pid; /* our child: the process, or the init of its new PID namespace */
	if (rs.new_pidns) {  /* the process itself is that init's only child */
		char path[96];
		FILE *f;
		int child = 0;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", pid, pid);
		f = fopen(path, "re");
		if (f && fscanf(f, "%d", &child) == 1 && child > 0)
			pid = child;
		if (f)
			fclose(f);
	}
	/* it stays stopped before its first instruction until the commit */
	dprintf(stw, "R %d %.0f %d\n", pid, rs.total_ms, rs.new_pidns);
	if (ring)
		shmring_free(ring);
	else
		close(img);
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	while (read(ctl, &c, 1) < 0 && errno == EINTR)
		;
	if (c == 0) /* EOF: ssid died; held until a restarted one adopts us (mig_adopt.c) */
		c = mig_hold_wait(MIGPROTO_DEST, pid, stw, ctl);
	if (c != 'C') { /* 'K' or EOF: the move was abandoned, it never runs */
		restore_discard(h, err, sizeof(err));
		_exit(0);
	}
	if (restore_resume(h, err, sizeof(err)) < 0) { /* killed by the engine */
		for (char *q = err; *q; q++)
			if (*q == '\n')
				*q = ' ';
		dprintf(stw, "F resume: %s\n", err);
	}
	st = mig_hold_run(waitfor, pid, stw, ctl); /* outlives ssid: mig_adopt.c */
	dprintf(stw, "X %d\n", st);
	_exit(0);
}

/* Fork the restore worker for p: fds 0-2 pipes, image from a ring fed by the sinks (or from
 * image_fd). */
int mig_worker_spawn(struct mig *m, struct proc *p, uint64_t id, int image_fd)
{
	int in[2], out[2], er[2], st[2], ctl[2];
	struct shmring *ring = NULL;
	pid_t w;

	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(er, O_CLOEXEC) ||
	    pipe2(st, O_CLOEXEC) || pipe2(ctl, O_CLOEXEC))
		return -errno; /* leaks a few fds on this rare path */
	if (image_fd < 0) {
		int e = shmring_create(MIG_RING_SZ, &ring);
		if (e < 0)
			return e;
	}
	struct mig_home hm;
	mig_home_prepare(&hm, m->cfg, m->c, p->home);
	w = fork();
	if (w < 0) {
		shmring_free(ring);
		return -errno;
	}
	if (w == 0) { /* image file at 1000 or ring pipes at 1003-1004, the pipes at 1001-1002 */
		int r = ring ? shmring_set_role(ring, SHMRING_CONSUMER, 1003) : 0,
		    a = image_fd >= 0 ? fcntl(image_fd, F_DUPFD, 1005) : -1,
		    b = fcntl(st[1], F_DUPFD, 1005), c = fcntl(ctl[0], F_DUPFD, 1005);
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(er[1], 2);
		if (a >= 0)
			dup2(a, 1000);
		dup2(b, 1001);
		dup2(c, 1002);
		close_range(3, 999, 0);
		close_range(ring ? 1005 : 1003, ~0u, 0);
		if (r < 0) {
			dprintf(1001, "F image ring: %s\n", strerror(-r));
			_exit(1);
		}
		worker_main(ring ? -1 : 1000, ring, 1001, 1002, &hm);
	}
	close(in[0]);
	close(out[1]);
	close(er[1]);
	close(st[1]);
	close(ctl[0]);
	p->wpid = w;
	p->in_fd = in[1];
	p->out_fd = out[0];
	p->err_fd = er[0];
	p->st_fd = st[0];
	p->ctl_fd = ctl[1];
	fcntl(p->in_fd, F_SETFL, O_NONBLOCK);
	fcntl(p->out_fd, F_SETFL, O_NONBLOCK);
	fcntl(p->err_fd, F_SETFL, O_NONBLOCK);
	fcntl(p->st_fd, F_SETFL, O_NONBLOCK);
	if (image_fd >= 0)
		return 0; /* the worker has its own copy of image_fd */
	(void)shmring_set_role(ring, SHMRING_PRODUCER, -1); /* the worker's death is seen */
	return mig_sink_open(m, id, ring);
}

/* ------------------------------------------------------------------ statistics */

/* A progress line for the gmigrate that asked (it shows it on a terminal). */
void mig_progress(struct mig *m, const struct mach *h, const char *fmt, ...)
{
	char t[256];
	va_list ap;
	struct buf b;

	if (h->requester < 0)
		return;
	va_start(ap, fmt);
	vsnprintf(t, sizeof(t), fmt, ap);
	va_end(ap);
	buf_init(&b);
	buf_put_str(&b, t);
	mig_client_send(m, h->requester, DEPUTY_PROGRESS, &b);
	buf_free(&b);
}

void mig_merge_stats(struct mig *m, struct mach *h, int64_t fr, int64_t tr, int64_t rs,
		     uint64_t bytes)
{
	if (fr >= 0)
		h->freeze_ms = fr;
	if (tr >= 0)
		h->transfer_ms = tr;
	if (rs >= 0)
		h->restore_ms = rs;
	if (bytes)
		h->bytes = bytes;
	if (bytes && tr >= 0)
		mig_progress(m, h, "image sent to node %d: %.1f MiB in %lld ms (%.0f MiB/s)",
			     h->p.dst, (double)bytes / 1048576.0, (long long)tr,
			     tr > 0 ? (double)bytes / 1048576.0 / ((double)tr / 1000.0) : 0.0);
	if (rs >= 0)
		mig_progress(m, h, "restored on node %d in %lld ms", h->p.dst, (long long)rs);
}
