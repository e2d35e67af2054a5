/*
 * place.h - placement at start (grun --best): which node should a new process run on?
 *
 * Owns: the pure choice from a list of nodes with their gossiped load facts. Does not: read
 * the load table (the caller passes what `ssictl nodes` shows), move anything, or check the
 * destination's admission (the destination judges the offer itself: admit.h).
 * Pure: no I/O, no clock, no globals, no randomness; the same input gives the same answer.
 *
 * The rule (notes/load-balancing.md s1/s4; docs/ssid.md "Placement"):
 *   For a node n with exported load L (run-queue length per CPU, rises at once, decays
 *   slowly), c CPUs and relative speed s, the expected slowdown of one more process there is
 *       S(n) = max(1, (L*c + 1) / c) / s
 *   (1.0 = a whole reference CPU for it; 2.0 = it gets half of one).
 *   Candidates: the home node (always), and every other node that is up, not blocked by its
 *   administrator, has load facts younger than max_age_ms, a known CPU count, and at least
 *   min_free_kb of available memory.
 *   Hysteresis: the home node is kept unless the best candidate's S is lower than the
 *   home's by at least `margin` (PLACE_MARGIN, 0.3 of a reference CPU: MOSIX's 1.3-process
 *   rule scaled to the new process's share: one process for its own weight plus 0.3 for
 *   stale information and the cost of moving). So an idle remote node does not win over an
 *   idle home (both S = 1), nor over a home with a spare CPU; it wins over a home whose CPUs
 *   are all busy (S(home) >= 1.5 with 2 CPUs).
 *   Ties between remote nodes: lower S, then fresher facts, then the lower node id.
 * Herding (many processes placed at once on the same apparently idle node) is limited by the
 * destination's exported load rising at its next sample and being pushed at once (gossip.h).
 */
#ifndef SSI_PLACE_H
#define SSI_PLACE_H

#include <stddef.h>
#include <stdint.h>

#define PLACE_MARGIN	    0.3 /* hysteresis, in units of S (see above) */
#define PLACE_AGE_INTERVALS 5	/* facts older than this many gossip intervals are stale */
#define PLACE_WHY_MAX	    512

/* One node as the caller sees it. */
struct place_node {
	int id;		      /* 1..511 */
	char name[33];	      /* for the explanation */
	int self;	      /* 1: the home node (where the process starts) */
	int up;		      /* membership says up (self: 1) */
	int blocked;	      /* its administrator blocks incoming processes */
	int64_t age_ms;	      /* age of its load facts, -1 = none yet (ignored for self) */
	double load;	      /* exported load: run-queue length per CPU */
	uint32_t cpus;	      /* 0 = unknown */
	double speed;	      /* relative CPU speed; <= 0 = unknown, taken as 1 */
	uint64_t mem_free_kb; /* MemAvailable */
};

struct place_params {
	double margin;	      /* hysteresis (PLACE_MARGIN) */
	int64_t max_age_ms;   /* older facts make a node no candidate; <= 0: no limit */
	uint64_t min_free_kb; /* a candidate needs this much available memory */
};

struct place_result {
	int node;		 /* the chosen node id (the home's id when it stays home) */
	int home;		 /* the home's id */
	double s_home, s_node;	 /* S of the home and of the chosen node */
	char why[PLACE_WHY_MAX]; /* one line: what was chosen and why, nodes skipped */
};

/* Fill p with the defaults: PLACE_MARGIN, PLACE_AGE_INTERVALS * gossip_ms, min_free_kb. */
void place_params_default(struct place_params *p, int gossip_ms, uint64_t min_free_kb);

/* S(n) as defined above (cpus 0 is taken as 1). */
double place_slowdown(const struct place_node *n);

/*
 * Choose among v[0..n). Returns 0 with r filled (r->node == r->home when the process should
 * stay home), or -ENOENT when no entry is marked self (r->why says so), -EINVAL on bad
 * arguments (NULL, more than one self). Never fails for a lack of remote candidates: home
 * is always possible.
 */
int place_choose(const struct place_node *v, size_t n, const struct place_params *p,
		 struct place_result *r);

#endif
