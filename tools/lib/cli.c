/*
 * cli.c - see cli.h: JSON string output and NODE resolution for the user programs.
 */
#include "tools/lib/cli.h"
#include "ssid/client.h"
#include "ssid/ctl.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_json_str(const char *s)
{
	putchar('"');
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c == '"' || *c == '\\')
			printf("\\%c", *c);
		else if (*c < 0x20 || *c == 0x7f)
			printf("\\u%04x", *c);
		else
			putchar(*c);
	}
	putchar('"');
}

int cli_node_id(const char *prog, const char *run_dir, const char *s)
{
	char sock[PATH_MAX + 16], err[512], *end;
	struct client *cl;
	struct client_node *v;
	size_t n;
	int id = -1;
	long l = strtol(s, &end, 10);

	if (*s && !*end && l >= 1 && l <= 511)
		return (int)l;
	snprintf(sock, sizeof(sock), "%s/%s", run_dir, CTL_SOCK_NAME);
	if (client_open(&cl, sock, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", prog, err);
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
		fprintf(stderr, "%s: no node named '%s' (see ssictl nodes)\n", prog, s);
	return id;
}
