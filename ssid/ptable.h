/*
 * ptable.h - the cluster process table: one record per process as /proc shows it, one record
 * per node, a reader of this node's /proc, a bounded byte codec, and pure renderers of the
 * /proc text formats (per-process and global files) for /gproc.
 *
 * Owns: struct ptable and everything inside it. Does not own: transport (the daemon carries
 * encoded tables), FUSE (fuse/), node identity (callers pass node id and name).
 * Assumes: Linux /proc as of 6.x; Hz = sysconf(_SC_CLK_TCK); gpid = node_id << 22 | home_pid.
 * Nothing here logs, exits or asserts on input.
 */
#ifndef SSI_PTABLE_H
#define SSI_PTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "ssid/buf.h"

#define PTABLE_PID_BITS	   22 /* gpid = node_id << 22 | home pid */
#define PTABLE_PID_MASK	   ((1u << PTABLE_PID_BITS) - 1)
#define PTABLE_NODE_MAX	   511	   /* node ids are 1..511 */
#define PTABLE_MAX_NODES   512	   /* nodes in one table */
#define PTABLE_MAX_PROCS   1048576 /* processes in one table */
#define PTABLE_MAX_CPUS	   1024	   /* CPUs of one node */
#define PTABLE_COMM_MAX	   64	   /* comm incl. NUL (kernel: 16) */
#define PTABLE_NAME_MAX	   64	   /* node name incl. NUL */
#define PTABLE_MODEL_MAX   128	   /* CPU model name incl. NUL */
#define PTABLE_GROUPS_MAX  64	   /* supplementary groups kept (more are dropped) */
#define PTABLE_CMDLINE_MAX 4096	   /* cmdline bytes kept (longer is cut, like ps does) */
#define PTABLE_CGROUP_MAX  1024	   /* cgroup text bytes kept */
#define PTABLE_ENCODED_MAX (64u * 1024 * 1024) /* encoded table ceiling */
#define PTABLE_VERSION	   1

/* gpid of (node, local pid); 0 if pid is 0 or out of range. */
static inline uint32_t ptable_gpid(unsigned node_id, uint32_t pid)
{
	if (pid == 0 || pid > PTABLE_PID_MASK || node_id == 0 || node_id > PTABLE_NODE_MAX)
		return 0;
	return (uint32_t)node_id << PTABLE_PID_BITS | pid;
}

/* Memory-size fields of /proc/PID/status, in kB, in the kernel's order. */
enum ptable_vm {
	PTABLE_VM_PEAK,
	PTABLE_VM_SIZE,
	PTABLE_VM_LCK,
	PTABLE_VM_PIN,
	PTABLE_VM_HWM,
	PTABLE_VM_RSS,
	PTABLE_RSS_ANON,
	PTABLE_RSS_FILE,
	PTABLE_RSS_SHMEM,
	PTABLE_VM_DATA,
	PTABLE_VM_STK,
	PTABLE_VM_EXE,
	PTABLE_VM_LIB,
	PTABLE_VM_PTE,
	PTABLE_VM_SWAP,
	PTABLE_VM_N
};
/* The status key of v ("VmRSS"); NULL out of range. */
const char *ptable_vm_name(int v);

/* Signal masks of status. */
enum ptable_sig {
	PTABLE_SIG_PND,
	PTABLE_SIG_SHDPND,
	PTABLE_SIG_BLK,
	PTABLE_SIG_IGN,
	PTABLE_SIG_CGT,
	PTABLE_SIG_N
};

/* One process. ppid, pgrp, session and tpgid are gpids (0 if none, tpgid -1 if none). */
struct ptable_proc {
	uint32_t gpid;		 /* node_id << 22 | home pid; the directory name */
	uint16_t home;		 /* node id it was born on */
	uint16_t node;		 /* node id it runs on now */
	uint32_t pid;		 /* pid on the node it runs on now */
	uint32_t uid[4], gid[4]; /* real, effective, saved, fs (status order) */
	uint32_t ngroups;	 /* <= PTABLE_GROUPS_MAX */
	uint32_t groups[PTABLE_GROUPS_MAX];
	char comm[PTABLE_COMM_MAX];   /* NUL-terminated, may hold ')' or spaces */
	char state;		      /* R S D T t Z X I P ... */
	uint32_t ppid, pgrp, session; /* gpids */
	int32_t tty_nr;		      /* device number, 0 for none */
	int32_t tpgid;		      /* gpid of the tty's foreground group, -1 none */
	uint32_t flags;		      /* PF_* */
	uint64_t minflt, cminflt, majflt, cmajflt;
	uint64_t utime, stime;	/* ticks */
	int64_t cutime, cstime; /* ticks */
	int32_t priority, nice;
	uint32_t num_threads;
	uint64_t starttime; /* ticks since the boot of node `node` */
	uint64_t vsize;	    /* bytes */
	uint64_t rss;	    /* pages */
	uint64_t rsslim;    /* bytes */
	int32_t exit_signal;
	int32_t processor; /* CPU number on node `node` */
	uint32_t rt_priority, policy;
	uint64_t vm[PTABLE_VM_N];   /* kB, see enum ptable_vm */
	uint32_t sigq, sigq_max;    /* SigQ: queued/limit */
	uint64_t sig[PTABLE_SIG_N]; /* see enum ptable_sig */
	char *cmdline;		    /* cmdline_len bytes (NUL separated), owned; may be NULL */
	uint32_t cmdline_len;	    /* <= PTABLE_CMDLINE_MAX */
	char *cgroup;		    /* NUL-terminated /proc/PID/cgroup text, owned; may be NULL */
};

