/*
 * store.c - typed operations on nodes, processes, migrations and events (db.h).
 *
 * Owns the SQL of those tables and the retention of events and finished migrations. Does
 * not own load samples (samples.c) or opening (db.c). Each statement is prepared once per
 * handle (db_stmt) and reused. Lists are returned as malloc'd arrays the caller frees.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "db/dbint.h"
#include "ssid/ssierr.h"

#define NODE_COLS                                                                                  \
	"id, name, addr, state, state_since, last_seen, cpus, speed, mem_total, kernel, "          \
	"cpu_flags"
#define PROC_COLS "gpid, home_node, node, uid, cmd, state, since, mig_id"
#define MIG_COLS                                                                                   \
	"id, gpid, from_node, to_node, start_t, end_t, freeze_ms, transfer_ms, restore_ms, "       \
	"bytes, outcome, error, reason"

const char *db_node_state_str(int state)
{
	static const char *const s[] = {"up", "suspect", "down"};

	return state >= 0 && state <= DB_NODE_DOWN ? s[state] : "?";
}

const char *db_proc_state_str(int state)
{
	static const char *const s[] = {"running", "migrating", "lost", "exited"};

	return state >= 0 && state <= DB_PROC_EXITED ? s[state] : "?";
}

const char *db_mig_outcome_str(int outcome)
{
	static const char *const s[] = {"pending", "ok", "failed", "lost"};

	return outcome >= 0 && outcome <= DB_MIG_LOST ? s[outcome] : "?";
}

/* Step s expecting one row; -ENOENT (with message) when there is none. Leaves s on the row. */
static int step_one(struct db *db, sqlite3_stmt *s, const char *step, const char *what)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return db_seterr(db, -ENOENT, "%s: no %s", step, what);
	return db_sqlerr(db, rc, step);
}

/* Run s after binding; -ENOENT if it changed no row. */
static int exec_changed(struct db *db, sqlite3_stmt *s, const char *step, const char *what)
{
	int r = db_exec_stmt(db, s, step);

	if (r == 0 && sqlite3_changes(db->h) == 0)
		return db_seterr(db, -ENOENT, "%s: no %s", step, what);
	return r;
}

/* Collect every row of s through fill(row, s) into a malloc'd array. */
static int collect(struct db *db, sqlite3_stmt *s, size_t sz, void (*fill)(void *, sqlite3_stmt *),
		   const char *step, void **out, size_t *n)
{
	void *arr = NULL;
	size_t cap = 0, cnt = 0;
	int rc, r = 0;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		r = db_grow(db, &arr, &cap, cnt + 1, sz);
		if (r)
			break;
		memset((char *)arr + cnt * sz, 0, sz);
		fill((char *)arr + cnt * sz, s);
		cnt++;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = db_sqlerr(db, rc, step);
	sqlite3_reset(s);
	if (r) {
		free(arr);
		arr = NULL;
		cnt = 0;
	}
	*out = cnt ? arr : NULL;
	if (!cnt)
		free(arr);
	*n = cnt;
	return r;
}

static int count_rows(struct db *db, enum db_stmt_id id, const char *sql, uint64_t *cnt);

/* ------------------------------------------------------------------ nodes */

static void fill_node(void *p, sqlite3_stmt *s)
{
	struct db_node *n = p;

	n->id = sqlite3_column_int(s, 0);
	db_col_text(s, 1, n->name, sizeof(n->name));
	db_col_text(s, 2, n->addr, sizeof(n->addr));
	n->state = sqlite3_column_int(s, 3);
	n->state_since_ms = sqlite3_column_int64(s, 4);
	n->last_seen_ms = sqlite3_column_int64(s, 5);
	n->cpus = sqlite3_column_int(s, 6);
	n->speed = sqlite3_column_double(s, 7);
	n->mem_total = (uint64_t)sqlite3_column_int64(s, 8);
	db_col_text(s, 9, n->kernel, sizeof(n->kernel));
	db_col_text(s, 10, n->cpu_flags, sizeof(n->cpu_flags));
}

static int check_node_state(struct db *db, int state, const char *step)
{
	if (state < DB_NODE_UP || state > DB_NODE_DOWN)
		return db_seterr(db, -EINVAL, "%s: bad node state %d", step, state);
	return 0;
}

