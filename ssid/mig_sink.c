/*
 * mig_sink.c - the destination's sinks: where a move's image arrives on its way into the
 * restore worker's ring (mig_stream.c forks the worker, mig_sink_open() gives it a sink).
 * Either MIG_STREAM chunks from link threads (mig_sink_write: straight into the ring when it
 * has room, else queued for the sink's writer thread, so that a link thread never waits on
 * the restore), or the image channel's receiver (mig_imgch.c), which takes the ring for
 * itself once its connection authenticated (mig_sink_direct). Never both: the first byte
 * decides (enum sink_path).
 *
 * Threads: the sink table is m->qlock's; each writer's queue its own mutex.
 */
#include "migrate/shmring.h"
#include "ssid/mig_int.h"
#include "ssid/ssierr.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

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
	int closing;		  /* mu: no more chunks; close the ring once written */
	int dead;		  /* mu: the ring failed (restore gone): drop everything */
	int refs;		  /* mu: the sink slot, the thread, link threads inside write */
	int busy;		  /* mu: the thread is copying a chunk into the ring */
	struct shmring *ring;	  /* producer side; a link thread copies into it directly
				   * under mu when nothing is queued or busy and it has room */
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
	shmring_free(w->ring);
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
		w->busy = 1;
		pthread_mutex_unlock(&w->mu);
		int bad = 0;
		size_t cap = shmring_cap(w->ring);
		for (size_t done = 0, room; done < c->len && !bad;) {
			size_t n = c->len - done;
			int e = shmring_wait_space(w->ring, n < cap / 4 ? n : cap / 4, 200);
			if (e == -ETIMEDOUT) {
				/* the restore waits (on /gfs?): dropped meanwhile? */
				pthread_mutex_lock(&w->mu);
				bad = w->dead;
				pthread_mutex_unlock(&w->mu);
				continue;
			}
			if (e < 0) {
				bad = 1;
				break;
			}
			uint8_t *d = shmring_wptr(w->ring, &room);
			n = n < room ? n : room;
			memcpy(d, c->data + done, n);
			shmring_commit(w->ring, n);
			done += n;
		}
		pthread_mutex_lock(&w->mu);
		w->busy = 0;
		w->bytes -= c->len;
		w->dead |= bad;
		free(c);
		pthread_cond_broadcast(&w->cv);
	}
	w->dead = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	shmring_close(w->ring, 0); /* the end (or a short image) for the restore */
	sw_unref(w);
	return NULL;
}

/* Start the writer for ring (it takes ring). NULL if no memory or thread. */
static struct sink_writer *sw_start(struct shmring *ring)
{
	struct sink_writer *w = calloc(1, sizeof(*w));
	pthread_attr_t at;
	pthread_t th;

