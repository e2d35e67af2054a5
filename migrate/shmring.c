/*
 * shmring.c - single-producer single-consumer byte ring in shared memory (see shmring.h).
 *
 * Owns: one memfd mapped as [header page][data][data again], head/tail counters that only
 * grow (free-running u64, index = counter & (cap - 1)), the close states, and the wake-up
 * protocol. Does not: know what the bytes are.
 * Sleeping without a lost wake-up: the sleeper stores what it needs, raises its wait flag
 * (seq_cst), checks the condition once more, and only then polls its pipe; the other side
 * publishes its counter, then (seq_cst) reads the flag and writes one byte if it is raised
 * and the need is met. A side that never sleeps never makes a system call.
 */
#include "migrate/shmring.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* The shared header: the counters on separate cache lines (each side writes one). */
struct hdr {
	_Atomic uint64_t head; /* bytes ever committed (producer writes) */
	char pad0[56];
	_Atomic uint64_t tail; /* bytes ever consumed (consumer writes) */
	char pad1[56];
	_Atomic int pstate;	/* 0 open, 1 clean end, < 0 producer's error */
	_Atomic int cgone;	/* 1: the consumer aborted */
	_Atomic int cwait;	/* 1: the consumer sleeps on the data pipe */
	_Atomic int pwait;	/* 1: the producer sleeps on the space pipe */
	_Atomic uint64_t cwant; /* bytes the sleeping consumer needs */
	_Atomic uint64_t pwant; /* free bytes the sleeping producer needs */
};

struct shmring {
	struct hdr *h;
	uint8_t *data; /* cap bytes, mapped twice in a row */
	size_t cap;    /* power of two */
	size_t maplen; /* whole reservation */
	int data_rd;   /* consumer sleeps here; producer holds data_wr */
	int data_wr;
	int space_rd; /* producer sleeps here; consumer holds space_wr */
	int space_wr;
	int dead; /* this side saw the other process gone (pipe closed) */
};

_Static_assert(sizeof(struct hdr) <= 4096, "header fits its page");

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int shmring_create(size_t cap, struct shmring **out)
{
	size_t c = SHMRING_MIN_CAP, pg = (size_t)sysconf(_SC_PAGESIZE);
	struct shmring *r;
	int mfd = -1, p1[2] = {-1, -1}, p2[2] = {-1, -1}, e;
	uint8_t *base = MAP_FAILED;

	*out = NULL;
	while (c < cap && c < SHMRING_MAX_CAP)
		c <<= 1;
	if (pg < 4096 || c % pg)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->cap = c;
	r->maplen = pg + 2 * c;
	mfd = memfd_create("ssi-shmring", MFD_CLOEXEC);
	if (mfd < 0 || ftruncate(mfd, (off_t)(pg + c)) < 0 ||
	    pipe2(p1, O_CLOEXEC | O_NONBLOCK) < 0 || pipe2(p2, O_CLOEXEC | O_NONBLOCK) < 0)
		goto fail;
	base = mmap(NULL, r->maplen, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		goto fail;
	if (mmap(base, pg + c, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, mfd, 0) ==
		    MAP_FAILED ||
	    mmap(base + pg + c, c, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, mfd,
		 (off_t)pg) == MAP_FAILED)
		goto fail;
	close(mfd);
	r->h = (struct hdr *)(void *)base;
	r->data = base + pg;
	r->data_rd = p1[0];
	r->data_wr = p1[1];
	r->space_rd = p2[0];
	r->space_wr = p2[1];
	*out = r;
	return 0;
fail:
	e = -errno;
	if (base != MAP_FAILED)
		munmap(base, r->maplen);
	if (mfd >= 0)
		close(mfd);
	for (int i = 0; i < 2; i++) {
		if (p1[i] >= 0)
			close(p1[i]);
		if (p2[i] >= 0)
			close(p2[i]);
	}
	free(r);
	return e ? e : -ENOMEM;
}

size_t shmring_cap(const struct shmring *r)
{
	return r->cap;
}

static int move_fd(int *fd, int to)
{
	if (*fd == to)
		return 0;
	if (dup3(*fd, to, O_CLOEXEC) < 0)
		return -errno;
	close(*fd);
	*fd = to;
	return 0;
}

int shmring_set_role(struct shmring *r, enum shmring_role role, int fd_base)
{
	int *a, *b;

	if (role == SHMRING_PRODUCER) {
		close_fd(&r->data_rd);
		close_fd(&r->space_wr);
		a = &r->data_wr;
		b = &r->space_rd;
	} else {
		close_fd(&r->data_wr);
		close_fd(&r->space_rd);
		a = &r->data_rd;
		b = &r->space_wr;
	}
	if (fd_base < 0)
		return 0;
	/* b may sit at fd_base already: move it out of the way first */
	if (*b == fd_base) {
		int t = fcntl(*b, F_DUPFD_CLOEXEC, fd_base + 2);
		if (t < 0)
			return -errno;
		close(*b);
		*b = t;
	}
	int e = move_fd(a, fd_base);
	return e ? e : move_fd(b, fd_base + 1);
}

void shmring_free(struct shmring *r)
{
	if (!r)
		return;
	munmap(r->h, r->maplen);
	close_fd(&r->data_rd);
	close_fd(&r->data_wr);
	close_fd(&r->space_rd);
	close_fd(&r->space_wr);
	free(r);
}

static void poke(int fd)
{
	ssize_t n;
	do
		n = write(fd, "", 1); /* a full pipe already holds a wake-up: fine */
	while (n < 0 && errno == EINTR);
}

/* Sleep on fd up to timeout_ms. 0 woken (or spurious), -ETIMEDOUT, -EPIPE the other side's
 * pipe end is closed (it died or shut its side). The pipe is drained. */
static int sleep_on(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	uint8_t b[64];
	int n;

	do
		n = poll(&p, 1, timeout_ms);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ETIMEDOUT;
	for (;;) {
		ssize_t k = read(fd, b, sizeof(b));
		if (k > 0)
			continue;
		if (k == 0)
			return -EPIPE;
		if (errno == EINTR)
			continue;
		return 0; /* EAGAIN: drained */
	}
}

/* ---- producer ---- */

static size_t space(struct shmring *r)
{
	return r->cap - (size_t)(atomic_load_explicit(&r->h->head, memory_order_relaxed) -
				 atomic_load_explicit(&r->h->tail, memory_order_acquire));
}

int shmring_wait_space(struct shmring *r, size_t want, int timeout_ms)
{
	struct hdr *h = r->h;

	if (want > r->cap)
		want = r->cap;
	for (;;) {
		if (atomic_load(&h->cgone) || r->dead)
			return -EPIPE;
		if (space(r) >= want)
			return 0;
		atomic_store(&h->pwant, want);
		atomic_store(&h->pwait, 1);
		if (space(r) >= want || atomic_load(&h->cgone)) {
			atomic_store(&h->pwait, 0);
			continue;
		}
		int e = sleep_on(r->space_rd, timeout_ms);
		atomic_store(&h->pwait, 0);
		if (e == -EPIPE)
			r->dead = 1;
		else if (e < 0)
			return e;
	}
}

uint8_t *shmring_wptr(struct shmring *r, size_t *room)
{
	uint64_t hd = atomic_load_explicit(&r->h->head, memory_order_relaxed);
	*room = space(r);
	return r->data + (hd & (r->cap - 1));
}

void shmring_commit(struct shmring *r, size_t n)
{
	struct hdr *h = r->h;
	uint64_t hd = atomic_load_explicit(&h->head, memory_order_relaxed) + n;

	atomic_store_explicit(&h->head, hd, memory_order_release);
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load(&h->cwait) &&
	    hd - atomic_load_explicit(&h->tail, memory_order_relaxed) >= atomic_load(&h->cwant) &&
	    atomic_exchange(&h->cwait, 0))
		poke(r->data_wr);
}

