/*
 * homens_cache.c - remembered answers of homens_same() (see homens_cache.h for the contract
 * and docs/gfs.md "The rule, cached" for why these stamps).
 *
 * File format (text, one entry a line, after a header line "ssi-homens-cache 1"):
 *     HOME PATH ANSWER TIME STAMP
 * HOME a node name, PATH an absolute directory without blanks (as [gfs] local_dirs has
 * them), ANSWER 0/1/2, TIME when it was computed (seconds, CLOCK_REALTIME), STAMP 16 hex
 * digits. Lines that do not parse are dropped. Never logs.
 *
 * Beside it, homens.fp (same directory) publishes this node's own fingerprints (text, after
 * "ssi-homens-fp 1"):  PATH FP SELF TIME  — FP = homens_fingerprint(PATH) walked here, SELF =
 * the stamp of PATH and the dpkg status here when it was walked. A node deciding about home
 * reads home's homens.fp through /gfs (one small file) instead of walking home's directory
 * through /gfs (1-5 s per directory and peer; every node doing it for every peer made the
 * cluster's background work grow with the square of its size), and trusts an entry only if
 * home's SELF stamp, taken again through /gfs, still matches.
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
#define PUB_HEADER  "ssi-homens-fp 1"
#define PUB_NAME    "homens.fp"
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

static int64_t now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

/* The stamp of one node's copy: lstat of root+path and of root+dpkg status (root "" = here). */
static int self_stamp(const char *root, const char *path, uint64_t *out)
{
	char p[PATH_MAX], d[PATH_MAX];
	uint64_t h = 0xcbf29ce484222325ULL;

	if ((size_t)snprintf(p, sizeof(p), "%s%s", root, path) >= sizeof(p) ||
	    (size_t)snprintf(d, sizeof(d), "%s%s", root, DPKG_STATUS) >= sizeof(d))
		return -ENAMETOOLONG;
	mix_lstat(&h, p);
	mix_lstat(&h, d);
	*out = h;
	return 0;
}

/* The published file beside cache: dir(cache)/homens.fp. -ENAMETOOLONG or 0. */
static int pub_path(const char *cache, char *out, size_t n)
{
	const char *sl = strrchr(cache, '/');
	int len = sl ? (int)(sl - cache) : 1;

	if ((size_t)snprintf(out, n, "%.*s/%s", len, sl ? cache : ".", PUB_NAME) >= n)
		return -ENAMETOOLONG;
	return 0;
}

struct pub {
	char path[256];
	uint64_t fp, self;
	int64_t t;
};

/* file opened for reading past its first line, which must be header: NULL if the file is
 * absent, unreadable or of another version (both files below start so). */
static FILE *open_versioned(const char *file, const char *header)
{
	FILE *f = fopen(file, "re");
	char line[64];
	size_t hl = strlen(header);

	if (f && (!fgets(line, sizeof(line), f) || strncmp(line, header, hl) || line[hl] != '\n')) {
		fclose(f);
		f = NULL;
	}
	return f;
}

/* Entries of a published file (up to HOMENS_CACHE_MAX); 0 if absent or of another version. */
static size_t pub_load(const char *file, struct pub *v)
{
	FILE *f = open_versioned(file, PUB_HEADER);
	char line[512];
	size_t n = 0;

	if (!f)
		return 0;
	while (n < HOMENS_CACHE_MAX && fgets(line, sizeof(line), f))
		if (sscanf(line, "%255s %" SCNx64 " %" SCNx64 " %" SCNd64, v[n].path, &v[n].fp,
			   &v[n].self, &v[n].t) == 4)
			n++;
	fclose(f);
	return n;
}

/* The published fingerprint of path in file, if its SELF stamp equals self. 0 or -ENOENT. */
static int pub_find(const char *file, const char *path, uint64_t self, uint64_t *fp)
{
	struct pub *v = calloc(HOMENS_CACHE_MAX, sizeof(*v));
	size_t n = v ? pub_load(file, v) : 0;
	int r = -ENOENT;

	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].path, path) && v[i].self == self) {
			*fp = v[i].fp;
			r = 0;
		}
	free(v);
	return r;
}

int homens_cache_publish(const char *cache, const char *dirs)
{
	return homens_cache_publish_at("", cache, dirs);
}

