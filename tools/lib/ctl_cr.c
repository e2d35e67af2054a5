/*
 * ctl_cr.c - `ssictl checkpoint`, `ssictl restore`, `ssictl image show|verify`.
 *
 * Owns: options, opening image files, the verify-before-restore pass, printing results.
 * Does not: know how processes are frozen or rebuilt (migrate/dump.h, migrate/restore.h).
 * Assumes: run as root; no daemon needed.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "migrate/dump.h"
#include "migrate/image.h"
#include "migrate/restore.h"
#include "migrate/state.h"
#include "ssid/ssierr.h"
#include "tools/lib/ctl_cr.h"

static const char usage[] =
	"ssictl checkpoint PID -o FILE [--leave-running | --kill] [-v]\n"
	"    Freeze PID, write its image to FILE ('-' = stdout), then let it run on\n"
	"    (--leave-running, the default) or kill it (--kill). Nothing is changed on failure.\n"
	"ssictl restore FILE [--wait] [--pid-file F] [-v]\n"
	"    Verify FILE, then restore the process with its pid; 'restored pid N' goes to\n"
	"    stderr (its stdout is the process's too), --pid-file writes N to F. Its fds 0-2 are\n"
	"    this command's fds 0-2. --wait: wait for it and exit with its exit status.\n"
	"    FILE '-': read the image from stdin in one pass (pages then checked as they come).\n"
	"ssictl image show FILE | image verify FILE\n"
	"    Print the process, memory map, files, sizes and section checksums; or only check.\n"
	"Single-threaded x86_64 processes only; threads, children, sockets, pipes above fd 2\n"
	"(unless both ends are its own), other descriptor kinds, POSIX timers and locked\n"
	"memory are refused, all listed at once (see ssictl-checkpoint(8)).\n";

const char *ctl_cr_usage(void)
{
	return usage;
}

static int open_in(const char *path, const char *what)
{
	if (strcmp(path, "-") == 0)
		return dup(0);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fprintf(stderr, "ssictl %s: %s: %s\n", what, path, strerror(errno));
	return fd;
}

static int cmd_checkpoint(int argc, char **argv)
{
	static const struct option lo[] = {
		{"output", required_argument, NULL, 'o'}, {"leave-running", no_argument, NULL, 'l'},
		{"kill", no_argument, NULL, 'k'},	  {"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},	  {NULL, 0, NULL, 0}};
	const char *out = NULL;
	unsigned flags = 0;
	int verbose = 0, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:lkvh", lo, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'l':
			flags &= ~DUMP_KILL;
			break;
		case 'k':
			flags |= DUMP_KILL;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (!out || optind != argc - 1) {
		fputs(usage, stderr);
		return 2;
	}
	char *end;
	long pid = strtol(argv[optind], &end, 10);
	if (*end || pid <= 0 || pid > 1 << 22) {
		fprintf(stderr, "ssictl checkpoint: bad pid '%s'\n", argv[optind]);
		return 2;
	}
	/* Only a file this command created is removed after a failure (never a device or a
	 * file that was there before). */
	int created = 0, fd;
	if (strcmp(out, "-") == 0) {
		fd = dup(1);
	} else {
		fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0)
			created = 1;
		else if (errno == EEXIST)
			fd = open(out, O_WRONLY | O_TRUNC | O_CLOEXEC);
	}
	if (fd < 0) {
		fprintf(stderr, "ssictl checkpoint: %s: %s\n", out, strerror(errno));
		return 1;
	}
	char err[8192] = "";
	struct dump_stats st;
	int r = dump_process((pid_t)pid, fd, flags, &st, err, sizeof(err));
	if (r == 0 && fsync(fd) < 0 && errno != EINVAL && errno != EROFS) {
		r = -errno;
		snprintf(err, sizeof(err), "%s: fsync: %s", out, strerror(errno));
	}
	if (close(fd) < 0 && r == 0) {
		r = -errno;
		snprintf(err, sizeof(err), "%s: close: %s", out, strerror(errno));
	}
	if (r < 0) {
		if (created)
			unlink(out);
		fprintf(stderr, "ssictl checkpoint: pid %ld not checkpointed (%s):\n%s\n", pid,
			ssierr_str(r), err);
		return 1;
	}
	if (verbose)
		fprintf(stderr,
			"checkpoint pid %ld: %llu KiB mapped, %llu KiB dumped, image %llu KiB, "
			"frozen %.1f ms, total %.1f ms\n",
			pid, (unsigned long long)st.mapped >> 10,
			(unsigned long long)st.dumped >> 10, (unsigned long long)st.image >> 10,
			st.frozen_ms, st.total_ms);
	return 0;
}

