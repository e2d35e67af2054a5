/*
 * fsmsg.c - byte layouts of the /gfs file service (fsmsg.h): attributes, directory pages,
 * statfs, local socket framing. No I/O, no logging; every getter bounds-checked by buf.c.
 */
#include "ssid/fsmsg.h"

#include "ssid/ssierr.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

const char *fsmsg_op_name(uint32_t op)
{
	static const char *const names[] = {
		[WIRE_FOP_OPEN] = "OPEN",	  [WIRE_FOP_CLOSE] = "CLOSE",
		[WIRE_FOP_READ] = "READ",	  [WIRE_FOP_WRITE] = "WRITE",
		[WIRE_FOP_STAT] = "STAT",	  [WIRE_FOP_LSTAT] = "LSTAT",
		[WIRE_FOP_READDIR] = "READDIR",	  [WIRE_FOP_READLINK] = "READLINK",
		[WIRE_FOP_MKDIR] = "MKDIR",	  [WIRE_FOP_UNLINK] = "UNLINK",
		[WIRE_FOP_RMDIR] = "RMDIR",	  [WIRE_FOP_RENAME] = "RENAME",
		[WIRE_FOP_TRUNCATE] = "TRUNCATE", [WIRE_FOP_CHMOD] = "CHMOD",
		[WIRE_FOP_ACCESS] = "ACCESS",	  [WIRE_FOP_SYMLINK] = "SYMLINK",
		[FSMSG_OP_CHOWN] = "CHOWN",	  [FSMSG_OP_UTIMENS] = "UTIMENS",
		[FSMSG_OP_FSYNC] = "FSYNC",	  [FSMSG_OP_STATFS] = "STATFS",
	};

	if (op < sizeof(names) / sizeof(names[0]) && names[op])
		return names[op];
	return "?";
}

static int64_t ts_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

static struct timespec ns_ts(int64_t ns)
{
	struct timespec t;

	t.tv_sec = ns / 1000000000;
	t.tv_nsec = ns % 1000000000;
	if (t.tv_nsec < 0) {
		t.tv_nsec += 1000000000;
		t.tv_sec--;
	}
	return t;
}

void fsmsg_stat_to_reply(struct wire_file_reply *r, const struct stat *st)
{
	r->mode = st->st_mode;
	r->nlink = (uint32_t)st->st_nlink;
	r->uid = st->st_uid;
	r->gid = st->st_gid;
	r->size = (uint64_t)st->st_size;
	r->ino = st->st_ino;
	r->blocks = (uint64_t)st->st_blocks;
	r->rdev = st->st_rdev;
	r->atime_ns = ts_ns(&st->st_atim);
	r->mtime_ns = ts_ns(&st->st_mtim);
	r->ctime_ns = ts_ns(&st->st_ctim);
}

void fsmsg_stat_from_reply(const struct wire_file_reply *r, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = r->mode;
	st->st_nlink = r->nlink;
	st->st_uid = r->uid;
	st->st_gid = r->gid;
	st->st_size = (off_t)r->size;
	st->st_ino = r->ino;
	st->st_blocks = (blkcnt_t)r->blocks;
	st->st_blksize = 4096;
	st->st_rdev = r->rdev;
	st->st_atim = ns_ts(r->atime_ns);
	st->st_mtim = ns_ts(r->mtime_ns);
	st->st_ctim = ns_ts(r->ctime_ns);
}

static int attr_put(struct buf *b, const struct stat *st)
{
	int r = buf_put_u32(b, st->st_mode);

	r = r ? r : buf_put_u32(b, (uint32_t)st->st_nlink);
	r = r ? r : buf_put_u32(b, st->st_uid);
	r = r ? r : buf_put_u32(b, st->st_gid);
	r = r ? r : buf_put_u64(b, (uint64_t)st->st_size);
	r = r ? r : buf_put_u64(b, st->st_ino);
	r = r ? r : buf_put_u64(b, (uint64_t)st->st_blocks);
	r = r ? r : buf_put_u64(b, st->st_rdev);
	r = r ? r : buf_put_i64(b, ts_ns(&st->st_atim));
	r = r ? r : buf_put_i64(b, ts_ns(&st->st_mtim));
	r = r ? r : buf_put_i64(b, ts_ns(&st->st_ctim));
	return r;
}

