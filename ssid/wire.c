/*
 * wire.c - frame codec between node daemons: header, TLV fields, splitter (wire.h).
 *
 * Owns: one field table per message type (tag, C kind, required, struct offset, limit);
 * a generic encoder and decoder walk those tables, so a message is added by writing its
 * struct and its table, never by writing parsing code. Does not: I/O, logging, meaning.
 * Assumes: every byte of a frame may be hostile. The decoder reads through struct buf
 * views only (bounds checked), checks every length against its container and its limit
 * before allocating, and frees everything it allocated when it fails.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ssid/ssierr.h"
#include "ssid/wire_int.h"

/* The member of type T at byte offset off in the struct at s. */
#define AT(s, off, T)  ((T *)((char *)(s) + (off)))
#define CAT(s, off, T) ((const T *)((const char *)(s) + (off)))

/* ---- encoder ---- */

static int field_is_empty(const struct field *f, const void *s)
{
	switch (f->kind) {
	case K_U8:
		return *CAT(s, f->off, uint8_t) == 0;
	case K_U16:
		return *CAT(s, f->off, uint16_t) == 0;
	case K_U32:
		return *CAT(s, f->off, uint32_t) == 0;
	case K_U64:
		return *CAT(s, f->off, uint64_t) == 0;
	case K_I32:
		return *CAT(s, f->off, int32_t) == 0;
	case K_I64:
		return *CAT(s, f->off, int64_t) == 0;
	case K_STRA:
		return *CAT(s, f->off, char) == 0;
	case K_STRP: {
		const char *p = *CAT(s, f->off, char *);
		return !p || !*p;
	}
	default: /* counted kinds: empty when the count is 0 */
		return *CAT(s, f->off2, size_t) == 0;
	}
}

static int put_rec(struct buf *b, const struct rec *r, const void *s);

static int put_u32s(struct buf *b, const uint32_t *v, size_t n)
{
	size_t i;
	int e = 0;

	for (i = 0; i < n && e == 0; i++)
		e = buf_put_u32(b, v[i]);
	return e;
}

static int put_list(struct buf *b, const struct field *f, const void *s)
{
	const char *el = *CAT(s, f->off, char *);
	size_t n = *CAT(s, f->off2, size_t), i;
	int e;

	if (n > f->max)
		return SSI_E_TOOBIG;
	if (n && !el)
		return -EINVAL;
	if ((e = buf_put_u32(b, (uint32_t)n)) < 0)
		return e;
	for (i = 0; i < n; i++) {
		size_t pos = b->len;

		if ((e = buf_put_u32(b, 0)) < 0 ||
		    (e = put_rec(b, f->sub, el + i * f->sub->size)) < 0)
			return e;
		if ((e = buf_poke_u32(b, pos, (uint32_t)(b->len - pos - 4))) < 0)
			return e;
	}
	return 0;
}

/* The value of one field (its TLV header is written by the caller). */
static int put_value(struct buf *b, const struct field *f, const void *s)
{
	const void *p;
	size_t n;

	switch (f->kind) {
	case K_U8:
		return buf_put_u64(b, *CAT(s, f->off, uint8_t));
	case K_U16:
		return buf_put_u64(b, *CAT(s, f->off, uint16_t));
	case K_U32:
		return buf_put_u64(b, *CAT(s, f->off, uint32_t));
	case K_U64:
		return buf_put_u64(b, *CAT(s, f->off, uint64_t));
	case K_I32:
		return buf_put_i64(b, *CAT(s, f->off, int32_t));
	case K_I64:
		return buf_put_i64(b, *CAT(s, f->off, int64_t));
	case K_STRA:
		p = CAT(s, f->off, char);
		n = strnlen(p, f->max);
		if (n == f->max)
			return SSI_E_BADFIELD; /* not NUL-terminated */
		return buf_put(b, p, n);
	case K_STRP:
		p = *CAT(s, f->off, char *);
		n = p ? strlen(p) : 0;
		if (n > f->max)
			return SSI_E_TOOBIG;
		return buf_put(b, p, n);
	case K_BYTES:
	case K_U32ARR:
		p = *CAT(s, f->off, void *);
		n = *CAT(s, f->off2, size_t);
		if (n > f->max)
			return SSI_E_TOOBIG;
		if (n && !p)
			return -EINVAL;
		return f->kind == K_BYTES ? buf_put(b, p, n) : put_u32s(b, p, n);
	case K_LIST:
		return put_list(b, f, s);
	}
	return -EINVAL;
}

