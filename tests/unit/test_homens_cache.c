/*
 * test_homens_cache.c - Check suite for ssid/homens_cache.c: the first answer is computed and
 * stored, the next one read from the file; a changed stamp (the directory's own mtime, home's
 * dpkg status) or an expired entry makes it compute again; a change the stamps cannot see is
 * served from the file until then (the documented limit); homens_cache_warm renews an entry
 * about to expire; homens_cache_get only reads (a miss is -ENOENT, nothing walked or
 * written); a file of another format is ignored and replaced; no cache = no file; home's
 * answer comes from the fingerprint home published, never from a walk of home's copy, and
 * without a published one (or a stale one) nothing is remembered.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ssid/homens.h"
#include "ssid/homens_cache.h"

static char top[64];	/* temporary directory */
static char here[128];	/* top/a: "this node's" directory */
static char home[128];	/* top/h: home's root; home's copy is home + here */
static char cache[160]; /* top/cache */
static time_t fixed = 1700000000;

static void sh(const char *fmt, const char *a, const char *b)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), fmt, a, b);
	ck_assert_int_eq(system(cmd), 0);
}

/* Every mtime under dir fixed, so the two copies fingerprint alike. */
static void fix_times(const char *dir)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "find %s -exec touch -h -d @%lld {} +", dir, (long long)fixed);
	ck_assert_int_eq(system(cmd), 0);
}

static void setup(void)
{
	char hc[256], cmd[2048];

	strcpy(top, "/tmp/test_homens_cache.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(top));
	snprintf(here, sizeof(here), "%s/a", top);
	snprintf(home, sizeof(home), "%s/h", top);
	snprintf(cache, sizeof(cache), "%s/cache", top);
	snprintf(hc, sizeof(hc), "%s%s", home, here);
	snprintf(cmd, sizeof(cmd),
		 "mkdir -p %s/d/e %s && echo x >%s/d/e/f && echo y >%s/top-file && cp -a %s/. %s/",
		 here, hc, here, here, here, hc);
	ck_assert_int_eq(system(cmd), 0);
	/* homens_same compares the dpkg status files of both sides: give home the same. */
	sh("[ ! -e /var/lib/dpkg/status ] || { mkdir -p %s/var/lib/dpkg && cp -a "
	   "/var/lib/dpkg/status %s/var/lib/dpkg/; }",
	   home, home);
	fix_times(here);
	fix_times(hc);
	/* home publishes its fingerprint (as its ssid does), read by the answers below */
	ck_assert_int_eq(homens_cache_publish_at(home, cache, here), 0);
}

static void teardown(void)
{
	sh("rm -rf %s%s", top, "");
}

static int ask(int *hit)
{
	return homens_cache_same(cache, "node1", here, home, hit);
}

/* Age every entry of the cache file by sec seconds. */
static void age(int sec)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "awk 'NR > 1 { $4 = $4 - %d } 1' %s >%s.n && mv %s.n %s", sec,
		 cache, cache, cache, cache);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(miss_then_hit)
{
	int hit = -1;

	ck_assert_int_eq(homens_cache_get(cache, "node1", here, home), -ENOENT);
	ck_assert_int_eq(access(cache, F_OK), -1); /* get never walks nor writes */
	ck_assert_int_eq(ask(&hit), 1);
	ck_assert_int_eq(hit, 0);
	ck_assert_int_eq(access(cache, F_OK), 0);
	ck_assert_int_eq(ask(&hit), 1);
	ck_assert_int_eq(hit, 1);
	ck_assert_int_eq(homens_cache_get(cache, "node1", here, home), 1);
	/* another home node is another entry */
	ck_assert_int_eq(homens_cache_same(cache, "node7", here, home, &hit), 1);
	ck_assert_int_eq(hit, 0);
	ck_assert_int_eq(ask(&hit), 1);
	ck_assert_int_eq(hit, 1);
}
END_TEST

START_TEST(stamps)
{
	char p[256];
	int hit;

	ck_assert_int_eq(ask(&hit), 1);
	/* a file added two levels down: the directory itself is unchanged, so the stored
	 * answer stands (the limit the TTL bounds) */
	snprintf(p, sizeof(p), "%s/d/e/new", here);
	sh("touch %s%s", p, "");
	snprintf(p, sizeof(p), "%s/d/e", here);
	sh("touch -d @1700000000 %s%s", p, "");
	snprintf(p, sizeof(p), "%s/d", here);
	sh("touch -d @1700000000 %s%s", p, "");
	ck_assert_int_eq(ask(&hit), 1);
	ck_assert_int_eq(hit, 1);
	/* the directory's own mtime changes: computed again, and now they differ */
	sh("touch %s%s", here, "");
	ck_assert_int_eq(homens_cache_get(cache, "node1", here, home), -ENOENT);
	ck_assert_int_eq(ask(&hit), 0);
	ck_assert_int_eq(hit, 0);
	ck_assert_int_eq(ask(&hit), 0);
	ck_assert_int_eq(hit, 1);
	/* home's dpkg status changes: computed again */
	sh("mkdir -p %s/var/lib/dpkg && echo changed >>%s/var/lib/dpkg/status", home, home);
	ck_assert_int_eq(ask(&hit), 0);
	ck_assert_int_eq(hit, 0);
}
END_TEST

