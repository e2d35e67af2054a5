/*
 * config.c - parse and validate ssid.conf with libinih.
 *
 * The libinih handler records the first problem (key and what is wrong); ini_parse* returns
 * the line of the first error, so the message names file, line and key. Paths are resolved
 * against the config file's directory after parsing.
 */
#include "ssid/config.h"
#include "ssid/homens.h"
#include "ssid/ssierr.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parse {
	struct config *c;
	char problem[256]; /* first problem seen, "" if none */
	int code;	   /* its code */
	int have_id, have_name;
};

const char *config_default_path(void)
{
	const char *e = getenv("SSID_CONF");

	return e && *e ? e : CONFIG_DEFAULT_PATH;
}

int config_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 32)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-'))
			return 0;
	return 1;
}

static int parse_int(const char *v, long lo, long hi, long *out)
{
	char *end;
	long x;

	errno = 0;
	x = strtol(v, &end, 10);
	if (errno || end == v || *end || x < lo || x > hi)
		return -EINVAL;
	*out = x;
	return 0;
}

int config_parse_hostport(const char *s, char *host, size_t cap, uint16_t *port)
{
	const char *colon = strrchr(s, ':');
	long p;

	if (!colon || colon == s || (size_t)(colon - s) >= cap)
		return -EINVAL;
	if (parse_int(colon + 1, 1, 65535, &p) < 0)
		return -EINVAL;
	for (const char *q = s; q < colon; q++)
		if (!(isalnum((unsigned char)*q) || *q == '.' || *q == '-'))
			return -EINVAL;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	*port = (uint16_t)p;
	return 0;
}

static int problem(struct parse *p, int code, const char *fmt, const char *a, const char *b)
{
	if (!p->problem[0]) {
		snprintf(p->problem, sizeof(p->problem), fmt, a, b);
		p->code = code;
	}
	return 0;
}

static int copy_str(struct parse *p, char *dst, size_t cap, const char *key, const char *v)
{
	if (!*v || strlen(v) >= cap)
		return problem(p, SSI_E_BADFIELD, "%s: value '%s' empty or too long", key, v);
	strcpy(dst, v);
	return 1;
}

/* Timing keys: name and offset of the int in struct config. */
static const struct {
	const char *key;
	size_t off;
} timing_keys[] = {
	{"heartbeat_ms", offsetof(struct config, heartbeat_ms)},
	{"suspect_ms", offsetof(struct config, suspect_ms)},
	{"down_ms", offsetof(struct config, down_ms)},
	{"gossip_ms", offsetof(struct config, gossip_ms)},
	{"sample_ms", offsetof(struct config, sample_ms)},
	{"reconnect_min_ms", offsetof(struct config, reconnect_min_ms)},
	{"reconnect_max_ms", offsetof(struct config, reconnect_max_ms)},
};

static int node_key(struct parse *p, const char *key, const char *v)
{
	struct config *c = p->c;
	long x;

	if (!strcmp(key, "id")) {
		if (parse_int(v, 1, CONFIG_ID_MAX, &x) < 0)
			return problem(p, SSI_E_BADFIELD, "id: '%s' is not a number in 1..511%s", v,
				       "");
		c->id = (int)x;
		p->have_id = 1;
		return 1;
	}
	if (!strcmp(key, "name")) {
		if (!config_name_ok(v))
			return problem(p, SSI_E_BADFIELD, "name: '%s' must match [a-z0-9-]{1,32}%s",
				       v, "");
		strcpy(c->name, v);
		p->have_name = 1;
		return 1;
	}
	if (!strcmp(key, "listen")) {
		if (config_parse_hostport(v, c->listen_host, sizeof(c->listen_host),
					  &c->listen_port) < 0)
			return problem(p, SSI_E_BADFIELD, "listen: '%s' is not address:port%s", v,
				       "");
		return 1;
	}
	if (!strcmp(key, "state_dir"))
		return copy_str(p, c->state_dir, sizeof(c->state_dir), key, v);
	if (!strcmp(key, "run_dir"))
		return copy_str(p, c->run_dir, sizeof(c->run_dir), key, v);
	if (!strcmp(key, "key"))
		return copy_str(p, c->key, sizeof(c->key), key, v);
	if (!strcmp(key, "authorized_keys"))
		return copy_str(p, c->authorized_keys, sizeof(c->authorized_keys), key, v);
	if (!strcmp(key, "known_hosts"))
		return copy_str(p, c->known_hosts, sizeof(c->known_hosts), key, v);
	return problem(p, SSI_E_BADFIELD, "unknown key '%s' in [node]%s", key, "");
}

