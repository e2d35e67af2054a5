/*
 * gfs.c - gprocfs --gfs: the FUSE operations of /gfs (libfuse3 high-level API) and its main.
 *
 * Owns: the path mapping /<node>/<rest> -> (node id, /<rest>), the node list (from ssid's
 * control socket, refreshed when a name is unknown or the root is listed), one FILE_REQ per
 * operation through gfsconn (many in flight: one per FUSE thread), and the cache policy.
 * High-level API: every operation is path based, as the file service is (like sshfs).
 * Caches: the kernel's entry/attribute caches (attr_timeout, default 1 s), invalidated for
 * changes made through this mount by the kernel itself; changes made on the serving node show
 * within the time-out. Data goes through the page cache (no direct_io, so mmap works); it is
 * kept across opens while mtime and size stay the same and dropped when they change
 * (auto_cache).
 * Writes go out behind (op_write): their errors come back at the next write, fsync or close.
 * Does not own: rights (the serving ssid checks them as the caller), time-outs (ssid's).
 */
#define FUSE_USE_VERSION 314
#include <fuse3/fuse.h>
#include <fuse3/fuse_lowlevel.h> /* fuse_parse_cmdline */

#include "fuse/gfs.h"
#include "fuse/gfsconn.h"
#include "ssid/client.h"
#include "ssid/config.h"
#include "ssid/fsmsg.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_NODES     512
#define NGROUPS_SEND  64
#define IO_CHUNK      (1024u * 1024) /* <= WIRE_MAX_CHUNK */
#define NODES_FRESH_S 1		     /* an unknown name refreshes the list at most this often */
#define MAX_THREADS   32	     /* FUSE worker threads: requests in flight at most */

struct gfs_opts {
	char *conf;	  /* config file: run_dir */
	char *run_dir;	  /* override */
	unsigned wait_ms; /* client-side guard, default 30000 */
	double attr_to;	  /* seconds, default 1.0 */
};

#define WB_MAX 8 /* asynchronous WRITEs in flight per open file */

/* An open file. The write-behind fields are under G.wlock. */
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

static void gfh_free(struct gfh *h)
{
	if (!h)
		return;
	pthread_mutex_destroy(&h->rlock);
	free(h->path);
	free(h);
}

/* One asynchronous WRITE. */
struct wctx {
	struct gfh *h;
	int slot;
	size_t len;
	uint64_t off, fh; /* fh: the handle it went out with */
	uint8_t data[];	  /* a copy: sent again after a reopen (redo()) */
};

static struct {
	struct gfsconn *conn;
	char ctl_sock[PATH_MAX];
	double attr_to;
	pthread_mutex_t nlock;
	struct {
		int id;
		char name[33];
	} nodes[MAX_NODES]; /* nlock */
	int nnodes;	    /* nlock */
	time_t nodes_at;    /* nlock */
	int wait_ms;	    /* longest wait for an answer */
	pid_t daemon;	    /* our parent when it is ssid, else 0 */
	pthread_mutex_t wlock;
	pthread_cond_t wcond; /* an asynchronous write was answered */
	int inflight_all;     /* wlock: asynchronous WRITEs in flight, all files */
} G = {.nlock = PTHREAD_MUTEX_INITIALIZER,
       .wlock = PTHREAD_MUTEX_INITIALIZER,
       .wcond = PTHREAD_COND_INITIALIZER};

/* ---- nodes ---- */

