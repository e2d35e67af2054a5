/*
 * homens_run - run a command in the mount namespace of a process away from home (homens.h):
 *   homens_run --home NODE [--cwd DIR] [--gfs DIR] [--local-dirs "LIST"] [--cache FILE
 *              [--cache-only]] [-v] -- CMD [ARG...]
 *   homens_run --fingerprint DIR [--dpkg FILE]     (print the "same on both nodes" fingerprint)
 * Forks; the child calls homens_enter and execs CMD (ssid's restore worker does the same with
 * a restored process instead of exec); the parent waits and exits with CMD's status (128+sig
 * if killed). Exit 125 if the namespace cannot be made, 127 if CMD cannot be exec'd. Needs
 * root; drop rights inside (e.g. setpriv) to run CMD as a user. A test tool, not installed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ssid/homens.h"
#include "ssid/ssierr.h"

static int usage(void)
{
	fprintf(stderr, "usage: homens_run --home NODE [--cwd DIR] [--gfs DIR] [--local-dirs LIST] "
			"[--cache FILE [--cache-only]] [-v] -- CMD [ARG...]\n       homens_run "
			"--fingerprint DIR "
			"[--dpkg FILE]\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct homens_spec s = {0};
	const char *fpdir = NULL, *dpkg = NULL;
	int verbose = 0, i, st;
	pid_t pid;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--")) {
			i++;
			break;
		} else if (!strcmp(a, "-v")) {
			verbose = 1;
		} else if (i + 1 < argc && !strcmp(a, "--home")) {
			s.home = argv[++i];
		} else if (i + 1 < argc && !strcmp(a, "--cwd")) {
			s.cwd = argv[++i];
		} else if (i + 1 < argc && !strcmp(a, "--gfs")) {
			s.gfs = argv[++i];
		} else if (i + 1 < argc && !strcmp(a, "--local-dirs")) {
			s.local_dirs = argv[++i];
		} else if (i + 1 < argc && !strcmp(a, "--cache")) {
			s.cache = argv[++i];
		} else if (!strcmp(a, "--cache-only")) {
			s.cache_only = 1;
		} else if (i + 1 < argc && !strcmp(a, "--fingerprint")) {
			fpdir = argv[++i];
		} else if (i + 1 < argc && !strcmp(a, "--dpkg")) {
			dpkg = argv[++i];
		} else {
			return usage();
		}
	}
	if (fpdir) {
		uint64_t fp;
		int r = homens_fingerprint(fpdir, dpkg, &fp);

		if (r < 0) {
			fprintf(stderr, "homens_run: fingerprint %s: %s\n", fpdir, ssierr_str(r));
			return 1;
		}
		printf("%016llx\n", (unsigned long long)fp);
		return 0;
	}
	if (!s.home || i >= argc)
		return usage();
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		perror("homens_run: fork");
		return 125;
	}
	if (pid == 0) {
		char msg[1024];
		struct timespec t0, t1;
		int r;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		r = homens_enter(&s, msg, sizeof(msg));
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (r < 0) {
			fprintf(stderr, "homens_run: home %s: %s\n", s.home, msg);
			_exit(125);
		}
		if (verbose)
			fprintf(stderr, "homens_run: %s (%.1f ms)\n", msg,
				(double)(t1.tv_sec - t0.tv_sec) * 1e3 +
					(double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
		execvp(argv[i], argv + i);
		fprintf(stderr, "homens_run: exec %s: %s\n", argv[i], strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			perror("homens_run: waitpid");
			return 125;
		}
	}
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);
}
