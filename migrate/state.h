/*
 * state.h - the saved state of one process (everything but page contents) and its encoding
 * into image sections (image.h).
 *
 * Owns: struct cr_state, its section codecs and their validation, and the text that
 * `ssictl image show` prints. Does not: touch any process (dump.c and restore.c do) or do
 * I/O beyond the image_writer/image_reader it is given.
 * Assumes: x86_64 Linux; a single-threaded process.
 */
#ifndef SSI_MIGRATE_STATE_H
#define SSI_MIGRATE_STATE_H

#include <stdint.h>
#include <stdio.h>
#include <sys/user.h>

#include "migrate/image.h"

#define CR_NSIG	      64
#define CR_NRLIMIT    16
#define CR_MAX_VMAS   65530
#define CR_MAX_FDS    4096
#define CR_MAX_GROUPS 65536
#define CR_MAX_PEND   1024
#define CR_PATH_MAX   4096

enum cr_vma_kind {
	CR_VMA_ANON = 1,      /* private anonymous (incl. heap, stack): dumped pages */
	CR_VMA_FILE_PRIV = 2, /* private file mapping: file pages plus dumped copied pages */
	CR_VMA_FILE_SHARED,   /* shared file mapping: mapped again, nothing dumped */
	CR_VMA_SHMEM,	      /* shared anonymous / memfd: dumped, recreated as a memfd */
	CR_VMA_VDSO,	      /* [vdso]: bytes compared, moved back */
	CR_VMA_VVAR,	      /* [vvar]: moved back, never dumped */
	CR_VMA_VVAR_VCLOCK,   /* [vvar_vclock] (6.13+): moved back, never dumped */
};

#define CR_VMAF_SHARED	  1u
#define CR_VMAF_GROWSDOWN 2u
#define CR_VMAF_HEAP	  4u
#define CR_VMAF_STACK	  8u

struct cr_vma {
	uint64_t start, end; /* [start, end), page aligned */
	uint64_t pgoff;	     /* file offset in bytes */
	uint32_t prot;	     /* PROT_* */
	uint32_t flags;	     /* CR_VMAF_* */
	uint32_t kind;	     /* enum cr_vma_kind */
	uint64_t dumped;     /* bytes of pages in the image for this mapping */
	uint64_t fsize;	     /* file mappings: size of the file at checkpoint */
	uint64_t fmtime;     /* file mappings: its mtime, nanoseconds since the epoch */
	char *path;	     /* file path (owned) or NULL */
};

enum cr_fd_kind {
	CR_FD_STDIO = 1, /* fd 0-2 of any kind: attached to what the restorer is given */
	CR_FD_REG = 2,	 /* regular file: path, flags, offset */
	CR_FD_DIR = 3,	 /* directory: path */
	CR_FD_DEV = 4,	 /* /dev/null, /dev/zero, /dev/random, /dev/urandom: path */
	CR_FD_PIPE = 5,	 /* a pipe whose both ends the process holds: pos = pipe id, data */
};

struct cr_fd {
	int32_t fd;
	uint32_t kind;	  /* enum cr_fd_kind */
	uint32_t flags;	  /* open flags (O_ACCMODE, O_APPEND, O_NONBLOCK, ...) */
	uint32_t cloexec; /* FD_CLOEXEC set */
	uint64_t pos;	  /* offset */
	uint64_t size;	  /* file size at checkpoint (regular files) */
	char *path;	  /* owned */
	uint8_t *data;	  /* CR_FD_PIPE read end: unread bytes in the pipe (owned) */
	uint32_t data_len;
};

struct cr_sigact {
	uint64_t handler, flags, restorer, mask; /* kernel layout of struct sigaction */
};

struct cr_siginfo {
	uint32_t shared; /* 1: process-wide queue, 0: thread queue */
	uint8_t info[128];
};