static void nodes_refresh(int force)
{
	struct client_node *list = NULL;
	struct client *cl;
	char err[256];
	size_t n = 0;
	time_t now = time(NULL);

	pthread_mutex_lock(&G.nlock);
	if (!force && now - G.nodes_at < NODES_FRESH_S) {
		pthread_mutex_unlock(&G.nlock);
		return;
	}
	G.nodes_at = now;
	pthread_mutex_unlock(&G.nlock);
	if (client_open(&cl, G.ctl_sock, err, sizeof(err)) < 0)
		return;
	if (client_nodes(cl, &list, &n) == 0) {
		pthread_mutex_lock(&G.nlock);
		G.nnodes = 0;
		for (size_t i = 0; i < n && G.nnodes < MAX_NODES; i++) {
			if (list[i].id < 1 || !config_name_ok(list[i].name))
				continue;
			G.nodes[G.nnodes].id = list[i].id;
			snprintf(G.nodes[G.nnodes].name, sizeof(G.nodes[0].name), "%s",
				 list[i].name);
			G.nnodes++;
		}
		pthread_mutex_unlock(&G.nlock);
	}
	free(list);
	client_close(cl);
}

static int node_find(const char *name, size_t len)
{
	int id = 0;

	pthread_mutex_lock(&G.nlock);
	for (int i = 0; i < G.nnodes && !id; i++)
		if (strlen(G.nodes[i].name) == len && !memcmp(G.nodes[i].name, name, len))
			id = G.nodes[i].id;
	pthread_mutex_unlock(&G.nlock);
	return id;
}

/* "/node1/a/b" -> node id of node1 and "/a/b"; "/node1" -> "/". -ENOENT: unknown node;
 * 1: path is the root of /gfs itself. */
static int split(const char *path, uint32_t *node, const char **rest)
{
	const char *name, *slash;
	size_t len;
	int id;

	if (!path)
		return -ENOENT; /* libfuse may pass none for an open file whose path is gone */
	if (!path[0] || !path[1])
		return 1;
	name = path + 1;
	slash = strchr(name, '/');
	len = slash ? (size_t)(slash - name) : strlen(name);
	id = node_find(name, len);
	if (!id) {
		nodes_refresh(0);
		id = node_find(name, len);
	}
	if (!id)
		return -ENOENT;
	*node = (uint32_t)id;
	*rest = slash ? slash : "/";
	return 0;
}

/* ---- requests ---- */

struct call {
	struct wire_msg req, rep;
	uint32_t groups[NGROUPS_SEND];
	uint32_t node;
	int nobarrier; /* not behind the writes in flight (reopen()'s OPEN and CLOSE) */
};

/* A request of op as the caller (uid, gid; groups only where a path is resolved). */
static void call_init(struct call *c, uint32_t op, int with_groups)
{
	struct fuse_context *ctx = fuse_get_context();
	struct wire_file_req *q = &c->req.u.file_req;

	wire_msg_init(&c->req, WIRE_FILE_REQ, 0);
	q->op = op;
	if (!ctx) /* redo()'s thread: requests on a handle, made as its opener */
		return;
	q->uid = ctx->uid;
	q->gid = ctx->gid;
	if (with_groups) {
		gid_t gl[NGROUPS_SEND];
		int n = fuse_getgroups(NGROUPS_SEND, gl);

		for (int i = 0; i < n && i < NGROUPS_SEND; i++)
			c->groups[i] = gl[i];
		if (n > 0) {
			q->groups = c->groups;
			q->ngroups = (size_t)(n < NGROUPS_SEND ? n : NGROUPS_SEND);
		}
	}
}

/* Send; returns the file result (0 or -errno) and leaves c->rep to read when 0 (free with
 * call_done). */
/* Wait (at most wait_ms) until no asynchronous write is in flight: every other request sees
 * the writes made before it, in order. 0 or -EIO. */
static int barrier(void)
{
	struct timespec dl;
	int r = 0;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += G.wait_ms / 1000 + 1;
	pthread_mutex_lock(&G.wlock);
	while (G.inflight_all > 0 && r == 0)
		if (pthread_cond_timedwait(&G.wcond, &G.wlock, &dl) == ETIMEDOUT)
			r = -EIO;
	pthread_mutex_unlock(&G.wlock);
	return r;
}

/* Is the caller a thread of the ssid that started us? Then it is a file-service worker
 * serving a path through /gfs itself (/gfs/n1/gfs/n1/...): every level would hold one more
 * worker until none is left, so such requests are refused (ELOOP). */
