/*
 * gfs_int.h - inside of gprocfs --gfs, shared by gfs.c (main, node names, path mapping, one
 * request as the caller), gfs_fh.c (open files, reopen after a server restart, write-behind)
 * and gfs_ops.c (the operations table and the path operations). Not for other modules: use
 * gfs.h.
 *
 * Threads: every function here is called from many FUSE worker threads at once (and
 * gfs_fh.c's redo threads). gfs_g is set by gfs_main before the FUSE loop starts and only
 * read after, except the node list, which is under gfs_g.nlock.
 */
#ifndef SSI_GFS_INT_H
#define SSI_GFS_INT_H

#define FUSE_USE_VERSION 314
#include <fuse3/fuse.h>

#include "fuse/gfsconn.h"
#include "ssid/wire.h"

#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define MAX_NODES    512
#define NGROUPS_SEND 64		    /* supplementary groups sent with a request, at most */
#define IO_CHUNK     (1024u * 1024) /* <= WIRE_MAX_CHUNK */

struct gfs_state {
	struct gfsconn *conn;
	char ctl_sock[PATH_MAX]; /* ssid's control socket: the node list */
	double attr_to;		 /* entry and attribute time-out, seconds */
	pthread_mutex_t nlock;
	struct {
		int id;
		char name[33];
	} nodes[MAX_NODES]; /* nlock */
	int nnodes;	    /* nlock */
	time_t nodes_at;    /* nlock */
	int wait_ms;	    /* longest wait for an answer */
	pid_t daemon;	    /* our parent when it is ssid, else 0 */
};

/* Defined in gfs.c. */
extern struct gfs_state gfs_g;

/* ---- gfs.c: nodes, paths, requests ---- */

/* Read the node list from ssid's control socket into gfs_g.nodes: always when force, else
 * only if the last read is older than a second. On any failure the old list stays. */
void gfs_nodes_refresh(int force);

/* "/node1/a/b" -> node id of node1 and "/a/b" (*rest points into path); "/node1" -> "/".
 * Returns 0; 1 when path is the root of /gfs itself (*node, *rest untouched); -ENOENT for an
 * unknown node (after one refresh of the list) or a NULL path. */
int gfs_split(const char *path, uint32_t *node, const char **rest);

/* One FILE_REQ and its answer. Zero it before gfs_call_init; set node before gfs_call_run. */
struct gfs_call {
	struct wire_msg req, rep;
	uint32_t groups[NGROUPS_SEND]; /* req's groups point here */
	uint32_t node;
	int nobarrier; /* not behind the writes in flight (reopen()'s OPEN and CLOSE) */
};

/* Make c->req a request of op as the FUSE caller: its uid and gid, and its groups when
 * with_groups (where the server resolves a path). Outside a FUSE request (no context) uid
 * and gid stay 0: the caller sets them (requests on a handle are made as its opener). */
void gfs_call_init(struct gfs_call *c, uint32_t op, int with_groups);

/* Send c->req to c->node and wait for the answer; unless it is a WRITE or c->nobarrier, only
 * once no asynchronous write is in flight (gfs_barrier). Returns the file result: 0, with
 * c->rep to read (free it with gfs_call_done), or -errno with nothing to free: the server's
 * errno (its ssi codes become -EIO), -EIO (no daemon, no answer), -ELOOP (the caller is a
 * thread of our own ssid: a path through /gfs itself). */
int gfs_call_run(struct gfs_call *c);

/* Free c->rep after gfs_call_run returned 0. */
void gfs_call_done(struct gfs_call *c);

/* A request of op on path (a /gfs path) with these fields, whose answer carries nothing but
 * its status. Returns 0 or -errno; -EPERM for the root of /gfs. */
int gfs_path_op(uint32_t op, const char *path, const char *path2, uint32_t mode, uint32_t flags,
		uint64_t offset, const void *data, size_t len);

/* ---- gfs_fh.c: open files ---- */

/* Wait (at most wait_ms + 1 s) until no asynchronous write of any file is in flight. 0, or
 * -EIO when they did not all end in time. */
int gfs_barrier(void);

/* A request of op on fi's open file (fi->fh set by gfs_op_open or gfs_op_create), made as its
 * opener, sent once more after a reopen when the server restarted. Fills *c; returns as
 * gfs_call_run (on 0, free *c with gfs_call_done). */
int gfs_fh_op(uint32_t op, const struct fuse_file_info *fi, uint64_t offset, uint32_t flags,
	      struct gfs_call *c);

/* The FUSE operations on open files, for gfs_ops (libfuse's contracts). open and create set
 * fi->fh to a handle that release frees. */
int gfs_op_open(const char *path, struct fuse_file_info *fi);
int gfs_op_create(const char *path, mode_t mode, struct fuse_file_info *fi);
int gfs_op_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi);
int gfs_op_write(const char *path, const char *buf, size_t size, off_t off,
		 struct fuse_file_info *fi);
int gfs_op_flush(const char *path, struct fuse_file_info *fi);
int gfs_op_release(const char *path, struct fuse_file_info *fi);
int gfs_op_fsync(const char *path, int datasync, struct fuse_file_info *fi);

/* ---- gfs_ops.c ---- */

/* The operations of /gfs, for fuse_new. */
extern const struct fuse_operations gfs_ops;

#endif
