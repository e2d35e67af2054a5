/*
 * gfs_fh.c - gprocfs --gfs: open files. A handle (struct gfh, in fi->fh) per open, every
 * request on it made as its opener; reopen by path after its server restarted (ESTALE,
 * fsmsg_should_reopen), never onto another file; open, create, read, flush, fsync, release;
 * and the write-behind: a WRITE goes out and write() returns at once, its error comes back
 * at the next write, flush (close) or fsync of that file, and every other request first
 * waits until no write is in flight (gfs_barrier).
 * Does not own: the path mapping and the request plumbing (gfs.c), the operations table
 * (gfs_ops.c).
 */
#include "fuse/gfs_int.h"
#include "ssid/fsmsg.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WB_MAX 8 /* asynchronous WRITEs in flight per open file */

/* An open file. The write-behind fields are under wb.wlock. */
struct gfh {
	uint32_t node;
	uint64_t fh;
	int append;   /* O_APPEND: writes stay synchronous (their order is the content) */
	int err;      /* first failure of an asynchronous write: every later write, flush
		       * and fsync of this file returns it */
	int inflight; /* asynchronous WRITEs not answered yet */
	struct {
		uint64_t off, len; /* len 0: free */
	} rng[WB_MAX];
	int orphan; /* released with writes in flight: the last answer frees it */
	/* the opener's uid and gid: every request on the handle is made as them */
	uint32_t uid, gid;
	/* to reopen it after its server restarted (reopen()): under rlock; fh is read and
	 * replaced atomically */
	pthread_mutex_t rlock;
	char *path; /* the FUSE path at open; the current one is used when FUSE gives it */
	uint32_t flags, ngroups;
	uint32_t groups[NGROUPS_SEND];
	struct fsmsg_fileid id;
};

/* One asynchronous WRITE. */
struct wctx {
	struct gfh *h;
	int slot;
	size_t len;
	uint64_t off, fh; /* fh: the handle it went out with */
	uint8_t data[];	  /* a copy: sent again after a reopen (redo()) */
};

/* The write-behind of all open files. */
static struct {
	pthread_mutex_t wlock;
	pthread_cond_t wcond; /* an asynchronous write was answered */
	int inflight_all;     /* wlock: asynchronous WRITEs in flight, all files */
} wb = {.wlock = PTHREAD_MUTEX_INITIALIZER, .wcond = PTHREAD_COND_INITIALIZER};

static void gfh_free(struct gfh *h)
{
	if (!h)
		return;
	pthread_mutex_destroy(&h->rlock);
	free(h->path);
	free(h);
}

/* Wait (at most wait_ms) until no asynchronous write is in flight: every other request sees
 * the writes made before it, in order. 0 or -EIO. */
int gfs_barrier(void)
{
	struct timespec dl;
	int r = 0;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += gfs_g.wait_ms / 1000 + 1;
	pthread_mutex_lock(&wb.wlock);
	while (wb.inflight_all > 0 && r == 0)
		if (pthread_cond_timedwait(&wb.wcond, &wb.wlock, &dl) == ETIMEDOUT)
			r = -EIO;
	pthread_mutex_unlock(&wb.wlock);
	return r;
}

/* A request of op on handle h, made as h's opener, whose rights open checked (as for a local
 * file): the serving node binds a handle to its opener's uid, while the kernel sends READ and
 * WRITE as whichever task faults or writes (a user's restored process faulting in a file its
 * restore opened as root: EBADF, SIGBUS) and RELEASE as uid 0. */
static void call_init_fh(struct gfs_call *c, uint32_t op, const struct gfh *h)
{
	gfs_call_init(c, op, 0);
	c->node = h->node;
	c->req.u.file_req.fh = __atomic_load_n(&h->fh, __ATOMIC_ACQUIRE);
	c->req.u.file_req.uid = h->uid;
	c->req.u.file_req.gid = h->gid;
}

/* A CLOSE of fh on node, as h's opener; its answer is not awaited beyond the call. */
static void close_fh(const struct gfh *h, uint64_t fh)
{
	struct gfs_call c;

	memset(&c, 0, sizeof(c));
	call_init_fh(&c, WIRE_FOP_CLOSE, h);
	c.req.u.file_req.fh = fh;
	c.nobarrier = 1;
	if (gfs_call_run(&c) == 0)
		gfs_call_done(&c);
}