static int from_daemon(void)
{
	char p[64];
	struct stat st;
	pid_t tid = fuse_get_context() ? fuse_get_context()->pid : 0;

	if (!G.daemon || tid <= 0)
		return 0;
	snprintf(p, sizeof(p), "/proc/%d/task/%d", (int)G.daemon, (int)tid);
	return stat(p, &st) == 0;
}

static int call_run(struct call *c)
{
	int r = c->req.u.file_req.op == WIRE_FOP_WRITE || c->nobarrier ? 0 : barrier();

	if (r == 0 && from_daemon())
		r = -ELOOP;
	if (r < 0)
		return r;
	r = gfsconn_call(G.conn, c->node, &c->req, &c->rep);

	if (r < 0)
		return r;
	r = c->rep.u.file_reply.err;
	if (r < -4095)
		r = -EIO; /* an ssi code: not an errno the caller would understand */
	if (r < 0)
		wire_msg_free(&c->rep);
	return r;
}

static void call_done(struct call *c)
{
	wire_msg_free(&c->rep);
}

/* A request of op on handle h, made as h's opener, whose rights open checked (as for a local
 * file): the serving node binds a handle to its opener's uid, while the kernel sends READ and
 * WRITE as whichever task faults or writes (a user's restored process faulting in a file its
 * restore opened as root: EBADF, SIGBUS) and RELEASE as uid 0. */
static void call_init_fh(struct call *c, uint32_t op, const struct gfh *h)
{
	call_init(c, op, 0);
	c->node = h->node;
	c->req.u.file_req.fh = __atomic_load_n(&h->fh, __ATOMIC_ACQUIRE);
	c->req.u.file_req.uid = h->uid;
	c->req.u.file_req.gid = h->gid;
}

