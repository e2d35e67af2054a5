/*
 * stub.h - the child that becomes the restored process: created with the saved pid, it sets
 * up what plain C can (descriptors, cwd, umask, personality, signal handlers), then waits
 * to be seized; restore.c replaces everything else by injected calls.
 *
 * Owns: clone3 with set_tid (and the PID-namespace fallback), the stub's own setup and its
 * error report. Does not: touch memory or registers of the stub (restore.c does).
 * Assumes: the caller is single-threaded (the stub is a fork of it and calls libc: another
 * thread holding a libc lock at the fork could hang it) and root. Any descriptor numbers of
 * the caller work (its image on fd 3, stdio closed, ...).
 */
#ifndef SSI_MIGRATE_STUB_H
#define SSI_MIGRATE_STUB_H

#include <stddef.h>
#include <sys/types.h>

#include "migrate/state.h"

struct stub {
	pid_t pid;    /* stub as seen by the caller (what to ptrace and wait for) */
	pid_t inner;  /* its pid inside its own PID namespace (== s->pid) */
	pid_t reaper; /* with a new PID namespace: its init, the caller's child; else 0 */
	int ready_fd; /* descriptor number in the stub to close before it runs */
};

/* Create the stub for s. On success it is blocked in pause() with all signals blocked,
 * descriptors 0-2 inherited from the caller and the image's other descriptors open.
 * 0, or a negative code with err set (e.g. a file that shrank below its saved offset).
 * On failure nothing is left running. */
int stub_create(const struct cr_state *s, struct stub *st, char *err, size_t errlen);

/* Kill the stub (and its reaper) and reap what is ours; the stub may be our tracee. */
void stub_destroy(struct stub *st);

#endif
