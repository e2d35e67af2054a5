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

#endif
