/*
 * mig_stream.c - the byte-moving half of a migration: on the source, the checkpoint child and
 * the thread that streams its image as MIG_STREAM chunks (no temporary file); on the
 * destination, the sinks that feed arriving chunks into a restore worker's pipe and the
 * worker itself (restore with fds 0-2 as pipes, hold until the commit, wait, report); and
 * the progress lines and the merge of the timings the destination reports (mig_proto.c).
 *
 * Threads: the stream thread only reads its pipe, sends frames and posts events; the sinks
 * are written by link threads under m->qlock; the worker is a forked process that reports
 * on a status pipe the coordinator reads ("R pid ms pidns", "F error", "X status").
 */
#include "migrate/deputy.h"
#include "migrate/dump.h"
#include "migrate/restore.h"
#include "ssid/log.h"
#include "ssid/mig_home.h"
#include "ssid/mig_int.h"
#include "ssid/ssierr.h"

#include <errno.h>
#include <fcntl.h>
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

/* Image pipes: MIG_PIPE_SZ (beyond pipe-max-size needs CAP_SYS_RESOURCE, which the daemon
 * has as root), else as large as allowed. A large pipe lets the engine, the stream and the
 * link thread run without waiting on each other for every chunk. */
static void set_pipe_size(int fd)
{
	if (fcntl(fd, F_SETPIPE_SZ, MIG_PIPE_SZ) < 0)
		(void)fcntl(fd, F_SETPIPE_SZ, 1 << 20);
}

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
 * two running copies; an operator kills or lets go of this child). One thread: the handle
 * belongs to it. Exit status 0 done, 1 kill/release failed, 2 result pipe failed. */
static pid_t fork_dumper(pid_t pid, int wfd, int resfd, int ctlfd)
{
	pid_t c = fork();

	if (c != 0)
		return c;
	struct dump_result r;
	struct dump_handle *h = NULL;
	int w = fcntl(wfd, F_DUPFD, 1000), rf = fcntl(resfd, F_DUPFD, 1000),
	    cf = fcntl(ctlfd, F_DUPFD, 1000), last = 0, e = 0;
	char ch = 0, err[256];
	ssize_t n;
	dup2(w, 1000);
	dup2(rf, 1001);
	dup2(cf, 1002);
	close_range(3, 999, 0);
	close_range(1003, ~0u, 0);
	prctl(PR_SET_NAME, "ssid-ckpt"); /* in ps: not the daemon (pgrep -x ssid) */
	memset(&r, 0, sizeof(r));
	(void)mig_home_join(pid); /* away from home: read its paths in its own view */
	r.rc = dump_begin(pid, 1000, &h, &r.st, r.err, sizeof(r.err));
	close(1000); /* EOF ends the image */
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
	if (n == 1 && ch == 'K')
		e = dump_kill(h, err, sizeof(err));
	else if ((n == 1 && ch == 'R') || !last)
		e = dump_release(h, err, sizeof(err));
	else
		for (;;) /* ssid died after the last chunk left: hold it frozen */
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
};

/* The checkpoint froze the process: send what it wrote before the freeze to the home,
 * ahead of the last chunk (so it arrives before the destination's first output). The
 * coordinator does not read these pipes while the process is migrating. */
static void drain_output(struct streamer *s)
{
	uint8_t d[65536];

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
				continue;
			}
			struct wire_msg w;
			wire_msg_init(&w, WIRE_STDIO, 0);
			w.u.stdio = (struct wire_stdio){.gpid = s->gpid,
							.stream = (uint8_t)(i + 1),
							.data = d,
							.len = (size_t)r};
			if (cluster_send(s->m->c, s->home, &w) < 0)
				log_warn("gpid %u: output to node %d lost", s->gpid, s->home);
		}
	}
}