static int attr_get(struct buf *b, struct stat *st)
{
	uint32_t mode, nlink, uid, gid;
	uint64_t size, ino, blocks, rdev;
	int64_t at, mt, ct;
	int r;

	memset(st, 0, sizeof(*st));
	r = buf_get_u32(b, &mode);
	r = r ? r : buf_get_u32(b, &nlink);
	r = r ? r : buf_get_u32(b, &uid);
	r = r ? r : buf_get_u32(b, &gid);
	r = r ? r : buf_get_u64(b, &size);
	r = r ? r : buf_get_u64(b, &ino);
	r = r ? r : buf_get_u64(b, &blocks);
	r = r ? r : buf_get_u64(b, &rdev);
	r = r ? r : buf_get_i64(b, &at);
	r = r ? r : buf_get_i64(b, &mt);
	r = r ? r : buf_get_i64(b, &ct);
	if (r)
		return r;
	st->st_mode = mode;
	st->st_nlink = nlink;
	st->st_uid = uid;
	st->st_gid = gid;
	st->st_size = (off_t)size;
	st->st_ino = ino;
	st->st_blocks = (blkcnt_t)blocks;
	st->st_blksize = 4096;
	st->st_rdev = rdev;
	st->st_atim = ns_ts(at);
	st->st_mtim = ns_ts(mt);
	st->st_ctim = ns_ts(ct);
	return 0;
}

int fsmsg_dirent_put(struct buf *b, const char *name, const struct stat *st)
{
	size_t len = b->len;
	int r = buf_put_str(b, name);

	if (!r)
		r = attr_put(b, st);
	if (r)
		buf_truncate(b, len);
	return r;
}

int fsmsg_dirent_get(struct buf *b, char *name, size_t cap, struct stat *st)
{
	size_t off = b->off;
	int r = buf_get_cstr(b, name, cap);

	if (!r && (!name[0] || strchr(name, '/')))
		r = SSI_E_CORRUPT;
	if (!r)
		r = attr_get(b, st);
	if (r)
		b->off = off;
	return r;
}

int fsmsg_statfs_put(struct buf *b, const struct statvfs *sv)
{
	int r = buf_put_u64(b, sv->f_bsize);

	r = r ? r : buf_put_u64(b, sv->f_frsize);
	r = r ? r : buf_put_u64(b, sv->f_blocks);
	r = r ? r : buf_put_u64(b, sv->f_bfree);
	r = r ? r : buf_put_u64(b, sv->f_bavail);
	r = r ? r : buf_put_u64(b, sv->f_files);
	r = r ? r : buf_put_u64(b, sv->f_ffree);
	r = r ? r : buf_put_u64(b, sv->f_favail);
	r = r ? r : buf_put_u64(b, sv->f_namemax);
	return r;
}

int fsmsg_statfs_get(struct buf *b, struct statvfs *sv)
{
	uint64_t v[9];
	int r = 0;

	memset(sv, 0, sizeof(*sv));
	for (int i = 0; i < 9 && !r; i++)
		r = buf_get_u64(b, &v[i]);
	if (r)
		return r;
	sv->f_bsize = v[0];
	sv->f_frsize = v[1];
	sv->f_blocks = v[2];
	sv->f_bfree = v[3];
	sv->f_bavail = v[4];
	sv->f_files = v[5];
	sv->f_ffree = v[6];
	sv->f_favail = v[7];
	sv->f_namemax = v[8];
	return 0;
}

int fsmsg_frame_put(struct buf *out, uint32_t node, const struct wire_msg *m)
{
	size_t len = out->len;
	int r = buf_put_u32(out, node);

	if (!r)
		r = wire_encode(out, m);
	if (r)
		buf_truncate(out, len);
	return r;
}

int fsmsg_frame_cut(struct buf *in, uint32_t *node, const uint8_t **frame, size_t *len)
{
	const uint8_t *p = buf_rptr(in);
	size_t n = buf_avail(in), flen = 0;
	int r;

	if (n < 4)
		return 0;
	r = wire_split(p + 4, n - 4, &flen, NULL);
	if (r <= 0)
		return r;
	*node = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	*frame = p + 4;
	*len = flen;
	in->off += 4 + flen;
	return 1;
}

void fsmsg_fileid_from_reply(struct fsmsg_fileid *id, const struct wire_file_reply *r)
{
	id->ino = r->ino;
	id->stamp = r->value;
	id->type = r->mode & S_IFMT;
}

int fsmsg_same_file(const struct fsmsg_fileid *was, const struct fsmsg_fileid *now)
{
	return was->type == now->type && was->ino == now->ino && was->stamp == now->stamp;
}

uint32_t fsmsg_reopen_flags(uint32_t flags)
{
	return flags & ~(uint32_t)(O_CREAT | O_EXCL | O_TRUNC);
}

int fsmsg_should_reopen(uint32_t op, int err, int tries)
{
	return err == -ESTALE && tries == 0 && op != WIRE_FOP_CLOSE && op != WIRE_FOP_OPEN;
}
