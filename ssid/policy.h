/*
 * policy.h - distributed scheduling: which running process should this node move, and where
 * (notes/load-balancing.md s4; docs/balancing.md).
 *
 * Owns: the preemptive balancing decision of one node for one interval, the migration cost
 * model C_mig, the EWMA of measured migration bandwidth and a small PRNG. Does not: sample
 * load (load.h computes the local/exported pair this takes as input), spread it (gossip.h),
 * place processes at start (place.h: its slowdown rule and constants are reused here), move
 * anything (the caller does), or probe the target (the target's admission judges, admit.h).
 * Pure: no I/O, no clock, no globals; randomness only from the caller's struct policy_rng,
 * so the same inputs and PRNG state give the same decisions (the daemon and ssi-sim run this
 * same code; a recorded input log replays to identical decisions).
 * Callers: ssid/balance.c (the daemon, once per [balance] interval_ms when enabled) and
 * tools/ssi-sim.
 *
 * Units. Times in ms of the caller's clock (now_ms, ages) or seconds where named _s. Load is
 * what place.h uses: run-queue length per CPU; S(n) = place_slowdown() is the expected slowdown
 * of one more process on n. On one reference CPU S is the number of processes there, so the
 * rules below read as the note writes them with n_src = S_src, n_dst + pending + 1 = S_dst.
 *
 * The rules, for a process p on this node (src) and a target dst:
 *   S_src = max(1, local_runq / cpus) / speed   local_runq from load.h's *local* value (rises
 *                                               slowly, falls at once: no move on a blip)
 *   L_dst = exported load of dst (rises at once, decays slowly), corrected for its age
 *           toward the table's mean: L + (mean - L) * (1 - exp(-age / (2 intervals)))
 *   S_dst = place_slowdown(dst with L_dst + pending_dst / cpus_dst)  (p itself counted)
 *   g     = S_src - S_dst                        the gain in p's slowdown
 *   hysteresis   g >= margin + 1 / (cpus_dst * speed_dst)   (1.3 on a reference CPU)
 *   cost         C_mig = c0 + dirty_bytes / B_eff + c_fd * nfds   (B_eff: EWMA, bytes/s)
 *   age gate     cpu_age(p) >= C_mig / g         (Harchol-Balter & Downey; g = n_src-n_dst-1)
 *   residency    a process that arrived by migration stays >= 2 * C_mig on this node
 *   memory       mem_free_dst - pending_mem - mem(p) >= mem_reserve
 *   candidates   dst up, not blocked, facts known and younger than stale_intervals intervals;
 *                2 drawn at random (3 when at least 3 are fresher than one interval), without
 *                replacement, weighted by free capacity
 *                speed * max(0.1, cpus * (1 - L) - pending)
 *   choice       among eligible (p, dst) pairs the largest expected gain cpu_age * g - C_mig
 *                (Pareto lifetimes: p is expected to run about as long again as it has);
 *                ties: the lower process id, then the target drawn first
 *   pacing       at most one outgoing move per interval (policy_state.last_move_ms)
 * I/O-heavy and immovable processes are never candidates.
 */
#ifndef SSI_POLICY_H
#define SSI_POLICY_H

#include <stddef.h>
#include <stdint.h>

#define POLICY_CHOICES		 2    /* random candidates drawn */
#define POLICY_CHOICES_FRESH	 3    /* ... when >= 3 candidates are fresher than one interval */
#define POLICY_AGE_TAU_INTERVALS 2.0  /* age correction time constant */
#define POLICY_RESIDENCY	 2.0  /* re-migration only after residency >= this x C_mig */
#define POLICY_BW_WEIGHT	 0.25 /* EWMA weight of one bandwidth measurement */
#define POLICY_WHY_MAX		 256

/* xoshiro256** state; seed with policy_rng_seed(). Plain data: copy it to fork a stream. */
struct policy_rng {
	uint64_t s[4];
};

void policy_rng_seed(struct policy_rng *r, uint64_t seed);
uint64_t policy_rng_next(struct policy_rng *r);
/* Uniform in [0, 1). */
double policy_rng_uniform(struct policy_rng *r);

