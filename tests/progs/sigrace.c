/*
 * sigrace.c - a process that is signalled all the time, for checkpoint/restore under signal
 * races (tests/integration/cr_signals_race.sh): a 1 ms ITIMER_REAL (so SIGALRM is due
 * during every restore), SIGUSR1 from outside in a tight loop, SIGUSR2 and three queued
 * SIGRTMIN (values 1, 2, 3) blocked and pending until the end.
 * Prints "ready" once set up; runs at least MIN_MS ms, then until SIGUSR1 and SIGALRM were
 * both handled again after that point (at most 30 s more); then unblocks the pending
 * signals and checks each handler's count. Exits 5 when everything is right, else 1-4.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t ticks, usr1, usr2, rt_n, rt_bad, pid_bad;
static pid_t self;

static void on_alarm(int s)
{
	(void)s;
	ticks++;
}

static void on_usr1(int s)
{
	(void)s;
	usr1++;
	if (getpid() != self)
		pid_bad = 1;
}

static void on_usr2(int s)
{
	(void)s;
	usr2++;
}

/* The queued values must come exactly once each, in order. */
static void on_rt(int s, siginfo_t *si, void *uc)
{
	(void)s;
	(void)uc;
	if (si->si_value.sival_int != rt_n + 1)
		rt_bad = 1;
	rt_n++;
}

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	double min_ms = argc > 1 ? atof(argv[1]) : 1500;
	self = getpid();
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = on_usr2;
	sigaction(SIGUSR2, &sa, NULL);
	sa.sa_flags = SA_RESTART | SA_SIGINFO;
	sa.sa_sigaction = on_rt;
	sigaction(SIGRTMIN, &sa, NULL);

	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR2);
	sigaddset(&block, SIGRTMIN);
	sigprocmask(SIG_BLOCK, &block, NULL);
	kill(self, SIGUSR2);
	for (int i = 1; i <= 3; i++)
		sigqueue(self, SIGRTMIN, (union sigval){.sival_int = i});
	struct itimerval it = {{0, 1000}, {0, 1000}};
	setitimer(ITIMER_REAL, &it, NULL);
	printf("ready\n");
	fflush(stdout);

	/* Busy work with the clock read through the vdso: signals land in user code. */
	double t0 = now_ms();
	uint64_t x = 1;
	while (now_ms() - t0 < min_ms)
		for (int i = 0; i < 10000; i++)
			x = x * 6364136223846793005ull + 1442695040888963407ull;
	sig_atomic_t u = usr1, t = ticks;
	double t1 = now_ms();
	while ((usr1 == u || ticks == t) && now_ms() - t1 < 30000)
		for (int i = 0; i < 10000; i++)
			x = x * 6364136223846793005ull + 1442695040888963407ull;
	int usr1_after = usr1 != u, ticks_after = ticks != t;

	struct itimerval off = {{0, 0}, {0, 0}};
	setitimer(ITIMER_REAL, &off, NULL);
	sigset_t pend;
	sigpending(&pend);
	int usr2_pending = sigismember(&pend, SIGUSR2) == 1 && usr2 == 0;
	int rt_pending = sigismember(&pend, SIGRTMIN) == 1 && rt_n == 0;
	sigprocmask(SIG_UNBLOCK, &block, NULL);

	printf("pending before unblock: usr2 %d, rtmin %d\n", usr2_pending, rt_pending);
	printf("delivered after unblock: usr2 %d, rtmin %d in order %d\n", (int)usr2, (int)rt_n,
	       !rt_bad);
	printf("after %.0f ms: usr1 handled %d, alarm handled %d, pid stable %d (x %d)\n", min_ms,
	       usr1_after, ticks_after, !pid_bad, (int)(x & 1));
	fflush(stdout);
	if (!usr2_pending || !rt_pending)
		return 1;
	if (usr2 != 1 || rt_n != 3 || rt_bad)
		return 2;
	if (!usr1_after || !ticks_after)
		return 3;
	if (pid_bad)
		return 4;
	return 5;
}