/* A CLOSE of fh on node, as h's opener; its answer is not awaited beyond the call. */
static void close_fh(const struct gfh *h, uint64_t fh)
{
	struct call c;

	memset(&c, 0, sizeof(c));
	call_init_fh(&c, WIRE_FOP_CLOSE, h);
	c.req.u.file_req.fh = fh;
	c.nobarrier = 1;
	if (call_run(&c) == 0)
		call_done(&c);
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
	struct call c;
	const char *rest;
	uint32_t node;
	int r = 0;

	pthread_mutex_lock(&h->rlock);
	if (__atomic_load_n(&h->fh, __ATOMIC_ACQUIRE) != used)
		goto out;
	if (split(path ? path : h->path, &node, &rest) != 0 || node != h->node) {
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
	if (call_run(&c) < 0) {
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
	call_done(&c);
out:
	pthread_mutex_unlock(&h->rlock);
	return r;
}

/* call_run() of a request on handle h (made by call_init_fh), sent once more after a reopen
 * when the server restarted since h was opened (fsmsg_should_reopen()). */
static int call_run_fh(struct call *c, struct gfh *h, const char *path)
{
	uint64_t used = c->req.u.file_req.fh;
	int r = call_run(c);

	if (!fsmsg_should_reopen(c->req.u.file_req.op, r, 0))
		return r;
	r = reopen(h, used, path);
	if (r < 0)
		return r;
	c->req.u.file_req.fh = __atomic_load_n(&h->fh, __ATOMIC_ACQUIRE);
	return call_run(c);
}

/* A path operation with no result beyond its status. */
static int path_op(uint32_t op, const char *path, const char *path2, uint32_t mode, uint32_t flags,
		   uint64_t offset, const void *data, size_t len)
{
	struct call c;
	const char *rest;
	int r;

	memset(&c, 0, sizeof(c));
	r = split(path, &c.node, &rest);
	if (r)
		return r > 0 ? -EPERM : r;
	call_init(&c, op, 1);
	c.req.u.file_req.path = rest;
	c.req.u.file_req.path2 = path2;
	c.req.u.file_req.mode = mode;
	c.req.u.file_req.flags = flags;
	c.req.u.file_req.offset = offset;
	c.req.u.file_req.data = data;
	c.req.u.file_req.data_len = len;
	r = call_run(&c);
	if (r == 0)
		call_done(&c);
	return r;
}

/* An operation on an open handle. */
static int fh_op(uint32_t op, const struct fuse_file_info *fi, uint64_t offset, uint32_t flags,
		 struct call *c)
{
	struct gfh *h = (struct gfh *)(uintptr_t)fi->fh;

	memset(c, 0, sizeof(*c));
	call_init_fh(c, op, h);
	c->req.u.file_req.offset = offset;
	c->req.u.file_req.flags = flags;
	return call_run_fh(c, h, NULL);
}

/* ---- operations ---- */

static void root_stat(struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFDIR | 0555;
	st->st_nlink = 2;
	st->st_ino = 1;
}

static int op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct call c;
	const char *rest;
	int r;

	if (fi && fi->fh) {
		r = fh_op(WIRE_FOP_STAT, fi, 0, 0, &c);
	} else {
		memset(&c, 0, sizeof(c));
		r = split(path, &c.node, &rest);
		if (r > 0) {
			root_stat(st);
			return 0;
		}
		if (r < 0)
			return r;
		call_init(&c, WIRE_FOP_LSTAT, 1);
		c.req.u.file_req.path = rest;
		r = call_run(&c);
	}
	if (r < 0)
		return r;
	fsmsg_stat_from_reply(&c.rep.u.file_reply, st);
	call_done(&c);
	return 0;
}

static int op_readlink(const char *path, char *buf, size_t size)
{
	struct call c;
	const char *rest;
	size_t n;
	int r;

	memset(&c, 0, sizeof(c));
	r = split(path, &c.node, &rest);
	if (r)
		return r > 0 ? -EINVAL : r;
	call_init(&c, WIRE_FOP_READLINK, 1);
	c.req.u.file_req.path = rest;
	r = call_run(&c);
	if (r < 0)
		return r;
	n = c.rep.u.file_reply.data_len < size - 1 ? c.rep.u.file_reply.data_len : size - 1;
	memcpy(buf, c.rep.u.file_reply.data, n);
	buf[n] = '\0';
	call_done(&c);
	return 0;
}

static int op_mkdir(const char *path, mode_t mode)
{
	return path_op(WIRE_FOP_MKDIR, path, NULL, mode, 0, 0, NULL, 0);
}

static int op_unlink(const char *path)
{
	return path_op(WIRE_FOP_UNLINK, path, NULL, 0, 0, 0, NULL, 0);
}

static int op_rmdir(const char *path)
{
	return path_op(WIRE_FOP_RMDIR, path, NULL, 0, 0, 0, NULL, 0);
}

static int op_symlink(const char *target, const char *linkpath)
{
	return path_op(WIRE_FOP_SYMLINK, linkpath, target, 0, 0, 0, NULL, 0);
}

static int op_rename(const char *from, const char *to, unsigned int flags)
{
	uint32_t n1, n2;
	const char *r1, *r2;
	int r = split(from, &n1, &r1);

	if (r)
		return r > 0 ? -EBUSY : r;
	r = split(to, &n2, &r2);
	if (r)
		return r > 0 ? -EBUSY : r;
	if (n1 != n2)
		return -EXDEV;
	if (!strcmp(r1, "/") || !strcmp(r2, "/"))
		return -EBUSY;
	return path_op(WIRE_FOP_RENAME, from, r2, 0, flags, 0, NULL, 0);
}

static int op_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	(void)fi;
	return path_op(WIRE_FOP_CHMOD, path, NULL, mode, 0, 0, NULL, 0);
}

static int op_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	uint8_t d[8] = {(uint8_t)(uid >> 24), (uint8_t)(uid >> 16), (uint8_t)(uid >> 8),
			(uint8_t)uid,	      (uint8_t)(gid >> 24), (uint8_t)(gid >> 16),
			(uint8_t)(gid >> 8),  (uint8_t)gid};

	(void)fi;
	return path_op(FSMSG_OP_CHOWN, path, NULL, 0, 0, 0, d, sizeof(d));
}

