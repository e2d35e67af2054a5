/*
 * homens_cache.c - remembered answers of homens_same() (see homens_cache.h for the contract
 * and docs/gfs.md "The rule, cached" for why these stamps).
 *
 * File format (text, one entry a line, after a header line "ssi-homens-cache 1"):
 *     HOME PATH ANSWER TIME STAMP
 * HOME a node name, PATH an absolute directory without blanks (as [gfs] local_dirs has
 * them), ANSWER 0/1/2, TIME when it was computed (seconds, CLOCK_REALTIME), STAMP 16 hex
 * digits. Lines that do not parse are dropped. Never logs.
 */
#include "ssid/homens_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ssid/homens.h"

#define HEADER	    "ssi-homens-cache 1"
#define DPKG_STATUS "/var/lib/dpkg/status"

struct entry {
	char home[40];
	char path[256];
	int answer;
	int64_t t;
	uint64_t stamp;
};

static void mix(uint64_t *h, uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		*h ^= (v >> (8 * i)) & 0xff;
		*h *= 0x100000001b3ULL;
	}
}

/* lstat of p folded into h (or its errno: a file that appears or goes changes the stamp). */
static void mix_lstat(uint64_t *h, const char *p)
{
	struct stat st;

	if (lstat(p, &st) < 0) {
		mix(h, 1);
		mix(h, (uint64_t)errno);
		return;
	}
	mix(h, 2);
	mix(h, st.st_mode & S_IFMT);
	mix(h, (uint64_t)st.st_size);
	mix(h, (uint64_t)st.st_mtim.tv_sec);
	mix(h, (uint64_t)st.st_mtim.tv_nsec);
}

/* The stamp of (path here, path at homeroot). -ENAMETOOLONG if a path does not fit. */
static int stamp_of(const char *path, const char *homeroot, uint64_t *out)
{
	char hp[PATH_MAX], hd[PATH_MAX];
	uint64_t h = 0xcbf29ce484222325ULL;

	if ((size_t)snprintf(hp, sizeof(hp), "%s%s", homeroot, path) >= sizeof(hp) ||
	    (size_t)snprintf(hd, sizeof(hd), "%s%s", homeroot, DPKG_STATUS) >= sizeof(hd))
		return -ENAMETOOLONG;
	mix_lstat(&h, path);
	mix_lstat(&h, DPKG_STATUS);
	mix_lstat(&h, hp);
	mix_lstat(&h, hd);
	*out = h;
	return 0;
}

/* Every entry of the file (up to HOMENS_CACHE_MAX) into v; returns the count (0 if the file
 * is absent, unreadable or of another version). */
static size_t load(const char *cache, struct entry *v)
{
	FILE *f = fopen(cache, "re");
	char line[512];
	size_t n = 0;

	if (!f)
		return 0;
	if (!fgets(line, sizeof(line), f) || strncmp(line, HEADER "\n", sizeof(HEADER))) {
		fclose(f);
		return 0;
	}
	while (n < HOMENS_CACHE_MAX && fgets(line, sizeof(line), f)) {
		struct entry *e = &v[n];

		if (sscanf(line, "%39s %255s %d %" SCNd64 " %" SCNx64, e->home, e->path, &e->answer,
			   &e->t, &e->stamp) == 5 &&
		    e->answer >= 0 && e->answer <= 2)
			n++;
	}
	fclose(f);
	return n;
}

/* Write v (n entries) to cache through a temporary file and rename. */
static void store(const char *cache, const struct entry *v, size_t n)
{
	char tmp[PATH_MAX];
	FILE *f;
	int fd, ok;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.%d", cache, (int)getpid()) >= sizeof(tmp))
		return;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return;
	if (!(f = fdopen(fd, "w"))) {
		close(fd);
		unlink(tmp);
		return;
	}
	ok = fprintf(f, "%s\n", HEADER) > 0;
	for (size_t i = 0; i < n && ok; i++)
		ok = fprintf(f, "%s %s %d %" PRId64 " %016" PRIx64 "\n", v[i].home, v[i].path,
			     v[i].answer, v[i].t, v[i].stamp) > 0;
	if (fclose(f) != 0 || !ok || rename(tmp, cache) < 0)
		unlink(tmp);
}

static int64_t now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

/* homens_cache_same with answers valid for ttl seconds; lookup_only: -ENOENT on a miss (no
 * walk, nothing written). */
static int same_ttl(const char *cache, const char *home, const char *path, const char *homeroot,
		    int64_t ttl, int lookup_only, int *hit)
{
	struct entry *v;
	size_t n, i;
	uint64_t stamp;
	int64_t t = now_s();
	int r, unsure = 0;

	if (hit)
		*hit = 0;
	if (!cache || !*cache || strlen(home) >= sizeof(v->home) ||
	    strlen(path) >= sizeof(v->path) || strpbrk(path, " \t\n") || strpbrk(home, " \t\n") ||
	    stamp_of(path, homeroot, &stamp) < 0)
		return lookup_only ? -ENOENT : homens_same(path, homeroot);
	if (!(v = calloc(HOMENS_CACHE_MAX + 1, sizeof(*v))))
		return lookup_only ? -ENOENT : homens_same(path, homeroot);
	n = load(cache, v);
	for (i = 0; i < n; i++)
		if (!strcmp(v[i].home, home) && !strcmp(v[i].path, path))
			break;
	if (i < n && v[i].stamp == stamp && t >= v[i].t && t - v[i].t < ttl) {
		r = v[i].answer;
		free(v);
		if (hit)
			*hit = 1;
		return r;
	}
	if (lookup_only) {
		free(v);
		return -ENOENT;
	}
	r = homens_same_ex(path, homeroot, &unsure);
	if (r >= 0 && !unsure) {
		if (i == n) { /* a new entry: make room by dropping the oldest */
			if (n == HOMENS_CACHE_MAX) {
				size_t old = 0;

				for (size_t j = 1; j < n; j++)
					if (v[j].t < v[old].t)
						old = j;
				v[old] = v[--n];
			}
			i = n++;
		}
		snprintf(v[i].home, sizeof(v[i].home), "%s", home);
		snprintf(v[i].path, sizeof(v[i].path), "%s", path);
		v[i].answer = r;
		v[i].t = t;
		v[i].stamp = stamp;
		store(cache, v, n);
	}
	free(v);
	return r;
}

int homens_cache_same(const char *cache, const char *home, const char *path, const char *homeroot,
		      int *hit)
{
	return same_ttl(cache, home, path, homeroot, HOMENS_CACHE_TTL_S, 0, hit);
}

int homens_cache_get(const char *cache, const char *home, const char *path, const char *homeroot)
{
	return same_ttl(cache, home, path, homeroot, HOMENS_CACHE_TTL_S, 1, NULL);
}

int homens_cache_warm(const char *cache, const char *home, const char *path, const char *homeroot)
{
	return same_ttl(cache, home, path, homeroot, HOMENS_CACHE_TTL_S - HOMENS_CACHE_AHEAD, 0,
			NULL);
}
