/*
 * restore.c - tracer-driven restore (restore.h; notes/checkpoint-restore.md section 3(b)).
 *
 *   read state sections, check CPU/vdso ------------------------------ fail: nothing made
 *   stub_create (pid = saved pid; fds, cwd, umask, personality, handlers)   fail: nothing left
 *   seize stub; unregister its rseq; map the gadget page in a hole free in both layouts
 *   munmap everything but gadget page and [vvar][vvar_vclock][vdso]
 *   mremap the vdso block to its saved address
 *   map every saved mapping (writable while filling), stream PAGES into them
 *   mprotect to saved protections; PR_SET_MM_MAP (mm fields, auxv, exe)
 *   rseq, tid address, robust list, altstack, pending signals, itimers, rlimits, name
 *   credentials last: bounding set, no_new_privs, groups, gids, uids, dumpable
 *   check capabilities never grew; set mask and xstate
 *   inject munmap(gadget); at its exit stop set the saved registers
 *   restore_process: detach -> it runs
 *   restore_stopped: stays in that stop -> restore_resume (detach) | restore_discard (kill)
 * Any failure after stub_create kills the stub (restore.c never leaves a half process).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "migrate/cpufeat.h"
#include "migrate/fault.h"
#include "migrate/fault.h"
#include "migrate/inject.h"
#include "migrate/restore.h"
#include "migrate/seize.h"
#include "migrate/state.h"
#include "migrate/stub.h"
#include "ssid/ssierr.h"

#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif
#define PTRACE_GET_RSEQ_CONFIGURATION_ 0x420f
#define RSEQ_FLAG_UNREGISTER	       1
#define TASK_TOP		       0x7ffffffff000ull
#define GADGET_LEN		       (3 * 4096ull)

struct restorer {
	struct cr_state s;
	struct stub stub;
	struct inject inj;
	pid_t pid;
	uint64_t hole;	       /* gadget page, then scratch pages */
	uint64_t vblock[3][2]; /* our [vvar], [vvar_vclock], [vdso]: start, end (0: absent) */
	char *err;
	size_t errlen;
};

#define FAIL(e, ...)                                                                               \
	do {                                                                                       \
		snprintf(R->err, R->errlen, __VA_ARGS__);                                          \
		return (e);                                                                        \
	} while (0)

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* Injected call; a negative result becomes an error naming the step. */
static int call(struct restorer *R, const char *what, long nr, uint64_t a1, uint64_t a2,
		uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6, int64_t *ret)
{
	const uint64_t a[6] = {a1, a2, a3, a4, a5, a6};
	int64_t v;
	int e = inject_syscall(&R->inj, nr, a, &v);
	if (e < 0)
		FAIL(e, "pid %d: %s: ptrace: %s", R->s.pid, what, strerror(-e));
	if (v < 0 && v > -4096)
		FAIL((int)v, "pid %d: %s: %s", R->s.pid, what, strerror((int)-v));
	if (ret)
		*ret = v;
	return 0;
}

static int put(struct restorer *R, uint64_t off, const void *p, size_t n)
{
	if (off + n > GADGET_LEN - 4096)
		FAIL(-E2BIG, "scratch overflow");
	int e = inject_write(R->pid, R->hole + 4096 + off, p, n);
	if (e < 0)
		FAIL(e, "pid %d: write scratch: %s", R->s.pid, strerror(-e));
	return 0;
}

static uint64_t scratch(struct restorer *R, uint64_t off)
{
	return R->hole + 4096 + off;
}

/* Our own vdso block (identical in the stub, a fork of us). */
static void own_vblock(struct restorer *R)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	memset(R->vblock, 0, sizeof(R->vblock));
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long a, b;
		if (sscanf(line, "%llx-%llx", &a, &b) != 2)
			continue;
		int k = strstr(line, "[vvar]")		? 0
			: strstr(line, "[vvar_vclock]") ? 1
			: strstr(line, "[vdso]")	? 2
							: -1;
		if (k >= 0) {
			R->vblock[k][0] = a;
			R->vblock[k][1] = b;
		}
	}
	fclose(f);
}

static int overlaps(uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
	return a < d && c < b;
}

