/*
 * db.h - the sqlite store of one node (/var/lib/ssid/ssid.db): nodes, load samples, processes
 * away from home or visiting, migrations, events. The only place in ssi that speaks SQL.
 *
 * Owns: schema, schema upgrades (PRAGMA user_version), retention of load samples, events and
 * finished migrations, the prepared statements of a handle. Does not own: the clock (every
 * time is int64 milliseconds since the epoch passed in by the caller), logging (errors come
 * back as codes plus a message), policy about what to store.
 *
 * Threads: a handle is used by one thread at a time (no locking inside: hold your own lock to
 * share it between threads; the sqlite connection is opened NOMUTEX). Several handles
 * (processes) may open the same file; sqlite's busy timeout (5 s) arbitrates between them. Only one of them should write load samples (the
 * per-node retention counters are per handle; a second writer only makes pruning late).
 *
 * Return rule: int functions return 0 or a negative code (ssid/ssierr.h): -EINVAL for bad
 * arguments (node id out of 1..511, string too long), -ENOENT for a missing row, -ENOMEM,
 * SSI_E_DB for an sqlite failure, SSI_E_NEWER_SCHEMA / SSI_E_CORRUPT / -EROFS / -EACCES from
 * db_open. After any failure db_errmsg() says what failed, naming the file and the step.
 *
 * Durability: WAL mode with synchronous=FULL: a function that returned 0 outside a
 * transaction has its change on disk (fsync'd), which the migration commit relies on. Group
 * frequent writes (load samples) with db_load_add_batch() or db_tx_begin()/db_tx_commit().
 */
#ifndef SSI_DB_H
#define SSI_DB_H

#include <stddef.h>
#include <stdint.h>

#define DB_SCHEMA_VERSION 3 /* the schema this build writes; older files are upgraded */

#define DB_NODE_MIN	1
#define DB_NODE_MAX	511
#define DB_NAME_MAX	33   /* node name incl. NUL ([a-z0-9-]{1,32}) */
#define DB_ADDR_MAX	64   /* "host:port" incl. NUL */
#define DB_KERNEL_MAX	65   /* uname release incl. NUL */
#define DB_CPUFLAGS_MAX 2048 /* /proc/cpuinfo "flags" line incl. NUL */
#define DB_CMD_MAX	256  /* command line (args joined by spaces) incl. NUL */
#define DB_KIND_MAX	32   /* event kind incl. NUL */
#define DB_TEXT_MAX	512  /* event text, migration error text incl. NUL */

struct db; /* opaque handle */

/*
 * Open (creating if absent) the store at path, in WAL mode, and upgrade its schema to
 * DB_SCHEMA_VERSION. The directory must exist and be writable (WAL needs -wal and -shm
 * files beside the database). On success *out is a handle to close with db_close().
 * On failure *out is NULL, the return is negative, and err (if errlen > 0) holds one line
 * naming the file, what is wrong and what to do, e.g.
 *   "/var/lib/ssid/ssid.db: written by a newer ssi (schema 7, this build knows 2): upgrade
 *    ssi or move the file away"
 * Codes: SSI_E_NEWER_SCHEMA (newer file), SSI_E_CORRUPT (not a database, garbled, or another
 * program's sqlite file), -EROFS/-EACCES (cannot write the file or its directory), -ENOENT
 * (directory missing), SSI_E_DB (other sqlite failure), -ENOMEM.
 */
int db_open(struct db **out, const char *path, char *err, size_t errlen);

/* Finalize statements and close. Safe with NULL. Checkpoints the WAL (best effort). */
void db_close(struct db *db);

/* Text of the last failure on this handle ("" if none). Valid until the next call on db. */
const char *db_errmsg(const struct db *db);

/* The path the handle was opened with. Lives as long as the handle. */
const char *db_path(const struct db *db);

/* Group writes in one transaction (one fsync). Nesting is -EBUSY. db_tx_rollback is
 * best effort and safe to call when no transaction is open. */
int db_tx_begin(struct db *db);
int db_tx_commit(struct db *db);
void db_tx_rollback(struct db *db);

/* ------------------------------------------------------------------ retention */

/* Bounds on what the store keeps. Pruning is incremental: it runs inside the insert calls in
 * small steps, so no single call stalls; the bounds hold within a slack of 1/16. */
struct db_retention {
	int64_t load_max_age_ms; /* drop samples older than newest-seen-time - this (default 24 h) */
	uint32_t load_max_per_node; /* keep at most this many samples per node (default 3600) */
	int64_t event_max_age_ms;   /* default 30 days */
	uint32_t event_max_rows;    /* default 100000 */
	uint32_t mig_max_rows; /* finished migrations kept (pending ones never), default 10000 */
};
/* Fill r with the defaults above. */
void db_retention_default(struct db_retention *r);
/* Replace the handle's bounds (copied). Zero fields mean "no bound of that kind" but at least
 * one of load_max_age_ms/load_max_per_node and event_max_age_ms/event_max_rows must be set. */
