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
	int vslot; /* per-process file with a version (1..GTREE_NVER), 0 if none */
};

/* Per-process files whose content is versioned per snapshot (see gtree_prepare). */
#define GTREE_NVER    7
#define GTREE_GEN_MAX ((1u << 27) - 1) /* generations are 1..GTREE_GEN_MAX */

/* A resolved path. Holds a snapshot reference until gtree_ref_release. */
struct gtree_ref {
	const struct gtree_entry *e;
	struct gsrc *src;
	struct gsnap *snap;		/* held */
	const struct ptable_proc *proc; /* %p paths: into snap, or &local */
	const struct ptable_node *node; /* %n paths: into snap */
	struct ptable_proc local;	/* the caller's own process, read from /proc */
	uint32_t caller;		/* caller's thread id (FUSE context), 0 unknown */
	uint32_t gen;			/* versioned file: its content's generation, else 0 */
	uint32_t len;			/* versioned file: its content's length */
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

/* Attributes of a resolved path (st_ino: a stateless inode number, see gtree_ino_path): owner
 * = the process's euid/egid for process paths, else root. Versioned files (gtree_versioned):
 * st_size = the exact length of the content, and the inode number carries the generation, so
 * one inode number always stands for one content. Other generated files: st_size 0 (served
 * with direct_io). */
void gtree_stat(const struct gtree_ref *ref, struct stat *st);

/* Versions of per-process files. gprocfs calls gtree_prepare for every new snapshot (the gsrc
 * prepare hook): for each process and each per-process file it records the length and a
 * 64-bit hash of the content (rendered again only when the record or the rendering context
 * changed) and a generation, the number of the snapshot in which that content first
 * appeared. changed(arg, gpid, name) is called for each file of a process in prev whose
 * content differs now, and with name NULL when the directory's attributes (owner, start time)
 * changed: the kernel's entries for them are to be invalidated. Without it (allocation
 * failure, or gps) files are served unversioned. gen_no: this snapshot's number, 1..2^27-1. */
void gtree_prepare(struct gsnap *snap, const struct gsnap *prev, uint32_t gen_no,
		   void (*changed)(void *arg, uint32_t gpid, const char *name), void *arg);
/* 1 if ref is a versioned file (ref->gen, ref->len valid). */
static inline int gtree_versioned(const struct gtree_ref *ref)
{
	return ref->gen != 0;
}
/* The generation an inode number carries (0 if none). */
uint32_t gtree_ino_gen(uint64_t ino);
/* The inode number of process directory gpid. */
uint64_t gtree_proc_ino(uint32_t gpid);

/* Content of a regular file, or target of a link, appended to out. 0 or a negative code. */
int gtree_render(const struct gtree_ref *ref, struct buf *out);

/* List a directory: fill(ctx, name, st) for each child; a non-zero return of fill stops the
 * listing. Local pids are not listed. 0, -ENOTDIR, or fill's non-zero value. */
int gtree_readdir(const struct gtree_ref *ref,
		  int (*fill)(void *ctx, const char *name, const struct stat *st), void *ctx);

#endif