/* Is [a, a+len) (plus a guard page each side) free of the image and of the stub's mappings? */
static int range_free(struct restorer *R, uint64_t a, uint64_t len)
{
	uint64_t lo = a - 4096, hi = a + len + 4096;
	for (uint32_t i = 0; i < R->s.nvmas; i++)
		if (overlaps(lo, hi, R->s.vmas[i].start, R->s.vmas[i].end))
			return 0;
	char path[64], line[512];
	snprintf(path, sizeof(path), "/proc/%d/maps", R->pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	int ok = 1;
	while (ok && fgets(line, sizeof(line), f)) {
		unsigned long long s, e;
		if (sscanf(line, "%llx-%llx", &s, &e) == 2 && overlaps(lo, hi, s, e))
			ok = 0;
	}
	fclose(f);
	return ok;
}

static uint64_t find_hole(struct restorer *R, uint64_t len, uint64_t from)
{
	for (uint64_t a = from; a + len < TASK_TOP; a += 1ull << 20)
		if (range_free(R, a, len))
			return a;
	return 0;
}

/* Seize the stub, drop its rseq, install the gadget page, clear its address space. */
static int prepare_stub(struct restorer *R)
{
	pid_t pid = R->pid;
	if (ptrace(PTRACE_SEIZE, pid, NULL,
		   (void *)(long)(PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL)) < 0)
		FAIL(-errno, "pid %d: seize stub: %s", R->s.pid, strerror(errno));
	int st;
	if (ptrace(PTRACE_INTERRUPT, pid, NULL, NULL) < 0 || seize_wait(pid, &st) < 0 ||
	    !WIFSTOPPED(st) || st >> 16 != PTRACE_EVENT_STOP)
		FAIL(-EPROTO, "pid %d: stub did not stop", R->s.pid);
	uint64_t vdso, vlen, off;
	if (inject_vdso_syscall(&vdso, &vlen, &off) < 0)
		FAIL(SSI_E_UNSUPPORTED, "no syscall instruction in the vdso");
	int e = inject_init(&R->inj, pid, vdso + off);
	if (e < 0)
		FAIL(e, "pid %d: stub registers: %s", R->s.pid, strerror(-e));
	struct {
		uint64_t ptr;
		// cppcheck-suppress unusedStructMember
		uint32_t size, sig, flags, pad;
	} rc = {0};
	if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION_, pid, (void *)sizeof(rc), &rc) > 0 && rc.ptr &&
	    (e = call(R, "unregister stub rseq", SYS_rseq, rc.ptr, rc.size, RSEQ_FLAG_UNREGISTER,
		      rc.sig, 0, 0, NULL)) < 0)
		return e;
	own_vblock(R);
	if (!R->vblock[2][0])
		FAIL(SSI_E_UNSUPPORTED, "no [vdso] here");
	R->hole = find_hole(R, GADGET_LEN, 1ull << 20);
	if (!R->hole)
		FAIL(-ENOMEM, "pid %d: no free address range for the restore gadget", R->s.pid);
	e = call(R, "map gadget", SYS_mmap, R->hole, GADGET_LEN, PROT_READ | PROT_WRITE | PROT_EXEC,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, (uint64_t)-1, 0, NULL);
	static const uint8_t code[4] = {0x0f, 0x05, 0xcc, 0xcc}; /* syscall; int3 */
	if (e == 0 && (e = inject_write(pid, R->hole, code, sizeof(code))) < 0)
		FAIL(e, "pid %d: write gadget: %s", R->s.pid, strerror(-e));
	if (e < 0)
		return e;
	R->inj.gadget = R->hole;
	/* Unmap all but the gadget and the vdso block: the gaps between them. */
	uint64_t vs = R->vblock[0][0] ? R->vblock[0][0] : R->vblock[2][0];
	if (R->vblock[1][0] && R->vblock[1][0] < vs)
		vs = R->vblock[1][0];
	uint64_t ve = R->vblock[2][1];
	uint64_t keep[2][2] = {{R->hole, R->hole + GADGET_LEN}, {vs, ve}};
	if (keep[1][0] < keep[0][0]) {
		uint64_t t0 = keep[0][0], t1 = keep[0][1];
		keep[0][0] = keep[1][0];
		keep[0][1] = keep[1][1];
		keep[1][0] = t0;
		keep[1][1] = t1;
	}
	uint64_t at = 0;
	for (int i = 0; i <= 2 && e == 0; i++) {
		uint64_t end = i < 2 ? keep[i][0] : TASK_TOP;
		if (end > at)
			e = call(R, "unmap stub memory", SYS_munmap, at, end - at, 0, 0, 0, 0,
				 NULL);
		if (i < 2)
			at = keep[i][1];
	}
	return e;
}

