/*
 * dbint.h - internals shared by the files of db/ (db.c, store.c, samples.c). Not for other
 * modules: they use db.h. Tests include it for the v1 schema text (upgrade test).
 *
 * Assumes one thread per handle (db.h). Prepared statements live in db->st[], created on
 * first use with SQLITE_PREPARE_PERSISTENT and reused until db_close().
 */
#ifndef SSI_DB_DBINT_H
#define SSI_DB_DBINT_H

#include <sqlite3.h>

#include "db/db.h"

#define DB_APPLICATION_ID  0x53534931 /* "SSI1" in the sqlite header: marks an ssi database */
#define DB_BUSY_TIMEOUT_MS 5000
#define DB_PRUNE_BATCH	   4096 /* rows one incremental prune step deletes at most */

/* The schema as version 1 created it, kept verbatim: upgrades start from it. */
extern const char db_schema_v1_sql[];

enum db_stmt_id {
	ST_NODE_PUT,
	ST_NODE_STATE,
	ST_NODE_SEEN,
	ST_NODE_GET,
	ST_NODE_DEL,
	ST_NODE_LIST,
	ST_NODE_NAME,
	ST_LOAD_ADD,
	ST_LOAD_LATEST,
	ST_LOAD_LIST,
	ST_LOAD_COUNT_NODE,
	ST_LOAD_COUNT_ALL,
	ST_LOAD_PRUNE_COUNT,
	ST_LOAD_PRUNE_AGE,
	ST_PROC_PUT,
	ST_PROC_GET,
	ST_PROC_DEL,
	ST_PROC_LIST,
	ST_MIG_START,
	ST_MIG_FINISH,
	ST_MIG_GET,
	ST_MIG_LIST,
	ST_MIG_LIST_GPID,
	ST_MIG_PENDING,
	ST_MIG_COUNT,
	ST_MIG_PRUNE,
	ST_MIG_REASON,
	ST_EVENT_ADD,
	ST_EVENT_LIST,
	ST_EVENT_COUNT,
	ST_EVENT_PRUNE_COUNT,
	ST_EVENT_PRUNE_AGE,
	ST__COUNT
};

struct db {
	sqlite3 *h;			    /* connection, opened NOMUTEX */
	char *path;			    /* as given to db_open, owned */
	char err[512];			    /* last failure, "" if none */
	int in_tx;			    /* 1 between db_tx_begin and commit/rollback */
	sqlite3_stmt *st[ST__COUNT];	    /* prepared on first use */
	struct db_retention ret;	    /* current bounds */
	uint32_t load_cnt[DB_NODE_MAX + 1]; /* samples per node (estimate, recounted on prune) */
	int64_t load_newest_ms;		    /* newest sample time seen, drives age pruning */
	int64_t load_next_age_ms;	    /* run the next age prune when newest reaches this */
	uint64_t event_cnt;		    /* rows in events (estimate, recounted on prune) */
	int64_t event_next_age_ms;	    /* as load_next_age_ms, for events */
	uint64_t mig_cnt;		    /* rows in migrations (estimate) */
};

/* Set db->err from a printf format (prefixed with the path) and return r. */
int db_seterr(struct db *db, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Record an sqlite failure of `step` (rc = sqlite result code) and return its mapped code:
 * SQLITE_CORRUPT/NOTADB -> SSI_E_CORRUPT, READONLY -> -EROFS, FULL -> -ENOSPC,
 * BUSY/LOCKED -> -EBUSY, NOMEM -> -ENOMEM, anything else SSI_E_DB. */
int db_sqlerr(struct db *db, int rc, const char *step);
/* The statement for id, prepared from sql on first use, else reset with cleared bindings.
 * NULL (db->err set) if preparing fails. */
sqlite3_stmt *db_stmt(struct db *db, enum db_stmt_id id, const char *sql);
/* Step a statement that returns no rows; reset it. 0 or mapped error. */
int db_exec_stmt(struct db *db, sqlite3_stmt *s, const char *step);
/* For writers that run several statements: a transaction, or a savepoint inside the
 * caller's. db_wend(own, r) commits/releases (r == 0) or rolls back, and returns r or the
 * commit's error; always pair them. */
int db_wbegin(struct db *db, int *own);
int db_wend(struct db *db, int own, int r);
/* Copy sqlite text column col into dst[cap] (truncating, always NUL-terminated). */
void db_col_text(sqlite3_stmt *s, int col, char *dst, size_t cap);
/* 0 if str is a NUL-terminated string shorter than cap (and non-empty if nonempty),
 * else db_seterr(-EINVAL) naming what. */
int db_check_str(struct db *db, const char *str, size_t cap, int nonempty, const char *what);
int db_check_node(struct db *db, int id, const char *what);
/* Grow *arr (elements of size sz) to hold at least want elements. 0 or -ENOMEM. */
int db_grow(struct db *db, void **arr, size_t *cap, size_t want, size_t sz);

/* a + b clamped to the int64 range (times come from callers; never overflow on them). */
static inline int64_t db_sat_add(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_add_overflow(a, b, &r))
		return b > 0 ? INT64_MAX : INT64_MIN;
	return r;
}

/* samples.c: per-handle retention state after open (counts, newest time). */
int db_load_init(struct db *db);
/* store.c: event/migration counts after open. */
int db_store_init(struct db *db);

#endif