int db_node_put(struct db *db, const struct db_node *n)
{
	sqlite3_stmt *s;
	int r;

	if ((r = db_check_node(db, n->id, "store node")) ||
	    (r = db_check_str(db, n->name, sizeof(n->name), 1, "node name")) ||
	    (r = db_check_str(db, n->addr, sizeof(n->addr), 0, "node address")) ||
	    (r = db_check_str(db, n->kernel, sizeof(n->kernel), 0, "node kernel")) ||
	    (r = db_check_str(db, n->cpu_flags, sizeof(n->cpu_flags), 0, "node cpu flags")) ||
	    (r = check_node_state(db, n->state, "store node")))
		return r;
	s = db_stmt(db, ST_NODE_NAME, "SELECT id FROM nodes WHERE name = ?1 AND id != ?2");
	if (!s)
		return SSI_E_DB;
	sqlite3_bind_text(s, 1, n->name, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 2, n->id);
	r = sqlite3_step(s);
	if (r == SQLITE_ROW) {
		int other = sqlite3_column_int(s, 0);

		sqlite3_reset(s);
		return db_seterr(db, -EEXIST, "store node %d: name %s already belongs to node %d",
				 n->id, n->name, other);
	}
	sqlite3_reset(s);
	if (r != SQLITE_DONE)
		return db_sqlerr(db, r, "store node");
	s = db_stmt(db, ST_NODE_PUT,
		    "INSERT OR REPLACE INTO nodes (" NODE_COLS ") "
		    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
	if (!s)
		return SSI_E_DB;
	sqlite3_bind_int(s, 1, n->id);
	sqlite3_bind_text(s, 2, n->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, n->addr, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 4, n->state);
	sqlite3_bind_int64(s, 5, n->state_since_ms);
	sqlite3_bind_int64(s, 6, n->last_seen_ms);
	sqlite3_bind_int(s, 7, n->cpus);
	sqlite3_bind_double(s, 8, n->speed);
	sqlite3_bind_int64(s, 9, (sqlite3_int64)n->mem_total);
	sqlite3_bind_text(s, 10, n->kernel, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 11, n->cpu_flags, -1, SQLITE_STATIC);
	return db_exec_stmt(db, s, "store node");
}

int db_node_set_state(struct db *db, int id, int state, int64_t since_ms)
{
	sqlite3_stmt *s;
	int r;

	if ((r = db_check_node(db, id, "set node state")) ||
	    (r = check_node_state(db, state, "set node state")))
		return r;
	s = db_stmt(db, ST_NODE_STATE,
		    "UPDATE nodes SET state = ?2, state_since = ?3 WHERE id = ?1");
	if (!s)
		return SSI_E_DB;
	sqlite3_bind_int(s, 1, id);
	sqlite3_bind_int(s, 2, state);
	sqlite3_bind_int64(s, 3, since_ms);
	return exec_changed(db, s, "set node state", "such node");
}

int db_node_seen(struct db *db, int id, int64_t t_ms)
{
	sqlite3_stmt *s;
	int r;

	if ((r = db_check_node(db, id, "node seen")))
		return r;
	s = db_stmt(db, ST_NODE_SEEN, "UPDATE nodes SET last_seen = ?2 WHERE id = ?1");
	if (!s)
		return SSI_E_DB;
	sqlite3_bind_int(s, 1, id);
	sqlite3_bind_int64(s, 2, t_ms);
	return exec_changed(db, s, "node seen", "such node");
}

int db_node_get(struct db *db, int id, struct db_node *n)
{
	sqlite3_stmt *s;
	int r;

	memset(n, 0, sizeof(*n));
	if ((r = db_check_node(db, id, "get node")))
		return r;
	s = db_stmt(db, ST_NODE_GET, "SELECT " NODE_COLS " FROM nodes WHERE id = ?1");
	if (!s)
		return SSI_E_DB;
	sqlite3_bind_int(s, 1, id);
	r = step_one(db, s, "get node", "such node");
	if (r == 0)
		fill_node(n, s);
	sqlite3_reset(s);
	return r;
}

int db_node_del(struct db *db, int id)
{
	sqlite3_stmt *s;
	int r;

	if ((r = db_check_node(db, id, "delete node")))
		return r;
	s = db_stmt(db, ST_NODE_DEL, "DELETE FROM nodes WHERE id = ?1");
	if (!s)
		return SSI_E_DB;
	sqlite3_bind_int(s, 1, id);
	return exec_changed(db, s, "delete node", "such node");
}

int db_node_list(struct db *db, struct db_node **out, size_t *n)
{
	sqlite3_stmt *s = db_stmt(db, ST_NODE_LIST, "SELECT " NODE_COLS " FROM nodes ORDER BY id");

	*out = NULL;
	*n = 0;
	if (!s)
		return SSI_E_DB;
	return collect(db, s, sizeof(**out), fill_node, "list nodes", (void **)out, n);
}

/* ------------------------------------------------------------------ processes */

static void fill_proc(void *v, sqlite3_stmt *s)
{
	struct db_proc *p = v;

	p->gpid = (uint32_t)sqlite3_column_int64(s, 0);
	p->home_node = sqlite3_column_int(s, 1);
	p->node = sqlite3_column_int(s, 2);
	p->uid = (uint32_t)sqlite3_column_int64(s, 3);
	db_col_text(s, 4, p->cmd, sizeof(p->cmd));
	p->state = sqlite3_column_int(s, 5);
	p->since_ms = sqlite3_column_int64(s, 6);
	p->mig_id = sqlite3_column_int64(s, 7);
}

int db_proc_put(struct db *db, const struct db_proc *p)
{
	sqlite3_stmt *s;
	int r;

	if (p->gpid == 0)
		return db_seterr(db, -EINVAL, "store process: gpid 0");
	if ((r = db_check_node(db, p->home_node, "store process home")) ||
	    (r = db_check_node(db, p->node, "store process node")) ||
	    (r = db_check_str(db, p->cmd, sizeof(p->cmd), 0, "process command")))
		return r;
	if (p->state < DB_PROC_RUNNING || p->state > DB_PROC_EXITED)
		return db_seterr(db, -EINVAL, "store process %u: bad state %d", p->gpid, p->state);
	s = db_stmt(db, ST_PROC_PUT,
		    "INSERT OR REPLACE INTO processes (" PROC_COLS ") "
		    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
	if (!s)
		return SSI_E_DB;
	sqlite3_bind_int64(s, 1, p->gpid);
	sqlite3_bind_int(s, 2, p->home_node);
	sqlite3_bind_int(s, 3, p->node);
	sqlite3_bind_int64(s, 4, p->uid);
	sqlite3_bind_text(s, 5, p->cmd, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 6, p->state);
	sqlite3_bind_int64(s, 7, p->since_ms);
	sqlite3_bind_int64(s, 8, p->mig_id);
	return db_exec_stmt(db, s, "store process");
}

int db_proc_get(struct db *db, uint32_t gpid, struct db_proc *p)
{
	sqlite3_stmt *s =
		db_stmt(db, ST_PROC_GET, "SELECT " PROC_COLS " FROM processes WHERE gpid = ?1");
	int r;

	memset(p, 0, sizeof(*p));
	if (!s)
		return SSI_E_DB;
	sqlite3_bind_int64(s, 1, gpid);
	r = step_one(db, s, "get process", "such process");
	if (r == 0)
		fill_proc(p, s);
	sqlite3_reset(s);
	return r;
}

int db_proc_del(struct db *db, uint32_t gpid)
{
	sqlite3_stmt *s = db_stmt(db, ST_PROC_DEL, "DELETE FROM processes WHERE gpid = ?1");

	if (!s)
		return SSI_E_DB;
	sqlite3_bind_int64(s, 1, gpid);
	return exec_changed(db, s, "delete process", "such process");
}

int db_proc_list(struct db *db, int filter, int self, struct db_proc **out, size_t *n)
{
	sqlite3_stmt *s;

	*out = NULL;
	*n = 0;
	if (filter < DB_PROC_ALL || filter > DB_PROC_VISITING)
		return db_seterr(db, -EINVAL, "list processes: bad filter %d", filter);
	s = db_stmt(db, ST_PROC_LIST,
		    "SELECT " PROC_COLS " FROM processes WHERE ?1 = 0 "
		    "OR (?1 = 1 AND home_node = ?2 AND node != ?2) "
		    "OR (?1 = 2 AND node = ?2 AND home_node != ?2) ORDER BY gpid");
	if (!s)
		return SSI_E_DB;
	sqlite3_bind_int(s, 1, filter);
	sqlite3_bind_int(s, 2, self);
	return collect(db, s, sizeof(**out), fill_proc, "list processes", (void **)out, n);
}

/* ------------------------------------------------------------------ migrations */

static void fill_mig(void *v, sqlite3_stmt *s)
{
	struct db_mig *m = v;

	m->id = sqlite3_column_int64(s, 0);
	m->gpid = (uint32_t)sqlite3_column_int64(s, 1);
	m->from_node = sqlite3_column_int(s, 2);
	m->to_node = sqlite3_column_int(s, 3);
	m->start_ms = sqlite3_column_int64(s, 4);
	m->end_ms = sqlite3_column_int64(s, 5);
	m->freeze_ms = sqlite3_column_int64(s, 6);
	m->transfer_ms = sqlite3_column_int64(s, 7);
	m->restore_ms = sqlite3_column_int64(s, 8);
	m->bytes = (uint64_t)sqlite3_column_int64(s, 9);
	m->outcome = sqlite3_column_int(s, 10);
	db_col_text(s, 11, m->error, sizeof(m->error));
	db_col_text(s, 12, m->reason, sizeof(m->reason));
}

/* Keep at most mig_max_rows finished migrations (+1/16 slack); pending ones stay. */
static int mig_prune(struct db *db)
{
	uint64_t max = db->ret.mig_max_rows;
	sqlite3_stmt *s;
	int r;

	if (!max || db->mig_cnt <= max + max / 16)
		return 0;
	s = db_stmt(db, ST_MIG_PRUNE,
		    "DELETE FROM migrations WHERE id IN (SELECT id FROM migrations "
		    "WHERE outcome != 0 ORDER BY id DESC LIMIT ?2 OFFSET ?1)");
	if (!s)
		return SSI_E_DB;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)max);
	sqlite3_bind_int64(s, 2, DB_PRUNE_BATCH);
	r = db_exec_stmt(db, s, "prune migrations");
	if (r == 0)
		r = count_rows(db, ST_MIG_COUNT, "SELECT count(*) FROM migrations", &db->mig_cnt);
	return r;
}

