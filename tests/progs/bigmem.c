/*
 * bigmem.c - memory of every kind a checkpoint must carry: a growing brk heap, a large
 * sparse private mapping (most pages never touched: zero pages left out of the image), a
 * shared anonymous mapping, a read-only (mprotect) region, and heap growth after a restore.
 * Usage: bigmem [ROUNDS [MIB]]. Prints a checksum per round; exits 0.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

int main(int argc, char **argv)
{
	long rounds = argc > 1 ? atol(argv[1]) : 40;
	size_t mib = argc > 2 ? (size_t)atol(argv[2]) : 64;
	size_t big = mib << 20;
	uint8_t *m = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t *sh =
		mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint8_t *ro = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED || sh == MAP_FAILED || ro == MAP_FAILED)
		return 1;
	memset(ro, 0x5a, 65536);
	mprotect(ro, 65536, PROT_READ);
	char **heap = NULL;
	size_t nheap = 0;
	uint64_t x = 12345;
	for (long r = 0; r < rounds; r++) {
		/* write 1/16 of the big pages (the rest are only read: zero pages) */
		for (size_t p = 0; p < big / 4096; p += 16) {
			x = mix(x + p);
			m[p * 4096 + (x & 4095)] += (uint8_t)x;
		}
		for (int i = 0; i < 1000; i++) {
			x = mix(x);
			sh[x & ((1 << 17) - 1)] += x;
		}
		/* brk heap growth: small blocks, some freed */
		char **nh = realloc(heap, (nheap + 200) * sizeof(*heap));
		if (!nh)
			return 1;
		heap = nh;
		for (int i = 0; i < 200; i++) {
			size_t n = 16 + mix(x + (uint64_t)i) % 3000;
			heap[nheap] = malloc(n);
			memset(heap[nheap], (int)(nheap & 0xff), n);
			nheap++;
		}
		for (size_t i = (size_t)r; i < nheap; i += 7) {
			free(heap[i]);
			heap[i] = malloc(64);
			memset(heap[i], 7, 64);
		}
		uint64_t sum = 0;
		for (size_t p = 0; p < big; p += 4096 * 3)
			sum = sum * 31 + m[p + (p >> 12) % 4096];
		for (size_t i = 0; i < (1 << 17); i += 5)
			sum = sum * 31 + sh[i];
		for (size_t i = 0; i < nheap; i += 3)
			sum = sum * 31 + (uint8_t)heap[i][0];
		for (size_t i = 0; i < 65536; i += 4096)
			sum += ro[i];
		printf("round %ld heap %zu sum %016llx\n", r, nheap, (unsigned long long)sum);
		fflush(stdout);
		usleep(50000);
	}
	return 0;
}
