/*
 * mig_home.h - the home node's view for processes the migration module holds away from home
 * (issue 7): the restore worker enters it before restoring, the checkpoint child joins it
 * before dumping.
 *
 * Owns: resolving what the worker needs (home node name from membership, [gfs] mount and
 * local_dirs, the cache file run_dir/homens.cache) in the daemon before the fork, and the two
 * calls made in the forked children. Does not own the namespace itself (homens.h) nor the
 * restore/dump engines. The children must be single-threaded (forked from ssid, nothing
 * started since): unshare/setns of a mount namespace refuse a process sharing its fs_struct.
 */
#ifndef SSI_MIG_HOME_H
#define SSI_MIG_HOME_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#include "ssid/config.h"

struct cluster;

struct mig_home {
	int away;		    /* 1: the process's home is another node: enter its view */
	int home_id;		    /* its home node id */
	char home[CONFIG_NAME_MAX]; /* its name; "" if membership does not know it */
	char gfs[PATH_MAX];	    /* [gfs] mount of this node; "" = none */
	char local_dirs[1024];	    /* [gfs] local_dirs */
	char cache[PATH_MAX];	    /* run_dir/homens.cache; "" if it does not fit */
};

/*
 * Fill *h for a process whose home is node home_id, on this node (cfg; c for the id -> name
 * map, taken under the cluster lock). Call in the daemon before forking the worker: the child
 * must not touch the cluster's state. Never fails: what is missing is reported by
 * mig_home_enter().
 */
void mig_home_prepare(struct mig_home *h, const struct config *cfg, struct cluster *c, int home_id);

/*
 * In the restore worker, before restore_stopped(): if h->away, enter the home view
 * (homens_enter with cwd "/" - the restore sets the process's own cwd - and cache_only: a
 * directory without a remembered answer comes from home; nothing is walked while frozen). Returns 0 (nothing
 * to do, or entered; then info holds homens' summary, "" if nothing was done), or a negative
 * code with one line in info (which node, which step): the worker must report the failure and
 * exit, never restore (its namespace may be half-built).
 */
int mig_home_enter(const struct mig_home *h, char *info, size_t infolen);

/*
 * In the checkpoint child, before dump_begin(pid): when pid runs in another mount namespace
 * whose root is not ours (a home view a worker of this node made), join that namespace, so
 * the paths read from /proc/PID (maps, fd, cwd, exe) and the files stat'ed by those paths are
 * the ones the process sees, and the next node reopens the right files. The local /proc is
 * mounted in such a view, so /proc/PID stays readable. Returns 1 joined, 0 nothing to do
 * (same namespace, or same root: e.g. a private namespace with /gproc over /proc), or a
 * negative errno (then nothing changed).
 */
int mig_home_join(pid_t pid);

/*
 * Keep the "same on both nodes" answers of every up peer warm in run_dir/homens.cache, so a
 * move here rarely walks home's directories (homens_cache_warm). Call often from one thread
 * (the migration loop); at most once a second it looks at membership, and when the set of up
 * named peers changed or MIG_HOME_WARM_S passed it forks a child (nice 10, closes every fd,
 * dies with its parent thread) that checks each peer's local_dirs and recomputes what is
 * missing, stale or about to expire. No-op without a /gfs mount. The caller reaps children
 * (waitpid(-1)); a child still running is not doubled.
 */
#define MIG_HOME_WARM_S 15
void mig_home_tick(const struct config *cfg, struct cluster *c);

#endif
