/*
 * gtop_model.h - what gtop shows, computed from data: one row per node (state, CPUs, load,
 * CPU%, memory, processes, guests, away), cluster totals, the processes ranked by CPU, and
 * the sort orders of the node rows.
 *
 * Pure: no I/O, no clock, no globals. Inputs are a cluster table (ssid/ptable.h), optionally
 * the table of the previous frame (for CPU% from tick deltas) and the daemon's node list
 * (ssid/client.h client_nodes: its load index, usable CPUs, CPU use). Does not own those
 * inputs; the screen and text formats are gtop.c's.
 */
#ifndef SSI_GTOP_MODEL_H
#define SSI_GTOP_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "ssid/client.h"
#include "ssid/ptable.h"

/* One node. Figures that cannot be known (a down node, no previous frame) are negative. */
struct gtop_node {
	unsigned id; /* 1..511 */
	char name[PTABLE_NAME_MAX];
	int state;	       /* enum ptable_node_state */
	uint32_t cpus;	       /* usable CPUs: the daemon's count, else the table's; 0 unknown */
	double load;	       /* per CPU: the daemon's load index, else 1-min loadavg / cpus; <0 */
	double cpu_pct;	       /* busy share of the node's CPUs, 0..100, kernel ticks; <0 */
	double proc_pct;       /* CPU used by the processes running there, % of cpus; <0 */
	uint64_t mem_used_kb;  /* total - available */
	uint64_t mem_total_kb; /* 0 unknown */
	uint32_t procs;	       /* processes running there */
	uint32_t guests;       /* ... of them born on another node */
	uint32_t away;	       /* processes born here that run on another node */
};

/* The cluster: sums over the nodes that are not down (load and CPU% weighted by CPUs). */
struct gtop_totals {
	uint32_t nodes, nodes_up; /* known / not down */
	uint32_t cpus;
	double load;	/* per CPU over the cluster; <0 when no node has a figure */
	double cpu_pct; /* <0 likewise */
	uint64_t mem_used_kb, mem_total_kb;
	uint32_t procs;
	uint32_t away; /* processes running away from their home node */
};

/* One process with its CPU share over the last interval. */
struct gtop_proc {
	const struct ptable_proc *p; /* into the current table: valid while that table lives */
	double pct;		     /* % of one CPU since the previous frame; <0 unknown */
	uint64_t ticks;		     /* utime + stime since start */
};

enum gtop_sort {
	GTOP_SORT_NODE,	  /* by id */
	GTOP_SORT_LOAD,	  /* highest load first */
	GTOP_SORT_CPU,	  /* highest CPU% first */
	GTOP_SORT_MEM,	  /* highest used/total first */
	GTOP_SORT_GUESTS, /* most guests first */
	GTOP_SORT_N
};

struct gtop_model {
	struct gtop_node *nodes; /* owned, nnodes rows, by id until gtop_model_sort */
	size_t nnodes;
	struct gtop_proc *procs; /* owned, every process of the table, by CPU (highest first) */
	size_t nprocs;
	struct gtop_totals tot;
};

/*
 * Build *m (zeroed first) from cur. prev: the previous frame's table or NULL; CPU% (node and
 * process) needs it and the node's uptime having advanced between the two. cn/ncn: the
 * daemon's node list or NULL/0; a node it knows but the table lacks gets a row too. hz: clock
 * ticks per second (sysconf(_SC_CLK_TCK)). Returns 0 or -ENOMEM (m then holds nothing).
 * m->procs point into cur: keep cur alive while they are used.
 */
int gtop_model_build(struct gtop_model *m, const struct ptable *cur, const struct ptable *prev,
		     const struct client_node *cn, size_t ncn, long hz);
/* Free what m owns and zero it. Safe on a zeroed model. */
void gtop_model_clear(struct gtop_model *m);

/* Reorder m->nodes by key (ties by id). An out-of-range key sorts by id. */
void gtop_model_sort(struct gtop_model *m, int key);
/* The row of node id, or NULL. */
const struct gtop_node *gtop_model_node(const struct gtop_model *m, unsigned id);
/* "node", "load", "cpu", "mem", "guests"; "?" out of range. Static string. */
const char *gtop_sort_name(int key);
/* Parse a sort name; 0 or -EINVAL. */
int gtop_sort_parse(const char *s, int *key);

#endif