	if (!w)
		return NULL;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->ring = ring;
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

/* A link thread: copy the chunk straight into the ring when nothing is queued before it
 * and it fits now (the usual case: restoring is faster than the link). Never waits. w->mu
 * held. 1 done, 0 not (queue it), -EPIPE the restore is gone. */
static int sw_direct(struct sink_writer *w, const struct wire_mig_stream *s)
{
	size_t room;
	if (w->h || w->busy)
		return 0;
	uint8_t *d = shmring_wptr(w->ring, &room);
	if (room < s->len)
		return 0;
	int e = shmring_wait_space(w->ring, s->len, 0); /* room: only checks for an abort */
	if (e == -EPIPE)
		return e;
	if (e < 0)
		return 0;
	memcpy(d, s->data, s->len);
	shmring_commit(w->ring, s->len);
	return 1;
}

/* The sink k ends (qlock held): its receiver stops, its writer closes the ring once written
 * (drop: at once, the restore fails on the short image), the slot is free. */
static void sink_end(struct sink *k, int drop)
{
	if (k->rx)
		mig_imgrx_stop(k->rx);
	sw_end(k->w, drop);
	*k = (struct sink){.fd = -1};
}

static struct sink *sink_find(struct mig *m, uint64_t id)
{
	for (int i = 0; i < MIG_MAX_SINKS; i++)
		if (m->sinks[i].fd >= 0 && m->sinks[i].mig_id == id)
			return &m->sinks[i];
	return NULL;
}

int mig_sink_write(struct mig *m, const struct wire_mig_stream *s)
{
	struct sink_writer *w = NULL;
	struct sink *k = NULL;
	struct sink_chunk *c = NULL;
	int e = 0;

	pthread_mutex_lock(&m->qlock);
	k = sink_find(m, s->mig_id);
	if (k && (s->seq != k->next_seq || k->path == SINK_DIRECT))
		e = SSI_E_CORRUPT; /* a gap, or the image comes on its channel: cannot go on */
	if (k && !e && k->path == SINK_UNDECIDED) { /* the source could not connect */
		k->path = SINK_SSH;
		if (k->rx)
			mig_imgrx_stop(k->rx);
		k->rx = NULL;
	}
	if (k) {
		w = k->w;
		pthread_mutex_lock(&w->mu);
		w->refs++;
		if (!e && w->dead)
			e = -EPIPE;
		int done = e ? 0 : sw_direct(w, s);
		if (done < 0)
			e = done;
		if (!e && !done && w->bytes + s->len > SINK_HARD_CAP)
			e = -ENOBUFS; /* the restore is stuck: give up rather than grow */
		if (!e && !done && !(c = malloc(sizeof(*c) + s->len)))
			e = -ENOMEM;
		if (!e && !done) {
			c->next = NULL;
			c->len = s->len;
			memcpy(c->data, s->data, s->len);
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
		if (s->last || e)
			sink_end(k, e != 0);
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
	struct sink *k;

	pthread_mutex_lock(&m->qlock);
	while ((k = sink_find(m, id)))
		sink_end(k, 1);
	pthread_mutex_unlock(&m->qlock);
}

void mig_sink_close_all(struct mig *m)
{
	pthread_mutex_lock(&m->qlock);
	for (int i = 0; i < MIG_MAX_SINKS; i++)
		if (m->sinks[i].fd >= 0)
			sink_end(&m->sinks[i], 1);
	pthread_mutex_unlock(&m->qlock);
}

struct shmring *mig_sink_direct(struct mig *m, uint64_t id, struct sink_writer **ref)
{
	struct shmring *ring = NULL;
	struct sink *k;

	*ref = NULL;
	pthread_mutex_lock(&m->qlock);
	k = sink_find(m, id);
	if (k && k->path != SINK_SSH) {
		k->path = SINK_DIRECT;
		*ref = k->w;
		pthread_mutex_lock(&k->w->mu);
		k->w->refs++;
		ring = k->w->ring;
		pthread_mutex_unlock(&k->w->mu);
	}
	pthread_mutex_unlock(&m->qlock);
	return ring;
}

void mig_sink_direct_end(struct mig *m, uint64_t id, struct sink_writer *ref, int drop)
{
	struct sink *k;

	pthread_mutex_lock(&m->qlock);
	k = sink_find(m, id);
	if (k && k->w == ref)
		sink_end(k, drop);
	pthread_mutex_unlock(&m->qlock);
	sw_unref(ref);
}

int mig_sink_attach_rx(struct mig *m, uint64_t id, struct imgrx *rx)
{
	struct sink *k;
	int e = -ENOENT;

	pthread_mutex_lock(&m->qlock);
	k = sink_find(m, id);
	if (k && k->path == SINK_UNDECIDED && !k->rx) {
		k->rx = rx;
		e = 0;
	}
	pthread_mutex_unlock(&m->qlock);
	return e;
}

int mig_sink_open(struct mig *m, uint64_t id, struct shmring *ring)
{
	struct sink_writer *sw = sw_start(ring);
	int i = 0;

	if (!sw) {
		shmring_close(ring, -ENOMEM);
		shmring_free(ring);
		return -ENOMEM;
	}
	pthread_mutex_lock(&m->qlock);
	for (; i < MIG_MAX_SINKS && m->sinks[i].fd >= 0; i++)
		;
	if (i < MIG_MAX_SINKS)
		m->sinks[i] = (struct sink){.mig_id = id, .fd = 1, .next_seq = 0, .w = sw};
	pthread_mutex_unlock(&m->qlock);
	if (i == MIG_MAX_SINKS) {
		sw_end(sw, 1);
		return -EBUSY;
	}
	return 0;
}