int db_mig_start(struct db *db, uint32_t gpid, int from_node, int to_node, int64_t start_ms,
		 int64_t *id)
{
	sqlite3_stmt *s;
	int own, r;

	*id = 0;
	if (gpid == 0)
		return db_seterr(db, -EINVAL, "start migration: gpid 0");
	if ((r = db_check_node(db, from_node, "start migration from")) ||
	    (r = db_check_node(db, to_node, "start migration to")))
		return r;
	if ((r = db_wbegin(db, &own)))
		return r;
	s = db_stmt(db, ST_MIG_START,
		    "INSERT INTO migrations (gpid, from_node, to_node, start_t) "
		    "VALUES (?1, ?2, ?3, ?4)");
	r = s ? 0 : SSI_E_DB;
	if (r == 0) {
		sqlite3_bind_int64(s, 1, gpid);
		sqlite3_bind_int(s, 2, from_node);
		sqlite3_bind_int(s, 3, to_node);
		sqlite3_bind_int64(s, 4, start_ms);
		r = db_exec_stmt(db, s, "start migration");
	}
	if (r == 0) {
		*id = sqlite3_last_insert_rowid(db->h);
		db->mig_cnt++;
		r = mig_prune(db);
	}
	r = db_wend(db, own, r);
	if (r)
		*id = 0;
	return r;
}

