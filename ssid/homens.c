/*
 * homens.c - the mount namespace of a process away from home: root = <gfs>/<home>, local
 * system directories when identical, local /proc /dev /sys /run, /gfs; see homens.h and the
 * section "A process away from home" of docs/gfs.md for the rule and its limits.
 *
 * Owns the "same on both nodes" fingerprint and the mount sequence. Mount targets inside the
 * home view are opened O_PATH|O_NOFOLLOW first and mounted on through /proc/self/fd/N, so a
 * symlink on the home node can never redirect a mount to a path of this node. Never logs.
 */
#include "ssid/homens.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ssid/homens_cache.h"
#include "ssid/ssierr.h"

#define FP_DEPTH    3 /* dir/a/b/c: entries of dir and of two levels of subdirectories */
#define FNV_OFF	    0xcbf29ce484222325ULL
#define FNV_PRIME   0x100000001b3ULL
#define DPKG_STATUS "/var/lib/dpkg/status"

static void fnv(uint64_t *h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		*h ^= b[i];
		*h *= FNV_PRIME;
	}
}

static void fnv_str(uint64_t *h, const char *s)
{
	fnv(h, s, strlen(s) + 1); /* with the NUL: "ab","c" differs from "a","bc" */
}

static void fnv_u64(uint64_t *h, uint64_t v)
{
	unsigned char b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (56 - 8 * i));
	fnv(h, b, sizeof(b));
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of directory fd dfd (consumed), sorted; *n set. NULL and errno on failure. */
static char **sorted_names(int dfd, size_t *n)
{
	DIR *d = fdopendir(dfd);
	char **v = NULL;
	size_t cap = 0;
	struct dirent *e;

	*n = 0;
	if (!d) {
		close(dfd);
		return NULL;
	}
	errno = 0;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (*n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			char **nv = realloc(v, nc * sizeof(*v));

			if (!nv)
				goto fail;
			v = nv;
			cap = nc;
		}
		if (!(v[*n] = strdup(e->d_name)))
			goto fail;
		(*n)++;
		errno = 0;
	}
	if (errno)
		goto fail;
	closedir(d);
	if (*n)
		qsort(v, *n, sizeof(*v), name_cmp);
	return v;
fail : {
	int e2 = errno ? errno : ENOMEM;

	for (size_t i = 0; i < *n; i++)
		free(v[i]);
	free(v);
	closedir(d);
	*n = 0;
	errno = e2;
	return NULL;
}
}

/*
 * The walk. Through /gfs every lstat is a network round trip (~0.3 ms), and /usr to depth 3
 * has ~8,000 entries: one thread takes ~3 s, so WALKERS threads list and stat directories in
 * parallel (the serving node runs 4 requests at a time, FUSE 32). Each directory gets its own
 * hash over its sorted entries; the fingerprint folds those sorted by path, so the result does
 * not depend on the order the threads finish in.
 */
#define WALKERS 8

struct dirres {
	char *rel;  /* path relative to the base ("." for the base itself) */
	uint64_t h; /* hash of its entries (or of the error listing it) */
};

struct walk {
	int base;	    /* the directory fingerprinted (O_RDONLY) */
	pthread_mutex_t mu; /* guards everything below */
	pthread_cond_t cv;  /* work queued or a worker finished */
	char **q;	    /* directories to list: "depth:relpath", owned */
	size_t qn, qcap;
	int busy;	    /* workers listing a directory now */
	struct dirres *res; /* one per directory listed */
	size_t rn, rcap;
	int oom; /* an allocation failed: the fingerprint is an error */
};

/* Room for one more element in array v of n (capacity *cap) elements of sz bytes: returns
 * v or its reallocation (then *cap grown), NULL if out of memory (v untouched). */
static void *grow(void *v, size_t n, size_t *cap, size_t sz)
{
	void *nv;

	if (n < *cap)
		return v;
	nv = realloc(v, (*cap ? *cap * 2 : 64) * sz);
	if (nv)
		*cap = *cap ? *cap * 2 : 64;
	return nv;
}

