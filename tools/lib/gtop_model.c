/*
 * gtop_model.c - gtop's numbers from a cluster table (gtop_model.h).
 *
 * CPU% comes from differences between two tables: a node's busy share from its per-CPU
 * /proc/stat ticks, a process's share from its utime + stime over its node's uptime advance.
 * A node whose record did not change between the two (the daemon served a cached copy) has
 * no figure rather than a made-up 0. Pure: no I/O, no clock; nothing here logs or exits.
 */
#include "tools/lib/gtop_model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Ticks of the kernel's idle and iowait columns (cpuN fields 3 and 4) count as not busy;
 * guest time is already inside user/nice, so only the first 8 fields are summed. */
static int node_ticks(const struct ptable_node *n, uint64_t *busy, uint64_t *total)
{
	*busy = *total = 0;
	if (!n->cpu || !n->cpus)
		return -1;
	for (uint32_t c = 0; c < n->cpus; c++)
		for (int f = 0; f < 8; f++) {
			uint64_t v = n->cpu[(size_t)c * PTABLE_CPU_FIELDS + (size_t)f];
			*total += v;
			if (f != 3 && f != 4)
				*busy += v;
		}
	return 0;
}

/* Busy % between prev and cur of one node, or -1. */
static double tick_pct(const struct ptable_node *cur, const struct ptable_node *prev)
{
	uint64_t b1, t1, b0, t0;

	if (!prev || prev->cpus != cur->cpus || node_ticks(cur, &b1, &t1) < 0 ||
	    node_ticks(prev, &b0, &t0) < 0 || t1 <= t0 || b1 < b0 || b1 - b0 > t1 - t0)
		return -1;
	return (double)(b1 - b0) * 100.0 / (double)(t1 - t0);
}

static const struct client_node *fact_of(const struct client_node *cn, size_t ncn, unsigned id)
{
	for (size_t i = 0; i < ncn; i++)
		if (cn[i].id >= 0 && (unsigned)cn[i].id == id)
			return &cn[i];
	return NULL;
}

static int state_of(const char *s)
{
	if (strcmp(s, "up") == 0)
		return PTABLE_NODE_UP;
	if (strcmp(s, "suspect") == 0)
		return PTABLE_NODE_SUSPECT;
	return PTABLE_NODE_DOWN;
}

/* Fill the figures of one row from the table's record t (may be NULL), its previous record
 * pt (may be NULL) and the daemon's facts f (may be NULL). */
static void fill_node(struct gtop_node *g, const struct ptable_node *t,
		      const struct ptable_node *pt, const struct client_node *f)
{
	g->load = g->cpu_pct = g->proc_pct = -1;
	g->cpus = f && f->cpus ? f->cpus : t ? t->cpus : 0;
	if (g->state == PTABLE_NODE_DOWN)
		return;
	if (f && f->age_ms >= 0)
		g->load = f->load;
	else if (t && t->cpus)
		g->load = (double)t->loadavg_c[0] / 100.0 / (double)t->cpus;
	if (t)
		g->cpu_pct = tick_pct(t, pt);
	if (g->cpu_pct < 0 && f && f->age_ms >= 0)
		g->cpu_pct = f->cpu_use * 100.0;
	if (t && t->mem[PTABLE_MEM_TOTAL]) {
		uint64_t tot = t->mem[PTABLE_MEM_TOTAL], av = t->mem[PTABLE_MEM_AVAILABLE];
		if (!av)
			av = t->mem[PTABLE_MEM_FREE] + t->mem[PTABLE_MEM_BUFFERS] +
			     t->mem[PTABLE_MEM_CACHED];
		g->mem_total_kb = tot;
		g->mem_used_kb = av < tot ? tot - av : 0;
	} else if (f && f->mem_total_kb) {
		g->mem_total_kb = f->mem_total_kb;
		g->mem_used_kb =
			f->mem_free_kb < f->mem_total_kb ? f->mem_total_kb - f->mem_free_kb : 0;
	}
}

