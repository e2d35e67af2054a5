/*
 * fusesup.c - start, watch, restart and stop ssid's FUSE children (fusesup.h).
 *
 * posix_spawn with an empty signal mask and default SIGPIPE: the daemon blocks SIGTERM/SIGINT/
 * SIGHUP for its signalfd and ignores SIGPIPE, and both would otherwise survive the exec.
 * A stale mount is a fuse mount at our mount point whose source is our fsname in
 * /proc/self/mountinfo; it is detached with umount2(MNT_DETACH), or `fusermount3 -u -z` when
 * that fails (not root).
 */
#include "ssid/fusesup.h"
#include "ssid/log.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct fusesup {
	char what[64];		   /* for messages */
	char mode[16];		   /* "" or e.g. "--gfs" */
	char exe[PATH_MAX];	   /* gprocfs next to ssid */
	char mnt[PATH_MAX];	   /* mount point */
	char fsname[32];	   /* mountinfo source */
	char opts[PATH_MAX + 256]; /* -o value */
	pid_t pid;		   /* running child, 0 none */
	int64_t started;	   /* mono ms of the last start */
	int64_t due;		   /* mono ms of the next start when pid == 0 */
	int backoff;		   /* ms */
};

static int copy(char *dst, size_t cap, const char *src)
{
	return snprintf(dst, cap, "%s", src ? src : "") >= (int)cap ? -ENAMETOOLONG : 0;
}

int fusesup_new(struct fusesup **out, const struct fusesup_spec *spec, char *err, size_t errlen)
{
	struct fusesup *s;
	char self[PATH_MAX];
	ssize_t n;
	char *slash;

	*out = NULL;
	if (!spec->mount || !spec->mount[0])
		return 0;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		snprintf(err, errlen, "/proc/self/exe: %s", strerror(errno));
		return -errno;
	}
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->backoff = FUSESUP_BACKOFF_MIN_MS;
	if (copy(s->what, sizeof(s->what), spec->what) < 0 ||
	    copy(s->mode, sizeof(s->mode), spec->mode) < 0 ||
	    copy(s->mnt, sizeof(s->mnt), spec->mount) < 0 ||
	    copy(s->fsname, sizeof(s->fsname), spec->fsname) < 0 ||
	    copy(s->opts, sizeof(s->opts), spec->opts) < 0 ||
	    snprintf(s->exe, sizeof(s->exe), "%s/gprocfs", self) >= (int)sizeof(s->exe)) {
		snprintf(err, errlen, "%s: mount point, options or gprocfs path too long",
			 spec->what);
		free(s);
		return -ENAMETOOLONG;
	}
	if (access(s->exe, X_OK) < 0) {
		/* A view, not the daemon's job: run without it, and say so once. */
		log_warn("%s: %s; running without %s (install gprocfs next to ssid, or set "
			 "its mount = to nothing to silence this)",
			 s->exe, strerror(errno), s->mnt);
		free(s);
		return 0;
	}
	*out = s;
	return 0;
}

/* Is there a mount of our file system at the mount point? (mountinfo field 5 = mount point;
 * after " - ": type, source.) */
static int mounted(const struct fusesup *s)
{
	char line[4096], mp[PATH_MAX], type[64], src[256];
	FILE *f = fopen("/proc/self/mountinfo", "re");
	int found = 0;

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f)) {
		const char *sep = strstr(line, " - ");

		if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1 ||
		    sscanf(sep + 3, "%63s %255s", type, src) != 2)
			continue;
		found = !strcmp(mp, s->mnt) && !strncmp(type, "fuse", 4) && !strcmp(src, s->fsname);
	}
	fclose(f);
	return found;
}

static int run_wait(char *const argv[])
{
	pid_t pid;
	int st;

	if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0)
		return -1;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* Detach every mount of ours at the mount point (a crashed run leaves one that answers
 * ENOTCONN; ours at shutdown). */
static void unmount_all(const struct fusesup *s)
{
	for (int i = 0; i < 8 && mounted(s); i++) {
		if (umount2(s->mnt, MNT_DETACH) == 0)
			continue;
		char *argv[] = {"fusermount3", "-u", "-z", (char *)s->mnt, NULL};
		if (run_wait(argv) < 0) {
			log_warn("%s: cannot unmount %s: %s", s->mnt, s->fsname, strerror(errno));
			return;
		}
	}
}

