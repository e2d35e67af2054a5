/*
 * fuzz_image.c - libFuzzer target for the image reader: stream framing, checksums, the
 * state section decoders and PAGES parsing, on arbitrary bytes. Must never crash, leak or
 * read out of bounds; any verdict is fine. Every other input first gets its section
 * checksums recomputed, so mutations reach the decoders behind the CRC32C check.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "migrate/image.h"
#include "migrate/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t be(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* Recompute the CRC of every complete section in b. */
static void fix_crcs(uint8_t *b, size_t n)
{
	size_t off = 12;
	while (off + 20 <= n) {
		uint64_t len = be(b + off + 8, 8);
		if (len > n - off - 20)
			break;
		uint32_t c = image_crc32c(0, b + off, 16 + (size_t)len);
		uint8_t *t = b + off + 16 + len;
		t[0] = (uint8_t)(c >> 24);
		t[1] = (uint8_t)(c >> 16);
		t[2] = (uint8_t)(c >> 8);
		t[3] = (uint8_t)c;
		off += 20 + (size_t)len;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	if (fd < 0)
		fd = memfd_create("fuzz-image", MFD_CLOEXEC);
	uint8_t *copy = malloc(size + 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (size && (data[size - 1] & 1))
		fix_crcs(copy, size);
	int bad = fd < 0 || ftruncate(fd, 0) < 0 || pwrite(fd, copy, size, 0) != (ssize_t)size ||
		  lseek(fd, 0, SEEK_SET) < 0;
	free(copy);
	if (bad)
		return 0;
	struct image_reader r;
	struct cr_state s;
	cr_state_init(&s);
	int e = image_reader_start(&r, fd);
	if (e == 0)
		e = cr_state_read(&r, &s);
	while (e == 0) {
		struct buf p;
		uint32_t t;
		uint64_t a;
		const uint8_t *d;
		size_t n;
		e = image_read_section(&r, &t, &p);
		if (e == 0 && t == IMG_S_PAGES && cr_pages_parse(&s, &p, &a, &d, &n) == 0) {
			volatile uint8_t x = d[n - 1]; /* the whole range must be readable */
			(void)x;
		}
	}
	image_reader_free(&r);
	cr_state_free(&s);
	return 0;
}
