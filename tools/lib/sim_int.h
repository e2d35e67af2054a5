/*
 * sim_int.h - the simulator's insides, shared by sim.c (engine) and sim_policy.c (the
 * policies' hooks). Not for other users: tools/ssi-sim.c includes sim.h only.
 */
#ifndef SSI_SIM_INT_H
#define SSI_SIM_INT_H

#include "tools/lib/sim.h"
#include "ssid/load.h"
#include "ssid/place.h"
#include "ssid/policy.h"

#define SIM_SAMPLE_S   0.25	      /* load sample period (the daemon's sample_ms) */
#define SIM_WINDOW     12	      /* gossip window (GOSSIP_WINDOW) */
#define SIM_RESERVE_KB (256ULL << 10) /* memory a target keeps free */

enum {
	SIM_EV_ARRIVAL,
	SIM_EV_BURST,
	SIM_EV_DONE,
	SIM_EV_MOVED,
	SIM_EV_SAMPLE,
	SIM_EV_GOSSIP,
	SIM_EV_TICK
};

struct sim_ev {
	double t;
	uint64_t seq;
	int type, node, aux; /* aux: the job of SIM_EV_MOVED */
	unsigned ver;	     /* SIM_EV_DONE: node's version when scheduled */
};

struct sim_job {
	double demand; /* CPU seconds */
	double tag;    /* node virtual time at which it is done; remaining while it moves */
	double arrive; /* arrival time */
	double since;  /* arrival on its current node */
	double mem_kb;
	double xfer_s; /* transfer part of its current move */
	uint32_t nfds;
	int node, prev, from; /* current node; node before it (-1); source of a move */
	int moves, pp;	      /* moves, moves back to the node it left last */
	int migrated;	      /* arrived by a preemptive move */
	int measured, running;
	int burst; /* one of the burst's jobs (counted apart) */
};

/* A node's view of another node (or its own entry). */
struct sim_entry {
	double origin; /* sim time the facts were sampled; -1: never heard of */
	double load;   /* exported load per core */
	double mem_free_kb;
	int pending; /* arrivals in flight to it, as it reported */
	int sent;    /* moves this node sent there after those facts were taken */
	double sent_kb, sent_at;
};

struct sim_node {
	int *run; /* jobs running here */
	size_t n, cap;
	double v, t_last; /* virtual time, when last advanced */
	unsigned ver;	  /* bumped at every re-timing of its completion */
	struct load_state ls;
	struct sim_entry *view; /* nn entries, indexed by node */
	int pending;		/* arrivals in flight to it */
	double pending_kb;
	double mem_used_kb; /* jobs here and arriving */
	unsigned round;	    /* gossip rounds */
	struct policy_state ps;
	struct policy_rng rng; /* this node's decisions */
};

struct sim {
	const struct sim_config *c;
	enum sim_policy pol;
	int nn, k; /* nodes and cores simulated (ideal: 1 x N*k) */
	double mem_kb;
	struct sim_node *node;
	struct sim_job *job;
	size_t capjob, nfree;
	int *freejob;
	struct sim_ev *heap;
	size_t nh, caph;
	uint64_t seq, events;
	struct policy_rng arr, gos, mig; /* job stream, gossip, move durations */
	double lambda, now, t_measured, t_stop;
	int live; /* arrivals and periodic events go on */
	size_t outstanding, nmeas;
	double *sd; /* slowdowns of finished measured jobs */
	size_t nsd, capsd;
	double moves, pp;
	double burst_start, burst_end, burst_sd, burst_moves;
	struct policy_params pp_params;
	int *scratch_idx;
	struct policy_node *pn;
	struct policy_proc *pr;
	size_t cappr;
	struct place_node *pl;
};

int sim_push(struct sim *s, double t, int type, int node, int aux, unsigned ver);
void sim_advance(struct sim *s, struct sim_node *x);
double sim_cpu_age(const struct sim *s, int j);
/* Move job j to node dst: running (preemptive, costs c0 + memory/bandwidth + fds) or at
 * start (costs c0). */
int sim_move(struct sim *s, int j, int dst, int running);

/* sim_policy.c: the hooks. sim_at_start returns 1 if it sent job j away from home, 0 if j
 * starts at home, or a negative code. */
int sim_uses_gossip(enum sim_policy p);
int sim_uses_tick(enum sim_policy p);
int sim_at_start(struct sim *s, int j, int home);
int sim_tick(struct sim *s, int i);

#endif