static int send_chunk(struct streamer *s, uint64_t seq, uint64_t off, const uint8_t *d, size_t n,
		      int last)
{
	struct wire_msg w;
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
	uint8_t *cur = malloc(WIRE_MAX_CHUNK), *prev = malloc(WIRE_MAX_CHUNK), *t;
	size_t ncur = 0, nprev = 0;
	uint64_t seq = 0, off = 0;
	int p[2], e = 0, have_prev = 0, eof = 0, got = 0;
	double t_first = 0, t_last = 0;
	int res[2] = {-1, -1}, ctl[2] = {-1, -1};
	pid_t dpid;
	char why[600] = "";

	if (!cur || !prev || pipe2(p, O_CLOEXEC) < 0 || pipe2(res, O_CLOEXEC) < 0 ||
	    pipe2(ctl, O_CLOEXEC) < 0) {
		mig_post_proto(s->m, s->id, MIGPROTO_SOURCE, MIGPROTO_EV_FREEZE_FAILED, -ENOMEM,
			       "no memory or pipe for the image stream");
		goto out;
	}
	set_pipe_size(p[0]);
	dpid = fork_dumper(s->pid, p[1], res[1], ctl[0]);
	close(p[1]);
	close(res[1]);
	close(ctl[0]);
	if (dpid < 0) {
		e = -errno;
		close(p[0]);
		close(res[0]);
		close(ctl[1]);
		mig_post_proto(s->m, s->id, MIGPROTO_SOURCE, MIGPROTO_EV_FREEZE_FAILED, e,
			       "cannot start the checkpoint process");
		goto out;
	}
	while (!eof) {
		ncur = 0;
		while (ncur < WIRE_MAX_CHUNK) {
			ssize_t r = read(p[0], cur + ncur, WIRE_MAX_CHUNK - ncur);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				eof = 1;
				break;
			}
			if (!got) {
				got = 1;
				t_first = mig_now_ms();
				mig_post_proto(s->m, s->id, MIGPROTO_SOURCE, MIGPROTO_EV_FROZEN, 0,
					       NULL);
				/* a fault here holds the stream: frozen, nothing sent yet */
				if (mig_fault_peer("mig.after_freeze", "src", s->dst) != FAULT_NONE)
					k->cancel = 1; /* fail/stall: the move gives up */
			}
			ncur += (size_t)r;
		}
		if (k->cancel) {
			snprintf(why, sizeof(why), "stream cancelled");
			e = -ECANCELED;
			break;
		}
		if (have_prev) {
			e = send_chunk(s, seq, off, prev, nprev, 0);
			if (e < 0) {
				snprintf(why, sizeof(why), "sending chunk %llu to node %d: %s",
					 (unsigned long long)seq, s->dst, ssierr_str(e));
				break;
			}
			seq++;
			off += nprev;
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
		t = prev;
		prev = cur;
		cur = t;
		nprev = ncur;
		have_prev = ncur > 0;
	}
	close(p[0]); /* a dump still writing fails with EPIPE and leaves the process running */
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
		drain_output(s);
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
				 ssierr_str(e));
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
	free(cur);
	free(prev);
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
			       .outfd = {-1, -1}};
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

/* The sink writer: one detached thread per sink writes the queued chunks into the restore
 * worker's image pipe, so that the link thread that received them never blocks on a full
 * pipe: the restore may first need answers that arrive on that very link (/gfs lookups of
 * mapped files and cwd, pages of home files), and a link thread waiting for the restore
 * would never read them (a deadlock until the link's silence time-out). So the link thread
 * never waits here; the queue holds what the restore has not taken yet — normally little,
 * as restoring is faster than the link, more while the restore waits on /gfs. Past
 * SINK_HARD_CAP queued bytes the move fails (the source keeps the process) rather than the
 * daemon growing without bound. Flow control in the protocol (credits from the destination)
 * would bound it without failing; not written. */
#define SINK_HARD_CAP (1024ull << 20)

struct sink_chunk {
	struct sink_chunk *next;
	size_t len;
	uint8_t data[];
};

struct sink_writer {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct sink_chunk *h, *t; /* mu */
	size_t bytes;		  /* mu: queued */
	int closing;		  /* mu: no more chunks; close the pipe once written */
	int dead;		  /* mu: the pipe failed (restore gone): drop everything */
	int refs;		  /* mu: the sink slot, the thread, link threads inside write */
	int fd;
};

static void sw_unref(struct sink_writer *w)
{
	pthread_mutex_lock(&w->mu);
	int last = --w->refs == 0;
	pthread_mutex_unlock(&w->mu);
	if (!last)
		return;
	while (w->h) {
		struct sink_chunk *c = w->h;
		w->h = c->next;
		free(c);
	}
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

static void *sink_thread(void *a)
{
	struct sink_writer *w = a;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->h && !w->closing && !w->dead)
			pthread_cond_wait(&w->cv, &w->mu);
		if (!w->h || w->dead)
			break;
		struct sink_chunk *c = w->h;
		w->h = c->next;
		if (!w->h)
			w->t = NULL;
		pthread_mutex_unlock(&w->mu);
		int bad = 0;
		for (size_t done = 0; done < c->len && !bad;) {
			ssize_t r = write(w->fd, c->data + done, c->len - done);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				bad = 1;
			else
				done += (size_t)r;
		}
		pthread_mutex_lock(&w->mu);
		w->bytes -= c->len;
		w->dead |= bad;
		free(c);
		pthread_cond_broadcast(&w->cv);
	}
	w->dead = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	close(w->fd); /* EOF (or a short image) for the restore */
	sw_unref(w);
	return NULL;
}

/* Start the writer for fd (it takes fd). NULL if no memory or thread. */
static struct sink_writer *sw_start(int fd)
{
	struct sink_writer *w = calloc(1, sizeof(*w));
	pthread_attr_t at;
	pthread_t th;

	if (!w)
		return NULL;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->fd = fd;
	w->refs = 2;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	int e = pthread_create(&th, &at, sink_thread, w);
	pthread_attr_destroy(&at);
	if (e) {
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		free(w);
		return NULL;
	}
	return w;
}

/* No more chunks for w (the slot's reference goes). */
static void sw_end(struct sink_writer *w, int drop)
{
	pthread_mutex_lock(&w->mu);
	w->closing = 1;
	if (drop)
		w->dead = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	sw_unref(w);
}