static int op_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct call c;
	int r;

	if (!fi || !fi->fh)
		return path_op(WIRE_FOP_TRUNCATE, path, NULL, 0, 0, (uint64_t)size, NULL, 0);
	r = fh_op(WIRE_FOP_TRUNCATE, fi, (uint64_t)size, 0, &c);
	if (r == 0)
		call_done(&c);
	return r;
}

static int op_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	struct buf b;
	int r;

	(void)fi;
	buf_init(&b);
	for (int i = 0; i < 2; i++) {
		buf_put_i64(&b, tv[i].tv_sec);
		buf_put_i64(&b, tv[i].tv_nsec);
	}
	r = b.len == 32 ? path_op(FSMSG_OP_UTIMENS, path, NULL, 0, 0, 0, b.d, b.len) : -ENOMEM;
	buf_free(&b);
	return r;
}

static int do_open(const char *path, int flags, mode_t mode, struct fuse_file_info *fi)
{
	struct gfh *h = calloc(1, sizeof(*h));
	struct call c;
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
	r = split(path, &c.node, &rest);
	if (r) {
		gfh_free(h);
		return r > 0 ? -EISDIR : r;
	}
	call_init(&c, WIRE_FOP_OPEN, 1);
	c.req.u.file_req.path = rest;
	c.req.u.file_req.flags = (uint32_t)flags;
	c.req.u.file_req.mode = mode;
	r = call_run(&c);
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
	call_done(&c);
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->direct_io = 0;
	fi->keep_cache = 0;
	return 0;
}

static int op_open(const char *path, struct fuse_file_info *fi)
{
	return do_open(path, fi->flags, 0, fi);
}

static int op_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	return do_open(path, fi->flags | O_CREAT, mode, fi);
}

static int op_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	size_t got = 0;

	while (got < size) {
		size_t want = size - got;
		struct call c;
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
		call_done(&c);
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
		struct call c;
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
		call_done(&c);
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

	pthread_mutex_lock(&G.wlock);
	if (e && !h->err)
		h->err = e;
	h->rng[w->slot].len = 0;
	h->inflight--;
	G.inflight_all--;
	free_it = h->orphan && !h->inflight;
	pthread_cond_broadcast(&G.wcond);
	pthread_mutex_unlock(&G.wlock);
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
 * no write is in flight (barrier), so reads, stats, truncates, renames and closes see all
 * writes before them. A failed write is reported by the next write, flush (close) or fsync
 * of that file. O_APPEND files write synchronously: their order is their content.
 */
static int op_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct gfh *h = (struct gfh *)(uintptr_t)fi->fh;
	struct wctx *w;
	struct timespec dl;
	struct call c;
	int r = 0, slot = 0;

	if (h->append || size > IO_CHUNK || !size)
		return barrier() < 0 ? -EIO : write_sync(h, path, buf, size, off);
	w = malloc(sizeof(*w) + size);
	if (!w)
		return -ENOMEM;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += G.wait_ms / 1000 + 1;
	pthread_mutex_lock(&G.wlock);
	while (!h->err && r == 0 && (h->inflight >= WB_MAX || overlaps(h, (uint64_t)off, size)))
		if (pthread_cond_timedwait(&G.wcond, &G.wlock, &dl) == ETIMEDOUT)
			r = -EIO;
	if (r == 0 && h->err)
		r = h->err;
	if (r == 0) {
		while (h->rng[slot].len)
			slot++;
		h->rng[slot].off = (uint64_t)off;
		h->rng[slot].len = size;
		h->inflight++;
		G.inflight_all++;
	}
	pthread_mutex_unlock(&G.wlock);
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
	r = gfsconn_call_async(G.conn, h->node, &c.req, write_done, w);
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
	int r = barrier();

	pthread_mutex_lock(&G.wlock);
	if (h->err)
		r = h->err;
	pthread_mutex_unlock(&G.wlock);
	return r;
}