static int peer_key(struct parse *p, const char *key, const char *v)
{
	struct config *c = p->c;
	struct config_peer *np, pe;

	memset(&pe, 0, sizeof(pe));
	if (!config_name_ok(key))
		return problem(p, SSI_E_BADFIELD, "peer name '%s' must match [a-z0-9-]{1,32}%s",
			       key, "");
	if (config_parse_hostport(v, pe.host, sizeof(pe.host), &pe.port) < 0)
		return problem(p, SSI_E_BADFIELD, "peer %s: '%s' is not host:port", key, v);
	for (size_t i = 0; i < c->npeers; i++)
		if (!strcmp(c->peers[i].name, key))
			return problem(p, SSI_E_BADFIELD, "peer %s listed twice%s", key, "");
	if (c->npeers >= CONFIG_PEERS_MAX)
		return problem(p, SSI_E_TOOBIG, "too many peers (at %s)%s", key, "");
	np = realloc(c->peers, (c->npeers + 1) * sizeof(*np));
	if (!np)
		return problem(p, -ENOMEM, "out of memory at %s%s", key, "");
	strcpy(pe.name, key);
	c->peers = np;
	c->peers[c->npeers++] = pe;
	return 1;
}

/* [balance]: enabled, interval_ms, margin, c0_ms. 1 or problem()'s 0. */
static int balance_key(struct parse *p, const char *key, const char *v)
{
	long x;

	if (!strcmp(key, "enabled")) {
		if (!strcmp(v, "yes") || !strcmp(v, "no")) {
			p->c->balance_enabled = !strcmp(v, "yes");
			return 1;
		}
		return problem(p, SSI_E_BADFIELD, "enabled: '%s' is not yes or no%s", v, "");
	}
	if (!strcmp(key, "interval_ms") || !strcmp(key, "c0_ms")) {
		int iv = key[0] == 'i';
		if (parse_int(v, iv ? 100 : 1, 60000, &x) < 0)
			return problem(p, SSI_E_BADFIELD,
				       iv ? "%s: '%s' is not a number of ms in 100..60000"
					  : "%s: '%s' is not a number of ms in 1..60000",
				       key, v);
		*(iv ? &p->c->balance_interval_ms : &p->c->balance_c0_ms) = (int)x;
		return 1;
	}
	if (!strcmp(key, "margin")) {
		char *end;
		double d;

		errno = 0;
		d = strtod(v, &end);
		if (errno || end == v || *end || !(d >= 0 && d <= 10))
			return problem(p, SSI_E_BADFIELD, "margin: '%s' is not a number in %s", v,
				       "0..10");
		p->c->balance_margin = d;
		return 1;
	}
	return problem(p, SSI_E_BADFIELD, "unknown key '%s' in [balance]%s", key, "");
}

