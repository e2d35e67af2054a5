/*
 * dump.c - the checkpoint sequence (dump.h).
 *
 *   preflight --blockers--> refuse (process untouched)
 *       | ok
 *   seize_task (interrupt stop) --fail--> detach (running as before)
 *       |
 *   block signals; registers; inject queries (sigactions, altstack, itimers, brk,
 *   tid address, dumpable) through a scratch page mapped for the purpose and unmapped after;
 *   /proc reads (procinfo.c); page selection from pagemap
 *       |
 *   write state sections, stream page sections, END, fsync --fail--> release
 *       | ok
 *   DUMP_KILL ? SIGKILL : put registers back and release (seize_release)
 *
 * Page selection (pagemap): anonymous: present and not the shared zero page, or swapped;
 * private file: present or swapped and not PM_FILE (a copied page); shared anon/memfd:
 * present or swapped; shared file, vdso, vvar: nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "migrate/cpufeat.h"
#include "migrate/dump.h"
#include "migrate/fault.h"
#include "migrate/inject.h"
#include "migrate/preflight.h"
#include "migrate/procinfo.h"
#include "migrate/seize.h"
#include "migrate/state.h"
#include "ssid/ssierr.h"

#define PM_PRESENT (1ull << 63)
#define PM_SWAPPED (1ull << 62)
#define PM_FILE	   (1ull << 61)
#define PM_PFN	   ((1ull << 55) - 1)

struct run {
	uint64_t addr, len;
};

struct dumper {
	pid_t pid;
	struct cr_state s;
	struct inject inj;
	uint64_t mask;		      /* the process's own signal mask */
	struct user_regs_struct regs; /* as frozen, before any rewind */
	struct run *runs;	      /* page runs to dump, in address order */
	size_t nruns, caprun;
	uint64_t zero_pfn;
	char *err;
	size_t errlen;
};

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static uint64_t find_zero_pfn(void)
{
	uint64_t e = 0;
	volatile uint8_t *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 0;
	(void)p[0]; /* a read fault maps the shared zero page */
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (pread(fd, &e, 8, (off_t)((uintptr_t)p / 4096 * 8)) != 8)
			e = 0;
		close(fd);
	}
	munmap((void *)(uintptr_t)p, 4096);
	return (e & PM_PRESENT) ? (e & PM_PFN) : 0;
}

/* Queries that only the process itself can answer, by injected calls. */
static int inject_queries(struct dumper *d)
{
	struct cr_state *s = &d->s;
	pid_t pid = d->pid;
	uint64_t vdso = 0, here, vlen, off;
	for (uint32_t i = 0; i < s->nvmas; i++)
		if (s->vmas[i].kind == CR_VMA_VDSO)
			vdso = s->vmas[i].start;
	if (inject_vdso_syscall(&here, &vlen, &off) < 0 || !vdso || vlen != s->vdso_len ||
	    s->vdso[off] != 0x0f || s->vdso[off + 1] != 0x05) {
		snprintf(d->err, d->errlen, "pid %d: no syscall instruction in its vdso", (int)pid);
		return SSI_E_UNSUPPORTED;
	}
	int r = inject_init(&d->inj, pid, vdso + off);
	if (r < 0)
		goto fail;
	int64_t sc = inject_call(&d->inj, SYS_mmap, 0, 8192, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t)-1, 0);
	if (sc < 0 && sc > -4096) {
		r = (int)sc;
		goto fail;
	}
	uint64_t sp = (uint64_t)sc;
	d->inj.scratch = sp;
	for (int sig = 1; sig <= CR_NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		sc = inject_call(&d->inj, SYS_rt_sigaction, (uint64_t)sig, 0,
				 sp + (uint64_t)(sig - 1) * 32, 8, 0, 0);
		if (sc < 0) {
			r = (int)sc;
			goto fail;
		}
	}
	uint64_t q = sp + 64 * 32;
	sc = inject_call(&d->inj, SYS_sigaltstack, 0, q, 0, 0, 0, 0);
	for (int i = 0; i < 3 && sc == 0; i++)
		sc = inject_call(&d->inj, SYS_getitimer, (uint64_t)i, q + 32 + (uint64_t)i * 32, 0,
				 0, 0, 0);
	if (sc == 0)
		sc = inject_call(&d->inj, SYS_prctl, PR_GET_TID_ADDRESS, q + 128, 0, 0, 0, 0);
	if (sc < 0) {
		r = (int)sc;
		goto fail;
	}
	s->dumpable = (uint32_t)inject_call(&d->inj, SYS_prctl, PR_GET_DUMPABLE, 0, 0, 0, 0, 0);
	s->mm_brk = (uint64_t)inject_call(&d->inj, SYS_brk, 0, 0, 0, 0, 0, 0);
	uint8_t buf[64 * 32 + 160];
	r = inject_read(pid, sp, buf, sizeof(buf));
	if (r < 0)
		goto fail;
	for (int i = 0; i < CR_NSIG; i++)
		memcpy(&s->act[i], buf + i * 32, 32);
	const uint8_t *b = buf + 64 * 32;
	uint64_t ss[3];
	memcpy(ss, b, 24);
	s->ss_sp = ss[0];
	s->ss_flags = (uint32_t)ss[1];
	s->ss_size = ss[2];
	memcpy(s->itimer, b + 32, 96);
	memcpy(&s->clear_child_tid, b + 128, 8);
	sc = inject_call(&d->inj, SYS_munmap, sp, 8192, 0, 0, 0, 0);
	d->inj.scratch = 0;
	if (sc < 0) {
		r = (int)sc;
		goto fail;
	}
	return 0;
