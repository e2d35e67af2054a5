/*
 * ptable.c - the process table: records, the one-pass reader of this node's /proc, and the
 * bounded big-endian codec the daemon sends over links and the control socket.
 *
 * Owns: struct ptable memory, /proc parsing, encode/decode. Renderers are in ptable_render.c.
 * Cost: ptable_read_local opens 4 files per process (stat, status, cmdline, cgroup) through one
 * directory descriptor; a process that exits mid-pass is skipped. The decoder trusts nothing:
 * counts are checked against the bytes left before anything is allocated.
 */
#include "ssid/ptable.h"
#include "ssid/ssierr.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PTABLE_MAGIC 0x53505442u /* "SPTB" */

static const char *const vm_names[PTABLE_VM_N] = {
	"VmPeak",   "VmSize", "VmLck", "VmPin", "VmHWM", "VmRSS", "RssAnon", "RssFile",
	"RssShmem", "VmData", "VmStk", "VmExe", "VmLib", "VmPTE", "VmSwap",
};
static const char *const mem_names[PTABLE_MEM_N] = {
	"MemTotal", "MemFree",	    "MemAvailable", "Buffers",	   "Cached",	   "SwapCached",
	"Active",   "Inactive",	    "SwapTotal",    "SwapFree",	   "Dirty",	   "Shmem",
	"Slab",	    "SReclaimable", "SUnreclaim",   "CommitLimit", "Committed_AS",
};
static const char *const sig_names[PTABLE_SIG_N] = {"SigPnd", "ShdPnd", "SigBlk", "SigIgn",
						    "SigCgt"};

const char *ptable_vm_name(int v)
{
	return v >= 0 && v < PTABLE_VM_N ? vm_names[v] : NULL;
}

const char *ptable_mem_name(int m)
{
	return m >= 0 && m < PTABLE_MEM_N ? mem_names[m] : NULL;
}

const char *ptable_node_state_name(int s)
{
	switch (s) {
	case PTABLE_NODE_UP:
		return "up";
	case PTABLE_NODE_SUSPECT:
		return "suspect";
	case PTABLE_NODE_DOWN:
		return "down";
	}
	return "unknown";
}

/* ---- table memory ---- */

struct ptable *ptable_new(void)
{
	return calloc(1, sizeof(struct ptable));
}

void ptable_proc_clear(struct ptable_proc *p)
{
	free(p->cmdline);
	free(p->cgroup);
	memset(p, 0, sizeof(*p));
}

void ptable_free(struct ptable *t)
{
	if (!t)
		return;
	for (uint32_t i = 0; i < t->nprocs; i++)
		ptable_proc_clear(&t->procs[i]);
	for (uint32_t i = 0; i < t->nnodes; i++)
		free(t->nodes[i].cpu);
	free(t->procs);
	free(t->nodes);
	free(t);
}

struct ptable_node *ptable_add_node(struct ptable *t)
{
	if (t->nnodes >= PTABLE_MAX_NODES) {
		errno = E2BIG;
		return NULL;
	}
	struct ptable_node *n = realloc(t->nodes, (t->nnodes + 1) * sizeof(*n));
	if (!n)
		return NULL;
	t->nodes = n;
	memset(&n[t->nnodes], 0, sizeof(*n));
	return &n[t->nnodes++];
}

struct ptable_proc *ptable_add_proc(struct ptable *t)
{
	if (t->nprocs >= PTABLE_MAX_PROCS) {
		errno = E2BIG;
		return NULL;
	}
	if (t->nprocs == t->cap_procs) {
		uint32_t cap = t->cap_procs ? t->cap_procs * 2 : 256;
		struct ptable_proc *p = realloc(t->procs, (size_t)cap * sizeof(*p));
		if (!p)
			return NULL;
		t->procs = p;
		t->cap_procs = cap;
	}
	memset(&t->procs[t->nprocs], 0, sizeof(struct ptable_proc));
	return &t->procs[t->nprocs++];
}

static int cmp_gpid(const void *a, const void *b)
{
	uint32_t x = ((const struct ptable_proc *)a)->gpid,
		 y = ((const struct ptable_proc *)b)->gpid;
	return x < y ? -1 : x > y;
}