/*
 * h's server restarted (a request with handle used got ESTALE): open the same file again by
 * path (FUSE's current one, else the one at open) as its opener with its flags but O_CREAT,
 * O_EXCL, O_TRUNC, check that it is the same file, and make the new handle h's. Another
 * thread may have done it already (h->fh is no longer used). 0, or -ESTALE when the file
 * cannot be reopened or the name now leads to another file (never another file's bytes).
 */
static int reopen(struct gfh *h, uint64_t used, const char *path)
{
	struct fsmsg_fileid id;
	struct gfs_call c;
	const char *rest;
	uint32_t node;
	int r = 0;

	pthread_mutex_lock(&h->rlock);
	if (__atomic_load_n(&h->fh, __ATOMIC_ACQUIRE) != used)
		goto out;
	if (gfs_split(path ? path : h->path, &node, &rest) != 0 || node != h->node) {
		r = -ESTALE;
		goto out;
	}
	memset(&c, 0, sizeof(c));
	call_init_fh(&c, WIRE_FOP_OPEN, h);
	c.nobarrier = 1; /* redo() reopens while its own write counts as in flight */
	c.req.u.file_req.fh = 0;
	c.req.u.file_req.path = rest;
	c.req.u.file_req.flags = fsmsg_reopen_flags(h->flags);
	c.req.u.file_req.groups = h->ngroups ? h->groups : NULL;
	c.req.u.file_req.ngroups = h->ngroups;
	if (gfs_call_run(&c) < 0) {
		r = -ESTALE;
		goto out;
	}
	fsmsg_fileid_from_reply(&id, &c.rep.u.file_reply);
	if (!fsmsg_same_file(&h->id, &id)) {
		close_fh(h, c.rep.u.file_reply.fh);
		r = -ESTALE;
	} else {
		__atomic_store_n(&h->fh, c.rep.u.file_reply.fh, __ATOMIC_RELEASE);
		close_fh(h, used); /* the server has none: only for ssid's list of open files */
	}
	gfs_call_done(&c);
out:
	pthread_mutex_unlock(&h->rlock);
	return r;
}

/* gfs_call_run() of a request on handle h (made by call_init_fh), sent once more after a reopen
 * when the server restarted since h was opened (fsmsg_should_reopen()). */
static int call_run_fh(struct gfs_call *c, struct gfh *h, const char *path)
{
	uint64_t used = c->req.u.file_req.fh;
	int r = gfs_call_run(c);

	if (!fsmsg_should_reopen(c->req.u.file_req.op, r, 0))
		return r;
	r = reopen(h, used, path);
	if (r < 0)
		return r;
	c->req.u.file_req.fh = __atomic_load_n(&h->fh, __ATOMIC_ACQUIRE);
	return gfs_call_run(c);
}

/* An operation on an open handle. */
int gfs_fh_op(uint32_t op, const struct fuse_file_info *fi, uint64_t offset, uint32_t flags,
	      struct gfs_call *c)
{
	struct gfh *h = (struct gfh *)(uintptr_t)fi->fh;

	memset(c, 0, sizeof(*c));
	call_init_fh(c, op, h);
	c->req.u.file_req.offset = offset;
	c->req.u.file_req.flags = flags;
	return call_run_fh(c, h, NULL);
}

static int do_open(const char *path, int flags, mode_t mode, struct fuse_file_info *fi)
{
	struct gfh *h = calloc(1, sizeof(*h));
	struct gfs_call c;
	const char *rest;
	int r;

	if (h && !(h->path = strdup(path))) {
		free(h);
		h = NULL;
	}
	if (!h)
		return -ENOMEM;
	pthread_mutex_init(&h->rlock, NULL);
	h->append = (flags & O_APPEND) != 0;
	memset(&c, 0, sizeof(c));
	r = gfs_split(path, &c.node, &rest);
	if (r) {
		gfh_free(h);
		return r > 0 ? -EISDIR : r;
	}
	gfs_call_init(&c, WIRE_FOP_OPEN, 1);
	c.req.u.file_req.path = rest;
	c.req.u.file_req.flags = (uint32_t)flags;
	c.req.u.file_req.mode = mode;
	r = gfs_call_run(&c);
	if (r < 0) {
		gfh_free(h);
		return r;
	}
	h->node = c.node;
	h->fh = c.rep.u.file_reply.fh;
	h->uid = c.req.u.file_req.uid;
	h->gid = c.req.u.file_req.gid;
	h->flags = (uint32_t)flags;
	h->ngroups = (uint32_t)c.req.u.file_req.ngroups;
	if (h->ngroups > NGROUPS_SEND)
		h->ngroups = NGROUPS_SEND;
	memcpy(h->groups, c.groups, h->ngroups * sizeof(h->groups[0]));
	fsmsg_fileid_from_reply(&h->id, &c.rep.u.file_reply);
	gfs_call_done(&c);
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->direct_io = 0;
	fi->keep_cache = 0;
	return 0;
}