fail:
	snprintf(d->err, d->errlen, "pid %d: injected query failed: %s", (int)pid,
		 strerror(r < 0 && r > -4096 ? -r : EIO));
	return r < 0 ? r : -EIO;
}

static int add_run(struct dumper *d, uint64_t addr, uint64_t len, int merge)
{
	/* Runs never cross mappings: restore checks each PAGES section against one. */
	if (merge && d->nruns && d->runs[d->nruns - 1].addr + d->runs[d->nruns - 1].len == addr) {
		d->runs[d->nruns - 1].len += len;
		return 0;
	}
	if (d->nruns == d->caprun) {
		d->caprun = d->caprun ? d->caprun * 2 : 256;
		struct run *n = realloc(d->runs, d->caprun * sizeof(*n));
		if (!n)
			return -ENOMEM;
		d->runs = n;
	}
	d->runs[d->nruns++] = (struct run){addr, len};
	return 0;
}

static int select_pages(struct dumper *d)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)d->pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	enum {
		N = 4096
	};
	uint64_t *pm = malloc(N * 8);
	int r = pm ? 0 : -ENOMEM;
	for (uint32_t i = 0; r == 0 && i < d->s.nvmas; i++) {
		struct cr_vma *v = &d->s.vmas[i];
		if (v->kind != CR_VMA_ANON && v->kind != CR_VMA_FILE_PRIV &&
		    v->kind != CR_VMA_SHMEM)
			continue;
		for (uint64_t a = v->start; r == 0 && a < v->end;) {
			size_t n = (size_t)((v->end - a) / 4096);
			if (n > N)
				n = N;
			ssize_t got = pread(fd, pm, n * 8, (off_t)(a / 4096 * 8));
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0 || got % 8) {
				r = got < 0 ? -errno : -EIO;
				break;
			}
			n = (size_t)got / 8;
			for (size_t k = 0; k < n && r == 0; k++) {
				uint64_t e = pm[k];
				int in = (e & (PM_PRESENT | PM_SWAPPED)) != 0;
				if (v->kind == CR_VMA_ANON && (e & PM_PRESENT) && d->zero_pfn &&
				    (e & PM_PFN) == d->zero_pfn)
					in = 0;
				if (v->kind == CR_VMA_FILE_PRIV && (e & PM_FILE))
					in = 0;
				if (in) {
					r = add_run(d, a + k * 4096, 4096,
						    a + k * 4096 != v->start);
					v->dumped += 4096;
				}
			}
			a += n * 4096;
		}
	}
	free(pm);
	close(fd);
	return r;
}

