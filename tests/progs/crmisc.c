/*
 * crmisc.c - process state a checkpoint must carry that no other test program checks:
 * rlimits, the working directory, the umask, /dev/urandom at a fixed fd, a terminal at fds
 * 0-2 and queued real-time signals with their values. Usage: crmisc CASE [ARG] where CASE is
 * rlimit | cwd DIR | umask | urandom | tty | sigqueue. It sets the state up, prints it, ticks
 * 20 x 50 ms (the checkpoint happens there), then prints what it sees afterwards.
 * Output depends only on the arguments (and, for tty, on fds 0-2 being terminals); exits 7.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#define URANDOM_FD 9

static volatile sig_atomic_t nrt;
static volatile int rtval[8], rtcode[8], rtpid[8];

static void on_rt(int s, siginfo_t *si, void *uc)
{
	(void)s;
	(void)uc;
	if (nrt < 8) {
		rtval[nrt] = si->si_value.sival_int;
		rtcode[nrt] = si->si_code;
		rtpid[nrt] = si->si_pid;
	}
	nrt++;
}

static void print_limits(const char *when)
{
	static const struct {
		int res;
		const char *name;
	} lim[] = {{RLIMIT_NOFILE, "nofile"}, {RLIMIT_CORE, "core"}};
	for (size_t i = 0; i < sizeof(lim) / sizeof(lim[0]); i++) {
		struct rlimit rl;
		if (getrlimit(lim[i].res, &rl) != 0) {
			printf("%s %s: getrlimit: %s\n", when, lim[i].name, strerror(errno));
			continue;
		}
		printf("%s %s soft %llu hard %llu\n", when, lim[i].name,
		       (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
	}
}

static void print_cwd(const char *when)
{
	char buf[PATH_MAX];
	printf("%s cwd %s\n", when, getcwd(buf, sizeof(buf)) ? buf : strerror(errno));
	int fd = open("marker.txt", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		printf("%s open marker.txt: %s\n", when, strerror(errno));
		return;
	}
	char text[64];
	ssize_t n = read(fd, text, sizeof(text) - 1);
	close(fd);
	text[n > 0 ? n : 0] = '\0';
	printf("%s marker.txt: %s", when, text);
}

static void print_umask(const char *when)
{
	mode_t m = umask(0);
	umask(m);
	printf("%s umask %04o\n", when, (unsigned)m);
}

static void print_urandom(const char *when)
{
	struct stat st;
	if (fstat(URANDOM_FD, &st) != 0) {
		printf("%s fd %d: fstat: %s\n", when, URANDOM_FD, strerror(errno));
		return;
	}
	unsigned char b[4096];
	ssize_t n = read(URANDOM_FD, b, sizeof(b));
	int nonzero = 0;
	for (ssize_t i = 0; i < n; i++)
		nonzero |= b[i];
	printf("%s fd %d chr %d dev %u:%u flags %s read %zd nonzero %d\n", when, URANDOM_FD,
	       S_ISCHR(st.st_mode), major(st.st_rdev), minor(st.st_rdev),
	       (fcntl(URANDOM_FD, F_GETFL) & O_ACCMODE) == O_RDONLY ? "rdonly" : "other", n,
	       nonzero != 0);
}

static void print_tty(const char *when)
{
	printf("%s isatty %d %d %d\n", when, isatty(0), isatty(1), isatty(2));
	fprintf(stderr, "%s stderr line\n", when);
}

static void print_sigqueue(const char *when, int rt)
{
	sigset_t pend;
	sigpending(&pend);
	printf("%s rt pending %d delivered %d\n", when, sigismember(&pend, rt), (int)nrt);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: crmisc rlimit|cwd DIR|umask|urandom|tty|sigqueue\n");
		return 2;
	}
	const char *c = argv[1];
	int rt = SIGRTMIN + 3;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(c, "rlimit") == 0) {
		struct rlimit nofile = {123, 456}, core = {12345 * 1024, 67890 * 1024};
		if (setrlimit(RLIMIT_NOFILE, &nofile) || setrlimit(RLIMIT_CORE, &core)) {
			perror("setrlimit");
			return 2;
		}
		print_limits("before");
	} else if (strcmp(c, "cwd") == 0 && argc == 3) {
		if (chdir(argv[2]) != 0) {
			perror(argv[2]);
			return 2;
		}
		print_cwd("before");
	} else if (strcmp(c, "umask") == 0) {
		umask(027);
		print_umask("before");
	} else if (strcmp(c, "urandom") == 0) {
		int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
		if (fd < 0 || dup2(fd, URANDOM_FD) < 0) {
			perror("/dev/urandom");
			return 2;
		}
		close(fd);
		print_urandom("before");
	} else if (strcmp(c, "tty") == 0) {
		print_tty("before");
	} else if (strcmp(c, "sigqueue") == 0) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = on_rt;
		sa.sa_flags = SA_SIGINFO;
		sigaction(rt, &sa, NULL);
		sigset_t block;
		sigemptyset(&block);
		sigaddset(&block, rt);
		sigprocmask(SIG_BLOCK, &block, NULL);
		sigqueue(getpid(), rt, (union sigval){.sival_int = 4711});
		sigqueue(getpid(), rt, (union sigval){.sival_int = -42});
		print_sigqueue("before", rt);
	} else {
		fprintf(stderr, "crmisc: unknown case %s\n", c);
		return 2;
	}
	for (int i = 1; i <= 20; i++) {
		struct timespec ts = {0, 50 * 1000 * 1000};
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
		printf("tick %d\n", i);
	}
	if (strcmp(c, "rlimit") == 0) {
		print_limits("after");
	} else if (strcmp(c, "cwd") == 0) {
		print_cwd("after");
	} else if (strcmp(c, "umask") == 0) {
		print_umask("after");
	} else if (strcmp(c, "urandom") == 0) {
		print_urandom("after");
	} else if (strcmp(c, "tty") == 0) {
		print_tty("after");
	} else {
		print_sigqueue("after", rt);
		sigset_t none;
		sigemptyset(&none);
		sigaddset(&none, rt);
		sigprocmask(SIG_UNBLOCK, &none, NULL);
		printf("delivered %d:", (int)nrt);
		for (int i = 0; i < nrt && i < 8; i++)
			printf(" value %d code %s pid-self %d;", rtval[i],
			       rtcode[i] == SI_QUEUE ? "SI_QUEUE" : "other", rtpid[i] == getpid());
		printf("\n");
	}
	return 7;
}