/* Move [vvar][vvar_vclock][vdso] to where the image had them (glibc keeps pointers). */
static int place_vdso(struct restorer *R)
{
	static const uint32_t kind[3] = {CR_VMA_VVAR, CR_VMA_VVAR_VCLOCK, CR_VMA_VDSO};
	uint64_t want[3] = {0, 0, 0};
	for (uint32_t i = 0; i < R->s.nvmas; i++)
		for (int k = 0; k < 3; k++)
			if (R->s.vmas[i].kind == kind[k])
				want[k] = R->s.vmas[i].start;
	for (int k = 0; k < 3; k++)
		if (!want[k] != !R->vblock[k][0])
			FAIL(SSI_E_UNSUPPORTED, "vdso layout differs from the image's");
	int moved = 0, clash = 0;
	for (int k = 0; k < 3; k++) {
		if (!want[k])
			continue;
		if (want[k] != R->vblock[k][0])
			moved = 1;
		for (int j = 0; j < 3; j++)
			if (R->vblock[j][0] &&
			    overlaps(want[k], want[k] + R->vblock[k][1] - R->vblock[k][0],
				     R->vblock[j][0], R->vblock[j][1]))
				clash |= want[k] != R->vblock[k][0];
	}
	if (!moved)
		return 0;
	if (clash) {
		/* Old and new places overlap: park the block in a free range first. */
		uint64_t len = R->vblock[2][1] - R->vblock[0][0];
		uint64_t tmp = find_hole(R, len + (64ull << 10), 1ull << 32);
		if (!tmp)
			FAIL(-ENOMEM, "no room to move the vdso");
		for (int k = 0; k < 3; k++) {
			if (!R->vblock[k][0])
				continue;
			uint64_t n = R->vblock[k][1] - R->vblock[k][0];
			uint64_t to = tmp + (R->vblock[k][0] - R->vblock[0][0]);
			int e = call(R, "park vdso", SYS_mremap, R->vblock[k][0], n, n,
				     MREMAP_MAYMOVE | MREMAP_FIXED, to, 0, NULL);
			if (e < 0)
				return e;
			R->vblock[k][0] = to;
			R->vblock[k][1] = to + n;
		}
	}
	for (int k = 0; k < 3; k++) {
		if (!want[k])
			continue;
		uint64_t n = R->vblock[k][1] - R->vblock[k][0];
		int e = call(R, "move vdso", SYS_mremap, R->vblock[k][0], n, n,
			     MREMAP_MAYMOVE | MREMAP_FIXED, want[k], 0, NULL);
		if (e < 0)
			return e;
	}
	return 0;
}

/* Open path in the stub (flags), returning the stub's descriptor. */
static int stub_open(struct restorer *R, const char *path, int flags, int64_t *fd)
{
	size_t n = strlen(path) + 1;
	int e = put(R, 0, path, n);
	if (e < 0)
		return e;
	char what[64];
	snprintf(what, sizeof(what), "open %.50s", path);
	e = call(R, what, SYS_openat, (uint64_t)AT_FDCWD, scratch(R, 0), (uint64_t)flags, 0, 0, 0,
		 fd);
	if (e < 0)
		snprintf(R->err, R->errlen, "pid %d: cannot open %s for its mapping: %s", R->s.pid,
			 path, strerror(-e));
	return e;
}