static int write_pages(struct dumper *d, struct image_writer *w)
{
	uint8_t *chunk = malloc(IMAGE_PAGES_CHUNK);
	if (!chunk)
		return -ENOMEM;
	int r = 0;
	for (size_t i = 0; r == 0 && i < d->nruns; i++) {
		for (uint64_t a = d->runs[i].addr, end = a + d->runs[i].len; r == 0 && a < end;) {
			size_t n = end - a > IMAGE_PAGES_CHUNK ? IMAGE_PAGES_CHUNK : end - a;
			r = inject_read(d->pid, a, chunk, n);
			if (r < 0) {
				snprintf(d->err, d->errlen, "pid %d: read memory at %#llx: %s",
					 (int)d->pid, (unsigned long long)a, strerror(-r));
				break;
			}
			uint8_t h[8];
			for (int k = 0; k < 8; k++)
				h[k] = (uint8_t)(a >> (56 - 8 * k));
			r = image_write_section2(w, IMG_S_PAGES, h, 8, chunk, n);
			if (r < 0)
				snprintf(d->err, d->errlen, "write image: %s", ssierr_str(r));
			a += n;
		}
	}
	free(chunk);
	return r;
}

/* The registers as the image stores them: an interrupted call rewound to run again. */
static void saved_regs(struct dumper *d)
{
	struct user_regs_struct *r = &d->s.regs;
	*r = d->regs;
	int64_t ax = (int64_t)r->rax;
	if ((int64_t)r->orig_rax >= 0 && (ax == -512 || ax == -513 || ax == -514 || ax == -516)) {
		/* ERESTARTSYS, ERESTARTNOINTR, ERESTARTNOHAND, ERESTART_RESTARTBLOCK: the
		 * restored process executes the same call again from the start (for a sleep
		 * with ERESTART_RESTARTBLOCK that means the full time once more). */
		d->s.in_syscall = (int64_t)r->orig_rax;
		r->rax = r->orig_rax;
		r->rip -= 2;
	}
	r->orig_rax = (uint64_t)-1;
}

/* If the process sits inside an rseq critical section, resume it at the abort handler. */
static void rseq_fixup(struct dumper *d)
{
	uint64_t cs = 0, desc[4];
	if (!d->s.rseq_ptr || inject_read(d->pid, d->s.rseq_ptr + 8, &cs, 8) < 0 || !cs)
		return;
	if (inject_read(d->pid, cs, desc, sizeof(desc)) < 0)
		return;
	/* struct rseq_cs: u32 version, u32 flags, u64 start_ip, u64 post_commit_offset,
	 * u64 abort_ip */
	uint64_t start = desc[1], len = desc[2], abort_ip = desc[3];
	if (d->s.regs.rip >= start && d->s.regs.rip - start < len) {
		d->s.regs.rip = abort_ip;
		d->s.in_syscall = -1;
	}
}

static int collect(struct dumper *d)
{
	struct cr_state *s = &d->s;
	int r;
	if ((r = procinfo_identity(d->pid, s, d->err, d->errlen)) < 0 ||
	    (r = procinfo_mm(d->pid, s, d->err, d->errlen)) < 0 ||
	    (r = procinfo_maps(d->pid, s, d->err, d->errlen)) < 0 ||
	    (r = procinfo_fds(d->pid, s, d->err, d->errlen)) < 0 ||
	    (r = procinfo_misc(d->pid, s, d->err, d->errlen)) < 0 || (r = inject_queries(d)) < 0)
		return r;
	s->sigmask = d->mask;
	cpufeat_fill(s);
	saved_regs(d);
	rseq_fixup(d);
	d->zero_pfn = find_zero_pfn();
	r = select_pages(d);
	if (r < 0)
		snprintf(d->err, d->errlen, "pid %d: read pagemap: %s", (int)d->pid, strerror(-r));
	return r;
}

/* What a frozen process needs to be let go or killed (dump.h). */
struct dump_handle {
	pid_t pid;
	pid_t tracer;		      /* thread that seized it: the only one ptrace obeys */
	struct user_regs_struct regs; /* as frozen, before any rewind */
	uint64_t mask;		      /* its own signal mask */
	int stopped;		      /* job-control stop signal it was frozen in, or 0 */
	int stop_seen;		      /* a group stop was passed while injecting */
	double tf;		      /* when it was frozen (now_ms) */
};