int db_mig_finish(struct db *db, const struct db_mig *m)
{
	sqlite3_stmt *s;
	int r;

	if (m->outcome < DB_MIG_PENDING || m->outcome > DB_MIG_LOST)
		return db_seterr(db, -EINVAL, "finish migration %lld: bad outcome %d",
				 (long long)m->id, m->outcome);
	if ((r = db_check_str(db, m->error, sizeof(m->error), 0, "migration error")))
		return r;
	s = db_stmt(db, ST_MIG_FINISH,
		    "UPDATE migrations SET end_t = ?2, freeze_ms = ?3, transfer_ms = ?4, "
		    "restore_ms = ?5, bytes = ?6, outcome = ?7, error = ?8 WHERE id = ?1");
	if (!s)
		return SSI_E_DB;
	sqlite3_bind_int64(s, 1, m->id);
	sqlite3_bind_int64(s, 2, m->end_ms);
	sqlite3_bind_int64(s, 3, m->freeze_ms);
	sqlite3_bind_int64(s, 4, m->transfer_ms);
	sqlite3_bind_int64(s, 5, m->restore_ms);
	sqlite3_bind_int64(s, 6, (sqlite3_int64)m->bytes);
	sqlite3_bind_int(s, 7, m->outcome);
	sqlite3_bind_text(s, 8, m->error, -1, SQLITE_STATIC);
	return exec_changed(db, s, "finish migration", "such migration");
}

