/*
 * seize.h - freeze a task with PTRACE_SEIZE/PTRACE_INTERRUPT, classify its stops, and let
 * it go again exactly as it was.
 *
 * Owns: attach, the wait for the interrupt stop (passing on signals that arrive meanwhile),
 * blocking signals while calls are injected, and the release that resumes an interrupted
 * system call the way the kernel would. Does not: read the task's state.
 * Assumes: the caller runs as root; one task (single-threaded process).
 */
#ifndef SSI_MIGRATE_SEIZE_H
#define SSI_MIGRATE_SEIZE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Wait for the next stop of pid (a tracee). 0 with *status set, or -errno. EINTR retried. */
int seize_wait(pid_t pid, int *status);

/* Seize pid and bring it to an interrupt stop within timeout_ms. Signals that arrive first are
 * delivered as they would have been. A process stopped by job control is frozen in its
 * group stop: *job_stopped receives the stop signal (else 0); see seize_release(). On
 * failure the task is detached and as it was; err names the reason (already traced, died,
 * timed out). 0 or -errno. */
int seize_task(pid_t pid, int timeout_ms, int *job_stopped, char *err, size_t errlen);

/* Block every signal of the stopped task, saving its mask in *saved. 0 or -errno. */
int seize_block_signals(pid_t pid, uint64_t *saved);

/* Let a task go whose registers the caller has put back: set its mask to mask, then make it
 * pass one more interrupt stop so that a system call it was in is restarted by the kernel
 * exactly as without us, then detach. A job-stopped task (send it SIGSTOP first) is
 * detached in its group stop and stays stopped. 0 or -errno. */
int seize_release(pid_t pid, uint64_t mask);

#endif
