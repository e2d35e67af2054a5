/*
 * dump.h - checkpoint: freeze a process, write its image to a stream, then let it go on or
 * kill it.
 *
 * Owns: the checkpoint sequence (preflight, seize, read state, stream pages, release/kill).
 * Does not: parse arguments or print (callers do); restore (restore.h).
 * Assumes: caller is root (ptrace, pagemap PFNs); the process is single-threaded x86_64.
 * A failed checkpoint always leaves the process running as before.
 * Two ways: dump_process() in one call, or dump_begin() then dump_release()/dump_kill()
 * (the process stays frozen in between, e.g. across a migration's commit).
 */
#ifndef SSI_MIGRATE_DUMP_H
#define SSI_MIGRATE_DUMP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define DUMP_KILL 1u /* kill the process after a complete image was written */

struct dump_stats {
	uint64_t mapped;  /* bytes mapped */
	uint64_t dumped;  /* page bytes written */
	uint64_t image;	  /* image bytes written */
	double frozen_ms; /* from seize to release/kill */
	double total_ms;  /* whole call */
};

/* Checkpoint pid into fd (written in one pass, never seeked). flags: DUMP_KILL or 0 (leave it
 * running). Returns 0, or a negative code with the reason in err: SSI_E_REFUSED with every
 * preflight blocker (one per line), or -errno / SSI_E_* naming the step that failed. */
int dump_process(pid_t pid, int fd, unsigned flags, struct dump_stats *st, char *err,
		 size_t errlen);

/* Frozen checkpoint, for migration (docs/migration.md): the image is complete and synced
 * but the process stays frozen (ptrace-stopped, signals held) until dump_release() or
 * dump_kill(). Opaque; owned by the caller until one of those two frees it. */
struct dump_handle;

/* Like dump_process() but return with the process frozen and *h set. st->frozen_ms is the
 * time frozen so far. On failure *h is NULL and the process runs as before. 0 or a negative
 * code with err set. PTRACE RULE: the kernel obeys only the thread that seized the process,
 * so dump_release()/dump_kill() must be called from the thread that called dump_begin(), and
 * that thread must not exit while the handle lives (the tracee would be detached and run
 * on). A thread may hold several handles. */
int dump_begin(pid_t pid, int fd, struct dump_handle **h, struct dump_stats *st, char *err,
	       size_t errlen);

/* dump_begin() writing into a ring (shmring.h; this process is its producer) instead of an
 * fd: the same image, no fsync; the caller closes the ring afterwards. */
struct shmring;
int dump_begin_ring(pid_t pid, struct shmring *ring, struct dump_handle **h, struct dump_stats *st,
		    char *err, size_t errlen);

/* The frozen process's pid. */
pid_t dump_handle_pid(const struct dump_handle *h);

/* Thaw: registers and mask put back, it continues exactly as if never stopped (a system
 * call it was in is restarted by the kernel, a job-stopped process stays stopped). Frees h.
 * 0, or -ESRCH and the like if it died meanwhile (h freed too). Called from another thread
 * than dump_begin()'s: -EPERM, err set, nothing done, h still valid. */
int dump_release(struct dump_handle *h, char *err, size_t errlen);

/* After the destination committed: SIGKILL the frozen process and reap it; it never runs
 * again. Frees h; 0. Wrong thread: -EPERM as for dump_release(). */
int dump_kill(struct dump_handle *h, char *err, size_t errlen);

#endif
