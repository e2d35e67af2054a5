/*
 * fault.h - named fault-injection points (STYLE.md #11), for tests only.
 *
 * Owns: parsing the SSI_FAULT environment variable and answering "is this point armed,
 * and with what action?". Does not: carry out the action (the caller crashes, cuts the
 * link or fails the step) or log. Off, at the cost of one atomic load per point, unless
 * SSI_FAULT is set (or fault_set() was called).
 * Assumes: points are static strings named "<area>.<step>" ("mig.after_stream").
 *
 * SSI_FAULT syntax: a comma-separated list of  point[:action][@N]
 *	point   [a-z0-9_.]{1,63}
 *	action  fail (default) | cut | crash | crash_src | crash_dst | crash_home | stall |
 *	        pause
 *	@N      fire only on the N-th hit of the point (1-based); default: every hit
 * Example: SSI_FAULT="mig.after_stream:crash_src,restore.after_mm:fail@2"
 * SSI_FAULT_FILE=PATH instead: the same syntax read from PATH, read again whenever PATH
 * changes (mtime, size or inode), which also resets the hit counts; a missing or empty file
 * arms nothing. Lets a test arm one point per case without restarting the daemons.
 *
 * Meaning of the actions (what the caller does):
 *	fail       return an error from this step (-EIO unless the step knows better)
 *	cut        close the link to the peer of this step (as `ssi-lab cut`)
 *	crash      this node dies at once (the daemon _exits; ssi-lab kills the node)
 *	crash_src / crash_dst / crash_home: crash, but only on the node playing that role
 *	           in the migration at hand (fault_for_role() filters)
 *	stall      stop making progress in this step (to fire the peers' time-outs)
 *	pause      hold this step for fault_ms(FAULT_PAUSE) (SSI_FAULT_PAUSE_MS, default 2000),
 *	           then go on as if nothing happened: a test crashes or cuts nodes meanwhile
 * cut lasts fault_ms(FAULT_CUT) (SSI_FAULT_CUT_MS, default 5000) before the link may come back.
 */
#ifndef SSI_MIGRATE_FAULT_H
#define SSI_MIGRATE_FAULT_H

#include <stdbool.h>

#define FAULT_ENV	 "SSI_FAULT"
#define FAULT_FILE_ENV	 "SSI_FAULT_FILE"
#define FAULT_MAX_POINTS 16 /* entries in one SSI_FAULT */
#define FAULT_NAME_MAX	 63

enum fault_action {
	FAULT_NONE = 0,
	FAULT_FAIL,
	FAULT_CUT,
	FAULT_CRASH,
	FAULT_CRASH_SRC,
	FAULT_CRASH_DST,
	FAULT_CRASH_HOME,
	FAULT_STALL,
	FAULT_PAUSE,
};

/* Read SSI_FAULT (once; later calls return the first result). Returns 0 (also when the
 * variable is unset or empty: no point armed) or -EINVAL for a malformed value, in which
 * case no point is armed. Call it at start-up to report a bad value; fault_hit() calls it
 * lazily otherwise. Thread-safe. */
int fault_init(void);

/* Replace the armed points by those of spec (same syntax; NULL or "" disarms all) and
 * reset hit counts. Returns 0 or -EINVAL (then nothing is armed). For tests; not
 * thread-safe against concurrent fault_hit(). */
int fault_set(const char *spec);

/* Count a hit of point and return its action if it fires now, else FAULT_NONE (0), so
 * `if (fault_hit("restore.after_mm")) return -EIO;` works. Thread-safe. */
enum fault_action fault_hit(const char *point);

/* The crash_* actions only apply on the node playing that role: returns a unless it is a
 * crash_<role> for another role ("src", "dst" or "home" is this node's role), then
 * FAULT_NONE; a matching crash_<role> is returned as FAULT_CRASH. */
enum fault_action fault_for_role(enum fault_action a, const char *role);

/* Hits of point counted since fault_set()/fault_init() (armed points only; else 0). */
unsigned fault_count(const char *point);

/* How long a cut or a pause lasts, in ms: SSI_FAULT_CUT_MS / SSI_FAULT_PAUSE_MS (1..600000)
 * or the default (5000 / 2000); 0 for other actions. */
int fault_ms(enum fault_action a);

/* "fail", "cut", ... or "none". Static string. */
const char *fault_action_name(enum fault_action a);

#endif
