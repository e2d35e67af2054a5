/*
 * buf.c - the growable, bounds-checked byte buffer of buf.h (wire frames, image streams).
 *
 * Owns: storage growth (doubling, capped by b->max), big-endian get/put, read-only views.
 * Does not: log, exit, assert on input, or know anything about frame or image layout.
 * Assumes: one thread uses a given buf at a time; b->off <= b->len <= b->alloc (owned) and
 * b->len <= b->max always hold between calls. Length checks subtract, never add, so a
 * huge length from a peer can not wrap around.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ssid/buf.h"
#include "ssid/ssierr.h"

#define BUF_MIN_ALLOC 256

void buf_init(struct buf *b)
{
	memset(b, 0, sizeof(*b));
	b->max = BUF_MAX_SIZE;
}

void buf_set_max(struct buf *b, size_t max)
{
	b->max = max > BUF_MAX_SIZE ? BUF_MAX_SIZE : max;
}

void buf_view(struct buf *b, const void *data, size_t len)
{
	memset(b, 0, sizeof(*b));
	/* The cast drops const: a view is never written (every writer checks ro first). */
	b->d = (uint8_t *)(uintptr_t)data;
	b->len = data ? len : 0;
	b->max = b->len;
	b->ro = 1;
}

void buf_free(struct buf *b)
{
	if (!b->ro)
		free(b->d);
	buf_init(b);
}

void buf_reset(struct buf *b)
{
	b->off = 0;
	b->len = 0;
}

void buf_truncate(struct buf *b, size_t len)
{
	if (len < b->len)
		b->len = len;
	if (b->off > b->len)
		b->off = b->len;
}

void buf_compact(struct buf *b)
{
	if (b->off == 0)
		return;
	if (b->ro) {
		/* A view just moves its window; the caller's memory is untouched. */
		b->d += b->off;
		b->len -= b->off;
		b->max = b->len;
	} else {
		memmove(b->d, b->d + b->off, b->len - b->off);
		b->len -= b->off;
	}
	b->off = 0;
}

uint8_t *buf_reserve(struct buf *b, size_t n)
{
	size_t need, na;
	uint8_t *nd;

	if (b->ro) {
		errno = EROFS;
		return NULL;
	}
	if (b->max > BUF_MAX_SIZE || n > b->max - b->len) {
		errno = EFBIG;
		return NULL;
	}
	need = b->len + n;
	if (b->d && need <= b->alloc)
		return b->d + b->len;
	na = b->alloc ? b->alloc : BUF_MIN_ALLOC;
	while (na < need)
		na = na > b->max / 2 ? b->max : na * 2;
	nd = realloc(b->d, na);
	if (!nd) {
		errno = ENOMEM;
		return NULL;
	}
	b->d = nd;
	b->alloc = na;
	return b->d + b->len;
}

void buf_commit(struct buf *b, size_t n)
{
	/* Only ever called after a successful buf_reserve(b, >= n); clamp defensively. */
	if (b->ro || n > b->alloc - b->len)
		return;
	b->len += n;
}

static int reserve_err(void)
{
	if (errno == EFBIG)
		return SSI_E_TOOBIG;
	if (errno == EROFS)
		return -EROFS;
	return -ENOMEM;
}

int buf_put(struct buf *b, const void *p, size_t n)
{
	uint8_t *w;

	if (n == 0)
		return b->ro ? -EROFS : 0;
	w = buf_reserve(b, n);
	if (!w)
		return reserve_err();
	memcpy(w, p, n);
	b->len += n;
	return 0;
}

int buf_put_u8(struct buf *b, uint8_t v)
{
	return buf_put(b, &v, 1);
}

int buf_put_u16(struct buf *b, uint16_t v)
{
	uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};

	return buf_put(b, x, sizeof(x));
}

int buf_put_u32(struct buf *b, uint32_t v)
{
	uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

	return buf_put(b, x, sizeof(x));
}

int buf_put_u64(struct buf *b, uint64_t v)
{
	uint8_t x[8];
	int i;

	for (i = 0; i < 8; i++)
		x[i] = (uint8_t)(v >> (56 - 8 * i));
	return buf_put(b, x, sizeof(x));
}

int buf_put_i64(struct buf *b, int64_t v)
{
	return buf_put_u64(b, (uint64_t)v);
}

