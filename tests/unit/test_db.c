/*
 * test_db.c - Check suite for the sqlite store (db/db.h): every operation, retention bounds,
 * the upgrade from schema 1, and the open errors a user can meet (newer file, corrupt file,
 * foreign sqlite file, missing or read-only directory).
 *
 * Every test works in its own directory under one root made by main() with mkdtemp in /tmp;
 * main() removes the whole root after the run, whatever the outcome (tests run in forked
 * children, so a failed assertion cannot skip the cleanup). Runs as root or not; the
 * read-only tests that need root (a private mount namespace) or an unprivileged uid say so.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <sched.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "db/db.h"
#include "db/dbint.h"
#include "ssid/ssierr.h"

static char root[64];	 /* /tmp/test_db.XXXXXX, made by main() */
static char dir[128];	 /* this test's directory */
static char dbpath[192]; /* dir/ssid.db */
static struct db *db;	 /* opened by setup_open */
static char err[512];

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static void rm_tree(const char *p)
{
	nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup_dir(void)
{
	static int seq;

	snprintf(dir, sizeof(dir), "%s/t%d.%d", root, (int)getpid(), seq++);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	snprintf(dbpath, sizeof(dbpath), "%s/ssid.db", dir);
	db = NULL;
	err[0] = '\0';
}

static void teardown_dir(void)
{
	db_close(db);
	db = NULL;
	rm_tree(dir);
}

static void setup_open(void)
{
	setup_dir();
	ck_assert_msg(db_open(&db, dbpath, err, sizeof(err)) == 0, "open: %s", err);
}

static int64_t sql_int(const char *path, const char *sql)
{
	sqlite3 *h;
	sqlite3_stmt *s;
	int64_t v = -1;

	ck_assert_int_eq(sqlite3_open(path, &h), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(h, sql, -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(h);
	return v;
}

static void sql_exec(const char *path, const char *sql)
{
	sqlite3 *h;
	char *msg = NULL;

	ck_assert_int_eq(sqlite3_open(path, &h), SQLITE_OK);
	ck_assert_msg(sqlite3_exec(h, sql, NULL, NULL, &msg) == SQLITE_OK, "%s: %s", sql,
		      msg ? msg : "?");
	sqlite3_close(h);
}

static off_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : 0;
}

static struct db_node mknode(int id, const char *name)
{
	struct db_node n;

	memset(&n, 0, sizeof(n));
	n.id = id;
	snprintf(n.name, sizeof(n.name), "%s", name);
	snprintf(n.addr, sizeof(n.addr), "127.0.1.%d:7022", id);
	n.state = DB_NODE_UP;
	n.state_since_ms = 1000;
	n.last_seen_ms = 2000;
	n.cpus = 4;
	n.speed = 1.25;
	n.mem_total = 8ULL << 30;
	snprintf(n.kernel, sizeof(n.kernel), "6.18.0-test");
	snprintf(n.cpu_flags, sizeof(n.cpu_flags), "fpu sse sse2 avx2");
	return n;
}

static struct db_load mkload(int node, int64_t t)
{
	struct db_load l = {
		.node_id = node,
		.t_ms = t,
		.runq = node + t / 1000.0,
		.cpu_use = 0.5,
		.mem_free = 1ULL << 30,
		.psi_cpu = 3.5,
		.load_local = 1.5,
		.load_export = 2.5,
	};
	return l;
}

/* ------------------------------------------------------------------ open */

START_TEST(test_open_creates_wal_v2)
{
	ck_assert_ptr_nonnull(db);
	ck_assert_str_eq(db_errmsg(db), "");
	ck_assert_str_eq(db_path(db), dbpath);
	ck_assert_int_eq(sql_int(dbpath, "PRAGMA user_version"), DB_SCHEMA_VERSION);
	ck_assert_int_eq(sql_int(dbpath, "PRAGMA application_id"), DB_APPLICATION_ID);
	/* WAL is persistent in the file header: a fresh connection sees it */
	ck_assert_int_eq(sql_int(dbpath, "SELECT journal_mode = 'wal' FROM pragma_journal_mode"),
			 1);
	db_close(db);
	db = NULL;
	/* reopening an existing current file works and keeps the version */
	ck_assert_msg(db_open(&db, dbpath, err, sizeof(err)) == 0, "reopen: %s", err);
	ck_assert_int_eq(sql_int(dbpath, "PRAGMA user_version"), DB_SCHEMA_VERSION);
}
END_TEST

START_TEST(test_open_empty_path)
{
	struct db *d = db;

	ck_assert_int_eq(db_open(&d, "", err, sizeof(err)), -EINVAL);
	ck_assert_ptr_null(d);
	ck_assert_ptr_nonnull(strstr(err, "empty"));
}
END_TEST

START_TEST(test_open_missing_dir)
{
	char p[256];

	struct db *d = db;

	snprintf(p, sizeof(p), "%s/nope/ssid.db", dir);
	ck_assert_int_eq(db_open(&d, p, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_null(d);
	ck_assert_msg(strstr(err, p) && strstr(err, "does not exist"), "%s", err);
}
END_TEST

START_TEST(test_open_newer_schema)
{
	db_close(db);
	db = NULL;
	sql_exec(dbpath, "PRAGMA user_version = 7");
	ck_assert_int_eq(db_open(&db, dbpath, err, sizeof(err)), SSI_E_NEWER_SCHEMA);
	ck_assert_ptr_null(db);
	ck_assert_msg(strstr(err, dbpath) && strstr(err, "newer ssi") &&
			      strstr(err, "schema 7, this build knows 3") &&
			      strstr(err, "upgrade ssi or move the file away"),
		      "%s", err);
	/* the file is left as it was */
	ck_assert_int_eq(sql_int(dbpath, "PRAGMA user_version"), 7);
}
END_TEST

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

static void expect_corrupt(void)
{
	int r = db_open(&db, dbpath, err, sizeof(err));

	ck_assert_msg(r == SSI_E_CORRUPT, "r=%d (%s) err=%s", r, ssierr_str(r), err);
	if (getenv("SSI_TEST_VERBOSE"))
		fprintf(stderr, "%s\n", err);
	ck_assert_ptr_null(db);
	ck_assert_msg(strstr(err, dbpath) && strstr(err, "move the file away"), "%s", err);
}

START_TEST(test_open_random_bytes)
{
	static unsigned char junk[65536];

	db_close(db);
	db = NULL;
	srand(42);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)rand();
	write_file(dbpath, junk, sizeof(junk));
	expect_corrupt();
	/* a short text file too */
	write_file(dbpath, "hello, not a database\n", 22);
	expect_corrupt();
}
END_TEST

/* A store with some thousands of rows over many pages, closed (WAL checkpointed). */
static void fill_and_close(void)
{
	struct db_load batch[64];

	for (int t = 0; t < 200; t++) {
		for (int n = 0; n < 64; n++)
			batch[n] = mkload(n + 1, t * 1000LL);
		ck_assert_int_eq(db_load_add_batch(db, batch, 64), 0);
	}
	for (int i = 0; i < 500; i++)
		ck_assert_int_eq(db_event_add(db, i, 1, "test", "some event text here", NULL), 0);
	db_close(db);
	db = NULL;
	ck_assert_int_eq(access(dbpath, F_OK), 0);
	ck_assert_int_gt(file_size(dbpath), 100 * 4096);
}

START_TEST(test_open_truncated)
{
	fill_and_close();
	ck_assert_int_eq(truncate(dbpath, file_size(dbpath) / 2), 0);
	expect_corrupt();
}
END_TEST

START_TEST(test_open_garbled)
{
	off_t size;
	int fd;
	unsigned char junk[4096];

	fill_and_close();
	size = file_size(dbpath);
	fd = open(dbpath, O_WRONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	srand(7);
	/* keep the header page, garble every fourth page after it */
	for (off_t off = 4096; off < size; off += 4 * 4096) {
		for (size_t i = 0; i < sizeof(junk); i++)
			junk[i] = (unsigned char)rand();
		ck_assert_int_eq(pwrite(fd, junk, sizeof(junk), off), (ssize_t)sizeof(junk));
	}
	close(fd);
	expect_corrupt();
}
END_TEST

START_TEST(test_open_foreign_sqlite)
{
	db_close(db);
	db = NULL;
	unlink(dbpath);
	sql_exec(dbpath, "CREATE TABLE recipes (name TEXT)");
	ck_assert_int_eq(db_open(&db, dbpath, err, sizeof(err)), SSI_E_CORRUPT);
	ck_assert_msg(strstr(err, dbpath) && strstr(err, "another program"), "%s", err);
}
END_TEST

/* Run fn in a forked child; return its exit status (0 = all checks passed, 77 = skipped). */
static int in_child(int (*fn)(void))
{
	pid_t pid = fork();
	int st;

	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(fn());
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st), "child died of a signal");
	return WEXITSTATUS(st);
}

/* In a private mount namespace, make dir a read-only bind mount of itself. */
static int ro_bind_dir(void)
{
	if (unshare(CLONE_NEWNS) != 0)
		return 77;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		return 10;
	if (mount(dir, dir, NULL, MS_BIND, NULL) != 0)
		return 11;
	if (mount(NULL, dir, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) != 0)
		return 12;
	return 0;
}

static int child_ro_mount(void)
{
	char p[256];
	struct db *d = NULL;
	char e[512];
	int r, fd;

	if ((r = ro_bind_dir()))
		return r;
	/* prove the directory really refuses writes */
	snprintf(p, sizeof(p), "%s/probe", dir);
	fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	if (fd >= 0 || errno != EROFS)
		return 13;
	/* an existing database (created before the remount) */
	r = db_open(&d, dbpath, e, sizeof(e));
	if (r != -EROFS || d || !strstr(e, dbpath) || !strstr(e, "writable"))
		return fprintf(stderr, "existing: r=%d %s\n", r, e), 14;
	/* a new database in the read-only directory */
	snprintf(p, sizeof(p), "%s/new.db", dir);
	r = db_open(&d, p, e, sizeof(e));
	if (r != -EROFS || d || !strstr(e, p) || !strstr(e, "writable"))
		return fprintf(stderr, "new: r=%d %s\n", r, e), 15;
	if (access(p, F_OK) == 0)
		return 16;
	if (getenv("SSI_TEST_VERBOSE"))
		fprintf(stderr, "%s\n", e);
	return 0;
}

START_TEST(test_open_readonly_mount)
{
	int st;

	db_close(db); /* created, now closed: the child opens it under a ro mount */
	db = NULL;
	if (geteuid() != 0)
		return; /* needs CAP_SYS_ADMIN; the unprivileged test covers non-root */
	st = in_child(child_ro_mount);
	ck_assert_msg(st == 0, "read-only mount child failed at step %d", st);
	/* outside the namespace the file is intact and opens */
	ck_assert_msg(db_open(&db, dbpath, err, sizeof(err)) == 0, "%s", err);
}
END_TEST

static int child_unprivileged(void)
{
	char p[256];
	struct db *d = NULL;
	char e[512];
	int r, fd;

	if (geteuid() == 0 && setresgid(65534, 65534, 65534) != 0)
		return 20;
	if (geteuid() == 0 && setresuid(65534, 65534, 65534) != 0)
		return 21;
	snprintf(p, sizeof(p), "%s/probe", dir);
	fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	if (fd >= 0 || errno != EACCES)
		return 22;
	r = db_open(&d, dbpath, e, sizeof(e));
	if ((r != -EACCES && r != -EROFS) || d || !strstr(e, dbpath) || !strstr(e, "writable"))
		return fprintf(stderr, "existing: r=%d %s\n", r, e), 23;
	snprintf(p, sizeof(p), "%s/new.db", dir);
	r = db_open(&d, p, e, sizeof(e));
	if ((r != -EACCES && r != -EROFS) || d || !strstr(e, p) || !strstr(e, "writable"))
		return fprintf(stderr, "new: r=%d %s\n", r, e), 24;
	/* the file itself writable, its directory not (no room for -wal and -shm) */
	snprintf(p, sizeof(p), "%s/sub/ssid.db", dir);
	r = db_open(&d, p, e, sizeof(e));
	if ((r != -EACCES && r != -EROFS) || d || !strstr(e, p) || !strstr(e, "writable"))
		return fprintf(stderr, "file writable, dir not: r=%d %s\n", r, e), 25;
	if (getenv("SSI_TEST_VERBOSE"))
		fprintf(stderr, "%s\n", e);
	return 0;
}

START_TEST(test_open_unwritable_dir)
{
	char sub[160], subdb[200];
	int st;

	snprintf(sub, sizeof(sub), "%s/sub", dir);
	snprintf(subdb, sizeof(subdb), "%s/ssid.db", sub);

	db_close(db);
	db = NULL;
	/* directory and file not writable by uid 65534 (owned by root, or by us if not root) */
	ck_assert_int_eq(chmod(dbpath, 0444), 0);
	/* and a closed store whose file anyone may write, in a directory they may not */
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	ck_assert_int_eq(db_open(&db, subdb, err, sizeof(err)), 0);
	db_close(db);
	db = NULL;
	ck_assert_int_eq(chmod(subdb, 0666), 0);
	ck_assert_int_eq(chmod(sub, 0555), 0);
	ck_assert_int_eq(chmod(dir, 0555), 0);
	if (geteuid() != 0 && access(dir, W_OK) == 0)
		return;
	st = in_child(child_unprivileged);
	chmod(dir, 0755);
	chmod(sub, 0755);
	ck_assert_msg(st == 0, "unprivileged child failed at step %d", st);
}
END_TEST

/* ------------------------------------------------------------------ upgrade */

START_TEST(test_upgrade_from_v1)
{
	struct db_proc p;
	struct db_mig m;
	char sql[4096];

	db_close(db);
	db = NULL;
	unlink(dbpath);
	/* a file exactly as version 1 wrote it, with rows in it */
	snprintf(sql, sizeof(sql),
		 "%s PRAGMA user_version = 1;"
		 "INSERT INTO processes VALUES (4194404, 1, 2, 1000, 'sleep 100', 0, 5000);"
		 "INSERT INTO migrations (gpid, from_node, to_node, start_t) "
		 "VALUES (4194404, 1, 2, 4000);"
		 "INSERT INTO nodes (id, name) VALUES (3, 'node3');",
		 db_schema_v1_sql);
	sql_exec(dbpath, sql);
	ck_assert_int_eq(sql_int(dbpath, "PRAGMA user_version"), 1);
	ck_assert_int_eq(sql_int(dbpath, "SELECT count(*) FROM pragma_table_info('processes') "
					 "WHERE name = 'mig_id'"),
			 0);

	ck_assert_msg(db_open(&db, dbpath, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(sql_int(dbpath, "PRAGMA user_version"), DB_SCHEMA_VERSION);
	ck_assert_int_eq(sql_int(dbpath, "SELECT count(*) FROM sqlite_master WHERE name IN "
					 "('migrations_gpid', 'migrations_pending')"),
			 2);
	/* old rows survive, the new column has its default */
	ck_assert_int_eq(db_proc_get(db, 4194404, &p), 0);
	ck_assert_int_eq(p.home_node, 1);
	ck_assert_int_eq(p.node, 2);
	ck_assert_str_eq(p.cmd, "sleep 100");
	ck_assert_int_eq(p.mig_id, 0);
	ck_assert_int_eq(db_mig_get(db, 1, &m), 0);
	ck_assert_int_eq(m.outcome, DB_MIG_PENDING);
	ck_assert_int_eq(m.freeze_ms, -1);
	ck_assert_str_eq(m.reason, ""); /* schema 3 */
	ck_assert_int_eq(db_mig_set_reason(db, 1, "auto: test"), 0);
	ck_assert_int_eq(db_mig_get(db, 1, &m), 0);
	ck_assert_str_eq(m.reason, "auto: test");
	ck_assert_int_eq(db_mig_set_reason(db, 99, "x"), -ENOENT);
	/* and the new column is usable */
	p.state = DB_PROC_MIGRATING;
	p.mig_id = 1;
	ck_assert_int_eq(db_proc_put(db, &p), 0);
	ck_assert_int_eq(db_proc_get(db, 4194404, &p), 0);
	ck_assert_int_eq(p.mig_id, 1);
	db_close(db);
	db = NULL;
	/* reopening does not upgrade again */
	ck_assert_msg(db_open(&db, dbpath, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(db_proc_get(db, 4194404, &p), 0);
	ck_assert_int_eq(p.mig_id, 1);
}
END_TEST

/* ------------------------------------------------------------------ nodes */

START_TEST(test_nodes)
{
	struct db_node a = mknode(1, "node1"), b = mknode(2, "node2"), g, *list = NULL;
	size_t n = 99;

	/* a full-length cpu flags line round-trips */
	memset(b.cpu_flags, 'f', sizeof(b.cpu_flags) - 1);
	b.cpu_flags[sizeof(b.cpu_flags) - 1] = '\0';
	ck_assert_int_eq(db_node_list(db, &list, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(list);
	ck_assert_int_eq(db_node_put(db, &b), 0);
	ck_assert_int_eq(db_node_put(db, &a), 0);
	ck_assert_int_eq(db_node_get(db, 2, &g), 0);
	ck_assert_int_eq(memcmp(&g, &b, sizeof(g)), 0);
	ck_assert_int_eq(db_node_list(db, &list, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(list[0].id, 1);
	ck_assert_str_eq(list[0].name, "node1");
	ck_assert_str_eq(list[0].addr, "127.0.1.1:7022");
	ck_assert_int_eq(list[0].cpus, 4);
	ck_assert(list[0].speed == 1.25);
	ck_assert_uint_eq(list[0].mem_total, 8ULL << 30);
	ck_assert_str_eq(list[0].kernel, "6.18.0-test");
	ck_assert_str_eq(list[0].cpu_flags, "fpu sse sse2 avx2");
	ck_assert_int_eq(list[1].id, 2);
	free(list);

	/* state and last_seen change alone */
	ck_assert_int_eq(db_node_set_state(db, 1, DB_NODE_SUSPECT, 7000), 0);
	ck_assert_int_eq(db_node_seen(db, 1, 6500), 0);
	ck_assert_int_eq(db_node_get(db, 1, &g), 0);
	ck_assert_int_eq(g.state, DB_NODE_SUSPECT);
	ck_assert_int_eq(g.state_since_ms, 7000);
	ck_assert_int_eq(g.last_seen_ms, 6500);
	ck_assert_str_eq(g.name, "node1");
	ck_assert_str_eq(db_node_state_str(g.state), "suspect");
	ck_assert_str_eq(db_node_state_str(DB_NODE_DOWN), "down");
	ck_assert_str_eq(db_node_state_str(9), "?");

	/* replace keeps one row; a name owned by another id is refused */
	a.cpus = 8;
	ck_assert_int_eq(db_node_put(db, &a), 0);
	ck_assert_int_eq(db_node_get(db, 1, &g), 0);
	ck_assert_int_eq(g.cpus, 8);
	b = mknode(3, "node1");
	ck_assert_int_eq(db_node_put(db, &b), -EEXIST);
	ck_assert_ptr_nonnull(strstr(db_errmsg(db), "node1"));

	/* bad input */
	b = mknode(512, "big");
	ck_assert_int_eq(db_node_put(db, &b), -EINVAL);
	ck_assert_ptr_nonnull(strstr(db_errmsg(db), "512"));
	b = mknode(0, "zero");
	ck_assert_int_eq(db_node_put(db, &b), -EINVAL);
	b = mknode(5, "");
	ck_assert_int_eq(db_node_put(db, &b), -EINVAL);
	b = mknode(5, "x");
	memset(b.kernel, 'k', sizeof(b.kernel)); /* unterminated */
	ck_assert_int_eq(db_node_put(db, &b), -EINVAL);
	b = mknode(5, "x");
	b.state = 3;
	ck_assert_int_eq(db_node_put(db, &b), -EINVAL);
	ck_assert_int_eq(db_node_set_state(db, 1, -1, 0), -EINVAL);

	/* missing rows */
	ck_assert_int_eq(db_node_get(db, 9, &g), -ENOENT);
	ck_assert_int_eq(db_node_set_state(db, 9, DB_NODE_UP, 1), -ENOENT);
	ck_assert_int_eq(db_node_seen(db, 9, 1), -ENOENT);
	ck_assert_int_eq(db_node_del(db, 9), -ENOENT);
	ck_assert_int_eq(db_node_del(db, 2), 0);
	ck_assert_int_eq(db_node_get(db, 2, &g), -ENOENT);
	ck_assert_int_eq(db_node_list(db, &list, &n), 0);
	ck_assert_uint_eq(n, 1);
	free(list);
}
END_TEST

/* ------------------------------------------------------------------ load */

START_TEST(test_load_ops)
{
	struct db_load l, *list = NULL, bad[2];
	uint64_t c;
	size_t n;

	ck_assert_int_eq(db_load_latest(db, 1, &l), -ENOENT);
	for (int t = 0; t < 10; t++) {
		ck_assert_int_eq(db_load_add(db, &(struct db_load){.node_id = 1,
								   .t_ms = t * 1000LL,
								   .runq = t,
								   .cpu_use = t / 10.0,
								   .mem_free = 100ULL + t,
								   .psi_cpu = 0.5,
								   .load_local = 1,
								   .load_export = 2}),
				 0);
		ck_assert_int_eq(
			db_load_add(db, &(struct db_load){.node_id = 2, .t_ms = t * 1000LL}), 0);
	}
	ck_assert_int_eq(db_load_latest(db, 1, &l), 0);
	ck_assert_int_eq(l.node_id, 1);
	ck_assert_int_eq(l.t_ms, 9000);
	ck_assert(l.runq == 9 && l.cpu_use == 0.9 && l.psi_cpu == 0.5);
	ck_assert_uint_eq(l.mem_free, 109);
	ck_assert(l.load_local == 1 && l.load_export == 2);
	ck_assert_int_eq(db_load_count(db, 1, &c), 0);
	ck_assert_uint_eq(c, 10);
	ck_assert_int_eq(db_load_count(db, 0, &c), 0);
	ck_assert_uint_eq(c, 20);
	ck_assert_int_eq(db_load_count(db, 3, &c), 0);
	ck_assert_uint_eq(c, 0);

	/* since and limit, newest first */
	ck_assert_int_eq(db_load_list(db, 1, 5000, 100, &list, &n), 0);
	ck_assert_uint_eq(n, 5);
	ck_assert_int_eq(list[0].t_ms, 9000);
	ck_assert_int_eq(list[4].t_ms, 5000);
	free(list);
	ck_assert_int_eq(db_load_list(db, 1, 0, 3, &list, &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(list[2].t_ms, 7000);
	free(list);
	ck_assert_int_eq(db_load_list(db, 1, 0, 0, &list, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(list);
	ck_assert_int_eq(db_load_list(db, 7, 0, 10, &list, &n), 0);
	ck_assert_uint_eq(n, 0);

	/* a batch with one bad sample stores nothing */
	bad[0] = mkload(3, 1000);
	bad[1] = mkload(3, 2000);
	bad[1].runq = NAN;
	ck_assert_int_eq(db_load_add_batch(db, bad, 2), -EINVAL);
	ck_assert_int_eq(db_load_count(db, 3, &c), 0);
	ck_assert_uint_eq(c, 0);
	bad[1] = mkload(600, 2000);
	ck_assert_int_eq(db_load_add_batch(db, bad, 2), -EINVAL);
	ck_assert_int_eq(db_load_latest(db, 0, &l), -EINVAL);
	bad[1] = mkload(3, 2000);
	ck_assert_int_eq(db_load_add_batch(db, bad, 2), 0);
	ck_assert_int_eq(db_load_count(db, 3, &c), 0);
	ck_assert_uint_eq(c, 2);
}
END_TEST

/* ------------------------------------------------------------------ processes */

START_TEST(test_procs)
{
	struct db_proc p, *list = NULL;
	size_t n;
	/* this node is 1: gpid 1<<22|100 is ours and away on 2; 2<<22|7 visits us from 2 */
	struct db_proc away = {.gpid = 1u << 22 | 100,
			       .home_node = 1,
			       .node = 2,
			       .uid = 1000,
			       .cmd = "make -j4",
			       .state = DB_PROC_RUNNING,
			       .since_ms = 10};
	struct db_proc guest = {.gpid = 2u << 22 | 7,
				.home_node = 2,
				.node = 1,
				.uid = 0,
				.cmd = "burn",
				.state = DB_PROC_RUNNING,
				.since_ms = 20};
	struct db_proc other = {.gpid = 3u << 22 | 9,
				.home_node = 3,
				.node = 2,
				.uid = 5,
				.cmd = "",
				.state = DB_PROC_LOST,
				.since_ms = 30};

	ck_assert_int_eq(db_proc_put(db, &away), 0);
	ck_assert_int_eq(db_proc_put(db, &guest), 0);
	ck_assert_int_eq(db_proc_put(db, &other), 0);
	ck_assert_int_eq(db_proc_get(db, away.gpid, &p), 0);
	ck_assert_int_eq(memcmp(&p, &away, sizeof(p)), 0);

	ck_assert_int_eq(db_proc_list(db, DB_PROC_AWAY, 1, &list, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(list[0].gpid, away.gpid);
	free(list);
	ck_assert_int_eq(db_proc_list(db, DB_PROC_VISITING, 1, &list, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(list[0].gpid, guest.gpid);
	ck_assert_str_eq(list[0].cmd, "burn");
	free(list);
	ck_assert_int_eq(db_proc_list(db, DB_PROC_ALL, 0, &list, &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(list[0].gpid, away.gpid); /* by gpid */
	ck_assert_uint_eq(list[2].gpid, other.gpid);
	ck_assert_int_eq(list[2].state, DB_PROC_LOST);
	free(list);

	/* moving: replace by gpid */
	away.state = DB_PROC_MIGRATING;
	away.mig_id = 12;
	ck_assert_int_eq(db_proc_put(db, &away), 0);
	away.node = 1; /* back home: no longer away */
	away.state = DB_PROC_RUNNING;
	away.mig_id = 0;
	ck_assert_int_eq(db_proc_put(db, &away), 0);
	ck_assert_int_eq(db_proc_list(db, DB_PROC_AWAY, 1, &list, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_str_eq(db_proc_state_str(DB_PROC_MIGRATING), "migrating");
	ck_assert_str_eq(db_proc_state_str(-1), "?");

	ck_assert_int_eq(db_proc_del(db, guest.gpid), 0);
	ck_assert_int_eq(db_proc_del(db, guest.gpid), -ENOENT);
	ck_assert_int_eq(db_proc_get(db, guest.gpid, &p), -ENOENT);
	ck_assert_ptr_nonnull(strstr(db_errmsg(db), dbpath));

	p = other;
	p.gpid = 0;
	ck_assert_int_eq(db_proc_put(db, &p), -EINVAL);
	p = other;
	p.node = 0;
	ck_assert_int_eq(db_proc_put(db, &p), -EINVAL);
	p = other;
	p.state = 99;
	ck_assert_int_eq(db_proc_put(db, &p), -EINVAL);
	ck_assert_int_eq(db_proc_list(db, 5, 1, &list, &n), -EINVAL);
}
END_TEST

/* ------------------------------------------------------------------ migrations */

START_TEST(test_migrations)
{
	struct db_mig m, *list = NULL;
	int64_t id1, id2, id3;
	size_t n;

	ck_assert_int_eq(db_mig_start(db, 100, 1, 2, 1000, &id1), 0);
	ck_assert_int_eq(db_mig_start(db, 200, 2, 3, 2000, &id2), 0);
	ck_assert_int_eq(db_mig_start(db, 100, 2, 1, 3000, &id3), 0);
	ck_assert_int_gt(id1, 0);
	ck_assert_int_gt(id2, id1);
	ck_assert_int_eq(db_mig_get(db, id1, &m), 0);
	ck_assert_uint_eq(m.gpid, 100);
	ck_assert_int_eq(m.from_node, 1);
	ck_assert_int_eq(m.to_node, 2);
	ck_assert_int_eq(m.start_ms, 1000);
	ck_assert_int_eq(m.end_ms, 0);
	ck_assert_int_eq(m.freeze_ms, -1);
	ck_assert_int_eq(m.transfer_ms, -1);
	ck_assert_int_eq(m.restore_ms, -1);
	ck_assert_int_eq(m.outcome, DB_MIG_PENDING);
	ck_assert_str_eq(m.error, "");

	m.end_ms = 1450;
	m.freeze_ms = 12;
	m.transfer_ms = 400;
	m.restore_ms = 30;
	m.bytes = 5ULL << 30;
	m.outcome = DB_MIG_OK;
	ck_assert_int_eq(db_mig_finish(db, &m), 0);
	ck_assert_int_eq(db_mig_get(db, id2, &m), 0);
	m.end_ms = 2100;
	m.freeze_ms = 5;
	m.outcome = DB_MIG_FAILED;
	snprintf(m.error, sizeof(m.error), "node3 refused: cpu flag avx512f missing");
	ck_assert_int_eq(db_mig_finish(db, &m), 0);

	ck_assert_int_eq(db_mig_get(db, id1, &m), 0);
	ck_assert_int_eq(m.end_ms, 1450);
	ck_assert_int_eq(m.freeze_ms, 12);
	ck_assert_int_eq(m.transfer_ms, 400);
	ck_assert_int_eq(m.restore_ms, 30);
	ck_assert_uint_eq(m.bytes, 5ULL << 30);
	ck_assert_int_eq(m.outcome, DB_MIG_OK);
	ck_assert_str_eq(db_mig_outcome_str(m.outcome), "ok");

	/* newest first, limit, per gpid */
	ck_assert_int_eq(db_mig_list(db, 0, 10, &list, &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(list[0].id, id3);
	ck_assert_int_eq(list[1].id, id2);
	ck_assert_str_eq(list[1].error, "node3 refused: cpu flag avx512f missing");
	ck_assert_int_eq(list[2].id, id1);
	free(list);
	ck_assert_int_eq(db_mig_list(db, 0, 2, &list, &n), 0);
	ck_assert_uint_eq(n, 2);
	free(list);
	ck_assert_int_eq(db_mig_list(db, 100, 10, &list, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(list[0].id, id3);
	ck_assert_int_eq(list[1].id, id1);
	free(list);
	ck_assert_int_eq(db_mig_pending(db, &list, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(list[0].id, id3);
	free(list);

	/* errors */
	m.id = 9999;
	m.outcome = DB_MIG_OK;
	ck_assert_int_eq(db_mig_finish(db, &m), -ENOENT);
	ck_assert_int_eq(db_mig_get(db, 9999, &m), -ENOENT);
	m.id = id3;
	m.outcome = 17;
	ck_assert_int_eq(db_mig_finish(db, &m), -EINVAL);
	ck_assert_int_eq(db_mig_start(db, 100, 1, 600, 1, &id1), -EINVAL);
	ck_assert_int_eq(id1, 0);
	ck_assert_int_eq(db_mig_start(db, 0, 1, 2, 1, &id1), -EINVAL);
}
END_TEST

/* ------------------------------------------------------------------ events */

START_TEST(test_events)
{
	struct db_event *list = NULL;
	int64_t id, last = 0;
	uint64_t c;
	size_t n;
	char longtext[DB_TEXT_MAX + 1];

	for (int i = 0; i < 10; i++) {
		char text[64];

		snprintf(text, sizeof(text), "event %d", i);
		ck_assert_int_eq(db_event_add(db, 1000LL * i, i % 3, "test", text, &id), 0);
		ck_assert_int_gt(id, last);
		last = id;
	}
	ck_assert_int_eq(db_event_count(db, &c), 0);
	ck_assert_uint_eq(c, 10);
	/* the newest 3, oldest first */
	ck_assert_int_eq(db_event_list(db, 0, 0, 3, &list, &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(list[0].text, "event 7");
	ck_assert_str_eq(list[2].text, "event 9");
	ck_assert_int_eq(list[2].t_ms, 9000);
	ck_assert_int_eq(list[2].node_id, 0);
	ck_assert_int_eq(list[1].node_id, 2);
	ck_assert_str_eq(list[1].kind, "test");
	last = list[2].id;
	free(list);
	/* since a time */
	ck_assert_int_eq(db_event_list(db, 8000, 0, 100, &list, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(list[0].text, "event 8");
	free(list);
	/* follow: nothing after the last id, then the one added */
	ck_assert_int_eq(db_event_list(db, 0, last, 100, &list, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(list);
	ck_assert_int_eq(db_event_add(db, 10000, 5, "auth-refused", "node9: unknown key", NULL), 0);
	ck_assert_int_eq(db_event_list(db, 0, last, 100, &list, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(list[0].kind, "auth-refused");
	ck_assert_str_eq(list[0].text, "node9: unknown key");
	free(list);

	memset(longtext, 'x', sizeof(longtext) - 1);
	longtext[sizeof(longtext) - 1] = '\0';
	ck_assert_int_eq(db_event_add(db, 1, 1, "k", longtext, NULL), -EINVAL);
	longtext[DB_TEXT_MAX - 1] = '\0'; /* exactly the maximum */
	ck_assert_int_eq(db_event_add(db, 1, 1, "k", longtext, NULL), 0);
	ck_assert_int_eq(db_event_add(db, 1, 1, "", "empty kind", NULL), -EINVAL);
	ck_assert_int_eq(db_event_add(db, 1, 1, NULL, "no kind", NULL), -EINVAL);
	ck_assert_int_eq(db_event_add(db, 1, 512, "k", "bad node", NULL), -EINVAL);
}
END_TEST

/* ------------------------------------------------------------------ transactions */

START_TEST(test_tx)
{
	struct db_node a = mknode(1, "node1"), b = mknode(2, "node2"), g;
	struct db_load l = mkload(1, 5);
	uint64_t c;

	ck_assert_int_eq(db_tx_begin(db), 0);
	ck_assert_int_eq(db_tx_begin(db), -EBUSY);
	ck_assert_int_eq(db_node_put(db, &a), 0);
	ck_assert_int_eq(db_load_add(db, &l), 0);
	ck_assert_int_eq(db_event_add(db, 1, 1, "k", "t", NULL), 0);
	db_tx_rollback(db);
	ck_assert_int_eq(db_node_get(db, 1, &g), -ENOENT);
	ck_assert_int_eq(db_load_count(db, 0, &c), 0);
	ck_assert_uint_eq(c, 0);
	ck_assert_int_eq(db_event_count(db, &c), 0);
	ck_assert_uint_eq(c, 0);

	ck_assert_int_eq(db_tx_commit(db), -EINVAL);
	ck_assert_int_eq(db_tx_begin(db), 0);
	ck_assert_int_eq(db_node_put(db, &a), 0);
	ck_assert_int_eq(db_node_put(db, &b), 0);
	ck_assert_int_eq(db_tx_commit(db), 0);
	db_tx_rollback(db); /* harmless without a transaction */
	db_close(db);
	db = NULL;
	ck_assert_msg(db_open(&db, dbpath, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(db_node_get(db, 2, &g), 0);
	ck_assert_str_eq(g.name, "node2");
}
END_TEST

/* A second handle on the same file sees committed writes (WAL readers + busy timeout). */
START_TEST(test_two_handles)
{
	struct db *d2 = NULL;
	struct db_node a = mknode(1, "node1"), g;

	ck_assert_msg(db_open(&d2, dbpath, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(db_node_put(db, &a), 0);
	ck_assert_int_eq(db_node_get(d2, 1, &g), 0);
	ck_assert_str_eq(g.name, "node1");
	db_close(d2);
}
END_TEST

/* ssid holds two handles on its store; another process (ssictl history) opening and closing
 * the file must not take ssid's WAL away: a stray open()/close() of the file in our process
 * (once check_magic's) drops this process's POSIX locks, the other process then believes it
 * is the last user and deletes the -wal ssid still writes to, losing every later write. */
START_TEST(test_other_process_keeps_wal)
{
	struct db *d2 = NULL, *d3 = NULL;
	struct db_node a = mknode(1, "node1"), b = mknode(2, "node2"), g;
	char wal[256];
	int st = 0;
	pid_t c;

	snprintf(wal, sizeof(wal), "%s-wal", dbpath);
	ck_assert_msg(db_open(&d2, dbpath, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(db_node_put(db, &a), 0);
	c = fork();
	ck_assert_int_ge(c, 0);
	if (c == 0) { /* a fresh process: a fork would inherit sqlite's lock bookkeeping */
		execl("/proc/self/exe", "test_db", "--open-close", dbpath, (char *)NULL);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(c, &st, 0), c);
	ck_assert_int_eq(st, 0);
	ck_assert_msg(access(wal, F_OK) == 0, "%s deleted by another process's close", wal);
	ck_assert_int_eq(db_node_put(d2, &b), 0); /* a write after it is not lost */
	ck_assert_msg(db_open(&d3, dbpath, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(db_node_get(d3, 2, &g), 0);
	ck_assert_str_eq(g.name, "node2");
	db_close(d3);
	db_close(d2);
}
END_TEST

static void add_ops_tests(TCase *tc)
{
	tcase_add_test(tc, test_nodes);
	tcase_add_test(tc, test_load_ops);
	tcase_add_test(tc, test_procs);
	tcase_add_test(tc, test_migrations);
	tcase_add_test(tc, test_events);
	tcase_add_test(tc, test_tx);
	tcase_add_test(tc, test_two_handles);
	tcase_add_test(tc, test_other_process_keeps_wal);
}

/* ------------------------------------------------------------------ retention */

/* 64 nodes, one sample each per second, for `secs` seconds from t0, a batch per second. */
static void feed(int64_t t0, int secs)
{
	struct db_load batch[64];

	for (int s = 0; s < secs; s++) {
		for (int n = 0; n < 64; n++)
			batch[n] = mkload(n + 1, t0 + s * 1000LL);
		ck_assert_msg(db_load_add_batch(db, batch, 64) == 0, "%s", db_errmsg(db));
	}
}

static off_t store_size(void)
{
	char wal[256];

	snprintf(wal, sizeof(wal), "%s-wal", dbpath);
	return file_size(dbpath) + file_size(wal);
}

/* 204,800 samples with a per-node bound of 1000: rows and file size stop growing. */
START_TEST(test_load_bounded_by_count)
{
	struct db_retention r;
	struct db_load l;
	uint64_t c;
	off_t mid, end;

	db_retention_default(&r);
	r.load_max_per_node = 1000;
	ck_assert_int_eq(db_set_retention(db, &r), 0);
	feed(0, 1600);
	mid = store_size();
	feed(1600 * 1000LL, 1600);
	end = store_size();
	ck_assert_int_eq(db_load_count(db, 0, &c), 0);
	ck_assert_uint_le(c, 64 * (1000 + 1000 / 16));
	ck_assert_uint_ge(c, 64 * 1000);
	for (int n = 1; n <= 64; n++) {
		ck_assert_int_eq(db_load_count(db, n, &c), 0);
		ck_assert_uint_le(c, 1000 + 1000 / 16);
		ck_assert_uint_ge(c, 1000);
	}
	/* the newest are kept */
	ck_assert_int_eq(db_load_latest(db, 17, &l), 0);
	ck_assert_int_eq(l.t_ms, 3199 * 1000LL);
	ck_assert_msg(end <= mid + mid / 10 + 256 * 1024, "grew from %lld to %lld bytes",
		      (long long)mid, (long long)end);
	ck_assert_msg(end < 24 << 20, "store is %lld bytes", (long long)end);
	fprintf(stderr, "test_db: count bound: %llu rows, db+wal %lld bytes (at half-time %lld)\n",
		(unsigned long long)64 * 1000, (long long)end, (long long)mid);
}
END_TEST

/* The defaults: 64 nodes at 1 Hz for longer than the per-node bound stay within it. */
START_TEST(test_load_bounded_defaults)
{
	uint64_t c;

	feed(0, 4000);
	ck_assert_int_eq(db_load_count(db, 0, &c), 0);
	ck_assert_uint_le(c, 64 * (3600 + 3600 / 16));
	ck_assert_uint_ge(c, 64 * 3600);
	fprintf(stderr, "test_db: defaults: %llu rows, db+wal %lld bytes\n", (unsigned long long)c,
		(long long)store_size());
}
END_TEST

/* Age bound: samples older than 600 s go, also those of a node that fell silent; the
 * bound survives a reopen (counters rebuilt). */
START_TEST(test_load_bounded_by_age)
{
	struct db_retention r;
	struct db_load *list = NULL, l;
	uint64_t c;
	size_t n;

	db_retention_default(&r);
	r.load_max_age_ms = 600 * 1000;
	r.load_max_per_node = 0;
	ck_assert_int_eq(db_set_retention(db, &r), 0);
	l = mkload(100, 0);
	ck_assert_int_eq(db_load_add(db, &l), 0); /* node 100 says one thing and falls silent */
	feed(0, 3000);
	ck_assert_int_eq(db_load_count(db, 100, &c), 0);
	ck_assert_uint_eq(c, 0);
	for (int node = 1; node <= 64; node += 21) {
		ck_assert_int_eq(db_load_list(db, node, 0, 100000, &list, &n), 0);
		ck_assert_uint_le(n, 600 + 600 / 16 + 2);
		ck_assert_uint_ge(n, 600);
		ck_assert_int_eq(list[0].t_ms, 2999 * 1000LL);
		ck_assert_int_ge(list[n - 1].t_ms, (2999 - 600 - 600 / 16 - 1) * 1000LL);
		free(list);
	}
	db_close(db);
	db = NULL;
	ck_assert_msg(db_open(&db, dbpath, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(db_set_retention(db, &r), 0);
	feed(3000 * 1000LL, 1000);
	ck_assert_int_eq(db_load_count(db, 5, &c), 0);
	ck_assert_uint_le(c, 600 + 600 / 16 + 2);
	ck_assert_int_eq(db_load_count(db, 0, &c), 0);
	ck_assert_uint_le(c, 64 * (600 + 600 / 16 + 2));
}
END_TEST

START_TEST(test_events_bounded)
{
	struct db_retention r;
	struct db_event *list = NULL;
	uint64_t c;
	size_t n;

	db_retention_default(&r);
	r.event_max_rows = 100;
	ck_assert_int_eq(db_set_retention(db, &r), 0);
	for (int i = 0; i < 2000; i++)
		ck_assert_int_eq(db_event_add(db, i, 1, "k", "text", NULL), 0);
	ck_assert_int_eq(db_event_count(db, &c), 0);
	ck_assert_uint_le(c, 100 + 100 / 16);
	ck_assert_uint_ge(c, 100);
	ck_assert_int_eq(db_event_list(db, 0, 0, 1, &list, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(list[0].id, 2000); /* ids are never reused */
	free(list);

	/* by age: 1 s */
	r.event_max_rows = 0;
	r.event_max_age_ms = 1000;
	ck_assert_int_eq(db_set_retention(db, &r), 0);
	for (int i = 0; i < 5000; i++)
		ck_assert_int_eq(db_event_add(db, 10000 + i, 1, "k", "text", NULL), 0);
	ck_assert_int_eq(db_event_count(db, &c), 0);
	ck_assert_uint_le(c, 1000 + 1000 / 16 + 1);
	ck_assert_int_eq(db_event_list(db, 0, 0, 100000, &list, &n), 0);
	ck_assert_int_ge(list[0].t_ms, 14999 - 1000 - 1000 / 16 - 1);
	free(list);

	r.event_max_age_ms = 0;
	ck_assert_int_eq(db_set_retention(db, &r), -EINVAL);
	r.event_max_rows = 10;
	r.load_max_age_ms = 0;
	r.load_max_per_node = 0;
	ck_assert_int_eq(db_set_retention(db, &r), -EINVAL);
}
END_TEST

START_TEST(test_migrations_bounded)
{
	struct db_retention r;
	struct db_mig m, *list = NULL;
	int64_t pending, id;
	size_t n;

	db_retention_default(&r);
	r.mig_max_rows = 32;
	ck_assert_int_eq(db_set_retention(db, &r), 0);
	ck_assert_int_eq(db_mig_start(db, 7, 1, 2, 0, &pending), 0);
	for (int i = 1; i <= 500; i++) {
		ck_assert_int_eq(db_mig_start(db, 8, 1, 2, i, &id), 0);
		ck_assert_int_eq(db_mig_get(db, id, &m), 0);
		m.outcome = DB_MIG_OK;
		m.end_ms = i + 1;
		ck_assert_int_eq(db_mig_finish(db, &m), 0);
	}
	ck_assert_int_eq(db_mig_list(db, 0, 100000, &list, &n), 0);
	ck_assert_uint_le(n, 32 + 32 / 16 + 2);
	ck_assert_uint_ge(n, 32);
	ck_assert_int_eq(list[0].start_ms, 500);
	free(list);
	/* the pending one was never pruned */
	ck_assert_int_eq(db_mig_get(db, pending, &m), 0);
	ck_assert_int_eq(m.outcome, DB_MIG_PENDING);
}
END_TEST

static void add_retention_tests(TCase *tc)
{
	tcase_add_test(tc, test_load_bounded_by_count);
	tcase_add_test(tc, test_load_bounded_defaults);
	tcase_add_test(tc, test_load_bounded_by_age);
	tcase_add_test(tc, test_events_bounded);
	tcase_add_test(tc, test_migrations_bounded);
}

static Suite *db_suite(void)
{
	Suite *s = suite_create("db");
	TCase *open = tcase_create("open");
	TCase *ops = tcase_create("ops");
	TCase *ret = tcase_create("retention");

	tcase_add_checked_fixture(open, setup_open, teardown_dir);
	tcase_add_test(open, test_open_creates_wal_v2);
	tcase_add_test(open, test_open_empty_path);
	tcase_add_test(open, test_open_missing_dir);
	tcase_add_test(open, test_open_newer_schema);
	tcase_add_test(open, test_open_random_bytes);
	tcase_add_test(open, test_open_truncated);
	tcase_add_test(open, test_open_garbled);
	tcase_add_test(open, test_open_foreign_sqlite);
	tcase_add_test(open, test_open_readonly_mount);
	tcase_add_test(open, test_open_unwritable_dir);
	tcase_add_test(open, test_upgrade_from_v1);
	suite_add_tcase(s, open);

	tcase_add_checked_fixture(ops, setup_open, teardown_dir);
	add_ops_tests(ops);
	suite_add_tcase(s, ops);

	tcase_add_checked_fixture(ret, setup_open, teardown_dir);
	tcase_set_timeout(ret, 120);
	add_retention_tests(ret);
	suite_add_tcase(s, ret);
	return s;
}

int main(int argc, char **argv)
{
	SRunner *sr;
	int failed;

	if (argc == 3 && !strcmp(argv[1], "--open-close")) { /* test_other_process_keeps_wal */
		struct db *o = NULL;
		if (db_open(&o, argv[2], err, sizeof(err)) < 0) {
			fprintf(stderr, "test_db --open-close: %s\n", err);
			return 1;
		}
		db_close(o);
		return 0;
	}
	snprintf(root, sizeof(root), "/tmp/test_db.XXXXXX");
	if (!mkdtemp(root) || chmod(root, 0755) != 0) { /* 0755: the unprivileged test enters */
		perror("mkdtemp");
		return 1;
	}
	sr = srunner_create(db_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	rm_tree(root);
	return failed ? 1 : 0;
}
