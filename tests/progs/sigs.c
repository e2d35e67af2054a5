/*
 * sigs.c - signal state across a checkpoint: handlers (SA_RESTART and SA_ONSTACK on an
 * alternate stack), a blocked signal left pending and raised again later, the signal mask,
 * an ITIMER_REAL interval timer that keeps ticking, getpid()/gettid() staying the same, and
 * glibc's rseq registration still in force.
 * Output depends on nothing but the program; exits 5.
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

extern const ptrdiff_t __rseq_offset;

static volatile sig_atomic_t ticks, usr1, usr2, on_alt;
static char altstack[65536];

static void on_alarm(int s)
{
	(void)s;
	ticks++;
}

static void on_usr1(int s)
{
	(void)s;
	usr1++;
	volatile char here = 0;
	uintptr_t a = (uintptr_t)&here, lo = (uintptr_t)altstack;
	on_alt = a >= lo && a < lo + sizeof(altstack);
}

static void on_usr2(int s)
{
	(void)s;
	usr2++;
}

int main(void)
{
	pid_t pid = getpid(), tid = (pid_t)syscall(SYS_gettid);
	stack_t ss = {.ss_sp = altstack, .ss_size = sizeof(altstack)};
	sigaltstack(&ss, NULL);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_ONSTACK;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = on_usr2;
	sa.sa_flags = 0;
	sigaction(SIGUSR2, &sa, NULL);
	signal(SIGHUP, SIG_IGN);
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR2);
	sigprocmask(SIG_BLOCK, &block, NULL);
	kill(getpid(), SIGUSR2); /* stays pending while blocked */
	struct itimerval it = {{0, 10000}, {0, 10000}};
	setitimer(ITIMER_REAL, &it, NULL);
	for (int step = 1; step <= 30; step++) {
		while (ticks < step * 10)
			pause();
		kill(getpid(), SIGUSR1);
		sigset_t pend, cur;
		sigpending(&pend);
		sigprocmask(SIG_BLOCK, NULL, &cur);
		printf("step %d ticks>=%d usr1 %d on_alt %d usr2 %d pending %d blocked %d hup %s\n",
		       step, step * 10, (int)usr1, (int)on_alt, (int)usr2,
		       sigismember(&pend, SIGUSR2), sigismember(&cur, SIGUSR2),
		       signal(SIGHUP, SIG_IGN) == SIG_IGN ? "ign" : "dfl");
		fflush(stdout);
	}
	sigprocmask(SIG_UNBLOCK, &block, NULL);
	printf("usr2 delivered %d, pid stable %d, tid stable %d\n", (int)usr2, getpid() == pid,
	       (pid_t)syscall(SYS_gettid) == tid);
	struct itimerval left;
	getitimer(ITIMER_REAL, &left);
	printf("timer still armed %d\n", left.it_interval.tv_usec == 10000);
	/* glibc registered rseq at start (32-byte area at the thread pointer + __rseq_offset);
	 * registering it again must fail with EBUSY if the restore registered it again. */
	char *tp;
	__asm__("mov %%fs:0, %0" : "=r"(tp));
	long rr = syscall(SYS_rseq, tp + __rseq_offset, 32, 0, 0x53053053);
	printf("rseq registered %d\n", rr == -1 && errno == EBUSY);
	return 5;
}
