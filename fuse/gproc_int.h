/*
 * gproc_int.h - inside of gprocfs (/gproc), shared by main.c (options, the data source, the
 * snapshot hook and the watcher thread) and gproc_ops.c (the fuse_lowlevel_ops table and its
 * request handlers). Not for other modules. Main-only: gproc_ops.c needs fuse/main.c's
 * gproc_g and gproc_watch, so only bin/gprocfs links it.
 *
 * Threads: gproc_g's src, se and single are set by main before the FUSE loop starts and only
 * read after; stop and last_use_ms are atomics; watcher and watching belong to op_init and
 * op_destroy; gen_no to the gsrc prepare hook.
 */
#ifndef SSI_GPROC_INT_H
#define SSI_GPROC_INT_H

#define FUSE_USE_VERSION 314
#include <fuse3/fuse_lowlevel.h>

#include "fuse/gsrc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

struct gproc_state {
	struct gsrc *src;
	struct fuse_session *se;
	pthread_t watcher;
	int watching;
	int single; /* one request thread (not -o mt) */
	atomic_int stop;
	atomic_llong last_use_ms; /* CLOCK_MONOTONIC ms of the last request */
	uint32_t gen_no;	  /* generation of the last snapshot (prepare hook only) */
};
extern struct gproc_state gproc_g; /* fuse/main.c */

/* CLOCK_MONOTONIC in ms (fuse/main.c). */
long long gproc_mono_ms(void);

/* The watcher thread (fuse/main.c): until gproc_g.stop, invalidates the kernel's entries of
 * vanished processes and changed files. Started by op_init, joined by op_destroy. */
void *gproc_watch(void *arg);

/* The operations table (fuse/gproc_ops.c). */
extern const struct fuse_lowlevel_ops gproc_ops;

#endif
