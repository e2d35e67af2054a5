/*
 * ssictl - control the local ssid: status, nodes, events, migration history, block/unblock
 * incoming processes; make the node key; trust a peer.
 * checkpoint, restore and image are dispatched to tools/lib/ctl_cr.c.
 *
 * status/nodes/events ask the daemon over run_dir/ssid.sock (client.h); keygen and trust
 * work on the files named in the config and need no daemon. Exit: 0 ok, 1 failure, 2 usage.
 */
#include "tools/lib/cli.h"
#include "db/db.h"
#include "ssid/balance.h"
#include "ssid/client.h"
#include "ssid/config.h"
#include "ssid/ctl.h"
#include "ssid/keys.h"
#include "ssid/ssierr.h"
#include "tools/lib/ctl_cr.h"
#include "tools/lib/migreq.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *conf_path;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ssictl [-c CONF] COMMAND [ARGS]\n"
		"  status [--json]         this node, its links, load and traffic\n"
		"  nodes [--json]          every known node: id, name, address, state, load, "
		"cpus,\n"
		"                          memory, age of the load information\n"
		"  events [--json] [-n N]  the last N (default 50) events from the node's "
		"database\n"
		"  keygen [--force]        make the ed25519 node key named in the config (and "
		".pub)\n"
		"  trust NAME PUBKEYFILE   let node NAME log in and pin its host key\n"
		"  block | unblock         refuse / accept again processes moving to this node\n"
		"                          (kept across restarts; gossiped: grun --best skips a\n"
		"                          blocked node; processes coming home are accepted)\n"
		"  history [--json] [-n N] [GPID]  the last N (default 50) migrations this node\n"
		"                          coordinated (as home): gpid, from, to, start, freeze/\n"
		"                          transfer/restore ms, bytes, outcome, by (hand, or "
		"auto:\n"
		"                          the balancer, [balance] enabled), error (reads the\n"
		"                          database directly: root)\n"
		"%s"
		"  checkpoint | restore | image ...   see below\n"
		"Options: -c CONF  config file (default $SSID_CONF or %s); -h, --help.\n\n%s\n",
		migreq_ctl_usage(), CONFIG_DEFAULT_PATH, ctl_cr_usage());
}

static int load_conf(struct config *c)
{
	char err[1024];

	if (config_load(conf_path, c, err, sizeof(err)) < 0) {
		fprintf(stderr, "ssictl: %s\n", err);
		return -1;
	}
	return 0;
}

static struct client *connect_daemon(void)
{
	struct config c;
	struct client *cl;
	char sock[PATH_MAX + 16], err[1024];

	if (load_conf(&c) < 0)
		return NULL;
	snprintf(sock, sizeof(sock), "%s/%s", c.run_dir, CTL_SOCK_NAME);
	config_free(&c);
	if (client_open(&cl, sock, err, sizeof(err)) < 0) {
		fprintf(stderr, "ssictl: %s\n", err);
		return NULL;
	}
	return cl;
}

static const char *fmt_age(int64_t ms, char *b, size_t cap)
{
	if (ms < 0)
		snprintf(b, cap, "-");
	else if (ms < 10000)
		snprintf(b, cap, "%.1fs", ms / 1000.0);
	else
		snprintf(b, cap, "%llds", (long long)(ms / 1000));
	return b;
}

