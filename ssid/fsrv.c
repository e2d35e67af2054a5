/*
 * fsrv.c - serve this node's files for /gfs (fsrv.h): a job queue, worker threads that take
 * on the caller's fsuid/fsgid/groups per request, and the open-handle table.
 *
 * Jobs carry the request as encoded bytes (decoded again by the worker), so the link thread
 * that received it only copies and returns. Workers reset to root's credentials after each
 * job. Handles are refcounted so that a CLOSE racing a READ never closes an fd in use.
 */
#include "ssid/fsrv.h"

#include "ssid/fsmsg.h"
#include "ssid/log.h"
#include "ssid/ssierr.h"

#include <dirent.h>
#include <linux/magic.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#define NSLOTS	   4096
#define MAX_THREAD 64
/* open(2) flags a caller may pass; anything else (O_PATH, O_TMPFILE, O_NOATIME...) is dropped. */
#define OPEN_FLAGS                                                                                 \
	(O_ACCMODE | O_CREAT | O_EXCL | O_TRUNC | O_APPEND | O_NOFOLLOW | O_DIRECTORY | O_SYNC |   \
	 O_DSYNC | O_NONBLOCK | O_LARGEFILE)

struct job {
	struct job *next;
	int peer;
	fsrv_done_fn done;
	void *ctx;
	size_t len;
	uint8_t frame[]; /* one FILE_REQ frame */
};

struct slot {
	int fd;	      /* -1: free */
	int peer;     /* who opened it */
	uint32_t uid; /* with which uid */
	uint32_t gen; /* bumped at each reuse: stale fh values fail */
	int refs;     /* users now (lock) */
	int closing;  /* CLOSE seen: the last put closes fd */
};

struct fsrv {
	struct cluster *c;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *head, *tail; /* lock */
	int stop;		 /* lock */
	pthread_t th[MAX_THREAD];
	int nth;
	struct slot slots[NSLOTS]; /* lock */
	uint16_t inst;		   /* this server's instance, in bits 16-31 of every fh (never 0) */
};

/* ---- credentials of the calling thread only (raw system calls) ---- */

static int creds_set(const struct wire_file_req *q)
{
	gid_t groups[WIRE_GROUPS_MAX];
	size_t n = q->ngroups;

	for (size_t i = 0; i < n; i++)
		groups[i] = q->groups[i];
	if (syscall(SYS_setgroups, n, n ? groups : NULL) < 0)
		return -errno;
	syscall(SYS_setfsgid, q->gid);
	syscall(SYS_setfsuid, q->uid);
	/* setfsuid reports nothing on failure: read the values back. */
	if ((uint32_t)syscall(SYS_setfsuid, -1) != q->uid ||
	    (uint32_t)syscall(SYS_setfsgid, -1) != q->gid)
		return -EPERM;
	return 0;
}

static void creds_reset(void)
{
	syscall(SYS_setfsuid, 0);
	syscall(SYS_setfsgid, 0);
	syscall(SYS_setgroups, 0, NULL);
}

/*
 * procfs is refused to every uid but 0: the serving thread belongs to ssid, and the kernel
 * lets a process into its own /proc/self/mem, environ, fd/ and the like whatever the fsuid
 * ("same thread group"), so /gfs/NODE/proc/self/mem would be ssid's memory. Checked on the
 * opened descriptor, so no symlink swapped in afterwards can get around it. Users have
 * /gproc for the cluster's processes.
 */
static int proc_refused(int fd, uint32_t uid)
{
	struct statfs sf;

	if (uid == 0)
		return 0;
	if (fstatfs(fd, &sf) < 0)
		return -errno;
	return sf.f_type == PROC_SUPER_MAGIC ? -EACCES : 0;
}

/* ---- handles ---- */

static uint64_t slot_alloc(struct fsrv *s, int fd, int peer, uint32_t uid)
{
	uint64_t fh = 0;

	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < NSLOTS; i++) {
		struct slot *sl = &s->slots[i];

		if (sl->fd >= 0 || sl->refs)
			continue;
		sl->fd = fd;
		sl->peer = peer;
		sl->uid = uid;
		sl->gen++;
		sl->closing = 0;
		fh = (uint64_t)sl->gen << 32 | (uint64_t)s->inst << 16 | (uint64_t)(i + 1);
		break;
	}
	pthread_mutex_unlock(&s->lock);
	return fh;
}

