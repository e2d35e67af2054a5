/*
 * gproc_ops.c - gprocfs's fuse_lowlevel_ops table and its request handlers: lookup, getattr,
 * readlink, per-open snapshots (rendered at open, sliced by read, freed at release) held in
 * a table of open handles, directory listings taken at opendir (root listings answered by a
 * lister thread when there is one request thread), init/destroy (start and stop the watcher
 * and lister threads), and the time-outs per kind of entry. Names and content are gtree.c,
 * data is gsrc.c, options, the snapshot hook and the watcher are main.c. Inodes are
 * stateless (gtree_ino_path), so lookups need no table and forget is a no-op.
 */
/*
 * Page cache: a per-process file (stat, status, cmdline...) gets an inode number that carries
 * its content's generation and st_size = its exact length (gtree_prepare), so one inode number
 * always means one content: the kernel may keep its pages (keep_cache) and serve repeated
 * reads and procps' read-until-EOF without a request. Every open() still reaches us: an open
 * of an inode whose generation is no longer current fails with ESTALE, and the kernel redoes
 * the lookup (LOOKUP_REVAL) and gets the current inode; so no reader ever gets content older
 * than the snapshot, nor a size that does not match its content. The watcher invalidates the
 * entries of changed files so that this retry is rare. Global files (uptime, stat, meminfo...)
 * and the caller's own local pid keep direct_io: no page cache.
 * Low-level rather than high-level API: per-entry time-outs. procps probes names that never
 * exist in a pid directory (environ, ctty...): those are cached negative; the caller's own
 * local pid is never cached for others. allow_other, default_permissions.
 * One request thread by default (measured faster than libfuse's thread pool on 2 CPUs, as a
 * request costs microseconds); a listing of the root, which may wait for the source, is
 * answered by a helper thread, so the loop never waits on ssid. `-o mt`: libfuse's pool.
 */
#include "fuse/gproc_int.h"
#include "fuse/gtree.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_CAP      256
/* Cache policy, seconds. Entries of processes that exit are invalidated by the watcher and
 * every operation re-resolves against the current snapshot, so long entry time-outs only
 * save LOOKUPs. Attributes carry the owner (ps -ef's UID column): a setuid shows within
 * ATTR_TO. Measured on 2,000 processes: ps -e 0.86 s with 0.5/0.5 s, 0.35 s with these. */
#define ENTRY_TO      10.0
#define ATTR_TO	      2.0
#define NEG_TO	      10.0 /* names that do not exist inside a pid directory */
/* Attributes of a versioned file never change (a new content is a new inode number). */
#define VER_TO	      10.0
/* A root listing uses a table at most this old (ms), fetched then if need be. */
#define LIST_FRESH_MS 100

static uint32_t caller(fuse_req_t req)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);

	atomic_store(&gproc_g.last_use_ms, gproc_mono_ms());
	return c && c->pid > 0 ? (uint32_t)c->pid : 0;
}

/* Resolve inode ino (plus an optional child name) for the caller. */
static int resolve(fuse_req_t req, fuse_ino_t ino, const char *name, struct gtree_ref *ref)
{
	char path[PATH_CAP];
	int r = gtree_ino_path(gproc_g.src, ino, path, sizeof(path));

	if (r < 0)
		return r;
	if (name) {
		size_t k = strlen(path);
		if (snprintf(path + k, sizeof(path) - k, "%s%s", k > 1 ? "/" : "", name) >=
		    (int)(sizeof(path) - k))
			return -ENOENT;
	}
	r = gtree_resolve(gproc_g.src, path, caller(req), ref);
	return r == -ENOENT || r == -ENOTDIR ? r : r < 0 ? -EIO : 0;
}

static void entry_of(const struct gtree_ref *ref, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	gtree_stat(ref, &e->attr);
	e->ino = e->attr.st_ino;
	/* The caller's own local pid: valid for this caller only, so never cached. */
	e->entry_timeout = gtree_is_local(ref) ? 0 : ENTRY_TO;
	e->attr_timeout = gtree_is_local(ref) ? 0 : gtree_versioned(ref) ? VER_TO : ATTR_TO;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	struct gtree_ref ref;
	int r = resolve(req, parent, name, &ref);

	if (r == -ENOENT) {
		/* Inside a process directory the set of names is fixed: cache the miss. */
		struct gtree_ref pr;
		memset(&e, 0, sizeof(e));
		if (parent != FUSE_ROOT_ID && resolve(req, parent, NULL, &pr) == 0) {
			if (pr.proc && !gtree_is_local(&pr))
				e.entry_timeout = NEG_TO;
			gtree_ref_release(&pr);
		}
		if (e.entry_timeout > 0) {
			fuse_reply_entry(req, &e);
			return;
		}
	}
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	entry_of(&ref, &e);
	gtree_ref_release(&ref);
	fuse_reply_entry(req, &e);
}

