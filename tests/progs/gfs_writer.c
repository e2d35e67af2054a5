/*
 * gfs_writer.c - the test subject of gfs_migrate.sh: appends numbered lines "N NODENAME" to
 * OUT (one descriptor, opened once with O_APPEND, kept across moves) every INTERVAL_MS; when
 * the node name (uname(2)) differs from the previous line's, it counts a move and creates
 * DIR/moved-K holding that line (a file made after each move, by path, in its home's view).
 * It exits 0 after the line on which DIR/stop exists, 3 after MAX lines (default 100000),
 * 1 on an error (message on stderr).
 * Usage: gfs_writer OUT DIR INTERVAL_MS [MAX]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

/* Write all of s to fd; 0 or -1 (errno set). */
static int put(int fd, const char *s)
{
	size_t n = strlen(s), done = 0;

	while (done < n) {
		ssize_t w = write(fd, s + done, n - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		done += (size_t)w;
	}
	return 0;
}

static void nap(long ms)
{
	struct timespec t = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	while (nanosleep(&t, &t) < 0 && errno == EINTR)
		;
}

int main(int argc, char **argv)
{
	char last[sizeof(((struct utsname *)0)->nodename)] = "", line[256], path[4096];
	long ms, max, moves = 0;
	struct utsname u;
	int fd;

	if (argc < 4) {
		fprintf(stderr, "usage: gfs_writer OUT DIR INTERVAL_MS [MAX]\n");
		return 2;
	}
	ms = atol(argv[3]);
	max = argc > 4 ? atol(argv[4]) : 100000;
	fd = open(argv[1], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "gfs_writer: open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	for (long n = 1; n <= max; n++) {
		if (uname(&u) < 0)
			return 1;
		snprintf(line, sizeof(line), "%ld %s\n", n, u.nodename);
		if (put(fd, line) < 0) {
			fprintf(stderr, "gfs_writer: line %ld: %s\n", n, strerror(errno));
			return 1;
		}
		if (last[0] && strcmp(last, u.nodename)) {
			int m;

			snprintf(path, sizeof(path), "%s/moved-%ld", argv[2], ++moves);
			m = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
			if (m < 0 || put(m, line) < 0 || close(m) < 0) {
				fprintf(stderr, "gfs_writer: %s: %s\n", path, strerror(errno));
				return 1;
			}
		}
		snprintf(last, sizeof(last), "%s", u.nodename);
		snprintf(path, sizeof(path), "%s/stop", argv[2]);
		if (access(path, F_OK) == 0)
			return close(fd) < 0 ? 1 : 0;
		nap(ms);
	}
	return 3;
}
