/*
 * test_admit.c - Check suite for admission at the destination (ssid/admit.c) and the block
 * order behind it: the rule and its texts, the order persisted in the store (db_policy_*,
 * survives closing and reopening), carried in gossip (gossip_to_wire/from_wire), and
 * admit_offer on this machine's real /proc/meminfo and /proc/self/statm.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db/db.h"
#include "ssid/admit.h"
#include "ssid/gossip.h"
#include "ssid/ssierr.h"

static struct admit_facts F(void) {
	struct admit_facts f = {.name = "node3",
				.need_kb = 100 << 10,
				.mem_avail_kb = 576 << 10,
				.reserve_kb = 64 << 10};
	return f;
}

START_TEST(rule_and_texts)
{
	struct admit_facts f = F();
	char why[ADMIT_TEXT_MAX];

	ck_assert_int_eq(admit_check(&f, why, sizeof(why)), 0);
	ck_assert_str_eq(why, "");
	f.blocked = 1;
	ck_assert_int_eq(admit_check(&f, why, sizeof(why)), SSI_E_REFUSED);
	ck_assert_str_eq(why,
			 "node3 refuses: blocked by its administrator (ssictl unblock on node3)");
	/* A process coming back to its home is not kept out by a block. */
	f.coming_home = 1;
	ck_assert_int_eq(admit_check(&f, why, sizeof(why)), 0);
	f.blocked = f.coming_home = 0;
	/* 576 available - 64 reserve = 512 MiB for it. */
	f.need_kb = 900 << 10;
	ck_assert_int_eq(admit_check(&f, why, sizeof(why)), -ENOMEM);
	ck_assert_str_eq(why, "node3 refuses: needs 900 MiB, 512 MiB available");
	f.need_kb = 512 << 10; /* exactly what is left: admitted */
	ck_assert_int_eq(admit_check(&f, why, sizeof(why)), 0);
	f.need_kb = (512 << 10) + 1; /* 1 kB more: refused, shown rounded up */
	ck_assert_int_eq(admit_check(&f, why, sizeof(why)), -ENOMEM);
	ck_assert_str_eq(why, "node3 refuses: needs 513 MiB, 512 MiB available");
	/* Reserve above what is available: nothing is available. */
	f.reserve_kb = 1 << 30;
	f.need_kb = 4;
	ck_assert_int_eq(admit_check(&f, why, sizeof(why)), -ENOMEM);
	ck_assert_str_eq(why, "node3 refuses: needs 1 MiB, 0 MiB available");
	/* RSS unknown (an older source): memory is not checked. */
	f.need_kb = 0;
	ck_assert_int_eq(admit_check(&f, why, sizeof(why)), 0);
	/* Blocked wins over memory; a short buffer is cut, still terminated. */
	f.blocked = 1;
	f.need_kb = 1 << 30;
	ck_assert_int_eq(admit_check(&f, why, 10), SSI_E_REFUSED);
	ck_assert_str_eq(why, "node3 ref");
}
END_TEST

static char dir[] = "/tmp/test_admit.XXXXXX";
static char path[64];

static void setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ssid.db", dir);
}

static void teardown(void)
{
	static const char *const sfx[] = {"", "-wal", "-shm"};
	char f[96];

	for (size_t i = 0; i < 3; i++) {
		snprintf(f, sizeof(f), "%s%s", path, sfx[i]);
		unlink(f);
	}
	rmdir(dir);
	strcpy(dir, "/tmp/test_admit.XXXXXX");
}

START_TEST(block_order_persists)
{
	struct db *db;
	struct db_policy p;
	char err[512];

	ck_assert_msg(db_open(&db, path, err, sizeof(err)) == 0, "%s", err);
	/* A store where it was never set: not blocked. */
	ck_assert_int_eq(db_policy_get(db, &p), 0);
	ck_assert_int_eq(p.blocked, 0);
	ck_assert_int_eq(p.since_ms, 0);
	p = (struct db_policy){.blocked = 1, .since_ms = 1700000000123, .by_uid = 0};
	ck_assert_int_eq(db_policy_put(db, &p), 0);
	db_close(db);
	/* A restart: the order is still there. */
	ck_assert_msg(db_open(&db, path, err, sizeof(err)) == 0, "%s", err);
	memset(&p, 0xff, sizeof(p));
	ck_assert_int_eq(db_policy_get(db, &p), 0);
	ck_assert_int_eq(p.blocked, 1);
	ck_assert_int_eq(p.since_ms, 1700000000123);
	ck_assert_uint_eq(p.by_uid, 0);
	p = (struct db_policy){.blocked = 0, .since_ms = 1700000000999, .by_uid = 1000};
	ck_assert_int_eq(db_policy_put(db, &p), 0);
	ck_assert_int_eq(db_policy_get(db, &p), 0);
	ck_assert_int_eq(p.blocked, 0);
	ck_assert_uint_eq(p.by_uid, 1000);
	db_close(db);
}
END_TEST

