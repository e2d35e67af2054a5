/*
 * restore.h - bring a process back from an image stream: same pid, memory, registers,
 * signals, files, limits and credentials; then let it run.
 *
 * Owns: the restore sequence (tracer-driven: a stub child with the saved pid is seized and
 * every change is an injected system call; see the diagram in restore.c).
 * Does not: check checksums ahead of time (callers that own a file run image_verify_fd()
 * first so nothing is created for a bad image); parse arguments or print.
 * Assumes: caller is root; single-threaded x86_64 image from the same kernel build.
 * The restored process is a child of the caller (it may waitpid() it).
 * Two ways: restore_process() (it runs on return), or restore_stopped() then
 * restore_resume()/restore_discard() (it stays stopped until the migration commits).
 */
#ifndef SSI_MIGRATE_RESTORE_H
#define SSI_MIGRATE_RESTORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct restore_stats {
	uint64_t pages;	     /* page bytes written into the process */
	unsigned long calls; /* injected system calls */
	double total_ms;     /* whole call */
	int new_pidns;	     /* 1: the pid was taken; restored in a new PID namespace */
};

/* Restore the image read from fd. On success *pid is the restored process (its pid as seen
 * by the caller) and it runs. On failure nothing is left running and err says which step
 * failed. Returns 0 or a negative code (-errno, SSI_E_*). */
int restore_process(int fd, pid_t *pid, struct restore_stats *st, char *err, size_t errlen);

/* A restored process that has not run yet: opaque, owned by the caller until
 * restore_resume() or restore_discard() frees it. */
struct restore_handle;

/* Like restore_process() but the process is left stopped before its first instruction
 * (ptrace-stopped by the calling thread, state 't' in /proc; signals sent to it meanwhile
 * stay pending) and *h is set. On failure *h is NULL and nothing is left. PTRACE RULE:
 * restore_resume()/restore_discard() must be called from the thread that called
 * restore_stopped(), and that thread must not exit while h lives (the stub's parent death
 * signal is cleared, but the tracee would be detached and run). 0 or a negative code. */
int restore_stopped(int fd, struct restore_handle **h, pid_t *pid, struct restore_stats *st,
		    char *err, size_t errlen);

/* restore_stopped() reading the image from a ring (shmring.h; this process is its consumer)
 * instead of an fd. */
struct shmring;
int restore_stopped_ring(struct shmring *ring, struct restore_handle **h, pid_t *pid,
			 struct restore_stats *st, char *err, size_t errlen);

/* Let it run from where it was checkpointed (a job-stopped image comes back stopped).
 * Frees h. 0, or a negative code with err set (it is then killed). Wrong thread: -EPERM,
 * nothing done, h still valid. */
int restore_resume(struct restore_handle *h, char *err, size_t errlen);

/* Kill it without it ever running (and its PID-namespace init, if any) and reap it. Frees
 * h; 0. Wrong thread: -EPERM as above. */
int restore_discard(struct restore_handle *h, char *err, size_t errlen);

#endif
