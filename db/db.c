/*
 * db.c - open, check, upgrade and close the store; errors; transactions; statement cache.
 *
 * Owns the schema text of every version and the upgrade steps between them. Does not own
 * the typed operations (store.c, samples.c). Assumes sqlite >= 3.22 (prepare_v3, WAL).
 *
 * Open sequence: directory exists -> sqlite open (rw, create) -> not silently read-only ->
 * header readable (else corrupt) -> user_version <= DB_SCHEMA_VERSION (else newer) ->
 * application id ours (or an empty file) -> WAL -> quick_check -> upgrade in one
 * transaction -> retention state. Every failure becomes one line in err naming the file.
 */
#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db/dbint.h"
#include "ssid/ssierr.h"

const char db_schema_v1_sql[] =
	"PRAGMA application_id = 1397967153;\n" /* DB_APPLICATION_ID, 0x53534931 */
	"CREATE TABLE nodes (\n"
	"  id INTEGER PRIMARY KEY CHECK (id BETWEEN 1 AND 511),\n"
	"  name TEXT NOT NULL UNIQUE,\n"
	"  addr TEXT NOT NULL DEFAULT '',\n"
	"  state INTEGER NOT NULL DEFAULT 2,\n"
	"  state_since INTEGER NOT NULL DEFAULT 0,\n"
	"  last_seen INTEGER NOT NULL DEFAULT 0,\n"
	"  cpus INTEGER NOT NULL DEFAULT 0,\n"
	"  speed REAL NOT NULL DEFAULT 1.0,\n"
	"  mem_total INTEGER NOT NULL DEFAULT 0,\n"
	"  kernel TEXT NOT NULL DEFAULT '',\n"
	"  cpu_flags TEXT NOT NULL DEFAULT '');\n"
	"CREATE TABLE load_samples (\n"
	"  node_id INTEGER NOT NULL,\n"
	"  t INTEGER NOT NULL,\n"
	"  runq REAL NOT NULL,\n"
	"  cpu_use REAL NOT NULL,\n"
	"  mem_free INTEGER NOT NULL,\n"
	"  psi_cpu REAL NOT NULL,\n"
	"  load_local REAL NOT NULL,\n"
	"  load_export REAL NOT NULL);\n"
	"CREATE INDEX load_samples_node_t ON load_samples (node_id, t);\n"
	"CREATE TABLE processes (\n"
	"  gpid INTEGER PRIMARY KEY,\n"
	"  home_node INTEGER NOT NULL,\n"
	"  node INTEGER NOT NULL,\n"
	"  uid INTEGER NOT NULL,\n"
	"  cmd TEXT NOT NULL,\n"
	"  state INTEGER NOT NULL,\n"
	"  since INTEGER NOT NULL);\n"
	"CREATE TABLE migrations (\n"
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
	"  gpid INTEGER NOT NULL,\n"
	"  from_node INTEGER NOT NULL,\n"
	"  to_node INTEGER NOT NULL,\n"
	"  start_t INTEGER NOT NULL,\n"
	"  end_t INTEGER NOT NULL DEFAULT 0,\n"
	"  freeze_ms INTEGER NOT NULL DEFAULT -1,\n"
	"  transfer_ms INTEGER NOT NULL DEFAULT -1,\n"
	"  restore_ms INTEGER NOT NULL DEFAULT -1,\n"
	"  bytes INTEGER NOT NULL DEFAULT 0,\n"
	"  outcome INTEGER NOT NULL DEFAULT 0,\n"
	"  error TEXT NOT NULL DEFAULT '');\n"
	"CREATE INDEX migrations_start ON migrations (start_t);\n"
	"CREATE TABLE events (\n"
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
	"  t INTEGER NOT NULL,\n"
	"  node_id INTEGER NOT NULL,\n"
	"  kind TEXT NOT NULL,\n"
	"  text TEXT NOT NULL);\n"
	"CREATE INDEX events_t ON events (t);\n";