static int handler(void *user, const char *section, const char *key, const char *v)
{
	struct parse *p = user;
	long x;

	if (!strcmp(section, "node"))
		return node_key(p, key, v) ? 1 : 0;
	if (!strcmp(section, "peers"))
		return peer_key(p, key, v) ? 1 : 0;
	if (!strcmp(section, "timing")) {
		for (size_t i = 0; i < sizeof(timing_keys) / sizeof(timing_keys[0]); i++) {
			if (strcmp(key, timing_keys[i].key))
				continue;
			if (parse_int(v, 1, 3600000, &x) < 0)
				return problem(p, SSI_E_BADFIELD,
					       "%s: '%s' is not a number of ms in 1..3600000", key,
					       v);
			*(int *)((char *)p->c + timing_keys[i].off) = (int)x;
			return 1;
		}
		return problem(p, SSI_E_BADFIELD, "unknown key '%s' in [timing]%s", key, "");
	}
	if (!strcmp(section, "gproc")) {
		if (strcmp(key, "mount"))
			return problem(p, SSI_E_BADFIELD, "unknown key '%s' in [gproc]%s", key, "");
		if (*v && (v[0] != '/' || strlen(v) >= sizeof(p->c->gproc_mount)))
			return problem(p, SSI_E_BADFIELD, "mount: '%s' is not an absolute path%s",
				       v, " (or empty to disable)");
		strcpy(p->c->gproc_mount, v);
		return 1;
	}
	if (!strcmp(section, "gfs")) { /* the /gfs file service (fsfwd.h) */
		if (!strcmp(key, "mount")) {
			if (*v && (v[0] != '/' || strlen(v) >= sizeof(p->c->gfs_mount)))
				return problem(p, SSI_E_BADFIELD,
					       "mount: '%s' is not an absolute path (or empty to "
					       "disable)%s",
					       v, "");
			strcpy(p->c->gfs_mount, v);
			return 1;
		}
		if (!strcmp(key, "timeout_ms")) {
			char *end;

			x = strtol(v, &end, 10);
			if (!*v || *end || x < 100 || x > 3600000)
				return problem(p, SSI_E_BADFIELD,
					       "timeout_ms: '%s' is not a number of ms in "
					       "100..3600000%s",
					       v, "");
			p->c->gfs_timeout_ms = (int)x;
			return 1;
		}
		if (!strcmp(key, "local_dirs")) { /* checked as homens_enter will split it */
			char tmp[sizeof(p->c->gfs_local_dirs)], *save = NULL, *t;
			int n = 0;

			_Static_assert(HOMENS_MAX_DIRS == 16, "the message below says 16");

			if (strlen(v) >= sizeof(tmp))
				return problem(p, SSI_E_BADFIELD,
					       "local_dirs: longer than 1023 bytes%s%s", "", "");
			strcpy(tmp, v);
			for (t = strtok_r(tmp, " \t,", &save); t; t = strtok_r(NULL, " \t,", &save))
				if (t[0] != '/' || !t[1] || strstr(t, "..") ||
				    ++n > HOMENS_MAX_DIRS)
					return problem(
						p, SSI_E_BADFIELD,
						"local_dirs: '%s' is not an absolute directory%s",
						t, " (16 at most, no '..')");
			strcpy(p->c->gfs_local_dirs, v);
			return 1;
		}
		return problem(p, SSI_E_BADFIELD, "unknown key '%s' in [gfs]%s", key, "");
	}
	if (!strcmp(section, "admit")) { /* admission of incoming processes (admit.h) */
		if (strcmp(key, "reserve_mb"))
			return problem(p, SSI_E_BADFIELD, "unknown key '%s' in [admit]%s", key, "");
		if (parse_int(v, 0, 1048576, &x) < 0)
			return problem(p, SSI_E_BADFIELD,
				       "reserve_mb: '%s' is not a number of MiB in 0..1048576%s", v,
				       "");
		p->c->admit_reserve_mb = (uint64_t)x;
		return 1;
	}
	if (!strcmp(section, "migrate")) { /* how a move's image travels (imgchan.h) */
		if (strcmp(key, "image_channel"))
			return problem(p, SSI_E_BADFIELD, "unknown key '%s' in [migrate]%s", key,
				       "");
		if (strcmp(v, "direct") && strcmp(v, "ssh"))
			return problem(p, SSI_E_BADFIELD,
				       "image_channel: '%s' is not 'direct' or 'ssh'%s", v, "");
		p->c->mig_image_direct = !strcmp(v, "direct");
		return 1;
	}
	if (!strcmp(section, "balance")) /* automatic moves (balance.h) */
		return balance_key(p, key, v);
	return problem(p, SSI_E_BADFIELD, "unknown section [%s] (key '%s')", section, key);
}

