/*
 * mig_ticker.c - the migration test subject: prints LINES numbered lines, one every
 * INTERVAL_MS, each with a checksum of heap memory it keeps updating (so a line is only
 * right if memory and registers moved intact), then exits with status EXIT (default 7).
 * SIGTERM: prints "sigterm at line N" and exits 42 (a handler that must survive a move).
 * Usage: mig_ticker LINES INTERVAL_MS [EXIT [busy]]. Output depends only on the arguments.
 * busy (for the demo): burn the CPU for INTERVAL_MS instead of sleeping, and end each line
 * with "on NODENAME" (uname(2), read again for every line: it shows where the line ran).
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t term;

static void on_term(int s)
{
	(void)s;
	term = 1;
}

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* Keep a CPU busy for ms (shorter if the clock jumps, e.g. on another machine). */
static void spin(long ms)
{
	volatile uint64_t x = 1;
	double t0 = now_ms();

	while (!term) {
		for (int i = 0; i < 100000; i++)
			x = x * 6364136223846793005ull + 1;
		double t = now_ms();
		if (t < t0 || t - t0 >= (double)ms)
			break;
	}
}

int main(int argc, char **argv)
{
	long lines = argc > 1 ? atol(argv[1]) : 50;
	long ms = argc > 2 ? atol(argv[2]) : 100;
	int code = argc > 3 ? atoi(argv[3]) : 7;
	int busy = argc > 4 && !strcmp(argv[4], "busy");
	uint64_t *a = calloc(16384, sizeof(*a)), x = 88172645463325252ull, sum = 0;
	struct sigaction sa;

	if (!a)
		return 1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	for (long l = 0; l < lines; l++) {
		for (int i = 0; i < 20000; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			a[x & 16383] += x;
			sum = sum * 31 + a[(x >> 20) & 16383];
		}
		if (busy) {
			struct utsname u;
			uname(&u);
			printf("line %ld %016llx on %s\n", l, (unsigned long long)sum, u.nodename);
			fflush(stdout);
			spin(ms);
			if (term) {
				printf("sigterm at line %ld\n", l);
				return 42;
			}
			continue;
		}
		printf("line %ld %016llx\n", l, (unsigned long long)sum);
		fflush(stdout);
		struct timespec req = {ms / 1000, (ms % 1000) * 1000000L}, rem;
		while (!term && nanosleep(&req, &rem) < 0 && errno == EINTR)
			req = rem;
		if (term) {
			printf("sigterm at line %ld\n", l);
			fflush(stdout);
			return 42;
		}
	}
	free(a);
	return code;
}
