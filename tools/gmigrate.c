/*
 * gmigrate - move a process started with grun to another node, or back home (gmigrate(1)).
 * Asks the local daemon over run_dir/mig.sock; it passes the request on to the process's
 * home node when that is another node (MOVE_REQ, docs/protocol.md), with the caller's uid.
 * The home checks that the caller owns the process or is root, and coordinates the move.
 * Prints the outcome, or with --json the timings and bytes. Node names are resolved with
 * the daemon's node list.
 */
#include "tools/lib/cli.h"
#include "ssid/config.h"
#include "tools/lib/migreq.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: gmigrate [-c CONF] [--json] GPID NODE|home\n"
		"Move process GPID (as printed by gps; started with grun) to NODE (a name such\n"
		"as node2, or a node id) or back to its home node. It may be run on any node of\n"
		"the cluster. Only the owner of the process or root may move it.\n"
		"  --json   print {gpid, from, to, outcome, error, bytes, freeze_ms, transfer_ms,\n"
		"           restore_ms, total_ms} (durations -1 when not reached)\n"
		"Exit status: 0 moved, 1 not moved (the reason is printed), 2 usage.\n"
		"On a terminal, stderr shows the steps as they happen (offer, image sent with\n"
		"MiB and MiB/s, restored, commit).\n");
}

/* On a terminal: the daemon's step lines, each overwriting the last. */
static void show_step(const char *step, void *arg)
{
	(void)arg;
	fprintf(stderr, "\r\033[Kgmigrate: %s", step);
}

int main(int argc, char **argv)
{
	const char *conf = config_default_path(), *args[2];
	int json = 0, na = 0, e, node;
	struct config c;
	char err[1024], run_dir[PATH_MAX];
	unsigned long gpid;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else if (!strcmp(argv[i], "-c") && i + 1 < argc) {
			conf = argv[++i];
		} else if (argv[i][0] == '-' || na == 2) {
			usage(stderr);
			return 2;
		} else {
			args[na++] = argv[i];
		}
	}
	if (na != 2) {
		usage(stderr);
		return 2;
	}
	char *end;
	gpid = strtoul(args[0], &end, 10);
	if (*end || gpid == 0 || gpid > 0xffffffffUL) {
		fprintf(stderr, "gmigrate: '%s' is not a gpid\n", args[0]);
		return 2;
	}
	if (config_load(conf, &c, err, sizeof(err)) < 0) {
		fprintf(stderr, "gmigrate: %s\n", err);
		return 1;
	}
	snprintf(run_dir, sizeof(run_dir), "%s", c.run_dir);
	config_free(&c);
	node = !strcmp(args[1], "home") ? 0 : cli_node_id("gmigrate", run_dir, args[1]);
	if (node < 0)
		return 1;
	struct deputy_result r;
	int tty = isatty(2) && !json;
	e = migreq_move(run_dir, (uint32_t)gpid, (uint16_t)node, tty ? show_step : NULL, NULL, &r);
	if (tty)
		fprintf(stderr, "\r\033[K");
	if (e < 0) {
		fprintf(stderr, "gmigrate: %s\n", r.text);
		return 1;
	}
	if (e == MIGREQ_REFUSED) {
		if (json) {
			/* -ETIMEDOUT: the home, asked from another node, went silent */
			printf("{\"gpid\": %lu, \"outcome\": \"%s\", \"error\": ", gpid,
			       r.err == -ETIMEDOUT ? "unknown" : "refused");
			cli_json_str(r.text);
			printf("}\n");
		}
		fprintf(stderr, "gmigrate: %s\n", r.text);
		return 1;
	}
	if (json) {
		printf("{\"gpid\": %lu, \"mig_id\": \"%llx\", \"from\": %u, \"to\": %u, "
		       "\"outcome\": \"%s\", \"error\": ",
		       gpid, (unsigned long long)r.mig_id, r.from, r.to,
		       r.err ? "failed" : "moved");
		cli_json_str(r.text);
		printf(", \"bytes\": %llu, \"freeze_ms\": %lld, \"transfer_ms\": %lld, "
		       "\"restore_ms\": %lld, \"total_ms\": %lld}\n",
		       (unsigned long long)r.bytes, (long long)r.freeze_ms,
		       (long long)r.transfer_ms, (long long)r.restore_ms, (long long)r.total_ms);
	} else if (!r.err) {
		printf("gpid %lu moved from node %u to node %u: %.1f MiB in %lld ms (frozen %lld "
		       "ms, "
		       "transfer %lld ms, restore %lld ms)\n",
		       gpid, r.from, r.to, (double)r.bytes / 1048576.0, (long long)r.total_ms,
		       (long long)r.freeze_ms, (long long)r.transfer_ms, (long long)r.restore_ms);
	}
	if (r.err) {
		fprintf(stderr, "gmigrate: gpid %lu not moved to node %u: %s\n", gpid, r.to,
			r.text);
		return 1;
	}
	return 0;
}
