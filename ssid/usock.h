/*
 * usock.h - the unix stream sockets between ssid and its local clients (ssid.sock, gfs.sock,
 * mig.sock): one place for the address and its length limit, O_CLOEXEC, time-outs, and the
 * handling of a socket file left behind by a crashed daemon.
 *
 * Return rule: a descriptor (>= 0) or a negative errno; -ENAMETOOLONG when the path does not
 * fit sun_path. Never logs; the caller names the socket in its message.
 */
#ifndef SSI_USOCK_H
#define SSI_USOCK_H

#include <sys/types.h>

#define USOCK_NONBLOCK 1u /* the listening socket is non-blocking */
#define USOCK_PROBE    2u /* refuse (-EADDRINUSE) when someone answers at path already */

/* Connect to path. timeout_ms > 0 sets SO_RCVTIMEO and SO_SNDTIMEO on the socket. */
int usock_connect(const char *path, int timeout_ms);
/* Bind and listen at path with file mode `mode`, replacing a stale socket file. flags:
 * USOCK_NONBLOCK, USOCK_PROBE. */
int usock_listen(const char *path, mode_t mode, unsigned flags, int backlog);

#endif
