/*
 * dump.h - checkpoint: freeze a process, write its image to a stream, then let it go on or
 * kill it.
 *
 * Owns: the checkpoint sequence (preflight, seize, read state, stream pages, release/kill).
 * Does not: parse arguments or print (callers do); restore (restore.h).
 * Assumes: caller is root (ptrace, pagemap PFNs); the process is single-threaded x86_64.
 * A failed checkpoint always leaves the process running as before.
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

#endif
