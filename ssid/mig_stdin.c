/*
 * mig_stdin.c - stdin of a process running away from its deputy, exactly once: the home's
 * window of grun's bytes and the credit it gives grun, each holder's writing into the
 * process's pipe and its acknowledgements, the hand-over of the read offset at a move. Does
 * not: relay output or EXIT (mig_relay.c), move processes, own the process table (mig.c).
 * Assumes: the coordinator thread calls everything here; ssid ignores SIGPIPE.
 */
#include "migrate/deputy.h"
#include "ssid/log.h"
#include "ssid/mig_int.h"
#include "ssid/relaybuf.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/*
 * stdin of a process running away from its deputy (docs/protocol.md "STDIO offsets and
 * acknowledgements"). The home keeps what grun sent until the holder says the process read
 * it (relaybuf_tx, DEPUTY_STDIN_WINDOW bytes at most; grun reads its own stdin only within
 * the credit the home gives it: DEPUTY_STDIN_CREDIT). Offsets count grun's bytes from the
 * first, over the process's whole life; the home gives each holder stint an epoch. The holder
 * acknowledges two offsets: `offset`, what it holds (written into the process's pipe or
 * waiting to be), and `ack`, what the process read (that minus FIONREAD of the pipe). When the
 * process leaves a holder (the commit), the home sends nothing until the old holder's final
 * word (F_FINAL, counted once the copy there is dead: the exact read offset), then resends
 * from it to the next holder: bytes left unread in the old pipe are not lost. No final word
 * within STDIN_FINAL_WAIT_MS (the old holder went away): resent from the last read offset it
 * acknowledged, so the process may read some bytes twice (logged). The home can be the holder
 * itself (the process moved back): the same code, no frames.
 */
#define STDIN_CHUNK	    65536
#define STDIN_RESEND_MS	    1000.0  /* home: nothing newly held this long: resend */
#define STDIN_GAP_MS	    300.0   /* holder: a resend request at most this often */
#define STDIN_LEGACY_MS	    15000.0 /* never an acknowledgement: the holder predates them */
#define STDIN_FINAL_WAIT_MS 10000.0 /* home: the old holder's final word, at most this long */
#define STDIN_FINAL_KEEP_MS 30000.0 /* holder: final word repeated until confirmed, this long */
#define STDIN_CREDIT_STEP   65536   /* home: a new credit to grun once it grew this much */

struct stdin_home {
	uint32_t gpid;	       /* 0: free */
	struct relaybuf_tx tx; /* grun's bytes; base: read by the process */
	uint64_t epoch;	       /* the current holder stint */
	int holder;	       /* its node, 0: none (waiting for a final word or a holder) */
	int sent_any, stopped; /* a frame went in this stint; its holder said its final word */
	int old;	       /* waiting for the final word of node old on old_epoch (0: not) */
	uint64_t old_epoch;
	double t_await;
	uint64_t rcv;		/* what the holder holds (its `offset`) */
	double t_progress;	/* rcv moved, or sending started */
	double t_first;		/* first frame of the stint (legacy detection) */
	int acked_ever, legacy; /* legacy: the holder never acknowledges (an older ssid) */
	uint64_t credit;	/* the last limit given to grun */
};

struct stdin_hold {
	uint32_t gpid; /* 0: free */
	uint64_t epoch;
	int home;
	int fd; /* our descriptor of the process's stdin pipe (a dup), -1 closed */
	struct relaybuf_rx rx;
	struct buf pend;	   /* taken, not in the pipe yet (it was full) */
	int eof_pend, gone;	   /* EOF taken; the pipe is closed (EOF written, or EPIPE) */
	int ack_due, resend_due;   /* acknowledge; ask for a resend from rx.delivered */
	uint64_t acked, acked_rcv; /* the last acknowledgement sent */
	int final;		   /* the stint is over: final_ack repeated until confirmed */
	uint64_t final_ack;
	double t_final, t_final_first, t_gap;
};

static struct stdin_home stdin_homes[MIG_MAX_PROCS]; /* coordinator */
static struct stdin_hold stdin_holds[MIG_MAX_PROCS]; /* coordinator */

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* A stdin frame to node (ourselves: handled here at once). */
static int stdin_send(struct mig *m, int node, const struct wire_stdio *s)
{
	struct wire_msg w;

	if (node == m->self) {
		mig_stdin_frame(m, node, s);
		return 0;
	}
	wire_msg_init(&w, WIRE_STDIO, 0);
	w.u.stdio = *s;
	return cluster_send(m->c, node, &w);
}

static struct stdin_home *sh_find(uint32_t gpid, int create)
{
	for (int i = 0; i < MIG_MAX_PROCS; i++)
		if (stdin_homes[i].gpid == gpid)
			return &stdin_homes[i];
	for (int i = 0; create && i < MIG_MAX_PROCS; i++)
		if (!stdin_homes[i].gpid) {
			struct stdin_home *h = &stdin_homes[i];
			memset(h, 0, sizeof(*h));
			h->gpid = gpid;
			relaybuf_tx_init(&h->tx, DEPUTY_STDIN_WINDOW);
			h->credit = DEPUTY_STDIN_WINDOW; /* grun's own start */
			return h;
		}
	return NULL;
}

static struct stdin_hold *sd_find(uint32_t gpid)
{
	for (int i = 0; i < MIG_MAX_PROCS; i++)
		if (stdin_holds[i].gpid == gpid)
			return &stdin_holds[i];
	return NULL;
}

static void sd_free(struct stdin_hold *d)
{
	close_fd(&d->fd);
	buf_free(&d->pend);
	memset(d, 0, sizeof(*d));
	d->fd = -1;
}

/* Holder: what the process read (the pipe and pend hold the rest of what was taken). */
static uint64_t sd_read_off(const struct stdin_hold *d)
{
	int q = 0;

	if (d->gone)
		return d->rx.delivered;
	if (d->fd >= 0 && ioctl(d->fd, FIONREAD, &q) < 0)
		q = 0;
	uint64_t held = d->rx.delivered - (d->rx.eof ? 1 : 0);
	uint64_t unread = buf_avail(&d->pend) + (uint64_t)(q > 0 ? q : 0);
	/* more unread than held: bytes of an earlier stint (a home that restarted) */
	return held > unread ? held - unread : 0;
}

static int sd_send(struct mig *m, struct stdin_hold *d, uint64_t ack, uint8_t flags)
{
	struct wire_stdio s = {.gpid = d->gpid,
			       .stream = 0,
			       .offset = d->rx.delivered,
			       .ack = ack,
			       .epoch = d->epoch,
			       .flags = (uint8_t)(WIRE_STDIO_F_ACK | flags)};
	return stdin_send(m, d->home, &s);
}

/* Holder: write what waits into the pipe; close it once EOF is all that is left. */
static void sd_flush(struct mig *m, struct stdin_hold *d)
{
	while (buf_avail(&d->pend) && d->fd >= 0) {
		ssize_t w = write(d->fd, buf_rptr(&d->pend), buf_avail(&d->pend));
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			break;
		if (w < 0) { /* EPIPE: nobody reads it any more; count it as read */
			log_debug("gpid %u: stdin: %s", d->gpid, strerror(errno));
			buf_reset(&d->pend);
			close_fd(&d->fd);
			d->gone = 1;
			break;
		}
		d->pend.off += (size_t)w;
	}
	buf_compact(&d->pend);
	if (!buf_avail(&d->pend) && d->eof_pend && !d->gone) {
		struct proc *p = mig_proc(m, d->gpid);
		close_fd(&d->fd);
		if (p && p->where == m->self)
			close_fd(&p->in_fd); /* the process sees EOF */
		d->gone = 1;
	}
}

/* Holder: a piece of stdin from the home. */
static void sd_on_data(struct mig *m, int peer, const struct wire_stdio *s)
{
	struct stdin_hold *d = sd_find(s->gpid);
	size_t skip;
	int eof;

	if (d && d->epoch != s->epoch && !d->final)
		log_info("gpid %u: stdin from a new stint of node %d (it restarted?)", s->gpid,
			 peer);
	if (d && d->epoch != s->epoch)
		sd_free(d); /* a new stint here: the old one is over */
	else if (d && d->final)
		return; /* that stint ended here; the home has (or will have) the final word */
	if (!d || !d->gpid) {
		struct proc *p = mig_proc(m, s->gpid);
		if (!p || p->kind != P_RESTORED || p->where != m->self || p->home != peer ||
		    p->in_fd < 0)
			return; /* not (or no more) here: the home sends it again */
		d = sd_find(0);
		if (!d)
			return;
		memset(d, 0, sizeof(*d));
		d->fd = fcntl(p->in_fd, F_DUPFD_CLOEXEC, 3);
		if (d->fd < 0) {
			log_warn("gpid %u: stdin pipe: %s", s->gpid, strerror(errno));
			return;
		}
		/* The home keeps at most the window beyond what the process read: a pipe that
		 * large never refuses a write (pend then stays empty). Best effort. */
		(void)fcntl(d->fd, F_SETPIPE_SZ, (int)DEPUTY_STDIN_WINDOW);
		d->gpid = s->gpid;
		d->epoch = s->epoch;
		d->home = peer;
		buf_init(&d->pend);
		relaybuf_rx_init(&d->rx);
		d->rx.delivered = s->ack <= s->offset ? s->ack : 0; /* the read offset so far */
		d->acked = d->acked_rcv = d->rx.delivered;
	}
	if (peer != d->home)
		return;
	switch (relaybuf_rx_accept(&d->rx, s->offset, s->len, s->eof, &skip, &eof)) {
	case RELAYBUF_TAKE:
		if (!d->gone && s->len > skip && buf_put(&d->pend, s->data + skip, s->len - skip)) {
			/* cannot happen: bounded by the home's window */
			log_warn("gpid %u: %zu bytes of stdin dropped: out of memory", d->gpid,
				 s->len - skip);
		}
		d->eof_pend |= eof;
		sd_flush(m, d);
		d->ack_due = 1;
		break;
	case RELAYBUF_DUP:
		d->ack_due = 1;
		break;
	case RELAYBUF_GAP:
		if (mig_now_ms() - d->t_gap >= STDIN_GAP_MS) {
			d->t_gap = mig_now_ms();
			d->resend_due = 1;
		}
		break;
	case RELAYBUF_BAD:
		log_warn("gpid %u: stdin from node %d at impossible offset %llu: dropped", d->gpid,
			 peer, (unsigned long long)s->offset);
		return;
	}
	if (d->home != m->self) { /* at home the turn acknowledges (no nesting in sh_pump) */
		uint64_t r = sd_read_off(d);
		uint8_t f = d->resend_due ? WIRE_STDIO_F_RESEND : 0;
		if (sd_send(m, d, r, f) == 0) {
			d->acked = r;
			d->acked_rcv = d->rx.delivered;
			d->ack_due = d->resend_due = 0;
		}
	}
}

/* Holder: the process left (or ended): its read offset is final. Said to the home now and
 * again until it confirms. */
static void sd_finish(struct mig *m, uint32_t gpid)
{
	struct stdin_hold *d = sd_find(gpid);

	if (!d || d->final)
		return;
	d->final_ack = sd_read_off(d); /* the copy is dead or frozen for good: exact */
	close_fd(&d->fd);
	buf_free(&d->pend);
	d->final = 1;
	d->t_final = d->t_final_first = mig_now_ms();
	uint64_t taken = d->rx.delivered - (d->rx.eof ? 1 : 0);
	if (d->final_ack < taken) /* what its pipe held unread goes to the next holder */
		log_info("gpid %u: stdin: the process read to offset %llu here, %llu bytes it "
			 "did not read go back to node %d",
			 gpid, (unsigned long long)d->final_ack,
			 (unsigned long long)(taken - d->final_ack), d->home);
	int local = d->home == m->self;
	sd_send(m, d, d->final_ack, WIRE_STDIO_F_FINAL);
	if (local)
		sd_free(d);
}

/* Home: tell grun how far it may send (it reads its stdin only that far). */
static void sh_credit(struct mig *m, struct stdin_home *h)
{
	uint64_t lim = h->tx.base + DEPUTY_STDIN_WINDOW;
	struct proc *p;
	struct buf b;

	if (lim <= h->credit || h->tx.eof ||
	    (lim - h->credit < STDIN_CREDIT_STEP && h->tx.end < h->credit))
		return;
	p = mig_proc(m, h->gpid);
	if (!p)
		return;
	h->credit = lim;
	buf_init(&b);
	buf_put_u64(&b, lim);
	mig_client_send(m, p->deputy, DEPUTY_STDIN_CREDIT, &b);
	buf_free(&b);
}

/* Home: the current holder's stint is over (the process left it). */
static void sh_leave(struct mig *m, struct stdin_home *h, double now)
{
	if (h->sent_any && !h->stopped) {
		h->old = h->holder;
		h->old_epoch = h->epoch;
		h->t_await = now;
	}
	int was = h->holder;
	h->holder = 0;
	h->epoch = 0;
	if (was == m->self)
		sd_finish(m, h->gpid); /* its final word comes back at once */
}

static int sh_target(const struct mig *m, const struct proc *p)
{
	if (p->kind == P_REMOTE)
		return p->where;
	if (p->kind == P_RESTORED && p->where == m->self)
		return m->self;
	return 0; /* P_CHILD: its stdin is grun's own */
}

/* Home: follow the process, resend what was lost, send what waits. */
static void sh_pump(struct mig *m, const struct proc *p, struct stdin_home *h, double now)
{
	int target = sh_target(m, p);
	uint64_t off;
	const uint8_t *d;
	size_t n;
	int eof;

	if (h->holder && h->holder != target)
		sh_leave(m, h, now);
	if (h->old && now - h->t_await >= STDIN_FINAL_WAIT_MS) {
		log_warn("gpid %u: node %d never said how much of its stdin the process read: "
			 "sending from offset %llu again (it may read some bytes twice)",
			 h->gpid, h->old, (unsigned long long)h->tx.base);
		h->old = 0;
	}
	if (!h->holder && !h->old && target) {
		h->epoch = mig_relay_epoch(m->self);
		h->holder = target;
		h->sent_any = h->stopped = h->acked_ever = h->legacy = 0;
		h->t_first = 0;
		relaybuf_tx_rewind(&h->tx);
		h->rcv = h->tx.base;
		h->t_progress = now;
	}
	if (!h->holder || h->stopped)
		return;
	if (!h->legacy && h->tx.sent > h->rcv && now - h->t_progress >= STDIN_RESEND_MS) {
		log_debug("gpid %u: stdin from offset %llu not acknowledged by node %d: sending it "
			  "again",
			  h->gpid, (unsigned long long)h->rcv, h->holder);
		relaybuf_tx_rewind_to(&h->tx, h->rcv);
		h->t_progress = now;
	}
	if (!h->legacy && !h->acked_ever && h->t_first && now - h->t_first >= STDIN_LEGACY_MS) {
		log_warn("gpid %u: node %d never acknowledges stdin (an older ssid?): relayed "
			 "without resending from now on",
			 h->gpid, h->holder);
		h->legacy = 1;
		relaybuf_tx_ack(&h->tx, h->tx.sent);
	}
	while (relaybuf_tx_next(&h->tx, STDIN_CHUNK, &off, &d, &n, &eof)) {
		struct wire_stdio s = {.gpid = h->gpid,
				       .stream = 0,
				       .data = n ? d : NULL,
				       .len = n,
				       .eof = (uint8_t)eof,
				       .offset = off,
				       .ack = h->tx.base, /* read so far */
				       .epoch = h->epoch,
				       .flags = WIRE_STDIO_F_OFFSET};
		if (stdin_send(m, h->holder, &s) < 0)
			break;
		if (h->tx.sent == h->rcv) /* nothing was outstanding: the clock starts */
			h->t_progress = now;
		if (!h->t_first)
			h->t_first = now;
		h->sent_any = 1;
		relaybuf_tx_sent(&h->tx, n, eof);
		if (h->legacy)
			relaybuf_tx_ack(&h->tx, h->tx.sent);
	}
	if (h->legacy)
		sh_credit(m, h);
}

/* Home: an acknowledgement (or a final word) from a holder. */
static void sh_on_ack(struct mig *m, int peer, const struct wire_stdio *s)
{
	struct stdin_home *h = sh_find(s->gpid, 0);
	int final = (s->flags & WIRE_STDIO_F_FINAL) != 0;
	int cur = h && peer == h->holder && s->epoch == h->epoch;

	if (final && peer != m->self) { /* confirmed, whatever we make of it */
		struct wire_stdio c = {.gpid = s->gpid,
				       .stream = 0,
				       .epoch = s->epoch,
				       .flags = WIRE_STDIO_F_ACK | WIRE_STDIO_F_FINAL};
		stdin_send(m, peer, &c);
	}
	if (!h || !(cur || (final && h->old && peer == h->old && s->epoch == h->old_epoch)))
		return;
	if (relaybuf_tx_ack(&h->tx, s->ack) < 0)
		log_warn("gpid %u: node %d says its process read %llu bytes of stdin, more than "
			 "were sent: ignored",
			 s->gpid, peer, (unsigned long long)s->ack);
	if (final) {
		/* exact: the copy there is dead; a next holder gets everything above */
		log_debug("gpid %u: node %d's copy read %llu bytes of stdin", s->gpid, peer,
			  (unsigned long long)s->ack);
		if (cur)
			h->stopped = 1; /* that stint is over; a move starts the next one */
		else
			h->old = 0;
		sh_credit(m, h);
		return;
	}
	h->acked_ever = 1;
	if (s->offset > h->rcv) {
		h->rcv = s->offset;
		h->t_progress = mig_now_ms();
	}
	if (s->flags & WIRE_STDIO_F_RESEND) {
		relaybuf_tx_rewind_to(&h->tx, s->offset);
		h->t_progress = mig_now_ms();
	}
	sh_credit(m, h);
}

void mig_stdin_frame(struct mig *m, int peer, const struct wire_stdio *s)
{
	if (!(s->flags & WIRE_STDIO_F_ACK)) {
		sd_on_data(m, peer, s);
	} else if ((int)(s->gpid >> 22) == m->self) {
		sh_on_ack(m, peer, s);
	} else if (s->flags & WIRE_STDIO_F_FINAL) { /* the home confirms our final word */
		struct stdin_hold *d = sd_find(s->gpid);
		if (d && d->final && d->epoch == s->epoch && d->home == peer)
			sd_free(d);
	}
}

void mig_stdin_put(struct mig *m, struct proc *p, uint8_t eof, const uint8_t *d, size_t n)
{
	struct stdin_home *h = sh_find(p->gpid, 1);
	int e = h ? relaybuf_tx_append(&h->tx, d, n) : -ENOMEM;

	if (e < 0 && n)
		log_warn("gpid %u: %zu bytes of stdin from its deputy lost: %s", p->gpid, n,
			 e == -ENOBUFS ? "beyond the credit it was given" : strerror(-e));
	if (!h)
		return;
	if (eof)
		relaybuf_tx_close(&h->tx);
	sh_pump(m, p, h, mig_now_ms());
}

/* The relay forgets p: at home its stdin goes, unless the record is only being rebuilt
 * (the copy here left: p->mig) — then the copy's final word is taken now. */
void mig_stdin_forget(struct mig *m, const struct proc *p)
{
	if (p->home != m->self) {
		sd_finish(m, p->gpid);
		return;
	}
	struct stdin_home *h = sh_find(p->gpid, 0);
	if (h && p->mig && p->kind == P_RESTORED && p->where == m->self) {
		if (h->holder == m->self)
			sh_leave(m, h, mig_now_ms());
		return;
	}
	struct stdin_hold *d = sd_find(p->gpid);
	if (d)
		sd_free(d);
	if (h) {
		relaybuf_tx_free(&h->tx);
		memset(h, 0, sizeof(*h));
	}
}

/* Every turn: homes follow their processes; holders write, acknowledge, repeat final words.
 * *fast: stdin is flowing (the read offset moves between events: poll it often). */
void mig_stdin_turn(struct mig *m, int *busy, int *fast)
{
	double now = mig_now_ms();

	for (int i = 0; i < MIG_MAX_PROCS; i++) {
		struct stdin_home *h = &stdin_homes[i];
		if (!h->gpid)
			continue;
		const struct proc *p = mig_proc(m, h->gpid);
		if (!p) {
			relaybuf_tx_free(&h->tx);
			memset(h, 0, sizeof(*h));
			continue;
		}
		sh_pump(m, p, h, now);
		*busy |= h->old || (h->holder && h->tx.sent > h->rcv);
	}
	for (int i = 0; i < MIG_MAX_PROCS; i++) {
		struct stdin_hold *d = &stdin_holds[i];
		if (!d->gpid)
			continue;
		if (d->final) {
			if (now - d->t_final_first >= STDIN_FINAL_KEEP_MS) {
				sd_free(d);
			} else if (now - d->t_final >= STDIN_RESEND_MS) {
				d->t_final = now;
				sd_send(m, d, d->final_ack, WIRE_STDIO_F_FINAL);
			}
			*busy = 1;
			continue;
		}
		sd_flush(m, d);
		uint64_t r = sd_read_off(d);
		if (r != d->acked || d->rx.delivered != d->acked_rcv || d->ack_due ||
		    d->resend_due) {
			*fast |= r != d->acked || buf_avail(&d->pend);
			if (sd_send(m, d, r, d->resend_due ? WIRE_STDIO_F_RESEND : 0) == 0) {
				d->acked = r;
				d->acked_rcv = d->rx.delivered;
				d->ack_due = d->resend_due = 0;
			}
		}
		*busy |= r < d->rx.delivered - (d->rx.eof && !d->gone ? 1 : 0);
	}
}