static uint8_t wt_of(uint8_t kind)
{
	static const uint8_t map[] = {
		[K_U8] = WT_UINT,     [K_U16] = WT_UINT,      [K_U32] = WT_UINT,  [K_U64] = WT_UINT,
		[K_I32] = WT_SINT,    [K_I64] = WT_SINT,      [K_STRA] = WT_STR,  [K_STRP] = WT_STR,
		[K_BYTES] = WT_BYTES, [K_U32ARR] = WT_U32ARR, [K_LIST] = WT_LIST,
	};
	return kind < sizeof(map) ? map[kind] : 0;
}

static int put_rec(struct buf *b, const struct rec *r, const void *s)
{
	size_t i, pos;
	int e;

	for (i = 0; i < r->n; i++) {
		const struct field *f = &r->f[i];

		if (!f->req && field_is_empty(f, s))
			continue;
		if ((e = buf_put_u16(b, f->tag)) < 0 || (e = buf_put_u8(b, wt_of(f->kind))) < 0)
			return e;
		pos = b->len;
		if ((e = buf_put_u32(b, 0)) < 0 || (e = put_value(b, f, s)) < 0)
			return e;
		if (b->len - pos - 4 > UINT32_MAX)
			return SSI_E_TOOBIG;
		if ((e = buf_poke_u32(b, pos, (uint32_t)(b->len - pos - 4))) < 0)
			return e;
	}
	return 0;
}

int wire_encode(struct buf *out, const struct wire_msg *m)
{
	const struct rec *r = wire_rec_of(m->type);
	size_t start = out->len, max = out->max, body;
	int e;

	if (!r)
		return SSI_E_BADTYPE;
	if (out->ro)
		return -EROFS;
	/* Cap growth at one frame so an oversize message fails early, not after 256 MiB. */
	if (max - start > WIRE_MAX_FRAME)
		out->max = start + WIRE_MAX_FRAME;
	if ((e = buf_put_u16(out, WIRE_MAGIC)) < 0 || (e = buf_put_u16(out, m->type)) < 0 ||
	    (e = buf_put_u32(out, 0)) < 0 || (e = buf_put_u32(out, m->reqid)) < 0 ||
	    (e = put_rec(out, r, &m->u)) < 0)
		goto out;
	body = out->len - start - WIRE_HDR_SIZE;
	if (body > WIRE_MAX_BODY) {
		e = SSI_E_TOOBIG;
		goto out;
	}
	e = buf_poke_u32(out, start + 4, (uint32_t)body);
out:
	out->max = max;
	if (e < 0)
		buf_truncate(out, start);
	return e;
}

int wire_encode_error(struct buf *out, uint32_t reqid, uint16_t ref_type, int code,
		      const char *text)
{
	char cut[WIRE_TEXT_MAX + 1];
	struct wire_msg m;

	wire_msg_init(&m, WIRE_ERROR, reqid);
	m.u.error.code = code;
	m.u.error.ref_type = ref_type;
	m.u.error.text = text;
	if (text && strlen(text) > WIRE_TEXT_MAX) {
		/* An over-long reason is cut, so the error itself still gets through. */
		memcpy(cut, text, WIRE_TEXT_MAX);
		cut[WIRE_TEXT_MAX] = 0;
		m.u.error.text = cut;
	}
	return wire_encode(out, &m);
}

/* ---- decoder ---- */

/* Set by wire_read_ref() around the decode of one MIG_STREAM frame (no lists inside): byte
 * fields then point into the frame instead of a copy. */
static _Thread_local int borrow_bytes;