/* Take a reference on fh for (peer, uid); returns the slot or NULL (bad or foreign fh). */
static struct slot *slot_get(struct fsrv *s, uint64_t fh, int peer, uint32_t uid)
{
	uint32_t i = (uint32_t)(fh & 0xffff) - 1, gen = (uint32_t)(fh >> 32);
	struct slot *sl = NULL;

	if (i >= NSLOTS || (uint16_t)(fh >> 16) != s->inst)
		return NULL;
	pthread_mutex_lock(&s->lock);
	if (s->slots[i].fd >= 0 && s->slots[i].gen == gen && !s->slots[i].closing &&
	    s->slots[i].peer == peer && s->slots[i].uid == uid) {
		sl = &s->slots[i];
		sl->refs++;
	}
	pthread_mutex_unlock(&s->lock);
	return sl;
}

/* Why slot_get() refused fh: -ESTALE for a handle of another instance of this server (one
 * that ran before a restart: the client may reopen the file by path), else -EBADF. */
static int fh_refused(const struct fsrv *s, uint64_t fh)
{
	return (uint16_t)(fh >> 16) != s->inst ? -ESTALE : -EBADF;
}

/* Drop a reference; with close set, mark it closing. Returns close()'s result when this put
 * closed the fd, else 0. */
static int slot_put(struct fsrv *s, struct slot *sl, int close_it)
{
	int fd = -1, r = 0;

	pthread_mutex_lock(&s->lock);
	if (close_it)
		sl->closing = 1;
	if (--sl->refs == 0 && sl->closing) {
		fd = sl->fd;
		sl->fd = -1;
	}
	pthread_mutex_unlock(&s->lock);
	if (fd >= 0 && close(fd) < 0 && errno != EINTR)
		r = -errno;
	return r;
}

size_t fsrv_handles(struct fsrv *s, int peer)
{
	size_t n = 0;

	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < NSLOTS; i++)
		n += s->slots[i].fd >= 0 && s->slots[i].peer == peer;
	pthread_mutex_unlock(&s->lock);
	return n;
}

size_t fsrv_close_peer(struct fsrv *s, int peer)
{
	size_t n = 0;

	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < NSLOTS; i++) {
		struct slot *sl = &s->slots[i];

		if (sl->fd < 0 || sl->peer != peer || sl->closing)
			continue;
		n++;
		sl->closing = 1;
		if (!sl->refs) {
			close(sl->fd);
			sl->fd = -1;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* ---- operations: each returns 0 or -errno and fills rp; data goes to out ---- */

/* One page of the directory at path from position cookie (0: the start; else a telldir()
 * position this function returned, valid across opens as for NFS cookies). rp->fh = 1 and
 * rp->value = the cookie to go on from when there is more; rp->fh = 0 at the end. */
static int do_readdir(const char *path, uint32_t uid, uint64_t cookie, struct wire_file_reply *rp,
		      struct buf *out)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;
	struct dirent *de;
	long before;
	DIR *d;

	if (fd < 0)
		return -errno;
	r = proc_refused(fd, uid);
	if (r < 0) {
		close(fd);
		return r;
	}
	d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		return -e;
	}
	if (cookie)
		seekdir(d, (long)cookie);
	before = (long)cookie;
	rp->fh = 0;
	while ((errno = 0, de = readdir(d))) {
		struct stat st;

		if (out->len >= FSMSG_DIR_PAGE) {
			rp->fh = 1; /* more: go on from this entry */
			rp->value = (uint64_t)before;
			break;
		}
		before = (long)de->d_off;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			memset(&st, 0, sizeof(st)); /* gone meanwhile: type from d_type */
			st.st_ino = de->d_ino;
			st.st_mode = (mode_t)DTTOIF(de->d_type);
		}
		if (fsmsg_dirent_put(out, de->d_name, &st) < 0) {
			closedir(d);
			return -ENOMEM;
		}
	}
	closedir(d);
	return 0;
}

static int do_rw(struct fsrv *s, int peer, const struct wire_file_req *q,
		 struct wire_file_reply *rp, struct buf *out)
{
	struct slot *sl = slot_get(s, q->fh, peer, q->uid);
	size_t done = 0;
	int r = 0;

