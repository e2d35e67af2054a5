/*
 * mig_imgch.c - the daemon's side of the image channel (migrate/imgchan.h): a move's image on
 * a TCP connection of its own instead of MIG_STREAM frames inside the SSH link, which costs
 * libssh 0.10 about a millisecond of CPU per MiB. The destination listens on its node's
 * address for each incoming move and sends port, key and salt in MIG_ACCEPT (inside the SSH
 * link: only the peer daemon, proven by its node key, learns the key); the source's stream
 * thread connects before the freeze and seals the chunks in place (mig_stream.c).
 *
 * Here: the receiver thread (accept, records straight into the sink's ring, a PROGRESS event
 * per record as a MIG_STREAM frame gives one) and the source's connect. Either end falls
 * back to the SSH link: a source that cannot connect streams MIG_STREAM as before, and the
 * sink's first such frame stops the receiver (mig_sink_write). Control (READY, commit)
 * never leaves the SSH link; a failed channel fails the move before READY, never after.
 */
#include "migrate/imgchan.h"
#include "ssid/cluster.h"
#include "ssid/config.h"
#include "ssid/link.h"
#include "ssid/log.h"
#include "ssid/mig_int.h"
#include "ssid/ssierr.h"

#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How long the destination waits for the source's connection. Not an error when it never
 * comes: the source streams over the SSH link then (its first frame stops the wait), or the
 * move fails by the protocol's own time-outs (the sink's end stops it). */
#define IMGRX_ACCEPT_MS	 60000
#define IMGTX_CONNECT_MS 3000
/* After a failed connect to a node (a firewall that drops, say), its moves go over the SSH
 * link for this long without trying again: a dropping firewall would cost every move the
 * connect time-out. */
#define IMGTX_RETRY_MS	 300000
#define IMGTX_NODES	 512

static _Atomic int64_t tx_failed_at[IMGTX_NODES]; /* cluster_mono_ms() of the last failure */

struct imgrx {
	atomic_int refs; /* the sink slot and the thread */
	volatile int cancel;
	struct mig *m;
	uint64_t id;
	int src;     /* the source node: a test's cut of it (link_fault_is_cut) stops us too */
	int lfd;     /* listening socket; the thread closes it once accepted */
	int idle_ms; /* no byte for this long: the channel failed */
	struct imgseal_key key;
};

static void rx_unref(struct imgrx *rx)
{
	if (atomic_fetch_sub(&rx->refs, 1) != 1)
		return;
	if (rx->lfd >= 0)
		close(rx->lfd);
	explicit_bzero(&rx->key, sizeof(rx->key));
	free(rx);
}

void mig_imgrx_stop(struct imgrx *rx)
{
	rx->cancel = 1; /* every wait of imgchan.h looks at it within 100 ms */
	rx_unref(rx);
}

/* As a MIG_STREAM frame's arrival does (mig.c on_wire): progress or failure of the move. */
static void rx_post(struct imgrx *rx, int err, uint32_t len, int last, const char *why)
{
	struct mig_ev *ev = calloc(1, sizeof(*ev));

	if (!ev)
		return;
	ev->kind = EVK_PROTO;
	ev->role = MIGPROTO_DEST;
	ev->mig_id = rx->id;
	ev->dctl = -1;
	ev->pev = err < 0 ? MIGPROTO_EV_RESTORE_FAILED : MIGPROTO_EV_PROGRESS;
	ev->err = err;
	ev->last_ms = mig_now_ms();
	ev->bytes = len;
	ev->eof = (uint8_t)last;
	if (why)
		snprintf(ev->reason, sizeof(ev->reason), "%s", why);
	mig_post(rx->m, ev);
}

static void *rx_thread(void *a)
{
	struct imgrx *rx = a;
	struct sink_writer *w = NULL;
	struct imgseal *seal = NULL;
	struct shmring *ring;
	char err[300], why[400];
	uint32_t len = 0;
	uint8_t flags = 0;
	int fd, e = 0;

	fd = imgchan_accept(rx->lfd, rx->id, IMGRX_ACCEPT_MS, &rx->cancel, err, sizeof(err));
	close(rx->lfd);
	rx->lfd = -1;
	if (fd < 0) {
		if (!rx->cancel)
			log_info("migration %llx: no image channel from node %d (%s): waiting for "
				 "the image over the SSH link",
				 (unsigned long long)rx->id, rx->src, err);
		goto out;
	}
	ring = mig_sink_direct(rx->m, rx->id, &w);
	if (!ring) /* the image came over the SSH link meanwhile, or the move is over */
		goto out;
	log_info("migration %llx: the image comes from node %d on the image channel",
		 (unsigned long long)rx->id, rx->src);
	if (imgseal_new(&seal, &rx->key, rx->id, 0) < 0) {
		e = -ENOMEM;
		snprintf(err, sizeof(err), "no memory for the cipher");
	}
	while (!e) {
		if (link_fault_is_cut(rx->src)) {
			e = -ENOTCONN;
			snprintf(err, sizeof(err), "link to node %d cut", rx->src);
			break;
		}
		e = imgchan_recv_ring(fd, seal, ring, rx->idle_ms, &rx->cancel, &len, &flags, err,
				      sizeof(err));
		if (e < 0)
			break;
		if (flags & IMGSEAL_F_LAST)
			break;
		rx_post(rx, 0, len, 0, NULL);
	}
	mig_sink_direct_end(rx->m, rx->id, w, e < 0); /* the ring's end for the restore */
	if (e < 0 && !rx->cancel) {
		snprintf(why, sizeof(why), "image channel from node %d: %s", rx->src, err);
		log_warn("migration %llx: %s", (unsigned long long)rx->id, why);
		rx_post(rx, e, 0, 0, why);
	} else if (!e) {
		rx_post(rx, 0, len, 1, NULL); /* the last record: after the ring's end */
	}
out:
	imgseal_free(seal);
	if (fd >= 0)
		close(fd);
	struct mig *m = rx->m;
	rx_unref(rx);
	atomic_fetch_sub(&m->rx_live, 1); /* the last touch of m (mig_free waits for it) */
	return NULL;
}

