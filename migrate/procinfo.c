/*
 * procinfo.c - /proc parsing and outside-the-process reads for checkpoint (procinfo.h).
 *
 * Owns: the text formats of status, stat, maps, fdinfo; the classification of mappings and
 * descriptors into the kinds state.h knows. Paths in maps may contain spaces; stat's comm
 * may contain ')' (fields are parsed after the last one).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "migrate/inject.h"
#include "migrate/procinfo.h"
#include "ssid/ssierr.h"

#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif
#define PTRACE_GET_RSEQ_CONFIGURATION_ 0x420f
#define PTRACE_PEEKSIGINFO_	       0x4209
#define PEEKSIGINFO_SHARED	       1

/* Kernel ABI layouts (filled by ptrace, so some members are never named here). */
struct rseq_conf {
	uint64_t ptr;
	// cppcheck-suppress unusedStructMember
	uint32_t size, sig, flags, pad;
};

struct peek_args {
	// cppcheck-suppress unusedStructMember
	uint64_t off;
	// cppcheck-suppress unusedStructMember
	uint32_t flags;
	// cppcheck-suppress unusedStructMember
	int32_t nr;
};

#define FAIL(e, ...)                                                                               \
	do {                                                                                       \
		snprintf(err, errlen, __VA_ARGS__);                                                \
		return (e);                                                                        \
	} while (0)