static void *h_get(uint64_t fh);
static void h_put(uint64_t fh);

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct gtree_ref ref;
	struct stat st;
	int r = resolve(req, ino, NULL, &ref);

	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	gtree_stat(&ref, &st);
	double to = gtree_is_local(&ref) ? 0 : gtree_versioned(&ref) ? VER_TO : ATTR_TO;
	if (gtree_versioned(&ref) && ref.gen != gtree_ino_gen(ino)) {
		/* An older content of this file: from an open descriptor, its snapshot's size;
		 * by path, ESTALE makes the kernel look the name up again. */
		const struct buf *h = fi ? h_get(fi->fh) : NULL;
		r = h ? 0 : -ESTALE;
		if (h) {
			st.st_size = (off_t)h->len;
			st.st_ino = ino;
			h_put(fi->fh);
		}
	}
	gtree_ref_release(&ref);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, to);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct gtree_ref ref;
	struct buf b;
	int r = resolve(req, ino, NULL, &ref);

	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	buf_init(&b);
	r = ref.e->kind == GTREE_LNK ? gtree_render(&ref, &b) : -EINVAL;
	if (r == 0)
		r = buf_put_u8(&b, 0);
	gtree_ref_release(&ref);
	if (r < 0)
		fuse_reply_err(req, r == -EINVAL ? EINVAL : ENOENT);
	else
		fuse_reply_readlink(req, (const char *)b.d);
	buf_free(&b);
}

/* Open handles (files and directories) live in a table, not behind raw pointers in fh: the
 * kernel may send RELEASE while a READ of the same handle is still being answered (a reader
 * killed mid-read, e.gproc_g. top exiting while its stats thread reads), so each request holds a
 * reference and the last one frees. fh = generation << 32 | slot; stale fh -> EBADF. */
struct slot {
	void *obj;		/* NULL when free */
	void (*fin)(void *obj); /* frees obj */
	uint32_t gen;		/* bumped when the slot is freed */
	int refs;		/* the open's reference + requests in progress */
};
static struct {
	pthread_mutex_t lock; /* protects all below */
	struct slot *v;
	uint32_t n, cap;
	uint32_t next_free; /* a hint where to look for a free slot */
} ht = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0, 0};

/* Register obj; 0 on allocation failure (obj not taken). */
static uint64_t h_add(void *obj, void (*fin)(void *))
{
	uint64_t fh = 0;
	uint32_t i;

	pthread_mutex_lock(&ht.lock);
	for (i = ht.next_free; i < ht.n && ht.v[i].obj; i++)
		;
	if (i == ht.n && ht.n == ht.cap) {
		uint32_t cap = ht.cap ? ht.cap * 2 : 64;
		struct slot *v = realloc(ht.v, cap * sizeof(*v));
		if (v) {
			memset(v + ht.cap, 0, (cap - ht.cap) * sizeof(*v));
			ht.v = v;
			ht.cap = cap;
		}
	}
	if (i < ht.cap) {
		if (i == ht.n)
			ht.n++;
		ht.v[i].obj = obj;
		ht.v[i].fin = fin;
		ht.v[i].refs = 1;
		if (ht.v[i].gen == 0)
			ht.v[i].gen = 1;
		ht.next_free = i + 1;
		fh = (uint64_t)ht.v[i].gen << 32 | i;
	}
	pthread_mutex_unlock(&ht.lock);
	return fh;
}

static struct slot *h_slot(uint64_t fh)
{
	uint32_t i = (uint32_t)fh;

	return i < ht.n && ht.v[i].obj && ht.v[i].gen == (uint32_t)(fh >> 32) ? &ht.v[i] : NULL;
}

/* The object of fh with a reference for this request, or NULL (released). */
static void *h_get(uint64_t fh)
{
	void *obj = NULL;

	pthread_mutex_lock(&ht.lock);
	struct slot *sl = h_slot(fh);
	if (sl) {
		sl->refs++;
		obj = sl->obj;
	}
	pthread_mutex_unlock(&ht.lock);
	return obj;
}