static void free_rec(const struct rec *r, void *s)
{
	size_t i, j;

	for (i = 0; i < r->n; i++) {
		const struct field *f = &r->f[i];

		switch (f->kind) {
		case K_LIST: {
			char *el = *AT(s, f->off, char *);
			size_t n = *AT(s, f->off2, size_t);

			for (j = 0; el && j < n; j++)
				free_rec(f->sub, el + j * f->sub->size);
			free(el);
			*AT(s, f->off, char *) = NULL;
			*AT(s, f->off2, size_t) = 0;
			break;
		}
		case K_BYTES:
		case K_U32ARR:
			*AT(s, f->off2, size_t) = 0;
			if (borrow_bytes && f->kind == K_BYTES) { /* a failed borrowing decode */
				*AT(s, f->off, void *) = NULL;
				break;
			}
			/* fall through */
		case K_STRP:
			free(*AT(s, f->off, void **));
			*AT(s, f->off, void **) = NULL;
			break;
		default:
			break;
		}
	}
}

static int get_rec(struct buf *b, const struct rec *r, void *s, uint16_t *bad_tag);

static int get_uint(struct buf *v, const struct field *f, void *s)
{
	static const uint64_t lim[] = {[K_U8] = UINT8_MAX,
				       [K_U16] = UINT16_MAX,
				       [K_U32] = UINT32_MAX,
				       [K_U64] = UINT64_MAX};
	uint64_t x;

	if (buf_avail(v) != 8 || buf_get_u64(v, &x) < 0 || x > lim[f->kind])
		return SSI_E_BADFIELD;
	switch (f->kind) {
	case K_U8:
		*AT(s, f->off, uint8_t) = (uint8_t)x;
		break;
	case K_U16:
		*AT(s, f->off, uint16_t) = (uint16_t)x;
		break;
	case K_U32:
		*AT(s, f->off, uint32_t) = (uint32_t)x;
		break;
	default:
		*AT(s, f->off, uint64_t) = x;
	}
	return 0;
}

static int get_sint(struct buf *v, const struct field *f, void *s)
{
	int64_t x;

	if (buf_avail(v) != 8 || buf_get_i64(v, &x) < 0)
		return SSI_E_BADFIELD;
	if (f->kind == K_I32) {
		if (x < INT32_MIN || x > INT32_MAX)
			return SSI_E_BADFIELD;
		*AT(s, f->off, int32_t) = (int32_t)x;
	} else {
		*AT(s, f->off, int64_t) = x;
	}
	return 0;
}

static int get_str(struct buf *v, const struct field *f, void *s)
{
	size_t n = buf_avail(v);
	const uint8_t *p = buf_rptr(v);
	char *d;

	if (n > (f->kind == K_STRA ? f->max - 1 : f->max))
		return SSI_E_TOOBIG;
	if (memchr(p, 0, n))
		return SSI_E_CORRUPT;
	if (f->kind == K_STRA) {
		d = AT(s, f->off, char);
	} else {
		if (!(d = malloc(n + 1)))
			return -ENOMEM;
		*AT(s, f->off, char *) = d;
	}
	memcpy(d, p, n);
	d[n] = 0;
	return 0;
}

static int get_bytes(struct buf *v, const struct field *f, void *s)
{
	size_t n = buf_avail(v), i;
	uint8_t *d;

	if (f->kind == K_U32ARR) {
		if (n % 4)
			return SSI_E_BADFIELD;
		n /= 4;
	}
	if (n > f->max)
		return SSI_E_TOOBIG;
	if (n == 0)
		return 0;
	if (borrow_bytes && f->kind == K_BYTES) {
		*AT(s, f->off, const uint8_t *) = buf_rptr(v);
		*AT(s, f->off2, size_t) = n;
		return buf_skip(v, n);
	}
	if (!(d = malloc(f->kind == K_U32ARR ? n * 4 : n)))
		return -ENOMEM;
	*AT(s, f->off, uint8_t *) = d;
	*AT(s, f->off2, size_t) = n;
	if (f->kind == K_BYTES)
		return buf_get(v, d, n);
	for (i = 0; i < n; i++)
		buf_get_u32(v, (uint32_t *)(void *)d + i); /* n * 4 bytes are there */
	return 0;
}