/* Put registers and mask back and let it go: it continues as if never stopped. */
static int release(struct dump_handle *h, char *err, size_t errlen)
{
	int e = 0;
	if (ptrace(PTRACE_SETREGS, h->pid, NULL, &h->regs) < 0)
		e = -errno;
	if (e == 0 && (h->stopped || h->stop_seen))
		kill(h->pid, SIGSTOP); /* back into its group stop on the way out */
	if (e == 0)
		e = seize_release(h->pid, h->mask);
	if (e < 0 && errlen)
		snprintf(err, errlen, "pid %d: resume after checkpoint: %s", (int)h->pid,
			 strerror(-e));
	return e;
}

static void kill_frozen(struct dump_handle *h)
{
	kill(h->pid, SIGKILL);
	int ws;
	while (waitpid(h->pid, &ws, __WALL) < 0 && errno == EINTR)
		;
}

static int write_image(struct dumper *d, int fd, struct shmring *ring, struct dump_stats *st)
{
	struct image_writer w;
	char *err = d->err;
	size_t errlen = d->errlen;
	int r = ring ? image_writer_start_ring(&w, ring) : image_writer_start(&w, fd);
	if (r == 0)
		r = cr_state_write(&w, &d->s);
	if (r < 0)
		snprintf(err, errlen, "write image: %s", ssierr_str(r));
	if (r == 0)
		r = write_pages(d, &w);
	if (r == 0 && fault_hit("checkpoint.after_pages")) {
		r = -EIO;
		snprintf(err, errlen, "fault injected at checkpoint.after_pages");
	}
	if (r == 0)
		r = image_writer_finish(&w);
	if (r == 0 && !ring && fsync(fd) < 0 && errno != EINVAL && errno != EROFS) {
		r = -errno;
		snprintf(err, errlen, "fsync image: %s", strerror(errno));
	}
	for (uint32_t i = 0; i < d->s.nvmas; i++) {
		st->mapped += d->s.vmas[i].end - d->s.vmas[i].start;
		st->dumped += d->s.vmas[i].dumped;
	}
	st->image = w.written;
	return r;
}

/* Everything up to a complete image with the process still frozen in h. On failure the
 * process is running as before (or detached as found). */
static int begin(pid_t pid, int fd, struct shmring *ring, struct dump_handle *h,
		 struct dump_stats *st, char *err, size_t errlen)
{
	struct dumper d = {.pid = pid, .err = err, .errlen = errlen};
	memset(h, 0, sizeof(*h));
	h->pid = pid;
	h->tracer = gettid();
	cr_state_init(&d.s);
	int n = preflight_check(pid, err, errlen);
	if (n < 0) {
		snprintf(err, errlen, "pid %d: %s", (int)pid, strerror(-n));
		return n;
	}
	if (n > 0)
		return SSI_E_REFUSED;
	int r = seize_task(pid, 5000, &h->stopped, err, errlen);
	if (r < 0)
		return r;
	h->tf = now_ms();
	int have_mask = 0;
	if (ptrace(PTRACE_GETREGS, pid, NULL, &d.regs) < 0) {
		r = -errno;
		snprintf(err, errlen, "pid %d: read registers: %s", (int)pid, strerror(errno));
		goto fail;
	}
	h->regs = d.regs;
	if (d.regs.cs != 0x33) {
		r = SSI_E_UNSUPPORTED;
		snprintf(err, errlen, "pid %d runs 32-bit code (cs %#llx): not supported", (int)pid,
			 (unsigned long long)d.regs.cs);
		goto fail;
	}
	r = seize_block_signals(pid, &d.mask);
	if (r < 0) {
		snprintf(err, errlen, "pid %d: signal mask: %s", (int)pid, strerror(-r));
		goto fail;
	}
	h->mask = d.mask;
	have_mask = 1;
	/* Anything that appeared between preflight and the freeze is caught again here. */
	n = preflight_check(pid, err, errlen);
	if (n != 0) {
		r = n < 0 ? n : SSI_E_REFUSED;
		goto fail;
	}
	d.s.job_stopped = (uint32_t)h->stopped;
	r = collect(&d);
	h->stop_seen = d.inj.stop_seen;
	if (r == 0 && fault_hit("checkpoint.after_collect")) {
		r = -EIO;
		snprintf(err, errlen, "fault injected at checkpoint.after_collect");
	}
	if (r == 0)
		r = write_image(&d, fd, ring, st);
	/* Frozen with its own registers and mask back in place: should the tracer die before
	 * dump_release(), the kernel detaches it and it runs on as it was, not with every
	 * signal blocked. Signals that arrive meanwhile stay pending until the release. */
	if (r == 0 && (ptrace(PTRACE_SETREGS, pid, NULL, &h->regs) < 0 ||
		       ptrace(PTRACE_SETSIGMASK, pid, (void *)sizeof(h->mask), &h->mask) < 0)) {
		r = -errno;
		snprintf(err, errlen, "pid %d: put registers back: %s", (int)pid, strerror(errno));
	}
fail:
	if (r < 0) {
		if (have_mask)
			(void)release(h, NULL, 0); /* err already names the first failure */
		else
			ptrace(PTRACE_DETACH, pid, NULL, NULL);
	}
	free(d.runs);
	cr_state_free(&d.s);
	return r;
}

