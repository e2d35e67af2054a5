/*
 * image.c - section framing, CRC32C and the END trailer of image streams (image.h).
 *
 * Owns: byte-exact framing and full-length I/O with EINTR retry. Does not: interpret
 * payloads, log, or seek. CRC32C uses the SSE4.2 instruction when the CPU has it, on three
 * interleaved streams for long runs (~30 GB/s: both ends of a migration checksum every
 * byte) and a table otherwise.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "migrate/image.h"
#include "migrate/shmring.h"
#include "ssid/ssierr.h"

static uint32_t crc_table[8][256];
static int crc_ready;
static int crc_hw = -1;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^
					  crc_table[0][crc_table[t - 1][i] & 0xff];
	crc_ready = 1;
}

static uint32_t crc_sw(uint32_t c, const uint8_t *p, size_t n)
{
	if (!crc_ready)
		crc_init();
	while (n >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		v ^= c;
		c = crc_table[7][v & 0xff] ^ crc_table[6][(v >> 8) & 0xff] ^
		    crc_table[5][(v >> 16) & 0xff] ^ crc_table[4][(v >> 24) & 0xff] ^
		    crc_table[3][(v >> 32) & 0xff] ^ crc_table[2][(v >> 40) & 0xff] ^
		    crc_table[1][(v >> 48) & 0xff] ^ crc_table[0][v >> 56];
		p += 8;
		n -= 8;
	}
	while (n--)
		c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xff];
	return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc_hw64(uint32_t c, const uint8_t *p, size_t n)
{
	uint64_t c64 = c;
	while (n >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c64 = __builtin_ia32_crc32di(c64, v);
		p += 8;
		n -= 8;
	}
	c = (uint32_t)c64;
	while (n--)
		c = __builtin_ia32_crc32qi(c, *p++);
	return c;
}

/* Three independent streams hide the crc32 instruction's 3-cycle latency (about 3x the
 * speed of crc_hw64 on a page-sized run). A block is 3 * CRC_LANE bytes: lane 0 continues the
 * running crc, lanes 1 and 2 start from 0, and the register is linear, so
 * crc(a, X0 X1 X2) = zshift(crc(a, X0), 2L) ^ zshift(crc(0, X1), L) ^ crc(0, X2), where
 * zshift(x, L) = crc(x, L zero bytes) is a linear map of x kept as byte tables. */
#define CRC_LANE 4096u
static uint32_t crc_zs[2][4][256]; /* [0]: shift by CRC_LANE bytes, [1]: by 2 * CRC_LANE */
static pthread_once_t crc_zs_once = PTHREAD_ONCE_INIT;

__attribute__((target("sse4.2"))) static void crc_zs_init(void)
{
	static const uint8_t zero[2 * CRC_LANE];
	uint32_t bit[32];
	for (int s = 0; s < 2; s++) {
		for (int b = 0; b < 32; b++)
			bit[b] = crc_hw64(1u << b, zero, CRC_LANE * (size_t)(s + 1));
		for (int k = 0; k < 4; k++)
			for (uint32_t v = 0; v < 256; v++) {
				uint32_t x = 0; /* linear: the sum of its bits' images */
				for (int b = 0; b < 8; b++)
					if (v >> b & 1)
						x ^= bit[8 * k + b];
				crc_zs[s][k][v] = x;
			}
	}
}

static uint32_t zshift(int s, uint32_t x)
{
	return crc_zs[s][0][x & 0xff] ^ crc_zs[s][1][(x >> 8) & 0xff] ^
	       crc_zs[s][2][(x >> 16) & 0xff] ^ crc_zs[s][3][x >> 24];
}

__attribute__((target("sse4.2"))) static uint32_t crc_hw3(uint32_t c, const uint8_t *p, size_t n)
{
	if (n < 3 * CRC_LANE)
		return crc_hw64(c, p, n);
	pthread_once(&crc_zs_once, crc_zs_init);
	while (n >= 3 * CRC_LANE) {
		uint64_t a = c, b = 0, d = 0;
		for (size_t i = 0; i < CRC_LANE; i += 8) {
			uint64_t x, y, z;
			memcpy(&x, p + i, 8);
			memcpy(&y, p + CRC_LANE + i, 8);
			memcpy(&z, p + 2 * CRC_LANE + i, 8);
			a = __builtin_ia32_crc32di(a, x);
			b = __builtin_ia32_crc32di(b, y);
			d = __builtin_ia32_crc32di(d, z);
		}
		c = zshift(1, (uint32_t)a) ^ zshift(0, (uint32_t)b) ^ (uint32_t)d;
		p += 3 * CRC_LANE;
		n -= 3 * CRC_LANE;
	}
	return crc_hw64(c, p, n);
}
#endif

uint32_t image_crc32c(uint32_t crc, const void *p, size_t n)
{
	uint32_t c = ~crc;
#if defined(__x86_64__)
	if (crc_hw < 0) {
		__builtin_cpu_init();
		crc_hw = __builtin_cpu_supports("sse4.2") ? 1 : 0;
	}
	if (crc_hw)
		return ~crc_hw3(c, p, n);
#endif
	return ~crc_sw(c, p, n);
}

