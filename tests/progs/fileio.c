/*
 * fileio.c - regular files across a checkpoint: a data file read and written at offsets
 * (lseek, read, write, pread, pwrite), an O_APPEND log, /dev/null and /dev/zero, and the
 * working directory. Usage: fileio DIR ROUNDS (files created in DIR). Exits 0.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 3 || chdir(argv[1]) < 0)
		return 2;
	long rounds = atol(argv[2]);
	int d = open("data.bin", O_RDWR | O_CREAT | O_TRUNC, 0644);
	int lg = open("log.txt", O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
	int nul = open("/dev/null", O_WRONLY), zero = open("/dev/zero", O_RDONLY);
	if (d < 0 || lg < 0 || nul < 0 || zero < 0)
		return 1;
	uint8_t blk[4096];
	uint64_t x = 99, sum = 0;
	for (long r = 0; r < rounds; r++) {
		for (int i = 0; i < 4096; i++) {
			x = x * 6364136223846793005ull + 1442695040888963407ull;
			blk[i] = (uint8_t)(x >> 56);
		}
		if (write(d, blk, sizeof(blk)) !=
		    (ssize_t)sizeof(blk)) /* sequential, offset moves */
			return 1;
		off_t pos = lseek(d, 0, SEEK_CUR);
		uint8_t back[512];
		if (pread(d, back, sizeof(back), pos / 2) != (ssize_t)sizeof(back))
			return 1;
		for (size_t i = 0; i < sizeof(back); i++)
			sum = sum * 131 + back[i];
		pwrite(d, back, 16, (off_t)(r * 7));
		if (read(zero, back, 64) != 64 || back[0] != 0 || write(nul, blk, 100) != 100)
			return 1;
		dprintf(lg, "round %ld pos %lld\n", r, (long long)pos);
		printf("round %ld pos %lld sum %016llx\n", r, (long long)pos,
		       (unsigned long long)sum);
		fflush(stdout);
		usleep(60000);
	}
	lseek(d, 0, SEEK_SET);
	uint64_t all = 0;
	ssize_t n;
	while ((n = read(d, blk, sizeof(blk))) > 0)
		for (ssize_t i = 0; i < n; i++)
			all = all * 131 + blk[i];
	printf("file checksum %016llx\n", (unsigned long long)all);
	FILE *f = fopen("log.txt", "r");
	long lines = 0;
	int c;
	while (f && (c = fgetc(f)) != EOF)
		lines += c == '\n';
	printf("log lines %ld\n", lines);
	return 0;
}