int shmring_write(struct shmring *r, const void *p, size_t n)
{
	const uint8_t *s = p;

	while (n > 0) {
		size_t room;
		/* a quarter of the ring at most: see the deadlock rule in shmring.h */
		int e = shmring_wait_space(r, n < r->cap / 4 ? n : r->cap / 4, -1);
		if (e < 0)
			return e;
		uint8_t *d = shmring_wptr(r, &room);
		size_t k = n < room ? n : room;
		memcpy(d, s, k);
		shmring_commit(r, k);
		s += k;
		n -= k;
	}
	return 0;
}

void shmring_close(struct shmring *r, int err)
{
	int zero = 0;

	atomic_compare_exchange_strong(&r->h->pstate, &zero, err < 0 ? err : 1);
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_exchange(&r->h->cwait, 0) && r->data_wr >= 0)
		poke(r->data_wr);
}

/* ---- consumer ---- */

static size_t avail(struct shmring *r)
{
	return (size_t)(atomic_load_explicit(&r->h->head, memory_order_acquire) -
			atomic_load_explicit(&r->h->tail, memory_order_relaxed));
}

int shmring_wait_data(struct shmring *r, size_t want, int timeout_ms)
{
	struct hdr *h = r->h;

	if (want > r->cap)
		want = r->cap;
	for (;;) {
		if (avail(r) >= want || atomic_load(&h->pstate) || r->dead)
			return 0;
		atomic_store(&h->cwant, want);
		atomic_store(&h->cwait, 1);
		if (avail(r) >= want || atomic_load(&h->pstate)) {
			atomic_store(&h->cwait, 0);
			continue;
		}
		int e = sleep_on(r->data_rd, timeout_ms);
		atomic_store(&h->cwait, 0);
		if (e == -EPIPE)
			r->dead = 1; /* the producer's bytes stay readable; state says -EPIPE */
		else if (e < 0)
			return e;
	}
}

const uint8_t *shmring_rptr(struct shmring *r, size_t *n)
{
	*n = avail(r);
	return r->data + (atomic_load_explicit(&r->h->tail, memory_order_relaxed) & (r->cap - 1));
}

void shmring_consume(struct shmring *r, size_t n)
{
	struct hdr *h = r->h;
	uint64_t t = atomic_load_explicit(&h->tail, memory_order_relaxed) + n;

	atomic_store_explicit(&h->tail, t, memory_order_release);
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load(&h->pwait) &&
	    r->cap - (atomic_load_explicit(&h->head, memory_order_relaxed) - t) >=
		    atomic_load(&h->pwant) &&
	    atomic_exchange(&h->pwait, 0))
		poke(r->space_wr);
}

int shmring_state(struct shmring *r)
{
	int s = atomic_load(&r->h->pstate);

	if (s == 0 && r->dead)
		return -EPIPE;
	return s;
}

ssize_t shmring_read(struct shmring *r, void *p, size_t n)
{
	size_t k;
	const uint8_t *s;

	if (n == 0)
		return 0;
	for (;;) {
		int e = shmring_wait_data(r, 1, -1);
		if (e < 0)
			return e;
		s = shmring_rptr(r, &k);
		if (k > 0)
			break;
		e = shmring_state(r);
		if (e != 0)
			return e > 0 ? 0 : e;
	}
	if (k > n)
		k = n;
	memcpy(p, s, k);
	shmring_consume(r, k);
	return (ssize_t)k;
}

void shmring_abort(struct shmring *r)
{
	atomic_store(&r->h->cgone, 1);
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_exchange(&r->h->pwait, 0) && r->space_wr >= 0)
		poke(r->space_wr);
}
