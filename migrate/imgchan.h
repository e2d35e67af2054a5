/*
 * imgchan.h - the image channel's sockets: one TCP connection per migration that carries its
 * image, source -> destination, in records sealed by imgseal.h. The destination listens on an
 * ephemeral port of its node address and sends port, key and salt to the source inside their
 * SSH link (MIG_ACCEPT); the source connects, sends the preface and the records. Control
 * (offer, READY, commit) stays on the SSH link.
 *
 * Does not: pick the key, decide whether to use the channel, or fall back to the SSH link
 * (ssid/mig_stream.c does). Every wait is bounded: a time-out without progress, and *cancel
 * (when not NULL) is checked at least every 100 ms; another thread may also shutdown(2) the
 * socket to end a wait at once. Never logs; errors come back as a negative errno or SSI_E_*
 * with a sentence in err that names the step and the address.
 */
#ifndef SSI_MIGRATE_IMGCHAN_H
#define SSI_MIGRATE_IMGCHAN_H

#include "migrate/imgseal.h"
#include "migrate/shmring.h"

#include <stddef.h>
#include <stdint.h>

/* Destination: a listening TCP socket on host (numeric IPv4; "" or "0.0.0.0": every
 * address), port chosen by the kernel. The fd (O_CLOEXEC | O_NONBLOCK) and *port, or a
 * negative errno. */
int imgchan_listen(const char *host, uint16_t *port, char *err, size_t errlen);

/* Destination: accept on lfd the connection whose preface names mig_id, within timeout_ms
 * in all; a connection that sends another preface, or none within that time, is closed and
 * the next one awaited. The connected fd (O_CLOEXEC, blocking, TCP_USER_TIMEOUT set to
 * timeout_ms), or -ETIMEDOUT / -ECANCELED / a negative errno. lfd stays open (the caller
 * closes it). */
int imgchan_accept(int lfd, uint64_t mig_id, int timeout_ms, const volatile int *cancel, char *err,
		   size_t errlen);

/* Source: connect to host:port (numeric IPv4 or a name) within timeout_ms and send the
 * preface for mig_id. The fd (O_CLOEXEC, TCP_USER_TIMEOUT = timeout_ms), or a negative errno
 * (-ECONNREFUSED, -ETIMEDOUT, -EHOSTUNREACH ...). */
int imgchan_connect(const char *host, uint16_t port, uint64_t mig_id, int timeout_ms, char *err,
		    size_t errlen);

/* Source: seal data[len] in place (it is cipher text afterwards) and send the record. Gives
 * up after idle_ms without a byte leaving (and sets TCP_USER_TIMEOUT to idle_ms, so that the
 * kernel does not abort earlier while the destination's ring is full: zero window).
 * 0, or -ETIMEDOUT / -ECANCELED / -EPIPE / -ECONNRESET / a negative errno. */
int imgchan_send(int fd, struct imgseal *s, uint8_t *data, uint32_t len, uint8_t flags, int idle_ms,
		 const volatile int *cancel, char *err, size_t errlen);

/* Destination: receive one record straight into ring's free space (waiting for room as
 * long as it takes: the restore may wait on /gfs; only *cancel and the consumer's death end
 * that wait), open it in place and commit it to the ring. Gives up after idle_ms without a
 * byte arriving. 0 with *len and *flags; -EPIPE: the connection ended before a record with
 * IMGSEAL_F_LAST, or the ring's consumer is gone; SSI_E_CORRUPT: a bad header or a record
 * that does not authenticate (nothing of it was committed); -ETIMEDOUT; -ECANCELED. */
int imgchan_recv_ring(int fd, struct imgseal *s, struct shmring *ring, int idle_ms,
		      const volatile int *cancel, uint32_t *len, uint8_t *flags, char *err,
		      size_t errlen);

#endif
