/*
 * gkill - send a signal to processes anywhere in the cluster, by gpid, like kill(1).
 *
 * Asks the local ssid (control request SIGSVC_CTL_TYPE, ssid/sigsvc.h) once per gpid; the
 * daemon passes the request to the node that holds the process, which checks this user's
 * rights there (the daemon takes the uid from the socket, never from us). Messages and exit
 * status follow procps kill: "gkill: (GPID) - No such process", exit 1 if any target failed.
 */
#include "ssid/client.h"
#include "ssid/config.h"
#include "ssid/ctl.h"
#include "ssid/sigsvc.h"
#include "ssid/ssierr.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: gkill [-s SIGNAL | -SIGNAL | -n NUMBER] GPID...\n"
		"       gkill -l [NUMBER]\n"
		"Send a signal (default TERM) to processes of the cluster, named by their global\n"
		"pid (as /gproc and gps show them), on whatever node they run. You may signal\n"
		"your own processes; root may signal all.\n"
		"  -s, --signal SIG   signal by name (TERM, SIGTERM, RTMIN+1) or number\n"
		"  -SIG               the same: -9, -KILL, -SIGKILL\n"
		"  -n NUMBER          signal by number\n"
		"  -l, --list [N]     list signal names, or name signal N\n"
		"  -c, --config CONF  config file for run_dir (default $SSID_CONF or %s)\n"
		"      --sock PATH    the daemon's control socket (default RUN_DIR/ssid.sock)\n"
		"  -h, --help         this text\n"
		"Exit status: 0 all signalled, 1 some failed, 2 usage error.\n"
		"Not yet: processes that migrated away from their home node are not reached.\n",
		CONFIG_DEFAULT_PATH);
}

/* Signal name ("TERM", "SIGTERM", "RTMIN+3", "9") to number; -1 if unknown. */
static int sig_parse(const char *s)
{
	char *end;
	long v;

	if (isdigit((unsigned char)s[0])) {
		v = strtol(s, &end, 10);
		return *end || v < 0 || v > SIGRTMAX ? -1 : (int)v;
	}
	if (!strncasecmp(s, "SIG", 3))
		s += 3;
	if (!strncasecmp(s, "RTMIN", 5) || !strncasecmp(s, "RTMAX", 5)) {
		int base = toupper((unsigned char)s[3]) == 'I' ? SIGRTMIN : SIGRTMAX;
		if (!s[5])
			return base;
		v = strtol(s + 5, &end, 10);
		if (*end || (s[5] != '+' && s[5] != '-'))
			return -1;
		v += base;
		return v < SIGRTMIN || v > SIGRTMAX ? -1 : (int)v;
	}
	for (int i = 1; i < SIGRTMIN; i++) {
		const char *n = sigabbrev_np(i);
		if (n && !strcasecmp(n, s))
			return i;
	}
	return -1;
}

static void sig_name(int n, char *out, size_t cap)
{
	const char *a = n < SIGRTMIN ? sigabbrev_np(n) : NULL;

	if (a)
		snprintf(out, cap, "%s", a);
	else if (n == SIGRTMIN)
		snprintf(out, cap, "RTMIN");
	else if (n == SIGRTMAX)
		snprintf(out, cap, "RTMAX");
	else if (n > SIGRTMIN && n - SIGRTMIN <= (SIGRTMAX - SIGRTMIN) / 2)
		snprintf(out, cap, "RTMIN+%d", n - SIGRTMIN);
	else if (n > SIGRTMIN && n < SIGRTMAX)
		snprintf(out, cap, "RTMAX-%d", SIGRTMAX - n);
	else
		snprintf(out, cap, "%d", n);
}