START_TEST(offer_on_this_machine)
{
	struct config cfg;
	struct db *db;
	struct db_policy p = {.blocked = 1, .since_ms = 1};
	struct wire_mig_offer o = {.gpid = 2u << 22 | 5, .src = 2, .dst = 3, .home = 2};
	const char *why = NULL;
	char err[512];
	uint64_t self_rss = admit_rss_kb(getpid());

	memset(&cfg, 0, sizeof(cfg));
	cfg.id = 3;
	strcpy(cfg.name, "node3");
	cfg.admit_reserve_mb = 64;
	ck_assert_msg(self_rss > 0, "no RSS for this process");
	ck_assert_uint_eq(admit_rss_kb(0), 0);
	ck_assert_msg(db_open(&db, path, err, sizeof(err)) == 0, "%s", err);
	/* Our own size fits (this machine runs the test). */
	o.rss_kb = self_rss;
	ck_assert_int_eq(admit_offer(db, &cfg, &o, &why), 0);
	ck_assert_str_eq(why, "");
	/* 1 TiB does not. */
	o.rss_kb = 1ull << 30;
	ck_assert_int_eq(admit_offer(db, &cfg, &o, &why), -ENOMEM);
	ck_assert_ptr_nonnull(strstr(why, "node3 refuses: needs 1048576 MiB, "));
	/* Blocked in the store. */
	o.rss_kb = self_rss;
	ck_assert_int_eq(db_policy_put(db, &p), 0);
	ck_assert_int_eq(admit_offer(db, &cfg, &o, &why), SSI_E_REFUSED);
	ck_assert_str_eq(why,
			 "node3 refuses: blocked by its administrator (ssictl unblock on node3)");
	o.home = 3; /* coming home */
	ck_assert_int_eq(admit_offer(db, &cfg, &o, &why), 0);
	/* No store: the block is unknown, nothing refused for it. */
	o.home = 2;
	ck_assert_int_eq(admit_offer(NULL, &cfg, &o, &why), 0);
	db_close(db);
}
END_TEST

START_TEST(block_flag_gossiped)
{
	struct gossip_table a, b;
	struct gossip_load l = {.load = 0.5, .cpus = 2, .speed = 1, .mem_free_kb = 1 << 20};
	struct wire_load_entry w;
	struct gossip_entry e;
	uint32_t age;
	int fresh[4];

	gossip_init(&a, 3, "node3", "127.0.1.3:7022");
	gossip_init(&b, 1, "node1", "127.0.1.1:7022");
	gossip_set_self(&a, &l, 1000);
	gossip_set_self_flags(&a, WIRE_NODE_F_BLOCKED);
	gossip_set_self(&a, &l, 1250); /* a later sample keeps the flag */
	gossip_to_wire(&a.e[3], 0, &w);
	ck_assert_uint_eq(w.flags, WIRE_NODE_F_BLOCKED);
	ck_assert_int_eq(gossip_from_wire(&w, &e, &age), 0);
	ck_assert_uint_eq(e.flags, WIRE_NODE_F_BLOCKED);
	ck_assert_int_eq(gossip_merge(&b, &e, &age, 1, 5000, fresh, 4), 1);
	ck_assert_uint_eq(b.e[3].flags, WIRE_NODE_F_BLOCKED);
	/* Unblocked: fresher news clears it; unknown bits of newer peers are dropped. */
	gossip_set_self_flags(&a, 0);
	gossip_set_self(&a, &l, 2000);
	gossip_to_wire(&a.e[3], 0, &w);
	w.flags |= 0x80;
	ck_assert_int_eq(gossip_from_wire(&w, &e, &age), 0);
	ck_assert_uint_eq(e.flags, 0);
	ck_assert_int_eq(gossip_merge(&b, &e, &age, 1, 6000, fresh, 4), 0);
	ck_assert_uint_eq(b.e[3].flags, 0);
}
END_TEST

static Suite *admit_suite(void)
{
	Suite *s = suite_create("admit");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, rule_and_texts);
	tcase_add_test(tc, block_order_persists);
	tcase_add_test(tc, offer_on_this_machine);
	tcase_add_test(tc, block_flag_gossiped);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(admit_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