int gfs_op_open(const char *path, struct fuse_file_info *fi)
{
	return do_open(path, fi->flags, 0, fi);
}

int gfs_op_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	return do_open(path, fi->flags | O_CREAT, mode, fi);
}

int gfs_op_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	size_t got = 0;

	while (got < size) {
		size_t want = size - got;
		struct gfs_call c;
		size_t n;
		int r;

		if (want > IO_CHUNK)
			want = IO_CHUNK;
		memset(&c, 0, sizeof(c));
		call_init_fh(&c, WIRE_FOP_READ, (const struct gfh *)(uintptr_t)fi->fh);
		c.req.u.file_req.offset = (uint64_t)off + got;
		c.req.u.file_req.length = (uint32_t)want;
		r = call_run_fh(&c, (struct gfh *)(uintptr_t)fi->fh, path);
		if (r < 0)
			return got ? (int)got : r;
		n = c.rep.u.file_reply.data_len < want ? c.rep.u.file_reply.data_len : want;
		memcpy(buf + got, c.rep.u.file_reply.data, n);
		gfs_call_done(&c);
		got += n;
		if (n < want)
			break; /* end of file */
	}
	return (int)got;
}

static int write_sync(struct gfh *h, const char *path, const char *buf, size_t size, off_t off)
{
	size_t put = 0;

	while (put < size) {
		size_t want = size - put, n;
		struct gfs_call c;
		int r;

		if (want > IO_CHUNK)
			want = IO_CHUNK;
		memset(&c, 0, sizeof(c));
		call_init_fh(&c, WIRE_FOP_WRITE, h);
		c.req.u.file_req.offset = (uint64_t)off + put;
		c.req.u.file_req.data = (const uint8_t *)buf + put;
		c.req.u.file_req.data_len = want;
		r = call_run_fh(&c, h, path);
		if (r < 0)
			return put ? (int)put : r;
		n = c.rep.u.file_reply.value;
		gfs_call_done(&c);
		if (n == 0 || n > want)
			return put ? (int)put : -EIO;
		put += n;
	}
	return (int)put;
}

static void write_end(struct wctx *w, int e);

/* An asynchronous WRITE that found its server restarted (ESTALE), on a thread of its own:
 * reopen the file and send it again (synchronously); it counts as in flight until then, so
 * every later request of any file still sees it done first. */
static void *redo(void *arg)
{
	struct wctx *w = arg;
	int r = reopen(w->h, w->fh, NULL);

	if (r == 0)
		r = write_sync(w->h, NULL, (const char *)w->data, w->len, (off_t)w->off);
	write_end(w, r == (int)w->len ? 0 : r < 0 ? r : -EIO);
	return NULL;
}

/* The answer to an asynchronous WRITE (on gfsconn's reader thread). */
static void write_done(void *ctx, int r, const struct wire_msg *rep)
{
	struct wctx *w = ctx;
	int e = r;
	pthread_attr_t a;
	pthread_t t;

	if (!e && rep->u.file_reply.err < 0)
		e = rep->u.file_reply.err < -4095 ? -EIO : rep->u.file_reply.err;
	if (!e && rep->u.file_reply.value != w->len)
		e = -EIO; /* a short write: the serving node hit an error after some bytes */
	if (e == -ESTALE && pthread_attr_init(&a) == 0) {
		int started;

		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		started = pthread_create(&t, &a, redo, w) == 0;
		pthread_attr_destroy(&a);
		if (started)
			return;
	}
	write_end(w, e);
}

/* A WRITE of w is over with e (0 or -errno): e is h's first error if it has none yet. */
static void write_end(struct wctx *w, int e)
{
	struct gfh *h = w->h;
	int free_it;

	pthread_mutex_lock(&wb.wlock);
	if (e && !h->err)
		h->err = e;
	h->rng[w->slot].len = 0;
	h->inflight--;
	wb.inflight_all--;
	free_it = h->orphan && !h->inflight;
	pthread_cond_broadcast(&wb.wcond);
	pthread_mutex_unlock(&wb.wlock);
	if (free_it)
		gfh_free(h);
	free(w);
}

