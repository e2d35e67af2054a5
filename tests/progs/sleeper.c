/*
 * sleeper.c - a process frozen inside blocking system calls: nanosleep() and read() on
 * stdin. After a restore each call runs again; the program sees no error. Sleeps 1.5 s,
 * then reads stdin until EOF, printing what each read returned. Exits 0.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(void)
{
	char b[256];
	struct timespec t = {1, 500000000};
	if (nanosleep(&t, NULL) < 0) {
		printf("nanosleep failed: %s\n", strerror(errno));
		return 1;
	}
	printf("slept\n");
	fflush(stdout);
	for (int i = 0;; i++) {
		ssize_t n = read(0, b, sizeof(b) - 1);
		if (n < 0) {
			printf("read failed: %s\n", strerror(errno));
			return 1;
		}
		if (n == 0)
			break;
		b[n] = '\0';
		printf("read %d: %s", i, b);
		fflush(stdout);
	}
	printf("eof\n");
	return 0;
}
