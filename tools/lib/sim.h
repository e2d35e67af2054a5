/*
 * sim.h - the discrete-event simulator behind ssi-sim: N nodes of k cores, each a
 * processor-sharing server, a Poisson stream of jobs, gossip of load facts with ages,
 * migrations that cost time, and one balancing policy per run (docs/balancing.md).
 *
 * Owns: one run of one policy at one load level, and its statistics. Does not: print, parse
 * options, or repeat runs (tools/ssi-sim.c does). The policy "ours" is ssid/policy.c, run
 * unchanged; placement at start ("ours+place") is ssid/place.c; load smoothing is
 * ssid/load.c's load_update(). Pure computation: no I/O, no clock, no globals; everything
 * random derives from the config's seed, and the job stream (arrival times, demands, sizes,
 * home nodes) and the gossip pattern are the same for every policy given the same seed
 * (common random numbers), so policies are compared on identical work.
 */
#ifndef SSI_SIM_H
#define SSI_SIM_H

#include <stddef.h>
#include <stdint.h>

enum sim_policy {
	SIM_NONE,	/* every job runs on its home node */
	SIM_RANDOM,	/* at arrival, above threshold: transfer to a random node */
	SIM_THRESHOLD,	/* at arrival, above threshold: probe Lp random nodes, first below T */
	SIM_MOSIX,	/* every interval: lowest (stale) remote load, 1.3 stabiliser */
	SIM_OURS,	/* every interval: ssid/policy.c */
	SIM_OURS_PLACE, /* ssid/place.c at arrival (grun --best) + ssid/policy.c */
	SIM_IDEAL,	/* all N*k cores pooled as one processor-sharing server, free moves */
	SIM_NPOLICIES
};

struct sim_config {
	int nodes;	   /* N >= 1 */
	int cores;	   /* k >= 1 per node */
	double rho;	   /* offered load per core, 0 < rho < 1.5 */
	double warmup_s;   /* jobs arriving earlier are not measured */
	double duration_s; /* measured arrivals: [warmup, warmup + duration) */
	uint64_t seed;	   /* everything random derives from it */
	double alpha;	   /* bounded Pareto CPU demand: shape, min, max (s) */
	double x_min_s, x_max_s;
	double mem_node_mb; /* memory of each node */
	double bw_mbps;	    /* migration bandwidth, MB/s (each move +-30% at random) */
	double c0_s;	    /* fixed cost of a move (also the whole cost of a move at start) */
	double interval_s;  /* balancing interval */
	double gossip_s;    /* gossip interval (+-20% jitter each round) */
	int threshold;	    /* T of random/threshold, processes per core (2) */
	int probes;	    /* Lp of threshold (3) */
	double margin;	    /* ours: policy_params.margin (PLACE_MARGIN) */
	int burst;	    /* 0, or this many jobs start at once on node 1 at the warm-up's end */
	double burst_cpu_s; /* CPU demand of each burst job (30 s) */
};

struct sim_result {
	size_t jobs;		 /* measured jobs (all finished) */
	double mean_slowdown;	 /* response time / CPU demand, mean over measured jobs */
	double p95_slowdown;	 /* 95th percentile */
	double mig_per_proc;	 /* moves (at start and preemptive) of measured jobs / jobs */
	double pingpong;	 /* moves of measured jobs back to the node they left last */
	uint64_t events;	 /* events processed */
	double burst_slowdown;	 /* burst jobs (not in the figures above): mean slowdown */
	double burst_makespan_s; /* burst start to its last job's end */
	double burst_moves;	 /* moves of burst jobs */
};

/* Defaults: 16 nodes x 1 core, rho 0.7, warm-up 200 s, 800 s measured, seed 1, alpha 1,
 * 10 ms .. 10^4 s, 4096 MB nodes, 100 MB/s, c0 0.05 s, interval 1 s, gossip 1 s, T 2, Lp 3,
 * no burst (30 s each when set). */
void sim_config_default(struct sim_config *c);

/* Policy names: "none", "random", "threshold", "mosix", "ours", "ours+place", "ideal". */
const char *sim_policy_name(enum sim_policy p);
/* The policy named s, or -1. */
int sim_policy_parse(const char *s);

/* Mean of the bounded Pareto demand of c. */
double sim_mean_demand(const struct sim_config *c);

/* Run policy p on c. Returns 0 with r filled, -EINVAL for a bad config, -ENOMEM. */
int sim_run(const struct sim_config *c, enum sim_policy p, struct sim_result *r);

#endif