int db_set_retention(struct db *db, const struct db_retention *r);

/* ------------------------------------------------------------------ nodes */

enum db_node_state {
	DB_NODE_UP = 0,
	DB_NODE_SUSPECT = 1,
	DB_NODE_DOWN = 2,
};
/* "up", "suspect", "down"; "?" for anything else. Static string. */
const char *db_node_state_str(int state);

struct db_node {
	int id;				 /* 1..511 */
	char name[DB_NAME_MAX];		 /* unique among nodes */
	char addr[DB_ADDR_MAX];		 /* "host:port" of its SSH server, may be "" */
	int state;			 /* enum db_node_state */
	int64_t state_since_ms;		 /* when state last changed */
	int64_t last_seen_ms;		 /* last heartbeat or message, 0 = never */
	int cpus;			 /* online CPUs, 0 = unknown */
	double speed;			 /* relative CPU speed, 1.0 = reference node */
	uint64_t mem_total;		 /* bytes */
	char kernel[DB_KERNEL_MAX];	 /* uname -r */
	char cpu_flags[DB_CPUFLAGS_MAX]; /* space-separated, as in /proc/cpuinfo */
};

/* Insert or replace the node with n->id (all fields). A different id already holding
 * n->name is -EEXIST. */
int db_node_put(struct db *db, const struct db_node *n);
/* Change only state and state_since_ms. -ENOENT if unknown. */
int db_node_set_state(struct db *db, int id, int state, int64_t since_ms);
/* Change only last_seen_ms. -ENOENT if unknown. */
int db_node_seen(struct db *db, int id, int64_t t_ms);
/* Fill *n (zeroed first). -ENOENT if unknown. */
int db_node_get(struct db *db, int id, struct db_node *n);
/* Delete node id (its load samples stay until retention drops them). -ENOENT if unknown. */
int db_node_del(struct db *db, int id);
/* All nodes by id. *out is malloc'd (caller free()s; NULL when *n == 0). */
int db_node_list(struct db *db, struct db_node **out, size_t *n);

/* ------------------------------------------------------------------ load samples */

struct db_load {
	int node_id;	    /* 1..511 */
	int64_t t_ms;	    /* sample time */
	double runq;	    /* run-queue length (runnable tasks), averaged over the interval */
	double cpu_use;	    /* busy fraction of all CPUs, 0..1 */
	uint64_t mem_free;  /* bytes available (MemAvailable) */
	double psi_cpu;	    /* PSI cpu "some" avg10, percent 0..100 */
	double load_local;  /* smoothed local load (rises slowly, falls fast) */
	double load_export; /* smoothed exported load (rises fast, decays slowly) */
};

/* Append one sample (then prune incrementally). Samples of one node may share a t_ms. */
int db_load_add(struct db *db, const struct db_load *s);
/* Append n samples in one transaction (or inside the caller's open one). All or nothing. */
int db_load_add_batch(struct db *db, const struct db_load *s, size_t n);
/* Newest sample of node_id. -ENOENT if none. */
int db_load_latest(struct db *db, int node_id, struct db_load *s);
/* Samples of node_id with t_ms >= since_ms, newest first, at most limit (0 = none).
 * *out is malloc'd (caller free()s; NULL when *n == 0). */
int db_load_list(struct db *db, int node_id, int64_t since_ms, size_t limit, struct db_load **out,
		 size_t *n);
/* Number of stored samples; node_id 0 = all nodes. */
int db_load_count(struct db *db, int node_id, uint64_t *count);

/* ------------------------------------------------------------------ processes */

/* Only processes of interest to this node are stored: ours running elsewhere (home == self,
 * node != self) and guests (node == self, home != self). The caller decides; the store
 * keeps whatever it is given, keyed by gpid. */
enum db_proc_state {
	DB_PROC_RUNNING = 0,   /* runs on node */
	DB_PROC_MIGRATING = 1, /* a migration (mig_id) is in flight; node is still the source */
	DB_PROC_LOST = 2,      /* the node holding the only copy died */
	DB_PROC_EXITED = 3,    /* ended; kept until the caller deletes it */
};
/* "running", "migrating", "lost", "exited"; "?" otherwise. Static string. */
const char *db_proc_state_str(int state);

struct db_proc {
	uint32_t gpid; /* node_id << 22 | home_pid, never 0 */
	int home_node; /* 1..511, where it was born (gpid >> 22) */
	int node;      /* 1..511, where it runs now */
	uint32_t uid;
	char cmd[DB_CMD_MAX];
	int state;	  /* enum db_proc_state */
	int64_t since_ms; /* when state or node last changed */
	int64_t mig_id;	  /* MIGRATING: the move in flight; RUNNING: the move that committed
			   * it to node, 0 if none (ssid/mig_adopt.c after a restart) (schema 2) */
};