static void defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->listen_host, "0.0.0.0");
	c->listen_port = 7022;
	strcpy(c->state_dir, "/var/lib/ssid");
	strcpy(c->run_dir, "/run/ssid");
	strcpy(c->key, "/etc/ssid/node_key");
	strcpy(c->authorized_keys, "/etc/ssid/authorized_keys");
	strcpy(c->known_hosts, "/etc/ssid/known_hosts");
	c->heartbeat_ms = 500;
	c->suspect_ms = 1500;
	c->down_ms = 4000;
	c->gossip_ms = 1000;
	c->sample_ms = 250;
	c->reconnect_min_ms = 200;
	c->reconnect_max_ms = 5000;
	strcpy(c->gproc_mount, "/gproc");
	strcpy(c->gfs_mount, "/gfs");
	c->gfs_timeout_ms = 10000;
	strcpy(c->gfs_local_dirs, HOMENS_LOCAL_DIRS_DEFAULT);
	c->admit_reserve_mb = 64;
	c->mig_image_direct = 1;
	c->balance_interval_ms = 1000;
	c->balance_margin = 0.3; /* PLACE_MARGIN */
	c->balance_c0_ms = 50;	 /* policy_params_default's c0 */
}

static int absolutize(char *path, size_t cap, const char *base)
{
	char tmp[PATH_MAX];

	if (path[0] == '/')
		return 0;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/%s", base, path) >= cap)
		return -ENAMETOOLONG;
	strcpy(path, tmp);
	return 0;
}

static int finish(struct parse *p, int line, const char *where, const char *base, char *err,
		  size_t errlen)
{
	struct config *c = p->c;
	int r = 0;

	if (line != 0 || p->problem[0]) {
		r = p->code ? p->code : SSI_E_BADFIELD;
		snprintf(err, errlen, "%s:%d: %s", where, line,
			 p->problem[0] ? p->problem : "syntax error (expected key = value)");
	} else if (!p->have_id || !p->have_name) {
		r = SSI_E_MISSING;
		snprintf(err, errlen, "%s: [node] needs %s", where,
			 !p->have_id ? "id = 1..511" : "name = [a-z0-9-]{1,32}");
	} else if (c->suspect_ms >= c->down_ms || c->reconnect_min_ms > c->reconnect_max_ms) {
		r = SSI_E_BADFIELD;
		snprintf(err, errlen,
			 "%s: [timing] needs suspect_ms < down_ms and "
			 "reconnect_min_ms <= reconnect_max_ms",
			 where);
	}
	if (!r) {
		char *paths[] = {c->state_dir, c->run_dir, c->key, c->authorized_keys,
				 c->known_hosts};
		for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]) && !r; i++)
			if (absolutize(paths[i], PATH_MAX, base) < 0) {
				r = -ENAMETOOLONG;
				snprintf(err, errlen, "%s: path '%s' too long", where, paths[i]);
			}
	}
	if (r)
		config_free(c);
	return r;
}

int config_load(const char *path, struct config *c, char *err, size_t errlen)
{
	struct parse p;
	char dir[PATH_MAX], base[PATH_MAX];
	FILE *f;
	int line;

	defaults(c);
	memset(&p, 0, sizeof(p));
	p.c = c;
	if (strlen(path) >= sizeof(c->path)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	f = fopen(path, "re");
	if (!f) {
		int e = errno;
		snprintf(err, errlen, "%s: %s%s", path, strerror(e),
			 e == ENOENT ? "; write it (see ssid(8)) or pass -c FILE" : "");
		return -e;
	}
	strcpy(c->path, path);
	line = ini_parse_file(f, handler, &p);
	fclose(f);
	/* Resolve relative paths against the real directory, so they survive a chdir. */
	strcpy(dir, path);
	if (!realpath(dirname(dir), base))
		strcpy(base, ".");
	return finish(&p, line, path, base, err, errlen);
}

int config_load_string(const char *text, const char *base_dir, struct config *c, char *err,
		       size_t errlen)
{
	struct parse p;

	defaults(c);
	memset(&p, 0, sizeof(p));
	p.c = c;
	strcpy(c->path, "<string>");
	return finish(&p, ini_parse_string(text, handler, &p), "<string>", base_dir, err, errlen);
}

void config_free(struct config *c)
{
	free(c->peers);
	c->peers = NULL;
	c->npeers = 0;
}
