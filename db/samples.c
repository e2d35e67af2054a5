/*
 * samples.c - load samples: append, query, and keep them bounded (db.h "load samples").
 *
 * Workload: a few samples per node per second from up to 511 nodes, for months. Retention is
 * incremental and amortised: per node, once its count passes max + max/16 the oldest rows
 * beyond max are deleted (one O(max) index walk per max/16 inserts); by age, once the newest
 * sample time has advanced by max_age/16 since the last pass, rows older than max_age are
 * deleted in batches of DB_PRUNE_BATCH per node. Freed pages are reused, so with bounded
 * rows the file stays bounded (the WAL is capped by journal_size_limit in db.c).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "db/dbint.h"
#include "ssid/ssierr.h"

#define LOAD_COLS "node_id, t, runq, cpu_use, mem_free, psi_cpu, load_local, load_export"

static void fill_load(void *v, sqlite3_stmt *s)
{
	struct db_load *l = v;

	l->node_id = sqlite3_column_int(s, 0);
	l->t_ms = sqlite3_column_int64(s, 1);
	l->runq = sqlite3_column_double(s, 2);
	l->cpu_use = sqlite3_column_double(s, 3);
	l->mem_free = (uint64_t)sqlite3_column_int64(s, 4);
	l->psi_cpu = sqlite3_column_double(s, 5);
	l->load_local = sqlite3_column_double(s, 6);
	l->load_export = sqlite3_column_double(s, 7);
}

static int count_node(struct db *db, int node_id, uint64_t *count)
{
	sqlite3_stmt *s;
	int rc;

	*count = 0;
	if (node_id)
		s = db_stmt(db, ST_LOAD_COUNT_NODE,
			    "SELECT count(*) FROM load_samples WHERE node_id = ?1");
	else
		s = db_stmt(db, ST_LOAD_COUNT_ALL, "SELECT count(*) FROM load_samples");
	if (!s)
		return SSI_E_DB;
	if (node_id)
		sqlite3_bind_int(s, 1, node_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*count = (uint64_t)sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : db_sqlerr(db, rc, "count load samples");
}

/* Keep the newest load_max_per_node samples of node n (at most a batch deleted per call). */
static int prune_count(struct db *db, int n)
{
	sqlite3_stmt *s;
	uint64_t cnt;
	int r;

	s = db_stmt(db, ST_LOAD_PRUNE_COUNT,
		    "DELETE FROM load_samples WHERE rowid IN (SELECT rowid FROM load_samples "
		    "WHERE node_id = ?1 ORDER BY t DESC, rowid DESC LIMIT ?3 OFFSET ?2)");
	if (!s)
		return SSI_E_DB;
	sqlite3_bind_int(s, 1, n);
	sqlite3_bind_int64(s, 2, db->ret.load_max_per_node);
	sqlite3_bind_int64(s, 3, DB_PRUNE_BATCH);
	if ((r = db_exec_stmt(db, s, "prune load samples")))
		return r;
	if ((r = count_node(db, n, &cnt)))
		return r;
	db->load_cnt[n] = cnt > UINT32_MAX ? UINT32_MAX : (uint32_t)cnt;
	return 0;
}

/* Delete samples older than newest - load_max_age_ms, a batch per node per pass. */
static int prune_age(struct db *db)
{
	int64_t cutoff = db_sat_add(db->load_newest_ms, -db->ret.load_max_age_ms);
	int full = 0;

	for (int n = DB_NODE_MIN; n <= DB_NODE_MAX; n++) {
		sqlite3_stmt *s;
		uint64_t gone;
		int r;

		if (!db->load_cnt[n])
			continue;
		s = db_stmt(db, ST_LOAD_PRUNE_AGE,
			    "DELETE FROM load_samples WHERE rowid IN (SELECT rowid FROM "
			    "load_samples WHERE node_id = ?1 AND t < ?2 LIMIT ?3)");
		if (!s)
			return SSI_E_DB;
		sqlite3_bind_int(s, 1, n);
		sqlite3_bind_int64(s, 2, cutoff);
		sqlite3_bind_int64(s, 3, DB_PRUNE_BATCH);
		if ((r = db_exec_stmt(db, s, "prune old load samples")))
			return r;
		gone = (uint64_t)sqlite3_changes(db->h);
		db->load_cnt[n] = gone >= db->load_cnt[n] ? 0 : db->load_cnt[n] - (uint32_t)gone;
		if (gone >= DB_PRUNE_BATCH)
			full = 1;
	}
	/* a full batch means more is left: go on at the next insert */
	db->load_next_age_ms = full ? db->load_newest_ms
				    : db_sat_add(db->load_newest_ms, db->ret.load_max_age_ms / 16);
	return 0;
}

static int check_load(struct db *db, const struct db_load *l)
{
	int r = db_check_node(db, l->node_id, "add load sample");

	if (r)
		return r;
	if (!isfinite(l->runq) || !isfinite(l->cpu_use) || !isfinite(l->psi_cpu) ||
	    !isfinite(l->load_local) || !isfinite(l->load_export))
		return db_seterr(db, -EINVAL, "add load sample of node %d: value not finite",
				 l->node_id);
	return 0;
}