void mig_imgrx_start(struct mig *m, struct mach *k)
{
	struct imgrx *rx;
	pthread_attr_t at;
	pthread_t th;
	char err[300];
	uint16_t port = 0;
	int e;

	k->img_port = 0;
	if (!m->cfg->mig_image_direct)
		return;
	rx = calloc(1, sizeof(*rx));
	if (!rx)
		return;
	*rx = (struct imgrx){.m = m,
			     .id = k->p.mig_id,
			     .src = k->p.src,
			     .lfd = -1,
			     .idle_ms = (int)k->p.conf.stream_idle_ms};
	atomic_init(&rx->refs, 2);
	e = imgseal_key_new(&rx->key);
	if (e < 0)
		snprintf(err, sizeof(err), "no random key: %s", strerror(-e));
	else if ((e = rx->lfd = imgchan_listen(m->cfg->listen_host, &port, err, sizeof(err))) >= 0)
		e = 0;
	if (!e) {
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		atomic_fetch_add(&m->rx_live, 1);
		e = -pthread_create(&th, &at, rx_thread, rx);
		pthread_attr_destroy(&at);
		if (e) {
			atomic_fetch_sub(&m->rx_live, 1);
			snprintf(err, sizeof(err), "no thread: %s", strerror(-e));
		}
	}
	if (e) {
		log_warn("migration %llx: no image channel (%s): the image comes over the SSH link",
			 (unsigned long long)k->p.mig_id, err);
		rx->refs = 1;
		rx_unref(rx);
		return;
	}
	if (mig_sink_attach_rx(m, k->p.mig_id, rx) < 0) {
		mig_imgrx_stop(rx); /* no sink (cannot happen right after the spawn) */
		return;
	}
	k->img_port = port;
	k->img_key = rx->key;
}

int mig_imgtx_connect(struct mig *m, uint64_t id, int dst, uint16_t port, char *why, size_t whylen)
{
	char host[256];
	int64_t now = cluster_mono_ms(),
		failed = dst > 0 && dst < IMGTX_NODES ? atomic_load(&tx_failed_at[dst]) : 0;

	if (failed && now - failed < IMGTX_RETRY_MS) {
		snprintf(why, whylen,
			 "not tried: connecting failed %lld s ago (tried again after %d s)",
			 (long long)((now - failed) / 1000), IMGTX_RETRY_MS / 1000);
		return -1;
	}
	if (cluster_peer_host(m->c, dst, host, sizeof(host)) < 0) {
		snprintf(why, whylen,
			 "node %d's address is not known (it listens on every address "
			 "and is not in [peers])",
			 dst);
		return -1;
	}
	int fd = -1;
	if (mig_fault_peer("mig.image_channel", "src", dst) != FAULT_NONE) /* as if refused */
		snprintf(why, whylen, "fault injected at mig.image_channel");
	else
		fd = imgchan_connect(host, port, id, IMGTX_CONNECT_MS, why, whylen);
	if (dst > 0 && dst < IMGTX_NODES)
		atomic_store(&tx_failed_at[dst], fd < 0 ? (now ? now : 1) : 0);
	return fd < 0 ? -1 : fd;
}

void mig_imgch_pack(uint16_t port, const struct imgseal_key *k, struct wire_mig_accept *a)
{
	uint64_t hi, lo;
	uint32_t salt;

	memcpy(&hi, k->key, 8);
	memcpy(&lo, k->key + 8, 8);
	memcpy(&salt, k->salt, 4);
	a->img_port = port;
	a->img_key_hi = be64toh(hi);
	a->img_key_lo = be64toh(lo);
	a->img_salt = be32toh(salt);
}

uint16_t mig_imgch_unpack(const struct wire_mig_accept *a, struct imgseal_key *k)
{
	uint64_t hi = htobe64(a->img_key_hi), lo = htobe64(a->img_key_lo);
	uint32_t salt = htobe32(a->img_salt);

	memcpy(k->key, &hi, 8);
	memcpy(k->key + 8, &lo, 8);
	memcpy(k->salt, &salt, 4);
	return a->img_port;
}
