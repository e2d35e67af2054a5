/*
 * imgchan.c - the image channel's TCP sockets (see imgchan.h): listen, accept the connection
 * of one migration, connect, send and receive sealed records (imgseal.h).
 *
 * Owns: the sockets' options and every wait on them. Does not: choose keys, log, or fall back.
 * Cost: a record is one sendmsg() (header, data, tag) on the source and one recvmsg() for
 * data + tag on the destination, straight into the ring: the socket calls block with a
 * SO_SNDTIMEO / SO_RCVTIMEO of at most 100 ms instead of a poll() per wake-up, so a 1 MiB
 * record costs a few system calls, and *cancel and the idle limit are still checked every
 * 100 ms. shutdown(2) from another thread ends a blocked call at once.
 * Assumes: one thread per socket; the ring's producer side is this thread's.
 */
#include "migrate/imgchan.h"

#include "ssid/ssierr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define SLICE_MS 100 /* longest sleep between two looks at *cancel */
#define MAX_PEND 8   /* connections awaiting their preface in imgchan_accept */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int cancelled(const volatile int *cancel)
{
	return cancel && *cancel;
}

/* "a.b.c.d:port" of fd's peer (peer = 1) or local end, or "?" */
static void addr_str(int fd, int peer, char *out, size_t outlen)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char h[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if ((peer ? getpeername(fd, (struct sockaddr *)&ss, &sl)
		  : getsockname(fd, (struct sockaddr *)&ss, &sl)) == 0) {
		if (ss.ss_family == AF_INET) {
			const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
			inet_ntop(AF_INET, &a->sin_addr, h, sizeof(h));
			port = ntohs(a->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
			inet_ntop(AF_INET6, &a->sin6_addr, h, sizeof(h));
			port = ntohs(a->sin6_port);
		}
	}
	snprintf(out, outlen, "%s:%d", h, port);
}

static int set_int(int fd, int level, int opt, int v)
{
	return setsockopt(fd, level, opt, &v, sizeof(v)) < 0 ? -errno : 0;
}

static int set_timeo(int fd, int opt, int ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	return setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof(tv)) < 0 ? -errno : 0;
}

/* A connected socket's options: blocking, no Nagle, and a bound on unacknowledged data. */
static int tune(int fd, int user_timeout_ms)
{
	int fl = fcntl(fd, F_GETFL);
	int r;

	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		return -errno;
	r = set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
	if (r == 0 && user_timeout_ms > 0)
		r = set_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, user_timeout_ms);
	return r;
}

int imgchan_listen(const char *host, uint16_t *port, char *err, size_t errlen)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	const char *h = host && *host ? host : "0.0.0.0";
	int fd, r;

	if (inet_pton(AF_INET, h, &sa.sin_addr) != 1) {
		snprintf(err, errlen, "image channel: listen: '%s' is not a numeric IPv4 address",
			 h);
		return -EINVAL;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "image channel: socket: %s", strerror(-r));
		return r;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, MAX_PEND) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
		r = -errno;
		snprintf(err, errlen, "image channel: listen on %s: %s", h, strerror(-r));
		close(fd);
		return r;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

struct pend {
	int fd;
	size_t got;
	uint8_t pre[IMGSEAL_PREFACE_LEN];
};

/* Read what has come of p's preface: 1 complete, 0 not yet, < 0 drop the connection. */
static int pend_read(struct pend *p)
{
	for (;;) {
		ssize_t n = recv(p->fd, p->pre + p->got, sizeof(p->pre) - p->got, MSG_DONTWAIT);
		if (n > 0) {
			p->got += (size_t)n;
			return p->got == sizeof(p->pre);
		}
		if (n == 0)
			return -EPIPE;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	}
}

static void pend_drop(struct pend *pend, int *np, int i)
{
	close(pend[i].fd);
	pend[i] = pend[--*np];
}