static int build_nodes(struct gtop_model *m, const struct ptable *cur, const struct ptable *prev,
		       const struct client_node *cn, size_t ncn)
{
	size_t cap = cur->nnodes + ncn;

	m->nodes = calloc(cap ? cap : 1, sizeof(*m->nodes));
	if (!m->nodes)
		return -ENOMEM;
	for (uint32_t i = 0; i < cur->nnodes; i++) {
		const struct ptable_node *t = &cur->nodes[i];
		struct gtop_node *g = &m->nodes[m->nnodes++];
		g->id = t->id;
		memcpy(g->name, t->name, sizeof(g->name));
		g->name[sizeof(g->name) - 1] = '\0';
		g->state = t->state <= PTABLE_NODE_DOWN ? t->state : PTABLE_NODE_DOWN;
		fill_node(g, t, prev ? ptable_node_by_id(prev, t->id) : NULL,
			  fact_of(cn, ncn, t->id));
	}
	for (size_t i = 0; i < ncn; i++) {
		if (cn[i].id < 1 || cn[i].id > PTABLE_NODE_MAX ||
		    ptable_node_by_id(cur, (unsigned)cn[i].id) ||
		    gtop_model_node(m, (unsigned)cn[i].id))
			continue;
		struct gtop_node *g = &m->nodes[m->nnodes++];
		g->id = (unsigned)cn[i].id;
		snprintf(g->name, sizeof(g->name), "%s", cn[i].name);
		g->state = state_of(cn[i].state);
		fill_node(g, NULL, NULL, &cn[i]);
	}
	gtop_model_sort(m, GTOP_SORT_NODE);
	return 0;
}

/* Clock ticks node id advanced between prev and cur (0: unknown or no advance). */
static double node_dt(const struct ptable *cur, const struct ptable *prev, unsigned id, long hz)
{
	const struct ptable_node *a = ptable_node_by_id(cur, id);
	const struct ptable_node *b = prev ? ptable_node_by_id(prev, id) : NULL;

	if (!a || !b || a->uptime_cs <= b->uptime_cs || a->btime != b->btime)
		return 0;
	return (double)(a->uptime_cs - b->uptime_cs) * (double)hz / 100.0;
}

/* Ticks p used since the previous table. A process the previous table lacks started in the
 * interval; one whose count went down (a restored copy) counts from zero. */
static uint64_t proc_delta(const struct ptable_proc *p, const struct ptable *prev)
{
	const struct ptable_proc *q = ptable_find(prev, p->gpid);
	uint64_t now = p->utime + p->stime, then;

	if (!q)
		return now;
	then = q->utime + q->stime;
	return now >= then ? now - then : now;
}

static int cmp_proc(const void *a, const void *b)
{
	const struct gtop_proc *x = a, *y = b;

	if (x->pct != y->pct)
		return x->pct > y->pct ? -1 : 1;
	if (x->ticks != y->ticks)
		return x->ticks > y->ticks ? -1 : 1;
	return x->p->gpid < y->p->gpid ? -1 : x->p->gpid > y->p->gpid;
}

static int build_procs(struct gtop_model *m, const struct ptable *cur, const struct ptable *prev,
		       long hz)
{
	double *dt = calloc(PTABLE_NODE_MAX + 1, sizeof(*dt));
	double *used = calloc(PTABLE_NODE_MAX + 1, sizeof(*used));

	m->procs = calloc(cur->nprocs ? cur->nprocs : 1, sizeof(*m->procs));
	if (!dt || !used || !m->procs) {
		free(dt);
		free(used);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->nnodes; i++)
		dt[m->nodes[i].id] = node_dt(cur, prev, m->nodes[i].id, hz);
	for (uint32_t i = 0; i < cur->nprocs; i++) {
		const struct ptable_proc *p = &cur->procs[i];
		struct gtop_proc *g = &m->procs[m->nprocs++];
		g->p = p;
		g->ticks = p->utime + p->stime;
		g->pct = -1;
		if (p->node <= PTABLE_NODE_MAX && dt[p->node] > 0) {
			double d = (double)proc_delta(p, prev);
			g->pct = d * 100.0 / dt[p->node];
			used[p->node] += d;
		}
	}
	qsort(m->procs, m->nprocs, sizeof(*m->procs), cmp_proc);
	for (size_t i = 0; i < m->nnodes; i++) {
		struct gtop_node *g = &m->nodes[i];
		if (g->state == PTABLE_NODE_DOWN || dt[g->id] <= 0 || !g->cpus)
			continue;
		g->proc_pct = used[g->id] * 100.0 / (dt[g->id] * g->cpus);
		if (g->proc_pct > 100.0)
			g->proc_pct = 100.0;
	}
	free(dt);
	free(used);
	return 0;
}