	if (!sl)
		return fh_refused(s, q->fh);
	if (q->op == WIRE_FOP_READ) {
		uint8_t *p = q->length <= WIRE_MAX_CHUNK ? buf_reserve(out, q->length) : NULL;

		if (!p) {
			slot_put(s, sl, 0);
			return q->length > WIRE_MAX_CHUNK ? -EINVAL : -ENOMEM;
		}
		while (done < q->length) {
			ssize_t n = pread(sl->fd, p + done, q->length - done,
					  (off_t)(q->offset + done));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				r = -errno;
				break;
			}
			if (n == 0)
				break;
			done += (size_t)n;
		}
		buf_commit(out, done);
	} else {
		while (done < q->data_len) {
			ssize_t n = pwrite(sl->fd, q->data + done, q->data_len - done,
					   (off_t)(q->offset + done));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				r = -errno;
				break;
			}
			done += (size_t)n;
		}
		rp->value = done;
	}
	slot_put(s, sl, 0);
	/* A short transfer is the answer; an error with nothing moved is the error. */
	return done ? 0 : r;
}

static int do_fh_op(struct fsrv *s, int peer, const struct wire_file_req *q,
		    struct wire_file_reply *rp, struct buf *out)
{
	struct slot *sl;
	struct stat st;
	int r = 0;

	if (q->op == WIRE_FOP_READ || q->op == WIRE_FOP_WRITE)
		return do_rw(s, peer, q, rp, out);
	sl = slot_get(s, q->fh, peer, q->uid);
	if (!sl)
		return fh_refused(s, q->fh);
	switch (q->op) {
	case WIRE_FOP_CLOSE:
		return slot_put(s, sl, 1);
	case WIRE_FOP_STAT:
		if (fstat(sl->fd, &st) < 0)
			r = -errno;
		else
			fsmsg_stat_to_reply(rp, &st);
		break;
	case WIRE_FOP_TRUNCATE:
		r = ftruncate(sl->fd, (off_t)q->offset) < 0 ? -errno : 0;
		break;
	case FSMSG_OP_FSYNC:
		r = (q->flags & 1 ? fdatasync(sl->fd) : fsync(sl->fd)) < 0 ? -errno : 0;
		break;
	default:
		r = -EINVAL;
	}
	slot_put(s, sl, 0);
	return r;
}

/* The file's stamp for the OPEN reply (fsmsg.h): birth time in ns, 0 when not known. */
static uint64_t file_stamp(int fd)
{
	struct statx sx;

	if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_BTIME, &sx) < 0 ||
	    !(sx.stx_mask & STATX_BTIME))
		return 0;
	return (uint64_t)sx.stx_btime.tv_sec * 1000000000u + sx.stx_btime.tv_nsec;
}

static int do_open(struct fsrv *s, int peer, const struct wire_file_req *q,
		   struct wire_file_reply *rp)
{
	/* Always non-blocking at open: a FIFO without a writer (or a slow device) must not hold
	 * a worker. Regular files and directories get the caller's blocking mode back. */
	int fd = open(q->path, (int)(q->flags & OPEN_FLAGS) | O_NONBLOCK | O_CLOEXEC | O_NOCTTY,
		      (mode_t)(q->mode & 07777));
	struct stat st;
	int r;

	if (fd < 0)
		return -errno;
	r = proc_refused(fd, q->uid);
	if (r == 0 && fstat(fd, &st) < 0)
		r = -errno;
	if (r == 0 && (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) && !(q->flags & O_NONBLOCK))
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	if (r == 0 && !(rp->fh = slot_alloc(s, fd, peer, q->uid)))
		r = -EMFILE;
	if (r < 0) {
		close(fd);
		return r;
	}
	fsmsg_stat_to_reply(rp, &st);
	rp->value = file_stamp(fd);
	return 0;
}