void ptable_sort(struct ptable *t)
{
	if (t->nprocs > 1)
		qsort(t->procs, t->nprocs, sizeof(*t->procs), cmp_gpid);
}

const struct ptable_proc *ptable_find(const struct ptable *t, uint32_t gpid)
{
	size_t lo = 0, hi = t->nprocs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->procs[mid].gpid == gpid)
			return &t->procs[mid];
		if (t->procs[mid].gpid < gpid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const struct ptable_node *ptable_node_by_id(const struct ptable *t, unsigned id)
{
	for (uint32_t i = 0; i < t->nnodes; i++)
		if (t->nodes[i].id == id)
			return &t->nodes[i];
	return NULL;
}

const struct ptable_node *ptable_node_by_name(const struct ptable *t, const char *name)
{
	for (uint32_t i = 0; i < t->nnodes; i++)
		if (strcmp(t->nodes[i].name, name) == 0)
			return &t->nodes[i];
	return NULL;
}

uint64_t ptable_btime_cluster(const struct ptable *t)
{
	uint64_t b = 0;

	for (uint32_t i = 0; i < t->nnodes; i++)
		if (t->nodes[i].state != PTABLE_NODE_DOWN && t->nodes[i].btime &&
		    (b == 0 || t->nodes[i].btime < b))
			b = t->nodes[i].btime;
	return b;
}

/* ---- reading /proc ---- */

/* Read up to cap-1 bytes of dirfd/path into b, NUL-terminated. Returns bytes read or -errno. */
static ssize_t read_at(int dirfd, const char *path, char *b, size_t cap)
{
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;

	if (fd < 0)
		return -errno;
	while (got < cap - 1) {
		ssize_t n = read(fd, b + got, cap - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = -errno;
			close(fd);
			return e;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	b[got] = '\0';
	return (ssize_t)got;
}

static uint32_t to_gpid(unsigned node, long long v)
{
	return v > 0 ? ptable_gpid(node, (uint32_t)v) : 0;
}

/* Fields after "pid (comm) ": index 0 = state(3). */
enum {
	STAT_NUMS = 50
};

static int parse_stat(char *s, unsigned node, struct ptable_proc *p)
{
	char *open = strchr(s, '('), *close = strrchr(s, ')');
	/* strtoull: rsslim is ULONG_MAX; negative fields (tpgid -1, nice) wrap and cast back. */
	unsigned long long u[STAT_NUMS] = {0};
	int n = 0;

	if (!open || !close || close < open || close[1] != ' ' || !close[2])
		return SSI_E_CORRUPT;
	size_t clen = (size_t)(close - open - 1);
	if (clen >= sizeof(p->comm))
		clen = sizeof(p->comm) - 1;
	memcpy(p->comm, open + 1, clen);
	p->comm[clen] = '\0';
	p->state = close[2];
	char *q = close + 3;
	/* v[k] holds stat field k+4 (ppid is field 4). */
	while (n < STAT_NUMS && *q) {
		char *end;
		u[n] = strtoull(q, &end, 10);
		if (end == q)
			break;
		n++;
		q = end;
	}
	if (n < 38) /* up to policy (field 41) */
		return SSI_E_CORRUPT;
#define F(k) ((long long)u[(k)-4])
	p->ppid = to_gpid(node, F(4));
	p->pgrp = to_gpid(node, F(5));
	p->session = to_gpid(node, F(6));
	p->tty_nr = (int32_t)F(7);
	p->tpgid = F(8) > 0 ? (int32_t)to_gpid(node, F(8)) : -1;
	p->flags = (uint32_t)F(9);
	p->minflt = (uint64_t)F(10);
	p->cminflt = (uint64_t)F(11);
	p->majflt = (uint64_t)F(12);
	p->cmajflt = (uint64_t)F(13);
	p->utime = (uint64_t)F(14);
	p->stime = (uint64_t)F(15);
	p->cutime = F(16);
	p->cstime = F(17);
	p->priority = (int32_t)F(18);
	p->nice = (int32_t)F(19);
	p->num_threads = (uint32_t)F(20);
	p->starttime = (uint64_t)F(22);
	p->vsize = (uint64_t)F(23);
	p->rss = (uint64_t)F(24);
	p->rsslim = (uint64_t)u[25 - 4];
	p->exit_signal = (int32_t)F(38);
	p->processor = (int32_t)F(39);
	p->rt_priority = (uint32_t)F(40);
	p->policy = (uint32_t)F(41);
#undef F
	return 0;
}

static void parse_ids(const char *v, uint32_t out[4])
{
	for (int i = 0; i < 4; i++) {
		char *end;
		out[i] = (uint32_t)strtoul(v, &end, 10);
		if (end == v)
			return;
		v = end;
	}
}

static void parse_status_line(const char *key, const char *v, struct ptable_proc *p)
{
	if (strcmp(key, "Uid") == 0) {
		parse_ids(v, p->uid);
	} else if (strcmp(key, "Gid") == 0) {
		parse_ids(v, p->gid);
	} else if (strcmp(key, "Groups") == 0) {
		char *end;
		while (p->ngroups < PTABLE_GROUPS_MAX) {
			unsigned long g = strtoul(v, &end, 10);
			if (end == v)
				break;
			p->groups[p->ngroups++] = (uint32_t)g;
			v = end;
		}
	} else if (strcmp(key, "SigQ") == 0) {
		if (sscanf(v, "%" SCNu32 "/%" SCNu32, &p->sigq, &p->sigq_max) != 2)
			p->sigq = p->sigq_max = 0;
	} else if (key[0] == 'V' || key[0] == 'R') {
		for (int i = 0; i < PTABLE_VM_N; i++)
			if (strcmp(key, vm_names[i]) == 0)
				p->vm[i] = strtoull(v, NULL, 10);
	} else if (key[0] == 'S') {
		for (int i = 0; i < PTABLE_SIG_N; i++)
			if (strcmp(key, sig_names[i]) == 0)
				p->sig[i] = strtoull(v, NULL, 16);
	}
}

static void parse_status(char *s, struct ptable_proc *p)
{
	char *line = s;

	while (line && *line) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		char *colon = strchr(line, ':');
		if (colon) {
			*colon = '\0';
			parse_status_line(line, colon + 1, p);
		}
		line = nl ? nl + 1 : NULL;
	}
}

/* Read pid (a name under dirfd) into *p. 0, -ENOENT if gone, or another negative code. */
static int read_proc(int dirfd, unsigned node, uint32_t pid, struct ptable_proc *p)
{
	char path[64], b[PTABLE_CMDLINE_MAX + 1];
	ssize_t n;
	int r;

	memset(p, 0, sizeof(*p));
	snprintf(path, sizeof(path), "%" PRIu32 "/stat", pid);
	n = read_at(dirfd, path, b, sizeof(b));
	if (n < 0)
		return n == -ESRCH ? -ENOENT : (int)n;
	r = parse_stat(b, node, p);
	if (r < 0)
		return r;
	p->pid = pid;
	p->gpid = ptable_gpid(node, pid);
	p->home = p->node = (uint16_t)node;
	snprintf(path, sizeof(path), "%" PRIu32 "/status", pid);
	n = read_at(dirfd, path, b, sizeof(b));
	if (n < 0)
		return n == -ESRCH ? -ENOENT : (int)n;
	parse_status(b, p);
	snprintf(path, sizeof(path), "%" PRIu32 "/cmdline", pid);
	n = read_at(dirfd, path, b, sizeof(b));
	if (n > 0) {
		p->cmdline = malloc((size_t)n);
		if (!p->cmdline)
			return -ENOMEM;
		memcpy(p->cmdline, b, (size_t)n);
		p->cmdline_len = (uint32_t)n;
	}
	snprintf(path, sizeof(path), "%" PRIu32 "/cgroup", pid);
	n = read_at(dirfd, path, b, PTABLE_CGROUP_MAX);
	if (n > 0 && !(p->cgroup = strdup(b)))
		return -ENOMEM;
	return 0;
}

int ptable_read_pid(const char *procdir, unsigned node_id, uint32_t pid, struct ptable_proc *p)
{
	int dirfd, r;

	memset(p, 0, sizeof(*p));
	if (pid == 0 || pid > PTABLE_PID_MASK || node_id == 0 || node_id > PTABLE_NODE_MAX)
		return -EINVAL;
	dirfd = open(procdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -errno;
	r = read_proc(dirfd, node_id, pid, p);
	close(dirfd);
	if (r < 0)
		ptable_proc_clear(p);
	return r;
}

int ptable_read_local(struct ptable *t, const char *procdir, unsigned node_id)
{
	DIR *d = opendir(procdir);
	struct dirent *de;
	int r = 0;

	if (!d)
		return -errno;
	if (node_id == 0 || node_id > PTABLE_NODE_MAX) {
		closedir(d);
		return -EINVAL;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		char *end;
		unsigned long pid = strtoul(de->d_name, &end, 10);
		if (*end || pid > PTABLE_PID_MASK)
			continue;
		struct ptable_proc *p = ptable_add_proc(t);
		if (!p) {
			r = -errno;
			break;
		}
		r = read_proc(dirfd(d), node_id, (uint32_t)pid, p);
		if (r < 0) {
			ptable_proc_clear(p);
			t->nprocs--;
			if (r == -ENOMEM)
				break;
			r = 0; /* gone or unreadable: skip it */
		}
	}
	closedir(d);
	ptable_sort(t);
	return r;
}

/* ---- reading the node's global files ---- */

static void node_stat(struct ptable_node *n, char *s)
{
	uint32_t ncpu = 0;
	char *line = s;

	/* First pass: count cpuN lines so the array is allocated once. */
	for (char *q = s; (q = strstr(q, "\ncpu")) != NULL; q += 4)
		if (isdigit((unsigned char)q[4]))
			ncpu++;
	if (ncpu > PTABLE_MAX_CPUS)
		ncpu = PTABLE_MAX_CPUS;
	n->cpu = calloc(ncpu ? ncpu : 1, PTABLE_CPU_FIELDS * sizeof(uint64_t));
	if (!n->cpu)
		ncpu = 0;
	while (line && *line) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (strncmp(line, "cpu", 3) == 0 && isdigit((unsigned char)line[3]) &&
		    n->cpus < ncpu) {
			char *q = line + 3;
			strtoul(q, &q, 10);
			for (int f = 0; f < PTABLE_CPU_FIELDS; f++)
				n->cpu[n->cpus * PTABLE_CPU_FIELDS + f] = strtoull(q, &q, 10);
			n->cpus++;
		} else if (strncmp(line, "intr ", 5) == 0) {
			n->intr = strtoull(line + 5, NULL, 10);
		} else if (strncmp(line, "ctxt ", 5) == 0) {
			n->ctxt = strtoull(line + 5, NULL, 10);
		} else if (strncmp(line, "btime ", 6) == 0) {
			n->btime = strtoull(line + 6, NULL, 10);
		} else if (strncmp(line, "processes ", 10) == 0) {
			n->processes = strtoull(line + 10, NULL, 10);
		} else if (strncmp(line, "procs_running ", 14) == 0) {
			n->procs_running = (uint32_t)strtoul(line + 14, NULL, 10);
		} else if (strncmp(line, "procs_blocked ", 14) == 0) {
			n->procs_blocked = (uint32_t)strtoul(line + 14, NULL, 10);
		}
		line = nl ? nl + 1 : NULL;
	}
}

static void node_meminfo(struct ptable_node *n, char *s)
{
	char *line = s;

	while (line && *line) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		char *colon = strchr(line, ':');
		if (colon) {
			*colon = '\0';
			for (int i = 0; i < PTABLE_MEM_N; i++)
				if (strcmp(line, mem_names[i]) == 0)
					n->mem[i] = strtoull(colon + 1, NULL, 10);
		}
		line = nl ? nl + 1 : NULL;
	}
}

/* "0.52" -> 52 */
static uint32_t centi(const char **q)
{
	char *end;
	double d = strtod(*q, &end);

	*q = end;
	return d > 0 ? (uint32_t)(d * 100 + 0.5) : 0;
}

int ptable_read_node(struct ptable_node *n, const char *procdir, unsigned id, const char *name)
{
	const size_t cap = 256 * 1024; /* /proc/stat of a 1,024-CPU machine fits */
	char small[512];
	int dirfd;
	ssize_t len;
	char *heap = malloc(cap);

	memset(n, 0, sizeof(*n));
	if (!heap)
		return -ENOMEM;
	dirfd = open(procdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		int e = -errno;
		free(heap);
		return e;
	}
	n->id = (uint16_t)id;
	snprintf(n->name, sizeof(n->name), "%s", name);
	n->state = PTABLE_NODE_UP;
	len = read_at(dirfd, "stat", heap, cap);
	if (len < 0) {
		close(dirfd);
		free(heap);
		return (int)len;
	}
	node_stat(n, heap);
	if (read_at(dirfd, "meminfo", heap, cap) > 0)
		node_meminfo(n, heap);
	if (read_at(dirfd, "cpuinfo", heap, 64 * 1024) > 0) {
		char *m = strstr(heap, "model name");
		if (m && (m = strchr(m, ':')) != NULL) {
			m += strspn(m, ": \t");
			size_t l = strcspn(m, "\n");
			if (l >= sizeof(n->model))
				l = sizeof(n->model) - 1;
			memcpy(n->model, m, l);
		}
	}
	free(heap);
	if (read_at(dirfd, "loadavg", small, sizeof(small)) > 0) {
		const char *q = small;
		for (int i = 0; i < 3; i++)
			n->loadavg_c[i] = centi(&q);
		if (sscanf(q, " %" SCNu32 "/%" SCNu32 " %" SCNu32, &n->nr_running, &n->nr_threads,
			   &n->last_pid) != 3)
			n->nr_running = n->nr_threads = n->last_pid = 0;
	}
	if (read_at(dirfd, "uptime", small, sizeof(small)) > 0) {
		double up = strtod(small, NULL);
		n->uptime_cs = up > 0 ? (uint64_t)(up * 100 + 0.5) : 0;
	}
	close(dirfd);
	n->load = n->cpus ? (uint32_t)((uint64_t)n->loadavg_c[0] * 10 / n->cpus) : 0;
	return 0;
}

int ptable_read_self(struct ptable **out, const char *procdir, unsigned id, const char *name)
{
	struct ptable *t = ptable_new();
	struct ptable_node *n;
	struct timespec ts;
	int r;

	*out = NULL;
	if (!t)
		return -ENOMEM;
	n = ptable_add_node(t);
	r = n ? ptable_read_node(n, procdir, id, name) : -ENOMEM;
	if (r == 0)
		r = ptable_read_local(t, procdir, id);
	if (r < 0) {
		ptable_free(t);
		return r;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	t->taken_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	*out = t;
	return 0;
}

int ptable_merge(struct ptable *dst, struct ptable *src)
{
	for (uint32_t i = 0; i < src->nnodes; i++)
		if (ptable_node_by_id(dst, src->nodes[i].id) ||
		    ptable_node_by_name(dst, src->nodes[i].name))
			return SSI_E_BADFIELD;
	for (uint32_t i = 0; i < src->nprocs; i++)
		if (ptable_find(dst, src->procs[i].gpid))
			return SSI_E_BADFIELD;
	if (dst->nnodes + src->nnodes > PTABLE_MAX_NODES ||
	    (uint64_t)dst->nprocs + src->nprocs > PTABLE_MAX_PROCS)
		return SSI_E_TOOBIG;
	struct ptable_node *nn = realloc(dst->nodes, (dst->nnodes + src->nnodes + 1) * sizeof(*nn));
	if (!nn)
		return -ENOMEM;
	dst->nodes = nn;
	uint32_t want = dst->nprocs + src->nprocs;
	if (want > dst->cap_procs) {
		struct ptable_proc *np = realloc(dst->procs, (size_t)want * sizeof(*np));
		if (!np)
			return -ENOMEM;
		dst->procs = np;
		dst->cap_procs = want;
	}
	memcpy(dst->nodes + dst->nnodes, src->nodes, src->nnodes * sizeof(*nn));
	dst->nnodes += src->nnodes;
	if (src->nprocs)
		memcpy(dst->procs + dst->nprocs, src->procs, src->nprocs * sizeof(*src->procs));
	dst->nprocs = want;
	/* src's records now belong to dst: forget them without freeing what they point to. */
	src->nnodes = src->nprocs = 0;
	ptable_sort(dst);
	/* The merged table is as old as its oldest part. */
	if (src->taken_ms && (!dst->taken_ms || src->taken_ms < dst->taken_ms))
		dst->taken_ms = src->taken_ms;
	return 0;
}
