/*
 * test_image.c - image stream framing and state codec: round trip, and refusal of every
 * truncation, bit flip, wrong version, bad magic, trailing bytes and out-of-map pages.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "migrate/image.h"
#include "migrate/state.h"
#include "ssid/ssierr.h"

static void fill_state(struct cr_state *s)
{
	cr_state_init(s);
	s->pid = 4242;
	strcpy(s->comm, "prog");
	strcpy(s->kernel, "6.18");
	strcpy(s->host, "node1");
	s->exe = strdup("/usr/bin/prog");
	s->cwd = strdup("/tmp");
	s->cmdline = strdup("prog -x");
	s->umask = 022;
	s->rlim[7][0] = 1024;
	s->rlim[7][1] = 4096;
	s->itimer[0][2] = 5;
	s->rseq_ptr = 0x7f0000001000;
	s->rseq_size = 32;
	s->rseq_sig = 0x53053053;
	s->vdso_len = 8;
	s->vdso = malloc(8);
	memcpy(s->vdso,
	       "\x7f"
	       "ELFvdso",
	       8);
	s->uid[0] = s->uid[1] = 1000;
	s->ngroups = 2;
	s->groups = malloc(8);
	s->groups[0] = 10;
	s->groups[1] = 20;
	s->mm_start_brk = 0x1000;
	s->mm_brk = 0x3000;
	s->auxv_len = 32;
	s->auxv = calloc(1, 32);
	s->sigmask = 1u << 9;
	s->act[1].handler = 0x401000;
	s->npending = 1;
	s->pending = calloc(1, sizeof(*s->pending));
	s->pending[0].info[0] = 10; /* SIGUSR1 */
	s->regs.cs = 0x33;
	s->regs.ss = 0x2b;
	s->regs.rip = 0x401234;
	s->xstate_len = 832;
	s->xstate = calloc(1, 832);
	s->xstate[0] = 0x7f;
	s->nfds = 2;
	s->fds = calloc(2, sizeof(*s->fds));
	s->fds[0] = (struct cr_fd){.fd = 1, .kind = CR_FD_STDIO, .path = strdup("")};
	s->fds[1] = (struct cr_fd){.fd = 3, .kind = CR_FD_REG, .pos = 7, .path = strdup("/a b")};
	s->nvmas = 2;
	s->vmas = calloc(2, sizeof(*s->vmas));
	s->vmas[0] = (struct cr_vma){.start = 0x10000,
				     .end = 0x14000,
				     .prot = 3,
				     .kind = CR_VMA_ANON,
				     .dumped = 8192,
				     .path = strdup("")};
	s->vmas[1] = (struct cr_vma){.start = 0x20000,
				     .end = 0x22000,
				     .prot = 5,
				     .kind = CR_VMA_FILE_PRIV,
				     .path = strdup("/lib/x.so")};
}

/* A whole image in a memfd; returns the fd positioned at 0 and its size. */
static int make_image(size_t *size)
{
	struct cr_state s;
	fill_state(&s);
	int fd = memfd_create("img", MFD_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	struct image_writer w;
	ck_assert_int_eq(image_writer_start(&w, fd), 0);
	ck_assert_int_eq(cr_state_write(&w, &s), 0);
	uint8_t addr[8] = {0, 0, 0, 0, 0, 1, 0x10, 0}, page[8192];
	memset(page, 0xab, sizeof(page));
	ck_assert_int_eq(image_write_section2(&w, IMG_S_PAGES, addr, 8, page, sizeof(page)), 0);
	ck_assert_int_eq(image_writer_finish(&w), 0);
	*size = (size_t)w.written;
	cr_state_free(&s);
	lseek(fd, 0, SEEK_SET);
	return fd;
}

/* Read an image from fd fully: 0 when good, else the first error. */
static int read_all(int fd, struct cr_state *s)
{
	struct image_reader r;
	int e = image_reader_start(&r, fd);
	if (e == 0)
		e = cr_state_read(&r, s);
	while (e == 0) {
		struct buf p;
		uint32_t t;
		uint64_t a;
		const uint8_t *d;
		size_t n;
		e = image_read_section(&r, &t, &p);
		if (e == 0)
			e = t == IMG_S_PAGES ? cr_pages_parse(s, &p, &a, &d, &n) : SSI_E_BADTYPE;
	}
	image_reader_free(&r);
	return e == 1 ? 0 : e;
}

START_TEST(crc_vector)
{
	ck_assert_uint_eq(image_crc32c(0, "123456789", 9), 0xe3069283u);
	ck_assert_uint_eq(image_crc32c(image_crc32c(0, "1234", 4), "56789", 5), 0xe3069283u);
}
END_TEST

/* Bit by bit, straight from the definition (reflected, polynomial 0x82f63b78). */
static uint32_t crc_ref(uint32_t crc, const uint8_t *p, size_t n)
{
	uint32_t c = ~crc;
	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
	}
	return ~c;
}

