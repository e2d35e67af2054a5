/*
 * counter.c - a compute loop that prints a running checksum: the basic checkpoint/restore
 * subject. Usage: counter [LINES [WORK]]; prints LINES lines, each after WORK rounds of a
 * xorshift/multiply mix over a 64 KiB heap array; exits with status 3 (so a test sees the
 * exit status pass through a restore). Output depends only on the arguments.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	long lines = argc > 1 ? atol(argv[1]) : 200;
	long work = argc > 2 ? atol(argv[2]) : 200000;
	uint64_t *a = calloc(8192, sizeof(*a));
	if (!a)
		return 1;
	uint64_t x = 88172645463325252ull, sum = 0;
	for (long l = 0; l < lines; l++) {
		for (long i = 0; i < work; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			a[x & 8191] += x;
			sum = sum * 31 + a[(x >> 20) & 8191];
		}
		printf("%ld %016llx\n", l, (unsigned long long)sum);
		fflush(stdout);
	}
	free(a);
	return 3;
}
