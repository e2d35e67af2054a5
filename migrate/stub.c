/*
 * stub.c - create the restore stub (stub.h).
 *
 * The child of clone3() is a copy of the caller: it may call libc (the caller is
 * single-threaded, so no lock is held), but it must never return into the caller's code.
 * It reports "ok" or an error text through a pipe whose write end sits at a descriptor
 * number above every descriptor of the image, so opening the image's files never clobbers
 * it (open() returns the lowest free number, which is never above the next target).
 *
 * PID taken: a new PID namespace is made (clone3 CLONE_NEWPID); its init (a copy of us)
 * creates the stub with the saved pid inside, reaps it and exits with its status.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "migrate/stub.h"
#include "ssid/ssierr.h"

static pid_t clone3_pid(uint64_t flags, pid_t want)
{
	struct clone_args a;
	pid_t tid[1] = {want};
	memset(&a, 0, sizeof(a));
	a.flags = flags;
	a.exit_signal = SIGCHLD;
	if (want > 0) {
		a.set_tid = (uint64_t)(uintptr_t)tid;
		a.set_tid_size = 1;
	}
	return (pid_t)syscall(SYS_clone3, &a, sizeof(a));
}

__attribute__((noreturn, format(printf, 2, 3))) static void child_fail(int fd, const char *fmt, ...)
{
	char m[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(m, sizeof(m), fmt, ap);
	va_end(ap);
	if (n > 0 && write(fd, m, (size_t)n < sizeof(m) ? (size_t)n : sizeof(m) - 1) < 0)
		_exit(126);
	_exit(127);
}

static void open_fd(int rfd, const struct cr_fd *f)
{
	int fl = (int)f->flags & ~(O_CREAT | O_TRUNC | O_EXCL | O_NOCTTY);
	int fd = open(f->path, fl);
	if (fd < 0)
		child_fail(rfd, "fd %d: cannot open %s: %s", f->fd, f->path, strerror(errno));
	if (f->kind == CR_FD_REG) {
		struct stat st;
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
			child_fail(rfd, "fd %d: %s is no longer a regular file", f->fd, f->path);
		if ((uint64_t)st.st_size < f->pos)
			child_fail(
				rfd, "fd %d: %s shrank to %lld bytes, below the saved offset %llu",
				f->fd, f->path, (long long)st.st_size, (unsigned long long)f->pos);
		if (lseek(fd, (off_t)f->pos, SEEK_SET) < 0)
			child_fail(rfd, "fd %d: %s: seek: %s", f->fd, f->path, strerror(errno));
	}
	if (fd != f->fd) {
		if (dup3(fd, f->fd, f->cloexec ? O_CLOEXEC : 0) < 0)
			child_fail(rfd, "fd %d: dup: %s", f->fd, strerror(errno));
		close(fd);
	} else if (f->cloexec) {
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
}

__attribute__((noreturn)) static void child_setup(const struct cr_state *s, int rfd)
{
	sigset_t all;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	int have[3] = {0, 0, 0};
	/* Pipes first, parked above rfd; other descriptors next; then pipe ends into place. */
	int *tmp = calloc(s->nfds + 1, sizeof(int));
	if (!tmp)
		child_fail(rfd, "out of memory");
	for (uint32_t i = 0; i < s->nfds; i++) {
		const struct cr_fd *f = &s->fds[i];
		if (f->kind != CR_FD_PIPE || tmp[i])
			continue;
		int p[2];
		if (pipe2(p, 0) < 0)
			child_fail(rfd, "fd %d: pipe: %s", f->fd, strerror(errno));
		int r = fcntl(p[0], F_DUPFD_CLOEXEC, rfd + 1),
		    w = fcntl(p[1], F_DUPFD_CLOEXEC, rfd + 1);
		close(p[0]);
		close(p[1]);
		if (r < 0 || w < 0)
			child_fail(rfd, "fd %d: pipe: %s", f->fd, strerror(errno));
		for (uint32_t j = i; j < s->nfds; j++) {
			const struct cr_fd *g = &s->fds[j];
			if (g->kind != CR_FD_PIPE || g->pos != f->pos)
				continue;
			tmp[j] = (g->flags & O_ACCMODE) == O_RDONLY ? r : w;
			if (g->data_len && fcntl(w, F_SETPIPE_SZ, (int)g->data_len) < 0 &&
			    g->data_len > 65536)
				child_fail(rfd, "fd %d: pipe size: %s", g->fd, strerror(errno));
			if (g->data_len && write(w, g->data, g->data_len) != (ssize_t)g->data_len)
				child_fail(rfd, "fd %d: refill pipe: %s", g->fd, strerror(errno));
		}
	}
	for (uint32_t i = 0; i < s->nfds; i++) {
		if (s->fds[i].kind == CR_FD_STDIO)
			have[s->fds[i].fd] = 1;
		else if (s->fds[i].kind != CR_FD_PIPE)
			open_fd(rfd, &s->fds[i]);
	}
	for (uint32_t i = 0; i < s->nfds; i++) {
		const struct cr_fd *f = &s->fds[i];
		if (f->kind != CR_FD_PIPE)
			continue;
		if (dup3(tmp[i], f->fd, f->cloexec ? O_CLOEXEC : 0) < 0)
			child_fail(rfd, "fd %d: dup pipe: %s", f->fd, strerror(errno));
		if ((f->flags & O_NONBLOCK) && fcntl(f->fd, F_SETFL, O_NONBLOCK) < 0)
			child_fail(rfd, "fd %d: %s", f->fd, strerror(errno));
	}
	for (uint32_t i = 0; i < s->nfds; i++)
		if (tmp[i] > rfd)
			close(tmp[i]); /* closing twice is harmless: both ends may repeat */
	free(tmp);
	for (int i = 0; i < 3; i++)
		if (!have[i])
			close(i);
	if (chdir(s->cwd) < 0)
		child_fail(rfd, "cwd %s: %s", s->cwd, strerror(errno));
	umask((mode_t)s->umask);
	if (personality(s->personality) < 0)
		child_fail(rfd, "personality %#x: %s", s->personality, strerror(errno));
	for (int sig = 1; sig <= CR_NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		/* The kernel's struct sigaction: handler, flags, restorer, mask. */
		uint64_t k[4] = {s->act[sig - 1].handler, s->act[sig - 1].flags,
				 s->act[sig - 1].restorer, s->act[sig - 1].mask};
		if (syscall(SYS_rt_sigaction, sig, k, NULL, 8) < 0)
			child_fail(rfd, "signal %d: sigaction: %s", sig, strerror(errno));
	}
	if (write(rfd, "", 1) != 1)
		_exit(125);
	for (;;)
		pause();
}

