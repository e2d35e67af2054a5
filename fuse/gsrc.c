/*
 * gsrc.c - the data-source layer of gprocfs and gps: identity, snapshots, refresh, vanished
 * gpids.
 *
 * Owns the current snapshot and its refresh: one thread refreshes while the others keep using
 * the previous snapshot, so a slow source never stalls readers; with the refresher thread
 * (gsrc_start) request threads never fetch at all after the first snapshot. Polling stops
 * when nobody asked for 3 s. Does not render or know FUSE. The ssid source speaks the control
 * socket's framing (ssid/ctl.h) itself so that it can put time-outs on the socket.
 */
#include "fuse/gsrc.h"
#include "ssid/usock.h"
#include "ssid/config.h"
#include "ssid/ctl.h"
#include "ssid/ssierr.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define GONE_MAX    65536 /* pending invalidations kept; more are dropped (timeouts cover) */
#define IDLE_MS	    3000  /* the refresher rests when nobody asked for this long */
#define SOCK_TO_MS  2000  /* control socket send/receive time-out */
/* A listing may reuse the records of a snapshot up to this many ttls old (local source). */
#define RELIST_TTLS 2

struct gsrc {
	enum gsrc_kind kind;
	unsigned node_id;
	char node_name[PTABLE_NAME_MAX];
	char procdir[256];
	char sock[108]; /* sun_path size */
	unsigned ttl_ms;
	void (*prepare)(struct gsnap *snap, const struct gsnap *prev, void *arg);
	void *prepare_arg;
	pthread_mutex_t lock; /* protects everything below */
	pthread_cond_t done;  /* a refresh ended */
	pthread_cond_t kick;  /* wakes the refresher */
	struct gsnap *cur;    /* newest snapshot, or NULL */
	int refreshing;	      /* a thread is fetching */
	uint32_t *gone;	      /* vanished gpids not yet taken */
	size_t ngone;
	int last_err; /* result of the last fetch */
	char last_msg[256];
	uint64_t last_use_ms; /* last gsrc_get */
	int kicked, stop, running;
	pthread_t thread;
};