struct cr_state {
	/* IMG_S_PROC */
	int32_t pid;
	char comm[17];
	char kernel[65]; /* uname -r of the dumping host */
	char host[65];	 /* node name of the dumping host */
	uint64_t time;	 /* unix time of the checkpoint */
	char *exe;	 /* /proc/PID/exe target */
	char *cwd;
	char *cmdline; /* space separated, for show only */
	uint32_t umask;
	uint32_t personality;
	uint32_t dumpable;
	uint64_t rlim[CR_NRLIMIT][2]; /* cur, max */
	uint64_t itimer[3][4];	      /* ITIMER_*: interval sec, usec, value sec, usec */
	uint64_t clear_child_tid;
	uint64_t robust_head, robust_len;
	uint64_t rseq_ptr, rseq_size, rseq_sig; /* rseq_ptr 0: not registered */
	int32_t nice;				/* -20..19 */
	uint32_t job_stopped; /* stopped by job control (its stop signal), restored stopped */
	uint32_t sched_policy, sched_prio; /* sched_getscheduler, sched_priority */
	uint8_t *affinity;		   /* sched_getaffinity mask bytes (owned) */
	uint32_t affinity_len;
	/* IMG_S_CPU */
	uint32_t cpuid1_ecx, cpuid1_edx, cpuid7_ebx, cpuid7_ecx, cpuid7_edx;
	uint64_t xcr0;
	uint32_t xsave_size;
	uint8_t *vdso; /* vdso bytes (owned) */
	uint32_t vdso_len;
	uint64_t vvar_len, vvar_vclock_len;
	/* IMG_S_CREDS */
	uint32_t uid[4], gid[4]; /* real, effective, saved, fs */
	uint32_t ngroups;
	uint32_t *groups; /* owned */
	uint64_t cap_inh, cap_prm, cap_eff, cap_bnd, cap_amb;
	uint32_t no_new_privs;
	/* IMG_S_MM */
	uint64_t mm_start_code, mm_end_code, mm_start_data, mm_end_data, mm_start_brk, mm_brk,
		mm_start_stack, mm_arg_start, mm_arg_end, mm_env_start, mm_env_end;
	uint8_t *auxv; /* owned */
	uint32_t auxv_len;
	/* IMG_S_SIGNALS */
	uint64_t sigmask;
	struct cr_sigact act[CR_NSIG]; /* act[i] is signal i + 1 */
	uint64_t ss_sp, ss_size;
	uint32_t ss_flags;
	uint32_t npending;
	struct cr_siginfo *pending; /* owned */
	/* IMG_S_REGS */
	struct user_regs_struct regs;
	uint8_t *xstate; /* owned */
	uint32_t xstate_len;
	int64_t in_syscall; /* syscall number it was in and restarts, or -1 */
	/* IMG_S_FILES */
	uint32_t nfds;
	struct cr_fd *fds; /* owned */
	/* IMG_S_VMAS */
	uint32_t nvmas;
	struct cr_vma *vmas; /* owned */
	/* totals filled by the reader of a whole image (show) */
	uint32_t sect_crc[8]; /* CRC32C of the PROC..VMAS sections as read */
	uint64_t page_bytes, page_sections;
};

void cr_state_init(struct cr_state *s);
void cr_state_free(struct cr_state *s);

/* Write every section but pages and END, in the fixed order PROC CPU CREDS MM SIGNALS REGS
 * FILES VMAS. 0 or the writer's error. */
int cr_state_write(struct image_writer *w, const struct cr_state *s);

/* Read sections up to and including VMAS into s and validate them (ranges, sizes, order).
 * 0, a reader error, SSI_E_MISSING (a section absent or out of order) or SSI_E_BADFIELD.
 * After 0 the reader is positioned at the first PAGES section (or END). */
int cr_state_read(struct image_reader *r, struct cr_state *s);

/* Decode one PAGES payload: its address and its bytes (a pointer into payload).
 * 0 or SSI_E_CORRUPT (length not whole pages, address unaligned or outside every dumpable
 * mapping of s). */
int cr_pages_parse(const struct cr_state *s, struct buf *payload, uint64_t *addr,
		   const uint8_t **data, size_t *len);

/* Print what `ssictl image show` shows. */
void cr_state_print(FILE *f, const struct cr_state *s);

#endif
