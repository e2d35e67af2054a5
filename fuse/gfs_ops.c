/*
 * gfs_ops.c - gprocfs --gfs: the fuse_operations table of /gfs, the operations on paths
 * (getattr, readlink, mkdir, unlink, rmdir, symlink, rename, chmod, chown, truncate, utimens,
 * statfs, readdir, access; the root /gfs itself answered here) and init's cache policy:
 * the kernel's entry/attribute caches (attr_timeout, default 1 s), invalidated for changes
 * made through this mount by the kernel itself; changes made on the serving node show within
 * the time-out. Data goes through the page cache (no direct_io, so mmap works); it is kept
 * across opens while mtime and size stay the same and dropped when they change (auto_cache).
 * Does not own: the operations on open files (gfs_fh.c), the path mapping (gfs.c).
 */
#include "fuse/gfs_int.h"
#include "ssid/buf.h"
#include "ssid/fsmsg.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void root_stat(struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFDIR | 0555;
	st->st_nlink = 2;
	st->st_ino = 1;
}

static int op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct gfs_call c;
	const char *rest;
	int r;

	if (fi && fi->fh) {
		r = gfs_fh_op(WIRE_FOP_STAT, fi, 0, 0, &c);
	} else {
		memset(&c, 0, sizeof(c));
		r = gfs_split(path, &c.node, &rest);
		if (r > 0) {
			root_stat(st);
			return 0;
		}
		if (r < 0)
			return r;
		gfs_call_init(&c, WIRE_FOP_LSTAT, 1);
		c.req.u.file_req.path = rest;
		r = gfs_call_run(&c);
	}
	if (r < 0)
		return r;
	fsmsg_stat_from_reply(&c.rep.u.file_reply, st);
	gfs_call_done(&c);
	return 0;
}

static int op_readlink(const char *path, char *buf, size_t size)
{
	struct gfs_call c;
	const char *rest;
	size_t n;
	int r;

	memset(&c, 0, sizeof(c));
	r = gfs_split(path, &c.node, &rest);
	if (r)
		return r > 0 ? -EINVAL : r;
	gfs_call_init(&c, WIRE_FOP_READLINK, 1);
	c.req.u.file_req.path = rest;
	r = gfs_call_run(&c);
	if (r < 0)
		return r;
	n = c.rep.u.file_reply.data_len < size - 1 ? c.rep.u.file_reply.data_len : size - 1;
	memcpy(buf, c.rep.u.file_reply.data, n);
	buf[n] = '\0';
	gfs_call_done(&c);
	return 0;
}

static int op_mkdir(const char *path, mode_t mode)
{
	return gfs_path_op(WIRE_FOP_MKDIR, path, NULL, mode, 0, 0, NULL, 0);
}

static int op_unlink(const char *path)
{
	return gfs_path_op(WIRE_FOP_UNLINK, path, NULL, 0, 0, 0, NULL, 0);
}

static int op_rmdir(const char *path)
{
	return gfs_path_op(WIRE_FOP_RMDIR, path, NULL, 0, 0, 0, NULL, 0);
}

static int op_symlink(const char *target, const char *linkpath)
{
	return gfs_path_op(WIRE_FOP_SYMLINK, linkpath, target, 0, 0, 0, NULL, 0);
}

static int op_rename(const char *from, const char *to, unsigned int flags)
{
	uint32_t n1, n2;
	const char *r1, *r2;
	int r = gfs_split(from, &n1, &r1);

	if (r)
		return r > 0 ? -EBUSY : r;
	r = gfs_split(to, &n2, &r2);
	if (r)
		return r > 0 ? -EBUSY : r;
	if (n1 != n2)
		return -EXDEV;
	if (!strcmp(r1, "/") || !strcmp(r2, "/"))
		return -EBUSY;
	return gfs_path_op(WIRE_FOP_RENAME, from, r2, 0, flags, 0, NULL, 0);
}

static int op_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	(void)fi;
	return gfs_path_op(WIRE_FOP_CHMOD, path, NULL, mode, 0, 0, NULL, 0);
}

static int op_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	uint8_t d[8] = {(uint8_t)(uid >> 24), (uint8_t)(uid >> 16), (uint8_t)(uid >> 8),
			(uint8_t)uid,	      (uint8_t)(gid >> 24), (uint8_t)(gid >> 16),
			(uint8_t)(gid >> 8),  (uint8_t)gid};

	(void)fi;
	return gfs_path_op(FSMSG_OP_CHOWN, path, NULL, 0, 0, 0, d, sizeof(d));
}