static int cmd_restore(int argc, char **argv)
{
	static const struct option lo[] = {{"wait", no_argument, NULL, 'w'},
					   {"pid-file", required_argument, NULL, 'p'},
					   {"verbose", no_argument, NULL, 'v'},
					   {"help", no_argument, NULL, 'h'},
					   {NULL, 0, NULL, 0}};
	int wait_it = 0, verbose = 0, c;
	const char *pidfile = NULL;
	optind = 1;
	while ((c = getopt_long(argc, argv, "wp:vh", lo, NULL)) != -1) {
		switch (c) {
		case 'w':
			wait_it = 1;
			break;
		case 'p':
			pidfile = optarg;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		fputs(usage, stderr);
		return 2;
	}
	const char *path = argv[optind];
	int fd = open_in(path, "restore");
	if (fd < 0)
		return 1;
	struct stat sb;
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode)) {
		/* A file can be read twice: check every checksum before creating anything. */
		uint64_t at = 0;
		int r = image_verify_fd(fd, &at);
		if (r < 0) {
			fprintf(stderr, "ssictl restore: %s: bad image at byte %llu: %s\n", path,
				(unsigned long long)at, ssierr_str(r));
			close(fd);
			return 1;
		}
		if (lseek(fd, 0, SEEK_SET) < 0) {
			fprintf(stderr, "ssictl restore: %s: %s\n", path, strerror(errno));
			close(fd);
			return 1;
		}
	}
	char err[4096] = "";
	struct restore_stats st;
	pid_t pid = 0;
	int r = restore_process(fd, &pid, &st, err, sizeof(err));
	close(fd);
	if (r < 0) {
		fprintf(stderr, "ssictl restore: %s: %s (%s)\n", path, err, ssierr_str(r));
		return 1;
	}
	if (verbose)
		fprintf(stderr, "restore: %llu KiB of pages, %lu injected calls, %.1f ms%s\n",
			(unsigned long long)st.pages >> 10, st.calls, st.total_ms,
			st.new_pidns ? ", in a new PID namespace" : "");
	fprintf(stderr, "restored pid %d%s\n", (int)pid,
		st.new_pidns ? " (its pid is taken here: it runs in a new PID namespace under this "
			       "pid, with its own pid inside)"
			     : "");
	if (pidfile) {
		FILE *f = fopen(pidfile, "we");
		if (!f || fprintf(f, "%d\n", (int)pid) < 0 || fclose(f) != 0) {
			fprintf(stderr, "ssictl restore: %s: %s\n", pidfile, strerror(errno));
			return 1;
		}
	}
	if (!wait_it)
		return 0;
	int status;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "ssictl restore: wait for pid %d: %s\n", (int)pid,
				strerror(errno));
			return 1;
		}
	}
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

static int cmd_image(int argc, char **argv)
{
	if (argc != 3 || (strcmp(argv[1], "show") != 0 && strcmp(argv[1], "verify") != 0)) {
		fputs(usage, stderr);
		return 2;
	}
	int show = strcmp(argv[1], "show") == 0;
	int fd = open_in(argv[2], "image");
	if (fd < 0)
		return 1;
	struct image_reader rd;
	struct cr_state s;
	cr_state_init(&s);
	int r = image_reader_start(&rd, fd);
	if (r == 0)
		r = cr_state_read(&rd, &s);
	if (r == 0 && show) {
		printf("image:    %s, format version %u\n", argv[2], rd.version);
		cr_state_print(stdout, &s);
		printf("sections:");
		for (uint32_t t = IMG_S_PROC; t <= IMG_S_VMAS; t++)
			printf(" %s %08x", image_sect_name(t), s.sect_crc[t - 1]);
		printf("\n");
	}
	uint32_t pages_crc = 0; /* CRC32C over the page sections' checksums, for comparing */
	while (r == 0) {
		struct buf p;
		uint32_t t;
		r = image_read_section(&rd, &t, &p);
		if (r == 0) {
			uint64_t addr;
			const uint8_t *d;
			size_t n;
			if (t != IMG_S_PAGES) {
				r = SSI_E_BADTYPE;
				break;
			}
			r = cr_pages_parse(&s, &p, &addr, &d, &n);
			uint8_t c[4] = {(uint8_t)(rd.crc >> 24), (uint8_t)(rd.crc >> 16),
					(uint8_t)(rd.crc >> 8), (uint8_t)rd.crc};
			pages_crc = image_crc32c(pages_crc, c, 4);
			s.page_bytes += n;
			s.page_sections++;
		}
	}
	if (r == 1 && show)
		printf("stream:   %llu sections, %llu payload bytes, %llu page sections with %llu "
		       "KiB (checksum of their checksums %08x); every CRC32C good, END matches: "
		       "complete\n",
		       (unsigned long long)rd.nsect + 1, (unsigned long long)rd.bytes,
		       (unsigned long long)s.page_sections, (unsigned long long)s.page_bytes >> 10,
		       pages_crc);
	if (r == 1 && !show)
		printf("%s: good image of pid %d (%llu bytes)\n", argv[2], s.pid,
		       (unsigned long long)rd.offset);
	if (r < 0)
		fprintf(stderr, "ssictl image: %s: bad image at byte %llu: %s\n", argv[2],
			(unsigned long long)rd.offset, ssierr_str(r));
	image_reader_free(&rd);
	cr_state_free(&s);
	close(fd);
	return r == 1 ? 0 : 1;
}

int ctl_cr_main(int argc, char **argv)
{
	if (argc < 1) {
		fputs(usage, stderr);
		return 2;
	}
	if (strcmp(argv[0], "checkpoint") == 0)
		return cmd_checkpoint(argc, argv);
	if (strcmp(argv[0], "restore") == 0)
		return cmd_restore(argc, argv);
	if (strcmp(argv[0], "image") == 0)
		return cmd_image(argc, argv);
	fputs(usage, stderr);
	return 2;
}