static int cmd_nodes(int argc, char **argv)
{
	struct client_node *v;
	struct client *cl;
	size_t n;
	int json = 0, r;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else {
			fprintf(stderr, "ssictl nodes: unknown option '%s' (try --json)\n",
				argv[i]);
			return 2;
		}
	}
	if (!(cl = connect_daemon()))
		return 1;
	r = client_nodes(cl, &v, &n);
	client_close(cl);
	if (r < 0) {
		fprintf(stderr, "ssictl nodes: %s\n", ssierr_str(r));
		return 1;
	}
	if (json) {
		printf("[");
		for (size_t i = 0; i < n; i++) {
			printf("%s\n  {\"id\": %d, \"name\": ", i ? "," : "", v[i].id);
			cli_json_str(v[i].name);
			printf(", \"address\": ");
			cli_json_str(v[i].addr);
			printf(", \"state\": \"%s\", \"self\": %s, \"load\": %.3f, \"runq\": %.2f, "
			       "\"cpu_use\": %.3f, \"psi_cpu\": %.2f, \"cpus\": %u, \"speed\": "
			       "%.3f, "
			       "\"mem_total_kb\": %llu, \"mem_free_kb\": %llu, \"age_ms\": %lld, "
			       "\"state_since_ms\": %lld, \"blocked\": %s, \"kernel\": ",
			       v[i].state, v[i].self ? "true" : "false", v[i].load, v[i].runq,
			       v[i].cpu_use, v[i].psi_cpu, v[i].cpus, v[i].speed,
			       (unsigned long long)v[i].mem_total_kb,
			       (unsigned long long)v[i].mem_free_kb, (long long)v[i].age_ms,
			       (long long)v[i].since_ms, v[i].blocked ? "true" : "false");
			cli_json_str(v[i].kernel);
			printf("}");
		}
		printf("%s]\n", n ? "\n" : "");
	} else {
		printf("%-4s %-12s %-21s %-8s %6s %5s %4s %10s %10s %6s %s\n", "ID", "NAME",
		       "ADDRESS", "STATE", "LOAD", "RUNQ", "CPUS", "MEM_MB", "FREE_MB", "AGE",
		       "POLICY");
		for (size_t i = 0; i < n; i++) {
			char age[32];

			printf("%-4d %-12s %-21s %-8s %6.2f %5.1f %4u %10llu %10llu %6s %s\n",
			       v[i].id, v[i].name, v[i].addr[0] ? v[i].addr : "-",
			       v[i].self ? "self" : v[i].state, v[i].load, v[i].runq, v[i].cpus,
			       (unsigned long long)v[i].mem_total_kb / 1024,
			       (unsigned long long)v[i].mem_free_kb / 1024,
			       fmt_age(v[i].age_ms, age, sizeof(age)),
			       v[i].blocked ? "blocked" : "-");
		}
	}
	free(v);
	return 0;
}

/* The daemon's balancing line (balance.h): "on: ..." / "off: ...". */
static void balance_line(char *out, size_t cap)
{
	struct config c;
	int r;

	if (load_conf(&c) < 0) {
		snprintf(out, cap, "unknown (no config)");
		return;
	}
	r = balance_status_read(c.run_dir, out, cap);
	if (r < 0)
		snprintf(out, cap, "unknown (%.200s/%s: %s)", c.run_dir, BALANCE_STATUS_NAME,
			 strerror(-r));
	config_free(&c);
}

