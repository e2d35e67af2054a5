/*
 * load.h - this node's load: sampling from /proc and the smoothed local/exported pair.
 *
 * Owns: reading run-queue length (tasks in state R in this node's /proc, the daemon's own
 * tasks and its helper processes - children named ssid-* - excluded), CPU use (/proc/stat deltas), MemTotal/MemAvailable, PSI cpu "some avg10"
 * (the node's cgroup cpu.pressure, else /proc/pressure/cpu), CPUs usable (affinity) and a
 * relative speed measured once. The smoothing is pure (load_update). In the lab each node has
 * its own PID namespace and /proc, so run queues are per node; /proc/stat and meminfo are the
 * host's. Does not log; int functions return 0 or a negative errno.
 */
#ifndef SSI_LOAD_H
#define SSI_LOAD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LOAD_WINDOW 4 /* samples averaged before smoothing (1 s at sample_ms 250) */

/* One raw sample. */
struct load_raw {
	double runq;	   /* tasks in state R */
	uint64_t cpu_busy; /* jiffies, all CPUs, since boot */
	uint64_t cpu_total;
	uint64_t mem_total_kb;
	uint64_t mem_avail_kb;
	double psi_cpu; /* some avg10, percent; 0 if PSI is unavailable */
};

/* The smoothed state, updated once per sample. */
struct load_state {
	double win[LOAD_WINDOW]; /* last run-queue samples */
	int nwin, pos;
	double runq_avg; /* mean of win */
	double local;	 /* rises slowly (tau LOAD_TAU_RISE_S), falls at once */
	double exported; /* rises at once, decays slowly (tau LOAD_TAU_DECAY_S) */
	double cpu_use;	 /* busy fraction between the last two samples, 0..1 */
	uint64_t prev_busy, prev_total;
	int have_prev;
};

#define LOAD_TAU_RISE_S	 2.0
#define LOAD_TAU_DECAY_S 3.0

/* Read one sample from proc_root ("/proc"), not counting tasks of process exclude (0: none).
 * PSI comes from cgroup_root ("/sys/fs/cgroup") for this process's cgroup if readable. */
int load_read(const char *proc_root, const char *cgroup_root, pid_t exclude, struct load_raw *r);

/* Fold sample r taken dt_s seconds after the previous one into s (pure). */
void load_update(struct load_state *s, const struct load_raw *r, double dt_s);

/* Parsers of the /proc texts (pure; for tests). Return 0 or -EINVAL. */
int load_parse_meminfo(const char *text, uint64_t *total_kb, uint64_t *avail_kb);
int load_parse_psi(const char *text, double *some_avg10);
int load_parse_stat_cpu(const char *text, uint64_t *busy, uint64_t *total);
/* State letter of a /proc/PID/stat line (after the last ')'), or 0 if malformed. */
char load_parse_task_state(const char *statline);

/* CPUs this process may run on (affinity mask), >= 1. */
int load_cpus(void);
/* Relative CPU speed: a fixed integer loop timed once against the reference machine's time
 * (1.0 = the reference; see load.c). Takes ~20 ms. */
double load_measure_speed(void);

#endif
