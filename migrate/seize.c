/*
 * seize.c - attach, interrupt, classify stops, release (seize.h).
 *
 * Stops seen after PTRACE_INTERRUPT (status >> 16 == PTRACE_EVENT_STOP):
 *   WSTOPSIG == SIGTRAP                 interrupt stop: frozen, what we want
 *   WSTOPSIG in STOP/TSTP/TTIN/TTOU     group stop: the process was job-stopped; refused
 * and otherwise a signal-delivery stop: the signal is passed on (PTRACE_CONT with it) and we
 * wait again, so a checkpoint never eats a signal.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "migrate/seize.h"
#include "ssid/ssierr.h"

int seize_wait(pid_t pid, int *status)
{
	for (;;) {
		pid_t r = waitpid(pid, status, __WALL);
		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

static int tracer_of(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	int t = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "TracerPid: %d", &t) == 1)
			break;
	fclose(f);
	return t;
}

static int is_job_stop_sig(int sig)
{
	return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

int seize_task(pid_t pid, int timeout_ms, int *job_stopped, char *err, size_t errlen)
{
	*job_stopped = 0;
	if (ptrace(PTRACE_SEIZE, pid, NULL, (void *)(long)(PTRACE_O_TRACESYSGOOD)) < 0) {
		int e = errno;
		int t = e == EPERM ? tracer_of(pid) : 0;
		if (t)
			snprintf(err, errlen, "pid %d is already traced by pid %d", (int)pid, t);
		else
			snprintf(err, errlen, "pid %d: PTRACE_SEIZE: %s", (int)pid, strerror(e));
		return -e;
	}
	if (ptrace(PTRACE_INTERRUPT, pid, NULL, NULL) < 0) {
		int e = errno;
		snprintf(err, errlen, "pid %d: PTRACE_INTERRUPT: %s", (int)pid, strerror(e));
		return -e;
	}
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		int st;
		pid_t r = waitpid(pid, &st, __WALL | WNOHANG);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errlen, "pid %d: wait: %s", (int)pid, strerror(errno));
			return -errno;
		}
		if (r == 0) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			long ms = (now.tv_sec - t0.tv_sec) * 1000 +
				  (now.tv_nsec - t0.tv_nsec) / 1000000;
			if (ms > timeout_ms) {
				/* We stay its tracer until we exit; the kernel then lets it run. */
				snprintf(
					err, errlen,
					"pid %d did not stop within %d ms (uninterruptible sleep?)",
					(int)pid, timeout_ms);
				return -ETIMEDOUT;
			}
			usleep(200);
			continue;
		}
		if (!WIFSTOPPED(st)) {
			snprintf(err, errlen, "pid %d exited while being frozen", (int)pid);
			return -ESRCH;
		}
		int sig = WSTOPSIG(st);
		if (st >> 16 == PTRACE_EVENT_STOP) {
			if (sig == SIGTRAP)
				return 0;
			if (is_job_stop_sig(sig)) {
				/* Group stop: frozen already. Its interrupt is still pending:
				 * the first resume would report it, which the injection
				 * code does not expect, so nothing resumes it but calls
				 * that expect the stop sequence (inject.c steps past it). */
				*job_stopped = sig;
				return 0;
			}
			sig = 0;
		}
		/* A signal-delivery stop: deliver it as if we were not here. */
		if (ptrace(PTRACE_CONT, pid, NULL, (void *)(long)sig) < 0) {
			snprintf(err, errlen, "pid %d: PTRACE_CONT: %s", (int)pid, strerror(errno));
			return -errno;
		}
	}
}

int seize_block_signals(pid_t pid, uint64_t *saved)
{
	uint64_t all = ~0ull;
	if (ptrace(PTRACE_GETSIGMASK, pid, (void *)sizeof(*saved), saved) < 0)
		return -errno;
	if (ptrace(PTRACE_SETSIGMASK, pid, (void *)sizeof(all), &all) < 0)
		return -errno;
	return 0;
}

int seize_release(pid_t pid, uint64_t mask)
{
	if (ptrace(PTRACE_SETSIGMASK, pid, (void *)sizeof(mask), &mask) < 0)
		return -errno;
	/* Pass once more through an interrupt stop: on the way there the kernel sees the
	 * registers we put back (orig_rax, -ERESTART* in rax) and restarts the interrupted
	 * call itself, with its restart block, exactly as if it had never been frozen. */
	if (ptrace(PTRACE_INTERRUPT, pid, NULL, NULL) < 0)
		return -errno;
	int sig = 0;
	for (;;) {
		int st;
		if (ptrace(PTRACE_CONT, pid, NULL, (void *)(long)sig) < 0)
			return -errno;
		int e = seize_wait(pid, &st);
		if (e < 0)
			return e;
		if (!WIFSTOPPED(st))
			return -ESRCH;
		sig = WSTOPSIG(st);
		if (st >> 16 == PTRACE_EVENT_STOP) {
			if (sig == SIGTRAP || is_job_stop_sig(sig))
				break;
			sig = 0;
		} else if (sig == (SIGTRAP | 0x80)) {
			sig = 0;
		}
	}
	if (ptrace(PTRACE_DETACH, pid, NULL, NULL) < 0)
		return -errno;
	return 0;
}