static int map_vmas(struct restorer *R)
{
	for (uint32_t i = 0; i < R->s.nvmas; i++) {
		struct cr_vma *v = &R->s.vmas[i];
		uint64_t len = v->end - v->start, prot = v->prot;
		if (v->dumped)
			prot |= PROT_READ | PROT_WRITE;
		int64_t fd = -1, r;
		int e = 0;
		char what[96];
		snprintf(what, sizeof(what), "map %llx-%llx", (unsigned long long)v->start,
			 (unsigned long long)v->end);
		switch (v->kind) {
		case CR_VMA_ANON:
			e = call(R, what, SYS_mmap, v->start, len, prot,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED |
					 (v->flags & CR_VMAF_GROWSDOWN ? MAP_GROWSDOWN : 0),
				 (uint64_t)-1, 0, NULL);
			break;
		case CR_VMA_FILE_PRIV:
		case CR_VMA_FILE_SHARED: {
			int shared = v->kind == CR_VMA_FILE_SHARED;
			e = stub_open(R, v->path,
				      shared && (v->prot & PROT_WRITE) ? O_RDWR : O_RDONLY, &fd);
			if (e == 0)
				e = call(R, what, SYS_mmap, v->start, len, prot,
					 (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_FIXED,
					 (uint64_t)fd, v->pgoff, NULL);
			break;
		}
		case CR_VMA_SHMEM:
			e = put(R, 0, "ssi-shmem", 10);
			if (e == 0)
				e = call(R, "memfd_create", SYS_memfd_create, scratch(R, 0), 0, 0,
					 0, 0, 0, &fd);
			if (e == 0)
				e = call(R, "ftruncate memfd", SYS_ftruncate, (uint64_t)fd, len, 0,
					 0, 0, 0, NULL);
			if (e == 0)
				e = call(R, what, SYS_mmap, v->start, len, prot,
					 MAP_SHARED | MAP_FIXED, (uint64_t)fd, 0, NULL);
			break;
		default:
			continue; /* vdso block: placed already */
		}
		if (fd >= 0 && call(R, "close", SYS_close, (uint64_t)fd, 0, 0, 0, 0, 0, &r) < 0 &&
		    e == 0)
			return -EIO;
		if (e < 0)
			return e;
	}
	return 0;
}

static int fill_pages(struct restorer *R, struct image_reader *rd, uint64_t *bytes)
{
	for (;;) {
		struct buf p;
		uint32_t t;
		int e = image_read_section(rd, &t, &p);
		if (e == 1)
			return 0;
		if (e < 0)
			FAIL(e, "image: %s at byte %llu", ssierr_str(e),
			     (unsigned long long)rd->offset);
		if (t != IMG_S_PAGES)
			FAIL(SSI_E_BADTYPE, "image: unexpected %s section", image_sect_name(t));
		uint64_t addr;
		const uint8_t *d;
		size_t n;
		e = cr_pages_parse(&R->s, &p, &addr, &d, &n);
		if (e < 0)
			FAIL(e, "image: pages outside the saved mappings near byte %llu",
			     (unsigned long long)rd->offset);
		e = inject_write(R->pid, addr, d, n);
		if (e < 0)
			FAIL(e, "pid %d: write pages at %#llx: %s", R->s.pid,
			     (unsigned long long)addr, strerror(-e));
		*bytes += n;
	}
}

static int protect_vmas(struct restorer *R)
{
	for (uint32_t i = 0; i < R->s.nvmas; i++) {
		struct cr_vma *v = &R->s.vmas[i];
		if (!v->dumped || v->kind >= CR_VMA_VDSO ||
		    (v->prot & (PROT_READ | PROT_WRITE)) == (PROT_READ | PROT_WRITE))
			continue;
		int e = call(R, "mprotect", SYS_mprotect, v->start, v->end - v->start, v->prot, 0,
			     0, 0, NULL);
		if (e < 0)
			return e;
	}
	return 0;
}

static int set_mm(struct restorer *R)
{
	struct cr_state *s = &R->s;
	int64_t exe;
	int e = stub_open(R, s->exe, O_RDONLY, &exe);
	if (e < 0)
		return e;
	uint64_t m[13];
	const uint64_t f[11] = {s->mm_start_code,  s->mm_end_code,  s->mm_start_data,
				s->mm_end_data,	   s->mm_start_brk, s->mm_brk,
				s->mm_start_stack, s->mm_arg_start, s->mm_arg_end,
				s->mm_env_start,   s->mm_env_end};
	memcpy(m, f, sizeof(f));
	m[11] = scratch(R, 512);
	m[12] = (uint64_t)s->auxv_len | (uint64_t)(uint32_t)exe << 32; /* auxv_size, exe_fd */
	_Static_assert(sizeof(m) == 104, "struct prctl_mm_map is 104 bytes");
	e = put(R, 0, m, sizeof(m));
	if (e == 0)
		e = put(R, 512, s->auxv, s->auxv_len);
	if (e == 0)
		e = call(R, "PR_SET_MM_MAP", SYS_prctl, PR_SET_MM, PR_SET_MM_MAP, scratch(R, 0),
			 sizeof(m), 0, 0, NULL);
	int64_t r;
	call(R, "close exe", SYS_close, (uint64_t)exe, 0, 0, 0, 0, 0, &r);
	return e;
}

/* Per-task and per-process attributes that need no privilege to set. */
static int set_attrs(struct restorer *R)
{
	struct cr_state *s = &R->s;
	int e = 0;
	int64_t r;
	if (s->rseq_ptr)
		e = call(R, "rseq", SYS_rseq, s->rseq_ptr, s->rseq_size, 0, s->rseq_sig, 0, 0,
			 NULL);
	if (e == 0)
		e = call(R, "set_tid_address", SYS_set_tid_address, s->clear_child_tid, 0, 0, 0, 0,
			 0, &r);
	if (e == 0 && s->robust_head)
		e = call(R, "set_robust_list", SYS_set_robust_list, s->robust_head, s->robust_len,
			 0, 0, 0, 0, NULL);
	if (e == 0) {
		uint64_t ss[3] = {s->ss_sp, s->ss_flags & ~1u /* SS_ONSTACK is status only */,
				  s->ss_size};
		if (!s->ss_sp && !s->ss_size)
			ss[1] = 2; /* SS_DISABLE */
		e = put(R, 0, ss, sizeof(ss));
		if (e == 0)
			e = call(R, "sigaltstack", SYS_sigaltstack, scratch(R, 0), 0, 0, 0, 0, 0,
				 NULL);
	}
	for (uint32_t i = 0; e == 0 && i < s->npending; i++) {
		int32_t sig;
		memcpy(&sig, s->pending[i].info, 4);
		e = put(R, 0, s->pending[i].info, 128);
		if (e == 0 && s->pending[i].shared)
			e = call(R, "queue signal", SYS_rt_sigqueueinfo, (uint64_t)R->stub.inner,
				 (uint64_t)sig, scratch(R, 0), 0, 0, 0, NULL);
		else if (e == 0)
			e = call(R, "queue signal", SYS_rt_tgsigqueueinfo, (uint64_t)R->stub.inner,
				 (uint64_t)R->stub.inner, (uint64_t)sig, scratch(R, 0), 0, 0, NULL);
	}
	for (int i = 0; e == 0 && i < 3; i++) {
		uint64_t it[4];
		memcpy(it, s->itimer[i], sizeof(it));
		if (!it[2] && !it[3]) {
			/* Value 0 with an interval: it expired and re-arms when its signal is
			 * taken; arm it one interval ahead. */
			if (!it[0] && !it[1])
				continue;
			it[2] = it[0];
			it[3] = it[1];
		}
		e = put(R, 0, it, sizeof(it));
		if (e == 0)
			e = call(R, "setitimer", SYS_setitimer, (uint64_t)i, scratch(R, 0), 0, 0, 0,
				 0, NULL);
	}
	for (int i = 0; e == 0 && i < CR_NRLIMIT; i++) {
		struct rlimit rl = {s->rlim[i][0], s->rlim[i][1]};
		if (prlimit(R->pid, (__rlimit_resource_t)i, &rl, NULL) < 0)
			FAIL(-errno, "pid %d: prlimit %d: %s", s->pid, i, strerror(errno));
	}
	if (e == 0 && setpriority(PRIO_PROCESS, (id_t)R->pid, s->nice) < 0)
		FAIL(-errno, "pid %d: nice %d: %s", s->pid, s->nice, strerror(errno));
	struct sched_param sp = {.sched_priority = (int)s->sched_prio};
	if (e == 0 && sched_setscheduler(R->pid, (int)s->sched_policy, &sp) < 0)
		FAIL(-errno, "pid %d: scheduling policy %u: %s", s->pid, s->sched_policy,
		     strerror(errno));
	if (e == 0 && s->affinity_len) {
		/* Only CPUs this machine has; none of them (another machine): leave it free. */
		cpu_set_t want, here;
		CPU_ZERO(&want);
		memcpy(&want, s->affinity,
		       s->affinity_len < sizeof(want) ? s->affinity_len : sizeof(want));
		if (sched_getaffinity(0, sizeof(here), &here) == 0) {
			CPU_AND(&want, &want, &here);
			if (CPU_COUNT(&want) > 0 &&
			    sched_setaffinity(R->pid, sizeof(want), &want) < 0)
				FAIL(-errno, "pid %d: CPU affinity: %s", s->pid, strerror(errno));
		}
	}
	if (e == 0)
		e = put(R, 0, s->comm, sizeof(s->comm));
	if (e == 0)
		e = call(R, "PR_SET_NAME", SYS_prctl, PR_SET_NAME, scratch(R, 0), 0, 0, 0, 0, NULL);
	if (e == 0)
		e = call(R, "PR_SET_PDEATHSIG", SYS_prctl, PR_SET_PDEATHSIG, 0, 0, 0, 0, 0, NULL);
	if (e == 0)
		e = call(R, "close ready pipe", SYS_close, (uint64_t)R->stub.ready_fd, 0, 0, 0, 0,
			 0, NULL);
	return e;
}

static int read_caps(pid_t pid, uint64_t *eff, uint64_t *prm, uint32_t uid[4])
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	int got = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long v;
		if (sscanf(line, "CapEff: %llx", &v) == 1) {
			*eff = v;
			got |= 1;
		} else if (sscanf(line, "CapPrm: %llx", &v) == 1) {
			*prm = v;
			got |= 2;
		} else if (sscanf(line, "Uid: %u %u %u %u", &uid[0], &uid[1], &uid[2], &uid[3]) ==
			   4) {
			got |= 4;
		}
	}
	fclose(f);
	return got == 7 ? 0 : SSI_E_MISSING;
}