/* Drop one reference (a request's, or the open's at release); the last frees. */
static void h_put(uint64_t fh)
{
	void *obj = NULL;
	void (*fin)(void *) = NULL;

	pthread_mutex_lock(&ht.lock);
	struct slot *sl = h_slot(fh);
	if (sl && --sl->refs == 0) {
		obj = sl->obj;
		fin = sl->fin;
		sl->obj = NULL;
		sl->gen++;
		if ((uint32_t)fh < ht.next_free)
			ht.next_free = (uint32_t)fh;
	}
	pthread_mutex_unlock(&ht.lock);
	if (fin)
		fin(obj);
}

static void buf_fin(void *p)
{
	buf_free(p);
	free(p);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct gtree_ref ref;
	struct buf *h;
	int r;

	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EACCES);
		return;
	}
	r = resolve(req, ino, NULL, &ref);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	if (gtree_versioned(&ref) && ref.gen != gtree_ino_gen(ino)) {
		/* The content changed since the kernel looked this inode up: its size and cached
		 * pages are of the old content. ESTALE: the kernel looks the name up again. */
		gtree_ref_release(&ref);
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (ref.e->kind != GTREE_REG || !(h = calloc(1, sizeof(*h)))) {
		r = ref.e->kind != GTREE_REG ? EISDIR : ENOMEM;
		gtree_ref_release(&ref);
		fuse_reply_err(req, r);
		return;
	}
	buf_init(h);
	r = gtree_render(&ref, h); /* the snapshot this descriptor sees */
	/* Versioned and as long as its inode says: page cache. Else no page cache. */
	int cache = gtree_versioned(&ref) && h->len == ref.len;
	gtree_ref_release(&ref);
	if (r < 0) {
		buf_free(h);
		free(h);
		fuse_reply_err(req, r == -ENOMEM ? ENOMEM : EIO);
		return;
	}
	fi->fh = h_add(h, buf_fin);
	if (!fi->fh) {
		buf_fin(h);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fi->direct_io = !cache; /* a read returns what the snapshot holds */
	fi->keep_cache = cache; /* the inode's pages hold this very content */
	fi->noflush = 1;
	if (fuse_reply_open(req, fi) != 0)
		h_put(fi->fh); /* the open was interrupted: no RELEASE will come */
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	const struct buf *h = h_get(fi->fh);

	(void)ino;
	if (!h) {
		fuse_reply_err(req, EBADF);
		return;
	}
	if (off < 0 || (size_t)off >= h->len) {
		fuse_reply_buf(req, NULL, 0);
	} else {
		size_t n = h->len - (size_t)off;
		fuse_reply_buf(req, (const char *)h->d + off, n < size ? n : size);
	}
	h_put(fi->fh);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	h_put(fi->fh);
	fuse_reply_err(req, 0);
}

/* A directory listing taken at opendir: readdir pages through it by index. */
struct dirent_s {
	char name[PTABLE_NAME_MAX];
	struct stat st;
};
struct listing {
	struct dirent_s *v;
	size_t n, cap;
	int local; /* listing of the caller's own local pid directory */
};

static int add_entry(void *ctx, const char *name, const struct stat *st)
{
	struct listing *l = ctx;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct dirent_s *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	snprintf(l->v[l->n].name, sizeof(l->v[l->n].name), "%s", name);
	l->v[l->n++].st = *st;
	return 0;
}

static void listing_fin(void *p)
{
	struct listing *l = p;

	free(l->v);
	free(l);
}

static void do_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct listing *l = calloc(1, sizeof(*l));
	struct gtree_ref ref;
	struct stat dot;
	int r;

	if (!l) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (ino == FUSE_ROOT_ID) {
		/* Listing the processes (ps, top, ls): a process started just before must show. */
		struct gsnap *fresh;
		if (gsrc_get_fresh(gproc_g.src, LIST_FRESH_MS, &fresh) == 0)
			gsnap_put(fresh);
	}
	r = resolve(req, ino, NULL, &ref);
	if (r == 0) {
		gtree_stat(&ref, &dot);
		l->local = gtree_is_local(&ref);
		r = add_entry(l, ".", &dot);
		if (r == 0)
			r = add_entry(l, "..", &dot);
		if (r == 0)
			r = gtree_readdir(&ref, add_entry, l);
		gtree_ref_release(&ref);
	}
	if (r < 0) {
		free(l->v);
		free(l);
		fuse_reply_err(req, r == -ENOTDIR ? ENOTDIR : r == -ENOENT ? ENOENT : EIO);
		return;
	}
	fi->fh = h_add(l, listing_fin);
	if (!fi->fh) {
		listing_fin(l);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (fuse_reply_open(req, fi) != 0)
		h_put(fi->fh);
}

/* Root listings wait for a fresh enough table (a fetch from ssid may take seconds): with one
 * request thread they are queued to the lister thread, which answers them in order. */
struct ljob {
	fuse_req_t req;
	struct fuse_file_info fi; /* a copy: the loop's fi is gone when op_opendir returns */
	struct ljob *next;
};
static struct {
	pthread_mutex_t lock; /* protects all below */
	pthread_cond_t cv;
	struct ljob *head, *tail;
	int stop, running;
	pthread_t thread;
} lq = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0, 0, 0};

