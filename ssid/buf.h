/*
 * buf.h - the one byte buffer for wire frames and image streams (STYLE.md #7).
 *
 * A struct buf is a growable byte array with a read offset. Writers append at the end,
 * readers consume from the offset. All multi-byte integers are big-endian (network order).
 * Getters check the remaining length by subtraction before touching memory, zero their
 * output first, and fail with SSI_E_TRUNCATED without consuming anything on short input.
 * No function here logs, exits or asserts on input data.
 *
 * Strings and byte strings on the wire: u32 length, then the bytes (no terminator).
 */
#ifndef SSI_BUF_H
#define SSI_BUF_H

#include <stddef.h>
#include <stdint.h>

/* Hard ceiling for any buffer: a larger append fails with SSI_E_TOOBIG. */
#define BUF_MAX_SIZE (256u * 1024 * 1024)

struct buf {
	uint8_t *d;   /* storage; NULL until the first append (owned unless ro) */
	size_t off;   /* read offset, <= len */
	size_t len;   /* bytes written */
	size_t alloc; /* bytes allocated; 0 for a read-only view */
	size_t max;   /* append limit in bytes, <= BUF_MAX_SIZE */
	int ro;	      /* 1: a view over caller memory (buf_view), never freed or grown */
};

/* An empty owned buffer with the default limit. Call buf_free() when done. */
void buf_init(struct buf *b);
/* Set the append limit (clamped to BUF_MAX_SIZE). */
void buf_set_max(struct buf *b, size_t max);
/* A read-only view over len bytes at data; data must outlive b. buf_free() is a no-op. */
void buf_view(struct buf *b, const void *data, size_t len);
/* Release storage (owned buffers) and reset to empty. Safe on a zeroed or viewed buf. */
void buf_free(struct buf *b);
/* Forget all content but keep the storage. */
void buf_reset(struct buf *b);
/* Shorten the content to len bytes (no-op if len >= b->len), e.g. to roll back a half-written
 * frame; the read offset is clamped to the new length. */
void buf_truncate(struct buf *b, size_t len);
/* Drop the consumed prefix [0, off) so the buffer does not grow without bound (a view just
 * moves its window). */
void buf_compact(struct buf *b);

/* Bytes not yet read. */
static inline size_t buf_avail(const struct buf *b)
{
	return b->len - b->off;
}
/* Pointer to the first unread byte; valid until the next append, compact or free. */
static inline const uint8_t *buf_rptr(const struct buf *b)
{
	return b->d ? b->d + b->off : (const uint8_t *)"";
}

/* Make room for n more bytes and return a pointer to write them; commit with buf_commit().
 * Returns NULL (errno ENOMEM, EFBIG over the limit, EROFS on a view) if it can not. */
uint8_t *buf_reserve(struct buf *b, size_t n);
/* Mark n bytes after the end (previously reserved) as written. */
void buf_commit(struct buf *b, size_t n);

/* Appenders: 0 or a negative code (-ENOMEM, SSI_E_TOOBIG, -EROFS on a view). */
int buf_put(struct buf *b, const void *p, size_t n);
int buf_put_u8(struct buf *b, uint8_t v);
int buf_put_u16(struct buf *b, uint16_t v);
int buf_put_u32(struct buf *b, uint32_t v);
int buf_put_u64(struct buf *b, uint64_t v);
int buf_put_i64(struct buf *b, int64_t v);
/* u32 length + bytes. */
int buf_put_bytes(struct buf *b, const void *p, size_t n);
/* u32 length + strlen(s) bytes; s may be NULL (written as empty). */
int buf_put_str(struct buf *b, const char *s);
/* Overwrite 4 bytes at absolute position pos (pos + 4 <= len, else -ERANGE) with v, e.g. a
 * length prefix. */
int buf_poke_u32(struct buf *b, size_t pos, uint32_t v);

/* Getters: 0, or SSI_E_TRUNCATED (nothing consumed, output zeroed). */
int buf_get(struct buf *b, void *p, size_t n);
int buf_get_u8(struct buf *b, uint8_t *v);
int buf_get_u16(struct buf *b, uint16_t *v);
int buf_get_u32(struct buf *b, uint32_t *v);
int buf_get_u64(struct buf *b, uint64_t *v);
int buf_get_i64(struct buf *b, int64_t *v);
int buf_skip(struct buf *b, size_t n);
/* u32 length + bytes, returned as a pointer into b (no copy; lives as long as b's storage).
 * Fails SSI_E_TOOBIG if the length exceeds max. */
int buf_get_bytes_ref(struct buf *b, const uint8_t **p, size_t *n, size_t max);
/* u32 length + bytes copied into a new NUL-terminated string (caller frees). Rejects a NUL
 * inside the string (SSI_E_CORRUPT) and lengths above max (SSI_E_TOOBIG); -ENOMEM. */
int buf_get_str(struct buf *b, char **s, size_t max);
/* As buf_get_str into a caller array of size cap (>= 1, else -EINVAL); strings of cap bytes
 * or more give SSI_E_TOOBIG. */
int buf_get_cstr(struct buf *b, char *s, size_t cap);

#endif
