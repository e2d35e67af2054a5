/*
 * fuzz_wire.c - libFuzzer target for the frame codec (ssid/wire.c).
 *
 * The input is treated as channel data: the stream splitter cuts it into frames, each
 * frame is decoded, and every frame that decodes must survive a round trip: its
 * re-encoding decodes again and re-encodes to the same bytes. The input is also decoded
 * whole, as one frame. Any crash, leak, sanitizer report or broken property is a bug.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ssid/buf.h"
#include "ssid/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_round_trip(const struct wire_msg *m)
{
	struct buf f2, f3;
	struct wire_msg m2;

	buf_init(&f2);
	buf_init(&f3);
	/* What decoded must encode: every limit the decoder enforces, the encoder accepts. */
	if (wire_encode(&f2, m) != 0)
		abort();
	if (wire_decode(f2.d, f2.len, &m2) != 0)
		abort();
	if (m2.type != m->type || m2.reqid != m->reqid)
		abort();
	if (wire_encode(&f3, &m2) != 0)
		abort();
	if (f2.len != f3.len || memcmp(f2.d, f3.d, f2.len) != 0)
		abort();
	wire_msg_free(&m2);
	buf_free(&f2);
	buf_free(&f3);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_msg m;
	struct wire_hdr h;
	size_t off = 0, n;
	int r;

	while ((r = wire_split(data + off, size - off, &n, &h)) == 1) {
		/* One byte less than a complete frame is always "need more". */
		size_t n2;

		if (n < WIRE_HDR_SIZE || n > size - off ||
		    wire_split(data + off, n - 1, &n2, NULL) != 0)
			abort();
		if (wire_decode(data + off, n, &m) == 0) {
			if (m.type != h.type || m.reqid != h.reqid)
				abort();
			check_round_trip(&m);
		}
		wire_msg_free(&m);
		off += n;
	}
	if (r == 0 && off > size)
		abort();

	/* The whole input as one frame: must never crash or leak, whatever the result. */
	if (wire_decode(data, size, &m) == 0)
		check_round_trip(&m);
	wire_msg_free(&m);
	return 0;
}
