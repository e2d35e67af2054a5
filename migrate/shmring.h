/*
 * shmring.h - a byte ring in shared memory between two processes (or threads): one producer,
 * one consumer, no system call per transfer. It carries a migration's image from the
 * checkpoint child to the daemon's stream thread and from the daemon's sink to the restore
 * worker, in place of pipes (each pipe byte was copied twice through kernel pages).
 *
 * Owns: the mapping, the head/tail counters (C11 atomics in the shared header), the EOF and
 * error states, and two wake-up pipes used only when a side sleeps. The pipes also tell a
 * side that the other process died (every write end closed): a dead producer without an
 * explicit close is an error (-EPIPE), never an EOF.
 * Does not: frame, checksum or interpret the bytes; serialise several producers or several
 * consumers (the caller does: exactly one thread at a time on each side).
 * Assumes: created before fork(); afterwards each process calls shmring_set_role() once.
 * The data area is mapped twice back to back, so every readable or writable span is one
 * contiguous pointer range (no split at the wrap-around).
 * Deadlock rule: a producer waiting for W free bytes and a consumer waiting for D readable
 * bytes both sleep for ever when W + D > cap; keep W + D <= cap (shmring_write() waits for at
 * most cap / 4, so a consumer may ask for up to 3 / 4 of the ring).
 */
#ifndef SSI_MIGRATE_SHMRING_H
#define SSI_MIGRATE_SHMRING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SHMRING_MIN_CAP (64u << 10)
#define SHMRING_MAX_CAP (256u << 20)

enum shmring_role {
	SHMRING_PRODUCER = 1,
	SHMRING_CONSUMER = 2,
};

/* Opaque; the struct is per process (fork copies it), the header and data are shared. */
struct shmring;

/* Create a ring of cap bytes (rounded up to a power of two within MIN..MAX). 0 and *out set,
 * or -errno (*out NULL). Both roles' descriptors are open (O_CLOEXEC) until set_role. */
int shmring_create(size_t cap, struct shmring **out);

/* The data capacity in bytes. */
size_t shmring_cap(const struct shmring *r);

/* Keep only the descriptors of role in this process (the other side's are closed, so that
 * the death of the other process is seen). If fd_base >= 0 the kept descriptors are moved to
 * fd_base and fd_base + 1 (for a child about to close_range() everything else). 0 or -errno.
 * Call once per process, before any transfer. */
int shmring_set_role(struct shmring *r, enum shmring_role role, int fd_base);

/* Unmap and close this process's descriptors. A producer that did not call shmring_close()
 * leaves the consumer to see -EPIPE once no process holds the producer side; a consumer that
 * did not call shmring_abort() likewise. NULL is a no-op. */
void shmring_free(struct shmring *r);

/* ---- producer ---- */

/* Wait until at least min(want, cap) bytes are free. 0; -EPIPE if the consumer aborted or
 * died; -ETIMEDOUT after timeout_ms (< 0: wait for ever); EINTR is retried. */
int shmring_wait_space(struct shmring *r, size_t want, int timeout_ms);
/* Where the next bytes go and how many fit now (*room, contiguous). Never blocks. */
uint8_t *shmring_wptr(struct shmring *r, size_t *room);
/* Publish n bytes written at shmring_wptr() (n <= *room); wakes a waiting consumer. */
void shmring_commit(struct shmring *r, size_t n);
/* Copy all n bytes in, waiting for room as needed. 0, -EPIPE. */
int shmring_write(struct shmring *r, const void *p, size_t n);
/* No more bytes: err 0 is a clean end of stream, a negative code an error the consumer sees
 * from shmring_state(). Wakes the consumer. Only the first call counts. */
void shmring_close(struct shmring *r, int err);

/* ---- consumer ---- */

/* Wait until at least min(want, cap) bytes are readable or the producer closed or died.
 * 0 (check shmring_rptr's *avail and shmring_state), -ETIMEDOUT after timeout_ms (< 0: for
 * ever). */
int shmring_wait_data(struct shmring *r, size_t want, int timeout_ms);
/* The readable bytes (*avail, contiguous), valid until shmring_consume() frees them. */
const uint8_t *shmring_rptr(struct shmring *r, size_t *avail);
/* Release n bytes (n <= *avail); wakes a producer waiting for room. */
void shmring_consume(struct shmring *r, size_t n);
/* 0 open, 1 clean end, or the producer's error (-EPIPE if it died without closing). Bytes
 * published before a close stay readable. A count taken with shmring_rptr() before this
 * call said "closed" may be short: take it again after (the producer may have written the
 * rest and closed in between). */
int shmring_state(struct shmring *r);
/* Like read(2): wait for data, copy up to n bytes. >0 bytes, 0 at a clean end of stream, or
 * the producer's error. */
ssize_t shmring_read(struct shmring *r, void *p, size_t n);
/* The consumer goes away: the producer's waits and writes fail with -EPIPE from now on. */
void shmring_abort(struct shmring *r);

#endif