int dump_process(pid_t pid, int fd, unsigned flags, struct dump_stats *st, char *err, size_t errlen)
{
	double t0 = now_ms();
	struct dump_handle h;
	memset(st, 0, sizeof(*st));
	int r = begin(pid, fd, NULL, &h, st, err, errlen);
	if (r == 0 && (flags & DUMP_KILL))
		kill_frozen(&h);
	else if (r == 0)
		r = release(&h, err, errlen);
	if (h.tf > 0)
		st->frozen_ms = now_ms() - h.tf;
	st->total_ms = now_ms() - t0;
	return r;
}

static int begin_alloc(pid_t pid, int fd, struct shmring *ring, struct dump_handle **hp,
		       struct dump_stats *st, char *err, size_t errlen)
{
	double t0 = now_ms();
	*hp = NULL;
	memset(st, 0, sizeof(*st));
	struct dump_handle *h = malloc(sizeof(*h));
	if (!h) {
		snprintf(err, errlen, "pid %d: out of memory", (int)pid);
		return -ENOMEM;
	}
	int r = begin(pid, fd, ring, h, st, err, errlen);
	if (h->tf > 0)
		st->frozen_ms = now_ms() - h->tf;
	st->total_ms = now_ms() - t0;
	if (r < 0) {
		free(h);
		return r;
	}
	*hp = h;
	return 0;
}

int dump_begin(pid_t pid, int fd, struct dump_handle **hp, struct dump_stats *st, char *err,
	       size_t errlen)
{
	return begin_alloc(pid, fd, NULL, hp, st, err, errlen);
}

int dump_begin_ring(pid_t pid, struct shmring *ring, struct dump_handle **hp, struct dump_stats *st,
		    char *err, size_t errlen)
{
	return begin_alloc(pid, -1, ring, hp, st, err, errlen);
}

pid_t dump_handle_pid(const struct dump_handle *h)
{
	return h->pid;
}

static int wrong_thread(const struct dump_handle *h, char *err, size_t errlen)
{
	if (h->tracer == gettid())
		return 0;
	if (errlen)
		snprintf(err, errlen,
			 "pid %d: frozen by thread %d; ptrace accepts only that thread, not %d",
			 (int)h->pid, (int)h->tracer, (int)gettid());
	return -EPERM;
}

int dump_release(struct dump_handle *h, char *err, size_t errlen)
{
	int r = wrong_thread(h, err, errlen);
	if (r < 0)
		return r;
	r = release(h, err, errlen);
	free(h);
	return r;
}

int dump_kill(struct dump_handle *h, char *err, size_t errlen)
{
	int r = wrong_thread(h, err, errlen);
	if (r < 0)
		return r;
	kill_frozen(h);
	free(h);
	return 0;
}
