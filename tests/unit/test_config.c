/*
 * test_config.c - Check suite for ssid/config.c: the file format of /work/coord/CONFIG.md,
 * defaults, relative paths, and one clear error naming line and key for each mistake.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ssid/config.h"
#include "ssid/ssierr.h"

static const char *full = "[node]\n"
			  "id = 1                          ; 1..511, required\n"
			  "name = node1\n"
			  "listen = 127.0.1.1:7022\n"
			  "state_dir = /var/lib/ssid\n"
			  "run_dir = run\n"
			  "key = /etc/ssid/node_key\n"
			  "authorized_keys = /etc/ssid/authorized_keys\n"
			  "known_hosts = /etc/ssid/known_hosts\n"
			  "[peers]\n"
			  "node2 = 127.0.1.2:7022\n"
			  "node3 = 127.0.1.3:7023\n"
			  "[timing]\n"
			  "heartbeat_ms = 250\n"
			  "down_ms = 3000\n";

START_TEST(full_file)
{
	struct config c;
	char err[256];

	ck_assert_int_eq(config_load_string(full, "/etc/ssid", &c, err, sizeof(err)), 0);
	ck_assert_int_eq(c.id, 1);
	ck_assert_str_eq(c.name, "node1");
	ck_assert_str_eq(c.listen_host, "127.0.1.1");
	ck_assert_uint_eq(c.listen_port, 7022);
	ck_assert_str_eq(c.run_dir, "/etc/ssid/run"); /* relative to the file's directory */
	ck_assert_uint_eq(c.npeers, 2);
	ck_assert_str_eq(c.peers[1].name, "node3");
	ck_assert_str_eq(c.peers[1].host, "127.0.1.3");
	ck_assert_uint_eq(c.peers[1].port, 7023);
	ck_assert_int_eq(c.heartbeat_ms, 250);
	ck_assert_int_eq(c.down_ms, 3000);
	ck_assert_int_eq(c.suspect_ms, 1500); /* default */
	ck_assert_int_eq(c.gossip_ms, 1000);
	config_free(&c);
}
END_TEST

START_TEST(defaults)
{
	struct config c;
	char err[256];

	ck_assert_int_eq(config_load_string("[node]\nid=5\nname=x\n", "/", &c, err, sizeof(err)),
			 0);
	ck_assert_str_eq(c.listen_host, "0.0.0.0");
	ck_assert_uint_eq(c.listen_port, 7022);
	ck_assert_str_eq(c.state_dir, "/var/lib/ssid");
	ck_assert_str_eq(c.run_dir, "/run/ssid");
	ck_assert_str_eq(c.key, "/etc/ssid/node_key");
	ck_assert_uint_eq(c.npeers, 0);
	ck_assert_int_eq(c.mig_image_direct, 1); /* the image channel unless said otherwise */
	config_free(&c);
	ck_assert_int_eq(
		config_load_string("[node]\nid=5\nname=x\n[migrate]\nimage_channel = ssh\n", "/",
				   &c, err, sizeof(err)),
		0);
	ck_assert_int_eq(c.mig_image_direct, 0);
	config_free(&c);
}
END_TEST

static void expect_error(const char *text, int code, const char *needle)
{
	struct config c;
	char err[256] = "";

	ck_assert_int_eq(config_load_string(text, "/", &c, err, sizeof(err)), code);
	ck_assert_msg(strstr(err, needle), "error '%s' lacks '%s'", err, needle);
	ck_assert_ptr_null(c.peers);
}

START_TEST(errors_name_line_and_key)
{
	expect_error("[node]\nid=1\nname=a\nlisten_port=7\n", SSI_E_BADFIELD,
		     ":4: unknown key 'listen_port'");
	expect_error("[node]\nid=1\nname=a\n[nodes]\nx=1\n", SSI_E_BADFIELD,
		     ":5: unknown section [nodes]");
	expect_error("[node]\nid=0\nname=a\n", SSI_E_BADFIELD, ":2: id: '0'");
	expect_error("[node]\nid=512\nname=a\n", SSI_E_BADFIELD, "1..511");
	expect_error("[node]\nid=1\nname=Node_1\n", SSI_E_BADFIELD, "name: 'Node_1'");
	expect_error("[node]\nid=1\nname=a\nlisten=1.2.3.4\n", SSI_E_BADFIELD, "listen:");
	expect_error("[node]\nid=1\nname=a\n[peers]\nb=h:0\n", SSI_E_BADFIELD, "peer b");
	expect_error("[node]\nid=1\nname=a\n[peers]\nb=h:1\nb=h:2\n", SSI_E_BADFIELD, "twice");
	expect_error("[node]\nid=1\nname=a\n[timing]\nheartbeat_ms=-5\n", SSI_E_BADFIELD,
		     "heartbeat_ms");
	expect_error("[node]\nid=1\nname=a\n[timing]\nsuspect_ms=5000\n", SSI_E_BADFIELD,
		     "suspect_ms < down_ms");
	expect_error("[node]\nname=a\n", SSI_E_MISSING, "id = 1..511");
	expect_error("[node]\nid=3\n", SSI_E_MISSING, "name");
	expect_error("[node]\nid=3\nname=a\ngarbage line\n", SSI_E_BADFIELD, ":4:");
	expect_error("[node]\nid=3\nname=a\n[migrate]\nimage_channel=tcp\n", SSI_E_BADFIELD,
		     ":5: image_channel: 'tcp' is not 'direct' or 'ssh'");
	expect_error("[node]\nid=3\nname=a\n[migrate]\nchannel=ssh\n", SSI_E_BADFIELD,
		     "unknown key 'channel' in [migrate]");
}
END_TEST

START_TEST(file_errors_and_paths)
{
	char dir[] = "/tmp/test_config.XXXXXX", path[256], err[512];
	struct config c;
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/none.conf", dir);
	ck_assert_int_eq(config_load(path, &c, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "none.conf"));
	snprintf(path, sizeof(path), "%s/ssid.conf", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("[node]\nid=2\nname=b\nkey=k\n[peers]\n", f);
	fclose(f);
	ck_assert_int_eq(config_load(path, &c, err, sizeof(err)), 0);
	ck_assert_str_eq(c.path, path);
	ck_assert(strncmp(c.key, dir, strlen(dir)) == 0 && !strcmp(c.key + strlen(dir), "/k"));
	config_free(&c);
	unlink(path);
	rmdir(dir);
}
END_TEST

START_TEST(hostport_and_names)
{
	char host[48];
	uint16_t port;

	ck_assert_int_eq(config_parse_hostport("127.0.1.2:7022", host, sizeof(host), &port), 0);
	ck_assert_str_eq(host, "127.0.1.2");
	ck_assert_uint_eq(port, 7022);
	ck_assert_int_eq(config_parse_hostport("h:65536", host, sizeof(host), &port), -EINVAL);
	ck_assert_int_eq(config_parse_hostport(":22", host, sizeof(host), &port), -EINVAL);
	ck_assert_int_eq(config_parse_hostport("a b:22", host, sizeof(host), &port), -EINVAL);
	ck_assert(config_name_ok("node-12"));
	ck_assert(!config_name_ok(""));
	ck_assert(!config_name_ok("123456789012345678901234567890123"));
	ck_assert(!config_name_ok("a.b"));
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, full_file);
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, errors_name_line_and_key);
	tcase_add_test(tc, file_errors_and_paths);
	tcase_add_test(tc, hostport_and_names);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
