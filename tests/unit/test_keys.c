/*
 * test_keys.c - Check suite for ssid/keys.c: line parsing of authorized_keys and known_hosts,
 * key generation (mode, public file), matching, and `trust` being idempotent and replacing
 * a changed pinned key.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ssid/keys.h"
#include "ssid/ssierr.h"

#define K1 "AAAAC3NzaC1lZDI1NTE5AAAAIEkFPqPMazHkVYUsyucNdMFzd9fVg3ZAYak8TmqCRgwn"

static char dir[64];

static void setup(void)
{
	strcpy(dir, "/tmp/test_keys.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static int count_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	int n = 0, ch;

	if (!f)
		return -1;
	while ((ch = fgetc(f)) != EOF)
		n += ch == '\n';
	fclose(f);
	return n;
}

START_TEST(parse_lines)
{
	struct keys_entry e;

	ck_assert_int_eq(keys_parse_line("ssh-ed25519 " K1 " node2 extra\n", 0, &e), 0);
	ck_assert_str_eq(e.name, "node2 extra");
	ssh_key_free(e.key);
	ck_assert_int_eq(keys_parse_line("node7 ssh-ed25519 " K1 "\n", 1, &e), 0);
	ck_assert_str_eq(e.name, "node7");
	ssh_key_free(e.key);
	ck_assert_int_eq(keys_parse_line("   # comment\n", 0, &e), 1);
	ck_assert_int_eq(keys_parse_line("\n", 1, &e), 1);
	ck_assert_int_eq(keys_parse_line("ssh-ed25519 notbase64!!\n", 0, &e), SSI_E_CORRUPT);
	ck_assert_int_eq(keys_parse_line("ssh-foo " K1 "\n", 0, &e), SSI_E_CORRUPT);
	ck_assert_int_eq(keys_parse_line("node7 ssh-ed25519\n", 1, &e), SSI_E_CORRUPT);
	ck_assert_ptr_null(e.key);
}
END_TEST

START_TEST(generate_load_trust)
{
	char key[128], key2[128], pub[140], pub2[140], ak[128], kh[128], err[512], fp[80];
	struct keys_set set;
	struct stat st;
	ssh_key priv;
	int changed;

	snprintf(key, sizeof(key), "%s/node_key", dir);
	snprintf(key2, sizeof(key2), "%s/other_key", dir);
	snprintf(pub, sizeof(pub), "%s.pub", key);
	snprintf(pub2, sizeof(pub2), "%s.pub", key2);
	snprintf(ak, sizeof(ak), "%s/authorized_keys", dir);
	snprintf(kh, sizeof(kh), "%s/known_hosts", dir);
	ck_assert_int_eq(keys_generate(key, "node1", 0, err, sizeof(err)), 0);
	ck_assert_int_eq(stat(key, &st), 0);
	ck_assert_int_eq(st.st_mode & 077, 0); /* private key is private */
	ck_assert_int_eq(keys_generate(key, "node1", 0, err, sizeof(err)), -EEXIST);
	ck_assert_int_eq(keys_load_private(key, &priv, err, sizeof(err)), 0);
	ck_assert_int_eq(keys_fingerprint(priv, fp, sizeof(fp)), 0);
	ck_assert(strncmp(fp, "SHA256:", 7) == 0);

	ck_assert_int_eq(keys_trust(ak, kh, "node1", pub, &changed, err, sizeof(err)), 0);
	ck_assert_int_eq(changed, 3);
	ck_assert_int_eq(keys_trust(ak, kh, "node1", pub, &changed, err, sizeof(err)), 0);
	ck_assert_int_eq(changed, 0); /* idempotent */
	ck_assert_int_eq(count_lines(ak), 1);
	ck_assert_int_eq(count_lines(kh), 1);

	ck_assert_int_eq(keys_load(ak, 0, &set, err, sizeof(err)), 0);
	ck_assert_uint_eq(set.n, 1);
	ck_assert_int_eq(keys_find_key(&set, priv), 0);
	keys_set_free(&set);
	ck_assert_int_eq(keys_load(kh, 1, &set, err, sizeof(err)), 0);
	ck_assert_int_eq(keys_find_name(&set, "node1"), 0);
	ck_assert_int_eq(keys_find_name(&set, "node2"), -1);
	keys_set_free(&set);

	/* node1 gets a new key: trust again replaces the pin, keeps one line per name. */
	ck_assert_int_eq(keys_generate(key2, "node1", 0, err, sizeof(err)), 0);
	ck_assert_int_eq(keys_trust(ak, kh, "node1", pub2, &changed, err, sizeof(err)), 0);
	ck_assert_int_eq(changed, 1 | 2 | 4);
	ck_assert_int_eq(count_lines(kh), 1);
	ck_assert_int_eq(count_lines(ak), 2);
	ck_assert_int_eq(keys_load(kh, 1, &set, err, sizeof(err)), 0);
	ck_assert_int_eq(keys_find_key(&set, priv), -1); /* the old key is no longer pinned */
	keys_set_free(&set);
	ssh_key_free(priv);
}
END_TEST

START_TEST(missing_and_bad_files)
{
	char path[128], err[512];
	struct keys_set set;
	ssh_key k;
	FILE *f;

	snprintf(path, sizeof(path), "%s/absent", dir);
	ck_assert_int_eq(keys_load(path, 0, &set, err, sizeof(err)), 0); /* empty set */
	ck_assert_uint_eq(set.n, 0);
	ck_assert_int_eq(keys_load_private(path, &k, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "ssictl keygen"));
	snprintf(path, sizeof(path), "%s/bad", dir);
	f = fopen(path, "w");
	fputs("ssh-ed25519 " K1 " ok\nnonsense\n", f);
	fclose(f);
	ck_assert_int_eq(keys_load(path, 0, &set, err, sizeof(err)), SSI_E_CORRUPT);
	ck_assert_ptr_nonnull(strstr(err, ":2:"));
}
END_TEST

static Suite *keys_suite(void)
{
	Suite *s = suite_create("keys");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, parse_lines);
	tcase_add_test(tc, generate_load_trust);
	tcase_add_test(tc, missing_and_bad_files);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(keys_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