/* Credentials last: after them the stub may lack the privilege for anything else. */
static int set_creds(struct restorer *R)
{
	struct cr_state *s = &R->s;
	int e = 0;
	for (int c = 0; e == 0 && c < 64; c++)
		if (!(s->cap_bnd & (1ull << c)) && prctl(PR_CAPBSET_READ, c) == 1)
			e = call(R, "PR_CAPBSET_DROP", SYS_prctl, PR_CAPBSET_DROP, (uint64_t)c, 0,
				 0, 0, 0, NULL);
	if (e == 0 && s->no_new_privs)
		e = call(R, "PR_SET_NO_NEW_PRIVS", SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0,
			 NULL);
	if (e == 0 && s->ngroups * 4 <= GADGET_LEN - 4096) {
		e = put(R, 0, s->groups, s->ngroups * 4);
		if (e == 0)
			e = call(R, "setgroups", SYS_setgroups, s->ngroups, scratch(R, 0), 0, 0, 0,
				 0, NULL);
	} else if (e == 0) {
		FAIL(SSI_E_TOOBIG, "too many supplementary groups (%u)", s->ngroups);
	}
	if (e == 0)
		e = call(R, "setresgid", SYS_setresgid, s->gid[0], s->gid[1], s->gid[2], 0, 0, 0,
			 NULL);
	if (e == 0)
		e = call(R, "setresuid", SYS_setresuid, s->uid[0], s->uid[1], s->uid[2], 0, 0, 0,
			 NULL);
	if (e == 0 && s->dumpable <= 2)
		e = call(R, "PR_SET_DUMPABLE", SYS_prctl, PR_SET_DUMPABLE, s->dumpable ? 1 : 0, 0,
			 0, 0, 0, NULL);
	if (e < 0)
		return e;
	uint64_t eff = ~0ull, prm = ~0ull;
	uint32_t uid[4];
	e = read_caps(R->pid, &eff, &prm, uid);
	if (e < 0)
		FAIL(e, "pid %d: cannot read restored credentials", s->pid);
	if ((eff & ~s->cap_eff) || (prm & ~s->cap_prm) || uid[0] != s->uid[0] ||
	    uid[1] != s->uid[1] || uid[2] != s->uid[2])
		FAIL(SSI_E_REFUSED,
		     "pid %d: restored credentials exceed the saved ones (CapEff %llx vs %llx)",
		     s->pid, (unsigned long long)eff, (unsigned long long)s->cap_eff);
	return 0;
}