/* Hash the entries of directory rel at depth; subdirectories to list go to subs. */
static uint64_t hash_dir(int base, const char *rel, int depth, char ***subs, size_t *ns,
			 size_t *nscap, int *oom)
{
	uint64_t h = FNV_OFF;
	size_t n;
	char **names = NULL;
	int dfd = openat(base, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (dfd < 0 || (!(names = sorted_names(dfd, &n)) && errno)) {
		fnv_str(&h, "error");
		fnv_u64(&h, (uint64_t)errno);
		return h;
	}
	for (size_t i = 0; i < n; i++) {
		char sub[PATH_MAX];
		struct stat st;

		snprintf(sub, sizeof(sub), "%s/%s", rel, names[i]);
		fnv_str(&h, names[i]);
		if (fstatat(base, sub, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			fnv_str(&h, "error");
			fnv_u64(&h, (uint64_t)errno);
			continue;
		}
		fnv_u64(&h, st.st_mode & S_IFMT);
		fnv_u64(&h, (uint64_t)st.st_mtim.tv_sec);
		fnv_u64(&h, (uint64_t)st.st_mtim.tv_nsec);
		if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode))
			fnv_u64(&h, (uint64_t)st.st_size);
		if (S_ISLNK(st.st_mode)) {
			char t[PATH_MAX];
			ssize_t k = readlinkat(base, sub, t, sizeof(t) - 1);

			t[k < 0 ? 0 : k] = 0;
			fnv_str(&h, t);
		} else if (S_ISDIR(st.st_mode) && depth + 1 < FP_DEPTH) {
			char *item = NULL, **nv = NULL;

			if (asprintf(&item, "%d:%s", depth + 1, sub) < 0 ||
			    !(nv = grow(*subs, *ns, nscap, sizeof(char *)))) {
				free(item);
				*oom = 1;
			} else {
				*subs = nv;
				(*subs)[(*ns)++] = item;
			}
		}
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return h;
}

static void *walker(void *arg)
{
	struct walk *w = arg;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		char *item, **subs = NULL;
		size_t ns = 0, nscap = 0;
		int depth, oom = 0;
		uint64_t h;

		while (!w->qn && w->busy)
			pthread_cond_wait(&w->cv, &w->mu);
		if (!w->qn)
			break; /* nothing queued, nobody can queue more */
		item = w->q[--w->qn];
		w->busy++;
		pthread_mutex_unlock(&w->mu);
		depth = atoi(item);
		h = hash_dir(w->base, strchr(item, ':') + 1, depth, &subs, &ns, &nscap, &oom);
		pthread_mutex_lock(&w->mu);
		w->busy--;
		w->oom |= oom;
		for (size_t i = 0; i < ns; i++) {
			char **nq = grow(w->q, w->qn, &w->qcap, sizeof(char *));

			if (!nq) {
				w->oom = 1;
				free(subs[i]);
			} else {
				w->q = nq;
				w->q[w->qn++] = subs[i];
			}
		}
		free(subs);
		struct dirres *nr = grow(w->res, w->rn, &w->rcap, sizeof(struct dirres));

		if (!nr) {
			w->oom = 1;
			free(item);
		} else {
			w->res = nr;
			w->res[w->rn].rel = item; /* "depth:rel": both sides name it alike */
			w->res[w->rn++].h = h;
		}
		pthread_cond_broadcast(&w->cv);
	}
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static int res_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dirres *)a)->rel, ((const struct dirres *)b)->rel);
}