/* Connections are read in parallel, so one that stays silent cannot hold up the right one. */
int imgchan_accept(int lfd, uint64_t mig_id, int timeout_ms, const volatile int *cancel, char *err,
		   size_t errlen)
{
	struct pend pend[MAX_PEND];
	struct pollfd pfd[MAX_PEND + 1];
	int64_t end = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	int np = 0, r = -ETIMEDOUT;
	char where[64];

	addr_str(lfd, 0, where, sizeof(where));
	for (;;) {
		int64_t left = end - now_ms();
		if (cancelled(cancel)) {
			r = -ECANCELED;
			break;
		}
		if (left <= 0)
			break;
		pfd[0] = (struct pollfd){.fd = lfd, .events = POLLIN};
		for (int i = 0; i < np; i++)
			pfd[i + 1] = (struct pollfd){.fd = pend[i].fd, .events = POLLIN};
		if (poll(pfd, (nfds_t)np + 1, left < SLICE_MS ? (int)left : SLICE_MS) < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		/* Newest last, so walk down: pend_drop moves the last entry into slot i. */
		for (int i = np - 1; i >= 0; i--) {
			uint64_t id;
			if (!pfd[i + 1].revents)
				continue;
			int k = pend_read(&pend[i]);
			if (k == 0)
				continue;
			if (k > 0 && imgseal_preface_parse(pend[i].pre, &id) == 0 && id == mig_id) {
				int fd = pend[i].fd;
				pend[i] = pend[--np];
				r = tune(fd, timeout_ms);
				if (r < 0) {
					close(fd);
					goto out;
				}
				while (np > 0)
					pend_drop(pend, &np, np - 1);
				return fd;
			}
			pend_drop(pend, &np, i); /* another migration, garbage or closed */
		}
		if (pfd[0].revents & POLLIN) {
			int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (fd < 0) {
				if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED)
					continue;
				r = -errno;
				break;
			}
			if (np == MAX_PEND)
				pend_drop(pend, &np, 0); /* the oldest had its chance */
			pend[np++] = (struct pend){.fd = fd};
		}
	}
out:
	while (np > 0)
		pend_drop(pend, &np, np - 1);
	if (r == -ETIMEDOUT)
		snprintf(err, errlen,
			 "image channel: no connection for migration %llu on %s within %d ms",
			 (unsigned long long)mig_id, where, timeout_ms);
	else if (r == -ECANCELED)
		snprintf(err, errlen, "image channel: accept on %s cancelled", where);
	else
		snprintf(err, errlen, "image channel: accept on %s: %s", where, ssierr_str(r));
	return r;
}

/* Connect fd to ai within the time left until end. 0 or a negative errno. */
static int connect_one(int fd, const struct addrinfo *ai, int64_t end)
{
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	socklen_t sl = sizeof(int);
	int e = 0;

	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return -errno;
	for (;;) {
		int64_t left = end - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		int n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n > 0)
			break;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &sl) < 0)
		return -errno;
	return -e;
}

/* n bytes of mh's iovecs went (sent or received): drop them from the front. */
static void iov_advance(struct msghdr *mh, size_t n)
{
	while (mh->msg_iovlen > 0 && n >= mh->msg_iov->iov_len) {
		n -= mh->msg_iov->iov_len;
		mh->msg_iov++;
		mh->msg_iovlen--;
	}
	if (mh->msg_iovlen > 0) {
		mh->msg_iov->iov_base = (uint8_t *)mh->msg_iov->iov_base + n;
		mh->msg_iov->iov_len -= n;
	}
}

/* Send all of iov[0..cnt) (modified), blocking at most SLICE_MS per call; gives up after
 * idle_ms without progress (<= 0: never). 0 or a negative errno. */
static int send_iov(int fd, struct iovec *iov, int cnt, int idle_ms, const volatile int *cancel)
{
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)cnt};
	int64_t last = now_ms();
	int r = set_timeo(fd, SO_SNDTIMEO, idle_ms > 0 && idle_ms < SLICE_MS ? idle_ms : SLICE_MS);

	/* The kernel's own limit on unacknowledged data, and on a zero window (a destination
	 * that stopped reading), follows the caller's: else it would abort the connection
	 * before idle_ms, or not at all. */
	if (r == 0 && idle_ms > 0)
		r = set_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, idle_ms);
	if (r < 0)
		return r;
	while (mh.msg_iovlen > 0) {
		if (cancelled(cancel))
			return -ECANCELED;
		ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			if (idle_ms > 0 && now_ms() - last >= idle_ms)
				return -ETIMEDOUT;
			continue;
		}
		last = now_ms();
		iov_advance(&mh, (size_t)n);
	}
	return 0;
}

int imgchan_connect(const char *host, uint16_t port, uint64_t mig_id, int timeout_ms, char *err,
		    size_t errlen)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *ai;
	uint8_t pre[IMGSEAL_PREFACE_LEN];
	struct iovec iov = {.iov_base = pre, .iov_len = sizeof(pre)};
	int64_t end = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	char ps[8];
	int fd = -1, r;

	snprintf(ps, sizeof(ps), "%u", port);
	r = getaddrinfo(host, ps, &hints, &res);
	if (r != 0) {
		snprintf(err, errlen, "image channel: connect to %s:%u: %s", host, port,
			 r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
		return r == EAI_SYSTEM && errno ? -errno : -EHOSTUNREACH;
	}
	r = -EHOSTUNREACH;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			r = -errno;
			continue;
		}
		r = connect_one(fd, ai, end);
		if (r == 0)
			break;
		close(fd);
		fd = -1;
		if (r == -ETIMEDOUT)
			break;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(err, errlen, "image channel: connect to %s:%u: %s", host, port,
			 strerror(-r));
		return r;
	}
	r = tune(fd, timeout_ms);
	if (r == 0) {
		imgseal_preface(pre, mig_id);
		r = send_iov(fd, &iov, 1, timeout_ms, NULL);
	}
	if (r < 0) {
		snprintf(err, errlen, "image channel: preface to %s:%u: %s", host, port,
			 strerror(-r));
		close(fd);
		return r;
	}
	return fd;
}

