/*
 * image.h - framing of checkpoint image streams: versioned sections with CRC32C checksums.
 *
 * Owns: the stream magic and version, section framing, checksums, the END trailer that
 * proves a stream is complete. Does not know what a section means (state.h does).
 * Assumes: the stream is written and read strictly in one pass over a file descriptor
 * (file, pipe or socket) or a shared-memory ring (shmring.h, a migration's stream); nothing
 * here seeks, so an image can be sent over a channel.
 *
 * Stream: "SSIIMG\r\n" u32 version, then sections:
 *   u32 type | u32 flags (0) | u64 length | length bytes | u32 crc32c(header 16 bytes + payload)
 * The last section is IMG_S_END: u64 sections before it, u64 payload bytes before it.
 */
#ifndef SSI_MIGRATE_IMAGE_H
#define SSI_MIGRATE_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "ssid/buf.h"

struct shmring;

#define IMAGE_MAGIC	  "SSIIMG\r\n"
#define IMAGE_VERSION	  1
#define IMAGE_SECT_MAX	  (64u << 20)  /* hard cap of one section's payload */
#define IMAGE_PAGES_CHUNK (256u << 10) /* writers split page data into sections of this size */

enum image_sect {
	IMG_S_PROC = 1,	   /* identity, kernel, host, cwd, exe, limits, timers */
	IMG_S_CPU = 2,	   /* CPU features, XCR0, xsave size, vdso bytes and layout */
	IMG_S_CREDS = 3,   /* uids, gids, groups, capabilities */
	IMG_S_MM = 4,	   /* PR_SET_MM_MAP fields and auxv */
	IMG_S_SIGNALS = 5, /* mask, handlers, alternate stack, pending signals */
	IMG_S_REGS = 6,	   /* general registers and xstate */
	IMG_S_FILES = 7,   /* file descriptors */
	IMG_S_VMAS = 8,	   /* memory mappings */
	IMG_S_PAGES = 16,  /* u64 address, then raw page bytes up to the end of the section */
	IMG_S_END = 255,   /* trailer */
};

/* Human name of a section type ("?" when unknown). */
const char *image_sect_name(uint32_t type);

/* CRC32C (Castagnoli) of n bytes, continuing from crc (start with 0). */
uint32_t image_crc32c(uint32_t crc, const void *p, size_t n);

struct image_writer {
	int fd;		      /* not owned; -1 when ring is set */
	struct shmring *ring; /* not owned; NULL: write to fd */
	uint64_t nsect;	      /* sections written (END excluded) */
	uint64_t bytes;	      /* payload bytes written */
	uint64_t written;     /* all bytes written to fd */
};

/* Write the magic and version to fd. 0 or -errno. */
int image_writer_start(struct image_writer *w, int fd);
/* The same into a ring (this process is its producer; the caller closes it afterwards). A
 * consumer that went away fails every write with -EPIPE. */
int image_writer_start_ring(struct image_writer *w, struct shmring *ring);
/* Write one section (n <= IMAGE_SECT_MAX). 0, -errno or SSI_E_TOOBIG. */
int image_write_section(struct image_writer *w, uint32_t type, const void *p, size_t n);
/* As image_write_section with the payload in two pieces (head, then body): saves a copy. */
int image_write_section2(struct image_writer *w, uint32_t type, const void *h, size_t hn,
			 const void *p, size_t n);
/* Write the END trailer. 0 or -errno. */
int image_writer_finish(struct image_writer *w);

struct image_reader {
	int fd;		      /* not owned; -1 when ring is set */
	struct shmring *ring; /* not owned; NULL: read from fd */
	size_t held;	      /* ring bytes of the section last returned (released next call) */
	uint32_t version;     /* from the stream head */
	uint64_t nsect;	      /* sections read (END excluded) */
	uint64_t bytes;	      /* payload bytes read */
	uint64_t offset;      /* stream offset of the next byte (for messages) */
	int done;	      /* END seen and checked */
	uint32_t crc;	      /* checksum of the last section read */
	struct buf b;	      /* payload of the last section */
};

/* Read and check the stream head. 0, -errno, SSI_E_TRUNCATED, SSI_E_CORRUPT (not an image)
 * or SSI_E_VERSION. Call image_reader_free() in every case. */
int image_reader_start(struct image_reader *r, int fd);
/* The same from a ring (this process is its consumer). A section that fits in half the ring
 * is returned in place, without a copy; the ring's end before END is SSI_E_TRUNCATED. */
int image_reader_start_ring(struct image_reader *r, struct shmring *ring);
/* Read the next section. Returns 0 with *type and *payload set (payload is a view valid until
 * the next call), 1 after a valid END (nothing else may follow; trailing bytes are
 * SSI_E_CORRUPT), or a negative code: SSI_E_TRUNCATED, SSI_E_CHECKSUM, SSI_E_TOOBIG,
 * SSI_E_CORRUPT, -errno. */
int image_read_section(struct image_reader *r, uint32_t *type, struct buf *payload);
void image_reader_free(struct image_reader *r);

/* Read a whole stream from fd and check every checksum and the trailer without keeping
 * anything. 0 or the first error; *at receives the stream offset of the failure. */
int image_verify_fd(int fd, uint64_t *at);

#endif
