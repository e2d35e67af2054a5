/*
 * homens_cache.h - a file that remembers homens_same() answers, so a process moving away
 * from home does not walk home's /usr through /gfs (~1.3 s) at every move.
 *
 * Owns: the cache file's format, its validation stamps and its atomic replacement. Does not
 * own the rule itself (homens_same in homens.c) nor where the file lives (the caller: ssid
 * passes run_dir/homens.cache). Assumes the file and its directory are writable by root only
 * (a forged entry would make a process use this node's /usr in place of home's).
 */
#ifndef SSI_HOMENS_CACHE_H
#define SSI_HOMENS_CACHE_H

/* An answer is reused for at most this long, even when every stamp still matches: it bounds
 * how long a change the stamps cannot see (a file deep in /usr replaced outside dpkg with
 * the directory mtimes kept) goes unnoticed. */
#define HOMENS_CACHE_TTL_S 600
#define HOMENS_CACHE_MAX   256 /* entries kept (home, directory); the oldest go first */
#define HOMENS_CACHE_AHEAD 120 /* homens_cache_warm renews answers this much before expiry */

/*
 * homens_same(path, homeroot) for home node `home` (computed from the fingerprints both nodes
 * publish, see homens_cache_publish; without home's, 0 and nothing stored), answered from file `cache` when an entry
 * for (home, path) exists that is younger than HOMENS_CACHE_TTL_S and whose stamp still
 * matches: lstat of path here and at home (type, size, mtime), and size and mtime of
 * /var/lib/dpkg/status here and at home (four stats, two of them through /gfs). Otherwise
 * computes it, and stores a 0/1/2 answer (stamp taken before the walk, so a change during the
 * walk invalidates it); a cache file that cannot be read or written only costs the walk.
 * cache NULL or "": no cache. *hit (if not NULL) is 1 when the answer came from the file.
 * Returns what homens_same returns. Safe to call from several processes at once (the file is
 * replaced by rename; a concurrent update may be lost, never half-written).
 */
int homens_cache_same(const char *cache, const char *home, const char *path, const char *homeroot,
		      int *hit);

/*
 * Only the remembered answer: what homens_cache_same would return from the file (a valid
 * entry, same rules), or -ENOENT when there is none (nothing is walked or written).
 */
int homens_cache_get(const char *cache, const char *home, const char *path, const char *homeroot);

/*
 * Keep (home, path) ready for homens_cache_same: recompute and store the answer unless the
 * file holds one whose stamp matches and that stays valid for HOMENS_CACHE_AHEAD seconds
 * more. For a background refresher (ssid: mig_home_tick), so moves find a valid answer.
 * Returns what homens_same returns (the stored or the new answer).
 */
int homens_cache_warm(const char *cache, const char *home, const char *path, const char *homeroot);

/*
 * Publish this node's own fingerprints of dirs (space/tab/comma separated absolute paths) in
 * homens.fp beside cache (mode 0644: other nodes' daemons read it through /gfs), walking a
 * directory here only when its stamp changed or its entry is older than
 * HOMENS_CACHE_TTL_S - HOMENS_CACHE_AHEAD. The answers above compare this node's fingerprint
 * with the one home published, never walking home's directory through /gfs; so every node
 * must publish (ssid's refresher does, before it warms), and all nodes must use the same
 * run_dir path. Returns 0 or a negative errno.
 */
int homens_cache_publish(const char *cache, const char *dirs);
/* The same for the tree under root ("" = /): fingerprints of root+dir against root's dpkg
 * status, written to root + dir(cache)/homens.fp. Tests play another node with it. */
int homens_cache_publish_at(const char *root, const char *cache, const char *dirs);

#endif