static void *lister(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lq.lock);
	for (;;) {
		struct ljob *j = lq.head;
		if (!j && lq.stop)
			break;
		if (!j) {
			pthread_cond_wait(&lq.cv, &lq.lock);
			continue;
		}
		lq.head = j->next;
		if (!lq.head)
			lq.tail = NULL;
		pthread_mutex_unlock(&lq.lock);
		do_opendir(j->req, FUSE_ROOT_ID, &j->fi);
		free(j);
		pthread_mutex_lock(&lq.lock);
	}
	pthread_mutex_unlock(&lq.lock);
	return NULL;
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ljob *j;

	if (ino != FUSE_ROOT_ID || !lq.running || !(j = malloc(sizeof(*j)))) {
		do_opendir(req, ino, fi);
		return;
	}
	j->req = req;
	j->fi = *fi;
	j->next = NULL;
	pthread_mutex_lock(&lq.lock);
	if (lq.tail)
		lq.tail->next = j;
	else
		lq.head = j;
	lq.tail = j;
	pthread_cond_signal(&lq.cv);
	pthread_mutex_unlock(&lq.lock);
}

static void readdir_common(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi,
			   int plus)
{
	const struct listing *l = h_get(fi->fh);
	char *buf = l ? malloc(size ? size : 1) : NULL;
	size_t used = 0;

	if (!buf) {
		if (l)
			h_put(fi->fh);
		fuse_reply_err(req, l ? ENOMEM : EBADF);
		return;
	}
	for (size_t i = off < 0 ? 0 : (size_t)off; i < l->n; i++) {
		const struct dirent_s *d = &l->v[i];
		size_t n;
		if (plus) {
			struct fuse_entry_param e = {.attr = d->st};
			int dot = strcmp(d->name, ".") == 0 || strcmp(d->name, "..") == 0;
			/* An entry with an inode counts as a lookup (primes dentry and attributes,
			 * which ps stats); "." and ".." must not. */
			if (!dot) {
				e.ino = d->st.st_ino;
				e.entry_timeout = l->local ? 0 : ENTRY_TO;
				e.attr_timeout = l->local		? 0
						 : gtree_ino_gen(e.ino) ? VER_TO
									: ATTR_TO;
			}
			n = fuse_add_direntry_plus(req, buf + used, size - used, d->name, &e,
						   (off_t)(i + 1));
		} else {
			n = fuse_add_direntry(req, buf + used, size - used, d->name, &d->st,
					      (off_t)(i + 1));
		}
		if (n > size - used)
			break;
		used += n;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
	h_put(fi->fh);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	(void)ino;
	readdir_common(req, size, off, fi, 0);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	(void)ino;
	readdir_common(req, size, off, fi, 1);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	h_put(fi->fh);
	fuse_reply_err(req, 0);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	(void)ino;
	(void)nlookup;
	fuse_reply_none(req); /* inodes are stateless */
}

static void op_init(void *data, struct fuse_conn_info *conn)
{
	(void)data;
	(void)conn;
	gsrc_start(gproc_g.src); /* threads only now: the process has daemonized */
	if (pthread_create(&gproc_g.watcher, NULL, gproc_watch, NULL) == 0)
		gproc_g.watching = 1;
	if (gproc_g.single && pthread_create(&lq.thread, NULL, lister, NULL) == 0)
		lq.running = 1; /* else root listings are answered inline */
}

static void op_destroy(void *data)
{
	(void)data;
	atomic_store(&gproc_g.stop, 1);
	if (gproc_g.watching)
		pthread_join(gproc_g.watcher, NULL);
	gproc_g.watching = 0;
	pthread_mutex_lock(&lq.lock);
	lq.stop = 1;
	pthread_cond_signal(&lq.cv);
	pthread_mutex_unlock(&lq.lock);
	if (lq.running)
		pthread_join(lq.thread, NULL); /* answers the jobs still queued first */
	lq.running = 0;
}

const struct fuse_lowlevel_ops gproc_ops = {
	.init = op_init,
	.destroy = op_destroy,
	.lookup = op_lookup,
	.forget = op_forget,
	.getattr = op_getattr,
	.readlink = op_readlink,
	.open = op_open,
	.read = op_read,
	.release = op_release,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
};