static int list(const char *arg)
{
	char name[32];

	if (arg) {
		int n = sig_parse(arg);
		if (n <= 0) {
			fprintf(stderr, "gkill: unknown signal name %s\n", arg);
			return 1;
		}
		if (isdigit((unsigned char)arg[0])) {
			sig_name(n, name, sizeof(name));
			printf("%s\n", name);
		} else {
			printf("%d\n", n);
		}
		return 0;
	}
	for (int i = 1; i <= SIGRTMAX; i++) {
		if (i < SIGRTMIN && !sigabbrev_np(i))
			continue;
		sig_name(i, name, sizeof(name));
		printf("%s%c", name, i == SIGRTMAX ? '\n' : ' ');
	}
	return 0;
}

static void sock_path(const char *conf, const char *sock, char *out, size_t cap)
{
	struct config c;
	char err[512];

	if (sock) {
		snprintf(out, cap, "%s", sock);
		return;
	}
	if (config_load(conf ? conf : config_default_path(), &c, err, sizeof(err)) == 0) {
		snprintf(out, cap, "%s/%s", c.run_dir, CTL_SOCK_NAME);
		config_free(&c);
		return;
	}
	snprintf(out, cap, "/run/ssid/%s", CTL_SOCK_NAME);
}

/* Parse a gpid the way kill parses a pid: a decimal number; 0 if it is not one. */
static uint32_t gpid_parse(const char *s)
{
	char *end;
	unsigned long v;

	if (!isdigit((unsigned char)s[0]))
		return 0;
	errno = 0;
	v = strtoul(s, &end, 10);
	return *end || errno || v == 0 || v > INT32_MAX ? 0 : (uint32_t)v;
}

int main(int argc, char **argv)
{
	const char *conf = NULL, *sock = NULL;
	char path[PATH_MAX + 16], err[1024];
	struct client *cl = NULL;
	int signo = SIGTERM, i, failed = 0;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(a, "-l") || !strcmp(a, "--list") || !strcmp(a, "-L"))
			return list(i + 1 < argc ? argv[i + 1] : NULL);
		if (!strcmp(a, "-s") || !strcmp(a, "--signal") || !strcmp(a, "-n")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "gkill: option %s needs a signal\n", a);
				return 2;
			}
			signo = sig_parse(argv[++i]);
			if (signo < 0 ||
			    (!strcmp(a, "-n") && !isdigit((unsigned char)argv[i][0]))) {
				fprintf(stderr, "gkill: unknown signal %s; see gkill -l\n",
					argv[i]);
				return 2;
			}
			continue;
		}
		if (!strcmp(a, "-c") || !strcmp(a, "--config") || !strcmp(a, "--sock")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "gkill: option %s needs a value\n", a);
				return 2;
			}
			if (a[2] == 's')
				sock = argv[++i];
			else
				conf = argv[++i];
			continue;
		}
		if (a[0] == '-' && a[1]) {
			signo = sig_parse(a + 1);
			if (signo < 0) {
				fprintf(stderr, "gkill: unknown signal %s; see gkill -l\n", a + 1);
				return 2;
			}
			continue;
		}
		break;
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	sock_path(conf, sock, path, sizeof(path));
	if (client_open(&cl, path, err, sizeof(err)) < 0) {
		fprintf(stderr, "gkill: %s\n", err);
		return 1;
	}
	for (; i < argc; i++) {
		uint32_t gpid = gpid_parse(argv[i]);
		struct buf req, reply;
		int r;

		if (!gpid) {
			fprintf(stderr, "gkill: failed to parse argument: '%s'\n", argv[i]);
			failed = 1;
			continue;
		}
		buf_init(&req);
		buf_init(&reply);
		r = buf_put_u32(&req, gpid);
		if (r == 0)
			r = buf_put_u32(&req, (uint32_t)signo);
		if (r == 0)
			r = client_call(cl, SIGSVC_CTL_TYPE, &req, &reply);
		buf_free(&req);
		buf_free(&reply);
		if (r < 0) {
			fprintf(stderr, "gkill: (%u) - %s\n", gpid,
				r == -EOPNOTSUPP ? "this ssid does not serve signals"
						 : ssierr_str(r));
			failed = 1;
		}
	}
	client_close(cl);
	return failed;
}
