/*
 * gossip.h - the load table of all nodes and its dissemination (notes/load-balancing.md s4).
 *
 * Every node keeps one entry per known node: its load facts and their age. Each round (every
 * gossip_ms +-20%) the node pushes a window of the freshest entries (its own included, each
 * with its age) to one random up peer; on alternate rounds it also pulls from the peer whose
 * own entry is oldest here. Entries from others are merged by freshness. Nodes first heard of
 * in a gossip message are reported, so the daemon can connect to peers learned from peers.
 *
 * Pure: no I/O, no clock, no locks. Times are ms of the caller's monotonic clock; a received
 * age is turned into a local origin time (now - age), so clocks of nodes never need to agree.
 * Randomness comes from the caller (struct gossip_rng) so tests are deterministic.
 */
#ifndef SSI_GOSSIP_H
#define SSI_GOSSIP_H

#include "ssid/wire.h"

#include <stddef.h>
#include <stdint.h>

#define GOSSIP_MAX_ID	  511
#define GOSSIP_WINDOW	  12 /* entries per push (8-16 in the note) */
#define GOSSIP_NAME_MAX	  33
#define GOSSIP_ADDR_MAX	  64
#define GOSSIP_MAX_AGE_MS (24 * 3600 * 1000) /* larger received ages are clamped */

/* Load facts of one node (what is gossiped). */
struct gossip_load {
	double load;	/* exported load: smoothed run queue per CPU (rises fast, decays
			       * slowly); the local twin stays on its node */
	double runq;	/* last raw run-queue length (tasks in state R) */
	double cpu_use; /* 0..1 */
	double psi_cpu; /* PSI cpu some avg10, percent */
	double speed;	/* relative CPU speed */
	uint32_t cpus;	/* CPUs this node may use */
	uint64_t mem_total_kb;
	uint64_t mem_free_kb; /* MemAvailable */
};

struct gossip_entry {
	int id; /* 1..511; 0 = empty slot */
	char name[GOSSIP_NAME_MAX];
	char addr[GOSSIP_ADDR_MAX]; /* host:port of its SSH server */
	int64_t origin_ms;	    /* local time the facts were sampled (now - age) */
	struct gossip_load l;
	unsigned flags; /* WIRE_NODE_F_* (blocked), travels with the facts */
};

struct gossip_table {
	struct gossip_entry e[GOSSIP_MAX_ID + 1]; /* indexed by id */
	int self;
	unsigned round; /* rounds planned so far */
};

/* Random source: returns a uniformly distributed 32-bit value. */
struct gossip_rng {
	uint32_t (*next)(void *ctx);
	void *ctx;
};

/* One round's decisions. */
struct gossip_plan {
	int push_to;	       /* node id to push the window to, 0 = nobody up */
	int pull_from;	       /* node id to ask for its window this round, 0 = none */
	int64_t next_delay_ms; /* time to the next round (interval +-20%) */
};

/* Start a table holding only self (id, name, addr). */
void gossip_init(struct gossip_table *t, int self, const char *name, const char *addr);

/* Record own facts sampled at now. */
void gossip_set_self(struct gossip_table *t, const struct gossip_load *l, int64_t now);

/* Set own flags (WIRE_NODE_F_*); they travel with every later window. */
void gossip_set_self_flags(struct gossip_table *t, unsigned flags);

/* Add a node known from configuration or a HELLO (facts unknown: origin 0 = infinitely old),
 * or refresh its name/address. Returns 0 or -EINVAL. */
int gossip_know(struct gossip_table *t, int id, const char *name, const char *addr);

/*
 * Merge n received entries, each with its age in ms (age[i]), at time now. An entry replaces
 * ours if it is fresher and names the same node (an entry giving a known id another name is
 * ignored: ids are renamed only by the node's own HELLO); self is never replaced. Ids seen for the first time are written to
 * new_ids (up to cap). Returns the number of new ids (may exceed cap).
 */
int gossip_merge(struct gossip_table *t, const struct gossip_entry *in, const uint32_t *age,
		 size_t n, int64_t now, int *new_ids, int cap);

/* The window to send: up to max entries with known facts, freshest first (self first when
 * known), ages in age[]. Returns the count. */
size_t gossip_window(const struct gossip_table *t, int64_t now, struct gossip_entry *out,
		     uint32_t *age, size_t max);

/* Plan a round: push to a random id from up[0..n), and on every second round pull from the up
 * peer whose entry here is oldest. interval_ms > 0. */
void gossip_plan_round(struct gossip_table *t, const int *up, size_t n, int64_t now,
		       int64_t interval_ms, const struct gossip_rng *rng, struct gossip_plan *p);

/* Age in ms of id's facts at now, or -1 if never received. */
int64_t gossip_age(const struct gossip_table *t, int id, int64_t now);

/* Convert between a table entry with its age and the codec's load entry (pure). from_wire
 * validates id (1..511) and name ([a-z0-9-]{1,32}); returns 0 or SSI_E_BADFIELD. */
void gossip_to_wire(const struct gossip_entry *e, uint32_t age, struct wire_load_entry *w);
int gossip_from_wire(const struct wire_load_entry *w, struct gossip_entry *e, uint32_t *age);

#endif