/* Version 2: the home node's process record names the migration in flight (recovery after a
 * crash finds it without scanning), and history per process is indexed. */
static const char schema_v2_sql[] =
	"ALTER TABLE processes ADD COLUMN mig_id INTEGER NOT NULL DEFAULT 0;\n"
	"CREATE INDEX migrations_gpid ON migrations (gpid, start_t);\n"
	"CREATE INDEX migrations_pending ON migrations (id) WHERE outcome = 0;\n";

/* Version 3: why a migration was made ("" by hand, "auto: ..." by the balancer). */
static const char schema_v3_sql[] =
	"ALTER TABLE migrations ADD COLUMN reason TEXT NOT NULL DEFAULT '';\n";

/* upgrades[v] turns a version-v file into version v+1; upgrades[0] creates from nothing. */
static const char *const upgrades[DB_SCHEMA_VERSION] = {db_schema_v1_sql, schema_v2_sql,
							schema_v3_sql};

int db_seterr(struct db *db, int r, const char *fmt, ...)
{
	int n = snprintf(db->err, sizeof(db->err), "%s: ", db->path);
	va_list ap;

	if (n < 0 || (size_t)n >= sizeof(db->err))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(db->err + n, sizeof(db->err) - (size_t)n, fmt, ap);
	va_end(ap);
	return r;
}

int db_sqlerr(struct db *db, int rc, const char *step)
{
	int r;

	switch (rc & 0xff) {
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		r = SSI_E_CORRUPT;
		break;
	case SQLITE_READONLY:
		r = -EROFS;
		break;
	case SQLITE_FULL:
		r = -ENOSPC;
		break;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		r = -EBUSY;
		break;
	case SQLITE_NOMEM:
		r = -ENOMEM;
		break;
	default:
		r = SSI_E_DB;
	}
	return db_seterr(db, r, "%s: %s", step, db->h ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc));
}

sqlite3_stmt *db_stmt(struct db *db, enum db_stmt_id id, const char *sql)
{
	sqlite3_stmt *s = db->st[id];
	int rc;

	if (s) {
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
		return s;
	}
	rc = sqlite3_prepare_v3(db->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL);
	if (rc != SQLITE_OK) {
		db_sqlerr(db, rc, "prepare statement");
		return NULL;
	}
	db->st[id] = s;
	return s;
}

int db_exec_stmt(struct db *db, sqlite3_stmt *s, const char *step)
{
	int rc = sqlite3_step(s);
	int r = 0;

	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		r = db_sqlerr(db, rc, step);
	sqlite3_reset(s);
	return r;
}

