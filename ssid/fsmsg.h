/*
 * fsmsg.h - the /gfs file service's shared encodings: the FILE_REQ operations wire.h does not
 * list yet, file attributes in a FILE_REPLY, directory pages, statfs results, and the framing
 * of the local socket between gprocfs --gfs and its ssid (run_dir/gfs.sock).
 *
 * Owns byte layouts only (through struct buf, big-endian). Does no I/O, never logs. Used by
 * the serving side (fsrv.c), the forwarding side (fsfwd.c) and the FUSE client (fuse/gfs*.c).
 * Assumes: bytes from a peer or the socket are untrusted; every getter is bounds-checked.
 */
#ifndef SSI_FSMSG_H
#define SSI_FSMSG_H

#include "ssid/buf.h"
#include "ssid/wire.h"

#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#define FSMSG_SOCK_NAME "gfs.sock"

/* The later operations of enum wire_file_op (wire.h), named here for the file service.
 * Argument use:
 *   CHOWN   path; data = u32 uid, u32 gid (0xffffffff: leave as is)
 *   UTIMENS path (or fh without path); data = i64 atime sec, i64 nsec, i64 mtime sec, i64 nsec
 *           (nsec may be UTIME_NOW / UTIME_OMIT)
 *   FSYNC   fh; flags = 1 for fdatasync
 *   STATFS  path -> data = fsmsg_statfs encoding
 * Existing ops reused with an fh instead of a path: STAT (fstat), TRUNCATE (ftruncate).
 * READDIR: offset = 0 or the cookie of the previous page; the reply's data is a list of
 * fsmsg_dirent entries (no "." or ".."); reply fh = 1 when more follows, from the cookie in
 * reply value (fh = 0: that was the last page).
 * OPEN with O_CREAT is create; its reply carries the attributes of the open file. */
enum fsmsg_op {
	FSMSG_OP_CHOWN = WIRE_FOP_CHOWN,
	FSMSG_OP_UTIMENS = WIRE_FOP_UTIMENS,
	FSMSG_OP_FSYNC = WIRE_FOP_FSYNC,
	FSMSG_OP_STATFS = WIRE_FOP_STATFS,
};

/* Largest directory page one READDIR reply carries (bytes of data). */
#define FSMSG_DIR_PAGE (128u * 1024)

/* Name of a file op ("OPEN", "CHOWN", ...) or "?"; static string. */
const char *fsmsg_op_name(uint32_t op);

/* Attributes into / out of a FILE_REPLY (mode, nlink, uid, gid, size, ino, blocks, rdev,
 * times in ns). */
void fsmsg_stat_to_reply(struct wire_file_reply *r, const struct stat *st);
void fsmsg_stat_from_reply(const struct wire_file_reply *r, struct stat *st);

/* One directory entry: name then its lstat attributes. put: 0 or a buf error. get: 0,
 * SSI_E_TRUNCATED, SSI_E_TOOBIG (name of cap bytes or more), SSI_E_CORRUPT ('/' or NUL in
 * the name, or an empty name). */
int fsmsg_dirent_put(struct buf *b, const char *name, const struct stat *st);
int fsmsg_dirent_get(struct buf *b, char *name, size_t cap, struct stat *st);

/* statvfs results. put: 0 or a buf error; get: 0 or SSI_E_TRUNCATED. */
int fsmsg_statfs_put(struct buf *b, const struct statvfs *sv);
int fsmsg_statfs_get(struct buf *b, struct statvfs *sv);

/*
 * Open handles across a restart of the serving ssid. Every fh carries the serving daemon's
 * instance (fsrv.c); a request on a handle of an earlier instance fails with ESTALE. The
 * client then reopens the file by the same path, as the same opener, with
 * fsmsg_reopen_flags(), checks with fsmsg_same_file() that it got the same file, and sends
 * the request once more (offsets are explicit, so a repeated READ or WRITE does the same).
 * The OPEN reply's value is the file's stamp: its birth time in ns (statx), 0 if the file
 * system has none; with ino and the file type it is the file's identity.
 */
struct fsmsg_fileid {
	uint64_t ino, stamp;
	uint32_t type; /* mode & S_IFMT */
};

/* The identity of the file an OPEN reply describes. */
void fsmsg_fileid_from_reply(struct fsmsg_fileid *id, const struct wire_file_reply *r);
/* 1 when now is the file was (same type and ino, same stamp when either has one), else 0:
 * the name now leads to another file (replaced, deleted and created again). */
int fsmsg_same_file(const struct fsmsg_fileid *was, const struct fsmsg_fileid *now);
/* Flags to reopen with: the opener's, without O_CREAT, O_EXCL, O_TRUNC (the file exists and
 * keeps its bytes). */
uint32_t fsmsg_reopen_flags(uint32_t flags);
/* Should a request op on an open handle that failed with err (0 or negative errno), already
 * sent tries times after a reopen, reopen the file and be sent again? 1 yes, 0 no: only for
 * ESTALE, at most once, never for CLOSE (a handle of a server that is gone is closed). */
int fsmsg_should_reopen(uint32_t op, int err, int tries);

/*
 * Local socket framing (gprocfs --gfs <-> ssid): u32 node id, then one wire frame
 * (FILE_REQ towards ssid, FILE_REPLY back; the request id is the client's own).
 * fsmsg_frame_put: append one; 0 or an encoding error (wire_encode()).
 * fsmsg_frame_cut: look at in's unread bytes; 1 = one whole message: *node set, *frame and
 * *len name its wire frame inside in (valid until in changes) and it is consumed; 0 = need
 * more bytes; negative = bad framing (SSI_E_CORRUPT, SSI_E_TOOBIG): close the socket.
 */
int fsmsg_frame_put(struct buf *out, uint32_t node, const struct wire_msg *m);
int fsmsg_frame_cut(struct buf *in, uint32_t *node, const uint8_t **frame, size_t *len);

#endif
