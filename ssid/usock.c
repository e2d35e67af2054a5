/*
 * usock.c - unix stream sockets for ssid's local clients (usock.h).
 */
#include "ssid/usock.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

static int addr(struct sockaddr_un *sa, const char *path)
{
	size_t n = strlen(path);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (n >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, path, n + 1);
	return 0;
}

int usock_connect(const char *path, int timeout_ms)
{
	struct sockaddr_un sa;
	int fd, r = addr(&sa, path);

	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (timeout_ms > 0) {
		struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == EINTR)
			continue;
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

int usock_listen(const char *path, mode_t mode, unsigned flags, int backlog)
{
	struct sockaddr_un sa;
	int fd, r = addr(&sa, path);

	if (r < 0)
		return r;
	if (flags & USOCK_PROBE) {
		int probe = usock_connect(path, 0);

		if (probe >= 0) {
			close(probe);
			return -EADDRINUSE;
		}
	}
	/* A socket file nobody answers on is left over from a crash: replace it. */
	unlink(path);
	fd = socket(AF_UNIX,
		    SOCK_STREAM | SOCK_CLOEXEC | (flags & USOCK_NONBLOCK ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, mode) < 0 ||
	    listen(fd, backlog) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}