/* Long runs take the interleaved path (>= 12 KiB): every length class, odd offsets, and a
 * run split at every kind of point must give the reference value. */
START_TEST(crc_long)
{
	size_t big = 100000;
	uint8_t *b = malloc(big);
	uint32_t seed = 12345;
	ck_assert_ptr_nonnull(b);
	for (size_t i = 0; i < big; i++) {
		seed = seed * 1103515245u + 12345u;
		b[i] = (uint8_t)(seed >> 16);
	}
	static const size_t lens[] = {12287, 12288, 12289, 24576, 36871, 65536, 99990};
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		for (size_t off = 0; off < 8; off += 3) {
			uint32_t want = crc_ref(0x5a5a5a5au, b + off, lens[i]);
			ck_assert_uint_eq(image_crc32c(0x5a5a5a5au, b + off, lens[i]), want);
			size_t cut = lens[i] / 3 + off;
			ck_assert_uint_eq(image_crc32c(image_crc32c(0x5a5a5a5au, b + off, cut),
						       b + off + cut, lens[i] - cut),
					  want);
		}
	free(b);
}
END_TEST

START_TEST(round_trip)
{
	size_t n;
	int fd = make_image(&n);
	struct cr_state s;
	cr_state_init(&s);
	ck_assert_int_eq(read_all(fd, &s), 0);
	ck_assert_int_eq(s.pid, 4242);
	ck_assert_str_eq(s.comm, "prog");
	ck_assert_str_eq(s.exe, "/usr/bin/prog");
	ck_assert_uint_eq(s.rlim[7][1], 4096);
	ck_assert_uint_eq(s.groups[1], 20);
	ck_assert_uint_eq(s.act[1].handler, 0x401000);
	ck_assert_uint_eq(s.pending[0].info[0], 10);
	ck_assert_uint_eq(s.regs.rip, 0x401234);
	ck_assert_uint_eq(s.xstate_len, 832);
	ck_assert_str_eq(s.fds[1].path, "/a b");
	ck_assert_uint_eq(s.fds[1].pos, 7);
	ck_assert_uint_eq(s.vmas[1].kind, CR_VMA_FILE_PRIV);
	ck_assert_uint_eq(s.rseq_sig, 0x53053053);
	cr_state_free(&s);
	close(fd);
}
END_TEST

/* Every proper prefix of the stream is refused. */
START_TEST(every_truncation)
{
	size_t n;
	int fd = make_image(&n);
	uint8_t *img = malloc(n);
	ck_assert_int_eq(pread(fd, img, n, 0), (ssize_t)n);
	for (size_t k = 0; k < n; k += (k < 2048 ? 1 : 97)) {
		int t = memfd_create("t", MFD_CLOEXEC);
		ck_assert_int_eq(write(t, img, k), (ssize_t)k);
		lseek(t, 0, SEEK_SET);
		struct cr_state s;
		cr_state_init(&s);
		int e = read_all(t, &s);
		ck_assert_msg(e < 0, "prefix of %zu bytes accepted", k);
		cr_state_free(&s);
		close(t);
	}
	free(img);
	close(fd);
}
END_TEST