static int op_statfs(const char *path, struct statvfs *sv)
{
	struct call c;
	const char *rest;
	struct buf b;
	int r;

	memset(&c, 0, sizeof(c));
	r = split(path, &c.node, &rest);
	if (r > 0) {
		memset(sv, 0, sizeof(*sv));
		sv->f_bsize = sv->f_frsize = 4096;
		sv->f_namemax = 255;
		return 0;
	}
	if (r < 0)
		return r;
	call_init(&c, FSMSG_OP_STATFS, 1);
	c.req.u.file_req.path = rest;
	r = call_run(&c);
	if (r < 0)
		return r;
	buf_view(&b, c.rep.u.file_reply.data, c.rep.u.file_reply.data_len);
	r = fsmsg_statfs_get(&b, sv) < 0 ? -EIO : 0;
	call_done(&c);
	return r;
}

/* close(): the writes of this file are answered, and their first error is close's. */
static int op_flush(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	return write_error((const struct gfh *)(uintptr_t)fi->fh);
}

static int op_release(const char *path, struct fuse_file_info *fi)
{
	struct gfh *h = (struct gfh *)(uintptr_t)fi->fh;
	struct call c;

	/* Waited for, though the kernel ignores the result: once close() returned, the serving
	 * node has no descriptor left that could make an exec there fail with ETXTBSY. (Not
	 * waiting measured no faster create rate.) */
	(void)path;
	if (fh_op(WIRE_FOP_CLOSE, fi, 0, 0, &c) == 0)
		call_done(&c);
	pthread_mutex_lock(&G.wlock);
	h->orphan = 1; /* only when the daemon hung: the last write answer frees it */
	if (h->inflight)
		h = NULL;
	pthread_mutex_unlock(&G.wlock);
	gfh_free(h);
	return 0;
}

static int op_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	struct call c;
	int r;

	(void)path;
	r = write_error((const struct gfh *)(uintptr_t)fi->fh);
	if (r < 0)
		return r;
	r = fh_op(FSMSG_OP_FSYNC, fi, 0, datasync ? 1 : 0, &c);
	if (r == 0)
		call_done(&c);
	return r;
}

static int list_root(void *buf, fuse_fill_dir_t fill)
{
	struct stat st;

	nodes_refresh(1);
	root_stat(&st);
	fill(buf, ".", &st, 0, 0);
	fill(buf, "..", &st, 0, 0);
	pthread_mutex_lock(&G.nlock);
	for (int i = 0; i < G.nnodes; i++) {
		st.st_ino = (ino_t)(G.nodes[i].id + 1);
		fill(buf, G.nodes[i].name, &st, 0, 0);
	}
	pthread_mutex_unlock(&G.nlock);
	return 0;
}

static int op_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	enum fuse_fill_dir_flags plus = (flags & FUSE_READDIR_PLUS) ? FUSE_FILL_DIR_PLUS : 0;
	uint64_t next = 0;
	const char *rest;
	uint32_t node;
	int r, more;

	(void)off;
	(void)fi;
	r = split(path, &node, &rest);
	if (r > 0)
		return list_root(buf, fill);
	if (r < 0)
		return r;
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
	do {
		char name[256];
		struct stat st;
		struct call c;
		struct buf b;

		memset(&c, 0, sizeof(c));
		c.node = node;
		call_init(&c, WIRE_FOP_READDIR, 1);
		c.req.u.file_req.path = rest;
		c.req.u.file_req.offset = next;
		r = call_run(&c);
		if (r < 0)
			return r;
		more = c.rep.u.file_reply.fh == 1 && c.rep.u.file_reply.value != next;
		next = c.rep.u.file_reply.value; /* fh 1: more, from this cookie */
		buf_view(&b, c.rep.u.file_reply.data, c.rep.u.file_reply.data_len);
		while (buf_avail(&b) && fsmsg_dirent_get(&b, name, sizeof(name), &st) == 0)
			if (fill(buf, name, &st, 0, plus))
				break;
		call_done(&c);
	} while (more);
	return 0;
}

