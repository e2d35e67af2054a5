/*
 * fusesup.h - ssid starts and watches its FUSE children: gprocfs on /gproc and gprocfs --gfs
 * on /gfs, both run from the directory of ssid's own executable.
 *
 * Owns: one child process per supervisor, its mount point (created if missing), clearing a
 * stale mount of the same file system left by a crashed run (recognised in mountinfo by its
 * fuse source name), restarts with back-off (FUSESUP_BACKOFF_MIN_MS doubling to
 * FUSESUP_BACKOFF_MAX_MS; a child that ran FUSESUP_STABLE_MS resets it), unmount + stop at the
 * end. Does not own what the file system serves (fuse/, proctab.h, fsfwd.h).
 * Threads: all calls for one supervisor from one thread (the daemon's main loop). The child is
 * reaped with waitpid(pid, WNOHANG) in fusesup_tick(), so no SIGCHLD handling is needed.
 * Logs: daemon-level code that acts on events (start, exit, restart).
 */
#ifndef SSI_FUSESUP_H
#define SSI_FUSESUP_H

#include <stddef.h>
#include <stdint.h>

#define FUSESUP_BACKOFF_MIN_MS 500
#define FUSESUP_BACKOFF_MAX_MS 30000
#define FUSESUP_STABLE_MS      30000
#define FUSESUP_TICK_MS	       200
#define FUSESUP_STOP_MS	       2000 /* SIGTERM, then SIGKILL after this long */

struct fusesup;

/* What to run: `gprocfs [mode] MOUNT -f -o OPTS`. */
struct fusesup_spec {
	const char *what;   /* name in logs and errors, e.g. "/gproc" */
	const char *mode;   /* NULL, or an option placed before MOUNT, e.g. "--gfs" */
	const char *mount;  /* absolute mount point; "" or NULL: nothing to supervise */
	const char *fsname; /* fuse source name in mountinfo ("gprocfs", "gfs") */
	const char *opts;   /* value of -o */
};

/* Prepare a supervisor (copies spec). *out = NULL and 0 when spec->mount is empty, or when
 * gprocfs is not next to ssid (then a warning is logged: the daemon runs without this view).
 * 0 or a negative errno with err (a path too long). */
int fusesup_new(struct fusesup **out, const struct fusesup_spec *spec, char *err, size_t errlen);
/* Clear a stale mount, create the mount point, start the child. 0, or negative with err when
 * the mount point cannot be created. A start that fails later is retried by fusesup_tick().
 * NULL is fine. */
int fusesup_start(struct fusesup *s, int64_t now_ms, char *err, size_t errlen);
/* Reap and restart the child when due. Returns ms until it wants to run again. NULL is fine. */
int fusesup_tick(struct fusesup *s, int64_t now_ms);
/* Pid of the running child, or 0. */
int fusesup_pid(const struct fusesup *s);
/* Unmount (lazily), stop the child (SIGTERM, SIGKILL after FUSESUP_STOP_MS), free. NULL ok. */
void fusesup_free(struct fusesup *s);

#endif
