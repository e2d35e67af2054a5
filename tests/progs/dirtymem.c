/*
 * dirtymem.c - a process holding MIB mebibytes of dirty private memory (every page
 * written with non-zero data), for the checkpoint benchmark. Usage: dirtymem MIB: fills the
 * memory, prints "ready" and waits (pause) until killed; after a restore it checks every
 * page on SIGUSR1 and prints "ok" or "BAD". dirtymem --memcpy MIB: prints the MB/s of a
 * memcpy of MIB mebibytes (the baseline) and exits. dirtymem --touch MIB: faults in MIB
 * mebibytes of new memory (one write per page), prints the ms per MiB it took and exits
 * (what a restore pays for the moved process's new pages, before copying a byte).
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static uint64_t *mem;
static size_t words;

static void check(int s)
{
	(void)s;
	size_t bad = 0;
	for (size_t i = 0; i < words; i++)
		bad += mem[i] != (i * 0x9e3779b97f4a7c15ull | 1);
	printf(bad ? "BAD\n" : "ok\n");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	int cp = argc > 2 && strcmp(argv[1], "--memcpy") == 0;
	int touch = argc > 2 && strcmp(argv[1], "--touch") == 0;
	size_t mib = (size_t)atol(argv[argc - 1]);
	size_t n = mib << 20;
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	mem = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED || !n)
		return 1;
	if (touch) {
		for (size_t i = 0; i < n; i += 4096)
			((volatile uint8_t *)mem)[i] = 1;
		clock_gettime(CLOCK_MONOTONIC, &b);
		double ms =
			(double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
		printf("%.3f\n", ms / (double)mib);
		return 0;
	}
	words = n / 8;
	for (size_t i = 0; i < words; i++)
		mem[i] = i * 0x9e3779b97f4a7c15ull | 1;
	if (cp) {
		uint8_t *dst =
			mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (dst == MAP_FAILED)
			return 1;
		memset(dst, 1, n); /* fault it in: measure the copy, not page faults */
		clock_gettime(CLOCK_MONOTONIC, &a);
		memcpy(dst, mem, n);
		clock_gettime(CLOCK_MONOTONIC, &b);
		double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
		printf("%.1f %.0f\n", s * 1e3, (double)n / 1e6 / s);
		return dst[n - 1] == 0;
	}
	signal(SIGUSR1, check);
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
}