/* Registers, mask, and the last call that removes the gadget; then the process runs. */
static int finish(struct restorer *R)
{
	struct cr_state *s = &R->s;
	struct iovec iov = {s->xstate, s->xstate_len};
	if (ptrace(PTRACE_SETREGSET, R->pid, (void *)NT_X86_XSTATE, &iov) < 0)
		FAIL(-errno, "pid %d: set xstate: %s", s->pid, strerror(errno));
	/* The gadget unmaps itself; its syscall-exit stop is where the saved registers go. */
	int e = call(R, "unmap gadget", SYS_munmap, R->hole, GADGET_LEN, 0, 0, 0, 0, NULL);
	if (e < 0)
		return e;
	struct user_regs_struct regs = s->regs;
	regs.orig_rax = (uint64_t)-1;
	if (ptrace(PTRACE_SETREGS, R->pid, NULL, &regs) < 0)
		FAIL(-errno, "pid %d: set registers: %s", s->pid, strerror(errno));
	/* The saved mask only now, with the saved registers: set before the last call, a
	 * signal that came during the restore (its own ITIMER_REAL, a kill) would be
	 * delivered on the way to the gadget, a signal-delivery stop inject.c refuses (and a
	 * handler run on the gadget's registers). Left pending here, it is taken on the saved
	 * registers when the process runs, as the kernel would have. */
	if (ptrace(PTRACE_SETSIGMASK, R->pid, (void *)8, &s->sigmask) < 0)
		FAIL(-errno, "pid %d: set signal mask: %s", s->pid, strerror(errno));
	return 0;
}