int db_mig_set_reason(struct db *db, int64_t id, const char *reason)
{
	sqlite3_stmt *s;
	int r;

	if ((r = db_check_str(db, reason, DB_TEXT_MAX, 0, "migration reason")))
		return r;
	s = db_stmt(db, ST_MIG_REASON, "UPDATE migrations SET reason = ?2 WHERE id = ?1");
	if (!s)
		return SSI_E_DB;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, reason, -1, SQLITE_STATIC);
	return exec_changed(db, s, "set migration reason", "such migration");
}

int db_mig_get(struct db *db, int64_t id, struct db_mig *m)
{
	sqlite3_stmt *s =
		db_stmt(db, ST_MIG_GET, "SELECT " MIG_COLS " FROM migrations WHERE id = ?1");
	int r;

	memset(m, 0, sizeof(*m));
	if (!s)
		return SSI_E_DB;
	sqlite3_bind_int64(s, 1, id);
	r = step_one(db, s, "get migration", "such migration");
	if (r == 0)
		fill_mig(m, s);
	sqlite3_reset(s);
	return r;
}

int db_mig_list(struct db *db, uint32_t gpid, size_t limit, struct db_mig **out, size_t *n)
{
	sqlite3_stmt *s;

	*out = NULL;
	*n = 0;
	if (limit == 0)
		return 0;
	if (gpid)
		s = db_stmt(db, ST_MIG_LIST_GPID,
			    "SELECT " MIG_COLS " FROM migrations WHERE gpid = ?2 "
			    "ORDER BY start_t DESC, id DESC LIMIT ?1");
	else
		s = db_stmt(db, ST_MIG_LIST,
			    "SELECT " MIG_COLS " FROM migrations "
			    "ORDER BY start_t DESC, id DESC LIMIT ?1");
	if (!s)
		return SSI_E_DB;
	sqlite3_bind_int64(s, 1, limit > INT64_MAX ? INT64_MAX : (sqlite3_int64)limit);
	if (gpid)
		sqlite3_bind_int64(s, 2, gpid);
	return collect(db, s, sizeof(**out), fill_mig, "list migrations", (void **)out, n);
}

int db_mig_pending(struct db *db, struct db_mig **out, size_t *n)
{
	sqlite3_stmt *s =
		db_stmt(db, ST_MIG_PENDING,
			"SELECT " MIG_COLS " FROM migrations WHERE outcome = 0 ORDER BY id");

	*out = NULL;
	*n = 0;
	if (!s)
		return SSI_E_DB;
	return collect(db, s, sizeof(**out), fill_mig, "list pending migrations", (void **)out, n);
}

/* ------------------------------------------------------------------ events */

static void fill_event(void *v, sqlite3_stmt *s)
{
	struct db_event *e = v;

	e->id = sqlite3_column_int64(s, 0);
	e->t_ms = sqlite3_column_int64(s, 1);
	e->node_id = sqlite3_column_int(s, 2);
	db_col_text(s, 3, e->kind, sizeof(e->kind));
	db_col_text(s, 4, e->text, sizeof(e->text));
}

static int count_rows(struct db *db, enum db_stmt_id id, const char *sql, uint64_t *cnt)
{
	sqlite3_stmt *s = db_stmt(db, id, sql);
	int r;

	*cnt = 0;
	if (!s)
		return SSI_E_DB;
	r = step_one(db, s, "count rows", "result");
	if (r == 0)
		*cnt = (uint64_t)sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return r;
}

/* Age bound (batched; repeats at the next insert while a batch came back full), then the
 * row bound with 1/16 slack so the O(max) delete runs once per max/16 inserts. */
