/*
 * procinfo.h - read a process's state from /proc and from outside calls (no injection):
 * identity, credentials, mm fields, auxv, memory map, descriptors, limits.
 *
 * Owns: /proc parsing for dump.c. Does not: stop the process, inject calls or read pages.
 * Assumes: the process is frozen (seize.h) so what is read stays true; root.
 * Every function fills its part of a struct cr_state and returns 0 or -errno / SSI_E_*,
 * writing what failed to err.
 */
#ifndef SSI_MIGRATE_PROCINFO_H
#define SSI_MIGRATE_PROCINFO_H

#include <stddef.h>
#include <sys/types.h>

#include "migrate/state.h"

/* comm, exe, cwd, cmdline, umask, personality, credentials, kernel and host names. */
int procinfo_identity(pid_t pid, struct cr_state *s, char *err, size_t errlen);
/* mm fields from /proc/PID/stat (brk excepted) and the auxv. */
int procinfo_mm(pid_t pid, struct cr_state *s, char *err, size_t errlen);
/* Memory map (vsyscall left out) and the vdso bytes/vvar sizes. */
int procinfo_maps(pid_t pid, struct cr_state *s, char *err, size_t errlen);
/* File descriptors (kinds as in preflight.c). */
int procinfo_fds(pid_t pid, struct cr_state *s, char *err, size_t errlen);
/* rlimits, robust list, pending signals, rseq configuration, xstate. */
int procinfo_misc(pid_t pid, struct cr_state *s, char *err, size_t errlen);

#endif