/* /proc/stat per-CPU fields: user nice system idle iowait irq softirq steal guest guest_nice. */
#define PTABLE_CPU_FIELDS 10

/* /proc/meminfo keys kept per node, in kB. */
enum ptable_mem {
	PTABLE_MEM_TOTAL,
	PTABLE_MEM_FREE,
	PTABLE_MEM_AVAILABLE,
	PTABLE_MEM_BUFFERS,
	PTABLE_MEM_CACHED,
	PTABLE_MEM_SWAPCACHED,
	PTABLE_MEM_ACTIVE,
	PTABLE_MEM_INACTIVE,
	PTABLE_MEM_SWAPTOTAL,
	PTABLE_MEM_SWAPFREE,
	PTABLE_MEM_DIRTY,
	PTABLE_MEM_SHMEM,
	PTABLE_MEM_SLAB,
	PTABLE_MEM_SRECLAIMABLE,
	PTABLE_MEM_SUNRECLAIM,
	PTABLE_MEM_COMMITLIMIT,
	PTABLE_MEM_COMMITTED_AS,
	PTABLE_MEM_N
};
/* The meminfo key of m ("MemTotal"); NULL out of range. */
const char *ptable_mem_name(int m);

enum ptable_node_state {
	PTABLE_NODE_UP,
	PTABLE_NODE_SUSPECT,
	PTABLE_NODE_DOWN
};
/* "up", "suspect", "down"; "unknown" otherwise. */
const char *ptable_node_state_name(int s);

/* One node. A down node keeps its last figures; its processes are not in the table. */
struct ptable_node {
	uint16_t id; /* 1..511 */
	char name[PTABLE_NAME_MAX];
	uint8_t state;	       /* enum ptable_node_state */
	uint32_t load;	       /* daemon load index; local: 1-min loadavg per CPU x 1000 */
	uint64_t btime;	       /* boot time, seconds since the epoch */
	uint64_t uptime_cs;    /* uptime in 1/100 s when sampled */
	uint32_t loadavg_c[3]; /* 1, 5, 15 min load x 100 */
	uint32_t nr_running, nr_threads, last_pid;
	uint64_t ctxt, processes, intr;
	uint32_t procs_running, procs_blocked;
	uint64_t mem[PTABLE_MEM_N];   /* kB, see enum ptable_mem */
	char model[PTABLE_MODEL_MAX]; /* CPU model name */
	uint32_t cpus;		      /* <= PTABLE_MAX_CPUS */
	uint64_t *cpu;		      /* cpus * PTABLE_CPU_FIELDS ticks, owned */
};

struct ptable {
	uint64_t taken_ms; /* realtime in ms when the table was assembled */
	uint32_t nnodes, nprocs;
	struct ptable_node *nodes; /* owned */
	struct ptable_proc *procs; /* owned, sorted by gpid after ptable_sort() */
	uint32_t cap_procs;	   /* allocated records */
};

/* Allocate an empty table; NULL and errno ENOMEM on failure. */
struct ptable *ptable_new(void);
/* Free t and everything it owns. NULL is fine. */
void ptable_free(struct ptable *t);
/* Append an empty node / process record; pointer valid until the next add; NULL + errno. */
struct ptable_node *ptable_add_node(struct ptable *t);
struct ptable_proc *ptable_add_proc(struct ptable *t);
/* Sort processes by gpid (needed by ptable_find). */
void ptable_sort(struct ptable *t);
/* Record with this gpid (binary search, table sorted), or NULL. */
const struct ptable_proc *ptable_find(const struct ptable *t, uint32_t gpid);
/* Node with this id / name, or NULL. */
const struct ptable_node *ptable_node_by_id(const struct ptable *t, unsigned id);
const struct ptable_node *ptable_node_by_name(const struct ptable *t, const char *name);
/* Smallest btime over the nodes that are not down (the cluster time base); 0 if none. */
uint64_t ptable_btime_cluster(const struct ptable *t);