int homens_cache_publish_at(const char *root, const char *cache, const char *dirs)
{
	char file[PATH_MAX], mine[PATH_MAX], rdir[PATH_MAX], rdpkg[PATH_MAX], tmp[PATH_MAX + 16],
		list[1024], *save = NULL;
	struct pub *old = NULL, *v = NULL;
	size_t nold = 0, n = 0;
	int64_t t = now_s();
	FILE *f;
	int fd, ok, r = 0;

	if (!cache || !*cache || pub_path(cache, mine, sizeof(mine)) < 0 ||
	    (size_t)snprintf(file, sizeof(file), "%s%s", root, mine) >= sizeof(file) ||
	    (size_t)snprintf(rdpkg, sizeof(rdpkg), "%s%s", root, DPKG_STATUS) >= sizeof(rdpkg) ||
	    (size_t)snprintf(list, sizeof(list), "%s", dirs ? dirs : "") >= sizeof(list))
		return -EINVAL;
	if (!(old = calloc(HOMENS_CACHE_MAX, sizeof(*old))) ||
	    !(v = calloc(HOMENS_CACHE_MAX, sizeof(*v)))) {
		free(old);
		return -ENOMEM;
	}
	nold = pub_load(file, old);
	for (char *d = strtok_r(list, " \t,", &save); d && n < HOMENS_CACHE_MAX;
	     d = strtok_r(NULL, " \t,", &save)) {
		struct pub *e = &v[n];
		size_t i;

		if (d[0] != '/' || strlen(d) >= sizeof(e->path) ||
		    self_stamp(root, d, &e->self) < 0 ||
		    (size_t)snprintf(rdir, sizeof(rdir), "%s%s", root, d) >= sizeof(rdir))
			continue;
		snprintf(e->path, sizeof(e->path), "%s", d);
		for (i = 0; i < nold; i++)
			if (!strcmp(old[i].path, d) && old[i].self == e->self && t >= old[i].t &&
			    t - old[i].t < HOMENS_CACHE_TTL_S - HOMENS_CACHE_AHEAD)
				break;
		if (i < nold) { /* unchanged and fresh: no walk */
			*e = old[i];
			n++;
			continue;
		}
		struct stat st;
		if (lstat(rdir, &st) < 0 || !S_ISDIR(st.st_mode) ||
		    homens_fingerprint(rdir, rdpkg, &e->fp) < 0)
			continue; /* a link or no such directory: nothing to publish */
		e->t = t;
		n++;
	}
	free(old);
	(void)snprintf(tmp, sizeof(tmp), "%s.%d", file, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		r = -errno;
		if (fd >= 0)
			close(fd);
		unlink(tmp);
		free(v);
		return r;
	}
	(void)fchmod(fd, 0644); /* readable through /gfs by other nodes' daemons */
	ok = fprintf(f, "%s\n", PUB_HEADER) > 0;
	for (size_t i = 0; i < n && ok; i++)
		ok = fprintf(f, "%s %016" PRIx64 " %016" PRIx64 " %" PRId64 "\n", v[i].path,
			     v[i].fp, v[i].self, v[i].t) > 0;
	if (fclose(f) != 0 || !ok || rename(tmp, file) < 0) {
		r = -EIO;
		unlink(tmp);
	}
	free(v);
	return r;
}

/* homens_same_ex(path, homeroot) without walking home: links and types by lstat, then this
 * node's fingerprint (published, or walked here) against home's published one, trusted only
 * while home's stamp taken through /gfs matches it. No published entry at home: 0 and
 * *unsure (take it from home; do not remember). */
static int same_published(const char *cache, const char *path, const char *homeroot, int *unsure)
{
	char hp[PATH_MAX], mine[PATH_MAX], theirs[PATH_MAX];
	struct stat ls, hs;
	uint64_t self, f1, f2;
	int r;

	*unsure = 0;
	if ((size_t)snprintf(hp, sizeof(hp), "%s%s", homeroot, path) >= sizeof(hp) ||
	    pub_path(cache, mine, sizeof(mine)) < 0 ||
	    (size_t)snprintf(theirs, sizeof(theirs), "%s%s", homeroot, mine) >= sizeof(theirs))
		return -ENAMETOOLONG;
	if (lstat(path, &ls) < 0 || lstat(hp, &hs) < 0 || !S_ISDIR(ls.st_mode) ||
	    !S_ISDIR(hs.st_mode))
		return homens_same_ex(path, homeroot, unsure); /* links, absence: cheap there */
	if (self_stamp("", path, &self) < 0)
		return -ENAMETOOLONG;
	if (pub_find(mine, path, self, &f1) < 0 &&
	    (r = homens_fingerprint(path, DPKG_STATUS, &f1)) < 0)
		return r;
	if (self_stamp(homeroot, path, &self) < 0 || pub_find(theirs, path, self, &f2) < 0) {
		*unsure = 1;
		return 0;
	}
	return f1 == f2;
}

/* Every entry of the file (up to HOMENS_CACHE_MAX) into v; returns the count (0 if the file
 * is absent, unreadable or of another version). */
static size_t load(const char *cache, struct entry *v)
{
	FILE *f = open_versioned(cache, HEADER);
	char line[512];
	size_t n = 0;

	if (!f)
		return 0;
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
	r = same_published(cache, path, homeroot, &unsure);
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