const char *image_sect_name(uint32_t type)
{
	switch (type) {
	case IMG_S_PROC:
		return "proc";
	case IMG_S_CPU:
		return "cpu";
	case IMG_S_CREDS:
		return "creds";
	case IMG_S_MM:
		return "mm";
	case IMG_S_SIGNALS:
		return "signals";
	case IMG_S_REGS:
		return "regs";
	case IMG_S_FILES:
		return "files";
	case IMG_S_VMAS:
		return "vmas";
	case IMG_S_PAGES:
		return "pages";
	case IMG_S_END:
		return "end";
	}
	return "?";
}

static int write_iov(int fd, struct iovec *iov, int cnt)
{
	while (cnt > 0) {
		ssize_t r = writev(fd, iov, cnt);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		size_t left = (size_t)r;
		while (cnt > 0 && left >= iov->iov_len) {
			left -= iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + left;
			iov->iov_len -= left;
		}
	}
	return 0;
}

/* Full read; SSI_E_TRUNCATED on end of file before n bytes. */
static int read_full(int fd, void *p, size_t n)
{
	uint8_t *d = p;
	while (n > 0) {
		ssize_t r = read(fd, d, n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return SSI_E_TRUNCATED;
		d += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Into a ring: one reservation when the whole write fits in a quarter of it (one wake-up for
 * the consumer), else piece by piece. */
static int ring_write_iov(struct shmring *ring, const struct iovec *iov, int cnt)
{
	size_t n = 0, room;
	for (int i = 0; i < cnt; i++)
		n += iov[i].iov_len;
	if (n <= shmring_cap(ring) / 4) {
		int e = shmring_wait_space(ring, n, -1);
		if (e < 0)
			return e;
		uint8_t *d = shmring_wptr(ring, &room);
		for (int i = 0; i < cnt; i++) {
			if (iov[i].iov_len)
				memcpy(d, iov[i].iov_base, iov[i].iov_len);
			d += iov[i].iov_len;
		}
		shmring_commit(ring, n);
		return 0;
	}
	for (int i = 0; i < cnt; i++) {
		int e = shmring_write(ring, iov[i].iov_base, iov[i].iov_len);
		if (e < 0)
			return e;
	}
	return 0;
}

static int out_iov(struct image_writer *w, struct iovec *iov, int cnt)
{
	return w->ring ? ring_write_iov(w->ring, iov, cnt) : write_iov(w->fd, iov, cnt);
}

/* Full read from the reader's fd or ring; SSI_E_TRUNCATED at the end before n bytes. */
static int in_read(struct image_reader *r, void *p, size_t n)
{
	if (!r->ring)
		return read_full(r->fd, p, n);
	for (uint8_t *d = p; n > 0;) {
		ssize_t k = shmring_read(r->ring, d, n);
		if (k == 0)
			return SSI_E_TRUNCATED;
		if (k < 0)
			return k == -EPIPE ? SSI_E_TRUNCATED : (int)k;
		d += k;
		n -= (size_t)k;
	}
	return 0;
}

/* In a ring: wait for n bytes in place. SSI_E_TRUNCATED if it ends (or its producer died)
 * first, like a pipe's end of file. */
static int ring_view(struct image_reader *r, size_t n, const uint8_t **p)
{
	size_t have;
	int e = shmring_wait_data(r->ring, n, -1);
	if (e < 0)
		return e;
	*p = shmring_rptr(r->ring, &have);
	if (have >= n)
		return 0;
	e = shmring_state(r->ring);
	return e < 0 && e != -EPIPE ? e : SSI_E_TRUNCATED;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int writer_start(struct image_writer *w, int fd, struct shmring *ring)
{
	uint8_t head[12];
	memset(w, 0, sizeof(*w));
	w->fd = fd;
	w->ring = ring;
	memcpy(head, IMAGE_MAGIC, 8);
	put32(head + 8, IMAGE_VERSION);
	struct iovec iov = {head, sizeof(head)};
	w->written = sizeof(head);
	return out_iov(w, &iov, 1);
}

int image_writer_start(struct image_writer *w, int fd)
{
	return writer_start(w, fd, NULL);
}

int image_writer_start_ring(struct image_writer *w, struct shmring *ring)
{
	return writer_start(w, -1, ring);
}

int image_write_section2(struct image_writer *w, uint32_t type, const void *h, size_t hn,
			 const void *p, size_t n)
{
	uint8_t head[16], tail[4];
	if (hn > IMAGE_SECT_MAX || n > IMAGE_SECT_MAX - hn)
		return SSI_E_TOOBIG;
	uint64_t len = hn + n;
	put32(head, type);
	put32(head + 4, 0);
	put32(head + 8, (uint32_t)(len >> 32));
	put32(head + 12, (uint32_t)len);
	uint32_t crc = image_crc32c(0, head, sizeof(head));
	crc = image_crc32c(crc, h, hn);
	crc = image_crc32c(crc, p, n);
	put32(tail, crc);
	struct iovec iov[4] = {
		{head, 16}, {(void *)(uintptr_t)h, hn}, {(void *)(uintptr_t)p, n}, {tail, 4}};
	int r = out_iov(w, iov, 4);
	if (r < 0)
		return r;
	w->nsect++;
	w->bytes += len;
	w->written += 20 + len;
	return 0;
}

int image_write_section(struct image_writer *w, uint32_t type, const void *p, size_t n)
{
	return image_write_section2(w, type, NULL, 0, p, n);
}

int image_writer_finish(struct image_writer *w)
{
	uint8_t t[16];
	uint64_t ns = w->nsect, nb = w->bytes;
	put32(t, (uint32_t)(ns >> 32));
	put32(t + 4, (uint32_t)ns);
	put32(t + 8, (uint32_t)(nb >> 32));
	put32(t + 12, (uint32_t)nb);
	return image_write_section(w, IMG_S_END, t, sizeof(t));
}

static int reader_start(struct image_reader *r, int fd, struct shmring *ring)
{
	uint8_t head[12];
	memset(r, 0, sizeof(*r));
	buf_init(&r->b);
	r->fd = fd;
	r->ring = ring;
	int e = in_read(r, head, sizeof(head));
	if (e < 0)
		return e;
	r->offset = sizeof(head);
	if (memcmp(head, IMAGE_MAGIC, 8) != 0)
		return SSI_E_CORRUPT;
	r->version = get32(head + 8);
	if (r->version != IMAGE_VERSION)
		return SSI_E_VERSION;
	return 0;
}

int image_reader_start(struct image_reader *r, int fd)
{
	return reader_start(r, fd, NULL);
}

int image_reader_start_ring(struct image_reader *r, struct shmring *ring)
{
	return reader_start(r, -1, ring);
}

int image_read_section(struct image_reader *r, uint32_t *type, struct buf *payload)
{
	uint8_t head[16], tail[4];
	const uint8_t *in = NULL, *d;
	*type = 0;
	buf_view(payload, NULL, 0);
	if (r->held) { /* the previous section, read in place: its bytes go back to the ring */
		shmring_consume(r->ring, r->held);
		r->held = 0;
	}
	if (r->done) {
		/* Nothing may follow the trailer: a longer stream is not this image. */
		uint8_t x;
		int e = in_read(r, &x, 1);
		return e == SSI_E_TRUNCATED ? 1 : e < 0 ? e : SSI_E_CORRUPT;
	}
	int e = r->ring ? ring_view(r, sizeof(head), &in) : in_read(r, head, sizeof(head));
	if (e < 0)
		return e;
	if (in)
		memcpy(head, in, sizeof(head));
	uint32_t t = get32(head), flags = get32(head + 4);
	uint64_t len = (uint64_t)get32(head + 8) << 32 | get32(head + 12);
	if (flags != 0)
		return SSI_E_CORRUPT;
	if (len > IMAGE_SECT_MAX)
		return SSI_E_TOOBIG;
	if (in && 20 + len <= shmring_cap(r->ring) / 2) { /* in place: no copy */
		e = ring_view(r, 20 + (size_t)len, &in);
		if (e < 0)
			return e;
		d = in + 16;
		memcpy(tail, d + len, sizeof(tail));
		r->held = 20 + (size_t)len;
	} else {
		if (in)
			shmring_consume(r->ring, sizeof(head));
		buf_reset(&r->b);
		uint8_t *w = buf_reserve(&r->b, (size_t)len + 1);
		if (!w)
			return -ENOMEM;
		e = in_read(r, w, (size_t)len);
		if (e < 0)
			return e;
		buf_commit(&r->b, (size_t)len);
		e = in_read(r, tail, sizeof(tail));
		if (e < 0)
			return e;
		d = w;
	}
	uint32_t crc = image_crc32c(0, head, sizeof(head));
	crc = image_crc32c(crc, d, (size_t)len);
	if (crc != get32(tail))
		return SSI_E_CHECKSUM;
	r->crc = crc;
	r->offset += 20 + len;
	if (t == IMG_S_END) {
		if (len != 16)
			return SSI_E_CORRUPT;
		uint64_t ns = (uint64_t)get32(d) << 32 | get32(d + 4);
		uint64_t nb = (uint64_t)get32(d + 8) << 32 | get32(d + 12);
		if (ns != r->nsect || nb != r->bytes)
			return SSI_E_CORRUPT;
		r->done = 1;
		return image_read_section(r, type, payload);
	}
	if (t == 0 || (t > IMG_S_VMAS && t != IMG_S_PAGES))
		return SSI_E_BADTYPE;
	r->nsect++;
	r->bytes += len;
	*type = t;
	buf_view(payload, d, (size_t)len);
	return 0;
}

void image_reader_free(struct image_reader *r)
{
	buf_free(&r->b);
}

int image_verify_fd(int fd, uint64_t *at)
{
	struct image_reader r;
	struct buf p;
	uint32_t t;
	int e = image_reader_start(&r, fd);
	while (e == 0)
		e = image_read_section(&r, &t, &p);
	*at = r.offset;
	image_reader_free(&r);
	return e == 1 ? 0 : e;
}
