/*
 * gmigrate - move a process started with grun to another node, or back home (gmigrate(1)).
 * Asks the process's home daemon over run_dir/mig.sock (the daemon checks that the caller
 * owns the process or is root, and coordinates the move); prints the outcome, or with
 * --json the timings and bytes. Node names are resolved with the daemon's node list.
 */
#include "tools/lib/cli.h"
#include "migrate/deputy.h"
#include "ssid/client.h"
#include "ssid/config.h"
#include "ssid/ctl.h"
#include "ssid/ssierr.h"

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
		"as node2, or a node id) or back to its home node. Run it on the process's home\n"
		"node. Only the owner of the process or root may move it.\n"
		"  --json   print {gpid, from, to, outcome, error, bytes, freeze_ms, transfer_ms,\n"
		"           restore_ms, total_ms} (durations -1 when not reached)\n"
		"Exit status: 0 moved, 1 not moved (the reason is printed), 2 usage.\n"
		"On a terminal, stderr shows the steps as they happen (offer, image sent with\n"
		"MiB and MiB/s, restored, commit).\n");
}

int main(int argc, char **argv)
{
	const char *conf = config_default_path(), *args[2];
	int json = 0, na = 0, fd, e, node;
	struct config c;
	char err[1024], run_dir[PATH_MAX];
	unsigned long gpid;
	struct buf b;
	uint16_t type;

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
	fd = deputy_connect(run_dir, err, sizeof(err));
	if (fd < 0) {
		fprintf(stderr, "gmigrate: %s\n", err);
		return 1;
	}
	buf_init(&b);
	buf_put_u32(&b, (uint32_t)gpid);
	buf_put_u16(&b, (uint16_t)node);
	e = deputy_send(fd, DEPUTY_MIGRATE, &b);
	int tty = isatty(2) && !json;
	while (!e) {
		e = deputy_recv(fd, &type, &b);
		if (e || type == DEPUTY_RESULT || type == DEPUTY_ERROR)
			break;
		if (type == DEPUTY_PROGRESS && tty) {
			char line[256] = "";
			(void)buf_get_cstr(&b, line, sizeof(line));
			fprintf(stderr, "\r\033[Kgmigrate: %s", line);
		}
	}
	if (tty)
		fprintf(stderr, "\r\033[K");
	close(fd);
	if (e) {
		fprintf(stderr, "gmigrate: talking to ssid: %s\n", ssierr_str(e));
		buf_free(&b);
		return 1;
	}
	if (type == DEPUTY_ERROR) {
		int64_t code = 0;
		err[0] = '\0';
		(void)buf_get_i64(&b, &code);
		(void)buf_get_cstr(&b, err, sizeof(err));
		buf_free(&b);
		if (json) {
			printf("{\"gpid\": %lu, \"outcome\": \"refused\", \"error\": ", gpid);
			cli_json_str(err);
			printf("}\n");
		}
		fprintf(stderr, "gmigrate: %s\n", err[0] ? err : ssierr_str((int)code));
		return 1;
	}
	struct deputy_result r;
	memset(&r, 0, sizeof(r));
	e = deputy_result_get(&b, &r);
	buf_free(&b);
	if (e) {
		fprintf(stderr, "gmigrate: bad result from ssid: %s\n", ssierr_str(e));
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
			r.text[0] ? r.text : ssierr_str((int)r.err));
		return 1;
	}
	return 0;
}
