/*
 * state.c - encode, decode, validate and print struct cr_state (state.h).
 *
 * Owns: the byte layout of the non-page sections (docs/image-format.md mirrors it).
 * Does not: touch processes. Every length read from an image is bounded before use and
 * every decoded field that restore later trusts (ranges, sizes, kinds) is validated here,
 * so a corrupt image is refused before any process exists.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "migrate/state.h"
#include "ssid/ssierr.h"

void cr_state_init(struct cr_state *s)
{
	memset(s, 0, sizeof(*s));
	s->in_syscall = -1;
}

void cr_state_free(struct cr_state *s)
{
	free(s->exe);
	free(s->affinity);
	free(s->cwd);
	free(s->cmdline);
	free(s->vdso);
	free(s->groups);
	free(s->auxv);
	free(s->pending);
	free(s->xstate);
	for (uint32_t i = 0; i < s->nfds; i++) {
		free(s->fds[i].path);
		free(s->fds[i].data);
	}
	free(s->fds);
	for (uint32_t i = 0; i < s->nvmas; i++)
		free(s->vmas[i].path);
	free(s->vmas);
	cr_state_init(s);
}

/* ---- writing ---- */

#define P(x)                                                                                       \
	do {                                                                                       \
		if ((r = (x)) < 0)                                                                 \
			goto out;                                                                  \
	} while (0)

