/*
 * fuzz_imgseal.c - libFuzzer target for the image channel's records (migrate/imgseal.c).
 *
 * The input is what a destination reads from the socket: a preface (16 bytes), a record
 * header (8), the cipher text and a tag (the last 16 bytes). Each part goes through its
 * parser, and the record through imgseal_open under a fixed key. Properties checked: a
 * preface that parses re-encodes to the same bytes; a header that parses has a length within
 * the maximum and no unknown bits; a record opens only if its header's length is its own;
 * the same bytes sealed then opened come back intact, and with one bit changed fail to open.
 * Any crash, leak, sanitizer report or broken property is a bug.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "migrate/imgseal.h"
#include "ssid/ssierr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The key of the seed corpus (tests/fuzz/corpus/imgseal): a test key, public. */
static const struct imgseal_key fkey = {
	.key = {0x66, 0x75, 0x7a, 0x7a, 0x2d, 0x69, 0x6d, 0x67, 0x73, 0x65, 0x61, 0x6c, 1, 2, 3, 4},
	.salt = {0xf0, 0x0d, 0xca, 0xfe},
};

/* Seal body with flags, open it back, then once more with one bit flipped at pos. */
static void round_trip(const uint8_t *body, uint32_t len, uint8_t flags, size_t pos)
{
	struct imgseal *s, *o;
	uint8_t hdr[IMGSEAL_HDR_LEN], tag[IMGSEAL_TAG_LEN];
	uint8_t *d = malloc(len ? len : 1);

	if (!d || imgseal_new(&s, &fkey, 77, 1) || imgseal_new(&o, &fkey, 77, 0))
		abort();
	memcpy(d, body, len);
	if (imgseal_seal(s, d, len, flags, hdr, tag) != 0)
		abort();
	if (imgseal_open(o, hdr, d, len, tag) != 0 || memcmp(d, body, len) != 0)
		abort();
	/* the next record, one bit changed in header, cipher text or tag: must not open */
	memcpy(d, body, len);
	if (imgseal_seal(s, d, len, flags, hdr, tag) != 0)
		abort();
	size_t at = pos % (IMGSEAL_HDR_LEN + len + IMGSEAL_TAG_LEN);
	uint8_t bit = (uint8_t)(1u << (pos / 7 % 8));
	if (at < IMGSEAL_HDR_LEN)
		hdr[at] ^= bit;
	else if (at < IMGSEAL_HDR_LEN + len)
		d[at - IMGSEAL_HDR_LEN] ^= bit;
	else
		tag[at - IMGSEAL_HDR_LEN - len] ^= bit;
	if (imgseal_open(o, hdr, d, len, tag) != SSI_E_CORRUPT || imgseal_count(o) != 1)
		abort();
	free(d);
	imgseal_free(s);
	imgseal_free(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t mig = 0;
	uint32_t len;
	uint8_t flags;

	if (size < IMGSEAL_PREFACE_LEN)
		return 0;
	if (imgseal_preface_parse(data, &mig) == 0) {
		uint8_t pre[IMGSEAL_PREFACE_LEN];
		imgseal_preface(pre, mig);
		if (memcmp(pre, data, sizeof(pre)) != 0)
			abort();
	}
	data += IMGSEAL_PREFACE_LEN;
	size -= IMGSEAL_PREFACE_LEN;
	if (size < IMGSEAL_HDR_LEN + IMGSEAL_TAG_LEN)
		return 0;
	const uint8_t *hdr = data;
	size_t body = size - IMGSEAL_HDR_LEN - IMGSEAL_TAG_LEN;
	int hr = imgseal_hdr_parse(hdr, &len, &flags);
	if (hr == 0 &&
	    (len > IMGSEAL_MAX_REC || (flags & ~IMGSEAL_F_LAST) || hdr[5] || hdr[6] || hdr[7]))
		abort();
	if (hr != 0 && hr != SSI_E_CORRUPT)
		abort();
	if (body > IMGSEAL_MAX_REC)
		return 0;

	/* as received: open in place under the fixed key, for the preface's migration */
	struct imgseal *o;
	uint8_t *d = malloc(body ? body : 1);
	if (!d || imgseal_new(&o, &fkey, mig, 0) != 0)
		abort();
	memcpy(d, hdr + IMGSEAL_HDR_LEN, body);
	int r = imgseal_open(o, hdr, d, (uint32_t)body, hdr + IMGSEAL_HDR_LEN + body);
	if (r != 0 && r != SSI_E_CORRUPT)
		abort();
	if (r == 0 && (hr != 0 || len != body || imgseal_count(o) != 1))
		abort();
	if (r != 0 && imgseal_count(o) != 0)
		abort();
	imgseal_free(o);
	free(d);

	round_trip(hdr + IMGSEAL_HDR_LEN, (uint32_t)body, hdr[4] & IMGSEAL_F_LAST,
		   (size_t)hdr[0] << 8 | hdr[1]);
	return 0;
}