/* Read this node's processes from procdir (normally "/proc") into t, as node_id. Processes that
 * vanish during the pass are skipped. Returns 0 or a negative errno (procdir unreadable). */
int ptable_read_local(struct ptable *t, const char *procdir, unsigned node_id);
/* Read one local process into *p (zeroed first; caller frees with ptable_proc_clear).
 * Returns 0, -ENOENT if it does not exist (any more), or another negative errno. */
int ptable_read_pid(const char *procdir, unsigned node_id, uint32_t pid, struct ptable_proc *p);
/* Free what *p owns and zero it. */
void ptable_proc_clear(struct ptable_proc *p);
/* Fill *n from procdir's stat, meminfo, loadavg, uptime, cpuinfo (id and name from the caller,
 * state up). n->cpu is allocated (free it with ptable_free of its table or free()). */
int ptable_read_node(struct ptable_node *n, const char *procdir, unsigned id, const char *name);

/* This node's whole table (node record + every process), taken now; taken_ms set. The daemon
 * serves it to peers and to the control socket. 0 or a negative code; *out freed by caller. */
int ptable_read_self(struct ptable **out, const char *procdir, unsigned id, const char *name);
/* Move every node and process of src into dst (sorted; src is left empty, still to be freed). Fails
 * with SSI_E_BADFIELD, dst unchanged, if a node id or name or a gpid would appear twice. */
int ptable_merge(struct ptable *dst, struct ptable *src);

/* Control-socket request the daemon answers with the cluster table (ctl.h framing): request
 * body empty; reply body = ptable_encode() of every up node's processes plus the node table of
 * all known nodes (down ones with state down and no processes). Any uid may ask. */
#define PTABLE_CTL_TYPE 40

/* Append the encoded table to out (magic, version, nodes, processes; big-endian). 0 or <0. */
int ptable_encode(const struct ptable *t, struct buf *out);
/* Decode one table from in (consumes it). Validates every length, count and string; a table
 * that is not well formed fails with SSI_E_* and *out stays NULL. On success *out is a new
 * sorted table the caller frees. */
int ptable_decode(struct buf *in, struct ptable **out);

/* Rendering context: what the /proc text depends on besides the record. */
struct ptable_rctx {
	const struct ptable *t; /* the table the record belongs to */
	unsigned local_node;	/* node the reader sits on: tty_nr of others shows 0 */
	uint64_t btime_cluster; /* ptable_btime_cluster(t) */
	long hz;		/* sysconf(_SC_CLK_TCK) */
	double uptime;		/* cluster uptime now, seconds (btime_cluster + uptime = now) */
};
/* Fill r for table t read on local_node. uptime is taken now (never cached): this machine's
 * CLOCK_BOOTTIME rebased from local_node's btime to btime_cluster, so btime_cluster + uptime =
 * now and local processes' elapsed times are exact; without local_node in t, realtime is used. */
void ptable_rctx_init(struct ptable_rctx *r, const struct ptable *t, unsigned local_node);
/* starttime of p in ticks since btime_cluster. */
uint64_t ptable_starttime(const struct ptable_rctx *r, const struct ptable_proc *p);

/* Per-process renderers: append the file's text to out; 0 or a negative code. */
int ptable_render_stat(const struct ptable_rctx *r, const struct ptable_proc *p, struct buf *out);
int ptable_render_status(const struct ptable_rctx *r, const struct ptable_proc *p, struct buf *out);
int ptable_render_statm(const struct ptable_rctx *r, const struct ptable_proc *p, struct buf *out);
int ptable_render_cmdline(const struct ptable_rctx *r, const struct ptable_proc *p,
			  struct buf *out);
int ptable_render_cgroup(const struct ptable_rctx *r, const struct ptable_proc *p, struct buf *out);

/* Global renderers over the nodes of r->t that are not down. */
int ptable_render_gstat(const struct ptable_rctx *r, struct buf *out);
int ptable_render_meminfo(const struct ptable_rctx *r, struct buf *out);
int ptable_render_loadavg(const struct ptable_rctx *r, struct buf *out);
int ptable_render_uptime(const struct ptable_rctx *r, struct buf *out);
int ptable_render_cpuinfo(const struct ptable_rctx *r, struct buf *out);
int ptable_render_pid_max(const struct ptable_rctx *r, struct buf *out);
/* nodes/<name>/{load,cpus,memory,state} of node n. */
int ptable_render_node_load(const struct ptable_node *n, struct buf *out);
int ptable_render_node_cpus(const struct ptable_node *n, struct buf *out);
int ptable_render_node_memory(const struct ptable_node *n, struct buf *out);
int ptable_render_node_state(const struct ptable_node *n, struct buf *out);

/* printf into out (used by the renderers; exported for gprocfs' small files). */
int ptable_printf(struct buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
