/*
 * mig_relay.c - the stdio relay of the migration module: output of a process held here whose
 * home is another node, read from its pipes and sent with offsets until the home acknowledges
 * it (ssid/relaybuf.h keeps the books); at the home, taking those pieces exactly once and
 * handing them to the deputy; dispatch of STDIO frames (stdin ones to mig_stdin.c, or to
 * mig_send_stdin for an older home's); EXIT frames and their acknowledgement. Does not: run
 * the loop, own the process table or the worker's status pipe (mig.c), move processes
 * (mig_proto.c, mig_stream.c), keep stdin (mig_stdin.c).
 * Assumes: the coordinator thread calls everything here, except mig_relay_handover (a stream
 * thread); relay_lock guards what both touch.
 */
#include "migrate/deputy.h"
#include "ssid/log.h"
#include "ssid/mig_int.h"
#include "ssid/relaybuf.h"
#include "ssid/ssierr.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/*
 * Output of a process held here whose home is another node (docs/protocol.md "STDIO offsets
 * and acknowledgements"): read from its pipes into one relaybuf per stream, at most
 * RELAYBUF_DEFAULT_LIMIT bytes not acknowledged (a full window stops the reading: the
 * process blocks on write, nothing is dropped), sent as STDIO frames with offsets counted in
 * this holder's epoch. The home delivers each byte once, in order, acknowledges what it
 * handed to the deputy and asks for a resend when a piece arrives beyond what it has; we
 * also send again from the last acknowledgement when nothing was acknowledged for
 * RELAY_RESEND_MS (a link that died with frames queued or in flight). The EXIT goes once
 * all output is acknowledged and is repeated until the home acknowledges it. Before a move
 * commits, the source hands over (mig_relay_handover): the home has all it wrote, so the
 * next holder starts a new epoch at 0 with nothing pending anywhere.
 * relay_outs is shared with the stream threads (relay_lock); relay_ins (the home's side) is
 * the coordinator's alone. One mig per daemon, like mig_mach.c's node table.
 */
#define RELAY_CHUNK	     65536
#define RELAY_RESEND_MS	     1000.0	/* no acknowledgement progress this long: resend */
#define RELAY_GAP_MS	     300.0	/* home: a resend request per stream at most this often */
#define RELAY_EXIT_RETRY_MS  1000.0	/* EXIT not acknowledged: sent again */
#define RELAY_EXIT_GIVEUP_MS 60000.0	/* ... for this long at most */
#define RELAY_LEGACY_MS	     15000.0	/* never an acknowledgement: the home predates them */
#define RELAY_DEPUTY_HIGH    (1u << 20) /* home: no ack while this much waits for the deputy */

struct relay_out {
	uint32_t gpid; /* 0: free */
	int home;
	uint64_t epoch;		     /* this holder's: offsets count from its start here */
	struct relaybuf_tx s[2];     /* stdout, stderr */
	double t_progress[2];	     /* last ack progress, rewind, or start of sending */
	double t_first;		     /* first frame sent (legacy detection) */
	int acked_ever, legacy;	     /* legacy: the home never acknowledges; keep nothing */
	double t_exit, t_exit_first; /* EXIT sent: last, first (0: not yet) */
};

struct relay_in {
	uint32_t gpid;		   /* 0: free */
	uint64_t epoch, old_epoch; /* the holder delivering now, the one before */
	int peer;		   /* node of epoch */
	struct relaybuf_rx s[2];
	unsigned ack_due;  /* bit per stream: delivered moved, acknowledgement not sent */
	unsigned synced;   /* bit per stream: delivered known (from the epoch's first frame) */
	uint64_t acked[2]; /* the last acknowledgement sent */
	double t_gap[2], t_keep[2];
};

static pthread_mutex_t relay_lock = PTHREAD_MUTEX_INITIALIZER;
static struct relay_out relay_outs[MIG_MAX_PROCS]; /* relay_lock */
static struct relay_in relay_ins[MIG_MAX_PROCS];   /* coordinator */

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Unique per holder stint: node id on top, wall-clock microseconds below. relay_lock. */
static uint64_t new_epoch(int self)
{
	static uint64_t last;
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	uint64_t us = (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
	uint64_t e = (uint64_t)(self & 0xffff) << 48 | (us & 0xffffffffffffull);
	if (e <= last)
		e = last + 1;
	last = e;
	return e;
}

static struct relay_out *out_find(uint32_t gpid) /* relay_lock */
{
	for (int i = 0; i < MIG_MAX_PROCS; i++)
		if (relay_outs[i].gpid == gpid)
			return &relay_outs[i];
	return NULL;
}

static struct relay_out *out_get(struct mig *m, uint32_t gpid, int home) /* relay_lock */
{
	struct relay_out *o = out_find(gpid);

	if (o)
		return o;
	for (int i = 0; i < MIG_MAX_PROCS; i++) {
		if (relay_outs[i].gpid)
			continue;
		o = &relay_outs[i];
		memset(o, 0, sizeof(*o));
		o->gpid = gpid;
		o->home = home;
		o->epoch = new_epoch(m->self);
		relaybuf_tx_init(&o->s[0], 0);
		relaybuf_tx_init(&o->s[1], 0);
		return o;
	}
	return NULL;
}

/* Put on the link what was not sent yet (relay_lock). Stops at the first refusal: the link
 * is down or its queue full; the next turn tries again. */
static void out_send(struct mig *m, struct relay_out *o, double now)
{
	for (int i = 0; i < 2; i++) {
		struct relaybuf_tx *tx = &o->s[i];
		uint64_t off;
		const uint8_t *d;
		size_t n;
		int eof;
		while (relaybuf_tx_next(tx, RELAY_CHUNK, &off, &d, &n, &eof)) {
			struct wire_msg w;
			wire_msg_init(&w, WIRE_STDIO, 0);
			w.u.stdio = (struct wire_stdio){.gpid = o->gpid,
							.stream = (uint8_t)(i + 1),
							.data = n ? d : NULL,
							.len = n,
							.eof = (uint8_t)eof,
							.offset = off,
							.ack = tx->base, /* kept from */
							.epoch = o->epoch,
							.flags = WIRE_STDIO_F_OFFSET};
			if (cluster_send(m->c, o->home, &w) < 0)
				break;
			if (tx->sent == tx->base) /* nothing was outstanding: the clock starts */
				o->t_progress[i] = now;
			if (!o->t_first)
				o->t_first = now;
			relaybuf_tx_sent(tx, n, eof);
			if (o->legacy)
				relaybuf_tx_ack(tx, tx->sent);
		}
	}
}

/* Room for stream (1, 2) of p in its window: 0 = do not read its pipe now. */
size_t mig_relay_room(struct mig *m, struct proc *p, int stream)
{
	size_t room = RELAY_CHUNK;

	if (p->home == m->self)
		return room;
	pthread_mutex_lock(&relay_lock);
	struct relay_out *o = out_find(p->gpid);
	if (o)
		room = relaybuf_tx_room(&o->s[stream - 1]);
	pthread_mutex_unlock(&relay_lock);
	return room;
}

/* Forget the relay state of p (its entry goes). */
void mig_relay_forget(struct mig *m, const struct proc *p)
{
	mig_stdin_forget(m, p);
	if (p->home == m->self) {
		for (int i = 0; i < MIG_MAX_PROCS; i++)
			if (relay_ins[i].gpid == p->gpid)
				memset(&relay_ins[i], 0, sizeof(relay_ins[i]));
		return;
	}
	pthread_mutex_lock(&relay_lock);
	struct relay_out *o = out_find(p->gpid);
	if (o) {
		relaybuf_tx_free(&o->s[0]);
		relaybuf_tx_free(&o->s[1]);
		memset(o, 0, sizeof(*o));
	}
	pthread_mutex_unlock(&relay_lock);
}

static void relay_out(struct mig *m, struct proc *p, int stream, const uint8_t *d, size_t n,
		      int eof)
{
	if (p->home == m->self) {
		struct proc *h = p; /* home record and holder are the same entry here */
		struct buf b;
		if (!n)
			return;
		buf_init(&b);
		buf_put_u8(&b, (uint8_t)stream);
		buf_put_u8(&b, (uint8_t)eof);
		buf_put_bytes(&b, d, n);
		mig_client_send(m, h->deputy, DEPUTY_OUTPUT, &b);
		buf_free(&b);
		return;
	}
	pthread_mutex_lock(&relay_lock);
	struct relay_out *o = out_get(m, p->gpid, p->home);
	int e = o ? relaybuf_tx_append(&o->s[stream - 1], d, n) : -ENOSPC;
	if (o && eof)
		relaybuf_tx_close(&o->s[stream - 1]);
	if (o)
		out_send(m, o, mig_now_ms());
	pthread_mutex_unlock(&relay_lock);
	if (e < 0) /* cannot happen: relay_fd reads at most the room, one slot per process */
		log_warn("gpid %u: %zu bytes of output to node %d lost: %s", p->gpid, n, p->home,
			 strerror(-e));
}

/* Read what fd holds now (when drain: all of it that fits the window). Returns 0, or 1 at
 * EOF (fd closed). */
int mig_relay_fd(struct mig *m, struct proc *p, int *fd, int stream, int drain)
{
	uint8_t d[RELAY_CHUNK];

	for (;;) {
		size_t want = mig_relay_room(m, p, stream);
		if (!want)
			return 0; /* window full: the pipe holds the rest, the process waits */
		ssize_t r = read(*fd, d, want < sizeof(d) ? want : sizeof(d));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return 0;
		if (r <= 0) {
			relay_out(m, p, stream, NULL, 0, 1);
			close_fd(fd);
			return 1;
		}
		relay_out(m, p, stream, d, (size_t)r, 0);
		if (!drain)
			return 0;
	}
}

/* An acknowledgement from the home of a process held here. */
static void relay_on_ack(struct mig *m, const struct mig_ev *ev)
{
	double now = mig_now_ms();

	if (ev->stream != 1 && ev->stream != 2)
		return;
	pthread_mutex_lock(&relay_lock);
	struct relay_out *o = out_find(ev->gpid);
	if (o && o->home == ev->peer && o->epoch == ev->epoch) {
		struct relaybuf_tx *tx = &o->s[ev->stream - 1];
		int r = relaybuf_tx_ack(tx, ev->ack);
		o->acked_ever = 1;
		if (r < 0)
			log_warn("gpid %u: node %d acknowledged %llu bytes of stream %u, more than "
				 "were sent: ignored",
				 ev->gpid, ev->peer, (unsigned long long)ev->ack, ev->stream);
		if (r >= 0) /* progress, or the home is alive but its deputy lags */
			o->t_progress[ev->stream - 1] = now;
		if (r >= 0 && ev->flags & WIRE_STDIO_F_RESEND && tx->sent > tx->base) {
			log_debug("gpid %u: node %d lost output from offset %llu: sending again",
				  ev->gpid, ev->peer, (unsigned long long)tx->base);
			relaybuf_tx_rewind(tx);
			o->t_progress[ev->stream - 1] = now;
		}
		out_send(m, o, now);
	}
	pthread_mutex_unlock(&relay_lock);
}

/* Home: acknowledge to the holder what was delivered (resend: ask for what follows). */
static int send_ack(struct mig *m, struct relay_in *r, int i, uint64_t ack, int resend)
{
	struct wire_msg w;

	wire_msg_init(&w, WIRE_STDIO, 0);
	w.u.stdio = (struct wire_stdio){
		.gpid = r->gpid,
		.stream = (uint8_t)(i + 1),
		.ack = ack,
		.epoch = r->epoch,
		.flags = (uint8_t)(WIRE_STDIO_F_ACK | (resend ? WIRE_STDIO_F_RESEND : 0))};
	return cluster_send(m->c, r->peer, &w);
}

/* Home: send the acknowledgements due, unless the deputy lags (it has not taken
 * RELAY_DEPUTY_HIGH bytes yet): the holder's window then fills and its process waits.
 * Meanwhile the last acknowledgement is repeated twice a second, so that the holder knows
 * the link lives and does not send its window again. */
static void in_acks(struct mig *m, const struct proc *p, struct relay_in *r)
{
	int lag = p->deputy >= 0 && p->deputy < MIG_MAX_CLIENTS && m->cl[p->deputy].fd >= 0 &&
		  buf_avail(&m->cl[p->deputy].out) >= RELAY_DEPUTY_HIGH;
	double now = mig_now_ms();

	for (int i = 0; i < 2; i++) {
		if (!(r->ack_due & (1u << i)))
			continue;
		if (!lag && send_ack(m, r, i, r->s[i].delivered, 0) == 0) {
			r->ack_due &= ~(1u << i);
			r->acked[i] = r->s[i].delivered;
		} else if (lag && now - r->t_keep[i] >= RELAY_RESEND_MS / 2) {
			r->t_keep[i] = now;
			send_ack(m, r, i, r->acked[i], 0);
		}
	}
}

static void deliver_output(struct mig *m, struct proc *p, uint8_t stream, uint8_t eof,
			   const uint8_t *d, size_t n)
{
	struct buf b;

	if (!n || mig_await_output(p, stream, eof, d, n))
		return; /* nothing, or reloaded: kept until its deputy is back */
	buf_init(&b);
	buf_put_u8(&b, stream);
	buf_put_u8(&b, eof);
	buf_put_bytes(&b, d, n);
	mig_client_send(m, p->deputy, DEPUTY_OUTPUT, &b);
	buf_free(&b);
}

/* Home: a piece of output with offsets from the node holding p. */
static void relay_in_frame(struct mig *m, struct proc *p, const struct mig_ev *ev)
{
	int i = ev->stream - 1;
	struct relay_in *r = NULL;
	size_t skip;
	int eof;

	for (int j = 0; j < MIG_MAX_PROCS && !r; j++)
		if (relay_ins[j].gpid == p->gpid)
			r = &relay_ins[j];
	for (int j = 0; j < MIG_MAX_PROCS && !r; j++)
		if (!relay_ins[j].gpid) {
			r = &relay_ins[j];
			memset(r, 0, sizeof(*r));
			r->gpid = p->gpid;
		}
	if (!r)
		return; /* cannot happen: one slot per process */
	if (ev->epoch != r->epoch) {
		/* A new holder only once the commit made it the one (its predecessor handed
		 * everything over before): frames of an older holder, or of the next one before
		 * the commit, are not acknowledged; their sender tries again. */
		if (!ev->epoch || ev->epoch == r->old_epoch || ev->peer != p->where)
			return;
		r->old_epoch = r->epoch;
		r->epoch = ev->epoch;
		r->peer = ev->peer;
		relaybuf_rx_init(&r->s[0]);
		relaybuf_rx_init(&r->s[1]);
		r->ack_due = r->synced = 0;
		r->acked[0] = r->acked[1] = 0;
	}
	if (ev->peer != r->peer)
		return;
	if (!(r->synced & (1u << i))) {
		/* The holder keeps nothing below ev->ack: all of it was acknowledged, by us or by
		 * our predecessor in a daemon restart (0 for a holder that just started). */
		r->s[i].delivered = ev->ack <= ev->off ? ev->ack : 0;
		r->acked[i] = r->s[i].delivered;
		r->synced |= 1u << i;
	}
	switch (relaybuf_rx_accept(&r->s[i], ev->off, ev->len, ev->eof, &skip, &eof)) {
	case RELAYBUF_TAKE:
		deliver_output(m, p, ev->stream, (uint8_t)eof, ev->data + skip, ev->len - skip);
		r->ack_due |= 1u << i;
		break;
	case RELAYBUF_DUP:
		r->ack_due |= 1u << i;
		break;
	case RELAYBUF_GAP:
		if (mig_now_ms() - r->t_gap[i] >= RELAY_GAP_MS) {
			r->t_gap[i] = mig_now_ms();
			send_ack(m, r, i, r->s[i].delivered, 1);
		}
		return;
	case RELAYBUF_BAD:
		log_warn("gpid %u: output from node %d at impossible offset %llu (stream %u): "
			 "dropped",
			 p->gpid, ev->peer, (unsigned long long)ev->off, ev->stream);
		return;
	}
	in_acks(m, p, r);
}

/* Every loop turn: resend what was not acknowledged in time, put out what waits for the
 * link, acknowledge what the deputies took. *tmo_ms shortened while anything is pending. */
void mig_relay_turn(struct mig *m, int *tmo_ms)
{
	double now = mig_now_ms();
	int busy = 0;

	pthread_mutex_lock(&relay_lock);
	for (int j = 0; j < MIG_MAX_PROCS; j++) {
		struct relay_out *o = &relay_outs[j];
		if (!o->gpid)
			continue;
		for (int i = 0; i < 2 && !o->legacy; i++) {
			struct relaybuf_tx *tx = &o->s[i];
			if (tx->sent > tx->base && now - o->t_progress[i] >= RELAY_RESEND_MS) {
				log_debug("gpid %u: output from offset %llu not acknowledged by "
					  "node %d: sending it again",
					  o->gpid, (unsigned long long)tx->base, o->home);
				relaybuf_tx_rewind(tx);
				o->t_progress[i] = now;
			}
		}
		if (!o->legacy && !o->acked_ever && o->t_first &&
		    now - o->t_first >= RELAY_LEGACY_MS) {
			log_warn("gpid %u: node %d never acknowledges output (an older ssid?): "
				 "relayed without resending from now on",
				 o->gpid, o->home);
			o->legacy = 1;
			for (int i = 0; i < 2; i++)
				relaybuf_tx_ack(&o->s[i], o->s[i].sent);
		}
		out_send(m, o, now);
		busy |= relaybuf_tx_unacked(&o->s[0]) || relaybuf_tx_unacked(&o->s[1]);
	}
	pthread_mutex_unlock(&relay_lock);
	for (int j = 0; j < MIG_MAX_PROCS; j++) {
		struct relay_in *r = &relay_ins[j];
		struct proc *p = r->gpid && r->ack_due ? mig_proc(m, r->gpid) : NULL;
		if (p)
			in_acks(m, p, r);
		busy |= p && r->ack_due;
	}
	int fast = 0;
	mig_stdin_turn(m, &busy, &fast);
	if (fast && *tmo_ms > 20)
		*tmo_ms = 20; /* a process reading its stdin: its read offset moves */
	if (busy && *tmo_ms > 200)
		*tmo_ms = 200;
}

int mig_relay_handover(struct mig *m, uint32_t gpid, int home, const int fd[2],
		       volatile int *cancel, int timeout_ms, char *why, size_t whylen)
{
	uint8_t d[RELAY_CHUNK];
	int live[2] = {fd[0] >= 0, fd[1] >= 0};
	double t0 = mig_now_ms();

	for (;;) {
		double now = mig_now_ms();
		int more = 0, pending;
		pthread_mutex_lock(&relay_lock);
		struct relay_out *o = out_get(m, gpid, home);
		if (!o) {
			pthread_mutex_unlock(&relay_lock);
			snprintf(why, whylen, "no room to relay the output of gpid %u", gpid);
			return -ENOMEM;
		}
		for (int i = 0; i < 2; i++)
			while (live[i]) {
				size_t room = relaybuf_tx_room(&o->s[i]);
				if (!room) {
					more = 1; /* the window is full: wait for the home */
					break;
				}
				ssize_t r = read(fd[i], d, room < sizeof(d) ? room : sizeof(d));
				if (r < 0 && errno == EINTR)
					continue;
				/* all read (EAGAIN: the frozen writer holds it open) */
				if (r <= 0) {
					live[i] = 0;
					break;
				}
				relaybuf_tx_append(&o->s[i], d, (size_t)r); /* r <= room */
			}
		out_send(m, o, now);
		pending = !o->legacy &&
			  (relaybuf_tx_unacked(&o->s[0]) || relaybuf_tx_unacked(&o->s[1]));
		pthread_mutex_unlock(&relay_lock);
		if (!more && !pending)
			return 0;
		if (*cancel) {
			snprintf(why, whylen, "stream cancelled");
			return -ECANCELED;
		}
		if (now - t0 >= timeout_ms) {
			snprintf(why, whylen,
				 "the output of gpid %u was not acknowledged by its home, node %d, "
				 "within %d ms",
				 gpid, home, timeout_ms);
			return -ETIMEDOUT;
		}
		usleep(2000);
	}
}

/* The process held here ended and its output is all out: tell the home, again until it
 * acknowledges (or RELAY_EXIT_GIVEUP_MS passed). */
static void maybe_finish(struct mig *m, struct proc *p)
{
	double now = mig_now_ms();
	int legacy = 0, send = 0, give_up = 0;

	if (!p->exited || p->out_fd >= 0 || p->err_fd >= 0 || p->mig)
		return;
	if (p->home == m->self) {
		mig_deputy_exit(m, p, p->status, NULL);
		return;
	}
	pthread_mutex_lock(&relay_lock);
	struct relay_out *o = out_get(m, p->gpid, p->home);
	if (o) {
		relaybuf_tx_close(&o->s[0]); /* the pipes are closed: EOF, if not said yet */
		relaybuf_tx_close(&o->s[1]);
		out_send(m, o, now);
		int ready = relaybuf_tx_done(&o->s[0]) && relaybuf_tx_done(&o->s[1]);
		legacy = o->legacy;
		send = ready && (!o->t_exit || now - o->t_exit >= RELAY_EXIT_RETRY_MS);
		give_up = o->t_exit_first && now - o->t_exit_first >= RELAY_EXIT_GIVEUP_MS;
	}
	pthread_mutex_unlock(&relay_lock);
	p->exit_held = 1; /* the loop calls again */
	if (give_up) {
		log_warn("gpid %u: node %d never acknowledged its exit status: forgotten", p->gpid,
			 p->home);
		mig_proc_drop(m, p);
		return;
	}
	if (!send && o)
		return;
	struct wire_msg w;
	wire_msg_init(&w, WIRE_EXIT, 0);
	w.u.exit = (struct wire_exit){.gpid = p->gpid,
				      .status = p->status,
				      .flags = o && !legacy ? WIRE_EXIT_F_ACKME : 0};
	int e = cluster_send(m->c, p->home, &w);
	pthread_mutex_lock(&relay_lock);
	if (o && !e) {
		o->t_exit = now;
		if (!o->t_exit_first)
			o->t_exit_first = now;
	}
	pthread_mutex_unlock(&relay_lock);
	if (e < 0) {
		log_debug("gpid %u: exit status to node %d held: %s", p->gpid, p->home,
			  ssierr_str(e));
		return;
	}
	if (!o || legacy) {
		log_info("gpid %u ended here (status %#x); told node %d", p->gpid, p->status,
			 p->home);
		mig_proc_drop(m, p);
	}
}

/* The home acknowledged the EXIT of a process that ended here: forget it. */
static void relay_exit_acked(struct mig *m, const struct mig_ev *ev)
{
	struct proc *p = mig_proc(m, ev->gpid);

	if (!p || p->home == m->self || p->home != ev->peer || p->kind != P_RESTORED || !p->exited)
		return;
	log_info("gpid %u ended here (status %#x); node %d has it", p->gpid, p->status, p->home);
	mig_proc_drop(m, p);
}

/* Source side of a restored process: send what it wrote before it was frozen. Its home
 * elsewhere: done already (mig_relay_handover, before the last image chunk). */
void mig_relay_drain(struct mig *m, struct proc *p)
{
	if (p->home != m->self)
		return;
	if (p->out_fd >= 0)
		mig_relay_fd(m, p, &p->out_fd, 1, 1);
	if (p->err_fd >= 0)
		mig_relay_fd(m, p, &p->err_fd, 2, 1);
}

void mig_proc_exited(struct mig *m, struct proc *p)
{
	maybe_finish(m, p);
}
/* A STDIO frame from a peer (or the home's own stdin path, mig_client.c). */
void mig_relay_stdio_ev(struct mig *m, struct mig_ev *ev)
{
	struct proc *p;

	if (ev->stream == 0 && ev->flags & (WIRE_STDIO_F_OFFSET | WIRE_STDIO_F_ACK)) {
		struct wire_stdio s = {.gpid = ev->gpid,
				       .stream = 0,
				       .data = ev->data,
				       .len = ev->len,
				       .eof = ev->eof,
				       .offset = ev->off,
				       .ack = ev->ack,
				       .epoch = ev->epoch,
				       .flags = ev->flags};
		mig_stdin_frame(m, ev->peer, &s); /* exactly once (mig_stdin.c) */
		return;
	}
	if (ev->flags & WIRE_STDIO_F_ACK) { /* from the home of a process held here */
		relay_on_ack(m, ev);
		p = mig_proc(m, ev->gpid);
		if (p && p->exit_held)
			maybe_finish(m, p);
		return;
	}
	p = mig_proc(m, ev->gpid);
	if (!p && (int)(ev->gpid >> 22) == m->self && (ev->stream == 1 || ev->stream == 2) &&
	    ev->peer != m->self) {
		/* a copy we gave up on (its node was down, its deputy gone): end it */
		struct proc ghost = {.gpid = ev->gpid, .where = ev->peer, .home = m->self};
		log_warn("gpid %u: output from node %d, which does not hold it any more: "
			 "killing that copy",
			 ev->gpid, ev->peer);
		mig_deliver_signal(m, &ghost, SIGKILL);
		return;
	}
	if (!p)
		return;
	if (ev->stream == 0) {
		mig_send_stdin(m, p, ev->eof, ev->data, ev->len);
	} else if (p->home == m->self && p->kind != P_CHILD) {
		/* from where it runs, or from where it was frozen (sent before the last
		 * image chunk): any authenticated peer */
		struct buf b;
		if (ev->flags & WIRE_STDIO_F_OFFSET) { /* offsets: exactly once, in order */
			relay_in_frame(m, p, ev);
			return;
		}
		if (ev->len && mig_await_output(p, ev->stream, ev->eof, ev->data, ev->len))
			return; /* reloaded: kept until its deputy is back */
		buf_init(&b);
		buf_put_u8(&b, ev->stream);
		buf_put_u8(&b, ev->eof);
		buf_put_bytes(&b, ev->data, ev->len);
		if (ev->len)
			mig_client_send(m, p->deputy, DEPUTY_OUTPUT, &b);
		buf_free(&b);
	}
}

/* An EXIT frame: the end of a process held elsewhere, or its acknowledgement. */
void mig_relay_exit_ev(struct mig *m, struct mig_ev *ev)
{
	struct proc *p;

	/* the home has the exit of a process held here */
	if (ev->flags & WIRE_EXIT_F_ACK) {
		relay_exit_acked(m, ev);
		return;
	}
	p = mig_proc(m, ev->gpid);
	int taken = !p; /* not known (any more): nothing to wait for */
	if (p && p->home == m->self && p->kind == P_REMOTE && ev->peer == p->where && !p->mig) {
		taken = 1;
		if (!mig_await_exit(p, ev->status))
			mig_deputy_exit(m, p, ev->status, NULL);
	}
	if (taken && ev->flags & WIRE_EXIT_F_ACKME && (int)(ev->gpid >> 22) == m->self) {
		struct wire_msg w;
		wire_msg_init(&w, WIRE_EXIT, 0);
		w.u.exit = (struct wire_exit){
			.gpid = ev->gpid, .status = ev->status, .flags = WIRE_EXIT_F_ACK};
		if (cluster_send(m->c, ev->peer, &w) < 0) /* it asks again */
			log_debug("gpid %u: acknowledging its exit to node %d: link down", ev->gpid,
				  ev->peer);
	}
}

uint64_t mig_relay_epoch(int self)
{
	pthread_mutex_lock(&relay_lock);
	uint64_t e = new_epoch(self);
	pthread_mutex_unlock(&relay_lock);
	return e;
}