static void count(struct gtop_model *m, const struct ptable *cur)
{
	struct gtop_totals *t = &m->tot;
	double lw = 0, lc = 0, cw = 0, cc = 0;

	for (uint32_t i = 0; i < cur->nprocs; i++) {
		const struct ptable_proc *p = &cur->procs[i];
		struct gtop_node *on = (struct gtop_node *)gtop_model_node(m, p->node);
		struct gtop_node *home = (struct gtop_node *)gtop_model_node(m, p->home);
		if (on) {
			on->procs++;
			on->guests += p->home != p->node;
		}
		if (home && p->home != p->node)
			home->away++;
		t->away += p->home != p->node;
	}
	t->procs = cur->nprocs;
	t->nodes = (uint32_t)m->nnodes;
	for (size_t i = 0; i < m->nnodes; i++) {
		const struct gtop_node *g = &m->nodes[i];
		if (g->state == PTABLE_NODE_DOWN)
			continue;
		t->nodes_up++;
		t->cpus += g->cpus;
		t->mem_used_kb += g->mem_used_kb;
		t->mem_total_kb += g->mem_total_kb;
		if (g->load >= 0 && g->cpus) {
			lw += g->load * g->cpus;
			lc += g->cpus;
		}
		if (g->cpu_pct >= 0 && g->cpus) {
			cw += g->cpu_pct * g->cpus;
			cc += g->cpus;
		}
	}
	t->load = lc > 0 ? lw / lc : -1;
	t->cpu_pct = cc > 0 ? cw / cc : -1;
}

int gtop_model_build(struct gtop_model *m, const struct ptable *cur, const struct ptable *prev,
		     const struct client_node *cn, size_t ncn, long hz)
{
	int r;

	memset(m, 0, sizeof(*m));
	if (!cn)
		ncn = 0;
	r = build_nodes(m, cur, prev, cn, ncn);
	if (r == 0)
		r = build_procs(m, cur, prev, hz > 0 ? hz : 100);
	if (r < 0) {
		gtop_model_clear(m);
		return r;
	}
	count(m, cur);
	return 0;
}

void gtop_model_clear(struct gtop_model *m)
{
	free(m->nodes);
	free(m->procs);
	memset(m, 0, sizeof(*m));
}

const struct gtop_node *gtop_model_node(const struct gtop_model *m, unsigned id)
{
	for (size_t i = 0; i < m->nnodes; i++)
		if (m->nodes[i].id == id)
			return &m->nodes[i];
	return NULL;
}

/* Descending by a figure; unknown (negative) figures and down nodes last. */
static int desc(double a, double b)
{
	return a > b ? -1 : a < b ? 1 : 0;
}

static double mem_frac(const struct gtop_node *g)
{
	return g->mem_total_kb ? (double)g->mem_used_kb / (double)g->mem_total_kb : -1;
}

static int cmp_node(const struct gtop_node *x, const struct gtop_node *y, int key)
{
	int r = 0;

	switch (key) {
	case GTOP_SORT_LOAD:
		r = desc(x->load, y->load);
		break;
	case GTOP_SORT_CPU:
		r = desc(x->cpu_pct, y->cpu_pct);
		break;
	case GTOP_SORT_MEM:
		r = desc(mem_frac(x), mem_frac(y));
		break;
	case GTOP_SORT_GUESTS:
		r = desc(x->guests, y->guests);
		break;
	default:
		break;
	}
	return r ? r : x->id < y->id ? -1 : x->id > y->id;
}

/* Insertion sort: at most 512 rows, and qsort would need the key in a global. */
void gtop_model_sort(struct gtop_model *m, int key)
{
	for (size_t i = 1; i < m->nnodes; i++) {
		struct gtop_node v = m->nodes[i];
		size_t j = i;
		for (; j > 0 && cmp_node(&m->nodes[j - 1], &v, key) > 0; j--)
			m->nodes[j] = m->nodes[j - 1];
		m->nodes[j] = v;
	}
}

static const char *const sort_names[GTOP_SORT_N] = {"node", "load", "cpu", "mem", "guests"};

const char *gtop_sort_name(int key)
{
	return key >= 0 && key < GTOP_SORT_N ? sort_names[key] : "?";
}

int gtop_sort_parse(const char *s, int *key)
{
	for (int i = 0; i < GTOP_SORT_N; i++)
		if (strcmp(s, sort_names[i]) == 0) {
			*key = i;
			return 0;
		}
	return -EINVAL;
}
