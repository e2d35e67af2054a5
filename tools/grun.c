/*
 * grun - start a command as a migratable process of the cluster, with this program as its
 * deputy on the home node (grun(1)). The work is in migrate/deputy.c; this file parses the
 * command line, finds the daemon's run directory in the config and resolves -n NODE.
 */
#include "migrate/deputy.h"
#include "ssid/client.h"
#include "ssid/config.h"
#include "ssid/ctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: grun [-c CONF] [--home | -n NODE] CMD [ARG...]\n"
		"Run CMD as a migratable process: it starts here (its home node) and may be\n"
		"moved with gmigrate; grun stays here as its deputy: it relays the process's\n"
		"stdio while it runs elsewhere, forwards every catchable signal it receives,\n"
		"and exits with the process's status (or dies of the same signal). If grun is\n"
		"SIGKILLed, the daemon kills the process. The gpid is node_id << 22 | pid\n"
		"(GRUN_VERBOSE=1 prints it).\n"
		"  --home       start on this node (the default)\n"
		"  -n NODE      run it on NODE (a name or id): the child is moved there before it\n"
		"               executes CMD; if that fails CMD runs here (a message says why)\n"
		"  -c CONF      ssid config (default $SSID_CONF or %s)\n"
		"Not finished: --best (placement on the least loaded node) is refused.\n",
		CONFIG_DEFAULT_PATH);
}

/* NODE -> id: digits, or a name from the daemon's node list; -1 (message printed). */
static int node_id(const char *run_dir, const char *s)
{
	char sock[PATH_MAX + 16], err[512], *end;
	struct client *cl;
	struct client_node *v;
	size_t n;
	int id = -1;
	long l = strtol(s, &end, 10);

	if (!*end && l >= 1 && l <= 511)
		return (int)l;
	snprintf(sock, sizeof(sock), "%s/%s", run_dir, CTL_SOCK_NAME);
	if (client_open(&cl, sock, err, sizeof(err)) < 0) {
		fprintf(stderr, "grun: %s\n", err);
		return -1;
	}
	if (client_nodes(cl, &v, &n) == 0) {
		for (size_t i = 0; i < n; i++)
			if (!strcmp(v[i].name, s))
				id = v[i].id;
		free(v);
	}
	client_close(cl);
	if (id < 0)
		fprintf(stderr, "grun: no node named '%s' (see ssictl nodes)\n", s);
	return id;
}

int main(int argc, char **argv)
{
	const char *conf = config_default_path(), *node_arg = NULL;
	struct config c;
	char err[1024];
	int i = 1, node = 0;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		}
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(argv[i], "--home")) {
			node_arg = NULL;
			continue;
		}
		if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "-n")) && i + 1 < argc) {
			if (argv[i][1] == 'c')
				conf = argv[++i];
			else
				node_arg = argv[++i];
			continue;
		}
		if (!strcmp(argv[i], "--best")) {
			fprintf(stderr,
				"grun: --best is not implemented yet: use -n NODE, or start "
				"here and move the process with gmigrate\n");
			return 2;
		}
		fprintf(stderr, "grun: unknown option '%s'; see grun --help\n", argv[i]);
		return 2;
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	if (config_load(conf, &c, err, sizeof(err)) < 0) {
		fprintf(stderr, "grun: %s\n", err);
		return 1;
	}
	char run_dir[sizeof(c.run_dir)];
	snprintf(run_dir, sizeof(run_dir), "%s", c.run_dir);
	config_free(&c);
	if (node_arg && (node = node_id(run_dir, node_arg)) < 0)
		return 1;
	return deputy_run(run_dir, argv + i, node);
}
