/*
 * preflight.c - find every reason a process cannot be checkpointed (preflight.h).
 *
 * Owns: the policy of what the engine supports, stated once. Every check reads /proc only,
 * so the process is not disturbed; all blockers are collected before returning so the user
 * sees the whole list in one message. dump.c applies the same classification when it
 * records descriptors and mappings, so what passes here is what dump knows how to save.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "migrate/preflight.h"

struct report {
	char *msg;
	size_t len, used;
	int n;
};

__attribute__((format(printf, 3, 4))) static void add(struct report *r, pid_t pid, const char *fmt,
						      ...)
{
	va_list ap;
	r->n++;
	if (r->used + 1 >= r->len)
		return;
	int k = snprintf(r->msg + r->used, r->len - r->used, "pid %d: ", (int)pid);
	if (k > 0 && (size_t)k < r->len - r->used)
		r->used += (size_t)k;
	va_start(ap, fmt);
	k = vsnprintf(r->msg + r->used, r->len - r->used, fmt, ap);
	va_end(ap);
	if (k > 0)
		r->used += (size_t)k < r->len - r->used ? (size_t)k : r->len - r->used - 1;
	if (r->used + 1 < r->len) {
		r->msg[r->used++] = '\n';
		r->msg[r->used] = '\0';
	}
}

static int check_status(pid_t pid, struct report *r)
{
	char path[64], line[512];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? -ESRCH : -errno;
	int threads = 1, tracer = 0, seccomp = 0;
	unsigned long locked = 0;
	char state = '?';
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "VmLck: %lu", &locked) == 1)
			continue;
		if (sscanf(line, "Threads: %d", &threads) == 1 ||
		    sscanf(line, "TracerPid: %d", &tracer) == 1 ||
		    sscanf(line, "Seccomp: %d", &seccomp) == 1 ||
		    sscanf(line, "State: %c", &state) == 1)
			continue;
		if (strncmp(line, "x86_Thread_features:", 20) == 0 && strstr(line, "shstk"))
			add(r, pid, "uses a shadow stack (CET): not supported");
	}
	fclose(f);
	if (state == 'Z' || state == 'X')
		add(r, pid, "is a zombie or dead");
	if (threads > 1)
		add(r, pid, "has %d threads: only single-threaded processes can be checkpointed",
		    threads);
	/* The tracer is a thread (ssid traces from a worker thread): compare with its tid. */
	if (tracer && tracer != gettid())
		add(r, pid, "is already traced by pid %d (a debugger or strace): detach it first",
		    tracer);
	if (seccomp)
		add(r, pid, "runs under seccomp (mode %d): filters are not saved", seccomp);
	if (locked)
		add(r, pid, "has %lu KiB of mlock()ed memory: memory locks are not saved", locked);
	return 0;
}

static int is_ok_chardev(dev_t rdev)
{
	/* mem major 1: null 3, zero 5, random 8, urandom 9 */
	return major(rdev) == 1 &&
	       (minor(rdev) == 3 || minor(rdev) == 5 || minor(rdev) == 8 || minor(rdev) == 9);
}

/* Does pid hold both a read and a write end of pipe inode ino? */
static int both_ends(pid_t pid, ino_t ino)
{
	char dir[64], p[PATH_MAX], line[256];
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(dir);
	int have = 0;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		struct stat st;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (e->d_name[0] == '.' || stat(p, &st) < 0 || !S_ISFIFO(st.st_mode) ||
		    st.st_ino != ino)
			continue;
		snprintf(p, sizeof(p), "/proc/%d/fdinfo/%s", (int)pid, e->d_name);
		FILE *f = fopen(p, "re");
		unsigned fl = 0;
		while (f && fgets(line, sizeof(line), f))
			if (sscanf(line, "flags: %o", &fl) == 1)
				break;
		if (f)
			fclose(f);
		have |= (fl & 3) == 0 ? 1 : 2;
	}
	if (d)
		closedir(d);
	return have == 3;
}

static void check_fds(pid_t pid, struct report *r)
{
	char dir[64], p[PATH_MAX], target[PATH_MAX];
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(dir);
	if (!d) {
		add(r, pid, "cannot list descriptors: %s", strerror(errno));
		return;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		int fd = atoi(e->d_name);
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		ssize_t n = readlink(p, target, sizeof(target) - 1);
		if (n < 0)
			continue; /* closed meanwhile */
		target[n] = '\0';
		if (fd <= 2)
			continue; /* stdio: attached to what the restorer is given */
		struct stat st;
		if (stat(p, &st) < 0) {
			add(r, pid, "fd %d: %s: %s", fd, target, strerror(errno));
			continue;
		}
		if (S_ISSOCK(st.st_mode)) {
			add(r, pid, "fd %d: %s: sockets are not supported", fd, target);
		} else if (S_ISFIFO(st.st_mode)) {
			if (strncmp(target, "pipe:", 5) != 0 || !both_ends(pid, st.st_ino))
				add(r, pid,
				    "fd %d: %s: pipes and FIFOs are supported only as fds 0-2 or "
				    "with both ends held by the process",
				    fd, target);
		} else if (S_ISCHR(st.st_mode)) {
			if (!is_ok_chardev(st.st_rdev))
				add(r, pid,
				    "fd %d: %s: character device not supported (only /dev/null, "
				    "/dev/zero, /dev/random, /dev/urandom)",
				    fd, target);
		} else if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
			struct stat st2;
			if (target[0] != '/')
				add(r, pid, "fd %d: %s: not supported (anonymous object)", fd,
				    target);
			else if (stat(target, &st2) < 0 || st2.st_ino != st.st_ino ||
				 st2.st_dev != st.st_dev)
				add(r, pid, "fd %d: %s: file deleted or not reachable by its path",
				    fd, target);
		} else {
			add(r, pid, "fd %d: %s: descriptor kind not supported", fd, target);
		}
	}
	closedir(d);
}