static int cmd_status(int argc, char **argv)
{
	char bal[600];
	struct client_status s;
	struct client *cl;
	int r, json = argc == 2 && !strcmp(argv[1], "--json");

	if (argc > 1 && !json) {
		fprintf(stderr, "ssictl status: unknown option '%s' (try --json)\n", argv[1]);
		return 2;
	}
	if (!(cl = connect_daemon()))
		return 1;
	r = client_status(cl, &s);
	client_close(cl);
	if (r < 0) {
		fprintf(stderr, "ssictl status: %s\n", ssierr_str(r));
		return 1;
	}
	if (json) {
		printf("{\"id\": %d, \"name\": ", s.id);
		cli_json_str(s.name);
		printf(", \"listen\": ");
		cli_json_str(s.listen);
		printf(", \"uptime_ms\": %lld, \"links\": %u, \"links_up\": %u, \"peers_up\": %u, "
		       "\"peers_known\": %u, \"frames_tx\": %llu, \"frames_rx\": %llu, "
		       "\"bytes_tx\": %llu, \"bytes_rx\": %llu, \"gossip_msgs\": %llu, "
		       "\"gossip_bytes\": %llu, \"load\": %.3f, \"load_local\": %.3f, \"runq\": "
		       "%.2f, "
		       "\"cpu_use\": %.3f, \"psi_cpu\": %.2f, \"cpus\": %u, \"speed\": %.3f, "
		       "\"mem_total_kb\": %llu, \"mem_free_kb\": %llu, \"blocked\": %s, \"db\": ",
		       (long long)s.uptime_ms, s.links, s.links_up, s.peers_up, s.peers_known,
		       (unsigned long long)s.frames_tx, (unsigned long long)s.frames_rx,
		       (unsigned long long)s.bytes_tx, (unsigned long long)s.bytes_rx,
		       (unsigned long long)s.gossip_msgs, (unsigned long long)s.gossip_bytes,
		       s.load_export, s.load_local, s.runq, s.cpu_use, s.psi_cpu, s.cpus, s.speed,
		       (unsigned long long)s.mem_total_kb, (unsigned long long)s.mem_free_kb,
		       s.blocked ? "true" : "false");
		cli_json_str(s.db_path);
		balance_line(bal, sizeof(bal));
		printf(", \"balance\": ");
		cli_json_str(bal);
		printf("}\n");
		return 0;
	}
	printf("node      %s (id %d), SSH on %s, up %llds\n", s.name, s.id, s.listen,
	       (long long)(s.uptime_ms / 1000));
	printf("peers     %u of %u known peers up; %u SSH links (%u with HELLO done)\n", s.peers_up,
	       s.peers_known, s.links, s.links_up);
	printf("load      %.2f exported, %.2f local (run queue per CPU); run queue %.1f; "
	       "cpu %.0f%%; psi %.2f%%\n",
	       s.load_export, s.load_local, s.runq, s.cpu_use * 100, s.psi_cpu);
	printf("machine   %u cpus, speed %.2f, memory %llu MiB, available %llu MiB\n", s.cpus,
	       s.speed, (unsigned long long)s.mem_total_kb / 1024,
	       (unsigned long long)s.mem_free_kb / 1024);
	printf("traffic   %llu frames / %llu bytes sent, %llu frames / %llu bytes received\n",
	       (unsigned long long)s.frames_tx, (unsigned long long)s.bytes_tx,
	       (unsigned long long)s.frames_rx, (unsigned long long)s.bytes_rx);
	printf("gossip    %llu load frames / %llu bytes sent\n", (unsigned long long)s.gossip_msgs,
	       (unsigned long long)s.gossip_bytes);
	printf("policy    %s\n", s.blocked ? "incoming processes blocked (ssictl unblock)"
					   : "incoming processes accepted");
	balance_line(bal, sizeof(bal));
	printf("balancing %s\n", bal);
	printf("database  %s\n", s.db_path);
	return 0;
}

/* block / unblock: the daemon stores the order, gossips it and refuses offers meanwhile. */
static int cmd_block(int argc, char **argv)
{
	int on = !strcmp(argv[0], "block"), r;
	struct client *cl;

	if (argc > 1) {
		fprintf(stderr, "usage: ssictl %s\n", argv[0]);
		return 2;
	}
	if (!(cl = connect_daemon()))
		return 1;
	r = client_block(cl, on);
	client_close(cl);
	if (r < 0) {
		fprintf(stderr, "ssictl %s: %s%s\n", argv[0], ssierr_str(r),
			r == -EPERM ? " (root only)" : "");
		return 1;
	}
	printf("%s\n", on ? "incoming processes blocked (ssictl unblock to accept them again)"
			  : "incoming processes accepted");
	return 0;
}

/* The options `events` and `history` share, at argv[i]: --json (sets *json) or -n N (N in
 * 1..100000, sets *lim). Returns how many arguments it took (1 or 2), 0 when argv[i] is
 * neither, -1 after printing why N is bad. */
static int list_opt(const char *cmd, int argc, char **argv, int i, int *json, unsigned long *lim)
{
	char *end;

	if (!strcmp(argv[i], "--json")) {
		*json = 1;
		return 1;
	}
	if (strcmp(argv[i], "-n") || i + 1 >= argc)
		return 0;
	*lim = strtoul(argv[i + 1], &end, 10);
	if (*end || *lim == 0 || *lim > 100000) {
		fprintf(stderr, "ssictl %s: -n wants 1..100000\n", cmd);
		return -1;
	}
	return 2;
}

