/*
 * fault.c - named fault-injection points selected by SSI_FAULT (contract in fault.h).
 *
 * Owns: the table of armed points and their hit counters. Does not: act on a fault, log.
 * Assumes: few armed points (a linear scan per hit is cheaper than anything clever), and
 * that fault_set() is not called while other threads hit points. With SSI_FAULT_FILE every
 * hit stats the file and re-arms under a lock when it changed (tests only: cost is no issue).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "migrate/fault.h"

struct point {
	char name[FAULT_NAME_MAX + 1];
	enum fault_action action;
	unsigned nth;	  /* fire on this hit only; 0 = every hit */
	atomic_uint hits; /* counted hits */
};

static struct point points[FAULT_MAX_POINTS];
static atomic_size_t npoints; /* armed entries in points[]; 0 = fast path */
static pthread_once_t env_once = PTHREAD_ONCE_INIT;
static int env_result;
static const char *file_path; /* SSI_FAULT_FILE, NULL if unset */
static pthread_mutex_t file_lock = PTHREAD_MUTEX_INITIALIZER;
static struct stat file_st; /* file_lock: what was armed from */

static const char *const action_names[] = {
	[FAULT_NONE] = "none",
	[FAULT_FAIL] = "fail",
	[FAULT_CUT] = "cut",
	[FAULT_CRASH] = "crash",
	[FAULT_CRASH_SRC] = "crash_src",
	[FAULT_CRASH_DST] = "crash_dst",
	[FAULT_CRASH_HOME] = "crash_home",
	[FAULT_STALL] = "stall",
	[FAULT_PAUSE] = "pause",
};
#define NACTIONS (sizeof(action_names) / sizeof(action_names[0]))

const char *fault_action_name(enum fault_action a)
{
	return (size_t)a < NACTIONS ? action_names[a] : "none";
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
}

/* Parse "N" (1..1e6) from [p, end). */
static int parse_nth(const char *p, const char *end, unsigned *nth)
{
	unsigned v = 0;

	if (p == end)
		return -EINVAL;
	for (; p < end; p++) {
		if (*p < '0' || *p > '9' || v > 100000)
			return -EINVAL;
		v = v * 10 + (unsigned)(*p - '0');
	}
	if (v == 0)
		return -EINVAL;
	*nth = v;
	return 0;
}

static int parse_action(const char *p, const char *end, enum fault_action *a)
{
	size_t len = (size_t)(end - p);
	size_t i;

	for (i = FAULT_FAIL; i < NACTIONS; i++) {
		if (strlen(action_names[i]) == len && memcmp(action_names[i], p, len) == 0) {
			*a = (enum fault_action)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* One entry "point[:action][@N]" in [p, end) into pt. */
static int parse_entry(const char *p, const char *end, struct point *pt)
{
	const char *q = p;
	const char *at, *colon;

	while (q < end && name_char(*q))
		q++;
	if (q == p || (size_t)(q - p) > FAULT_NAME_MAX)
		return -EINVAL;
	memcpy(pt->name, p, (size_t)(q - p));
	pt->name[q - p] = '\0';
	pt->action = FAULT_FAIL;
	pt->nth = 0;
	atomic_init(&pt->hits, 0);
	at = memchr(q, '@', (size_t)(end - q));
	if (at && parse_nth(at + 1, end, &pt->nth) < 0)
		return -EINVAL;
	if (!at)
		at = end;
	if (q == at)
		return 0;
	colon = q;
	if (*colon != ':')
		return -EINVAL;
	return parse_action(colon + 1, at, &pt->action);
}

static int arm(const char *spec)
{
	struct point tmp[FAULT_MAX_POINTS];
	size_t n = 0;
	const char *p = spec;

	atomic_store(&npoints, 0);
	if (!spec || !*spec)
		return 0;
	for (;;) {
		const char *end = strchr(p, ',');

		if (!end)
			end = p + strlen(p);
		if (n == FAULT_MAX_POINTS || parse_entry(p, end, &tmp[n]) < 0)
			return -EINVAL;
		n++;
		if (*end == '\0')
			break;
		p = end + 1;
	}
	memcpy(points, tmp, n * sizeof(tmp[0]));
	atomic_store(&npoints, n);
	return 0;
}

static void init_from_env(void)
{
	const char *f = getenv(FAULT_FILE_ENV);

	env_result = arm(getenv(FAULT_ENV));
	if (f && *f && !getenv(FAULT_ENV))
		file_path = f;
}

/* SSI_FAULT_FILE: re-arm from the file when it changed since the last look. */
static void file_check(void)
{
	struct stat st;
	char spec[1024];
	ssize_t n = 0;
	int fd;

	pthread_mutex_lock(&file_lock);
	if (stat(file_path, &st) < 0)
		memset(&st, 0, sizeof(st));
	if (st.st_ino == file_st.st_ino && st.st_size == file_st.st_size &&
	    st.st_mtim.tv_sec == file_st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == file_st.st_mtim.tv_nsec)
		goto out;
	file_st = st;
	fd = open(file_path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		do
			n = read(fd, spec, sizeof(spec) - 1);
		while (n < 0 && errno == EINTR);
		close(fd);
	}
	spec[n > 0 ? n : 0] = '\0';
	while (n > 0 && (spec[n - 1] == '\n' || spec[n - 1] == ' '))
		spec[--n] = '\0';
	arm(spec);
out:
	pthread_mutex_unlock(&file_lock);
}

int fault_init(void)
{
	pthread_once(&env_once, init_from_env);
	return env_result;
}

int fault_set(const char *spec)
{
	fault_init(); /* so that a later lazy init cannot overwrite this */
	return arm(spec);
}

static struct point *find(const char *point)
{
	size_t i, n = atomic_load(&npoints);

	for (i = 0; i < n; i++) {
		if (strcmp(points[i].name, point) == 0)
			return &points[i];
	}
	return NULL;
}

enum fault_action fault_hit(const char *point)
{
	struct point *pt;
	unsigned hit;

	fault_init();
	if (file_path && point)
		file_check();
	if (atomic_load(&npoints) == 0 || !point)
		return FAULT_NONE;
	pt = find(point);
	if (!pt)
		return FAULT_NONE;
	hit = atomic_fetch_add(&pt->hits, 1) + 1;
	if (pt->nth != 0 && hit != pt->nth)
		return FAULT_NONE;
	return pt->action;
}

enum fault_action fault_for_role(enum fault_action a, const char *role)
{
	static const struct {
		enum fault_action a;
		const char *role;
	} map[] = {{FAULT_CRASH_SRC, "src"}, {FAULT_CRASH_DST, "dst"}, {FAULT_CRASH_HOME, "home"}};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (map[i].a == a)
			return role && strcmp(role, map[i].role) == 0 ? FAULT_CRASH : FAULT_NONE;
	}
	return a;
}

unsigned fault_count(const char *point)
{
	struct point *pt;

	fault_init();
	pt = point ? find(point) : NULL;
	return pt ? atomic_load(&pt->hits) : 0;
}

int fault_ms(enum fault_action a)
{
	const char *v = getenv(a == FAULT_CUT ? "SSI_FAULT_CUT_MS" : "SSI_FAULT_PAUSE_MS");
	long ms = v ? strtol(v, NULL, 10) : 0;

	if (a != FAULT_CUT && a != FAULT_PAUSE)
		return 0;
	if (ms >= 1 && ms <= 600000)
		return (int)ms;
	return a == FAULT_CUT ? 5000 : 2000;
}