static int insert_one(struct db *db, const struct db_load *l)
{
	sqlite3_stmt *s = db_stmt(db, ST_LOAD_ADD,
				  "INSERT INTO load_samples (" LOAD_COLS ") "
				  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
	uint32_t max = db->ret.load_max_per_node;
	int r;

	if (!s)
		return SSI_E_DB;
	sqlite3_bind_int(s, 1, l->node_id);
	sqlite3_bind_int64(s, 2, l->t_ms);
	sqlite3_bind_double(s, 3, l->runq);
	sqlite3_bind_double(s, 4, l->cpu_use);
	sqlite3_bind_int64(s, 5, (sqlite3_int64)l->mem_free);
	sqlite3_bind_double(s, 6, l->psi_cpu);
	sqlite3_bind_double(s, 7, l->load_local);
	sqlite3_bind_double(s, 8, l->load_export);
	if ((r = db_exec_stmt(db, s, "add load sample")))
		return r;
	if (db->load_cnt[l->node_id] < UINT32_MAX)
		db->load_cnt[l->node_id]++;
	if (l->t_ms > db->load_newest_ms)
		db->load_newest_ms = l->t_ms;
	if (max && db->load_cnt[l->node_id] > (uint64_t)max + max / 16)
		return prune_count(db, l->node_id);
	return 0;
}

int db_load_add_batch(struct db *db, const struct db_load *s, size_t n)
{
	uint32_t saved[DB_NODE_MAX + 1];
	int64_t saved_newest = db->load_newest_ms, saved_next = db->load_next_age_ms;
	int own, r;

	for (size_t i = 0; i < n; i++)
		if ((r = check_load(db, &s[i])))
			return r;
	if (n == 0)
		return 0;
	if ((r = db_wbegin(db, &own)))
		return r;
	memcpy(saved, db->load_cnt, sizeof(saved));
	for (size_t i = 0; i < n && r == 0; i++)
		r = insert_one(db, &s[i]);
	if (r == 0 && db->ret.load_max_age_ms && db->load_newest_ms >= db->load_next_age_ms)
		r = prune_age(db);
	r = db_wend(db, own, r);
	if (r) { /* rolled back: the counters go back with the rows */
		memcpy(db->load_cnt, saved, sizeof(saved));
		db->load_newest_ms = saved_newest;
		db->load_next_age_ms = saved_next;
	}
	return r;
}

int db_load_add(struct db *db, const struct db_load *s)
{
	return db_load_add_batch(db, s, 1);
}

int db_load_latest(struct db *db, int node_id, struct db_load *l)
{
	sqlite3_stmt *s;
	int rc, r;

	memset(l, 0, sizeof(*l));
	if ((r = db_check_node(db, node_id, "latest load sample")))
		return r;
	s = db_stmt(db, ST_LOAD_LATEST,
		    "SELECT " LOAD_COLS " FROM load_samples WHERE node_id = ?1 "
		    "ORDER BY t DESC, rowid DESC LIMIT 1");
	if (!s)
		return SSI_E_DB;
	sqlite3_bind_int(s, 1, node_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		fill_load(l, s);
	else if (rc == SQLITE_DONE)
		r = db_seterr(db, -ENOENT, "latest load sample: none for node %d", node_id);
	else
		r = db_sqlerr(db, rc, "latest load sample");
	sqlite3_reset(s);
	return r;
}

int db_load_list(struct db *db, int node_id, int64_t since_ms, size_t limit, struct db_load **out,
		 size_t *n)
{
	struct db_load *arr = NULL;
	size_t cap = 0, cnt = 0;
	sqlite3_stmt *s;
	int rc, r;

	*out = NULL;
	*n = 0;
	if ((r = db_check_node(db, node_id, "list load samples")))
		return r;
	if (limit == 0)
		return 0;
	s = db_stmt(db, ST_LOAD_LIST,
		    "SELECT " LOAD_COLS " FROM load_samples WHERE node_id = ?1 AND t >= ?2 "
		    "ORDER BY t DESC, rowid DESC LIMIT ?3");
	if (!s)
		return SSI_E_DB;
	sqlite3_bind_int(s, 1, node_id);
	sqlite3_bind_int64(s, 2, since_ms);
	sqlite3_bind_int64(s, 3, limit > INT64_MAX ? INT64_MAX : (sqlite3_int64)limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if ((r = db_grow(db, (void **)&arr, &cap, cnt + 1, sizeof(*arr))))
			break;
		fill_load(&arr[cnt++], s);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = db_sqlerr(db, rc, "list load samples");
	sqlite3_reset(s);
	if (r || cnt == 0) {
		free(arr);
		return r;
	}
	*out = arr;
	*n = cnt;
	return 0;
}

int db_load_count(struct db *db, int node_id, uint64_t *count)
{
	int r;

	*count = 0;
	if (node_id != 0 && (r = db_check_node(db, node_id, "count load samples")))
		return r;
	return count_node(db, node_id, count);
}

int db_load_init(struct db *db)
{
	sqlite3_stmt *s = NULL;
	int rc;

	rc = sqlite3_prepare_v2(
		db->h, "SELECT node_id, count(*), max(t) FROM load_samples GROUP BY node_id", -1,
		&s, NULL);
	db->load_newest_ms = INT64_MIN;
	while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		int n = sqlite3_column_int(s, 0);
		int64_t c = sqlite3_column_int64(s, 1), t = sqlite3_column_int64(s, 2);

		if (n >= DB_NODE_MIN && n <= DB_NODE_MAX)
			db->load_cnt[n] = c > UINT32_MAX ? UINT32_MAX : (uint32_t)c;
		if (t > db->load_newest_ms)
			db->load_newest_ms = t;
		rc = SQLITE_OK;
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE && rc != SQLITE_OK)
		return db_sqlerr(db, rc, "count load samples");
	return 0;
}