static int get_list(struct buf *v, const struct field *f, void *s, uint16_t *bad_tag)
{
	const struct rec *sub = f->sub;
	uint32_t n, elen, i;
	struct buf ev;
	char *el;
	int e;

	if ((e = buf_get_u32(v, &n)) < 0)
		return e;
	if (n > f->max)
		return SSI_E_TOOBIG;
	if (n > buf_avail(v) / 4) /* each element takes at least its u32 length */
		return SSI_E_TRUNCATED;
	if (n == 0)
		return buf_avail(v) ? SSI_E_BADFIELD : 0;
	if (!(el = calloc(n, sub->size)))
		return -ENOMEM;
	*AT(s, f->off, char *) = el;
	*AT(s, f->off2, size_t) = n;
	for (i = 0; i < n; i++) {
		if ((e = buf_get_u32(v, &elen)) < 0)
			return e;
		if (elen > buf_avail(v))
			return SSI_E_TRUNCATED;
		buf_view(&ev, buf_rptr(v), elen);
		buf_skip(v, elen);
		if ((e = get_rec(&ev, sub, el + (size_t)i * sub->size, bad_tag)) < 0)
			return e;
	}
	return buf_avail(v) ? SSI_E_BADFIELD : 0;
}

static int get_value(struct buf *v, const struct field *f, void *s, uint16_t *bad_tag)
{
	switch (f->kind) {
	case K_U8:
	case K_U16:
	case K_U32:
	case K_U64:
		return get_uint(v, f, s);
	case K_I32:
	case K_I64:
		return get_sint(v, f, s);
	case K_STRA:
	case K_STRP:
		return get_str(v, f, s);
	case K_BYTES:
	case K_U32ARR:
		return get_bytes(v, f, s);
	case K_LIST:
		return get_list(v, f, s, bad_tag);
	}
	return SSI_E_BADFIELD;
}

static const struct field *find_field(const struct rec *r, uint16_t tag, size_t *idx)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		if (r->f[i].tag == tag) {
			*idx = i;
			return &r->f[i];
		}
	}
	return NULL;
}

/* Read one TLV header from b and cut its value out of b as the view v. */
static int next_tlv(struct buf *b, uint16_t *tag, uint8_t *wt, struct buf *v)
{
	uint32_t len;
	int e;

	if ((e = buf_get_u16(b, tag)) < 0 || (e = buf_get_u8(b, wt)) < 0 ||
	    (e = buf_get_u32(b, &len)) < 0)
		return e;
	if (len > buf_avail(b))
		return SSI_E_TRUNCATED;
	buf_view(v, buf_rptr(b), len);
	return buf_skip(b, len);
}

/* Decode the TLV fields in b (exactly) into s. On failure s may hold allocations: the
 * caller frees the whole message with free_rec(). */