static int spawn(struct fusesup *s, int64_t now)
{
	char *argv[7], **a = argv;
	posix_spawnattr_t at;
	sigset_t none, def;
	int r;

	*a++ = s->exe;
	if (s->mode[0])
		*a++ = s->mode;
	*a++ = s->mnt;
	*a++ = "-f";
	*a++ = "-o";
	*a++ = s->opts;
	*a = NULL;
	unmount_all(s);
	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	posix_spawnattr_init(&at);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &def);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	r = posix_spawn(&s->pid, s->exe, NULL, &at, argv, environ);
	posix_spawnattr_destroy(&at);
	s->started = now;
	if (r != 0) {
		s->pid = 0;
		s->due = now + s->backoff;
		log_warn("%s: starting %s: %s", s->what, s->exe, strerror(r));
		return -r;
	}
	log_info("%s: gprocfs %s started (pid %d) on %s", s->what, s->mode, (int)s->pid, s->mnt);
	return 0;
}

int fusesup_start(struct fusesup *s, int64_t now, char *err, size_t errlen)
{
	if (!s)
		return 0;
	unmount_all(s); /* a stale mount makes mkdir/stat fail with ENOTCONN */
	if (mkdir(s->mnt, 0755) < 0 && errno != EEXIST) {
		int e = errno;

		snprintf(err, errlen,
			 "%s: mount point %s: %s (create it, or set mount = to disable)", s->what,
			 s->mnt, strerror(e));
		return -e;
	}
	spawn(s, now);
	return 0;
}

int fusesup_tick(struct fusesup *s, int64_t now)
{
	int st;

	if (!s)
		return 60000;
	if (s->pid) {
		pid_t r = waitpid(s->pid, &st, WNOHANG);

		if (r == 0 || (r < 0 && errno == EINTR))
			return FUSESUP_TICK_MS;
		if (now - s->started >= FUSESUP_STABLE_MS)
			s->backoff = FUSESUP_BACKOFF_MIN_MS;
		if (r < 0)
			log_warn("%s: gprocfs (pid %d) lost: %s; restart in %d ms", s->what,
				 (int)s->pid, strerror(errno), s->backoff);
		else if (WIFSIGNALED(st))
			log_warn("%s: gprocfs (pid %d) killed by signal %d; restart in %d ms",
				 s->what, (int)s->pid, WTERMSIG(st), s->backoff);
		else
			log_warn("%s: gprocfs (pid %d) exited with status %d; restart in %d ms",
				 s->what, (int)s->pid, WEXITSTATUS(st), s->backoff);
		s->pid = 0;
		s->due = now + s->backoff;
		s->backoff = s->backoff * 2 > FUSESUP_BACKOFF_MAX_MS ? FUSESUP_BACKOFF_MAX_MS
								     : s->backoff * 2;
	}
	if (now < s->due)
		return (int)(s->due - now);
	if (spawn(s, now) < 0)
		return s->backoff;
	return FUSESUP_TICK_MS;
}

int fusesup_pid(const struct fusesup *s)
{
	return s ? (int)s->pid : 0;
}

void fusesup_free(struct fusesup *s)
{
	int st;

	if (!s)
		return;
	unmount_all(s);
	if (s->pid) {
		kill(s->pid, SIGTERM);
		for (int i = 0; i < FUSESUP_STOP_MS / 20 && s->pid; i++) {
			pid_t r = waitpid(s->pid, &st, WNOHANG);

			if (r == s->pid || (r < 0 && errno != EINTR))
				s->pid = 0;
			else
				nanosleep(&(struct timespec){0, 20 * 1000000L}, NULL);
		}
		if (s->pid) {
			log_warn("%s: gprocfs (pid %d) ignored SIGTERM; killing it", s->what,
				 (int)s->pid);
			kill(s->pid, SIGKILL);
			while (waitpid(s->pid, &st, 0) < 0 && errno == EINTR)
				;
		}
		log_info("%s: gprocfs stopped", s->what);
	}
	free(s);
}
