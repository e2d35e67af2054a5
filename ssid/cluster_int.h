/*
 * cluster_int.h - the inside of struct cluster, shared by cluster.c (state, timers, sending),
 * cluster_link.c (link callbacks, trust) and cluster_ctl.c (control requests). Not for other
 * modules: use cluster.h.
 */
#ifndef SSI_CLUSTER_INT_H
#define SSI_CLUSTER_INT_H

#include "ssid/cluster.h"
#include "ssid/gossip.h"
#include "ssid/keys.h"
#include "ssid/load.h"
#include "ssid/member.h"

#include <pthread.h>
#include <time.h>

#define REFUSALS	 32
#define REFUSAL_QUIET_MS 60000
#define TICK_MS		 100
#define DB_FLUSH_MS	 1000

struct nodeinfo {
	char kernel[65];
	uint64_t boot_id;   /* from its last HELLO, 0 = never */
	int64_t since_wall; /* wall ms of the last state change */
	int64_t heard_mono; /* last frame, for db last_seen */
	int dialled;	    /* a client link was started */
};

struct cluster {
	const struct config *cfg;
	pthread_mutex_t lock;
	struct member_table mem;		 /* lock */
	struct gossip_table gos;		 /* lock */
	struct nodeinfo info[GOSSIP_MAX_ID + 1]; /* lock */
	struct keys_set ak, kh;			 /* lock; reloaded on mtime change */
	struct timespec ak_mtime, kh_mtime;
	struct {
		char key[160];
		int64_t t;
	} refused[REFUSALS]; /* lock */
	struct link_mgr *links;
	struct link_ops ops;
	pthread_mutex_t dblock;
	struct db *db; /* dblock */
	/* Own facts (main thread writes, lock held). */
	struct load_state ls;
	struct load_raw last_raw;
	int64_t last_sample;
	double speed;
	int cpus;
	char kernel[65];
	char *cpu_flags;
	char listen[64];
	uint64_t boot_id;     /* this daemon instance (HELLO boot_id) */
	uint64_t incarnation; /* this node's processes' life (HELLO incarnation), 0 unknown */
	int64_t start_mono;
	double pushed_runq;
	int64_t last_flush;
	uint64_t rng;
	int started;	       /* cluster_start() ran */
	uint64_t gossip_msgs;  /* LOAD_WINDOW/LOAD_PULL frames sent (lock) */
	uint64_t gossip_bytes; /* their encoded bytes (lock) */
	struct {
		cluster_msg_fn fn; /* set before cluster_start(), read-only after */
		void *ctx;
	} handlers[64],		 /* by wire type */
		errhandlers[64]; /* ERROR frames, by the type they answer */
};

/* Functions shared by the cluster*.c files (lock = c->lock). */

/* A frame from id arrived: note it, update membership (events, store); lock held. */
void cluster_heard(struct cluster *c, int id, int64_t now);
/* Encode our load window into m (a LOAD_WINDOW from us); entries: caller storage of
 * GOSSIP_WINDOW entries that m points into; lock held. */
void cluster_build_window(struct cluster *c, int64_t now, struct wire_msg *m,
			  struct wire_load_entry *entries);
/* Reload the trust files (c->ak, c->kh) if their mtime changed; keeps the old keys on a parse
 * error (logged); lock held (or before any link runs). */
void cluster_reload_keys(struct cluster *c);
/* Fill c->ops with the link callbacks of cluster_link.c (ctx = c); before cluster_start(). */
void cluster_ops_init(struct cluster *c);

#endif