static uint64_t now_ms(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int gsrc_kind_parse(const char *s, enum gsrc_kind *k)
{
	if (strcmp(s, "local") == 0)
		*k = GSRC_LOCAL;
	else if (strcmp(s, "ssid") == 0)
		*k = GSRC_SSID;
	else
		return -EINVAL;
	return 0;
}

static int identity(struct gsrc *s, const struct gsrc_opts *o, char *err, size_t errlen)
{
	const char *path = o->conf ? o->conf : config_default_path();
	struct config c;
	char cerr[512] = "";
	int r;

	s->node_id = o->node_id;
	snprintf(s->node_name, sizeof(s->node_name), "%s", o->node_name);
	snprintf(s->sock, sizeof(s->sock), "%s", o->sock ? o->sock : "/run/ssid/" CTL_SOCK_NAME);
	if (s->node_id && s->node_name[0] && (o->sock || s->kind == GSRC_LOCAL))
		return 0;
	r = config_load(path, &c, cerr, sizeof(cerr));
	if (r == 0) {
		if (!s->node_id)
			s->node_id = (unsigned)c.id;
		if (!s->node_name[0])
			snprintf(s->node_name, sizeof(s->node_name), "%s", c.name);
		if (!o->sock && snprintf(s->sock, sizeof(s->sock), "%s/%s", c.run_dir,
					 CTL_SOCK_NAME) >= (int)sizeof(s->sock)) {
			snprintf(err, errlen, "%s: run_dir too long for a socket path", path);
			r = -ENAMETOOLONG;
		}
		config_free(&c);
		return r;
	}
	if (!s->node_id) {
		snprintf(err, errlen,
			 "no node id: %s (set [node] id in the config or pass a node id)",
			 cerr[0] ? cerr : ssierr_str(r));
		return r;
	}
	/* An explicit id without a config file: name the node after the host. */
	if (!s->node_name[0] &&
	    (gethostname(s->node_name, sizeof(s->node_name) - 1) < 0 || !s->node_name[0]))
		snprintf(s->node_name, sizeof(s->node_name), "node%u", s->node_id);
	return 0;
}

struct gsrc *gsrc_new(const struct gsrc_opts *o, char *err, size_t errlen)
{
	struct gsrc *s = calloc(1, sizeof(*s));

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->kind = o->kind;
	s->ttl_ms = o->ttl_ms ? o->ttl_ms : 500;
	s->prepare = o->prepare;
	s->prepare_arg = o->prepare_arg;
	snprintf(s->procdir, sizeof(s->procdir), "%s", o->procdir ? o->procdir : "/proc");
	if (identity(s, o, err, errlen) < 0) {
		free(s);
		errno = EINVAL;
		return NULL;
	}
	if (s->node_id == 0 || s->node_id > PTABLE_NODE_MAX) {
		snprintf(err, errlen, "node id %u out of range 1..%d", s->node_id, PTABLE_NODE_MAX);
		free(s);
		errno = EINVAL;
		return NULL;
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->done, NULL);
	pthread_cond_init(&s->kick, NULL);
	return s;
}

unsigned gsrc_node_id(const struct gsrc *s)
{
	return s->node_id;
}

const char *gsrc_node_name(const struct gsrc *s)
{
	return s->node_name;
}

const char *gsrc_procdir(const struct gsrc *s)
{
	return s->procdir;
}

int gsrc_last_error(struct gsrc *s, char *err, size_t errlen)
{
	pthread_mutex_lock(&s->lock);
	int r = s->last_err;
	snprintf(err, errlen, "%s", s->last_msg);
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* One PTABLE_CTL_TYPE request; msg says what failed. */
static int fetch_ssid(struct gsrc *s, struct ptable **out, char *msg, size_t n)
{
	uint8_t hdr[4] = {PTABLE_CTL_TYPE >> 8, PTABLE_CTL_TYPE & 0xff, 0, 0}, st[4];
	struct buf empty, body;
	int fd, r;

	fd = usock_connect(s->sock, SOCK_TO_MS);
	if (fd < 0) {
		snprintf(msg, n, "%s: %s; is ssid running?", s->sock, strerror(-fd));
		return fd;
	}
	buf_init(&empty);
	buf_init(&body);
	buf_set_max(&body, CTL_MAX_MSG);
	r = ctl_send(fd, hdr, sizeof(hdr), &empty);
	if (r == 0)
		r = ctl_recv(fd, st, sizeof(st), &body);
	close(fd);
	if (r == 0) {
		int32_t status = (int32_t)((uint32_t)st[0] << 24 | (uint32_t)st[1] << 16 |
					   (uint32_t)st[2] << 8 | st[3]);
		r = status;
		if (r < 0)
			snprintf(msg, n, "%s: the daemon refused the table request: %s%s", s->sock,
				 ssierr_str(r),
				 r == -EOPNOTSUPP ? " (this ssid does not serve the table yet)"
						  : "");
		else if ((r = ptable_decode(&body, out)) < 0)
			snprintf(msg, n, "%s: bad table from the daemon: %s", s->sock,
				 ssierr_str(r));
	} else {
		snprintf(msg, n, "%s: table request: %s", s->sock, ssierr_str(r));
	}
	buf_free(&body);
	return r;
}

static int fetch(struct gsrc *s, struct ptable **out, char *msg, size_t n)
{
	int r;

	msg[0] = '\0';
	if (s->kind == GSRC_SSID)
		return fetch_ssid(s, out, msg, n);
	r = ptable_read_self(out, s->procdir, s->node_id, s->node_name);
	if (r < 0 && snprintf(msg, n, "reading %s: %s", s->procdir, ssierr_str(r)) >= (int)n)
		msg[n - 1] = '\0';
	return r;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void snap_free(struct gsnap *g)
{
	if (g->aux_free)
		g->aux_free(g->aux);
	ptable_free(g->t);
	free(g);
}

/* Run the prepare hook on g (its table set) against prev. No lock held; the caller keeps
 * prev alive and s->refreshing set, so calls never overlap. */
static void prepare(struct gsrc *s, struct gsnap *g, const struct gsnap *prev)
{
	if (s->prepare)
		s->prepare(g, prev, s->prepare_arg);
}

/* Append to s->gone the gpids of old that are not in new (both sorted). Lock held. */
static void note_gone(struct gsrc *s, const struct ptable *old, const struct ptable *new)
{
	uint32_t j = 0;

	for (uint32_t i = 0; i < old->nprocs && s->ngone < GONE_MAX; i++) {
		uint32_t g = old->procs[i].gpid;
		while (j < new->nprocs &&new->procs[j].gpid < g)
			j++;
		if (j < new->nprocs &&new->procs[j].gpid == g)
			continue;
		if (s->ngone % 1024 == 0) {
			uint32_t *p = realloc(s->gone, (s->ngone + 1024) * sizeof(*p));
			if (!p)
				return;
			s->gone = p;
		}
		s->gone[s->ngone++] = g;
	}
}

/* Fetch a new snapshot with the lock dropped meanwhile. Lock held on entry and exit. On
 * success *out is held for the caller. */
static int refresh_locked(struct gsrc *s, struct gsnap **out)
{
	struct gsnap *g = calloc(1, sizeof(*g)), *prev = s->cur;
	struct ptable *t = NULL;
	char msg[256] = "out of memory";
	int r = -ENOMEM;

	s->refreshing = 1;
	if (prev)
		prev->refs++; /* s->cur does not change while refreshing is set */
	pthread_mutex_unlock(&s->lock);
	if (g)
		r = fetch(s, &t, msg, sizeof(msg));
	if (r == 0) {
		g->t = t;
		g->src = s;
		prepare(s, g, prev);
	}
	pthread_mutex_lock(&s->lock);
	if (prev && --prev->refs == 0)
		snap_free(prev);
	s->refreshing = 0;
	s->last_err = r;
	snprintf(s->last_msg, sizeof(s->last_msg), "%s", msg);
	pthread_cond_broadcast(&s->done);
	if (r < 0) {
		free(g);
		return r;
	}
	g->mono_ms = now_ms(CLOCK_MONOTONIC);
	g->list_ms = g->mono_ms;
	g->refs = 2; /* s->cur and the caller */
	if (s->cur) {
		note_gone(s, s->cur->t, t);
		if (--s->cur->refs == 0)
			snap_free(s->cur);
	}
	s->cur = g;
	*out = g;
	return 0;
}

static int get(struct gsrc *s, struct gsnap **out, int force)
{
	*out = NULL;
	pthread_mutex_lock(&s->lock);
	s->last_use_ms = now_ms(CLOCK_MONOTONIC);
	for (;;) {
		struct gsnap *c = s->cur;
		if (c && !force && s->last_use_ms - c->mono_ms < s->ttl_ms)
			break;
		if (c && !force && s->running) {
			s->kicked = 1; /* the refresher fetches; this caller takes what there is */
			pthread_cond_signal(&s->kick);
			break;
		}
		if (!s->refreshing) {
			int r = refresh_locked(s, out);
			pthread_mutex_unlock(&s->lock);
			return r;
		}
		if (c && !force)
			break; /* someone is refreshing: the previous snapshot will do */
		pthread_cond_wait(&s->done, &s->lock);
		if (!s->cur) {
			int r = s->last_err ? s->last_err : -EIO;
			pthread_mutex_unlock(&s->lock);
			return r;
		}
		force = 0;
	}
	s->cur->refs++;
	*out = s->cur;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

int gsrc_get(struct gsrc *s, struct gsnap **out)
{
	return get(s, out, 0);
}

/* Sorted local pids of procdir, as read_local would take them. 0 or a negative errno. */
static int list_pids(const char *procdir, uint32_t **pids, size_t *n)
{
	DIR *d = opendir(procdir);
	struct dirent *de;
	size_t cap = 0;

	*pids = NULL;
	*n = 0;
	if (!d)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		char *end;
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		unsigned long pid = strtoul(de->d_name, &end, 10);
		if (*end || pid > PTABLE_PID_MASK)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 1024;
			uint32_t *v = realloc(*pids, cap * sizeof(*v));
			if (!v) {
				closedir(d);
				free(*pids);
				*pids = NULL;
				return -ENOMEM;
			}
			*pids = v;
		}
		(*pids)[(*n)++] = (uint32_t)pid;
	}
	closedir(d);
	qsort(*pids, *n, sizeof(**pids), cmp_u32);
	return 0;
}

static int copy_proc(struct ptable_proc *dst, const struct ptable_proc *src)
{
	*dst = *src;
	dst->cmdline = NULL;
	dst->cgroup = NULL;
	if (src->cmdline && !(dst->cmdline = malloc(src->cmdline_len ? src->cmdline_len : 1)))
		return -ENOMEM;
	if (src->cmdline)
		memcpy(dst->cmdline, src->cmdline, src->cmdline_len);
	if (src->cgroup && !(dst->cgroup = strdup(src->cgroup)))
		return -ENOMEM;
	return 0;
}

/* A table with old's nodes and the processes of pids[]: old's records where old has them,
 * the others read from procdir now (those that vanished meanwhile are skipped). */
static int merge_pids(const struct gsrc *s, const struct ptable *old, const uint32_t *pids,
		      size_t n, struct ptable **out)
{
	struct ptable *t = ptable_new();
	uint32_t j = 0;
	int r = t ? 0 : -ENOMEM;

	for (uint32_t i = 0; t && i < old->nnodes && r == 0; i++) {
		struct ptable_node *nd = ptable_add_node(t);
		if (!nd) {
			r = -ENOMEM;
			break;
		}
		*nd = old->nodes[i];
		nd->cpu = malloc((nd->cpus ? nd->cpus : 1) * PTABLE_CPU_FIELDS * sizeof(uint64_t));
		if (!nd->cpu)
			r = -ENOMEM;
		else if (old->nodes[i].cpu)
			memcpy(nd->cpu, old->nodes[i].cpu,
			       nd->cpus * PTABLE_CPU_FIELDS * sizeof(uint64_t));
	}
	for (size_t i = 0; i < n && r == 0; i++) {
		uint32_t g = ptable_gpid(s->node_id, pids[i]);
		while (j < old->nprocs && old->procs[j].gpid < g)
			j++;
		struct ptable_proc *p = ptable_add_proc(t);
		if (!p) {
			r = -ENOMEM;
			break;
		}
		if (j < old->nprocs && old->procs[j].gpid == g) {
			r = copy_proc(p, &old->procs[j]);
		} else if ((r = ptable_read_pid(s->procdir, s->node_id, pids[i], p)) < 0) {
			ptable_proc_clear(p);
			t->nprocs--;
			r = r == -ENOMEM ? r : 0; /* gone or unreadable: skip it, as read_local */
		}
	}
	if (r < 0) {
		ptable_free(t);
		return r;
	}
	ptable_sort(t);
	t->taken_ms = old->taken_ms;
	*out = t;
	return 0;
}

/* Local source, s->cur younger than the relist limit: bring its set of processes up to date
 * (one readdir of procdir; new processes read, vanished ones dropped) without re-reading
 * every process. Lock held on entry and exit, dropped meanwhile. 0 with s->cur current. */
static int relist_locked(struct gsrc *s)
{
	struct gsnap *old = s->cur, *g = NULL;
	struct ptable *t = NULL;
	uint32_t *pids;
	size_t n;
	int r, same = 0;

	old->refs++;
	s->refreshing = 1;
	pthread_mutex_unlock(&s->lock);
	r = list_pids(s->procdir, &pids, &n);
	if (r == 0) {
		same = n == old->t->nprocs;
		for (size_t i = 0; same && i < n; i++)
			same = old->t->procs[i].gpid == ptable_gpid(s->node_id, pids[i]);
		if (!same)
			r = merge_pids(s, old->t, pids, n, &t);
		free(pids);
	}
	if (r == 0 && !same && !(g = calloc(1, sizeof(*g)))) {
		ptable_free(t);
		r = -ENOMEM;
	}
	if (g) {
		g->t = t;
		g->src = s;
		prepare(s, g, old);
	}
	pthread_mutex_lock(&s->lock);
	s->refreshing = 0;
	pthread_cond_broadcast(&s->done);
	uint64_t now = now_ms(CLOCK_MONOTONIC);
	if (r == 0 && same) {
		old->list_ms = now;
	} else if (r == 0) {
		g->mono_ms = old->mono_ms; /* the content of the other processes is that old */
		g->list_ms = now;
		g->refs = 1; /* s->cur */
		note_gone(s, old->t, t);
		if (--s->cur->refs == 0)
			snap_free(s->cur);
		s->cur = g;
	}
	if (--old->refs == 0)
		snap_free(old);
	return r;
}

int gsrc_get_fresh(struct gsrc *s, unsigned max_age_ms, struct gsnap **out)
{
	int r = 0;

	*out = NULL;
	pthread_mutex_lock(&s->lock);
	s->last_use_ms = now_ms(CLOCK_MONOTONIC);
	uint64_t asked = s->last_use_ms;
	while (s->refreshing)
		pthread_cond_wait(&s->done, &s->lock);
	if (s->cur && s->cur->list_ms + max_age_ms < asked && s->kind == GSRC_LOCAL &&
	    s->cur->mono_ms + RELIST_TTLS * s->ttl_ms >= asked)
		relist_locked(s); /* on failure, a full refresh below */
	if (!s->cur || s->cur->list_ms + max_age_ms < asked) {
		r = refresh_locked(s, out);
		if (r == 0) {
			pthread_mutex_unlock(&s->lock);
			return 0;
		}
	}
	if (s->cur) {
		s->cur->refs++;
		*out = s->cur;
		r = 0;
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

int gsrc_refresh(struct gsrc *s, struct gsnap **out)
{
	return get(s, out, 1);
}

void gsnap_put(struct gsnap *g)
{
	struct gsrc *s;

	if (!g)
		return;
	s = g->src;
	pthread_mutex_lock(&s->lock);
	if (--g->refs == 0)
		snap_free(g);
	pthread_mutex_unlock(&s->lock);
}

static void *refresher(void *arg)
{
	struct gsrc *s = arg;

	pthread_mutex_lock(&s->lock);
	while (!s->stop) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += (long)(s->ttl_ms % 1000) * 1000000;
		until.tv_sec += s->ttl_ms / 1000 + until.tv_nsec / 1000000000;
		until.tv_nsec %= 1000000000;
		if (!s->kicked)
			pthread_cond_timedwait(&s->kick, &s->lock, &until);
		if (s->stop)
			break;
		uint64_t now = now_ms(CLOCK_MONOTONIC);
		if (!s->kicked && now - s->last_use_ms > IDLE_MS)
			continue;
		s->kicked = 0;
		if (s->refreshing || (s->cur && now - s->cur->mono_ms < s->ttl_ms))
			continue;
		struct gsnap *g;
		if (refresh_locked(s, &g) == 0)
			g->refs--; /* s->cur keeps it */
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

int gsrc_start(struct gsrc *s)
{
	int r;

	pthread_mutex_lock(&s->lock);
	r = s->running ? 0 : -pthread_create(&s->thread, NULL, refresher, s);
	if (r == 0)
		s->running = 1;
	pthread_mutex_unlock(&s->lock);
	return r;
}

void gsrc_free(struct gsrc *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stop = 1;
	pthread_cond_signal(&s->kick);
	int joined = s->running;
	pthread_mutex_unlock(&s->lock);
	if (joined)
		pthread_join(s->thread, NULL);
	if (s->cur && --s->cur->refs == 0)
		snap_free(s->cur);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->done);
	pthread_cond_destroy(&s->kick);
	free(s->gone);
	free(s);
}

int gsrc_take_gone(struct gsrc *s, uint32_t **gpids, size_t *n)
{
	pthread_mutex_lock(&s->lock);
	*gpids = s->gone;
	*n = s->ngone;
	s->gone = NULL;
	s->ngone = 0;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

int gsrc_read_local_pid(struct gsrc *s, uint32_t pid, struct ptable_proc *p)
{
	return ptable_read_pid(s->procdir, s->node_id, pid, p);
}
