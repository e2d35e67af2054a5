/*
 * inject.c - injected system calls and remote memory access (inject.h).
 *
 * One call: registers = base with rip at the gadget, rax = nr, arguments in rdi rsi rdx r10
 * r8 r9, orig_rax = -1 (so no pending restart logic applies to our registers), TF/DF clear;
 * PTRACE_SYSCALL to the entry stop, PTRACE_SYSCALL to the exit stop, read rax. The task is
 * left in the exit stop, from which the next call starts the same way. Cost: two context
 * switches pairs per call (a few microseconds).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "migrate/inject.h"
#include "migrate/seize.h"

int inject_init(struct inject *c, pid_t pid, uint64_t gadget)
{
	memset(c, 0, sizeof(*c));
	c->pid = pid;
	c->gadget = gadget;
	if (ptrace(PTRACE_GETREGS, pid, NULL, &c->base) < 0)
		return -errno;
	return 0;
}

/* Resume with PTRACE_SYSCALL and expect a syscall-stop. */
static int step_to_syscall_stop(struct inject *c)
{
	pid_t pid = c->pid;
	/* A pending interrupt or group stop (a job-stopped task) may report first: step on.
	 * SIGSTOP (the one signal besides SIGKILL that blocking leaves through) is held back
	 * and noted; the caller sends it again when it lets the task go. */
	for (int tries = 0; tries < 8; tries++) {
		int st;
		if (ptrace(PTRACE_SYSCALL, pid, NULL, NULL) < 0)
			return -errno;
		int r = seize_wait(pid, &st);
		if (r < 0)
			return r;
		if (!WIFSTOPPED(st))
			return -ESRCH;
		if (WSTOPSIG(st) == (SIGTRAP | 0x80))
			return 0;
		if (st >> 16 == PTRACE_EVENT_STOP)
			continue;
		if (WSTOPSIG(st) != SIGSTOP)
			return -EPROTO;
		c->stop_seen = 1;
	}
	return -EPROTO;
}

int inject_syscall(struct inject *c, long nr, const uint64_t a[6], int64_t *ret)
{
	struct user_regs_struct r = c->base;
	r.rip = c->gadget;
	r.rax = (uint64_t)nr;
	r.orig_rax = (uint64_t)-1;
	r.rdi = a[0];
	r.rsi = a[1];
	r.rdx = a[2];
	r.r10 = a[3];
	r.r8 = a[4];
	r.r9 = a[5];
	r.eflags &= ~(0x100ull | 0x400ull); /* TF, DF */
	if (ptrace(PTRACE_SETREGS, c->pid, NULL, &r) < 0)
		return -errno;
	int e = step_to_syscall_stop(c);
	if (e == 0)
		e = step_to_syscall_stop(c);
	if (e < 0)
		return e;
	if (ptrace(PTRACE_GETREGS, c->pid, NULL, &r) < 0)
		return -errno;
	*ret = (int64_t)r.rax;
	c->calls++;
	return 0;
}

int64_t inject_call(struct inject *c, long nr, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
		    uint64_t a5, uint64_t a6)
{
	const uint64_t a[6] = {a1, a2, a3, a4, a5, a6};
	int64_t ret;
	int e = inject_syscall(c, nr, a, &ret);
	if (e < 0)
		return e;
	/* A ptrace failure and the call's own -errno look alike to callers that only care
	 * whether it worked; those who must tell them apart use inject_syscall(). */
	return ret;
}

static int mem_io(pid_t pid, uint64_t addr, void *p, size_t len, int write)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	int fd = open(path, (write ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int e = 0;
	while (len > 0) {
		ssize_t n =
			write ? pwrite(fd, p, len, (off_t)addr) : pread(fd, p, len, (off_t)addr);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			e = n < 0 ? -errno : -EIO;
			break;
		}
		p = (uint8_t *)p + n;
		addr += (uint64_t)n;
		len -= (size_t)n;
	}
	close(fd);
	return e;
}

static int vm_io(pid_t pid, uint64_t addr, void *p, size_t len, int write)
{
	while (len > 0) {
		struct iovec l = {p, len}, r = {(void *)(uintptr_t)addr, len};
		ssize_t n = write ? process_vm_writev(pid, &l, 1, &r, 1, 0)
				  : process_vm_readv(pid, &l, 1, &r, 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return mem_io(pid, addr, p, len, write);
		p = (uint8_t *)p + n;
		addr += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

int inject_write(pid_t pid, uint64_t addr, const void *p, size_t len)
{
	return vm_io(pid, addr, (void *)(uintptr_t)p, len, 1);
}

int inject_read(pid_t pid, uint64_t addr, void *p, size_t len)
{
	return vm_io(pid, addr, p, len, 0);
}

int inject_vdso_syscall(uint64_t *vdso, uint64_t *len, uint64_t *off)
{
	uint64_t base = getauxval(AT_SYSINFO_EHDR);
	if (!base)
		return -ENOENT;
	FILE *f = fopen("/proc/self/maps", "re");
	if (!f)
		return -errno;
	char line[512];
	uint64_t s = 0, e = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long a, b;
		if (sscanf(line, "%llx-%llx", &a, &b) == 2 && a == base) {
			s = a;
			e = b;
			break;
		}
	}
	fclose(f);
	if (!s)
		return -ENOENT;
	const uint8_t *p = (const uint8_t *)(uintptr_t)s;
	for (uint64_t i = 0; i + 1 < e - s; i++) {
		if (p[i] == 0x0f && p[i + 1] == 0x05) {
			*vdso = s;
			*len = e - s;
			*off = i;
			return 0;
		}
	}
	return -ENOENT;
}
