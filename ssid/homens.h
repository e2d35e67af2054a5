/*
 * homens.h - the mount namespace of a process that runs away from home (issue 7).
 *
 * Owns: building, in the calling process, a private mount namespace whose root is the home
 * node's /gfs view (<gfs>/<home>), with node-local system directories bound in when they are
 * the same on both nodes, the local /proc /dev /sys /run, and /gfs itself; then pivot_root and
 * chdir. Does not own: forking, credentials, restoring or exec'ing the process (the caller),
 * nor the /gfs mount (ssid starts gprocfs --gfs). Assumes root (CAP_SYS_ADMIN), a mounted /gfs
 * serving the home node, and a single-threaded caller (unshare(CLONE_NEWNS) refuses a process
 * that shares its fs_struct): call it in a freshly forked child.
 */
#ifndef SSI_HOMENS_H
#define SSI_HOMENS_H

#include <stddef.h>
#include <stdint.h>

/* Default of [gfs] local_dirs: system directories used from this node when identical. */
#define HOMENS_LOCAL_DIRS_DEFAULT "/usr /lib /lib64 /bin /sbin"
#define HOMENS_MAX_DIRS		  16 /* at most this many local_dirs */

struct homens_spec {
	const char *home;	/* home node name as in /gfs (e.g. "node1"); required */
	const char *gfs;	/* where /gfs is mounted on this node; NULL or "" = "/gfs" */
	const char *local_dirs; /* space-separated absolute paths; NULL = the default above;
				 * "" = none (everything from home) */
	const char *cwd;	/* working directory inside the new root; NULL = "/" */
	const char *cache;	/* file remembering homens_same answers (homens_cache.h);
				 * NULL or "" = decide every time (walks home's dirs) */
	int cache_only;		/* with cache: a directory without a valid remembered answer
				 * is taken from home (never walked here; someone else fills
				 * the cache, e.g. ssid's warm-up child) */
};

/*
 * Enter the namespace: unshare(CLONE_NEWNS), make every mount private, bind <gfs>/<home> on
 * itself as the new root, bind in the local directories that are the same on both nodes
 * (homens_same, or its remembered answer: spec->cache, cache_only), the local /proc /dev /sys
 * (required on home) and /run (if home has it),
 * /gfs at /gfs, pivot_root into it, detach the old root, chdir(cwd). Returns 0, or a negative
 * errno / SSI_E_* code with a one-line reason in err (step and path) if errlen > 0. On
 * success err holds a summary ("root R; local: /usr; home: ...; link: /bin ...; cached N/M")
 * for the caller's log. On failure the process may be left half-way (namespace unshared, some mounts made): it
 * must not go on to run the user's program — exit instead.
 */
int homens_enter(const struct homens_spec *s, char *err, size_t errlen);

/*
 * Fingerprint of directory dir: FNV-1a 64 over the sorted entries down to depth 3 (dir/a/b/c),
 * each as relative name, file type, size, mtime (s and ns) and symlink target, plus the size
 * and mtime of dpkg_status (if not NULL and present; "absent" otherwise). Returns 0 and sets
 * *fp, or a negative errno (dir unreadable, not a directory). Entries that cannot be read
 * below dir count with their error, so two sides differ rather than compare equal.
 */
int homens_fingerprint(const char *dir, const char *dpkg_status, uint64_t *fp);

/*
 * The rule: is local directory path (absolute, e.g. "/usr") the same here and at home (seen
 * at homeroot, e.g. "/gfs/node1")? Returns 1 same directory (fingerprints equal), 2 same
 * symlink on both (the link needs no mount: it resolves inside the new root), 0 different or
 * missing on either side, negative errno when this node's own copy cannot be read.
 */
int homens_same(const char *path, const char *homeroot);
/* As homens_same; *unsure (if not NULL) is set to 1 when a 0 answer comes from home's copy
 * being unreadable (not from a difference or its absence): an answer not to remember. */
int homens_same_ex(const char *path, const char *homeroot, int *unsure);

#endif
