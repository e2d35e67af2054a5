/*
 * cr_frozen - test of the migration calls of the checkpoint engine (dump.h, restore.h):
 *   cr_frozen COUNTER DIR
 * COUNTER is tests/progs/counter; DIR a scratch directory. Every checkpoint runs in a worker
 * thread (not the main one: the tracer is a thread, as in ssid). Checks, in order:
 *  1. dump_begin leaves the process frozen (state t, no output); another thread gets -EPERM;
 *     dump_release lets it finish with output and exit status identical to an untouched run.
 *  2. dump_begin + dump_kill, then (in a forked child, stdout appended to the same file)
 *     restore_stopped: held (state t, no output) until restore_resume: identical output, exit 3.
 *  3. dump_begin + dump_release, then restore_stopped/restore_discard of that image from image
 *     descriptors 3..7 (lower ones filled; also with stdin closed): nothing left running,
 *     the released original finishes with identical output.
 *  4. the holder of a frozen handle exits without releasing: the process runs on unchanged.
 * Prints "ok ..." lines; exit 0 pass, 1 fail; CR_FROZEN_DEBUG=1 traces the restores on
 * stderr. Needs root. A test tool, not installed.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "migrate/dump.h"
#include "migrate/restore.h"
#include "ssid/ssierr.h"

#define LINES "40"
#define WORK  "30000000"

static const char *counter, *dir;
static int failed;

#define CHECK(c, ...)                                                                              \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			printf("FAIL: " __VA_ARGS__);                                              \
			printf("\n");                                                              \
			failed = 1;                                                                \
			return;                                                                    \
		}                                                                                  \
	} while (0)

static void msleep(long ms)
{
	struct timespec t = {ms / 1000, (ms % 1000) * 1000000};
	while (nanosleep(&t, &t) < 0 && errno == EINTR)
		;
}

static void path(char *p, size_t n, const char *name)
{
	snprintf(p, n, "%s/%s", dir, name);
}

/* Run counter with stdout to DIR/name (truncated), only fds 0-2 open. */
static pid_t spawn(const char *name)
{
	char p[512];
	path(p, sizeof(p), name);
	pid_t c = fork();
	if (c == 0) {
		int o = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		int i = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (o < 0 || i < 0 || dup2(o, 1) < 0 || dup2(i, 0) < 0)
			_exit(126);
		close_range(3, ~0u, 0);
		execl(counter, counter, LINES, WORK, (char *)NULL);
		_exit(127);
	}
	return c;
}