static int get_rec(struct buf *b, const struct rec *r, void *s, uint16_t *bad_tag)
{
	uint64_t seen = 0;
	struct buf v;
	uint16_t tag;
	uint8_t wt;
	size_t i;

	if (r->n > WIRE_REC_MAXFIELDS)
		return -EINVAL; /* a table too large for the seen-mask: a bug here, not input */
	while (buf_avail(b)) {
		const struct field *f;
		int e = next_tlv(b, &tag, &wt, &v);

		*bad_tag = tag;
		if (e < 0)
			return e;
		if (!(f = find_field(r, tag, &i))) {
			if (tag >= WIRE_TAG_OPTIONAL)
				continue; /* the documented unknown-field rule */
			return SSI_E_BADFIELD;
		}
		if (seen & (UINT64_C(1) << i) || wt != wt_of(f->kind))
			return SSI_E_BADFIELD;
		seen |= UINT64_C(1) << i;
		if ((e = get_value(&v, f, s, bad_tag)) < 0)
			return e;
	}
	for (i = 0; i < r->n; i++) {
		if (r->f[i].req && !(seen & (UINT64_C(1) << i))) {
			*bad_tag = r->f[i].tag;
			return SSI_E_MISSING;
		}
	}
	*bad_tag = 0;
	return 0;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int wire_split(const void *p, size_t n, size_t *frame_len, struct wire_hdr *hdr)
{
	const uint8_t *b = p;
	uint32_t len;

	*frame_len = WIRE_HDR_SIZE;
	/* Judge each header byte as soon as it is there: a desynchronised stream fails early. */
	if ((n >= 1 && b[0] != (WIRE_MAGIC >> 8)) || (n >= 2 && b[1] != (WIRE_MAGIC & 0xff)))
		return SSI_E_CORRUPT;
	if (n >= 4 && b[2] == 0 && b[3] == 0)
		return SSI_E_CORRUPT;
	if (n < 8)
		return 0;
	len = be32(b + 4);
	if (len > WIRE_MAX_BODY)
		return SSI_E_TOOBIG;
	if (n < WIRE_HDR_SIZE)
		return 0;
	if (hdr) {
		hdr->type = (uint16_t)(b[2] << 8 | b[3]);
		hdr->len = len;
		hdr->reqid = be32(b + 8);
	}
	*frame_len = WIRE_HDR_SIZE + (size_t)len;
	return n >= *frame_len ? 1 : 0;
}

int wire_decode(const void *frame, size_t len, struct wire_msg *m)
{
	const struct rec *r;
	struct buf b;
	uint16_t magic;
	uint32_t blen;
	int e;

	memset(m, 0, sizeof(*m));
	if (len < WIRE_HDR_SIZE)
		return SSI_E_TRUNCATED;
	buf_view(&b, frame, len);
	buf_get_u16(&b, &magic);
	buf_get_u16(&b, &m->type);
	buf_get_u32(&b, &blen);
	buf_get_u32(&b, &m->reqid);
	if (magic != WIRE_MAGIC)
		return SSI_E_CORRUPT;
	if (blen > WIRE_MAX_BODY)
		return SSI_E_TOOBIG;
	if (blen > buf_avail(&b))
		return SSI_E_TRUNCATED;
	if (blen < buf_avail(&b))
		return SSI_E_CORRUPT;
	if (!(r = wire_rec_of(m->type)))
		return SSI_E_BADTYPE;
	if ((e = get_rec(&b, r, &m->u, &m->bad_tag)) < 0) {
		free_rec(r, &m->u);
		memset(&m->u, 0, sizeof(m->u));
	}
	return e;
}

int wire_read(struct buf *in, struct wire_msg *m)
{
	size_t n;
	int e;

	memset(m, 0, sizeof(*m));
	if ((e = wire_split(buf_rptr(in), buf_avail(in), &n, NULL)) <= 0)
		return e;
	e = wire_decode(buf_rptr(in), n, m);
	buf_skip(in, n);
	return e < 0 ? e : 1;
}

int wire_read_ref(struct buf *in, struct wire_msg *m)
{
	struct wire_hdr h;
	size_t n;
	int e;

	memset(m, 0, sizeof(*m));
	if ((e = wire_split(buf_rptr(in), buf_avail(in), &n, &h)) <= 0)
		return e;
	borrow_bytes = h.type == WIRE_MIG_STREAM;
	e = wire_decode(buf_rptr(in), n, m);
	m->borrowed = (uint8_t)(borrow_bytes && e == 0);
	borrow_bytes = 0;
	buf_skip(in, n);
	return e < 0 ? e : 1;
}

void wire_msg_init(struct wire_msg *m, uint16_t type, uint32_t reqid)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->reqid = reqid;
}

void wire_msg_free(struct wire_msg *m)
{
	const struct rec *r = wire_rec_of(m->type);

	if (m->borrowed && m->type == WIRE_MIG_STREAM)
		m->u.mig_stream.data = NULL; /* in the input buffer: not ours */
	m->borrowed = 0;
	if (r)
		free_rec(r, &m->u);
	memset(&m->u, 0, sizeof(m->u));
	m->bad_tag = 0;
}

const char *wire_type_name(uint16_t type)
{
	const char *n = wire_name_of(type);

	return n ? n : "?";
}

int wire_version_agree(uint32_t my_min, uint32_t my_max, uint32_t peer_min, uint32_t peer_max,
		       uint32_t *out)
{
	uint32_t hi = my_max < peer_max ? my_max : peer_max;
	uint32_t lo = my_min > peer_min ? my_min : peer_min;

	*out = 0;
	if (lo > hi || hi == 0)
		return SSI_E_VERSION;
	*out = hi;
	return 0;
}