static int event_prune(struct db *db, int64_t now_ms)
{
	uint64_t max = db->ret.event_max_rows;
	sqlite3_stmt *s;
	int r;

	if (db->ret.event_max_age_ms && now_ms >= db->event_next_age_ms) {
		s = db_stmt(db, ST_EVENT_PRUNE_AGE,
			    "DELETE FROM events WHERE id IN "
			    "(SELECT id FROM events WHERE t < ?1 ORDER BY t LIMIT ?2)");
		if (!s)
			return SSI_E_DB;
		sqlite3_bind_int64(s, 1, db_sat_add(now_ms, -db->ret.event_max_age_ms));
		sqlite3_bind_int64(s, 2, DB_PRUNE_BATCH);
		if ((r = db_exec_stmt(db, s, "prune old events")))
			return r;
		if (sqlite3_changes(db->h) < DB_PRUNE_BATCH)
			db->event_next_age_ms = db_sat_add(now_ms, db->ret.event_max_age_ms / 16);
		if ((r = count_rows(db, ST_EVENT_COUNT, "SELECT count(*) FROM events",
				    &db->event_cnt)))
			return r;
	}
	if (!max || db->event_cnt <= max + max / 16)
		return 0;
	s = db_stmt(db, ST_EVENT_PRUNE_COUNT,
		    "DELETE FROM events WHERE id <= "
		    "(SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?1)");
	if (!s)
		return SSI_E_DB;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)max);
	if ((r = db_exec_stmt(db, s, "prune events")))
		return r;
	return count_rows(db, ST_EVENT_COUNT, "SELECT count(*) FROM events", &db->event_cnt);
}

int db_event_add(struct db *db, int64_t t_ms, int node_id, const char *kind, const char *text,
		 int64_t *id)
{
	sqlite3_stmt *s;
	int own, r;

	if (id)
		*id = 0;
	if ((r = db_check_str(db, kind, DB_KIND_MAX, 1, "event kind")) ||
	    (r = db_check_str(db, text, DB_TEXT_MAX, 0, "event text")))
		return r;
	if (node_id != 0 && (r = db_check_node(db, node_id, "add event")))
		return r;
	if ((r = db_wbegin(db, &own)))
		return r;
	s = db_stmt(db, ST_EVENT_ADD,
		    "INSERT INTO events (t, node_id, kind, text) VALUES (?1, ?2, ?3, ?4)");
	r = s ? 0 : SSI_E_DB;
	if (r == 0) {
		sqlite3_bind_int64(s, 1, t_ms);
		sqlite3_bind_int(s, 2, node_id);
		sqlite3_bind_text(s, 3, kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, text, -1, SQLITE_STATIC);
		r = db_exec_stmt(db, s, "add event");
	}
	if (r == 0) {
		if (id)
			*id = sqlite3_last_insert_rowid(db->h);
		db->event_cnt++;
		r = event_prune(db, t_ms);
	}
	r = db_wend(db, own, r);
	if (r && id)
		*id = 0;
	return r;
}

int db_event_list(struct db *db, int64_t since_ms, int64_t after_id, size_t limit,
		  struct db_event **out, size_t *n)
{
	sqlite3_stmt *s;

	*out = NULL;
	*n = 0;
	if (limit == 0)
		return 0;
	s = db_stmt(db, ST_EVENT_LIST,
		    "SELECT * FROM (SELECT id, t, node_id, kind, text FROM events "
		    "WHERE t >= ?1 AND id > ?2 ORDER BY id DESC LIMIT ?3) ORDER BY id");
	if (!s)
		return SSI_E_DB;
	sqlite3_bind_int64(s, 1, since_ms);
	sqlite3_bind_int64(s, 2, after_id);
	sqlite3_bind_int64(s, 3, limit > INT64_MAX ? INT64_MAX : (sqlite3_int64)limit);
	return collect(db, s, sizeof(**out), fill_event, "list events", (void **)out, n);
}

int db_event_count(struct db *db, uint64_t *count)
{
	return count_rows(db, ST_EVENT_COUNT, "SELECT count(*) FROM events", count);
}

int db_store_init(struct db *db)
{
	int r = count_rows(db, ST_EVENT_COUNT, "SELECT count(*) FROM events", &db->event_cnt);

	if (r == 0)
		r = count_rows(db, ST_MIG_COUNT, "SELECT count(*) FROM migrations", &db->mig_cnt);
	return r;
}
