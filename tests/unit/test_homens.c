/*
 * test_homens.c - Check suite for the "same on both nodes" rule of ssid/homens.c: the
 * fingerprint of a tree is independent of where it lies and of readdir order, and changes
 * with a name, size, mtime or link target down to depth 3 (not deeper: the documented limit);
 * homens_same() on directories and symlinks; the [gfs] local_dirs config key. The namespace
 * itself needs root and two nodes: tests/integration/gfs_homens.sh.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ssid/config.h"
#include "ssid/homens.h"

static char top[64]; /* a temporary directory holding a/ and b/ */

static void mk(const char *rel, const char *text)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", top, rel);
	f = fopen(p, "we");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static void mkd(const char *rel)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", top, rel);
	ck_assert_int_eq(mkdir(p, 0755), 0);
}

/* Set mtime of rel to t (s) without following a symlink. */
static void mt(const char *rel, time_t t)
{
	char p[256];
	struct timespec ts[2] = {{t, 0}, {t, 0}};

	snprintf(p, sizeof(p), "%s/%s", top, rel);
	ck_assert_int_eq(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), 0);
}

static uint64_t fp(const char *rel)
{
	char p[256];
	uint64_t v;

	snprintf(p, sizeof(p), "%s/%s", top, rel);
	ck_assert_int_eq(homens_fingerprint(p, NULL, &v), 0);
	return v;
}