static int overlaps(const struct gfh *h, uint64_t off, uint64_t len)
{
	for (int i = 0; i < WB_MAX; i++)
		if (h->rng[i].len && off < h->rng[i].off + h->rng[i].len &&
		    h->rng[i].off < off + len)
			return 1;
	return 0;
}

/*
 * Write-behind (sshfs does the same): a WRITE goes out and write() returns at once; up to
 * WB_MAX per file are in flight. Writes of one file that overlap one in flight wait for it
 * (non-overlapping ones may land in any order), and every other request first waits until
 * no write is in flight (gfs_barrier), so reads, stats, truncates, renames and closes see all
 * writes before them. A failed write is reported by the next write, flush (close) or fsync
 * of that file. O_APPEND files write synchronously: their order is their content.
 */
int gfs_op_write(const char *path, const char *buf, size_t size, off_t off,
		 struct fuse_file_info *fi)
{
	struct gfh *h = (struct gfh *)(uintptr_t)fi->fh;
	struct wctx *w;
	struct timespec dl;
	struct gfs_call c;
	int r = 0, slot = 0;

	if (h->append || size > IO_CHUNK || !size)
		return gfs_barrier() < 0 ? -EIO : write_sync(h, path, buf, size, off);
	w = malloc(sizeof(*w) + size);
	if (!w)
		return -ENOMEM;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += gfs_g.wait_ms / 1000 + 1;
	pthread_mutex_lock(&wb.wlock);
	while (!h->err && r == 0 && (h->inflight >= WB_MAX || overlaps(h, (uint64_t)off, size)))
		if (pthread_cond_timedwait(&wb.wcond, &wb.wlock, &dl) == ETIMEDOUT)
			r = -EIO;
	if (r == 0 && h->err)
		r = h->err;
	if (r == 0) {
		while (h->rng[slot].len)
			slot++;
		h->rng[slot].off = (uint64_t)off;
		h->rng[slot].len = size;
		h->inflight++;
		wb.inflight_all++;
	}
	pthread_mutex_unlock(&wb.wlock);
	if (r < 0) {
		free(w);
		return r;
	}
	*w = (struct wctx){.h = h, .slot = slot, .len = size, .off = (uint64_t)off};
	memcpy(w->data, buf, size);
	memset(&c, 0, sizeof(c));
	call_init_fh(&c, WIRE_FOP_WRITE, h);
	w->fh = c.req.u.file_req.fh;
	c.req.u.file_req.offset = (uint64_t)off;
	c.req.u.file_req.data = (const uint8_t *)buf; /* encoded before the call returns */
	c.req.u.file_req.data_len = size;
	r = gfsconn_call_async(gfs_g.conn, h->node, &c.req, write_done, w);
	if (r < 0) { /* write_done will not run: undo */
		struct wire_msg none;

		memset(&none, 0, sizeof(none));
		none.u.file_reply.err = r;
		write_done(w, r, &none);
		return r;
	}
	return (int)size;
}

/* The first asynchronous write error of h, after all its writes were answered. */
static int write_error(const struct gfh *h)
{
	int r = gfs_barrier();

	pthread_mutex_lock(&wb.wlock);
	if (h->err)
		r = h->err;
	pthread_mutex_unlock(&wb.wlock);
	return r;
}

/* close(): the writes of this file are answered, and their first error is close's. */
int gfs_op_flush(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	return write_error((const struct gfh *)(uintptr_t)fi->fh);
}

int gfs_op_release(const char *path, struct fuse_file_info *fi)
{
	struct gfh *h = (struct gfh *)(uintptr_t)fi->fh;
	struct gfs_call c;

	/* Waited for, though the kernel ignores the result: once close() returned, the serving
	 * node has no descriptor left that could make an exec there fail with ETXTBSY. (Not
	 * waiting measured no faster create rate.) */
	(void)path;
	if (gfs_fh_op(WIRE_FOP_CLOSE, fi, 0, 0, &c) == 0)
		gfs_call_done(&c);
	pthread_mutex_lock(&wb.wlock);
	h->orphan = 1; /* only when the daemon hung: the last write answer frees it */
	if (h->inflight)
		h = NULL;
	pthread_mutex_unlock(&wb.wlock);
	gfh_free(h);
	return 0;
}

int gfs_op_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	struct gfs_call c;
	int r;

	(void)path;
	r = write_error((const struct gfh *)(uintptr_t)fi->fh);
	if (r < 0)
		return r;
	r = gfs_fh_op(FSMSG_OP_FSYNC, fi, 0, datasync ? 1 : 0, &c);
	if (r == 0)
		gfs_call_done(&c);
	return r;
}
