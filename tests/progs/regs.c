/*
 * regs.c - FPU/SSE/AVX register state live across a checkpoint: the ymm registers hold
 * values through a long register-only loop (a freeze almost surely lands inside it), and
 * double-precision arithmetic runs in between. Usage: regs [ROUNDS]. Exits 0.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	long rounds = argc > 1 ? atol(argv[1]) : 30;
	__builtin_cpu_init();
	int avx = __builtin_cpu_supports("avx2");
	double acc = 0.5;
	for (long r = 0; r < rounds; r++) {
		uint64_t in[16], out[16];
		for (int i = 0; i < 16; i++)
			in[i] = (uint64_t)(r + 1) * 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
		if (avx) {
			/* ymm0-3 are loaded, then only a counter runs for a while, then stored. */
			__asm__ volatile("vmovdqu 0(%0), %%ymm0\n\t"
					 "vmovdqu 32(%0), %%ymm1\n\t"
					 "vmovdqu 64(%0), %%ymm2\n\t"
					 "vmovdqu 96(%0), %%ymm3\n\t"
					 "mov $1000000000, %%rcx\n"
					 "1: dec %%rcx\n\t"
					 "jnz 1b\n\t"
					 "vmovdqu %%ymm0, 0(%1)\n\t"
					 "vmovdqu %%ymm1, 32(%1)\n\t"
					 "vmovdqu %%ymm2, 64(%1)\n\t"
					 "vmovdqu %%ymm3, 96(%1)\n\t"
					 "vzeroupper\n\t"
					 :
					 : "r"(in), "r"(out)
					 : "rcx", "memory", "xmm0", "xmm1", "xmm2", "xmm3");
		} else {
			for (int i = 0; i < 16; i++)
				out[i] = in[i];
		}
		int same = 1;
		for (int i = 0; i < 16; i++)
			same &= in[i] == out[i];
		for (int i = 0; i < 200000; i++)
			acc = sin(acc) * 1.0000001 + sqrt(acc + (double)i) * 1e-6;
		printf("round %ld ymm intact %d acc %.17g\n", r, same, acc);
		fflush(stdout);
	}
	return 0;
}