static int wait_status(pid_t pid)
{
	int ws;
	while (waitpid(pid, &ws, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

static long fsize(const char *name)
{
	char p[512];
	struct stat st;
	path(p, sizeof(p), name);
	return stat(p, &st) < 0 ? -1 : (long)st.st_size;
}

static char state_of(pid_t pid)
{
	char p[64], buf[512];
	snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(p, "re");
	if (!f)
		return '-';
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *e = strrchr(buf, ')');
	return e && e[1] == ' ' ? e[2] : '?';
}

static int same_file(const char *a, const char *b)
{
	char cmd[1200], pa[512], pb[512];
	path(pa, sizeof(pa), a);
	path(pb, sizeof(pb), b);
	snprintf(cmd, sizeof(cmd), "cmp -s '%s' '%s'", pa, pb);
	return system(cmd) == 0;
}

/* Frozen: state t and the output file does not grow for 300 ms. */
static int frozen(pid_t pid, const char *out)
{
	long a = fsize(out);
	msleep(300);
	return state_of(pid) == 't' && fsize(out) == a;
}

static int open_image(const char *name, int wr)
{
	char p[512];
	path(p, sizeof(p), name);
	return wr ? open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)
		  : open(p, O_RDONLY | O_CLOEXEC);
}

struct other {
	struct dump_handle *h;
	int r;
};

static void *release_elsewhere(void *arg)
{
	struct other *o = arg;
	char err[256];
	o->r = dump_release(o->h, err, sizeof(err));
	return NULL;
}

static int checkpoint(pid_t pid, const char *img, struct dump_handle **h)
{
	char err[4096];
	struct dump_stats st;
	int fd = open_image(img, 1);
	if (fd < 0)
		return -errno;
	int r = dump_begin(pid, fd, h, &st, err, sizeof(err));
	close(fd);
	if (r < 0)
		printf("dump_begin pid %d: %s\n", (int)pid, err);
	return r;
}

static void frozen_release(void)
{
	char err[256];
	msleep(400);
	pid_t pid = spawn("a.out");
	msleep(300);
	struct dump_handle *h;
	CHECK(checkpoint(pid, "a.img", &h) == 0, "1: dump_begin");
	CHECK(dump_handle_pid(h) == pid, "1: handle pid");
	CHECK(frozen(pid, "a.out"), "1: not frozen after dump_begin (state %c)", state_of(pid));
	struct other o = {h, 0};
	pthread_t t;
	pthread_create(&t, NULL, release_elsewhere, &o);
	pthread_join(t, NULL);
	CHECK(o.r == -EPERM, "1: release from another thread gave %d, want -EPERM", o.r);
	CHECK(dump_release(h, err, sizeof(err)) == 0, "1: dump_release: %s", err);
	int s = wait_status(pid);
	CHECK(s == 3, "1: exit status %d after release, want 3", s);
	CHECK(same_file("ref.out", "a.out"), "1: output after frozen+release differs");
	printf("ok frozen checkpoint from a worker thread, released: identical output\n");
}

/* In a forked child: restore held, check, resume, exit with the restored status. */
static int restore_child(const char *img, const char *out, pid_t want)
{
	char p[512], err[4096];
	path(p, sizeof(p), out);
	int o = open(p, O_WRONLY | O_APPEND | O_CLOEXEC);
	int fd = open_image(img, 0);
	if (o < 0 || fd < 0 || dup2(o, 1) < 0)
		return 120;
	struct restore_handle *h;
	struct restore_stats st;
	pid_t pid;
	if (restore_stopped(fd, &h, &pid, &st, err, sizeof(err)) < 0) {
		fprintf(stderr, "restore_stopped: %s\n", err);
		return 121;
	}
	close(fd);
	if (pid != want || st.new_pidns)
		return 122;
	if (!frozen(pid, out))
		return 123;
	if (restore_resume(h, err, sizeof(err)) < 0) {
		fprintf(stderr, "restore_resume: %s\n", err);
		return 124;
	}
	return wait_status(pid);
}

static void kill_restore_resume(void)
{
	char err[256];
	pid_t pid = spawn("b.out");
	msleep(500);
	struct dump_handle *h;
	CHECK(checkpoint(pid, "b.img", &h) == 0, "2: dump_begin");
	CHECK(frozen(pid, "b.out"), "2: not frozen");
	CHECK(dump_kill(h, err, sizeof(err)) == 0, "2: dump_kill: %s", err);
	/* dump_kill reaped it (the tracer's wait collects a child's status too). */
	CHECK(kill(pid, 0) < 0 && errno == ESRCH, "2: pid %d still exists after dump_kill", pid);
	fflush(NULL);
	pid_t c = fork();
	if (c == 0)
		_exit(restore_child("b.img", "b.out", pid));
	int s = wait_status(c);
	CHECK(s == 3, "2: restored status %d (120-124: restore step failed), want 3", s);
	CHECK(same_file("ref.out", "b.out"), "2: output after kill+restore_stopped differs");
	printf("ok frozen checkpoint killed, restored stopped then resumed: identical output\n");
}

/* fd moved to a number >= 40, out of the way of the numbers under test. */
static int high(int fd)
{
	if (fd < 0)
		return fd;
	int h = fcntl(fd, F_DUPFD_CLOEXEC, 40);
	close(fd);
	return h;
}

/* Restore c.img with the image on descriptor n (3..n-1 filled with /dev/null if fill) and
 * stdin closed if asked; the held process must be stopped, then gone after restore_discard.
 * Stdin closed, 3 free, image at 4: the stub's ready pipe would land on 0 and 3, and 3 is
 * the stub's ready_fd (the dup3-onto-itself case). */
static void held_discard(int n, int fill, int no_stdin)
{
	char err[4096];
	int used[16] = {0}, in = -1, r = -EBADF;
	int nul = high(open("/dev/null", O_RDONLY | O_CLOEXEC)), img = high(open_image("c.img", 0));
	int fd = img >= 0 ? fcntl(img, F_DUPFD_CLOEXEC, n) : -1;
	for (int i = 3; fill && nul >= 0 && i < n; i++)
		if (fcntl(i, F_GETFD) < 0 && dup3(nul, i, O_CLOEXEC) == i)
			used[i] = 1;
	if (nul >= 0)
		close(nul);
	if (img >= 0)
		close(img);
	if (no_stdin) {
		in = fcntl(0, F_DUPFD_CLOEXEC, 20);
		close(0);
	}
	struct restore_handle *h = NULL;
	struct restore_stats st = {0};
	pid_t pid = 0;
	if (getenv("CR_FROZEN_DEBUG"))
		fprintf(stderr, "restore fd %d fill %d no_stdin %d\n", n, fill, no_stdin);
	if (fd == n)
		r = restore_stopped(fd, &h, &pid, &st, err, sizeof(err));
	if (getenv("CR_FROZEN_DEBUG"))
		fprintf(stderr, "  -> %d pid %d ns %d\n", r, (int)pid, st.new_pidns);
	if (fd >= 0)
		close(fd);
	for (int i = 3; i < 16; i++)
		if (used[i])
			close(i);
	if (in >= 0) {
		dup2(in, 0);
		close(in);
	}
	CHECK(r == 0, "3: restore_stopped from fd %d%s%s: %s", n, fill ? ", 3.. filled" : "",
	      no_stdin ? ", stdin closed" : "", r == -EBADF ? "image not on that fd" : err);
	int held = state_of(pid) == 't' || (st.new_pidns && state_of(pid) != '-');
	CHECK(restore_discard(h, err, sizeof(err)) == 0, "3: restore_discard: %s", err);
	CHECK(held, "3: restored pid %d not held", (int)pid);
	CHECK(kill(pid, 0) < 0 && errno == ESRCH, "3: pid %d still exists after discard", pid);
}

static void release_restore_discard(void)
{
	char err[256];
	pid_t pid = spawn("c.out");
	msleep(400);
	struct dump_handle *h;
	CHECK(checkpoint(pid, "c.img", &h) == 0, "3: dump_begin");
	CHECK(dump_release(h, err, sizeof(err)) == 0, "3: dump_release: %s", err);
	for (int n = 3; n <= 7 && !failed; n++) {
		held_discard(n, 1, 0);
		if (!failed)
			held_discard(n, 1, 1);
		if (!failed)
			held_discard(n, 0, 1);
	}
	if (failed) {
		kill(pid, SIGKILL);
		wait_status(pid);
		return;
	}
	int s = wait_status(pid);
	CHECK(s == 3, "3: original exit status %d, want 3", s);
	CHECK(same_file("ref.out", "c.out"), "3: original output changed");
	printf("ok restore held then discarded (image on fds 3-7, with/without stdin): nothing "
	       "left, original unaffected\n");
}

static int sigblk_zero(pid_t pid)
{
	char p[64], line[256];
	int ok = 0;
	snprintf(p, sizeof(p), "/proc/%d/status", (int)pid);
	FILE *f = fopen(p, "re");
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "SigBlk:", 7) == 0)
			ok = strtoull(line + 7, NULL, 16) == 0;
	if (f)
		fclose(f);
	return ok;
}