int mig_sink_write(struct mig *m, const struct wire_mig_stream *s)
{
	struct sink_writer *w = NULL;
	struct sink *k = NULL;
	struct sink_chunk *c = malloc(sizeof(*c) + s->len);
	int e = 0;

	if (c) {
		c->next = NULL;
		c->len = s->len;
		memcpy(c->data, s->data, s->len);
	}
	pthread_mutex_lock(&m->qlock);
	for (int i = 0; i < MIG_MAX_SINKS; i++)
		if (m->sinks[i].fd >= 0 && m->sinks[i].mig_id == s->mig_id)
			k = &m->sinks[i];
	if (k && s->seq != k->next_seq)
		e = SSI_E_CORRUPT; /* a gap: the restore can not go on */
	else if (k && !c)
		e = -ENOMEM;
	if (k) {
		w = k->w;
		pthread_mutex_lock(&w->mu);
		w->refs++;
		if (!e && w->dead)
			e = -EPIPE;
		if (!e && w->bytes + c->len > SINK_HARD_CAP)
			e = -ENOBUFS; /* the restore is stuck: give up rather than grow */
		if (!e) {
			if (w->t)
				w->t->next = c;
			else
				w->h = c;
			w->t = c;
			w->bytes += c->len;
			c = NULL;
			pthread_cond_broadcast(&w->cv);
		}
		pthread_mutex_unlock(&w->mu);
		k->next_seq++;
		if (s->last || e) {
			sw_end(w, e != 0);
			k->fd = -1;
			k->w = NULL;
		}
	}
	pthread_mutex_unlock(&m->qlock);
	free(c);
	if (!k)
		return -ENOENT;
	sw_unref(w);
	return e;
}

void mig_sink_close(struct mig *m, uint64_t id)
{
	pthread_mutex_lock(&m->qlock);
	for (int i = 0; i < MIG_MAX_SINKS; i++)
		if (m->sinks[i].fd >= 0 && m->sinks[i].mig_id == id) {
			sw_end(m->sinks[i].w, 1);
			m->sinks[i].fd = -1;
			m->sinks[i].w = NULL;
		}
	pthread_mutex_unlock(&m->qlock);
}

__attribute__((noreturn)) static void worker_main(int img, int stw, int ctl,
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
	if (mig_home_enter(hm, err, sizeof(err)) < 0) { /* away: files through home's view */
		dprintf(stw, "F home namespace: %s\n", err);
		_exit(1);
	}
	if (restore_stopped(img, &h, &pid, &rs, err, sizeof(err)) < 0) {
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
	while (waitpid(waitfor, &st, 0) < 0) {
		if (errno != EINTR) {
			st = SIGKILL;
			break;
		}
	}
	dprintf(stw, "X %d\n", st);
	_exit(0);
}

/* Fork the restore worker for p: fds 0-2 pipes, image from a pipe fed by the sinks. */
int mig_worker_spawn(struct mig *m, struct proc *p, uint64_t id, int image_fd)
{
	int in[2], out[2], er[2], st[2], ctl[2], img[2] = {image_fd, -1};
	pid_t w;

	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(er, O_CLOEXEC) ||
	    pipe2(st, O_CLOEXEC) || pipe2(ctl, O_CLOEXEC) ||
	    (image_fd < 0 && pipe2(img, O_CLOEXEC)))
		return -errno; /* leaks a few fds on this rare path */
	if (image_fd < 0)
		set_pipe_size(img[1]);
	struct mig_home hm;
	mig_home_prepare(&hm, m->cfg, m->c, p->home);
	w = fork();
	if (w < 0)
		return -errno;
	if (w == 0) {
		int a = fcntl(img[0], F_DUPFD, 1000), b = fcntl(st[1], F_DUPFD, 1000),
		    c = fcntl(ctl[0], F_DUPFD, 1000);
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(er[1], 2);
		dup2(a, 1000);
		dup2(b, 1001);
		dup2(c, 1002);
		close_range(3, 999, 0);
		close_range(1003, ~0u, 0);
		worker_main(1000, 1001, 1002, &hm);
	}
	close(in[0]);
	close(out[1]);
	close(er[1]);
	close(st[1]);
	close(ctl[0]);
	if (image_fd < 0)
		close(img[0]);
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
	struct sink_writer *sw = sw_start(img[1]);
	if (!sw) {
		close(img[1]);
		return -ENOMEM;
	}
	pthread_mutex_lock(&m->qlock);
	int i = 0;
	for (; i < MIG_MAX_SINKS && m->sinks[i].fd >= 0; i++)
		;
	if (i < MIG_MAX_SINKS)
		m->sinks[i] = (struct sink){.mig_id = id, .fd = img[1], .next_seq = 0, .w = sw};
	pthread_mutex_unlock(&m->qlock);
	if (i == MIG_MAX_SINKS) {
		sw_end(sw, 1);
		return -EBUSY;
	}
	return 0;
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
