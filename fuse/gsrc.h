/*
 * gsrc.h - where the cluster process table comes from, for gprocfs and gps.
 *
 * Two sources: "local" (this node's /proc via ptable_read_self) and "ssid" (one
 * PTABLE_CTL_TYPE request on the daemon's control socket returns the cluster table; 2 s
 * socket time-outs). A gsrc hands out reference-counted snapshots, refreshed when older than
 * ttl_ms; gprocfs serves every read from a snapshot, never one /proc pass or network round
 * trip per file. After gsrc_start a background thread refreshes, and readers never wait for a
 * refresh once a first snapshot exists (a table a little stale rather than a hung ps).
 * Thread safety: every function may be called from several threads at once.
 */
#ifndef SSI_GSRC_H
#define SSI_GSRC_H

#include <stddef.h>
#include <stdint.h>

#include "ssid/ptable.h"

struct gsnap;
struct gsrc;

enum gsrc_kind {
	GSRC_LOCAL,
	GSRC_SSID
};

struct gsrc_opts {
	enum gsrc_kind kind;
	unsigned node_id;		 /* 1..511; 0 = take from the config file */
	char node_name[PTABLE_NAME_MAX]; /* "" = take from the config file */
	const char *conf;		 /* config path; NULL = config_default_path() */
	const char *procdir;		 /* NULL = "/proc" (tests point it elsewhere) */
	const char *sock;		 /* ssid: control socket; NULL = run_dir/ssid.sock */
	unsigned ttl_ms;		 /* snapshot lifetime; 0 = 500 ms */
	/* Optional: called for every new snapshot before anyone can see it, with the snapshot it
	 * replaces (NULL for the first), in the fetching thread without the gsrc lock; one call at
	 * a time. It may set snap->aux/aux_free (gprocfs: per-file versions). Its result is
	 * ignored: a snapshot without aux must still be served. */
	void (*prepare)(struct gsnap *snap, const struct gsnap *prev, void *arg);
	void *prepare_arg;
};

/* One table as of one moment. Read-only; hold it with gsrc_get, drop it with gsnap_put. */
struct gsnap {
	struct ptable *t; /* sorted by gpid */
	uint64_t mono_ms; /* CLOCK_MONOTONIC ms when taken (the records' age) */
	uint64_t list_ms; /* CLOCK_MONOTONIC ms when its set of processes was last checked */
	int refs;	  /* under the gsrc lock */
	struct gsrc *src;
	void *aux;		     /* the prepare hook's data, or NULL */
	void (*aux_free)(void *aux); /* frees aux with the snapshot */
};

/* Parse a source name ("local" or "ssid"). 0 or -EINVAL. */
int gsrc_kind_parse(const char *s, enum gsrc_kind *k);

/* Resolve identity (config file unless given) and create the source. No I/O on the source
 * yet. On failure returns NULL with err holding one line saying what to fix. */
struct gsrc *gsrc_new(const struct gsrc_opts *o, char *err, size_t errlen);
/* Start the background refresher (gprocfs). 0 or a negative errno. gsrc_free stops it. */
int gsrc_start(struct gsrc *s);
/* Stop the refresher and free everything. Every snapshot must have been put before. */
void gsrc_free(struct gsrc *s);

unsigned gsrc_node_id(const struct gsrc *s);
const char *gsrc_node_name(const struct gsrc *s);
const char *gsrc_procdir(const struct gsrc *s);
/* The result of the last refresh (0 = it worked); err gets one line about it. */
int gsrc_last_error(struct gsrc *s, char *err, size_t errlen);

/* A snapshot no older than ttl_ms, or (refresher running, or another thread refreshing) the
 * newest one there is. 0 and *out held, or a negative errno / SSI_E_* when no snapshot could
 * be taken at all (gsrc_last_error says why). */
int gsrc_get(struct gsrc *s, struct gsnap **out);
/* A snapshot whose SET of processes is no older than max_age_ms, fetched in the calling
 * thread if needed (or waiting for a fetch in progress): for listings, so that a process
 * started just before shows and one that exited does not. Local source with a snapshot at
 * most 2 ttls old: only the process list is re-read (one readdir), new processes are read and
 * the others keep their records (at most 2 ttls old). Otherwise a full fetch. If the fetch
 * fails, the previous snapshot is returned when there is one. */
int gsrc_get_fresh(struct gsrc *s, unsigned max_age_ms, struct gsnap **out);
/* As gsrc_get but always takes a new snapshot in the calling thread. */
int gsrc_refresh(struct gsrc *s, struct gsnap **out);
void gsnap_put(struct gsnap *g);

/* Move out the gpids that vanished between snapshots since the last call (for cache
 * invalidation). *gpids is malloc'd (caller frees), *n entries; 0 or -ENOMEM. */
int gsrc_take_gone(struct gsrc *s, uint32_t **gpids, size_t *n);

/* Read one process of THIS node by its local pid (the caller's own process for procps' self
 * lookup), as a record of this node. 0, -ENOENT, or another negative code; clear *p after. */
int gsrc_read_local_pid(struct gsrc *s, uint32_t pid, struct ptable_proc *p);

#endif