static int exec_sql(struct db *db, const char *sql, const char *step)
{
	int rc = sqlite3_exec(db->h, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : db_sqlerr(db, rc, step);
}

int db_wbegin(struct db *db, int *own)
{
	int r;

	*own = 0;
	if (db->in_tx || !sqlite3_get_autocommit(db->h)) {
		/* inside the caller's transaction: a savepoint keeps this call all-or-nothing */
		r = exec_sql(db, "SAVEPOINT dbw", "savepoint");
		if (r == 0)
			*own = 2;
		return r;
	}
	r = exec_sql(db, "BEGIN IMMEDIATE", "begin transaction");
	if (r == 0)
		*own = 1;
	return r;
}

int db_wend(struct db *db, int own, int r)
{
	if (own == 2) {
		if (r != 0)
			sqlite3_exec(db->h, "ROLLBACK TO dbw", NULL, NULL, NULL);
		if (sqlite3_exec(db->h, "RELEASE dbw", NULL, NULL, NULL) != SQLITE_OK && r == 0)
			r = db_sqlerr(db, sqlite3_errcode(db->h), "release savepoint");
		return r;
	}
	if (!own)
		return r;
	if (r == 0)
		r = exec_sql(db, "COMMIT", "commit");
	if (r != 0 && !sqlite3_get_autocommit(db->h))
		sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

int db_tx_begin(struct db *db)
{
	int r;

	if (db->in_tx || !sqlite3_get_autocommit(db->h))
		return db_seterr(db, -EBUSY, "begin transaction: one is already open");
	r = exec_sql(db, "BEGIN IMMEDIATE", "begin transaction");
	if (r == 0)
		db->in_tx = 1;
	return r;
}

int db_tx_commit(struct db *db)
{
	int r;

	if (!db->in_tx)
		return db_seterr(db, -EINVAL, "commit: no transaction open");
	r = exec_sql(db, "COMMIT", "commit");
	if (r != 0 && !sqlite3_get_autocommit(db->h))
		sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
	db->in_tx = 0;
	return r;
}

void db_tx_rollback(struct db *db)
{
	if (!sqlite3_get_autocommit(db->h))
		sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
	db->in_tx = 0;
}

void db_col_text(sqlite3_stmt *s, int col, char *dst, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(s, col);
	size_t n = t ? (size_t)sqlite3_column_bytes(s, col) : 0;

	if (cap == 0)
		return;
	if (n >= cap)
		n = cap - 1;
	if (n)
		memcpy(dst, t, n);
	dst[n] = '\0';
}

int db_check_str(struct db *db, const char *str, size_t cap, int nonempty, const char *what)
{
	if (!str || !memchr(str, '\0', cap))
		return db_seterr(db, -EINVAL, "%s: missing or longer than %zu bytes", what,
				 cap - 1);
	if (nonempty && !str[0])
		return db_seterr(db, -EINVAL, "%s: empty", what);
	return 0;
}

int db_check_node(struct db *db, int id, const char *what)
{
	if (id < DB_NODE_MIN || id > DB_NODE_MAX)
		return db_seterr(db, -EINVAL, "%s: node id %d not in %d..%d", what, id, DB_NODE_MIN,
				 DB_NODE_MAX);
	return 0;
}

int db_grow(struct db *db, void **arr, size_t *cap, size_t want, size_t sz)
{
	size_t nc = *cap ? *cap : 16;
	void *p;

	if (want <= *cap)
		return 0;
	while (nc < want)
		nc *= 2;
	p = reallocarray(*arr, nc, sz);
	if (!p)
		return db_seterr(db, -ENOMEM, "out of memory for %zu rows", nc);
	*arr = p;
	*cap = nc;
	return 0;
}

const char *db_errmsg(const struct db *db)
{
	return db ? db->err : "no database handle";
}

const char *db_path(const struct db *db)
{
	return db->path;
}

void db_retention_default(struct db_retention *r)
{
	r->load_max_age_ms = 24LL * 3600 * 1000;
	r->load_max_per_node = 3600;
	r->event_max_age_ms = 30LL * 24 * 3600 * 1000;
	r->event_max_rows = 100000;
	r->mig_max_rows = 10000;
}

int db_set_retention(struct db *db, const struct db_retention *r)
{
	if (r->load_max_age_ms < 0 || r->event_max_age_ms < 0)
		return db_seterr(db, -EINVAL, "retention: negative age");
	if (!r->load_max_age_ms && !r->load_max_per_node)
		return db_seterr(db, -EINVAL, "retention: load samples need an age or count bound");
	if (!r->event_max_age_ms && !r->event_max_rows)
		return db_seterr(db, -EINVAL, "retention: events need an age or count bound");
	db->ret = *r;
	db->load_next_age_ms = INT64_MIN; /* apply new age bounds at the next insert */
	db->event_next_age_ms = INT64_MIN;
	return 0;
}

/* ------------------------------------------------------------------ open */

/* A pragma returning one integer. */
static int pragma_int(struct db *db, const char *sql, int64_t *v)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db->h, sql, -1, &s, NULL);

	if (rc == SQLITE_OK) {
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			*v = sqlite3_column_int64(s, 0);
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(s);
	return rc;
}

/* The directory of path, for messages. */
static void dir_of(const char *path, char *dir, size_t cap)
{
	char tmp[4096];

	snprintf(tmp, sizeof(tmp), "%s", path);
	snprintf(dir, cap, "%s", dirname(tmp));
}

/* Turn an sqlite failure during open into the user-facing line. */
static int open_fail(struct db *db, int rc, const char *step)
{
	int e = db->h ? sqlite3_system_errno(db->h) : 0;
	int code = rc & 0xff;
	char dir[1024];

	dir_of(db->path, dir, sizeof(dir));
	if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT)
		return db_seterr(db, SSI_E_CORRUPT,
				 "not an ssi database or corrupt (%s: %s): move the file away "
				 "(ssid then starts a new one) or restore a backup",
				 step, db->h ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc));
	if (code == SQLITE_READONLY || e == EROFS || e == EACCES || e == EPERM) {
		int r;

		/* sqlite's own errno is often 0 here (it fell back to read-only): ask why */
		if (e != EROFS && e != EACCES && e != EPERM)
			e = access(db->path, W_OK) != 0 || access(dir, W_OK) != 0 ? errno : 0;
		r = e == EACCES || e == EPERM ? -EACCES : -EROFS;

		return db_seterr(db, r,
				 "cannot write the database or its directory %s (%s): make "
				 "both writable by ssid or set state_dir in ssid.conf to a "
				 "writable directory",
				 dir, e ? strerror(e) : "read-only");
	}
	if (code == SQLITE_CANTOPEN && access(db->path, F_OK) != 0 && access(dir, W_OK) != 0 &&
	    (errno == EROFS || errno == EACCES)) {
		e = errno; /* sqlite reports its read-only retry (ENOENT), not the cause */
		return db_seterr(db, e == EACCES ? -EACCES : -EROFS,
				 "cannot create the database in %s (%s): make the directory "
				 "writable by ssid or set state_dir in ssid.conf to a writable "
				 "directory",
				 dir, strerror(e));
	}
	if (code == SQLITE_CANTOPEN && e == ENOENT)
		return db_seterr(db, -ENOENT,
				 "directory %s does not exist: create it or set state_dir in "
				 "ssid.conf",
				 dir);
	return db_seterr(db, code == SQLITE_NOMEM ? -ENOMEM : SSI_E_DB, "%s: %s%s%s", step,
			 db->h ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc), e ? ": " : "",
			 e ? strerror(e) : "");
}

