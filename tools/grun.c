/*
 * grun - start a command as a migratable process of the cluster, with this program as its
 * deputy on the home node (grun(1)). The work is in migrate/deputy.c; this file parses the
 * command line, finds the daemon's run directory in the config, resolves -n NODE and, for
 * --best, chooses the node from the daemon's load table with the pure rule of ssid/place.h.
 */
#include "tools/lib/cli.h"
#include "migrate/deputy.h"
#include "ssid/client.h"
#include "ssid/config.h"
#include "ssid/ctl.h"
#include "ssid/place.h"

#include "ssid/ssierr.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: grun [-c CONF] [--home | -n NODE | --best] CMD [ARG...]\n"
		"Run CMD as a migratable process: it starts here (its home node) and may be\n"
		"moved with gmigrate; grun stays here as its deputy: it relays the process's\n"
		"stdio while it runs elsewhere, forwards every catchable signal it receives,\n"
		"and exits with the process's status (or dies of the same signal). If grun is\n"
		"SIGKILLed, the daemon kills the process. The gpid is node_id << 22 | pid\n"
		"(GRUN_VERBOSE=1 prints it).\n"
		"  --home       start on this node (the default)\n"
		"  -n NODE      run it on NODE (a name or id): the child is moved there before it\n"
		"               executes CMD; if that fails CMD runs here (a message says why)\n"
		"  --best       run it on the best node: the least loaded relative to its CPUs\n"
		"               and speed among the nodes that are up, not blocked, with fresh\n"
		"               load facts and enough free memory. Another node wins over this\n"
		"               one only if the process's expected slowdown there,\n"
		"               max(1, (runnable + 1) / cpus) / speed, is lower by at least 0.3\n"
		"               (hysteresis); else it runs here. Placed like -n (falls back to\n"
		"               here if the node refuses). GRUN_VERBOSE=1 prints why.\n"
		"  -c CONF      ssid config (default $SSID_CONF or %s)\n",
		CONFIG_DEFAULT_PATH);
}

/* --best: the node chosen by place_choose() from the daemon's node list; 0 = here (also
 * when the list cannot be read: the message says why). */
static int best_node(const struct config *c)
{
	char sock[PATH_MAX + 16], err[512];
	struct place_params pp;
	struct place_result res;
	struct place_node *pv;
	struct client *cl;
	struct client_node *v = NULL;
	size_t n = 0;
	int e;

	snprintf(sock, sizeof(sock), "%s/%s", c->run_dir, CTL_SOCK_NAME);
	e = client_open(&cl, sock, err, sizeof(err));
	if (e == 0) {
		e = client_nodes(cl, &v, &n);
		client_close(cl);
		snprintf(err, sizeof(err), "%s", ssierr_str(e));
	}
	pv = n ? calloc(n, sizeof(*pv)) : NULL;
	if (e == 0 && n && !pv)
		e = -ENOMEM;
	if (e < 0) {
		fprintf(stderr, "grun: --best: no node list from ssid (%s): it runs here\n", err);
		free(v);
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		pv[i] = (struct place_node){.id = v[i].id,
					    .self = v[i].self,
					    .up = v[i].self || !strcmp(v[i].state, "up"),
					    .blocked = v[i].blocked,
					    .age_ms = v[i].age_ms,
					    .load = v[i].load,
					    .cpus = v[i].cpus,
					    .speed = v[i].speed,
					    .mem_free_kb = v[i].mem_free_kb};
	for (size_t i = 0; i < n; i++)
		snprintf(pv[i].name, sizeof(pv[i].name), "%s", v[i].name);
	place_params_default(&pp, c->gossip_ms, c->admit_reserve_mb << 10);
	memset(&res, 0, sizeof(res));
	e = place_choose(pv, n, &pp, &res);
	free(pv);
	free(v);
	if (e < 0) {
		fprintf(stderr, "grun: --best: %s: it runs here\n",
			res.why[0] ? res.why : ssierr_str(e));
		return 0;
	}
	if (getenv("GRUN_VERBOSE"))
		fprintf(stderr, "grun: --best: %s\n", res.why);
	return res.node == res.home ? 0 : res.node;
}

int main(int argc, char **argv)
{
	const char *conf = config_default_path(), *node_arg = NULL;
	struct config c;
	char err[1024];
	int i = 1, node = 0, best = 0;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		}
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(argv[i], "--home") || !strcmp(argv[i], "--best")) {
			node_arg = NULL;
			best = argv[i][2] == 'b';
			continue;
		}
		if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "-n")) && i + 1 < argc) {
			if (argv[i][1] == 'c')
				conf = argv[++i];
			else
				node_arg = argv[++i], best = 0;
			continue;
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
	if (best)
		node = best_node(&c);
	else if (node_arg)
		node = cli_node_id("grun", run_dir, node_arg);
	config_free(&c);
	if (node < 0)
		return 1;
	return deputy_run(run_dir, argv + i, node);
}
