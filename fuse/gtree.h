/*
 * gtree.h - the /gproc name space: one table {path pattern, kind, mode, generator} that drives
 * lookup/getattr, readdir and open (STYLE.md #12).
 *
 * Patterns are component lists; "%p" matches a process directory (a gpid from the snapshot, or
 * the caller's own LOCAL pid, which resolves but is never listed), "%n" a node name.
 * Does not know FUSE: main.c adapts these calls to libfuse. Thread-safe (no shared state
 * besides the gsrc).
 */
#ifndef SSI_GTREE_H
#define SSI_GTREE_H

#include <stdint.h>
#include <sys/stat.h>

#include "fuse/gsrc.h"
#include "ssid/buf.h"
#include "ssid/ptable.h"

enum gtree_kind {
	GTREE_DIR,
	GTREE_REG,
	GTREE_LNK
};

struct gtree_ref;

struct gtree_entry {
	const char *c[3]; /* path components; NULL-terminated when shorter */
	int n;		  /* number of components (0 = the root) */
	enum gtree_kind kind;
	mode_t mode; /* permission bits */
	/* Regular file: append its content. Link: append the target. NULL for directories. */
	int (*gen)(const struct gtree_ref *ref, struct buf *out);
};

/* A resolved path. Holds a snapshot reference until gtree_ref_release. */
struct gtree_ref {
	const struct gtree_entry *e;
	struct gsrc *src;
	struct gsnap *snap;		/* held */
	const struct ptable_proc *proc; /* %p paths: into snap, or &local */
	const struct ptable_node *node; /* %n paths: into snap */
	struct ptable_proc local;	/* the caller's own process, read from /proc */
	uint32_t caller;		/* caller's thread id (FUSE context), 0 unknown */
};

/* Resolve path (absolute, from the mount root) for a caller thread id. 0 with *ref filled
 * (release it), -ENOENT, -ENOTDIR, or a negative code from the source. */
int gtree_resolve(struct gsrc *src, const char *path, uint32_t caller, struct gtree_ref *ref);
void gtree_ref_release(struct gtree_ref *ref);

/* The path of inode ino (as st_ino of gtree_stat/gtree_readdir gives it) into out. 0, or
 * -ENOENT for a malformed inode or a node no longer in the table. */
int gtree_ino_path(struct gsrc *src, uint64_t ino, char *out, size_t cap);
/* 1 if ref is the caller's own local pid directory or inside it. */
static inline int gtree_is_local(const struct gtree_ref *ref)
{
	return ref->proc && ref->proc == &ref->local;
}

/* Attributes of a resolved path (st_ino: a stateless inode number, see gtree_ino_path): owner = the process's euid/egid for process paths, else
 * root; st_size 0 for generated files (served with direct_io). */
void gtree_stat(const struct gtree_ref *ref, struct stat *st);

/* Content of a regular file, or target of a link, appended to out. 0 or a negative code. */
int gtree_render(const struct gtree_ref *ref, struct buf *out);

/* List a directory: fill(ctx, name, st) for each child; a non-zero return of fill stops the
 * listing. Local pids are not listed. 0, -ENOTDIR, or fill's non-zero value. */
int gtree_readdir(const struct gtree_ref *ref,
		  int (*fill)(void *ctx, const char *name, const struct stat *st), void *ctx);

#endif