/* Read a small /proc file whole into a new NUL-terminated buffer. */
static char *slurp(pid_t pid, const char *name, size_t *len)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	size_t cap = 4096, n = 0;
	char *b = malloc(cap);
	for (;;) {
		if (!b)
			break;
		if (n + 1 >= cap) {
			char *nb = realloc(b, cap * 2);
			if (!nb) {
				free(b);
				b = NULL;
				break;
			}
			b = nb;
			cap *= 2;
		}
		ssize_t r = read(fd, b + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (b) {
		b[n] = '\0';
		if (len)
			*len = n;
	}
	return b;
}

static char *link_of(pid_t pid, const char *name)
{
	char path[64], t[PATH_MAX];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	ssize_t n = readlink(path, t, sizeof(t) - 1);
	if (n < 0)
		return NULL;
	t[n] = '\0';
	return strdup(t);
}

static int parse_status(struct cr_state *s, char *st)
{
	int have = 0;
	for (char *l = strtok(st, "\n"); l; l = strtok(NULL, "\n")) {
		unsigned long long v;
		if (sscanf(l, "Umask: %o", &s->umask) == 1)
			continue;
		if (sscanf(l, "Uid: %u %u %u %u", &s->uid[0], &s->uid[1], &s->uid[2], &s->uid[3]) ==
		    4)
			have |= 1;
		else if (sscanf(l, "Gid: %u %u %u %u", &s->gid[0], &s->gid[1], &s->gid[2],
				&s->gid[3]) == 4)
			have |= 2;
		else if (sscanf(l, "CapInh: %llx", &v) == 1)
			s->cap_inh = v;
		else if (sscanf(l, "CapPrm: %llx", &v) == 1)
			s->cap_prm = v;
		else if (sscanf(l, "CapEff: %llx", &v) == 1)
			s->cap_eff = v;
		else if (sscanf(l, "CapBnd: %llx", &v) == 1)
			s->cap_bnd = v;
		else if (sscanf(l, "CapAmb: %llx", &v) == 1)
			s->cap_amb = v;
		else if (sscanf(l, "NoNewPrivs: %u", &s->no_new_privs) == 1)
			continue;
		else if (strncmp(l, "Groups:", 7) == 0) {
			char *p = l + 7, *e;
			uint32_t cap = 16;
			s->groups = malloc(cap * sizeof(uint32_t));
			if (!s->groups)
				return -ENOMEM;
			for (unsigned long g = strtoul(p, &e, 10);
			     e != p && s->ngroups < CR_MAX_GROUPS; g = strtoul(p, &e, 10)) {
				if (s->ngroups == cap) {
					uint32_t *ng =
						realloc(s->groups, (cap *= 2) * sizeof(uint32_t));
					if (!ng)
						return -ENOMEM;
					s->groups = ng;
				}
				s->groups[s->ngroups++] = (uint32_t)g;
				p = e;
			}
			have |= 4;
		}
	}
	return have == 7 ? 0 : SSI_E_MISSING;
}

int procinfo_identity(pid_t pid, struct cr_state *s, char *err, size_t errlen)
{
	s->pid = (int32_t)pid;
	char *t = slurp(pid, "comm", NULL);
	if (!t)
		FAIL(-errno, "pid %d: read comm: %s", (int)pid, strerror(errno));
	t[strcspn(t, "\n")] = '\0';
	snprintf(s->comm, sizeof(s->comm), "%s", t);
	free(t);
	size_t n = 0;
	s->cmdline = slurp(pid, "cmdline", &n);
	for (size_t i = 0; s->cmdline && i + 1 < n; i++)
		if (s->cmdline[i] == '\0')
			s->cmdline[i] = ' ';
	s->exe = link_of(pid, "exe");
	s->cwd = link_of(pid, "cwd");
	if (!s->exe || !s->cwd || !s->cmdline)
		FAIL(-ENOENT, "pid %d: cannot read exe, cwd or cmdline", (int)pid);
	if (strstr(s->exe, " (deleted)") || strstr(s->cwd, " (deleted)"))
		FAIL(SSI_E_REFUSED, "pid %d: its executable or cwd was deleted", (int)pid);
	t = slurp(pid, "personality", NULL);
	s->personality = t ? (uint32_t)strtoul(t, NULL, 16) : 0;
	free(t);
	t = slurp(pid, "status", NULL);
	if (!t)
		FAIL(-errno, "pid %d: read status: %s", (int)pid, strerror(errno));
	int r = parse_status(s, t);
	free(t);
	if (r < 0)
		FAIL(r, "pid %d: status lacks uid, gid or groups", (int)pid);
	struct utsname u;
	uname(&u);
	snprintf(s->kernel, sizeof(s->kernel), "%s", u.release);
	snprintf(s->host, sizeof(s->host), "%s", u.nodename);
	s->time = (uint64_t)time(NULL);
	return 0;
}

int procinfo_mm(pid_t pid, struct cr_state *s, char *err, size_t errlen)
{
	char *t = slurp(pid, "stat", NULL);
	if (!t)
		FAIL(-errno, "pid %d: read stat: %s", (int)pid, strerror(errno));
	char *p = strrchr(t, ')');
	uint64_t f[53] = {0};
	int i = 3;
	for (char *tok = p ? strtok(p + 2, " ") : NULL; tok && i < 53; tok = strtok(NULL, " "))
		f[i++] = strtoull(tok, NULL, 10);
	free(t);
	if (i < 52)
		FAIL(SSI_E_CORRUPT, "pid %d: short /proc stat (%d fields)", (int)pid, i);
	s->nice = (int32_t)(int64_t)f[19];
	s->mm_start_code = f[26];
	s->mm_end_code = f[27];
	s->mm_start_stack = f[28];
	s->mm_start_data = f[45];
	s->mm_end_data = f[46];
	s->mm_start_brk = f[47];
	s->mm_arg_start = f[48];
	s->mm_arg_end = f[49];
	s->mm_env_start = f[50];
	s->mm_env_end = f[51];
	size_t n = 0;
	t = slurp(pid, "auxv", &n);
	if (!t || n % 16 || n > 4096) {
		free(t);
		FAIL(SSI_E_CORRUPT, "pid %d: cannot read auxv", (int)pid);
	}
	s->auxv = (uint8_t *)t;
	s->auxv_len = (uint32_t)n;
	return 0;
}

static int add_vma(struct cr_state *s, const struct cr_vma *v, uint32_t *cap)
{
	if (s->nvmas == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		struct cr_vma *n = realloc(s->vmas, *cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		s->vmas = n;
	}
	s->vmas[s->nvmas++] = *v;
	return 0;
}

int procinfo_maps(pid_t pid, struct cr_state *s, char *err, size_t errlen)
{
	char path[64], line[PATH_MAX + 128];
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		FAIL(-errno, "pid %d: read maps: %s", (int)pid, strerror(errno));
	uint32_t cap = 0;
	int r = 0;
	uint64_t vdso = 0, vdso_end = 0;
	while (r == 0 && fgets(line, sizeof(line), f)) {
		unsigned long long a, b, off, ino;
		char perm[8];
		int pos = 0;
		if (sscanf(line, "%llx-%llx %7s %llx %*x:%*x %llu %n", &a, &b, perm, &off, &ino,
			   &pos) < 5)
			continue;
		char *name = line + pos;
		name[strcspn(name, "\n")] = '\0';
		struct cr_vma v = {.start = a, .end = b, .pgoff = off};
		v.prot = (perm[0] == 'r' ? PROT_READ : 0) | (perm[1] == 'w' ? PROT_WRITE : 0) |
			 (perm[2] == 'x' ? PROT_EXEC : 0);
		v.flags = perm[3] == 's' ? CR_VMAF_SHARED : 0;
		v.kind = CR_VMA_ANON;
		if (strcmp(name, "[vsyscall]") == 0)
			continue;
		if (strcmp(name, "[vdso]") == 0) {
			v.kind = CR_VMA_VDSO;
			vdso = a;
			vdso_end = b;
		} else if (strcmp(name, "[vvar]") == 0) {
			v.kind = CR_VMA_VVAR;
			s->vvar_len = b - a;
		} else if (strcmp(name, "[vvar_vclock]") == 0) {
			v.kind = CR_VMA_VVAR_VCLOCK;
			s->vvar_vclock_len = b - a;
		} else if (strcmp(name, "[heap]") == 0) {
			v.flags |= CR_VMAF_HEAP;
		} else if (strcmp(name, "[stack]") == 0) {
			v.flags |= CR_VMAF_STACK | CR_VMAF_GROWSDOWN;
		} else if (name[0] == '/' && ino) {
			if (v.flags & CR_VMAF_SHARED && (strncmp(name, "/dev/zero", 9) == 0 ||
							 strncmp(name, "/memfd:", 7) == 0)) {
				v.kind = CR_VMA_SHMEM;
				v.pgoff = 0;
			} else {
				v.kind = v.flags & CR_VMAF_SHARED ? CR_VMA_FILE_SHARED
								  : CR_VMA_FILE_PRIV;
				v.path = strdup(name);
				if (!v.path)
					r = -ENOMEM;
				struct stat st;
				if (r == 0 && stat(name, &st) == 0) {
					v.fsize = (uint64_t)st.st_size;
					v.fmtime = (uint64_t)st.st_mtim.tv_sec * 1000000000u +
						   (uint64_t)st.st_mtim.tv_nsec;
				}
			}
		} else if (v.flags & CR_VMAF_SHARED) {
			v.kind = CR_VMA_SHMEM;
		}
		if (r == 0)
			r = add_vma(s, &v, &cap);
	}
	fclose(f);
	if (r < 0)
		FAIL(r, "pid %d: maps: %s", (int)pid, strerror(-r));
	if (!vdso)
		FAIL(SSI_E_UNSUPPORTED, "pid %d: no [vdso] mapping", (int)pid);
	s->vdso_len = (uint32_t)(vdso_end - vdso);
	s->vdso = malloc(s->vdso_len);
	if (!s->vdso)
		return -ENOMEM;
	r = inject_read(pid, vdso, s->vdso, s->vdso_len);
	if (r < 0)
		FAIL(r, "pid %d: read vdso: %s", (int)pid, strerror(-r));
	return 0;
}

static int fd_cmp(const void *a, const void *b)
{
	const struct cr_fd *x = a, *y = b;
	return (x->fd > y->fd) - (x->fd < y->fd);
}

/* pos and flags from /proc/PID/fdinfo/FD. */
static int fdinfo(pid_t pid, int fd, uint64_t *pos, uint32_t *flags)
{
	char name[64];
	snprintf(name, sizeof(name), "fdinfo/%d", fd);
	char *t = slurp(pid, name, NULL);
	if (!t)
		return -errno;
	char *p = strstr(t, "pos:"), *q = strstr(t, "flags:");
	int ok = p && q && sscanf(p, "pos: %llu", (unsigned long long *)pos) == 1 &&
		 sscanf(q, "flags: %o", flags) == 1;
	free(t);
	return ok ? 0 : SSI_E_CORRUPT;
}

/* Unread bytes of the pipe behind fd fd of pid, copied without consuming them (tee). */
static int pipe_data(pid_t pid, int fd, uint8_t **data, uint32_t *len)
{
	*data = NULL;
	*len = 0;
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pfd < 0)
		return -errno;
	int rfd = (int)syscall(SYS_pidfd_getfd, pfd, fd, 0);
	close(pfd);
	if (rfd < 0)
		return -errno;
	int n = 0, r = 0, p[2] = {-1, -1};
	if (ioctl(rfd, FIONREAD, &n) < 0)
		r = -errno;
	if (r == 0 && n > 0) {
		*data = malloc((size_t)n);
		if (!*data || pipe2(p, O_CLOEXEC) < 0)
			r = -ENOMEM;
		if (r == 0 && fcntl(p[1], F_SETPIPE_SZ, n) < 0 && n > 65536)
			r = -errno;
		ssize_t t = r == 0 ? tee(rfd, p[1], (size_t)n, SPLICE_F_NONBLOCK) : -1;
		if (r == 0 && (t != n || read(p[0], *data, (size_t)n) != n))
			r = -EIO;
		*len = (uint32_t)n;
	}
	if (p[0] >= 0) {
		close(p[0]);
		close(p[1]);
	}
	close(rfd);
	if (r < 0) {
		free(*data);
		*data = NULL;
		*len = 0;
	}
	return r;
}

int procinfo_fds(pid_t pid, struct cr_state *s, char *err, size_t errlen)
{
	char dir[64], p[PATH_MAX], target[PATH_MAX];
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(dir);
	if (!d)
		FAIL(-errno, "pid %d: list fds: %s", (int)pid, strerror(errno));
	uint32_t cap = 0;
	struct dirent *e;
	int r = 0;
	while (r == 0 && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		struct cr_fd f = {.fd = atoi(e->d_name)};
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		ssize_t n = readlink(p, target, sizeof(target) - 1);
		struct stat st;
		if (n < 0 || stat(p, &st) < 0) {
			r = -errno;
			snprintf(err, errlen, "pid %d: fd %d: %s", (int)pid, f.fd, strerror(errno));
			break;
		}
		target[n] = '\0';
		r = fdinfo(pid, f.fd, &f.pos, &f.flags);
		if (r < 0) {
			snprintf(err, errlen, "pid %d: fdinfo %d unreadable", (int)pid, f.fd);
			break;
		}
		f.cloexec = (f.flags & O_CLOEXEC) ? 1 : 0;
		f.flags &= ~(uint32_t)O_CLOEXEC;
		if (f.fd <= 2)
			f.kind = CR_FD_STDIO;
		else if (S_ISREG(st.st_mode))
			f.kind = CR_FD_REG;
		else if (S_ISDIR(st.st_mode))
			f.kind = CR_FD_DIR;
		else if (S_ISCHR(st.st_mode) && major(st.st_rdev) == 1)
			f.kind = CR_FD_DEV;
		else if (S_ISFIFO(st.st_mode) && strncmp(target, "pipe:", 5) == 0) {
			f.kind = CR_FD_PIPE;
			f.pos = (uint64_t)st.st_ino;
			if ((f.flags & O_ACCMODE) == O_RDONLY &&
			    (r = pipe_data(pid, f.fd, &f.data, &f.data_len)) < 0) {
				snprintf(err, errlen, "pid %d: fd %d: read pipe contents: %s",
					 (int)pid, f.fd, strerror(-r));
				break;
			}
		} else {
			/* preflight refuses these; the process changed since. */
			r = SSI_E_REFUSED;
			snprintf(err, errlen, "pid %d: fd %d: %s: descriptor kind not supported",
				 (int)pid, f.fd, target);
			break;
		}
		f.size = (uint64_t)st.st_size;
		f.path = strdup(f.kind == CR_FD_STDIO || f.kind == CR_FD_PIPE ? "" : target);
		if (s->nfds == cap) {
			cap = cap ? cap * 2 : 16;
			struct cr_fd *nf = realloc(s->fds, cap * sizeof(*nf));
			if (!nf) {
				free(f.path);
				r = -ENOMEM;
				break;
			}
			s->fds = nf;
		}
		s->fds[s->nfds++] = f;
		if (s->nfds > CR_MAX_FDS) {
			r = SSI_E_TOOBIG;
			snprintf(err, errlen, "pid %d: more than %d descriptors", (int)pid,
				 CR_MAX_FDS);
		}
	}
	closedir(d);
	if (r == 0 && s->nfds)
		qsort(s->fds, s->nfds, sizeof(*s->fds), fd_cmp);
	return r;
}

static int pending(pid_t pid, struct cr_state *s, uint32_t shared)
{
	uint8_t info[128];
	for (uint64_t off = 0; s->npending < CR_MAX_PEND; off++) {
		struct peek_args a = {off, shared ? PEEKSIGINFO_SHARED : 0, 1};
		long n = ptrace(PTRACE_PEEKSIGINFO_, pid, &a, info);
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		struct cr_siginfo *np = realloc(s->pending, (s->npending + 1) * sizeof(*np));
		if (!np)
			return -ENOMEM;
		s->pending = np;
		np[s->npending].shared = shared;
		memcpy(np[s->npending].info, info, 128);
		s->npending++;
	}
	return SSI_E_TOOBIG;
}

int procinfo_misc(pid_t pid, struct cr_state *s, char *err, size_t errlen)
{
	/* /proc/PID/limits, not prlimit(): reading another user's limits with prlimit needs
	 * CAP_SYS_RESOURCE, which a root in a container may lack. Lines are in RLIMIT_ order;
	 * values start at column 26. */
	char *t = slurp(pid, "limits", NULL);
	if (!t)
		FAIL(-errno, "pid %d: read limits: %s", (int)pid, strerror(errno));
	int i = -1;
	for (char *l = strtok(t, "\n"); l && i < CR_NRLIMIT; l = strtok(NULL, "\n"), i++) {
		if (i < 0 || strlen(l) < 26)
			continue;
		char a[32], b[32];
		if (sscanf(l + 25, "%31s %31s", a, b) != 2)
			break;
		s->rlim[i][0] = strcmp(a, "unlimited") == 0 ? RLIM_INFINITY : strtoull(a, NULL, 10);
		s->rlim[i][1] = strcmp(b, "unlimited") == 0 ? RLIM_INFINITY : strtoull(b, NULL, 10);
	}
	free(t);
	if (i != CR_NRLIMIT)
		FAIL(SSI_E_CORRUPT, "pid %d: /proc limits has %d lines", (int)pid, i);
	cpu_set_t cs;
	CPU_ZERO(&cs);
	if (sched_getaffinity(pid, sizeof(cs), &cs) == 0) {
		s->affinity = malloc(sizeof(cs));
		if (!s->affinity)
			return -ENOMEM;
		memcpy(s->affinity, &cs, sizeof(cs));
		s->affinity_len = (uint32_t)sizeof(cs);
	}
	int pol = sched_getscheduler(pid);
	struct sched_param sp = {0};
	if (pol >= 0 && sched_getparam(pid, &sp) == 0) {
		s->sched_policy = (uint32_t)pol; /* SCHED_RESET_ON_FORK included */
		s->sched_prio = (uint32_t)sp.sched_priority;
	}
	uint64_t head = 0;
	size_t len = 0;
	if (syscall(SYS_get_robust_list, pid, &head, &len) == 0) {
		s->robust_head = head;
		s->robust_len = len;
	}
	int r = pending(pid, s, 0);
	if (r == 0)
		r = pending(pid, s, 1);
	if (r < 0)
		FAIL(r, "pid %d: read pending signals: %s", (int)pid, strerror(-r));
	struct rseq_conf rc = {0};
	if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION_, pid, (void *)sizeof(rc), &rc) > 0 && rc.ptr) {
		s->rseq_ptr = rc.ptr;
		s->rseq_size = rc.size;
		s->rseq_sig = rc.sig;
	}
	size_t cap = 1 << 16;
	s->xstate = malloc(cap);
	if (!s->xstate)
		return -ENOMEM;
	struct iovec iov = {s->xstate, cap};
	if (ptrace(PTRACE_GETREGSET, pid, (void *)NT_X86_XSTATE, &iov) < 0)
		FAIL(-errno, "pid %d: read xstate: %s", (int)pid, strerror(errno));
	s->xstate_len = (uint32_t)iov.iov_len;
	return 0;
}