static void check_maps(pid_t pid, struct report *r)
{
	char path[64], line[PATH_MAX + 128];
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f) {
		add(r, pid, "cannot read its memory map: %s", strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		unsigned long long a, b, off, ino;
		char perm[8];
		int pos = 0;
		if (sscanf(line, "%llx-%llx %7s %llx %*x:%*x %llu %n", &a, &b, perm, &off, &ino,
			   &pos) < 5)
			continue;
		char *name = line + pos;
		name[strcspn(name, "\n")] = '\0';
		int shared = perm[3] == 's';
		if (strcmp(name, "[uprobes]") == 0) {
			add(r, pid, "mapping %llx-%llx: [uprobes] (a uprobe is attached)", a, b);
		} else if (strncmp(name, "/SYSV", 5) == 0) {
			add(r, pid, "mapping %llx-%llx: System V shared memory not supported", a,
			    b);
		} else if (name[0] == '/' && ino) {
			int deleted = strstr(name, " (deleted)") != NULL;
			int shmem = strncmp(name, "/dev/zero", 9) == 0 ||
				    strncmp(name, "/memfd:", 7) == 0;
			struct stat st;
			if (shmem && shared)
				continue;
			if (deleted || shmem) {
				add(r, pid, "mapping %llx-%llx: %s: file deleted or anonymous", a,
				    b, name);
			} else if (stat(name, &st) < 0) {
				add(r, pid, "mapping %llx-%llx: %s: %s", a, b, name,
				    strerror(errno));
			} else if (!S_ISREG(st.st_mode)) {
				add(r, pid, "mapping %llx-%llx: %s: device mappings not supported",
				    a, b, name);
			} else if (st.st_ino != ino) {
				add(r, pid, "mapping %llx-%llx: %s: replaced on disk since mapped",
				    a, b, name);
			}
		}
	}
	fclose(f);
}

/* Sealed system mappings (mseal, VmFlags "sl") cannot be moved back into place. */
static void check_sealed(pid_t pid, struct report *r)
{
	char path[64], line[PATH_MAX + 128], cur[64] = "";
	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long a, b;
		if (sscanf(line, "%llx-%llx ", &a, &b) == 2) {
			char *n = strchr(line, '[');
			snprintf(cur, sizeof(cur), "%s", n ? n : "");
			cur[strcspn(cur, "\n")] = '\0';
		} else if (strncmp(line, "VmFlags:", 8) == 0 && strstr(line, " sl") &&
			   (strcmp(cur, "[vdso]") == 0 || strncmp(cur, "[vvar", 5) == 0)) {
			add(r, pid, "%s is sealed (mseal): it cannot be moved back on restore",
			    cur);
		}
	}
	fclose(f);
}

int preflight_check(pid_t pid, char *msg, size_t len)
{
	struct report r = {msg, len, 0, 0};
	char p[64], t[PATH_MAX];
	if (len)
		msg[0] = '\0';
	if (pid == getpid()) {
		add(&r, pid, "is this process itself");
		return r.n;
	}
	int e = check_status(pid, &r);
	if (e < 0)
		return e;
	snprintf(p, sizeof(p), "/proc/%d/exe", (int)pid);
	ssize_t n = readlink(p, t, sizeof(t) - 1);
	if (n < 0)
		add(&r, pid, "has no executable (kernel thread?)");
	snprintf(p, sizeof(p), "/proc/%d/root", (int)pid);
	n = readlink(p, t, sizeof(t) - 1);
	if (n >= 0) {
		t[n] = '\0';
		if (strcmp(t, "/") != 0)
			add(&r, pid, "runs chrooted in %s: not supported", t);
	}
	snprintf(p, sizeof(p), "/proc/%d/task/%d/children", (int)pid, (int)pid);
	FILE *f = fopen(p, "re");
	int child = 0;
	if (f && fscanf(f, "%d", &child) == 1 && child > 0)
		add(&r, pid, "has child processes (pid %d...): they would not be saved", child);
	if (f)
		fclose(f);
	/* POSIX timers (timer_create) are not saved: refuse rather than lose them. */
	snprintf(p, sizeof(p), "/proc/%d/timers", (int)pid);
	f = fopen(p, "re");
	if (f && fgets(t, sizeof(t), f))
		add(&r, pid, "has POSIX timers (timer_create): they are not saved");
	if (f)
		fclose(f);
	check_maps(pid, &r);
	check_sealed(pid, &r);
	check_fds(pid, &r);
	return r.n;
}