START_TEST(expiry_and_warm)
{
	int hit;
	FILE *f;
	char line[512];
	long long t = 0;

	ck_assert_int_eq(ask(&hit), 1);
	age(HOMENS_CACHE_TTL_S + 5);
	ck_assert_int_eq(ask(&hit), 1);
	ck_assert_int_eq(hit, 0); /* expired: computed again */
	ck_assert_int_eq(ask(&hit), 1);
	ck_assert_int_eq(hit, 1);
	/* about to expire: still served, but warm renews it */
	age(HOMENS_CACHE_TTL_S - HOMENS_CACHE_AHEAD / 2);
	ck_assert_int_eq(ask(&hit), 1);
	ck_assert_int_eq(hit, 1);
	ck_assert_int_eq(homens_cache_warm(cache, "node1", here, home), 1);
	f = fopen(cache, "re");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
	fclose(f);
	ck_assert_int_eq(sscanf(line, "%*s %*s %*d %lld", &t), 1);
	ck_assert_int_ge(t, (long long)time(NULL) - 5); /* renewed, not aged */
}
END_TEST

START_TEST(bad_file_and_none)
{
	int hit;
	FILE *f = fopen(cache, "we");

	ck_assert_ptr_nonnull(f);
	fputs("something else 1\nnode1 /x 1 99999999999 0000000000000000\n", f);
	fclose(f);
	ck_assert_int_eq(ask(&hit), 1);
	ck_assert_int_eq(hit, 0);
	ck_assert_int_eq(ask(&hit), 1);
	ck_assert_int_eq(hit, 1); /* replaced by a good file */
	ck_assert_int_eq(unlink(cache), 0);
	ck_assert_int_eq(homens_cache_same(NULL, "node1", here, home, &hit), 1);
	ck_assert_int_eq(homens_cache_same("", "node1", here, home, &hit), 1);
	ck_assert_int_eq(hit, 0);
	ck_assert_int_eq(access(cache, F_OK), -1);
}
END_TEST

START_TEST(published_only)
{
	char pub[512], hc[256];
	int hit;

	/* home's copy changes below the top without a new publication: home's stamp (its
	 * directory and dpkg status) is unchanged, so its published fingerprint stands */
	snprintf(hc, sizeof(hc), "%s%s", home, here);
	sh("echo z >%s/d/e/g && touch -d @1700000000 %s/d/e", hc, hc);
	sh("touch -d @1700000000 %s/d", hc, "");
	ck_assert_int_eq(ask(&hit), 1); /* no walk of home: the published answer */
	/* home's directory itself changes: its published entry is stale, nothing remembered */
	ck_assert_int_eq(unlink(cache), 0);
	sh("touch %s%s", hc, "");
	ck_assert_int_eq(ask(&hit), 0);
	ck_assert_int_eq(homens_cache_get(cache, "node1", here, home), -ENOENT);
	/* home publishes again: now its fingerprint differs (g), remembered as different */
	ck_assert_int_eq(homens_cache_publish_at(home, cache, here), 0);
	ck_assert_int_eq(ask(&hit), 0);
	ck_assert_int_eq(homens_cache_get(cache, "node1", here, home), 0);
	/* no published file at home: not remembered */
	snprintf(pub, sizeof(pub), "%s%s/homens.fp", home, top);
	ck_assert_int_eq(unlink(pub), 0);
	ck_assert_int_eq(unlink(cache), 0);
	ck_assert_int_eq(ask(&hit), 0);
	ck_assert_int_eq(homens_cache_get(cache, "node1", here, home), -ENOENT);
	/* this node's own publication is used for its side, and is mode 0644 */
	ck_assert_int_eq(homens_cache_publish(cache, here), 0);
	snprintf(pub, sizeof(pub), "%s/homens.fp", top);
	struct stat st;
	ck_assert_int_eq(stat(pub, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0644);
}
END_TEST

static Suite *cache_suite(void)
{
	Suite *s = suite_create("homens_cache");
	TCase *t = tcase_create("cache");

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, miss_then_hit);
	tcase_add_test(t, stamps);
	tcase_add_test(t, expiry_and_warm);
	tcase_add_test(t, bad_file_and_none);
	tcase_add_test(t, published_only);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(cache_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
