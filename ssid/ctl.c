/*
 * ctl.c - the control socket server: accept, SO_PEERCRED, request table, framing (ctl.h).
 *
 * Requests are answered synchronously on the daemon's main thread; an accepted connection
 * has a 1 s receive timeout so a stuck client cannot hold the loop for long.
 */
#include "ssid/ctl.h"
#include "ssid/usock.h"
#include "ssid/ssierr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

struct ctl_entry {
	ctl_handler fn; /* NULL = no such request */
	unsigned flags;
	void *ctx;
};

struct ctl_server {
	int fd;
	char path[108];
	struct ctl_entry tab[CTL_TYPES];
};

static int io_all(int fd, void *p, size_t n, int writing)
{
	uint8_t *b = p;

	while (n) {
		ssize_t r = writing ? send(fd, b, n, MSG_NOSIGNAL) : recv(fd, b, n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		if (r == 0)
			return -ECONNRESET;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

int ctl_send(int fd, const void *hdr, size_t hdr_len, const struct buf *body)
{
	uint8_t len[4];
	uint32_t n = (uint32_t)buf_avail(body);
	int r;

	if (buf_avail(body) > CTL_MAX_MSG)
		return SSI_E_TOOBIG;
	len[0] = n >> 24;
	len[1] = n >> 16;
	len[2] = n >> 8;
	len[3] = n;
	r = io_all(fd, len, 4, 1);
	if (!r)
		r = io_all(fd, (void *)hdr, hdr_len, 1);
	if (!r && n)
		r = io_all(fd, (void *)buf_rptr(body), n, 1);
	return r;
}

int ctl_recv(int fd, void *hdr, size_t hdr_len, struct buf *body)
{
	uint8_t len[4];
	uint32_t n;
	uint8_t *p;
	int r;

	buf_reset(body);
	r = io_all(fd, len, 4, 0);
	if (r)
		return r;
	n = (uint32_t)len[0] << 24 | (uint32_t)len[1] << 16 | (uint32_t)len[2] << 8 | len[3];
	if (n > CTL_MAX_MSG)
		return SSI_E_TOOBIG;
	r = io_all(fd, hdr, hdr_len, 0);
	if (r)
		return r == -ECONNRESET ? SSI_E_TRUNCATED : r;
	if (!n)
		return 0;
	p = buf_reserve(body, n);
	if (!p)
		return -ENOMEM;
	r = io_all(fd, p, n, 0);
	if (r)
		return r == -ECONNRESET ? SSI_E_TRUNCATED : r;
	buf_commit(body, n);
	return 0;
}

int ctl_server_open(struct ctl_server **out, const char *path, char *err, size_t errlen)
{
	struct ctl_server *s;
	int fd;

	*out = NULL;
	if (strlen(path) >= sizeof(s->path))
		fd = -ENAMETOOLONG;
	else
		fd = usock_listen(path, 0666, USOCK_PROBE, 16);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path,
			 fd == -EADDRINUSE     ? "another ssid answers there; stop it first"
			 : fd == -ENAMETOOLONG ? "path too long for a unix socket; shorten run_dir"
			 : fd == -ENOENT       ? "No such file or directory (does run_dir exist?)"
					       : strerror(-fd));
		return fd;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		return -ENOMEM;
	}
	strcpy(s->path, path);
	s->fd = fd;
	*out = s;
	return 0;
}

int ctl_server_add(struct ctl_server *s, uint16_t type, unsigned flags, ctl_handler fn, void *ctx)
{
	if (type == 0 || type >= CTL_TYPES || !fn)
		return -EINVAL;
	if (s->tab[type].fn)
		return -EEXIST;
	s->tab[type] = (struct ctl_entry){.fn = fn, .flags = flags, .ctx = ctx};
	return 0;
}

int ctl_server_fd(const struct ctl_server *s)
{
	return s->fd;
}

static int answer(struct ctl_server *s, int fd, const struct ctl_caller *who, struct buf *req,
		  struct buf *reply, uint16_t type)
{
	const struct ctl_entry *e = type < CTL_TYPES ? &s->tab[type] : NULL;
	uint8_t hdr[4];
	int st;

	buf_reset(reply);
	if (!e || !e->fn)
		st = -EOPNOTSUPP;
	else if ((e->flags & CTL_ROOT_ONLY) && who->uid != 0)
		st = -EPERM;
	else
		st = e->fn(e->ctx, who, req, reply);
	if (st < 0)
		buf_reset(reply);
	hdr[0] = (uint32_t)st >> 24;
	hdr[1] = (uint32_t)st >> 16;
	hdr[2] = (uint32_t)st >> 8;
	hdr[3] = (uint32_t)st;
	return ctl_send(fd, hdr, 4, reply);
}

int ctl_server_serve(struct ctl_server *s)
{
	struct timeval tv = {.tv_sec = 1};
	struct ucred cr;
	socklen_t crlen = sizeof(cr);
	struct ctl_caller who;
	struct buf req, reply;
	int fd, r;

	fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	who = (struct ctl_caller){.pid = cr.pid, .uid = cr.uid, .gid = cr.gid};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	buf_init(&req);
	buf_init(&reply);
	for (;;) {
		uint8_t hdr[4];
		r = ctl_recv(fd, hdr, sizeof(hdr), &req);
		if (r)
			break;
		r = answer(s, fd, &who, &req, &reply, (uint16_t)(hdr[0] << 8 | hdr[1]));
		if (r)
			break;
	}
	buf_free(&req);
	buf_free(&reply);
	close(fd);
	return r == -ECONNRESET ? 0 : r;
}

void ctl_server_free(struct ctl_server *s)
{
	if (!s)
		return;
	close(s->fd);
	unlink(s->path);
	free(s);
}