/* Two identical trees a/ and b/ (made in different orders), all mtimes fixed. */
static void setup(void)
{
	static const char *const order[2][4] = {{"x", "d/y", "d/e/z", "d/e/f/deep"},
						{"d/e/f/deep", "d/e/z", "d/y", "x"}};

	strcpy(top, "/tmp/test_homens.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(top));
	for (int s = 0; s < 2; s++) {
		const char *side = s ? "b" : "a";
		char r[64];

		mkd(side);
		snprintf(r, sizeof(r), "%s/d", side), mkd(r);
		snprintf(r, sizeof(r), "%s/d/e", side), mkd(r);
		snprintf(r, sizeof(r), "%s/d/e/f", side), mkd(r);
		for (int i = 0; i < 4; i++) {
			snprintf(r, sizeof(r), "%s/%s", side, order[s][i]);
			mk(r, "same text\n");
		}
		snprintf(r, sizeof(r), "%s/%s/ln", top, side);
		ck_assert_int_eq(symlink("d/y", r), 0);
		static const char *const all[] = {"x",	"d/y",	 "d/e/z", "d/e/f/deep",
						  "ln", "d/e/f", "d/e",	  "d"};
		for (size_t i = 0; i < sizeof(all) / sizeof(*all); i++) {
			snprintf(r, sizeof(r), "%s/%s", side, all[i]);
			mt(r, 1700000000);
		}
	}
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", top);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(same_tree_same_fp)
{
	ck_assert_uint_eq(fp("a"), fp("b"));
	ck_assert_uint_ne(fp("a"), fp("a/d"));
}
END_TEST

START_TEST(changes_seen)
{
	uint64_t a = fp("a");

	mk("b/d/y", "same text, longer\n"); /* size, depth 2 */
	mt("b/d/y", 1700000000);
	mt("b/d", 1700000000);
	ck_assert_uint_ne(fp("b"), a);
	mk("b/d/y", "same text\n");
	mt("b/d/y", 1700000000);
	ck_assert_uint_eq(fp("b"), a);
	mt("b/d/e/z", 1700000001); /* mtime, depth 3 */
	ck_assert_uint_ne(fp("b"), a);
	mt("b/d/e/z", 1700000000);
	ck_assert_uint_eq(fp("b"), a);
	mk("b/d/e/new", ""); /* a new name at depth 3 */
	ck_assert_uint_ne(fp("b"), a);
}
END_TEST

START_TEST(link_target_seen)
{
	char p[256];
	uint64_t a = fp("a");

	snprintf(p, sizeof(p), "%s/b/ln", top);
	ck_assert_int_eq(unlink(p), 0);
	ck_assert_int_eq(symlink("d/Y", p), 0); /* same length, other target */
	mt("b/ln", 1700000000);
	mt("b", 1700000000);
	ck_assert_uint_ne(fp("b"), a);
}
END_TEST

START_TEST(depth4_limit)
{
	/* The documented limit: a file replaced in place at depth 4, its directory's mtime
	 * restored, is not seen (a dpkg upgrade is, through the dpkg status file). */
	uint64_t a = fp("a");

	mk("b/d/e/f/deep", "other text, other size\n");
	mt("b/d/e/f/deep", 1700000000);
	ck_assert_uint_eq(fp("b"), a);
	/* ... but a name added there changes d/e/f's mtime, which is hashed (depth 3). */
	mk("b/d/e/f/added", "");
	ck_assert_uint_ne(fp("b"), a);
}
END_TEST

START_TEST(dpkg_status_counts)
{
	char p[128], s[256];
	uint64_t v1, v2;

	snprintf(p, sizeof(p), "%s/a", top);
	snprintf(s, sizeof(s), "%s/x", p);
	ck_assert_int_eq(homens_fingerprint(p, s, &v1), 0);
	mk("a/x", "a package more\n");
	mt("a/x", 1700000000);
	ck_assert_int_eq(homens_fingerprint(p, s, &v2), 0);
	ck_assert_uint_ne(v1, v2);
	snprintf(s, sizeof(s), "%s/none", p);
	ck_assert_int_eq(homens_fingerprint(p, s, &v2), 0);
	ck_assert_uint_ne(v1, v2);
	ck_assert_int_eq(homens_fingerprint("/nonexistent/dir", NULL, &v1), -ENOENT);
}
END_TEST

START_TEST(same_rule)
{
	char here[128], home[128], p[1024];

	/* homens_same(path, homeroot) compares path with homeroot+path: here = top/a as
	 * "/..." seen from "/", home root = top/b minus the path prefix is not expressible,
	 * so build homeroot/top/a as a copy: rename b into place. */
	snprintf(here, sizeof(here), "%s/a", top);
	snprintf(home, sizeof(home), "%s/h", top);
	snprintf(p, sizeof(p), "mkdir -p %s%s && rmdir %s%s && mv %s/b %s%s", home, here, home,
		 here, top, home, here);
	ck_assert_int_eq(system(p), 0);
	/* The rule also compares the dpkg status files (here: the host's, maybe absent). */
	snprintf(p, sizeof(p),
		 "[ ! -e /var/lib/dpkg/status ] || { mkdir -p %s/var/lib/dpkg && "
		 "cp -a /var/lib/dpkg/status %s/var/lib/dpkg/; }",
		 home, home);
	ck_assert_int_eq(system(p), 0);
	ck_assert_int_eq(homens_same(here, home), 1);
	snprintf(p, sizeof(p), "%s/ln", here);
	ck_assert_int_eq(homens_same(p, home), 2); /* same symlink both sides */
	snprintf(p, sizeof(p), "%s/d", here);
	ck_assert_int_eq(homens_same(p, home), 1);
	mk("a/d/new", "");
	ck_assert_int_eq(homens_same(p, home), 0);
	snprintf(p, sizeof(p), "%s/missing", here);
	ck_assert_int_eq(homens_same(p, home), 0);		    /* missing here */
	ck_assert_int_eq(homens_same("/", "/nonexistent-home"), 0); /* missing at home */
}
END_TEST

START_TEST(config_key)
{
	static const char *base = "[node]\nid = 1\nname = node1\nlisten = 127.0.1.1:7022\n";
	struct config c;
	char err[256], text[512];

	ck_assert_int_eq(config_load_string(base, "/etc/ssid", &c, err, sizeof(err)), 0);
	ck_assert_str_eq(c.gfs_local_dirs, "/usr /lib /lib64 /bin /sbin");
	snprintf(text, sizeof(text), "%s[gfs]\nlocal_dirs = /usr /opt\n", base);
	ck_assert_int_eq(config_load_string(text, "/etc/ssid", &c, err, sizeof(err)), 0);
	ck_assert_str_eq(c.gfs_local_dirs, "/usr /opt");
	snprintf(text, sizeof(text), "%s[gfs]\nlocal_dirs =\n", base);
	ck_assert_int_eq(config_load_string(text, "/etc/ssid", &c, err, sizeof(err)), 0);
	ck_assert_str_eq(c.gfs_local_dirs, "");
	snprintf(text, sizeof(text), "%s[gfs]\nlocal_dirs = /usr usr\n", base);
	ck_assert_int_lt(config_load_string(text, "/etc/ssid", &c, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "local_dirs: 'usr'"));
	snprintf(text, sizeof(text), "%s[gfs]\nlocal_dirs = /usr/../etc\n", base);
	ck_assert_int_lt(config_load_string(text, "/etc/ssid", &c, err, sizeof(err)), 0);
}
END_TEST

static Suite *homens_suite(void)
{
	Suite *s = suite_create("homens");
	TCase *t = tcase_create("fingerprint");

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, same_tree_same_fp);
	tcase_add_test(t, changes_seen);
	tcase_add_test(t, link_target_seen);
	tcase_add_test(t, depth4_limit);
	tcase_add_test(t, dpkg_status_counts);
	tcase_add_test(t, same_rule);
	suite_add_tcase(s, t);
	t = tcase_create("config");
	tcase_add_test(t, config_key);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(homens_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