static int op_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct gfs_call c;
	int r;

	if (!fi || !fi->fh)
		return gfs_path_op(WIRE_FOP_TRUNCATE, path, NULL, 0, 0, (uint64_t)size, NULL, 0);
	r = gfs_fh_op(WIRE_FOP_TRUNCATE, fi, (uint64_t)size, 0, &c);
	if (r == 0)
		gfs_call_done(&c);
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
	r = b.len == 32 ? gfs_path_op(FSMSG_OP_UTIMENS, path, NULL, 0, 0, 0, b.d, b.len) : -ENOMEM;
	buf_free(&b);
	return r;
}

static int op_statfs(const char *path, struct statvfs *sv)
{
	struct gfs_call c;
	const char *rest;
	struct buf b;
	int r;

	memset(&c, 0, sizeof(c));
	r = gfs_split(path, &c.node, &rest);
	if (r > 0) {
		memset(sv, 0, sizeof(*sv));
		sv->f_bsize = sv->f_frsize = 4096;
		sv->f_namemax = 255;
		return 0;
	}
	if (r < 0)
		return r;
	gfs_call_init(&c, FSMSG_OP_STATFS, 1);
	c.req.u.file_req.path = rest;
	r = gfs_call_run(&c);
	if (r < 0)
		return r;
	buf_view(&b, c.rep.u.file_reply.data, c.rep.u.file_reply.data_len);
	r = fsmsg_statfs_get(&b, sv) < 0 ? -EIO : 0;
	gfs_call_done(&c);
	return r;
}

static int list_root(void *buf, fuse_fill_dir_t fill)
{
	struct stat st;

	gfs_nodes_refresh(1);
	root_stat(&st);
	fill(buf, ".", &st, 0, 0);
	fill(buf, "..", &st, 0, 0);
	pthread_mutex_lock(&gfs_g.nlock);
	for (int i = 0; i < gfs_g.nnodes; i++) {
		st.st_ino = (ino_t)(gfs_g.nodes[i].id + 1);
		fill(buf, gfs_g.nodes[i].name, &st, 0, 0);
	}
	pthread_mutex_unlock(&gfs_g.nlock);
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
	r = gfs_split(path, &node, &rest);
	if (r > 0)
		return list_root(buf, fill);
	if (r < 0)
		return r;
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
	do {
		char name[256];
		struct stat st;
		struct gfs_call c;
		struct buf b;

		memset(&c, 0, sizeof(c));
		c.node = node;
		gfs_call_init(&c, WIRE_FOP_READDIR, 1);
		c.req.u.file_req.path = rest;
		c.req.u.file_req.offset = next;
		r = gfs_call_run(&c);
		if (r < 0)
			return r;
		more = c.rep.u.file_reply.fh == 1 && c.rep.u.file_reply.value != next;
		next = c.rep.u.file_reply.value; /* fh 1: more, from this cookie */
		buf_view(&b, c.rep.u.file_reply.data, c.rep.u.file_reply.data_len);
		while (buf_avail(&b) && fsmsg_dirent_get(&b, name, sizeof(name), &st) == 0)
			if (fill(buf, name, &st, 0, plus))
				break;
		gfs_call_done(&c);
	} while (more);
	return 0;
}

static int op_access(const char *path, int mask)
{
	uint32_t node;
	const char *rest;
	int r = gfs_split(path, &node, &rest);

	if (r > 0)
		return (mask & W_OK) ? -EACCES : 0;
	return r < 0 ? r : gfs_path_op(WIRE_FOP_ACCESS, path, NULL, (uint32_t)mask, 0, 0, NULL, 0);
}

static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	cfg->use_ino = 0; /* inode numbers of different nodes collide */
	/* An open file that is unlinked is renamed to .fuse_hiddenNNN on the serving node until
	 * its last close (as sshfs does): with hard_remove, fstat() of such a file fails ESTALE,
	 * since the kernel sends GETATTR without the handle and the path is gone. */
	cfg->hard_remove = 0;
	cfg->entry_timeout = gfs_g.attr_to;
	cfg->attr_timeout = gfs_g.attr_to;
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

const struct fuse_operations gfs_ops = {
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
	.open = gfs_op_open,
	.read = gfs_op_read,
	.write = gfs_op_write,
	.statfs = op_statfs,
	.flush = gfs_op_flush,
	.release = gfs_op_release,
	.fsync = gfs_op_fsync,
	.readdir = op_readdir,
	.access = op_access,
	.init = op_init,
	.create = gfs_op_create,
	.utimens = op_utimens,
};