/* Insert or replace the record of p->gpid. */
int db_proc_put(struct db *db, const struct db_proc *p);
/* -ENOENT if unknown. */
int db_proc_get(struct db *db, uint32_t gpid, struct db_proc *p);
int db_proc_del(struct db *db, uint32_t gpid);

enum db_proc_filter {
	DB_PROC_ALL = 0,
	DB_PROC_AWAY = 1,     /* home_node == self && node != self */
	DB_PROC_VISITING = 2, /* node == self && home_node != self */
};
/* Records matching filter (self = this node's id; ignored for DB_PROC_ALL), by gpid.
 * *out is malloc'd (caller free()s; NULL when *n == 0). */
int db_proc_list(struct db *db, int filter, int self, struct db_proc **out, size_t *n);

/* ------------------------------------------------------------------ migrations */

enum db_mig_outcome {
	DB_MIG_PENDING = 0, /* started, not finished */
	DB_MIG_OK = 1,	    /* committed at the destination */
	DB_MIG_FAILED = 2,  /* aborted; the process stayed (or went back) at the source */
	DB_MIG_LOST = 3,    /* a node holding the only copy died */
};
/* "pending", "ok", "failed", "lost"; "?" otherwise. Static string. */
const char *db_mig_outcome_str(int outcome);

struct db_mig {
	int64_t id; /* assigned by db_mig_start, > 0 */
	uint32_t gpid;
	int from_node;	   /* 1..511 */
	int to_node;	   /* 1..511 */
	int64_t start_ms;  /* when it started */
	int64_t end_ms;	   /* when it finished, 0 while pending */
	int64_t freeze_ms; /* durations, -1 = step not reached */
	int64_t transfer_ms;
	int64_t restore_ms;
	uint64_t bytes;		  /* image bytes sent */
	int outcome;		  /* enum db_mig_outcome */
	char error[DB_TEXT_MAX];  /* why it failed, "" if ok */
	char reason[DB_TEXT_MAX]; /* who asked and why: "" = by hand (gmigrate, grun -n);
				   * "auto: ..." = the balancer (ssid/balance.h); schema 3 */
};

/* Record a migration that starts now (pending, durations -1, bytes 0). *id gets its id. */
int db_mig_start(struct db *db, uint32_t gpid, int from_node, int to_node, int64_t start_ms,
		 int64_t *id);
/* Record the end of migration m->id: end_ms, freeze/transfer/restore_ms, bytes, outcome,
 * error (other fields ignored). -ENOENT if unknown. May be called again (last call wins). */
int db_mig_finish(struct db *db, const struct db_mig *m);
/* Set migration id's reason (db_mig.reason, < DB_TEXT_MAX bytes). 0, -ENOENT if unknown. */
int db_mig_set_reason(struct db *db, int64_t id, const char *reason);
/* -ENOENT if unknown. */
int db_mig_get(struct db *db, int64_t id, struct db_mig *m);
/* Newest first (by start_ms, then id), at most limit; gpid 0 = every process.
 * *out is malloc'd (caller free()s; NULL when *n == 0). */
int db_mig_list(struct db *db, uint32_t gpid, size_t limit, struct db_mig **out, size_t *n);
/* Migrations still pending (e.g. after a crash, to resolve them), oldest first. */
int db_mig_pending(struct db *db, struct db_mig **out, size_t *n);

/* ------------------------------------------------------------------ events */

struct db_event {
	int64_t id; /* increasing in insertion order, > 0 */
	int64_t t_ms;
	int node_id;		/* the node it concerns, 0 = none */
	char kind[DB_KIND_MAX]; /* short tag, e.g. "auth-refused", "node-down", "migration" */
	char text[DB_TEXT_MAX]; /* one human line */
};

/* Append an event (then prune incrementally). kind non-empty; kind/text too long: -EINVAL.
 * *id (may be NULL) gets its id. */
int db_event_add(struct db *db, int64_t t_ms, int node_id, const char *kind, const char *text,
		 int64_t *id);
/* The newest `limit` events with t_ms >= since_ms and id > after_id, returned oldest first
 * (like tail; pass the last id seen as after_id to follow). *out is malloc'd (caller
 * free()s; NULL when *n == 0). */
int db_event_list(struct db *db, int64_t since_ms, int64_t after_id, size_t limit,
		  struct db_event **out, size_t *n);
/* Number of stored events. */
int db_event_count(struct db *db, uint64_t *count);

/* ------------------------------------------------------------------ node policy */

/* What this node's administrator decided (ssictl block/unblock); survives restarts. */
struct db_policy {
	int blocked;	  /* 1: this node accepts no incoming processes */
	int64_t since_ms; /* when it was last changed, 0 = never */
	uint32_t by_uid;  /* who changed it */
};
/* Fill *p; a store where it was never set gives all zeros (not blocked) and returns 0. */
int db_policy_get(struct db *db, struct db_policy *p);
/* Replace the policy (durable when it returns 0 outside a transaction). */
int db_policy_put(struct db *db, const struct db_policy *p);

#endif