/* Flipping any single bit is detected (checksums, magic, version or lengths). */
START_TEST(every_bit_flip)
{
	size_t n;
	int fd = make_image(&n);
	uint8_t *img = malloc(n);
	ck_assert_int_eq(pread(fd, img, n, 0), (ssize_t)n);
	for (size_t k = 0; k < n; k += (k < 4096 ? 1 : 61)) {
		int bit = (int)(k % 8);
		img[k] ^= (uint8_t)(1u << bit);
		int t = memfd_create("t", MFD_CLOEXEC);
		ck_assert_int_eq(write(t, img, n), (ssize_t)n);
		lseek(t, 0, SEEK_SET);
		struct cr_state s;
		cr_state_init(&s);
		int e = read_all(t, &s);
		ck_assert_msg(e < 0, "flip of bit %d at byte %zu accepted", bit, k);
		cr_state_free(&s);
		close(t);
		img[k] ^= (uint8_t)(1u << bit);
	}
	free(img);
	close(fd);
}
END_TEST

static int read_patched(size_t off, const void *p, size_t len, int append)
{
	size_t n;
	int fd = make_image(&n);
	if (append)
		lseek(fd, 0, SEEK_END);
	ck_assert_int_eq(append ? write(fd, p, len) : pwrite(fd, p, len, (off_t)off), (ssize_t)len);
	lseek(fd, 0, SEEK_SET);
	struct cr_state s;
	cr_state_init(&s);
	int e = read_all(fd, &s);
	cr_state_free(&s);
	close(fd);
	return e;
}

START_TEST(wrong_version_magic_trailing)
{
	ck_assert_int_eq(read_patched(8, "\0\0\0\2", 4, 0), SSI_E_VERSION);
	ck_assert_int_eq(read_patched(0, "XSIIMG", 6, 0), SSI_E_CORRUPT);
	ck_assert_int_eq(read_patched(0, "x", 1, 1), SSI_E_CORRUPT);
	/* A section length beyond the hard cap is refused before anything is allocated. */
	ck_assert_int_eq(read_patched(12 + 8, "\0\0\0\x7f\xff\xff\xff\xff", 8, 0), SSI_E_TOOBIG);
}
END_TEST

START_TEST(pages_outside_mappings)
{
	struct cr_state s;
	fill_state(&s);
	uint8_t raw[8 + 4096] = {0, 0, 0, 0, 0, 2, 0, 0}; /* 0x20000: file-private, no pages */
	struct buf b;
	uint64_t a;
	const uint8_t *d;
	size_t n;
	buf_view(&b, raw, sizeof(raw));
	ck_assert_int_eq(cr_pages_parse(&s, &b, &a, &d, &n), 0); /* copied file page: fine */
	raw[5] = 9;						 /* 0x90000: unmapped */
	buf_view(&b, raw, sizeof(raw));
	ck_assert_int_eq(cr_pages_parse(&s, &b, &a, &d, &n), SSI_E_CORRUPT);
	raw[5] = 1;
	raw[6] = 0x3f; /* 0x13f00: unaligned */
	buf_view(&b, raw, sizeof(raw));
	ck_assert_int_eq(cr_pages_parse(&s, &b, &a, &d, &n), SSI_E_CORRUPT);
	cr_state_free(&s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("image");
	TCase *t = tcase_create("image");
	tcase_set_timeout(t, 60);
	tcase_add_test(t, crc_vector);
	tcase_add_test(t, crc_long);
	tcase_add_test(t, round_trip);
	tcase_add_test(t, every_truncation);
	tcase_add_test(t, every_bit_flip);
	tcase_add_test(t, wrong_version_magic_trailing);
	tcase_add_test(t, pages_outside_mappings);
	suite_add_tcase(s, t);
	SRunner *r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	int f = srunner_ntests_failed(r);
	srunner_free(r);
	return f ? 1 : 0;
}
