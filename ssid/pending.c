/*
 * pending.c - outstanding peer requests and their replies (pending.h).
 *
 * A short singly linked list under one mutex: a daemon has a handful of requests in flight
 * (one per peer for a table fetch, one per signal), so a linear search is the cheap choice.
 */
#include "ssid/pending.h"
#include "ssid/ssierr.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_MAX (16u << 20)

struct pending {
	pthread_mutex_t lock;
	pthread_cond_t cond;	  /* CLOCK_MONOTONIC; broadcast on every completion */
	struct pending_req *head; /* lock */
	uint32_t next_id;	  /* lock; never 0 */
};

int pending_new(struct pending **out)
{
	pthread_condattr_t ca;
	struct pending *p = calloc(1, sizeof(*p));

	*out = NULL;
	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cond, &ca);
	pthread_condattr_destroy(&ca);
	p->next_id = 1;
	*out = p;
	return 0;
}

void pending_free(struct pending *p)
{
	if (!p)
		return;
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p);
}

void pending_add(struct pending *p, struct pending_req *r, int peer)
{
	size_t max = r->max ? r->max : DEFAULT_MAX;

	pthread_mutex_lock(&p->lock);
	r->peer = peer;
	r->done = 0;
	r->err = 0;
	r->value = 0;
	buf_init(&r->data);
	buf_set_max(&r->data, max);
	r->reqid = p->next_id++;
	if (!p->next_id)
		p->next_id = 1;
	r->next = p->head;
	p->head = r;
	pthread_mutex_unlock(&p->lock);
}

void pending_del(struct pending *p, struct pending_req *r)
{
	pthread_mutex_lock(&p->lock);
	for (struct pending_req **pp = &p->head; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	r->next = NULL;
	pthread_mutex_unlock(&p->lock);
}

static struct pending_req *find(struct pending *p, uint32_t reqid, int peer)
{
	for (struct pending_req *r = p->head; r; r = r->next)
		if (r->reqid == reqid && r->peer == peer && !r->done)
			return r;
	return NULL;
}

int pending_deliver(struct pending *p, uint32_t reqid, int peer, const void *data, size_t len,
		    int last, int32_t value)
{
	struct pending_req *r;
	int ret = 0;

	pthread_mutex_lock(&p->lock);
	r = find(p, reqid, peer);
	if (!r) {
		ret = -ENOENT;
	} else {
		if (len && !r->err) {
			int e = buf_put(&r->data, data, len);
			if (e < 0) {
				/* Over the limit: keep reading frames, answer with the error. */
				r->err = e;
				buf_reset(&r->data);
			}
		}
		if (last) {
			r->value = value;
			r->done = 1;
			pthread_cond_broadcast(&p->cond);
		}
	}
	pthread_mutex_unlock(&p->lock);
	return ret;
}

int pending_fail(struct pending *p, uint32_t reqid, int peer, int err)
{
	struct pending_req *r;

	pthread_mutex_lock(&p->lock);
	r = find(p, reqid, peer);
	if (r) {
		r->err = err;
		r->done = 1;
		pthread_cond_broadcast(&p->cond);
	}
	pthread_mutex_unlock(&p->lock);
	return r ? 0 : -ENOENT;
}

static size_t count_done(struct pending_req *const *reqs, size_t n)
{
	size_t d = 0;

	for (size_t i = 0; i < n; i++)
		d += reqs[i]->done != 0;
	return d;
}

size_t pending_wait(struct pending *p, struct pending_req *const *reqs, size_t n,
		    int64_t deadline_ms)
{
	struct timespec ts = {.tv_sec = deadline_ms / 1000,
			      .tv_nsec = (long)(deadline_ms % 1000) * 1000000L};
	size_t d;

	pthread_mutex_lock(&p->lock);
	while ((d = count_done(reqs, n)) < n)
		if (pthread_cond_timedwait(&p->cond, &p->lock, &ts) == ETIMEDOUT)
			break;
	d = count_done(reqs, n);
	pthread_mutex_unlock(&p->lock);
	return d;
}