int imgchan_send(int fd, struct imgseal *s, uint8_t *data, uint32_t len, uint8_t flags, int idle_ms,
		 const volatile int *cancel, char *err, size_t errlen)
{
	uint8_t hdr[IMGSEAL_HDR_LEN], tag[IMGSEAL_TAG_LEN];
	struct iovec iov[3] = {{hdr, sizeof(hdr)}, {data, len}, {tag, sizeof(tag)}};
	uint64_t seq = imgseal_count(s);
	char where[64];
	int r;

	addr_str(fd, 1, where, sizeof(where)); /* now: a socket the kernel aborted has no peer */
	r = imgseal_seal(s, data, len, flags, hdr, tag);
	if (r == 0)
		r = send_iov(fd, iov, 3, idle_ms, cancel);
	if (r == -ETIMEDOUT)
		snprintf(err, errlen,
			 "image channel: send record %llu (%u bytes) to %s: no progress for %d ms",
			 (unsigned long long)seq, len, where, idle_ms);
	else if (r < 0)
		snprintf(err, errlen, "image channel: send record %llu (%u bytes) to %s: %s",
			 (unsigned long long)seq, len, where, ssierr_str(r));
	return r;
}

/* Receive all of iov[0..cnt) (modified), each call blocking at most SLICE_MS; gives up
 * after idle_ms without a byte (<= 0: never). 0, -EPIPE (end of stream or reset),
 * -ETIMEDOUT, -ECANCELED or a negative errno. */
static int recv_iov(int fd, struct iovec *iov, int cnt, int idle_ms, const volatile int *cancel)
{
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)cnt};
	int64_t last = now_ms();

	while (mh.msg_iovlen > 0) {
		if (cancelled(cancel))
			return -ECANCELED;
		ssize_t n = recvmsg(fd, &mh, MSG_WAITALL);
		if (n < 0) {
			if (errno == ECONNRESET)
				return -EPIPE;
			if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			if (idle_ms > 0 && now_ms() - last >= idle_ms)
				return -ETIMEDOUT;
			continue;
		}
		if (n == 0)
			return -EPIPE;
		last = now_ms();
		iov_advance(&mh, (size_t)n);
	}
	return 0;
}

/* Wait for n bytes of room in ring: no time limit, only *cancel or the consumer's end. */
static int ring_room(struct shmring *ring, size_t n, const volatile int *cancel)
{
	for (;;) {
		int r = shmring_wait_space(ring, n, SLICE_MS);
		if (r != -ETIMEDOUT)
			return r;
		if (cancelled(cancel))
			return -ECANCELED;
	}
}

int imgchan_recv_ring(int fd, struct imgseal *s, struct shmring *ring, int idle_ms,
		      const volatile int *cancel, uint32_t *len, uint8_t *flags, char *err,
		      size_t errlen)
{
	uint8_t hdr[IMGSEAL_HDR_LEN], tag[IMGSEAL_TAG_LEN], *w = NULL;
	struct iovec iov[2] = {{hdr, sizeof(hdr)}, {NULL, 0}};
	uint64_t seq = imgseal_count(s);
	const char *step = "header";
	char where[64];
	uint32_t n = 0;
	uint8_t fl = 0;
	size_t room;
	int r;

	*len = 0;
	*flags = 0;
	addr_str(fd, 1, where, sizeof(where)); /* now: a reset socket has no peer */
	r = set_timeo(fd, SO_RCVTIMEO, idle_ms > 0 && idle_ms < SLICE_MS ? idle_ms : SLICE_MS);
	if (r == 0)
		r = recv_iov(fd, iov, 1, idle_ms, cancel);
	if (r == 0)
		r = imgseal_hdr_parse(hdr, &n, &fl);
	if (r == 0 && n > shmring_cap(ring)) {
		step = "ring";
		r = -EMSGSIZE;
	}
	if (r == 0) {
		step = "ring space";
		r = ring_room(ring, n, cancel);
	}
	if (r == 0) {
		step = "record";
		w = shmring_wptr(ring, &room);
		iov[0] = (struct iovec){w, n};
		iov[1] = (struct iovec){tag, sizeof(tag)};
		r = recv_iov(fd, iov, 2, idle_ms, cancel);
	}
	if (r == 0) {
		step = "open";
		r = imgseal_open(s, hdr, w, n, tag);
	}
	if (r < 0) {
		snprintf(err, errlen, "image channel: receive record %llu from %s: %s: %s",
			 (unsigned long long)seq, where, step,
			 r == -EPIPE && !strcmp(step, "ring space") ? "the image's reader is gone"
			 : r == -EPIPE ? "connection ended before the last record"
			 : r == SSI_E_CORRUPT && !strcmp(step, "open") ? "does not authenticate"
								       : ssierr_str(r));
		return r;
	}
	shmring_commit(ring, n);
	*len = n;
	*flags = fl;
	return 0;
}