/* Let the restored process run: it is in a syscall-exit stop with its saved registers. */
static int let_run(pid_t pid, pid_t saved, int job_stopped, char *err, size_t errlen)
{
	/* A job-stopped process comes back stopped: SIGSTOP pending, taken on the way out. */
	if (job_stopped && kill(pid, SIGSTOP) < 0) {
		snprintf(err, errlen, "pid %d: stop: %s", (int)saved, strerror(errno));
		return -errno;
	}
	if (ptrace(PTRACE_DETACH, pid, NULL, NULL) < 0) {
		snprintf(err, errlen, "pid %d: detach: %s", (int)saved, strerror(errno));
		return -errno;
	}
	return 0;
}

/* Files the mappings come from must be the same ones: same size and mtime (libraries and
 * binaries that differ would be mapped under the saved pages and code pointers). */
static int check_files(struct restorer *R)
{
	for (uint32_t i = 0; i < R->s.nvmas; i++) {
		const struct cr_vma *v = &R->s.vmas[i];
		struct stat st;
		if (v->kind != CR_VMA_FILE_PRIV && v->kind != CR_VMA_FILE_SHARED)
			continue;
		if (stat(v->path, &st) < 0)
			FAIL(-errno, "mapped file %s: %s", v->path, strerror(errno));
		uint64_t mt =
			(uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec;
		if (v->kind == CR_VMA_FILE_PRIV &&
		    ((uint64_t)st.st_size != v->fsize || mt != v->fmtime))
			FAIL(SSI_E_UNSUPPORTED,
			     "mapped file %s differs from the checkpointed one (size %lld, was "
			     "%llu; "
			     "or modified since)",
			     v->path, (long long)st.st_size, (unsigned long long)v->fsize);
	}
	return 0;
}

/* A named fault-injection point (migrate/fault.h): any armed action fails the step. */
static int fault(struct restorer *R, const char *point)
{
	if (!fault_hit(point))
		return 0;
	FAIL(-EIO, "fault injected at %s", point);
}

/* A restored process held before its first instruction (restore.h). */
struct restore_handle {
	struct stub stub; /* the restored process (stub.pid) and its reaper, if any */
	pid_t tracer;	  /* the thread that restored it: the only one ptrace obeys */
	pid_t saved;	  /* its pid in the image */
	int job_stopped;  /* saved job-control stop: comes back stopped */
};

/* The whole restore; the process is left in its final ptrace stop in *h (the caller either
 * lets it run or kills it). On failure nothing is left. */
static int restore_held(int fd, struct shmring *ring, struct restore_handle *h, pid_t *pid,
			struct restore_stats *st, char *err, size_t errlen)
{
	double t0 = now_ms();
	struct restorer r0, *R = &r0;
	memset(R, 0, sizeof(*R));
	memset(st, 0, sizeof(*st));
	memset(h, 0, sizeof(*h));
	R->err = err;
	R->errlen = errlen;
	cr_state_init(&R->s);
	struct image_reader rd;
	int e = ring ? image_reader_start_ring(&rd, ring) : image_reader_start(&rd, fd);
	if (e < 0)
		snprintf(err, errlen, "not a usable image: %s", ssierr_str(e));
	if (e == 0 && (e = cr_state_read(&rd, &R->s)) < 0)
		snprintf(err, errlen, "bad image at byte %llu: %s", (unsigned long long)rd.offset,
			 ssierr_str(e));
	if (e == 0)
		e = cpufeat_check(&R->s, err, errlen);
	if (e == 0)
		e = check_files(R);
	if (e == 0 && (size_t)R->s.xstate_len > 1u << 16)
		e = SSI_E_BADFIELD;
	if (e == 0)
		e = stub_create(&R->s, &R->stub, err, errlen);
	if (e == 0) {
		R->pid = R->stub.pid;
		st->new_pidns = R->stub.reaper != 0;
		if ((e = prepare_stub(R)) == 0 && (e = place_vdso(R)) == 0 &&
		    (e = map_vmas(R)) == 0 && (e = fault(R, "restore.after_map")) == 0 &&
		    (e = fill_pages(R, &rd, &st->pages)) == 0 && (e = protect_vmas(R)) == 0 &&
		    (e = set_mm(R)) == 0 && (e = fault(R, "restore.after_mm")) == 0 &&
		    (e = set_attrs(R)) == 0 && (e = set_creds(R)) == 0 &&
		    (e = fault(R, "restore.before_run")) == 0)
			e = finish(R);
		if (e < 0)
			stub_destroy(&R->stub);
	}
	st->calls = R->inj.calls;
	if (e == 0) {
		*pid = R->stub.reaper ? R->stub.reaper : R->pid;
		h->stub = R->stub;
		h->tracer = gettid();
		h->saved = R->s.pid;
		h->job_stopped = R->s.job_stopped != 0;
	}
	image_reader_free(&rd);
	cr_state_free(&R->s);
	st->total_ms = now_ms() - t0;
	return e;
}

int restore_process(int fd, pid_t *pid, struct restore_stats *st, char *err, size_t errlen)
{
	struct restore_handle h;
	int e = restore_held(fd, NULL, &h, pid, st, err, errlen);
	if (e == 0) {
		e = let_run(h.stub.pid, h.saved, h.job_stopped, err, errlen);
		if (e < 0)
			stub_destroy(&h.stub);
	}
	return e;
}

static int stopped(int fd, struct shmring *ring, struct restore_handle **hp, pid_t *pid,
		   struct restore_stats *st, char *err, size_t errlen)
{
	*hp = NULL;
	struct restore_handle *h = malloc(sizeof(*h));
	if (!h) {
		memset(st, 0, sizeof(*st));
		snprintf(err, errlen, "restore: out of memory");
		return -ENOMEM;
	}
	int e = restore_held(fd, ring, h, pid, st, err, errlen);
	if (e < 0) {
		free(h);
		return e;
	}
	*hp = h;
	return 0;
}

int restore_stopped(int fd, struct restore_handle **hp, pid_t *pid, struct restore_stats *st,
		    char *err, size_t errlen)
{
	return stopped(fd, NULL, hp, pid, st, err, errlen);
}

int restore_stopped_ring(struct shmring *ring, struct restore_handle **hp, pid_t *pid,
			 struct restore_stats *st, char *err, size_t errlen)
{
	return stopped(-1, ring, hp, pid, st, err, errlen);
}

static int wrong_thread(const struct restore_handle *h, char *err, size_t errlen)
{
	if (h->tracer == gettid())
		return 0;
	snprintf(err, errlen, "pid %d: restored by thread %d; ptrace accepts only that thread",
		 (int)h->saved, (int)h->tracer);
	return -EPERM;
}

int restore_resume(struct restore_handle *h, char *err, size_t errlen)
{
	int e = wrong_thread(h, err, errlen);
	if (e < 0)
		return e;
	e = let_run(h->stub.pid, h->saved, h->job_stopped, err, errlen);
	if (e < 0)
		stub_destroy(&h->stub);
	free(h);
	return e;
}

int restore_discard(struct restore_handle *h, char *err, size_t errlen)
{
	int e = wrong_thread(h, err, errlen);
	if (e < 0)
		return e;
	stub_destroy(&h->stub);
	free(h);
	return 0;
}
