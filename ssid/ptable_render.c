/*
 * ptable_render.c - pure renderers of the /proc text formats from a struct ptable.
 *
 * Owns the formats procps parses (notes/procps-fuse-ssh.md): per-process stat, status, statm,
 * cmdline, cgroup with the gpid in place of pid/tgid and starttime rebased to the cluster time
 * base; global stat/meminfo/loadavg/uptime/cpuinfo summed over the nodes that are not down.
 * No I/O except reading clocks in ptable_rctx_init. Fields the record does not carry are
 * rendered as the kernel shows them to an unprivileged reader (addresses 0, wchan 0).
 */
#include "ssid/ptable.h"
#include "ssid/ssierr.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int ptable_printf(struct buf *out, const char *fmt, ...)
{
	va_list ap;
	char small[256];
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n < sizeof(small))
		return buf_put(out, small, (size_t)n);
	uint8_t *w = buf_reserve(out, (size_t)n + 1);
	if (!w)
		return -errno;
	va_start(ap, fmt);
	vsnprintf((char *)w, (size_t)n + 1, fmt, ap);
	va_end(ap);
	buf_commit(out, (size_t)n);
	return 0;
}

static double clock_s(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void ptable_rctx_init(struct ptable_rctx *r, const struct ptable *t, unsigned local_node)
{
	const struct ptable_node *me = ptable_node_by_id(t, local_node);

	memset(r, 0, sizeof(*r));
	r->t = t;
	r->local_node = local_node;
	r->hz = sysconf(_SC_CLK_TCK);
	if (r->hz <= 0)
		r->hz = 100;
	r->btime_cluster = ptable_btime_cluster(t);
	if (me && me->btime && me->btime >= r->btime_cluster)
		r->uptime = clock_s(CLOCK_BOOTTIME) + (double)(me->btime - r->btime_cluster);
	else
		r->uptime = clock_s(CLOCK_REALTIME) - (double)r->btime_cluster;
	if (r->uptime < 0)
		r->uptime = 0;
}

uint64_t ptable_starttime(const struct ptable_rctx *r, const struct ptable_proc *p)
{
	const struct ptable_node *n = ptable_node_by_id(r->t, p->node);

	if (!n || n->btime <= r->btime_cluster)
		return p->starttime;
	return p->starttime + (n->btime - r->btime_cluster) * (uint64_t)r->hz;
}

/* ---- per-process files ---- */

int ptable_render_stat(const struct ptable_rctx *r, const struct ptable_proc *p, struct buf *out)
{
	int remote = p->node != r->local_node;
	int hasmm = p->vsize != 0;
	const uint64_t m = 0x7fffffffu; /* the kernel masks the obsolete signal fields so */

	return ptable_printf(
		out,
		"%" PRIu32 " (%s) %c %" PRIu32 " %" PRIu32 " %" PRIu32 " %" PRId32 " %" PRId32
		" %" PRIu32 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
		" %" PRId64 " %" PRId64 " %" PRId32 " %" PRId32 " %" PRIu32 " 0 %" PRIu64
		" %" PRIu64 " %" PRIu64 " %" PRIu64 " %d %d 0 0 0 %" PRIu64 " %" PRIu64 " %" PRIu64
		" %" PRIu64 " 0 0 0 %" PRId32 " %" PRId32 " %" PRIu32 " %" PRIu32
		" 0 0 0 0 0 0 0 0 0 0 0\n",
		p->gpid, p->comm, p->state, p->ppid, p->pgrp, p->session, remote ? 0 : p->tty_nr,
		remote ? -1 : p->tpgid, p->flags, p->minflt, p->cminflt, p->majflt, p->cmajflt,
		p->utime, p->stime, p->cutime, p->cstime, p->priority, p->nice, p->num_threads,
		ptable_starttime(r, p), p->vsize, p->rss, p->rsslim, hasmm, hasmm,
		p->sig[PTABLE_SIG_PND] & m, p->sig[PTABLE_SIG_BLK] & m, p->sig[PTABLE_SIG_IGN] & m,
		p->sig[PTABLE_SIG_CGT] & m, p->exit_signal, p->processor, p->rt_priority,
		p->policy);
}

static const char *state_name(char s)
{
	switch (s) {
	case 'R':
		return "R (running)";
	case 'S':
		return "S (sleeping)";
	case 'D':
		return "D (disk sleep)";
	case 'T':
		return "T (stopped)";
	case 't':
		return "t (tracing stop)";
	case 'X':
		return "X (dead)";
	case 'Z':
		return "Z (zombie)";
	case 'P':
		return "P (parked)";
	case 'I':
		return "I (idle)";
	}
	return NULL;
}

/* Name as the kernel escapes it in status: backslash and newline. */
static int put_name(struct buf *out, const char *comm)
{
	int r = buf_put(out, "Name:\t", 6);

	for (const char *c = comm; *c && r == 0; c++) {
		if (*c == '\\')
			r = buf_put(out, "\\\\", 2);
		else if (*c == '\n')
			r = buf_put(out, "\\n", 2);
		else
			r = buf_put(out, c, 1);
	}
	return r ? r : buf_put(out, "\n", 1);
}

int ptable_render_status(const struct ptable_rctx *r, const struct ptable_proc *p, struct buf *out)
{
	const char *st = state_name(p->state);
	int e = put_name(out, p->comm);

	(void)r;
	if (e == 0 && st)
		e = ptable_printf(out, "State:\t%s\n", st);
	else if (e == 0)
		e = ptable_printf(out, "State:\t%c\n", p->state);
	if (e == 0)
		e = ptable_printf(out,
				  "Tgid:\t%" PRIu32 "\nNgid:\t0\nPid:\t%" PRIu32 "\nPPid:\t%" PRIu32
				  "\nTracerPid:\t0\nUid:\t%" PRIu32 "\t%" PRIu32 "\t%" PRIu32
				  "\t%" PRIu32 "\nGid:\t%" PRIu32 "\t%" PRIu32 "\t%" PRIu32
				  "\t%" PRIu32 "\nGroups:\t",
				  p->gpid, p->gpid, p->ppid, p->uid[0], p->uid[1], p->uid[2],
				  p->uid[3], p->gid[0], p->gid[1], p->gid[2], p->gid[3]);
	/* Space-separated, then the kernel's trailing space (also when there are none). */
	for (uint32_t i = 0; i < p->ngroups && e == 0; i++)
		e = ptable_printf(out, i ? " %" PRIu32 : "%" PRIu32, p->groups[i]);
	if (e == 0)
		e = buf_put(out, " \n", 2);
	/* The kernel prints the Vm block only for processes with an address space. */
	for (int i = 0; i < PTABLE_VM_N && e == 0 && p->vsize; i++)
		e = ptable_printf(out, "%s:\t%8" PRIu64 " kB\n", ptable_vm_name(i), p->vm[i]);
	if (e == 0)
		e = ptable_printf(out, "Threads:\t%" PRIu32 "\nSigQ:\t%" PRIu32 "/%" PRIu32 "\n",
				  p->num_threads, p->sigq, p->sigq_max);
	static const char *const sig[PTABLE_SIG_N] = {"SigPnd", "ShdPnd", "SigBlk", "SigIgn",
						      "SigCgt"};
	for (int i = 0; i < PTABLE_SIG_N && e == 0; i++)
		e = ptable_printf(out, "%s:\t%016" PRIx64 "\n", sig[i], p->sig[i]);
	return e;
}

int ptable_render_statm(const struct ptable_rctx *r, const struct ptable_proc *p, struct buf *out)
{
	long ps = sysconf(_SC_PAGESIZE);
	uint64_t kb = ps > 0 ? (uint64_t)ps / 1024 : 4;
	const uint64_t *v = p->vm;

	(void)r;
	if (kb == 0)
		kb = 4;
	return ptable_printf(out,
			     "%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " 0 %" PRIu64 " 0\n",
			     v[PTABLE_VM_SIZE] / kb,
			     (v[PTABLE_RSS_ANON] + v[PTABLE_RSS_FILE] + v[PTABLE_RSS_SHMEM]) / kb,
			     (v[PTABLE_RSS_FILE] + v[PTABLE_RSS_SHMEM]) / kb, v[PTABLE_VM_EXE] / kb,
			     (v[PTABLE_VM_DATA] + v[PTABLE_VM_STK]) / kb);
}

int ptable_render_cmdline(const struct ptable_rctx *r, const struct ptable_proc *p, struct buf *out)
{
	(void)r;
	return p->cmdline_len ? buf_put(out, p->cmdline, p->cmdline_len) : 0;
}

int ptable_render_cgroup(const struct ptable_rctx *r, const struct ptable_proc *p, struct buf *out)
{
	(void)r;
	return p->cgroup ? buf_put(out, p->cgroup, strlen(p->cgroup)) : 0;
}

/* ---- global files ---- */

static int node_counts(const struct ptable_node *n)
{
	return n->state != PTABLE_NODE_DOWN;
}

int ptable_render_gstat(const struct ptable_rctx *r, struct buf *out)
{
	const struct ptable *t = r->t;
	uint64_t sum[PTABLE_CPU_FIELDS] = {0}, intr = 0, ctxt = 0, procs = 0;
	uint32_t running = 0, blocked = 0, k = 0;
	int e;

	for (uint32_t i = 0; i < t->nnodes; i++) {
		const struct ptable_node *n = &t->nodes[i];
		if (!node_counts(n))
			continue;
		for (uint32_t c = 0; c < n->cpus; c++)
			for (int f = 0; f < PTABLE_CPU_FIELDS; f++)
				sum[f] += n->cpu[c * PTABLE_CPU_FIELDS + f];
		intr += n->intr;
		ctxt += n->ctxt;
		procs += n->processes;
		running += n->procs_running;
		blocked += n->procs_blocked;
	}
	e = ptable_printf(out, "cpu ");
	for (int f = 0; f < PTABLE_CPU_FIELDS && e == 0; f++)
		e = ptable_printf(out, " %" PRIu64, sum[f]);
	if (e == 0)
		e = buf_put(out, "\n", 1);
	for (uint32_t i = 0; i < t->nnodes && e == 0; i++) {
		const struct ptable_node *n = &t->nodes[i];
		if (!node_counts(n))
			continue;
		for (uint32_t c = 0; c < n->cpus && e == 0; c++, k++) {
			const uint64_t *v = &n->cpu[c * PTABLE_CPU_FIELDS];
			e = ptable_printf(out, "cpu%" PRIu32, k);
			for (int f = 0; f < PTABLE_CPU_FIELDS && e == 0; f++)
				e = ptable_printf(out, " %" PRIu64, v[f]);
			if (e == 0)
				e = buf_put(out, "\n", 1);
		}
	}
	if (e == 0)
		e = ptable_printf(out,
				  "intr %" PRIu64 "\nctxt %" PRIu64 "\nbtime %" PRIu64
				  "\nprocesses %" PRIu64 "\nprocs_running %" PRIu32
				  "\nprocs_blocked %" PRIu32 "\n",
				  intr, ctxt, r->btime_cluster, procs, running, blocked);
	return e;
}

int ptable_render_meminfo(const struct ptable_rctx *r, struct buf *out)
{
	uint64_t sum[PTABLE_MEM_N] = {0};
	int e = 0;

	for (uint32_t i = 0; i < r->t->nnodes; i++)
		if (node_counts(&r->t->nodes[i]))
			for (int m = 0; m < PTABLE_MEM_N; m++)
				sum[m] += r->t->nodes[i].mem[m];
	for (int m = 0; m < PTABLE_MEM_N && e == 0; m++) {
		char key[32];
		snprintf(key, sizeof(key), "%s:", ptable_mem_name(m));
		e = ptable_printf(out, "%-15s %8" PRIu64 " kB\n", key, sum[m]);
	}
	return e;
}

int ptable_render_loadavg(const struct ptable_rctx *r, struct buf *out)
{
	uint32_t l[3] = {0}, run = 0, thr = 0, last = 0;

	for (uint32_t i = 0; i < r->t->nnodes; i++) {
		const struct ptable_node *n = &r->t->nodes[i];
		if (!node_counts(n))
			continue;
		for (int k = 0; k < 3; k++)
			l[k] += n->loadavg_c[k];
		run += n->nr_running;
		thr += n->nr_threads;
		uint32_t g = ptable_gpid(n->id, n->last_pid);
		if (g > last)
			last = g;
	}
	return ptable_printf(out, "%u.%02u %u.%02u %u.%02u %u/%u %u\n", l[0] / 100, l[0] % 100,
			     l[1] / 100, l[1] % 100, l[2] / 100, l[2] % 100, run, thr, last);
}

int ptable_render_uptime(const struct ptable_rctx *r, struct buf *out)
{
	uint64_t idle = 0;

	for (uint32_t i = 0; i < r->t->nnodes; i++) {
		const struct ptable_node *n = &r->t->nodes[i];
		for (uint32_t c = 0; node_counts(n) && c < n->cpus; c++)
			idle += n->cpu[c * PTABLE_CPU_FIELDS + 3];
	}
	return ptable_printf(out, "%.2f %.2f\n", r->uptime, (double)idle / (double)r->hz);
}

int ptable_render_cpuinfo(const struct ptable_rctx *r, struct buf *out)
{
	uint32_t k = 0;
	int e = 0;

	for (uint32_t i = 0; i < r->t->nnodes && e == 0; i++) {
		const struct ptable_node *n = &r->t->nodes[i];
		for (uint32_t c = 0; node_counts(n) && c < n->cpus && e == 0; c++, k++)
			e = ptable_printf(out,
					  "processor\t: %" PRIu32
					  "\nmodel name\t: %s\nnode\t\t: %s\n"
					  "node cpu\t: %" PRIu32 "\n\n",
					  k, n->model[0] ? n->model : "unknown", n->name, c);
	}
	return e;
}

int ptable_render_pid_max(const struct ptable_rctx *r, struct buf *out)
{
	(void)r;
	/* The largest gpid: 511 << 22 | (2^22 - 1) = 2^31 - 1, ten digits (procps' limit). */
	return ptable_printf(out, "%u\n",
			     (unsigned)PTABLE_NODE_MAX << PTABLE_PID_BITS | PTABLE_PID_MASK);
}

int ptable_render_node_load(const struct ptable_node *n, struct buf *out)
{
	return ptable_printf(out, "%" PRIu32 "\n", n->load);
}

int ptable_render_node_cpus(const struct ptable_node *n, struct buf *out)
{
	return ptable_printf(out, "%" PRIu32 "\n", n->cpus);
}

int ptable_render_node_memory(const struct ptable_node *n, struct buf *out)
{
	return ptable_printf(
		out,
		"MemTotal: %" PRIu64 " kB\nMemFree: %" PRIu64 " kB\nMemAvailable: %" PRIu64 " kB\n",
		n->mem[PTABLE_MEM_TOTAL], n->mem[PTABLE_MEM_FREE], n->mem[PTABLE_MEM_AVAILABLE]);
}

int ptable_render_node_state(const struct ptable_node *n, struct buf *out)
{
	return ptable_printf(out, "%s\n", ptable_node_state_name(n->state));
}