static int op_access(const char *path, int mask)
{
	uint32_t node;
	const char *rest;
	int r = split(path, &node, &rest);

	if (r > 0)
		return (mask & W_OK) ? -EACCES : 0;
	return r < 0 ? r : path_op(WIRE_FOP_ACCESS, path, NULL, (uint32_t)mask, 0, 0, NULL, 0);
}

static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	cfg->use_ino = 0; /* inode numbers of different nodes collide */
	/* An open file that is unlinked is renamed to .fuse_hiddenNNN on the serving node until
	 * its last close (as sshfs does): with hard_remove, fstat() of such a file fails ESTALE,
	 * since the kernel sends GETATTR without the handle and the path is gone. */
	cfg->hard_remove = 0;
	cfg->entry_timeout = G.attr_to;
	cfg->attr_timeout = G.attr_to;
	cfg->negative_timeout = 0; /* a file created on the serving node shows at once */
	cfg->direct_io = 0;
	cfg->kernel_cache = 0;
	cfg->auto_cache = 1; /* drop cached data when mtime or size changed on the server */
	/* 1 MiB READ/WRITE requests (the kernel takes max_pages from max_write); read-ahead:
	 * the kernel sends up to this much ahead as parallel READs. */
	conn->max_write = IO_CHUNK;
	conn->max_readahead = 4 * IO_CHUNK;
	conn->want |= FUSE_CAP_ASYNC_READ;
	return NULL;
}

static const struct fuse_operations ops = {
	.getattr = op_getattr,
	.readlink = op_readlink,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.symlink = op_symlink,
	.rename = op_rename,
	.chmod = op_chmod,
	.chown = op_chown,
	.truncate = op_truncate,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.statfs = op_statfs,
	.flush = op_flush,
	.release = op_release,
	.fsync = op_fsync,
	.readdir = op_readdir,
	.access = op_access,
	.init = op_init,
	.create = op_create,
	.utimens = op_utimens,
};

#define OPT(t, f)                                                                                  \
	{                                                                                          \
		t, offsetof(struct gfs_opts, f), 0                                                 \
	}
static const struct fuse_opt gfs_optspec[] = {
	OPT("conf=%s", conf),
	OPT("run_dir=%s", run_dir),
	OPT("wait_ms=%u", wait_ms),
	OPT("attr_timeout=%lf", attr_to),
	FUSE_OPT_END,
};

static void gfs_usage(const char *prog)
{
	printf("usage: %s --gfs MOUNTPOINT [-f] [-o options]\n"
	       "/gfs: every node's files at MOUNTPOINT/<node>/<path>, served by that node's ssid\n"
	       "with the caller's rights (docs/gfs.md). Run as root (ssid starts it).\n\n"
	       "options (-o name=value):\n"
	       "  conf=FILE         config for run_dir (default $SSID_CONF or %s)\n"
	       "  run_dir=DIR       ssid's run directory (gfs.sock, ssid.sock); overrides conf\n"
	       "  attr_timeout=S    entry and attribute cache time-out, seconds (default 1)\n"
	       "  wait_ms=N         longest wait for ssid's answer (default 30000; ssid itself\n"
	       "                    answers EIO after [gfs] timeout_ms)\n"
	       "Always on: allow_other, no default_permissions (the serving node checks).\n"
	       "Not done yet: a migrated process's namespace rooted at its home's /gfs view.\n",
	       prog, CONFIG_DEFAULT_PATH);
}