/* The holder of a frozen handle exits without releasing it: the kernel detaches the process,
 * which must run on as before (its own registers and an empty signal mask). */
static void holder_dies(void)
{
	pid_t pid = spawn("d.out");
	msleep(400);
	fflush(NULL);
	pid_t c = fork();
	if (c == 0) {
		struct dump_handle *h;
		_exit(checkpoint(pid, "d.img", &h) == 0 ? 0 : 1);
	}
	int s = wait_status(c);
	CHECK(s == 0, "4: holder's dump_begin failed");
	msleep(200);
	CHECK(state_of(pid) != 't', "4: still stopped after its holder exited");
	CHECK(sigblk_zero(pid), "4: signal mask not restored after its holder exited");
	s = wait_status(pid);
	CHECK(s == 3, "4: exit status %d, want 3", s);
	CHECK(same_file("ref.out", "d.out"), "4: output changed after its holder exited");
	printf("ok holder exits while frozen: process runs on unchanged\n");
}

static void *worker(void *arg)
{
	(void)arg;
	frozen_release();
	if (!failed)
		kill_restore_resume();
	if (!failed)
		release_restore_discard();
	if (!failed)
		holder_dies();
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: cr_frozen COUNTER DIR\n");
		return 2;
	}
	counter = argv[1];
	dir = argv[2];
	setvbuf(stdout, NULL, _IOLBF, 0);
	pid_t ref = spawn("ref.out");
	if (wait_status(ref) != 3) {
		printf("FAIL: reference run of %s\n", counter);
		return 1;
	}
	pthread_t t;
	pthread_create(&t, NULL, worker, NULL);
	pthread_join(t, NULL);
	return failed;
}