struct policy_params {
	int64_t interval_ms;	 /* decision interval (1000); also the unit of ages below */
	double margin;		 /* hysteresis beyond one process's weight (PLACE_MARGIN) */
	int stale_intervals;	 /* older facts are dropped (PLACE_AGE_INTERVALS) */
	double c0_s;		 /* fixed cost of a migration: freeze, connect, restore */
	double c_fd_s;		 /* cost per open descriptor */
	uint64_t mem_reserve_kb; /* a target keeps at least this much available */
};

/* A node of the load table as this node sees it (self may be present; it is skipped). */
struct policy_node {
	int id;		      /* 1..511 */
	int up;		      /* membership says up */
	int blocked;	      /* its administrator blocks incoming processes */
	int64_t age_ms;	      /* age of its load facts; -1 = none yet */
	double load;	      /* exported load: run-queue length per CPU */
	uint32_t cpus;	      /* 0 = unknown (no candidate) */
	double speed;	      /* relative CPU speed; <= 0 taken as 1 */
	uint64_t mem_free_kb; /* MemAvailable */
	uint32_t pending;     /* arrivals reserved there and not yet arrived */
	uint64_t pending_kb;  /* their memory */
};

/* A process of this node's process table. */
struct policy_proc {
	uint64_t id;	      /* gpid (or the simulator's job id) */
	double cpu_age_s;     /* CPU time used so far */
	double residency_s;   /* time since it arrived on this node (or started here) */
	int migrated;	      /* 1: it arrived here by migration (the residency rule applies) */
	uint64_t dirty_bytes; /* bytes a migration must send */
	uint64_t mem_kb;      /* memory it needs at the destination */
	uint32_t nfds;	      /* open descriptors */
	int io_heavy;	      /* 1: mostly waiting on I/O here: never moved */
	int immovable;	      /* 1: cannot be moved (pinned, in a move already, ...) */
};

/* This node's own facts for one decision. */
struct policy_input {
	int64_t now_ms;
	int self;			 /* own node id */
	double local_runq;		 /* load.h local: smoothed run-queue length, processes */
	uint32_t cpus;			 /* >= 1 */
	double speed;			 /* <= 0 taken as 1 */
	const struct policy_node *nodes; /* the load table, nnodes entries */
	size_t nnodes;
	const struct policy_proc *procs; /* runnable processes here, nprocs entries */
	size_t nprocs;
};

/* What the policy remembers between decisions (the caller keeps it, policy_init fills it). */
struct policy_state {
	double bw_bps;	      /* B_eff: EWMA of measured migration bandwidth, bytes/s */
	int64_t last_move_ms; /* when the last outgoing move was decided; INT64_MIN: never */
};

struct policy_decision {
	int move;		  /* 1: move process `proc` from `from` to `to`; 0: nothing */
	uint64_t proc;		  /* process id (policy_proc.id) */
	int from, to;		  /* node ids */
	double s_src, s_dst;	  /* slowdowns as above */
	double cost_s;		  /* C_mig of the process */
	double gain;		  /* expected gain cpu_age * g - C_mig, seconds */
	char why[POLICY_WHY_MAX]; /* one line: the move and its reason, or why none */
};

/* Defaults: interval_ms, PLACE_MARGIN, PLACE_AGE_INTERVALS, c0 0.05 s, c_fd 1 ms, reserve. */
void policy_params_default(struct policy_params *p, int64_t interval_ms, uint64_t mem_reserve_kb);

/* Start the state with a bandwidth guess (bytes/s, > 0) and no move yet. */
void policy_init(struct policy_state *st, double bw_guess_bps);

/* Fold one measured migration (bytes sent in secs, both > 0) into B_eff. Others are ignored. */
void policy_note_transfer(struct policy_state *st, double bytes, double secs);

/* C_mig of pr in seconds with the current B_eff. */
double policy_cost(const struct policy_params *p, const struct policy_state *st,
		   const struct policy_proc *pr);

/*
 * One decision at in->now_ms. Returns 0 with d filled (d->move 0 or 1, d->why says why), or
 * -EINVAL on bad arguments (NULL, cpus 0, interval <= 0). A move sets st->last_move_ms, so a
 * second call within the same interval moves nothing. Consumes random numbers from rng only
 * when it draws candidates.
 */
int policy_decide(struct policy_state *st, const struct policy_params *p,
		  const struct policy_input *in, struct policy_rng *rng, struct policy_decision *d);

#endif