static int do_times(const struct wire_file_req *q)
{
	struct timespec ts[2];
	struct buf b;
	int64_t v[4];
	int r = 0;

	buf_view(&b, q->data, q->data_len);
	for (int i = 0; i < 4 && !r; i++)
		r = buf_get_i64(&b, &v[i]);
	if (r)
		return -EINVAL;
	ts[0].tv_sec = v[0];
	ts[0].tv_nsec = v[1];
	ts[1].tv_sec = v[2];
	ts[1].tv_nsec = v[3];
	return utimensat(AT_FDCWD, q->path, ts, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

static int do_path_op(struct fsrv *s, int peer, const struct wire_file_req *q,
		      struct wire_file_reply *rp, struct buf *out)
{
	const char *p = q->path;
	struct statvfs sv;
	struct stat st;
	struct buf b;
	uint32_t u, g;

	switch (q->op) {
	case WIRE_FOP_OPEN:
		return do_open(s, peer, q, rp);
	case WIRE_FOP_STAT:
	case WIRE_FOP_LSTAT:
		if ((q->op == WIRE_FOP_STAT ? stat(p, &st) : lstat(p, &st)) < 0)
			return -errno;
		fsmsg_stat_to_reply(rp, &st);
		return 0;
	case WIRE_FOP_READDIR:
		return do_readdir(p, q->uid, q->offset, rp, out);
	case WIRE_FOP_READLINK: {
		uint8_t *d = buf_reserve(out, PATH_MAX);
		int fd = open(p, O_PATH | O_NOFOLLOW | O_CLOEXEC), r;
		ssize_t n;

		if (fd < 0)
			return -errno;
		r = d ? proc_refused(fd, q->uid) : -ENOMEM;
		n = r ? -1 : readlinkat(fd, "", (char *)d, PATH_MAX);
		if (!r && n < 0)
			r = -errno;
		close(fd);
		if (r)
			return r;
		buf_commit(out, (size_t)n);
		return 0;
	}
	case WIRE_FOP_MKDIR:
		return mkdir(p, (mode_t)(q->mode & 07777)) < 0 ? -errno : 0;
	case WIRE_FOP_UNLINK:
		return unlink(p) < 0 ? -errno : 0;
	case WIRE_FOP_RMDIR:
		return rmdir(p) < 0 ? -errno : 0;
	case WIRE_FOP_RENAME:
		if (!q->path2 || q->path2[0] != '/')
			return -EINVAL;
		return renameat2(AT_FDCWD, p, AT_FDCWD, q->path2, q->flags) < 0 ? -errno : 0;
	case WIRE_FOP_TRUNCATE:
		return truncate(p, (off_t)q->offset) < 0 ? -errno : 0;
	case WIRE_FOP_CHMOD:
		return chmod(p, (mode_t)(q->mode & 07777)) < 0 ? -errno : 0;
	case WIRE_FOP_ACCESS:
		return faccessat(AT_FDCWD, p, (int)q->mode, AT_EACCESS) < 0 ? -errno : 0;
	case WIRE_FOP_SYMLINK:
		if (!q->path2 || !q->path2[0])
			return -EINVAL;
		return symlink(q->path2, p) < 0 ? -errno : 0;
	case FSMSG_OP_CHOWN:
		buf_view(&b, q->data, q->data_len);
		if (buf_get_u32(&b, &u) < 0 || buf_get_u32(&b, &g) < 0)
			return -EINVAL;
		return fchownat(AT_FDCWD, p, u, g, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	case FSMSG_OP_UTIMENS:
		return do_times(q);
	case FSMSG_OP_STATFS:
		if (statvfs(p, &sv) < 0)
			return -errno;
		return fsmsg_statfs_put(out, &sv) < 0 ? -ENOMEM : 0;
	default:
		return -EOPNOTSUPP;
	}
}

/* Serve one decoded request under the caller's credentials. */
static int serve(struct fsrv *s, int peer, const struct wire_file_req *q,
		 struct wire_file_reply *rp, struct buf *out)
{
	int r = creds_set(q);

	if (r < 0) {
		creds_reset(); /* never leave half of someone's credentials on this thread */
		return r;
	}
	if (q->path && q->path[0])
		r = q->path[0] == '/' ? do_path_op(s, peer, q, rp, out) : -EINVAL;
	else
		r = do_fh_op(s, peer, q, rp, out);
	creds_reset();
	return r;
}

static void run_job(struct fsrv *s, struct job *j)
{
	struct wire_msg m, rep;
	struct buf out;
	int r;

	buf_init(&out);
	memset(&m, 0, sizeof(m));
	r = wire_decode(j->frame, j->len, &m);
	wire_msg_init(&rep, WIRE_FILE_REPLY, m.reqid);
	if (r < 0 || m.type != WIRE_FILE_REQ)
		r = r < 0 ? r : SSI_E_BADTYPE;
	else
		r = serve(s, j->peer, &m.u.file_req, &rep.u.file_reply, &out);
	rep.u.file_reply.err = r;
	if (r == 0) {
		rep.u.file_reply.data = buf_rptr(&out);
		rep.u.file_reply.data_len = buf_avail(&out);
	}
	if (j->done) {
		j->done(j->ctx, m.reqid, &rep);
	} else {
		int e = cluster_send(s->c, j->peer, &rep);
		if (e < 0)
			log_debug("file reply %s to node %d: %s", fsmsg_op_name(m.u.file_req.op),
				  j->peer, ssierr_str(e));
	}
	wire_msg_free(&m);
	buf_free(&out);
}

static void *worker(void *arg)
{
	struct fsrv *s = arg;

	for (;;) {
		struct job *j;

		pthread_mutex_lock(&s->lock);
		while (!s->head && !s->stop)
			pthread_cond_wait(&s->cond, &s->lock);
		if (s->stop) {
			pthread_mutex_unlock(&s->lock);
			return NULL;
		}
		j = s->head;
		s->head = j->next;
		if (!s->head)
			s->tail = NULL;
		pthread_mutex_unlock(&s->lock);
		run_job(s, j);
		free(j);
	}
}

int fsrv_submit_frame(struct fsrv *s, int peer, const void *frame, size_t len, fsrv_done_fn done,
		      void *ctx)
{
	struct job *j = malloc(sizeof(*j) + len);

	if (!j)
		return -ENOMEM;
	j->next = NULL;
	j->peer = peer;
	j->done = done;
	j->ctx = ctx;
	j->len = len;
	memcpy(j->frame, frame, len);
	pthread_mutex_lock(&s->lock);
	if (s->stop) {
		pthread_mutex_unlock(&s->lock);
		free(j);
		return -ESHUTDOWN;
	}
	if (s->tail)
		s->tail->next = j;
	else
		s->head = j;
	s->tail = j;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* FILE_REQ from a peer, on its link thread: copy and queue; never blocks on the file. */
static int on_file_req(void *ctx, int peer, const struct wire_msg *m, struct buf *reply)
{
	struct fsrv *s = ctx;
	struct buf b;
	int r;

	buf_init(&b);
	r = wire_encode(&b, m);
	if (!r)
		r = fsrv_submit_frame(s, peer, b.d, b.len, NULL, NULL);
	buf_free(&b);
	if (r < 0) {
		struct wire_msg rep;

		wire_msg_init(&rep, WIRE_FILE_REPLY, m->reqid);
		rep.u.file_reply.err = r == SSI_E_TOOBIG ? -E2BIG : -ENOMEM;
		(void)wire_encode(reply, &rep); /* if even that fails, the caller times out */
	}
	return 0;
}

int fsrv_new(struct fsrv **out, struct cluster *c, int nthreads, char *err, size_t errlen)
{
	struct fsrv *s = calloc(1, sizeof(*s));
	uint64_t gen0;
	int r;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	if (nthreads < 1 || nthreads > MAX_THREAD)
		nthreads = 4;
	/* Every request and reply of up to 1 MiB passes through malloc'd buffers on several
	 * threads. With glibc's defaults those are fresh mmaps or trimmed arena tops, so each
	 * one page-faults and zeroes 1 MiB again (measured: a fifth of the daemon's time in a
	 * sequential write). Keep such buffers in the heap and do not trim below 16 MiB. */
	mallopt(M_MMAP_THRESHOLD, 4 << 20);
	mallopt(M_TRIM_THRESHOLD, 16 << 20);
	s->c = c;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	/* A new instance number and generations at each start: a handle of the daemon that ran
	 * before is told apart (ESTALE), never taken for one of ours. */
	if (getrandom(&gen0, sizeof(gen0), GRND_NONBLOCK) != (ssize_t)sizeof(gen0))
		gen0 = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
	s->inst = (uint16_t)gen0 ? (uint16_t)gen0 : 1;
	for (int i = 0; i < NSLOTS; i++) {
		s->slots[i].fd = -1;
		s->slots[i].gen = (uint32_t)(gen0 >> 32);
	}
	for (s->nth = 0; s->nth < nthreads; s->nth++) {
		r = pthread_create(&s->th[s->nth], NULL, worker, s);
		if (r) {
			snprintf(err, errlen, "file service: starting worker %d: %s", s->nth,
				 strerror(r));
			fsrv_free(s);
			return -r;
		}
	}
	if (c) {
		r = cluster_on_msg(c, WIRE_FILE_REQ, on_file_req, s);
		if (r < 0) {
			snprintf(err, errlen, "file service: FILE_REQ handler: %s", ssierr_str(r));
			fsrv_free(s);
			return r;
		}
	}
	*out = s;
	return 0;
}

void fsrv_stop(struct fsrv *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stop = 1;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	for (int i = 0; i < s->nth; i++)
		pthread_join(s->th[i], NULL);
	s->nth = 0;
}

void fsrv_free(struct fsrv *s)
{
	struct job *j;

	if (!s)
		return;
	fsrv_stop(s);
	while ((j = s->head)) {
		s->head = j->next;
		free(j);
	}
	for (int i = 0; i < NSLOTS; i++)
		if (s->slots[i].fd >= 0)
			close(s->slots[i].fd);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