int homens_fingerprint(const char *dir, const char *dpkg_status, uint64_t *fp)
{
	struct walk w = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
	pthread_t th[WALKERS];
	int nth = 0, r = 0;
	uint64_t h = FNV_OFF;
	struct stat st;

	*fp = 0;
	w.base = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (w.base < 0)
		return -errno;
	w.q = malloc(sizeof(char *));
	w.qcap = 1;
	if (!w.q || !(w.q[0] = strdup("0:."))) {
		close(w.base);
		free(w.q);
		return -ENOMEM;
	}
	w.qn = 1;
	while (nth < WALKERS && pthread_create(&th[nth], NULL, walker, &w) == 0)
		nth++;
	if (!nth)
		walker(&w); /* no thread to be had: walk alone */
	for (int i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	close(w.base);
	if (w.oom)
		r = -ENOMEM;
	if (w.rn)
		qsort(w.res, w.rn, sizeof(*w.res), res_cmp);
	for (size_t i = 0; i < w.rn; i++) {
		fnv_str(&h, w.res[i].rel);
		fnv_u64(&h, w.res[i].h);
		free(w.res[i].rel);
	}
	free(w.res);
	for (size_t i = 0; i < w.qn; i++)
		free(w.q[i]);
	free(w.q);
	if (r)
		return r;
	if (dpkg_status && lstat(dpkg_status, &st) == 0) {
		fnv_str(&h, "dpkg");
		fnv_u64(&h, (uint64_t)st.st_size);
		fnv_u64(&h, (uint64_t)st.st_mtim.tv_sec);
		fnv_u64(&h, (uint64_t)st.st_mtim.tv_nsec);
	} else {
		fnv_str(&h, "dpkg-absent");
	}
	*fp = h;
	return 0;
}

int homens_same(const char *path, const char *homeroot)
{
	return homens_same_ex(path, homeroot, NULL);
}

int homens_same_ex(const char *path, const char *homeroot, int *unsure)
{
	char hp[PATH_MAX], hdpkg[PATH_MAX];
	struct stat ls, hs;
	uint64_t f1, f2;
	int r, dummy;

	if (!unsure)
		unsure = &dummy;
	*unsure = 0;

	if ((size_t)snprintf(hp, sizeof(hp), "%s%s", homeroot, path) >= sizeof(hp) ||
	    (size_t)snprintf(hdpkg, sizeof(hdpkg), "%s%s", homeroot, DPKG_STATUS) >= sizeof(hdpkg))
		return -ENAMETOOLONG;
	if (lstat(path, &ls) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (lstat(hp, &hs) < 0) {
		*unsure = errno != ENOENT && errno != ENOTDIR;
		return 0;
	}
	if (S_ISLNK(ls.st_mode) && S_ISLNK(hs.st_mode)) {
		char l1[PATH_MAX], l2[PATH_MAX];
		ssize_t a = readlink(path, l1, sizeof(l1) - 1);
		ssize_t b = readlink(hp, l2, sizeof(l2) - 1);

		if (a < 0)
			return -errno;
		return b == a && !memcmp(l1, l2, (size_t)a) ? 2 : 0;
	}
	if (!S_ISDIR(ls.st_mode) || !S_ISDIR(hs.st_mode))
		return 0;
	if ((r = homens_fingerprint(path, DPKG_STATUS, &f1)) < 0)
		return r;
	if (homens_fingerprint(hp, hdpkg, &f2) < 0) {
		*unsure = 1;
		return 0;
	}
	return f1 == f2;
}

/* Append printf text to the summary/error buffer. */
static void __attribute__((format(printf, 3, 4))) say(char *b, size_t n, const char *fmt, ...)
{
	size_t used = n ? strnlen(b, n) : 0;
	va_list ap;

	if (used + 1 >= n)
		return;
	va_start(ap, fmt);
	vsnprintf(b + used, n - used, fmt, ap);
	va_end(ap);
}

static int fail(char *err, size_t n, int r, const char *fmt, const char *arg)
{
	if (n) {
		err[0] = 0;
		say(err, n, fmt, arg);
		say(err, n, ": %s", ssierr_str(r));
	}
	return r;
}

/* Bind src (a path of this node) onto directory rel under root fd rfd, opened without
 * following symlinks so the home node cannot point the mount elsewhere. */
static int bind_into(int rfd, const char *rel, const char *src, unsigned long flags)
{
	char target[64];
	int t = openat(rfd, rel, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
	int r = 0;

	if (t < 0)
		return -errno;
	snprintf(target, sizeof(target), "/proc/self/fd/%d", t);
	if (mount(src, target, NULL, MS_BIND | flags, NULL) < 0)
		r = -errno;
	close(t);
	return r;
}

/* Split list (space separated) into at most HOMENS_MAX_DIRS absolute paths in buf. */
static int split_dirs(const char *list, char *buf, size_t n, char **v, int *nv)
{
	char *save = NULL, *t;

	*nv = 0;
	if (strlen(list) >= n)
		return -ENAMETOOLONG;
	strcpy(buf, list);
	for (t = strtok_r(buf, " \t,", &save); t; t = strtok_r(NULL, " \t,", &save)) {
		if (t[0] != '/' || !t[1] || strstr(t, "..") || *nv == HOMENS_MAX_DIRS)
			return -EINVAL;
		while (strlen(t) > 1 && t[strlen(t) - 1] == '/')
			t[strlen(t) - 1] = 0;
		v[(*nv)++] = t;
	}
	return 0;
}

int homens_enter(const struct homens_spec *s, char *err, size_t errlen)
{
	static const char *const local_mounts[] = {"/proc", "/dev", "/sys", "/run"};
	const char *gfs = s->gfs && *s->gfs ? s->gfs : "/gfs";
	const char *list = s->local_dirs ? s->local_dirs : HOMENS_LOCAL_DIRS_DEFAULT;
	char root[PATH_MAX], dbuf[1024], *dirs[HOMENS_MAX_DIRS];
	int same[HOMENS_MAX_DIRS], nd, r, rfd, hits = 0;
	struct stat st;

	if (errlen)
		err[0] = 0;
	if (!s->home || !*s->home || strchr(s->home, '/') || !strcmp(s->home, ".") ||
	    !strcmp(s->home, ".."))
		return fail(err, errlen, -EINVAL, "home node name '%s'", s->home ? s->home : "");
	if ((size_t)snprintf(root, sizeof(root), "%s/%s", gfs, s->home) >= sizeof(root))
		return fail(err, errlen, -ENAMETOOLONG, "root %s/...", gfs);
	if ((r = split_dirs(list, dbuf, sizeof(dbuf), dirs, &nd)) < 0)
		return fail(err, errlen, r, "local_dirs '%s'", list);
	errno = 0;
	if (stat(root, &st) < 0 || !S_ISDIR(st.st_mode))
		return fail(err, errlen, errno ? -errno : -ENOTDIR,
			    "home view %s (is /gfs mounted, the home node up?)", root);
	/* Decide every directory before mounting anything: a mount made for one would
	 * otherwise hide home's copy of a later one below it (/usr then /usr/local). */
	for (int i = 0; i < nd; i++) {
		int hit = 0;

		if (s->cache_only && s->cache && *s->cache) {
			same[i] = homens_cache_get(s->cache, s->home, dirs[i], root);
			hit = same[i] >= 0;
			if (same[i] == -ENOENT)
				same[i] = 0; /* not known yet: home's copy, always right */
		} else {
			same[i] = homens_cache_same(s->cache, s->home, dirs[i], root, &hit);
		}
		if (same[i] < 0)
			return fail(err, errlen, same[i], "local %s", dirs[i]);
		hits += hit;
	}
	if (unshare(CLONE_NEWNS) < 0)
		return fail(err, errlen, -errno, "unshare(CLONE_NEWNS)%s", "");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return fail(err, errlen, -errno, "make / private%s", "");
	if (mount(root, root, NULL, MS_BIND, NULL) < 0)
		return fail(err, errlen, -errno, "bind %s on itself", root);
	if ((rfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		return fail(err, errlen, -errno, "open %s", root);
	r = 0;
	for (int i = 0; i < nd && !r; i++) {
		if (same[i] == 1 && (r = bind_into(rfd, dirs[i] + 1, dirs[i], MS_REC)) < 0)
			fail(err, errlen, r, "bind local %s", dirs[i]);
	}
	for (size_t i = 0; i < sizeof(local_mounts) / sizeof(*local_mounts) && !r; i++) {
		const char *m = local_mounts[i];

		r = bind_into(rfd, m + 1, m, MS_REC);
		if (r == -ENOENT && !strcmp(m, "/run"))
			r = 0; /* a home without /run: the process gets none */
		else if (r < 0)
			fail(err, errlen, r, "bind local %s (into the home view)", m);
	}
	/* /gfs alone, not recursively: its copy must not hold the new root mounted under it. */
	if (!r && (r = bind_into(rfd, gfs + 1, gfs, 0)) < 0)
		fail(err, errlen, r, "bind %s inside the new root", gfs);
	if (!r && fchdir(rfd) < 0)
		r = fail(err, errlen, -errno, "chdir %s", root);
	close(rfd);
	if (r)
		return r;
	/* pivot_root(".", "."): the old root is stacked on the new one and detached at once, so
	 * no put_old directory is needed on the home node. */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return fail(err, errlen, -errno, "pivot_root into %s", root);
	if (umount2(".", MNT_DETACH) < 0)
		return fail(err, errlen, -errno, "detach the old root%s", "");
	if (chdir("/") < 0 || chdir(s->cwd && *s->cwd ? s->cwd : "/") < 0)
		return fail(err, errlen, -errno, "chdir %s (inside the home view)",
			    s->cwd ? s->cwd : "/");
	say(err, errlen, "root %s;", root);
	for (int k = 1; k >= 0; k--) {
		say(err, errlen, k ? " local:" : " home:");
		for (int i = 0; i < nd; i++)
			if ((k && same[i] == 1) || (!k && same[i] == 0))
				say(err, errlen, " %s", dirs[i]);
		say(err, errlen, ";");
	}
	say(err, errlen, " link:");
	for (int i = 0; i < nd; i++)
		if (same[i] == 2)
			say(err, errlen, " %s", dirs[i]);
	if (s->cache && *s->cache)
		say(err, errlen, "; cached %d/%d", hits, nd);
	return 0;
}
