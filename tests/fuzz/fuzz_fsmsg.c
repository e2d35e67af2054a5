/*
 * fuzz_fsmsg.c - libFuzzer target for the /gfs byte layouts a daemon or gprocfs --gfs reads
 * from its peer: the local socket framing (fsmsg_frame_cut + wire_decode), and the data of
 * a FILE_REPLY as the client parses it (directory pages, statfs). Must never crash, leak or
 * read out of bounds; any verdict is fine.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ssid/fsmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *frame;
	struct statvfs sv;
	struct stat st;
	struct buf b;
	uint32_t node;
	char name[256];
	size_t len;
	int r;

	/* as a stream on the socket */
	buf_view(&b, data, size);
	while ((r = fsmsg_frame_cut(&b, &node, &frame, &len)) == 1) {
		struct wire_msg m;

		if (wire_decode(frame, len, &m) == 0)
			wire_msg_free(&m);
	}
	/* as READDIR data: entries until one fails */
	buf_view(&b, data, size);
	while (buf_avail(&b) && fsmsg_dirent_get(&b, name, sizeof(name), &st) == 0)
		;
	/* as STATFS data */
	buf_view(&b, data, size);
	fsmsg_statfs_get(&b, &sv);
	return 0;
}