/* fuse_main() without its loop defaults: up to MAX_THREADS requests in flight. */
static int run_fuse(struct fuse_args *args)
{
	struct fuse_cmdline_opts co = {0};
	struct fuse_loop_config *lc;
	struct fuse *fs;
	int r = 1;

	if (fuse_parse_cmdline(args, &co) != 0)
		return 2;
	if (!co.mountpoint) {
		fprintf(stderr,
			"usage: gprocfs --gfs MOUNTPOINT [options] (--gfs --help for more)\n");
		return 2;
	}
	fs = fuse_new(args, &ops, sizeof(ops), NULL);
	if (!fs)
		goto out;
	if (fuse_mount(fs, co.mountpoint) != 0)
		goto out_new;
	if (fuse_daemonize(co.foreground) != 0 || fuse_set_signal_handlers(fuse_get_session(fs)))
		goto out_mount;
	lc = fuse_loop_cfg_create();
	if (lc) {
		fuse_loop_cfg_set_max_threads(lc, MAX_THREADS);
		fuse_loop_cfg_set_idle_threads(lc, 4);
		r = co.singlethread ? fuse_loop(fs) : fuse_loop_mt(fs, lc);
		r = r ? 1 : 0;
		fuse_loop_cfg_destroy(lc);
	}
	fuse_remove_signal_handlers(fuse_get_session(fs));
out_mount:
	fuse_unmount(fs);
out_new:
	fuse_destroy(fs);
out:
	free(co.mountpoint);
	return r;
}

int gfs_main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct gfs_opts o = {0};
	char err[PATH_MAX + 128], gsock[PATH_MAX + 16];
	int r = 1;

	o.attr_to = 1.0;
	if (fuse_opt_parse(&args, &o, gfs_optspec, NULL) < 0)
		return 2;
	for (int i = 1; i < args.argc; i++)
		if (!strcmp(args.argv[i], "-h") || !strcmp(args.argv[i], "--help")) {
			gfs_usage(argv[0]);
			r = 0;
			goto out;
		}
	if (geteuid() != 0) {
		/* ssid believes the uid in each request only from a root client */
		fprintf(stderr, "gprocfs --gfs: must run as root (ssid starts it)\n");
		goto out;
	}
	if (!o.run_dir) {
		struct config c;
		const char *path = o.conf ? o.conf : config_default_path();

		if (config_load(path, &c, err, sizeof(err)) < 0) {
			fprintf(stderr, "gprocfs --gfs: %s (or give -o run_dir=DIR)\n", err);
			goto out;
		}
		o.run_dir = strdup(c.run_dir);
		config_free(&c);
		if (!o.run_dir)
			goto out;
	}
	snprintf(G.ctl_sock, sizeof(G.ctl_sock), "%s/ssid.sock", o.run_dir);
	snprintf(gsock, sizeof(gsock), "%s/%s", o.run_dir, FSMSG_SOCK_NAME);
	G.attr_to = o.attr_to >= 0 ? o.attr_to : 1.0;
	G.wait_ms = o.wait_ms ? (int)o.wait_ms : 30000;
	{
		char p[64], comm[32] = "";
		FILE *f;

		snprintf(p, sizeof(p), "/proc/%d/comm", (int)getppid());
		f = fopen(p, "re");
		if (f) {
			if (!fgets(comm, sizeof(comm), f))
				comm[0] = '\0';
			fclose(f);
		}
		if (!strcmp(comm, "ssid\n"))
			G.daemon = getppid();
	}
	if (gfsconn_open(&G.conn, gsock, G.wait_ms, err, sizeof(err)) < 0) {
		fprintf(stderr, "gprocfs --gfs: %s\n", err);
		goto out;
	}
	mallopt(M_MMAP_THRESHOLD, 4 << 20); /* 1 MiB request buffers: see fsrv_new() */
	mallopt(M_TRIM_THRESHOLD, 16 << 20);
	nodes_refresh(1);
	fuse_opt_add_arg(&args, "-oallow_other,fsname=gfs,subtype=gfs");
	r = run_fuse(&args);
	gfsconn_close(G.conn);
out:
	fuse_opt_free_args(&args);
	free(o.conf);
	free(o.run_dir);
	return r;
}