/* Bring the file from its version to DB_SCHEMA_VERSION in one transaction. */
static int upgrade(struct db *db)
{
	int64_t v = 0;
	int rc;

	rc = sqlite3_exec(db->h, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = pragma_int(db, "PRAGMA user_version", &v); /* again: another may have won */
	for (; rc == SQLITE_OK && v < DB_SCHEMA_VERSION; v++) {
		rc = sqlite3_exec(db->h, upgrades[v], NULL, NULL, NULL);
		if (rc == SQLITE_OK) {
			char sql[64];

			snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", (int)v + 1);
			rc = sqlite3_exec(db->h, sql, NULL, NULL, NULL);
		}
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db->h, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		int r = open_fail(db, rc, "upgrade schema");

		if (!sqlite3_get_autocommit(db->h))
			sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
		return r;
	}
	return 0;
}

/* The header checks: readable, not newer, ours. */
static int check_header(struct db *db, int64_t *version)
{
	int64_t app = 0, tables = 0;
	int rc;

	rc = pragma_int(db, "PRAGMA user_version", version);
	if (rc == SQLITE_OK)
		rc = pragma_int(db, "PRAGMA application_id", &app);
	if (rc == SQLITE_OK)
		rc = pragma_int(db, "SELECT count(*) FROM sqlite_master", &tables);
	if (rc != SQLITE_OK)
		return open_fail(db, rc, "read header");
	if (*version > DB_SCHEMA_VERSION)
		return db_seterr(db, SSI_E_NEWER_SCHEMA,
				 "written by a newer ssi (schema %lld, this build knows %d): "
				 "upgrade ssi or move the file away",
				 (long long)*version, DB_SCHEMA_VERSION);
	if ((*version > 0 || tables > 0) && app != DB_APPLICATION_ID)
		return db_seterr(db, SSI_E_CORRUPT,
				 "an sqlite file of another program (application id %lld, %lld "
				 "tables): move the file away or set state_dir in ssid.conf",
				 (long long)app, (long long)tables);
	if (*version == 0 && tables > 0)
		return db_seterr(db, SSI_E_CORRUPT,
				 "ssi database without schema version: move "
				 "the file away or restore a backup");
	return 0;
}

/* WAL, durability, WAL size cap, integrity. */
static int setup(struct db *db)
{
	sqlite3_stmt *s = NULL;
	int rc, ok = 0;
	char what[128] = "";

	sqlite3_busy_timeout(db->h, DB_BUSY_TIMEOUT_MS);
	rc = sqlite3_prepare_v2(db->h, "PRAGMA journal_mode = WAL", -1, &s, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		ok = sqlite3_stricmp((const char *)sqlite3_column_text(s, 0), "wal") == 0;
		rc = SQLITE_OK;
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_OK)
		return open_fail(db, rc, "switch to WAL");
	if (!ok)
		return open_fail(db, SQLITE_READONLY, "switch to WAL");
	rc = sqlite3_exec(db->h,
			  "PRAGMA synchronous = FULL; PRAGMA journal_size_limit = 8388608;"
			  "PRAGMA foreign_keys = OFF",
			  NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return open_fail(db, rc, "set pragmas");
	rc = sqlite3_prepare_v2(db->h, "PRAGMA quick_check(1)", -1, &s, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		snprintf(what, sizeof(what), "%s", (const char *)sqlite3_column_text(s, 0));
		rc = SQLITE_OK;
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_OK)
		return open_fail(db, rc, "integrity check");
	for (char *c = what; *c; c++)
		if (*c == '\n' || *c == '\t')
			*c = ' '; /* one line */
	if (strcmp(what, "ok") != 0)
		return db_seterr(db, SSI_E_CORRUPT,
				 "corrupt (integrity check: %s): move the file away (ssid then "
				 "starts a new one) or restore a backup",
				 what);
	return 0;
}

/* sqlite takes a file shorter than its header for an empty database and would write over
 * it: refuse any non-empty file that does not start with the sqlite magic. */
/* The file's first 16 bytes, read through sqlite's own descriptor: an open()/close() of
 * our own would drop every POSIX lock this process holds on the file (fcntl locks are per
 * process and per file, released by any close), so a second connection in the same process
 * (ssid has two) would make the first one look gone to other processes, and the last of
 * those to close would delete the WAL that ssid still writes to. */
static int check_magic(struct db *db)
{
	static const char magic[16] = "SQLite format 3";
	char head[16] = {0};
	sqlite3_file *f = NULL;
	sqlite3_int64 size = 0;

	if (sqlite3_file_control(db->h, "main", SQLITE_FCNTL_FILE_POINTER, &f) != SQLITE_OK || !f ||
	    !f->pMethods)
		return 0; /* cannot look: sqlite reports a bad file itself */
	if (f->pMethods->xFileSize(f, &size) != SQLITE_OK || size == 0)
		return 0; /* new or empty: sqlite creates the database */
	if (f->pMethods->xRead(f, head, (int)sizeof(head), 0) == SQLITE_OK &&
	    memcmp(head, magic, sizeof(head)) == 0)
		return 0;
	return db_seterr(db, SSI_E_CORRUPT,
			 "not an sqlite database (no sqlite header): move the file away (ssid "
			 "then starts a new one) or set state_dir in ssid.conf");
}

static int open_steps(struct db *db)
{
	char dir[1024];
	struct stat st;
	int64_t version = 0;
	int rc, r;

	dir_of(db->path, dir, sizeof(dir));
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return db_seterr(db, -ENOENT,
				 "directory %s does not exist: create it or set state_dir in "
				 "ssid.conf",
				 dir);
	rc = sqlite3_open_v2(db->path, &db->h,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
				     SQLITE_OPEN_EXRESCODE,
			     NULL);
	if (rc != SQLITE_OK)
		return open_fail(db, rc, "open");
	if ((r = check_magic(db)))
		return r;
	/* sqlite quietly falls back to read-only when the file is not writable */
	if (sqlite3_db_readonly(db->h, "main") == 1)
		return open_fail(db, SQLITE_READONLY, "open");
	r = check_header(db, &version);
	if (r == 0)
		r = setup(db);
	if (r == 0 && version < DB_SCHEMA_VERSION)
		r = upgrade(db);
	if (r == 0)
		r = db_store_init(db);
	if (r == 0)
		r = db_load_init(db);
	return r;
}

int db_open(struct db **out, const char *path, char *err, size_t errlen)
{
	struct db *db;
	int r;

	*out = NULL;
	if (errlen)
		err[0] = '\0';
	if (!path || !path[0]) {
		if (errlen)
			snprintf(err, errlen, "database path is empty");
		return -EINVAL;
	}
	db = calloc(1, sizeof(*db));
	if (db)
		db->path = strdup(path);
	if (!db || !db->path) {
		free(db);
		if (errlen)
			snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	db_retention_default(&db->ret);
	db->load_next_age_ms = INT64_MIN;
	db->event_next_age_ms = INT64_MIN;
	r = open_steps(db);
	if (r != 0) {
		if (errlen)
			snprintf(err, errlen, "%s", db->err);
		db_close(db);
		return r;
	}
	db->err[0] = '\0';
	*out = db;
	return 0;
}

void db_close(struct db *db)
{
	if (!db)
		return;
	for (int i = 0; i < ST__COUNT; i++)
		sqlite3_finalize(db->st[i]);
	if (db->h) {
		if (!sqlite3_get_autocommit(db->h))
			sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
		sqlite3_close(db->h);
	}
	free(db->path);
	free(db);
}

/* ------------------------------------------------------------------ node policy */

/* The policy table is created on first write, outside the schema versions: a file without
 * it is read as "never set", and an older build opening the file simply ignores it. */
static const char policy_sql[] = "CREATE TABLE IF NOT EXISTS policy (\n"
				 "  id INTEGER PRIMARY KEY CHECK (id = 1),\n"
				 "  blocked INTEGER NOT NULL,\n"
				 "  since INTEGER NOT NULL,\n"
				 "  by_uid INTEGER NOT NULL);\n";

int db_policy_get(struct db *db, struct db_policy *p)
{
	sqlite3_stmt *s = NULL;
	int rc;

	memset(p, 0, sizeof(*p));
	rc = sqlite3_prepare_v2(db->h, "SELECT blocked, since, by_uid FROM policy WHERE id = 1", -1,
				&s, NULL);
	if (rc == SQLITE_ERROR && strstr(sqlite3_errmsg(db->h), "no such table"))
		return 0; /* never set */
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			p->blocked = sqlite3_column_int(s, 0) != 0;
			p->since_ms = sqlite3_column_int64(s, 1);
			p->by_uid = (uint32_t)sqlite3_column_int64(s, 2);
		}
		rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
	}
	sqlite3_finalize(s);
	return rc == SQLITE_OK ? 0 : db_sqlerr(db, rc, "read policy");
}

int db_policy_put(struct db *db, const struct db_policy *p)
{
	sqlite3_stmt *s = NULL;
	int rc;

	rc = sqlite3_exec(db->h, policy_sql, NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(
			db->h,
			"INSERT OR REPLACE INTO policy (id, blocked, since, by_uid) "
			"VALUES (1, ?1, ?2, ?3)",
			-1, &s, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int(s, 1, p->blocked ? 1 : 0);
		sqlite3_bind_int64(s, 2, p->since_ms);
		sqlite3_bind_int64(s, 3, p->by_uid);
		rc = sqlite3_step(s);
		rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
	}
	sqlite3_finalize(s);
	return rc == SQLITE_OK ? 0 : db_sqlerr(db, rc, "write policy");
}
