/*
 * preflight.h - everything that stops a process from being checkpointed, found before it is
 * frozen and reported all at once.
 *
 * Owns: the list of refusals (threads, tracer, seccomp, shadow stack, sockets and other
 * descriptor kinds, device/uprobes/SysV/deleted-file mappings, sealed vdso, chroot).
 * Does not: stop or change the process. Assumes: /proc of the process's PID namespace.
 */
#ifndef SSI_MIGRATE_PREFLIGHT_H
#define SSI_MIGRATE_PREFLIGHT_H

#include <stddef.h>
#include <sys/types.h>

/* Append one line per blocker ("pid N: fd 3: socket:[1234]: sockets are not supported") to
 * msg (NUL-terminated, truncated to len). Returns the number of blockers (0: can be
 * checkpointed) or -errno when the process cannot be inspected at all (-ESRCH: no such
 * process). */
int preflight_check(pid_t pid, char *msg, size_t len);

#endif