static int cmd_events(int argc, char **argv)
{
	struct client_event *v;
	struct client *cl;
	unsigned long lim = 50;
	size_t n;
	int json = 0, r, k;

	for (int i = 1; i < argc; i += k) {
		k = list_opt("events", argc, argv, i, &json, &lim);
		if (k < 0)
			return 2;
		if (k == 0) {
			fprintf(stderr, "ssictl events: unknown option '%s' (--json, -n N)\n",
				argv[i]);
			return 2;
		}
	}
	if (!(cl = connect_daemon()))
		return 1;
	r = client_events(cl, (uint32_t)lim, &v, &n);
	client_close(cl);
	if (r < 0) {
		fprintf(stderr, "ssictl events: %s\n", ssierr_str(r));
		return 1;
	}
	if (json)
		printf("[");
	for (size_t i = 0; i < n; i++) {
		if (json) {
			printf("%s\n  {\"id\": %lld, \"t_ms\": %lld, \"node\": %d, \"kind\": ",
			       i ? "," : "", (long long)v[i].id, (long long)v[i].t_ms,
			       v[i].node_id);
			cli_json_str(v[i].kind);
			printf(", \"text\": ");
			cli_json_str(v[i].text);
			printf("}");
		} else {
			time_t t = (time_t)(v[i].t_ms / 1000);
			struct tm tm;
			char ts[32];
			localtime_r(&t, &tm);
			strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
			printf("%s.%03lld  %-14s %s\n", ts, (long long)(v[i].t_ms % 1000),
			       v[i].kind, v[i].text);
		}
	}
	if (json)
		printf("%s]\n", n ? "\n" : "");
	free(v);
	return 0;
}

static void ms_col(int64_t v)
{
	if (v < 0)
		printf(" %8s", "-");
	else
		printf(" %8lld", (long long)v);
}

static int cmd_history(int argc, char **argv)
{
	struct db_mig *v = NULL;
	struct config c;
	struct db *db;
	unsigned long lim = 50, gpid = 0;
	char path[PATH_MAX + 16], err[1024];
	size_t n = 0;
	int json = 0, r, k;

	for (int i = 1; i < argc; i += k) {
		char *end;
		k = list_opt("history", argc, argv, i, &json, &lim);
		if (k < 0)
			return 2;
		if (k > 0)
			continue;
		k = 1;
		if (argv[i][0] != '-' && !gpid) {
			gpid = strtoul(argv[i], &end, 10);
			if (*end || !gpid || gpid > 0xffffffffUL) {
				fprintf(stderr, "ssictl history: '%s' is not a gpid\n", argv[i]);
				return 2;
			}
		} else {
			fprintf(stderr,
				"ssictl history: unknown option '%s' (--json, -n N, GPID)\n",
				argv[i]);
			return 2;
		}
	}
	if (load_conf(&c) < 0)
		return 1;
	snprintf(path, sizeof(path), "%s/ssid.db", c.state_dir);
	config_free(&c);
	if (db_open(&db, path, err, sizeof(err)) < 0) {
		fprintf(stderr, "ssictl history: %s\n", err);
		return 1;
	}
	r = db_mig_list(db, (uint32_t)gpid, lim, &v, &n);
	if (r < 0)
		fprintf(stderr, "ssictl history: %s\n", db_errmsg(db));
	db_close(db);
	if (r < 0)
		return 1;
	if (json)
		printf("[");
	else
		printf("%-23s %10s %4s %4s %8s %8s %8s %10s %-8s %-4s %s\n", "START", "GPID",
		       "FROM", "TO", "FREEZE", "XFER", "RESTORE", "BYTES", "OUTCOME", "BY",
		       "ERROR / REASON");
	for (size_t i = 0; i < n; i++) {
		const struct db_mig *g = &v[i];
		if (json) {
			printf("%s\n  {\"id\": %lld, \"gpid\": %u, \"from\": %d, \"to\": %d, "
			       "\"start_ms\": %lld, \"end_ms\": %lld, \"freeze_ms\": %lld, "
			       "\"transfer_ms\": %lld, \"restore_ms\": %lld, \"bytes\": %llu, "
			       "\"outcome\": \"%s\", \"error\": ",
			       i ? "," : "", (long long)g->id, g->gpid, g->from_node, g->to_node,
			       (long long)g->start_ms, (long long)g->end_ms,
			       (long long)g->freeze_ms, (long long)g->transfer_ms,
			       (long long)g->restore_ms, (unsigned long long)g->bytes,
			       db_mig_outcome_str(g->outcome));
			cli_json_str(g->error);
			printf(", \"auto\": %s, \"reason\": ",
			       strncmp(g->reason, "auto", 4) ? "false" : "true");
			cli_json_str(g->reason);
			printf("}");
			continue;
		}
		time_t t = (time_t)(g->start_ms / 1000);
		struct tm tm;
		char ts[32];
		localtime_r(&t, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
		printf("%s.%03lld %10u %4d %4d", ts, (long long)(g->start_ms % 1000), g->gpid,
		       g->from_node, g->to_node);
		ms_col(g->freeze_ms);
		ms_col(g->transfer_ms);
		ms_col(g->restore_ms);
		printf(" %10llu %-8s %-4s %s%s%s\n", (unsigned long long)g->bytes,
		       db_mig_outcome_str(g->outcome),
		       strncmp(g->reason, "auto", 4) ? "hand" : "auto", g->error,
		       g->error[0] && g->reason[0] ? "; " : "", g->reason);
	}
	if (json)
		printf("%s]\n", n ? "\n" : "");
	free(v);
	return 0;
}

static int cmd_keygen(int argc, char **argv)
{
	struct config c;
	char err[1024], fp[128];
	ssh_key key;
	int force = 0, r;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--force")) {
			fprintf(stderr, "ssictl keygen: unknown option '%s' (--force)\n", argv[i]);
			return 2;
		}
		force = 1;
	}
	if (load_conf(&c) < 0)
		return 1;
	if (!force && access(c.key, F_OK) == 0) {
		r = keys_load_private(c.key, &key, err, sizeof(err));
		if (r == 0 && keys_fingerprint(key, fp, sizeof(fp)) == 0)
			printf("%s: exists, %s (--force makes a new one)\n", c.key, fp);
		else
			fprintf(stderr, "ssictl keygen: %s\n", err);
		ssh_key_free(key);
		config_free(&c);
		return r ? 1 : 0;
	}
	r = keys_generate(c.key, c.name, force, err, sizeof(err));
	if (r == 0 && keys_load_private(c.key, &key, err, sizeof(err)) == 0) {
		if (keys_fingerprint(key, fp, sizeof(fp)) == 0)
			printf("%s: new ed25519 key %s; public key in %s.pub\n", c.key, fp, c.key);
		ssh_key_free(key);
	} else if (r) {
		fprintf(stderr, "ssictl keygen: %s\n", err);
	}
	config_free(&c);
	return r ? 1 : 0;
}

