/*
 * inject.h - run system calls inside a stopped, ptrace-seized task, and read or write its
 * memory.
 *
 * Owns: the mechanics of one injected call: registers, the `syscall` gadget, the entry and
 * exit syscall-stops. Does not: choose what to call, seize or release the task (seize.h).
 * Assumes: the caller is the tracer, the task is in a ptrace stop, all its signals but
 * SIGKILL/SIGSTOP are blocked while calls are injected (PTRACE_SETSIGMASK) and
 * PTRACE_O_TRACESYSGOOD is set. After inject_syscall() the task sits in a syscall-exit-stop.
 */
#ifndef SSI_MIGRATE_INJECT_H
#define SSI_MIGRATE_INJECT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

struct inject {
	pid_t pid;		      /* the stopped task */
	uint64_t gadget;	      /* address of a `syscall` (0f 05) instruction in it */
	uint64_t scratch;	      /* address of writable scratch memory in it, or 0 */
	size_t scratch_len;	      /* bytes at scratch */
	struct user_regs_struct base; /* registers the calls start from (segment selectors) */
	unsigned long calls;	      /* calls injected so far (statistics) */
	int stop_seen;		      /* a SIGSTOP arrived and was held back: send it again */
};

/* Prepare ctx for task pid with the given gadget; reads the current registers as base.
 * 0 or -errno. */
int inject_init(struct inject *c, pid_t pid, uint64_t gadget);

/* Run syscall nr(a[0..5]) in the task. *ret receives the raw return value (-4095..-1 is
 * -errno). Returns 0 when the call ran (whatever it returned), -errno when ptrace failed,
 * -ESRCH when the task died, -EPROTO on an unexpected stop. */
int inject_syscall(struct inject *c, long nr, const uint64_t a[6], int64_t *ret);

/* Convenience: as inject_syscall with up to six arguments; returns the call's own result
 * (>= 0, or -errno from the call) or a negative ptrace failure. */
int64_t inject_call(struct inject *c, long nr, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
		    uint64_t a5, uint64_t a6);

/* Copy len bytes to/from addr in task pid: process_vm_writev/readv, falling back to
 * /proc/PID/mem (which ignores protections) on EFAULT. 0 or -errno. */
int inject_write(pid_t pid, uint64_t addr, const void *p, size_t len);
int inject_read(pid_t pid, uint64_t addr, void *p, size_t len);

/* Offset of a `syscall` instruction in this process's own vdso (same kernel: same bytes in
 * every process), and the vdso's address and size here. -ENOENT when not found. */
int inject_vdso_syscall(uint64_t *vdso, uint64_t *len, uint64_t *off);

#endif