int buf_put_bytes(struct buf *b, const void *p, size_t n)
{
	size_t start = b->len;
	int r;

	if (n > UINT32_MAX)
		return SSI_E_TOOBIG;
	if ((r = buf_put_u32(b, (uint32_t)n)) < 0)
		return r;
	if (n && (r = buf_put(b, p, n)) < 0) {
		b->len = start; /* all or nothing */
		return r;
	}
	return 0;
}

int buf_put_str(struct buf *b, const char *s)
{
	return buf_put_bytes(b, s ? s : "", s ? strlen(s) : 0);
}

int buf_poke_u32(struct buf *b, size_t pos, uint32_t v)
{
	if (b->ro)
		return -EROFS;
	if (b->len < 4 || pos > b->len - 4)
		return -ERANGE;
	b->d[pos] = (uint8_t)(v >> 24);
	b->d[pos + 1] = (uint8_t)(v >> 16);
	b->d[pos + 2] = (uint8_t)(v >> 8);
	b->d[pos + 3] = (uint8_t)v;
	return 0;
}

int buf_get(struct buf *b, void *p, size_t n)
{
	if (n > buf_avail(b)) {
		if (p && n)
			memset(p, 0, n);
		return SSI_E_TRUNCATED;
	}
	if (n) {
		if (p)
			memcpy(p, b->d + b->off, n);
		b->off += n;
	}
	return 0;
}

int buf_skip(struct buf *b, size_t n)
{
	return buf_get(b, NULL, n);
}

/* Big-endian read of n (<= 8) bytes at the read offset without consuming. */
static uint64_t peek_be(const struct buf *b, size_t n)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < n; i++)
		v = v << 8 | b->d[b->off + i];
	return v;
}

int buf_get_u8(struct buf *b, uint8_t *v)
{
	*v = 0;
	if (buf_avail(b) < 1)
		return SSI_E_TRUNCATED;
	*v = (uint8_t)peek_be(b, 1);
	b->off += 1;
	return 0;
}

int buf_get_u16(struct buf *b, uint16_t *v)
{
	*v = 0;
	if (buf_avail(b) < 2)
		return SSI_E_TRUNCATED;
	*v = (uint16_t)peek_be(b, 2);
	b->off += 2;
	return 0;
}

int buf_get_u32(struct buf *b, uint32_t *v)
{
	*v = 0;
	if (buf_avail(b) < 4)
		return SSI_E_TRUNCATED;
	*v = (uint32_t)peek_be(b, 4);
	b->off += 4;
	return 0;
}

int buf_get_u64(struct buf *b, uint64_t *v)
{
	*v = 0;
	if (buf_avail(b) < 8)
		return SSI_E_TRUNCATED;
	*v = peek_be(b, 8);
	b->off += 8;
	return 0;
}

int buf_get_i64(struct buf *b, int64_t *v)
{
	uint64_t u;
	int r = buf_get_u64(b, &u);

	*v = (int64_t)u; /* two's complement on every target we build for */
	return r;
}

int buf_get_bytes_ref(struct buf *b, const uint8_t **p, size_t *n, size_t max)
{
	size_t len;

	*p = NULL;
	*n = 0;
	if (buf_avail(b) < 4)
		return SSI_E_TRUNCATED;
	len = (size_t)peek_be(b, 4);
	if (len > max)
		return SSI_E_TOOBIG;
	if (len > buf_avail(b) - 4)
		return SSI_E_TRUNCATED;
	*p = b->d + b->off + 4;
	*n = len;
	b->off += 4 + len;
	return 0;
}

int buf_get_str(struct buf *b, char **s, size_t max)
{
	size_t off = b->off, n;
	const uint8_t *p;
	char *r;
	int e;

	*s = NULL;
	if ((e = buf_get_bytes_ref(b, &p, &n, max)) < 0)
		return e;
	if (memchr(p, 0, n)) {
		b->off = off;
		return SSI_E_CORRUPT;
	}
	if (!(r = malloc(n + 1))) {
		b->off = off;
		return -ENOMEM;
	}
	memcpy(r, p, n);
	r[n] = 0;
	*s = r;
	return 0;
}

int buf_get_cstr(struct buf *b, char *s, size_t cap)
{
	size_t off = b->off, n;
	const uint8_t *p;
	int e;

	if (cap == 0)
		return -EINVAL;
	s[0] = 0;
	if ((e = buf_get_bytes_ref(b, &p, &n, cap - 1)) < 0)
		return e;
	if (memchr(p, 0, n)) {
		b->off = off;
		return SSI_E_CORRUPT;
	}
	memcpy(s, p, n);
	s[n] = 0;
	return 0;
}