/* Init of a new PID namespace: make the stub with the saved pid, reap it, exit as it did. */
__attribute__((noreturn)) static void reaper(const struct cr_state *s, int rfd)
{
	pid_t c = clone3_pid(0, s->pid);
	if (c < 0)
		child_fail(rfd, "clone3 pid %d in a new PID namespace: %s", s->pid,
			   strerror(errno));
	if (c == 0)
		child_setup(s, rfd);
	close(rfd);
	sigset_t all;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	int st;
	for (;;) {
		pid_t w = waitpid(-1, &st, 0);
		if (w == c)
			break;
		if (w < 0 && errno != EINTR)
			_exit(125);
	}
	_exit(WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st));
}

/* The reaper's only child, as the caller sees it (/proc/PID/task/PID/children). */
static pid_t child_of(pid_t parent)
{
	char path[96];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)parent, (int)parent);
	FILE *f = fopen(path, "re");
	int c = 0;
	if (f) {
		if (fscanf(f, "%d", &c) != 1)
			c = 0;
		fclose(f);
	}
	return (pid_t)c;
}

void stub_destroy(struct stub *st)
{
	int ws;
	if (st->pid > 0) {
		kill(st->pid, SIGKILL);
		/* Reap it first: as our child, or (with a reaper) as our tracee, whose exit
		 * the reaper cannot collect before we did; a dying PID-namespace init waits
		 * for that, so waiting for the reaper first would hang. ECHILD: neither. */
		while (waitpid(st->pid, &ws, __WALL) < 0 && errno == EINTR)
			;
	}
	if (st->reaper > 0) {
		kill(st->reaper, SIGKILL);
		while (waitpid(st->reaper, &ws, 0) < 0 && errno == EINTR)
			;
	}
	st->pid = st->reaper = 0;
}

int stub_create(const struct cr_state *s, struct stub *st, char *err, size_t errlen)
{
	int p[2];
	memset(st, 0, sizeof(*st));
	st->inner = s->pid;
	st->ready_fd = 3;
	for (uint32_t i = 0; i < s->nfds; i++)
		if (s->fds[i].fd >= st->ready_fd)
			st->ready_fd = s->fds[i].fd + 1;
	if (pipe2(p, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -errno;
	}
	/* Park both ends above ready_fd: whatever numbers the caller has open (the image
	 * on 3, stdio closed, ...), neither end may be ready_fd itself (dup3 onto itself
	 * fails) nor 0-2 (the stub's inherited stdio). */
	for (int i = 0; i < 2; i++) {
		int moved = fcntl(p[i], F_DUPFD_CLOEXEC, st->ready_fd + 1);
		if (moved < 0) {
			int e = errno;
			snprintf(err, errlen, "ready pipe: %s", strerror(e));
			close(p[0]);
			close(p[1]);
			return -e;
		}
		close(p[i]);
		p[i] = moved;
	}
	fflush(NULL);
	/* The child is born with every signal blocked: one sent at the saved pid before
	 * child_setup() blocks them would run our handlers in it, or kill it. */
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid_t c = clone3_pid(0, s->pid);
	if (c < 0 && errno == EEXIST) {
		/* The pid is taken here: same pid inside a fresh PID namespace. */
		c = clone3_pid(CLONE_NEWPID, 0);
		if (c > 0)
			st->reaper = c;
	}
	int clone_errno = errno;
	if (c != 0)
		sigprocmask(SIG_SETMASK, &old, NULL);
	if (c < 0) {
		int e = clone_errno;
		snprintf(err, errlen, "clone3 with pid %d: %s", s->pid, strerror(e));
		close(p[0]);
		close(p[1]);
		return -e;
	}
	if (c == 0) {
		close(p[0]);
		if (dup3(p[1], st->ready_fd, 0) < 0)
			_exit(124);
		close_range(3, (unsigned)st->ready_fd - 1, 0);
		close_range((unsigned)st->ready_fd + 1, ~0u, 0);
		if (st->reaper || getpid() != s->pid)
			reaper(s, st->ready_fd);
		child_setup(s, st->ready_fd);
	}
	close(p[1]);
	char m[1024];
	ssize_t n;
	while ((n = read(p[0], m, sizeof(m) - 1)) < 0 && errno == EINTR)
		;
	close(p[0]);
	st->pid = st->reaper ? child_of(st->reaper) : c;
	if (n != 1 || m[0] != '\0' || st->pid <= 0) {
		if (n > 0) {
			m[n] = '\0';
			snprintf(err, errlen, "%s", m);
		} else {
			snprintf(err, errlen, "restore stub for pid %d died while starting",
				 s->pid);
		}
		if (!st->reaper)
			st->pid = c;
		stub_destroy(st);
		return SSI_E_REFUSED;
	}
	return 0;
}