static int cmd_trust(int argc, char **argv)
{
	struct config c;
	char err[1024];
	int changed, r;

	if (argc != 3) {
		fprintf(stderr, "usage: ssictl trust NAME PUBKEYFILE\n");
		return 2;
	}
	if (!config_name_ok(argv[1])) {
		fprintf(stderr, "ssictl trust: '%s' is not a node name ([a-z0-9-]{1,32})\n",
			argv[1]);
		return 2;
	}
	if (load_conf(&c) < 0)
		return 1;
	r = keys_trust(c.authorized_keys, c.known_hosts, argv[1], argv[2], &changed, err,
		       sizeof(err));
	if (r < 0)
		fprintf(stderr, "ssictl trust: %s\n", err);
	else if (!changed)
		printf("%s already trusted\n", argv[1]);
	else
		printf("%s trusted%s%s%s\n", argv[1],
		       changed & 1 ? "; added to authorized_keys" : "",
		       changed & 2 ? "; host key pinned" : "",
		       changed & 4 ? " (replacing the previously pinned key)" : "");
	config_free(&c);
	return r < 0 ? 1 : 0;
}

/* expel / bring: tools/lib/migreq.c, with this config. */
static int cmd_gohome(int argc, char **argv)
{
	return migreq_ctl_main(conf_path, argc, argv);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{"status", cmd_status},	  {"nodes", cmd_nodes},	  {"events", cmd_events},
		{"keygen", cmd_keygen},	  {"trust", cmd_trust},	  {"checkpoint", ctl_cr_main},
		{"restore", ctl_cr_main}, {"image", ctl_cr_main}, {"history", cmd_history},
		{"block", cmd_block},	  {"unblock", cmd_block}, {"expel", cmd_gohome},
		{"bring", cmd_gohome},
	};
	int i = 1;

	conf_path = config_default_path();
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(argv[i], "-c") && i + 1 < argc) {
			conf_path = argv[++i];
			continue;
		}
		fprintf(stderr, "ssictl: unknown option '%s'; see ssictl --help\n", argv[i]);
		return 2;
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	for (size_t k = 0; k < sizeof(cmds) / sizeof(cmds[0]); k++)
		if (!strcmp(argv[i], cmds[k].name))
			return cmds[k].fn(argc - i, argv + i);
	fprintf(stderr, "ssictl: unknown command '%s'; see ssictl --help\n", argv[i]);
	return 2;
}