static int put_u64s(struct buf *b, const uint64_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int r = buf_put_u64(b, v[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

static int enc_proc(struct buf *b, const struct cr_state *s)
{
	int r;
	P(buf_put_u32(b, (uint32_t)s->pid));
	P(buf_put_str(b, s->comm));
	P(buf_put_str(b, s->kernel));
	P(buf_put_str(b, s->host));
	P(buf_put_u64(b, s->time));
	P(buf_put_str(b, s->exe));
	P(buf_put_str(b, s->cwd));
	P(buf_put_str(b, s->cmdline));
	P(buf_put_u32(b, s->umask));
	P(buf_put_u32(b, s->personality));
	P(buf_put_u32(b, s->dumpable));
	P(put_u64s(b, &s->rlim[0][0], CR_NRLIMIT * 2));
	P(put_u64s(b, &s->itimer[0][0], 12));
	P(buf_put_u64(b, s->clear_child_tid));
	P(buf_put_u64(b, s->robust_head));
	P(buf_put_u64(b, s->robust_len));
	P(buf_put_u64(b, s->rseq_ptr));
	P(buf_put_u64(b, s->rseq_size));
	P(buf_put_u64(b, s->rseq_sig));
	P(buf_put_u32(b, (uint32_t)s->nice));
	P(buf_put_u32(b, s->sched_policy));
	P(buf_put_u32(b, s->sched_prio));
	P(buf_put_bytes(b, s->affinity, s->affinity_len));
	P(buf_put_u32(b, s->job_stopped));
out:
	return r;
}

static int enc_cpu(struct buf *b, const struct cr_state *s)
{
	int r;
	P(buf_put_u32(b, s->cpuid1_ecx));
	P(buf_put_u32(b, s->cpuid1_edx));
	P(buf_put_u32(b, s->cpuid7_ebx));
	P(buf_put_u32(b, s->cpuid7_ecx));
	P(buf_put_u32(b, s->cpuid7_edx));
	P(buf_put_u64(b, s->xcr0));
	P(buf_put_u32(b, s->xsave_size));
	P(buf_put_u64(b, s->vvar_len));
	P(buf_put_u64(b, s->vvar_vclock_len));
	P(buf_put_bytes(b, s->vdso, s->vdso_len));
out:
	return r;
}

static int enc_creds(struct buf *b, const struct cr_state *s)
{
	int r;
	for (int i = 0; i < 4; i++)
		P(buf_put_u32(b, s->uid[i]));
	for (int i = 0; i < 4; i++)
		P(buf_put_u32(b, s->gid[i]));
	P(buf_put_u32(b, s->ngroups));
	for (uint32_t i = 0; i < s->ngroups; i++)
		P(buf_put_u32(b, s->groups[i]));
	P(buf_put_u64(b, s->cap_inh));
	P(buf_put_u64(b, s->cap_prm));
	P(buf_put_u64(b, s->cap_eff));
	P(buf_put_u64(b, s->cap_bnd));
	P(buf_put_u64(b, s->cap_amb));
	P(buf_put_u32(b, s->no_new_privs));
out:
	return r;
}

static int enc_mm(struct buf *b, const struct cr_state *s)
{
	int r;
	const uint64_t v[11] = {s->mm_start_code,  s->mm_end_code,  s->mm_start_data,
				s->mm_end_data,	   s->mm_start_brk, s->mm_brk,
				s->mm_start_stack, s->mm_arg_start, s->mm_arg_end,
				s->mm_env_start,   s->mm_env_end};
	P(put_u64s(b, v, 11));
	P(buf_put_bytes(b, s->auxv, s->auxv_len));
out:
	return r;
}

static int enc_signals(struct buf *b, const struct cr_state *s)
{
	int r;
	P(buf_put_u64(b, s->sigmask));
	for (int i = 0; i < CR_NSIG; i++)
		P(put_u64s(b, &s->act[i].handler, 4));
	P(buf_put_u64(b, s->ss_sp));
	P(buf_put_u64(b, s->ss_size));
	P(buf_put_u32(b, s->ss_flags));
	P(buf_put_u32(b, s->npending));
	for (uint32_t i = 0; i < s->npending; i++) {
		P(buf_put_u32(b, s->pending[i].shared));
		P(buf_put(b, s->pending[i].info, 128));
	}
out:
	return r;
}

static int enc_regs(struct buf *b, const struct cr_state *s)
{
	int r;
	_Static_assert(sizeof(struct user_regs_struct) == 27 * 8, "user_regs_struct layout");
	uint64_t v[27];
	memcpy(v, &s->regs, sizeof(v));
	P(put_u64s(b, v, 27));
	P(buf_put_i64(b, s->in_syscall));
	/* xstate is the kernel's own little-endian XSAVE layout: kept as bytes. */
	P(buf_put_bytes(b, s->xstate, s->xstate_len));
out:
	return r;
}

static int enc_files(struct buf *b, const struct cr_state *s)
{
	int r;
	P(buf_put_u32(b, s->nfds));
	for (uint32_t i = 0; i < s->nfds; i++) {
		const struct cr_fd *f = &s->fds[i];
		P(buf_put_u32(b, (uint32_t)f->fd));
		P(buf_put_u32(b, f->kind));
		P(buf_put_u32(b, f->flags));
		P(buf_put_u32(b, f->cloexec));
		P(buf_put_u64(b, f->pos));
		P(buf_put_u64(b, f->size));
		P(buf_put_str(b, f->path));
		P(buf_put_bytes(b, f->data, f->data_len));
	}
out:
	return r;
}

static int enc_vmas(struct buf *b, const struct cr_state *s)
{
	int r;
	P(buf_put_u32(b, s->nvmas));
	for (uint32_t i = 0; i < s->nvmas; i++) {
		const struct cr_vma *v = &s->vmas[i];
		P(buf_put_u64(b, v->start));
		P(buf_put_u64(b, v->end));
		P(buf_put_u64(b, v->pgoff));
		P(buf_put_u32(b, v->prot));
		P(buf_put_u32(b, v->flags));
		P(buf_put_u32(b, v->kind));
		P(buf_put_u64(b, v->dumped));
		P(buf_put_u64(b, v->fsize));
		P(buf_put_u64(b, v->fmtime));
		P(buf_put_str(b, v->path));
	}
out:
	return r;
}

int cr_state_write(struct image_writer *w, const struct cr_state *s)
{
	static int (*const enc[])(struct buf *, const struct cr_state *) = {
		enc_proc, enc_cpu, enc_creds, enc_mm, enc_signals, enc_regs, enc_files, enc_vmas};
	static const uint32_t type[] = {IMG_S_PROC,    IMG_S_CPU,  IMG_S_CREDS, IMG_S_MM,
					IMG_S_SIGNALS, IMG_S_REGS, IMG_S_FILES, IMG_S_VMAS};
	struct buf b;
	int r = 0;
	buf_init(&b);
	for (size_t i = 0; i < sizeof(type) / sizeof(type[0]) && r == 0; i++) {
		buf_reset(&b);
		r = enc[i](&b, s);
		if (r == 0)
			r = image_write_section(w, type[i], b.d, b.len);
	}
	buf_free(&b);
	return r;
}

/* ---- reading ---- */

static int get_u64s(struct buf *b, uint64_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int r = buf_get_u64(b, &v[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

/* u32 length + bytes into a new allocation (NULL when empty). */
static int get_blob(struct buf *b, uint8_t **p, uint32_t *n, size_t max)
{
	const uint8_t *d;
	size_t len;
	int r = buf_get_bytes_ref(b, &d, &len, max);
	if (r < 0)
		return r;
	*p = NULL;
	*n = (uint32_t)len;
	if (len == 0)
		return 0;
	*p = malloc(len);
	if (!*p)
		return -ENOMEM;
	memcpy(*p, d, len);
	return 0;
}

static int dec_proc(struct buf *b, struct cr_state *s)
{
	int r;
	uint32_t pid;
	P(buf_get_u32(b, &pid));
	s->pid = (int32_t)pid;
	P(buf_get_cstr(b, s->comm, sizeof(s->comm)));
	P(buf_get_cstr(b, s->kernel, sizeof(s->kernel)));
	P(buf_get_cstr(b, s->host, sizeof(s->host)));
	P(buf_get_u64(b, &s->time));
	P(buf_get_str(b, &s->exe, CR_PATH_MAX));
	P(buf_get_str(b, &s->cwd, CR_PATH_MAX));
	P(buf_get_str(b, &s->cmdline, 1u << 20));
	P(buf_get_u32(b, &s->umask));
	P(buf_get_u32(b, &s->personality));
	P(buf_get_u32(b, &s->dumpable));
	P(get_u64s(b, &s->rlim[0][0], CR_NRLIMIT * 2));
	P(get_u64s(b, &s->itimer[0][0], 12));
	P(buf_get_u64(b, &s->clear_child_tid));
	P(buf_get_u64(b, &s->robust_head));
	P(buf_get_u64(b, &s->robust_len));
	P(buf_get_u64(b, &s->rseq_ptr));
	P(buf_get_u64(b, &s->rseq_size));
	P(buf_get_u64(b, &s->rseq_sig));
	uint32_t nice;
	P(buf_get_u32(b, &nice));
	s->nice = (int32_t)nice;
	P(buf_get_u32(b, &s->sched_policy));
	P(buf_get_u32(b, &s->sched_prio));
	P(get_blob(b, &s->affinity, &s->affinity_len, 1024));
	P(buf_get_u32(b, &s->job_stopped));
	if (s->nice < -20 || s->nice > 19)
		r = SSI_E_BADFIELD;
	if (s->pid <= 0 || s->umask > 0777 || s->exe[0] != '/' || s->cwd[0] != '/' ||
	    s->rseq_size > 4096)
		r = SSI_E_BADFIELD;
out:
	return r;
}

static int dec_cpu(struct buf *b, struct cr_state *s)
{
	int r;
	P(buf_get_u32(b, &s->cpuid1_ecx));
	P(buf_get_u32(b, &s->cpuid1_edx));
	P(buf_get_u32(b, &s->cpuid7_ebx));
	P(buf_get_u32(b, &s->cpuid7_ecx));
	P(buf_get_u32(b, &s->cpuid7_edx));
	P(buf_get_u64(b, &s->xcr0));
	P(buf_get_u32(b, &s->xsave_size));
	P(buf_get_u64(b, &s->vvar_len));
	P(buf_get_u64(b, &s->vvar_vclock_len));
	P(get_blob(b, &s->vdso, &s->vdso_len, 1u << 20));
out:
	return r;
}

static int dec_creds(struct buf *b, struct cr_state *s)
{
	int r;
	for (int i = 0; i < 4; i++)
		P(buf_get_u32(b, &s->uid[i]));
	for (int i = 0; i < 4; i++)
		P(buf_get_u32(b, &s->gid[i]));
	P(buf_get_u32(b, &s->ngroups));
	if (s->ngroups > CR_MAX_GROUPS || s->ngroups > buf_avail(b) / 4)
		return SSI_E_BADFIELD;
	s->groups = calloc(s->ngroups + 1, sizeof(uint32_t));
	if (!s->groups)
		return -ENOMEM;
	for (uint32_t i = 0; i < s->ngroups; i++)
		P(buf_get_u32(b, &s->groups[i]));
	P(buf_get_u64(b, &s->cap_inh));
	P(buf_get_u64(b, &s->cap_prm));
	P(buf_get_u64(b, &s->cap_eff));
	P(buf_get_u64(b, &s->cap_bnd));
	P(buf_get_u64(b, &s->cap_amb));
	P(buf_get_u32(b, &s->no_new_privs));
out:
	return r;
}

static int dec_mm(struct buf *b, struct cr_state *s)
{
	int r;
	uint64_t v[11];
	P(get_u64s(b, v, 11));
	s->mm_start_code = v[0];
	s->mm_end_code = v[1];
	s->mm_start_data = v[2];
	s->mm_end_data = v[3];
	s->mm_start_brk = v[4];
	s->mm_brk = v[5];
	s->mm_start_stack = v[6];
	s->mm_arg_start = v[7];
	s->mm_arg_end = v[8];
	s->mm_env_start = v[9];
	s->mm_env_end = v[10];
	P(get_blob(b, &s->auxv, &s->auxv_len, 4096));
	if (s->auxv_len % 16 || s->mm_start_brk > s->mm_brk)
		r = SSI_E_BADFIELD;
out:
	return r;
}

static int dec_signals(struct buf *b, struct cr_state *s)
{
	int r;
	P(buf_get_u64(b, &s->sigmask));
	for (int i = 0; i < CR_NSIG; i++)
		P(get_u64s(b, &s->act[i].handler, 4));
	P(buf_get_u64(b, &s->ss_sp));
	P(buf_get_u64(b, &s->ss_size));
	P(buf_get_u32(b, &s->ss_flags));
	P(buf_get_u32(b, &s->npending));
	if (s->npending > CR_MAX_PEND || s->npending > buf_avail(b) / 132)
		return SSI_E_BADFIELD;
	s->pending = calloc(s->npending + 1, sizeof(*s->pending));
	if (!s->pending)
		return -ENOMEM;
	for (uint32_t i = 0; i < s->npending; i++) {
		P(buf_get_u32(b, &s->pending[i].shared));
		P(buf_get(b, s->pending[i].info, 128));
		int32_t signo;
		memcpy(&signo, s->pending[i].info, 4);
		if (signo < 1 || signo > CR_NSIG || s->pending[i].shared > 1)
			return SSI_E_BADFIELD;
	}
out:
	return r;
}

static int dec_regs(struct buf *b, struct cr_state *s)
{
	int r;
	uint64_t v[27];
	P(get_u64s(b, v, 27));
	memcpy(&s->regs, v, sizeof(v));
	P(buf_get_i64(b, &s->in_syscall));
	P(get_blob(b, &s->xstate, &s->xstate_len, 1u << 20));
	/* Only 64-bit user code and data selectors are accepted. */
	if (s->regs.cs != 0x33 || s->regs.ss != 0x2b || s->xstate_len < 576)
		r = SSI_E_BADFIELD;
out:
	return r;
}

static int dec_files(struct buf *b, struct cr_state *s)
{
	int r;
	uint32_t n;
	P(buf_get_u32(b, &n));
	if (n > CR_MAX_FDS || n > buf_avail(b) / 36)
		return SSI_E_BADFIELD;
	s->fds = calloc(n + 1, sizeof(*s->fds));
	if (!s->fds)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		struct cr_fd *f = &s->fds[i];
		uint32_t fd;
		s->nfds = i + 1;
		P(buf_get_u32(b, &fd));
		f->fd = (int32_t)fd;
		P(buf_get_u32(b, &f->kind));
		P(buf_get_u32(b, &f->flags));
		P(buf_get_u32(b, &f->cloexec));
		P(buf_get_u64(b, &f->pos));
		P(buf_get_u64(b, &f->size));
		P(buf_get_str(b, &f->path, CR_PATH_MAX));
		P(get_blob(b, &f->data, &f->data_len, 1u << 20));
		int pathless = f->kind == CR_FD_STDIO || f->kind == CR_FD_PIPE;
		if (f->fd < 0 || f->fd > (1 << 20) || f->kind < CR_FD_STDIO ||
		    f->kind > CR_FD_PIPE || (f->kind == CR_FD_STDIO) != (f->fd <= 2) ||
		    (!pathless && f->path[0] != '/') || (f->data_len && f->kind != CR_FD_PIPE) ||
		    (i && f->fd <= s->fds[i - 1].fd))
			return SSI_E_BADFIELD;
	}
out:
	return r;
}

static int vma_check(const struct cr_vma *v, const struct cr_vma *prev)
{
	const uint64_t top = 0x800000000000ull;
	if (v->start >= v->end || v->end > top || (v->start | v->end) & 4095 || v->pgoff & 4095 ||
	    (prev && v->start < prev->end) || v->kind < CR_VMA_ANON ||
	    v->kind > CR_VMA_VVAR_VCLOCK || v->prot & ~7u || v->dumped > v->end - v->start)
		return SSI_E_BADFIELD;
	int file = v->kind == CR_VMA_FILE_PRIV || v->kind == CR_VMA_FILE_SHARED;
	if (file != (v->path[0] != '\0') || (file && v->path[0] != '/'))
		return SSI_E_BADFIELD;
	return 0;
}

static int dec_vmas(struct buf *b, struct cr_state *s)
{
	int r;
	uint32_t n;
	P(buf_get_u32(b, &n));
	if (n == 0 || n > CR_MAX_VMAS || n > buf_avail(b) / 64)
		return SSI_E_BADFIELD;
	s->vmas = calloc(n, sizeof(*s->vmas));
	if (!s->vmas)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		struct cr_vma *v = &s->vmas[i];
		s->nvmas = i + 1;
		P(buf_get_u64(b, &v->start));
		P(buf_get_u64(b, &v->end));
		P(buf_get_u64(b, &v->pgoff));
		P(buf_get_u32(b, &v->prot));
		P(buf_get_u32(b, &v->flags));
		P(buf_get_u32(b, &v->kind));
		P(buf_get_u64(b, &v->dumped));
		P(buf_get_u64(b, &v->fsize));
		P(buf_get_u64(b, &v->fmtime));
		P(buf_get_str(b, &v->path, CR_PATH_MAX));
		P(vma_check(v, i ? &s->vmas[i - 1] : NULL));
	}
out:
	return r;
}

int cr_state_read(struct image_reader *rd, struct cr_state *s)
{
	static int (*const dec[])(struct buf *, struct cr_state *) = {
		dec_proc, dec_cpu, dec_creds, dec_mm, dec_signals, dec_regs, dec_files, dec_vmas};
	static const uint32_t type[] = {IMG_S_PROC,    IMG_S_CPU,  IMG_S_CREDS, IMG_S_MM,
					IMG_S_SIGNALS, IMG_S_REGS, IMG_S_FILES, IMG_S_VMAS};
	for (size_t i = 0; i < sizeof(type) / sizeof(type[0]); i++) {
		struct buf p;
		uint32_t t;
		int r = image_read_section(rd, &t, &p);
		if (r == 1 || (r == 0 && t != type[i]))
			return SSI_E_MISSING;
		if (r < 0)
			return r;
		s->sect_crc[i] = rd->crc;
		r = dec[i](&p, s);
		if (r == 0 && buf_avail(&p) != 0)
			r = SSI_E_BADFIELD; /* trailing bytes: not the layout we know */
		if (r < 0)
			return r == SSI_E_TRUNCATED ? SSI_E_BADFIELD : r;
	}
	return 0;
}

int cr_pages_parse(const struct cr_state *s, struct buf *p, uint64_t *addr, const uint8_t **data,
		   size_t *len)
{
	if (buf_get_u64(p, addr) < 0)
		return SSI_E_CORRUPT;
	*len = buf_avail(p);
	*data = buf_rptr(p);
	if (*len == 0 || *len % 4096 || *addr % 4096)
		return SSI_E_CORRUPT;
	for (uint32_t i = 0; i < s->nvmas; i++) {
		const struct cr_vma *v = &s->vmas[i];
		if (*addr >= v->start && *addr < v->end) {
			if (v->end - *addr < *len || v->kind == CR_VMA_FILE_SHARED ||
			    v->kind >= CR_VMA_VDSO)
				return SSI_E_CORRUPT;
			return 0;
		}
	}
	return SSI_E_CORRUPT;
}

/* ---- show ---- */

static const char *vma_kind_name(uint32_t k)
{
	static const char *const n[] = {"?",	 "anon", "file-private", "file-shared",
					"shmem", "vdso", "vvar",	 "vvar_vclock"};
	return k < sizeof(n) / sizeof(n[0]) ? n[k] : "?";
}

static const char *fd_kind_name(uint32_t k)
{
	static const char *const n[] = {"?", "stdio", "file", "dir", "device", "pipe"};
	return k < sizeof(n) / sizeof(n[0]) ? n[k] : "?";
}

void cr_state_print(FILE *f, const struct cr_state *s)
{
	fprintf(f, "process:  pid %d comm %s\n", s->pid, s->comm);
	fprintf(f, "command:  %s\n", s->cmdline);
	fprintf(f, "exe:      %s\ncwd:      %s\nnice:     %d umask %03o personality %#x\n", s->exe,
		s->cwd, s->nice, s->umask, s->personality);
	int ncpu = 0;
	for (uint32_t i = 0; i < s->affinity_len; i++)
		ncpu += __builtin_popcount(s->affinity[i]);
	if (s->job_stopped)
		fprintf(f, "state:    stopped by job control (signal %u): restored stopped\n",
			s->job_stopped);
	fprintf(f, "sched:    policy %u priority %u, allowed on %d CPUs\n", s->sched_policy,
		s->sched_prio, ncpu);
	fprintf(f, "taken:    %llu on %s (kernel %s)\n", (unsigned long long)s->time, s->host,
		s->kernel);
	fprintf(f, "creds:    uid %u/%u/%u gid %u/%u/%u groups %u capeff %016llx capprm %016llx\n",
		s->uid[0], s->uid[1], s->uid[2], s->gid[0], s->gid[1], s->gid[2], s->ngroups,
		(unsigned long long)s->cap_eff, (unsigned long long)s->cap_prm);
	fprintf(f, "cpu:      xcr0 %#llx xsave %u bytes, vdso %u bytes, vvar %llu + %llu bytes\n",
		(unsigned long long)s->xcr0, s->xsave_size, s->vdso_len,
		(unsigned long long)s->vvar_len, (unsigned long long)s->vvar_vclock_len);
	fprintf(f, "regs:     rip %#llx rsp %#llx fs_base %#llx%s\n",
		(unsigned long long)s->regs.rip, (unsigned long long)s->regs.rsp,
		(unsigned long long)s->regs.fs_base,
		s->in_syscall >= 0 ? " (in a syscall, restarted on restore)" : "");
	fprintf(f, "signals:  mask %016llx, %u pending, altstack %#llx+%llu\n",
		(unsigned long long)s->sigmask, s->npending, (unsigned long long)s->ss_sp,
		(unsigned long long)s->ss_size);
	fprintf(f,
		"itimers:  real %llu.%06llu/%llu.%06llu virtual %llu.%06llu prof %llu.%06llu "
		"(value/interval)\n",
		(unsigned long long)s->itimer[0][2], (unsigned long long)s->itimer[0][3],
		(unsigned long long)s->itimer[0][0], (unsigned long long)s->itimer[0][1],
		(unsigned long long)s->itimer[1][2], (unsigned long long)s->itimer[1][3],
		(unsigned long long)s->itimer[2][2], (unsigned long long)s->itimer[2][3]);
	fprintf(f, "rseq:     %#llx size %llu\n", (unsigned long long)s->rseq_ptr,
		(unsigned long long)s->rseq_size);
	fprintf(f, "brk:      %#llx-%#llx\n", (unsigned long long)s->mm_start_brk,
		(unsigned long long)s->mm_brk);
	fprintf(f, "files:    %u\n", s->nfds);
	for (uint32_t i = 0; i < s->nfds; i++) {
		const struct cr_fd *d = &s->fds[i];
		if (d->kind == CR_FD_PIPE)
			fprintf(f, "  %4d pipe   %s end of pipe %llu, %u unread bytes%s\n", d->fd,
				(d->flags & O_ACCMODE) == O_RDONLY ? "read" : "write",
				(unsigned long long)d->pos, d->data_len,
				d->cloexec ? " cloexec" : "");
		else
			fprintf(f, "  %4d %-6s flags %#o pos %llu%s %s\n", d->fd,
				fd_kind_name(d->kind), d->flags, (unsigned long long)d->pos,
				d->cloexec ? " cloexec" : "",
				d->kind == CR_FD_STDIO ? "(from the restorer)" : d->path);
	}
	uint64_t total = 0, dumped = 0;
	fprintf(f, "memory:   %u mappings\n", s->nvmas);
	for (uint32_t i = 0; i < s->nvmas; i++) {
		const struct cr_vma *v = &s->vmas[i];
		total += v->end - v->start;
		dumped += v->dumped;
		fprintf(f, "  %012llx-%012llx %c%c%c%c %-12s %8llu KiB dumped %8llu KiB %s\n",
			(unsigned long long)v->start, (unsigned long long)v->end,
			v->prot & PROT_READ ? 'r' : '-', v->prot & PROT_WRITE ? 'w' : '-',
			v->prot & PROT_EXEC ? 'x' : '-', v->flags & CR_VMAF_SHARED ? 's' : 'p',
			vma_kind_name(v->kind), (unsigned long long)(v->end - v->start) >> 10,
			(unsigned long long)v->dumped >> 10,
			v->flags & CR_VMAF_HEAP	   ? "[heap]"
			: v->flags & CR_VMAF_STACK ? "[stack]"
						   : v->path);
	}
	fprintf(f, "sizes:    mapped %llu KiB, dumped %llu KiB\n", (unsigned long long)total >> 10,
		(unsigned long long)dumped >> 10);
}
