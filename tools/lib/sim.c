/*
 * sim.c - one simulated run (sim.h): event heap, processor-sharing nodes, the job stream,
 * moves, gossip and the load samples. The policies' hooks are in sim_policy.c.
 *
 * Processor sharing on k cores: with n jobs each gets min(1, k/n) of a core. A node keeps a
 * virtual time v (CPU seconds each of its jobs has received since an origin); a job's tag is
 * the v at which it is done, so one event per node (its smallest tag) is pending at a time and
 * a change of the job set only re-times that one event (stale ones carry an old version).
 * The run ends when every measured job has finished; arrivals go on (unmeasured) until then
 * or until warm-up + 2 x duration, after which the remaining jobs drain without balancing.
 */
#include "tools/lib/sim_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- event heap, ordered by (time, sequence) so equal times keep their order ---- */

static int ev_less(const struct sim_ev *a, const struct sim_ev *b)
{
	return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

int sim_push(struct sim *s, double t, int type, int node, int aux, unsigned ver)
{
	struct sim_ev e = {
		.t = t, .seq = s->seq++, .type = type, .node = node, .aux = aux, .ver = ver};
	size_t i;

	if (s->nh == s->caph) {
		size_t cap = s->caph ? s->caph * 2 : 1024;
		struct sim_ev *v = realloc(s->heap, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->heap = v;
		s->caph = cap;
	}
	i = s->nh++;
	while (i > 0 && ev_less(&e, &s->heap[(i - 1) / 2])) {
		s->heap[i] = s->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	s->heap[i] = e;
	return 0;
}

static struct sim_ev pop(struct sim *s)
{
	struct sim_ev top = s->heap[0], last = s->heap[--s->nh];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= s->nh)
			break;
		if (c + 1 < s->nh && ev_less(&s->heap[c + 1], &s->heap[c]))
			c++;
		if (!ev_less(&s->heap[c], &last))
			break;
		s->heap[i] = s->heap[c];
		i = c;
	}
	if (s->nh)
		s->heap[i] = last;
	return top;
}

/* ---- processor sharing ---- */

static double rate(const struct sim *s, const struct sim_node *x)
{
	return x->n <= (size_t)s->k ? 1.0 : (double)s->k / (double)x->n;
}

void sim_advance(struct sim *s, struct sim_node *x)
{
	if (x->n)
		x->v += rate(s, x) * (s->now - x->t_last);
	x->t_last = s->now;
}

/* Re-time node i's next completion (after any change of its job set). */
static int schedule_done(struct sim *s, int i)
{
	struct sim_node *x = &s->node[i];
	double min = INFINITY;

	x->ver++;
	if (!x->n)
		return 0;
	for (size_t j = 0; j < x->n; j++)
		if (s->job[x->run[j]].tag < min)
			min = s->job[x->run[j]].tag;
	return sim_push(s, s->now + fmax(0, min - x->v) / rate(s, x), SIM_EV_DONE, i, 0, x->ver);
}

/* Start job j on node i with `remaining` CPU seconds left. */
static int start_on(struct sim *s, int j, int i, double remaining)
{
	struct sim_node *x = &s->node[i];
	struct sim_job *b = &s->job[j];

	sim_advance(s, x);
	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 16;
		int *v = realloc(x->run, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		x->run = v;
		x->cap = cap;
	}
	x->run[x->n++] = j;
	b->tag = x->v + remaining;
	b->node = i;
	b->since = s->now;
	return schedule_done(s, i);
}

double sim_cpu_age(const struct sim *s, int j)
{
	const struct sim_job *b = &s->job[j];

	return b->demand - (b->tag - s->node[b->node].v);
}

/* ---- moves ---- */

int sim_move(struct sim *s, int j, int dst, int running)
{
	struct sim_job *b = &s->job[j];
	int src = b->node;
	struct sim_node *x = &s->node[src], *y = &s->node[dst];
	double bw = s->c->bw_mbps * 1e6 * (0.7 + 0.6 * policy_rng_uniform(&s->mig)), cost;

	if (running) {
		size_t pos = 0;

		sim_advance(s, x);
		while (pos < x->n && x->run[pos] != j)
			pos++;
		if (pos == x->n)
			return -ENOENT;
		b->tag -= x->v; /* remaining, kept in tag while it travels */
		x->run[pos] = x->run[--x->n];
		b->xfer_s = b->mem_kb * 1024.0 / bw;
		cost = s->c->c0_s + b->xfer_s + 0.001 * b->nfds;
		int e = schedule_done(s, src);
		if (e)
			return e;
	} else {
		b->tag = b->demand;
		b->xfer_s = 0;
		cost = s->c->c0_s;
	}
	b->from = src;
	b->running = running;
	x->mem_used_kb -= b->mem_kb;
	y->mem_used_kb += b->mem_kb;
	y->pending++;
	y->pending_kb += b->mem_kb;
	x->view[dst].sent++;
	x->view[dst].sent_kb += b->mem_kb;
	x->view[dst].sent_at = s->now;
	return sim_push(s, s->now + cost, SIM_EV_MOVED, dst, j, 0);
}

static int moved(struct sim *s, int j, int dst)
{
	struct sim_job *b = &s->job[j];
	struct sim_node *y = &s->node[dst];

	y->pending--;
	y->pending_kb -= b->mem_kb;
	b->moves++;
	if (dst == b->prev)
		b->pp++;
	b->prev = b->from;
	if (b->running) {
		b->migrated = 1;
		policy_note_transfer(&s->node[b->from].ps, b->mem_kb * 1024.0, b->xfer_s);
	}
	return start_on(s, j, dst, b->tag);
}

/* ---- jobs ---- */

static int finish(struct sim *s, int i)
{
	struct sim_node *x = &s->node[i];
	size_t pos = 0;
	int j;

	sim_advance(s, x);
	for (size_t k = 1; k < x->n; k++)
		if (s->job[x->run[k]].tag < s->job[x->run[pos]].tag)
			pos = k;
	j = x->run[pos];
	x->run[pos] = x->run[--x->n];
	x->mem_used_kb -= s->job[j].mem_kb;
	if (s->job[j].measured) {
		const struct sim_job *b = &s->job[j];

		s->sd[s->nsd++] = (s->now - b->arrive) / b->demand;
		s->moves += b->moves;
		s->pp += b->pp;
		s->outstanding--;
	} else if (s->job[j].burst) {
		s->burst_sd += (s->now - s->job[j].arrive) / s->job[j].demand;
		s->burst_end = s->now;
		s->burst_moves += s->job[j].moves;
		s->outstanding--;
	}
	s->freejob[s->nfree++] = j;
	return schedule_done(s, i);
}

/* Bounded Pareto by inversion: F(x) = (1 - (L/x)^a) / (1 - (L/H)^a). */
static double bpareto(const struct sim_config *c, double u)
{
	double r = pow(c->x_min_s / c->x_max_s, c->alpha);

	return c->x_min_s / pow(1 - u * (1 - r), 1 / c->alpha);
}

double sim_mean_demand(const struct sim_config *c)
{
	double l = c->x_min_s, h = c->x_max_s, a = c->alpha, r = pow(l / h, a);

	if (fabs(a - 1) < 1e-9)
		return l * h / (h - l) * log(h / l);
	return pow(l, a) / (1 - r) * a / (a - 1) * (pow(l, 1 - a) - pow(h, 1 - a));
}

static int new_job(struct sim *s)
{
	if (!s->nfree) {
		size_t cap = s->capjob ? s->capjob * 2 : 1024;
		struct sim_job *v = realloc(s->job, cap * sizeof(*v));
		int *f;

		if (!v)
			return -ENOMEM;
		s->job = v;
		f = realloc(s->freejob, cap * sizeof(*f));
		if (!f)
			return -ENOMEM;
		s->freejob = f;
		for (size_t i = cap; i > s->capjob; i--)
			s->freejob[s->nfree++] = (int)(i - 1);
		s->capjob = cap;
	}
	return s->freejob[--s->nfree];
}

/* A new job on node home at now: measured if it arrives in the window; burst jobs are
 * counted apart (sim_result.burst_*) and always waited for. */
static int spawn(struct sim *s, double demand, double um, double uf, int home, int burst)
{
	const struct sim_config *c = s->c;
	int j = new_job(s), e;
	struct sim_job *b;

	if (j < 0)
		return j;
	b = &s->job[j];
	memset(b, 0, sizeof(*b));
	b->demand = demand;
	/* memory grows with demand: ~5-11 MB for 10 ms, ~100-290 MB for 10^4 s */
	b->mem_kb = 1024.0 * (2 + 6 * pow(b->demand / c->x_min_s, 0.25) * (0.5 + um));
	b->nfds = 3 + (uint32_t)(uf * 16);
	b->arrive = s->now;
	b->prev = -1;
	b->node = home;
	b->burst = burst;
	if (burst)
		s->outstanding++;
	else if (s->now >= c->warmup_s && s->now < s->t_measured) {
		b->measured = 1;
		s->outstanding++;
		if (s->nmeas++ == s->capsd) {
			size_t cap = s->capsd ? s->capsd * 2 : 4096;
			double *sd = realloc(s->sd, cap * sizeof(*sd));

			if (!sd)
				return -ENOMEM;
			s->sd = sd;
			s->capsd = cap;
		}
	}
	s->node[home].mem_used_kb += b->mem_kb;
	e = sim_at_start(s, j, home);
	if (e < 0)
		return e;
	return e ? 0 : start_on(s, j, home, b->demand);
}

static int arrival(struct sim *s)
{
	const struct sim_config *c = s->c;
	/* five draws per job, always in this order: the stream is the same for every policy */
	double gap = -log(1 - policy_rng_uniform(&s->arr)) / s->lambda;
	double ud = policy_rng_uniform(&s->arr), um = policy_rng_uniform(&s->arr);
	double uh = policy_rng_uniform(&s->arr), uf = policy_rng_uniform(&s->arr);
	int home = (int)(uh * c->nodes), e;

	if (home >= c->nodes)
		home = c->nodes - 1;
	if (s->pol == SIM_IDEAL)
		home = 0;
	if (s->now >= s->t_stop)
		s->live = 0;
	else if ((e = sim_push(s, s->now + gap, SIM_EV_ARRIVAL, 0, 0, 0)))
		return e;
	return spawn(s, bpareto(c, ud), um, uf, home, 0);
}

/* The burst: c->burst jobs of c->burst_cpu_s each start at once on node 1 (index 0). */
static int burst(struct sim *s)
{
	int e = 0;

	s->burst_start = s->now;
	for (int i = 0; i < s->c->burst && !e; i++)
		e = spawn(s, s->c->burst_cpu_s, 0.5, 0.3, 0, 1);
	return e;
}

/* ---- load samples and gossip ---- */

static void sample(struct sim *s)
{
	for (int i = 0; i < s->nn; i++) {
		struct sim_node *x = &s->node[i];
		struct load_raw r = {.runq = (double)x->n};
		struct sim_entry *me = &x->view[i];

		load_update(&x->ls, &r, SIM_SAMPLE_S);
		me->origin = s->now;
		me->load = x->ls.exported / s->k;
		me->mem_free_kb = s->mem_kb - x->mem_used_kb;
		me->pending = x->pending;
	}
}

/* Send from's window (its freshest SIM_WINDOW known entries) to to; fresher facts win. */
static void push_window(struct sim *s, int from, int to)
{
	const struct sim_entry *v = s->node[from].view;
	struct sim_entry *w = s->node[to].view;
	int *pick = s->scratch_idx, n = 0;

	for (int i = 0; i < s->nn; i++) {
		if (v[i].origin < 0)
			continue;
		if (n < SIM_WINDOW) {
			pick[n++] = i;
			continue;
		}
		int old = 0; /* replace the stalest picked one if i is fresher */
		for (int k = 1; k < n; k++)
			if (v[pick[k]].origin < v[pick[old]].origin)
				old = k;
		if (v[i].origin > v[pick[old]].origin)
			pick[old] = i;
	}
	for (int k = 0; k < n; k++) {
		int i = pick[k];

		if (i == to || v[i].origin <= w[i].origin)
			continue;
		w[i].origin = v[i].origin;
		w[i].load = v[i].load;
		w[i].mem_free_kb = v[i].mem_free_kb;
		w[i].pending = v[i].pending;
		if (w[i].origin >= w[i].sent_at) { /* these facts include what we sent */
			w[i].sent = 0;
			w[i].sent_kb = 0;
		}
	}
}

static int gossip(struct sim *s, int i)
{
	struct sim_node *x = &s->node[i];
	double jitter = 0.8 + 0.4 * policy_rng_uniform(&s->gos);

	if (s->nn > 1) {
		int peer = (int)(policy_rng_uniform(&s->gos) * (s->nn - 1));

		if (peer >= i)
			peer++;
		push_window(s, i, peer);
		if (++x->round % 2 == 0) { /* pull from the peer we know least about */
			int old = -1;

			for (int j = 0; j < s->nn; j++)
				if (j != i && (old < 0 || x->view[j].origin < x->view[old].origin))
					old = j;
			push_window(s, old, i);
		}
	}
	return s->live ? sim_push(s, s->now + s->c->gossip_s * jitter, SIM_EV_GOSSIP, i, 0, 0) : 0;
}

/* ---- the run ---- */

static int check(const struct sim_config *c, enum sim_policy p)
{
	return c->nodes >= 1 && c->nodes <= 511 && c->cores >= 1 && c->cores <= 1024 &&
	       c->rho > 0 && c->rho < 1.5 && c->warmup_s >= 0 && c->duration_s > 0 &&
	       c->alpha > 0 && c->x_min_s > 0 && c->x_max_s > c->x_min_s && c->bw_mbps > 0 &&
	       c->c0_s >= 0 && c->interval_s > 0 && c->gossip_s > 0 && c->mem_node_mb > 0 &&
	       c->threshold >= 1 && c->probes >= 1 && c->burst >= 0 && c->burst <= 100000 &&
	       (c->burst == 0 || c->burst_cpu_s > 0) && (int)p >= 0 && p < SIM_NPOLICIES;
}

static uint64_t mix(uint64_t seed, uint64_t k)
{
	return seed * 0x9e3779b97f4a7c15ULL ^ (k + 0x632be59bd9b4e019ULL) * 0xff51afd7ed558ccdULL;
}

static int setup(struct sim *s, const struct sim_config *c, enum sim_policy p)
{
	int e = 0;

	s->c = c;
	s->pol = p;
	s->nn = p == SIM_IDEAL ? 1 : c->nodes;
	s->k = p == SIM_IDEAL ? c->nodes * c->cores : c->cores;
	s->mem_kb = c->mem_node_mb * 1024.0;
	s->lambda = c->rho * c->nodes * c->cores / sim_mean_demand(c);
	s->t_measured = c->warmup_s + c->duration_s;
	s->t_stop = c->warmup_s + 2 * c->duration_s;
	s->live = 1;
	policy_rng_seed(&s->arr, mix(c->seed, 1));
	policy_rng_seed(&s->gos, mix(c->seed, 2));
	policy_rng_seed(&s->mig, mix(c->seed, 3));
	policy_params_default(&s->pp_params, (int64_t)(c->interval_s * 1000), SIM_RESERVE_KB);
	s->pp_params.c0_s = c->c0_s;
	s->pp_params.margin = c->margin;
	s->node = calloc((size_t)s->nn, sizeof(*s->node));
	s->scratch_idx = calloc((size_t)s->nn + SIM_WINDOW, sizeof(int));
	s->pn = calloc((size_t)s->nn, sizeof(*s->pn));
	s->pl = calloc((size_t)s->nn, sizeof(*s->pl));
	if (!s->node || !s->scratch_idx || !s->pn || !s->pl)
		return -ENOMEM;
	for (int i = 0; i < s->nn && !e; i++) {
		struct sim_node *x = &s->node[i];

		x->view = calloc((size_t)s->nn, sizeof(*x->view));
		if (!x->view)
			return -ENOMEM;
		for (int j = 0; j < s->nn; j++)
			x->view[j].origin = -1;
		policy_init(&x->ps, c->bw_mbps * 1e6);
		policy_rng_seed(&x->rng, mix(c->seed, 100 + (uint64_t)i));
		if (sim_uses_gossip(p)) {
			double phase = policy_rng_uniform(&s->gos);

			e = sim_push(s, phase * c->gossip_s, SIM_EV_GOSSIP, i, 0, 0);
			if (!e && sim_uses_tick(p))
				e = sim_push(s, phase * c->interval_s, SIM_EV_TICK, i, 0, 0);
		}
	}
	if (!e && sim_uses_gossip(p))
		e = sim_push(s, SIM_SAMPLE_S, SIM_EV_SAMPLE, 0, 0, 0);
	if (!e && c->burst > 0)
		e = sim_push(s, c->warmup_s, SIM_EV_BURST, 0, 0, 0);
	if (!e)
		e = sim_push(s, -log(1 - policy_rng_uniform(&s->arr)) / s->lambda, SIM_EV_ARRIVAL,
			     0, 0, 0);
	return e;
}

static void teardown(struct sim *s)
{
	for (int i = 0; s->node && i < s->nn; i++) {
		free(s->node[i].run);
		free(s->node[i].view);
	}
	free(s->node);
	free(s->job);
	free(s->freejob);
	free(s->heap);
	free(s->sd);
	free(s->scratch_idx);
	free(s->pn);
	free(s->pr);
	free(s->pl);
}

static int step(struct sim *s, const struct sim_ev *ev)
{
	switch (ev->type) {
	case SIM_EV_ARRIVAL:
		return arrival(s);
	case SIM_EV_BURST:
		return burst(s);
	case SIM_EV_DONE:
		return ev->ver == s->node[ev->node].ver ? finish(s, ev->node) : 0;
	case SIM_EV_MOVED:
		return moved(s, ev->aux, ev->node);
	case SIM_EV_SAMPLE:
		sample(s);
		return s->live ? sim_push(s, s->now + SIM_SAMPLE_S, SIM_EV_SAMPLE, 0, 0, 0) : 0;
	case SIM_EV_GOSSIP:
		return gossip(s, ev->node);
	case SIM_EV_TICK:
		if (!s->live)
			return 0;
		int e = sim_tick(s, ev->node);
		return e ? e : sim_push(s, s->now + s->c->interval_s, SIM_EV_TICK, ev->node, 0, 0);
	}
	return -EINVAL;
}

/* The q-quantile of v[0..n) (reorders v). */
static double quantile(double *v, size_t n, double q)
{
	size_t k = (size_t)ceil(q * (double)n), lo = 0, hi = n - 1;

	k = k ? k - 1 : 0;
	while (lo < hi) {
		double piv = v[(lo + hi) / 2];
		size_t i = lo, j = hi;

		while (i <= j) {
			while (v[i] < piv)
				i++;
			while (v[j] > piv)
				j--;
			if (i <= j) {
				double t = v[i];
				v[i] = v[j];
				v[j] = t;
				i++;
				if (j == 0)
					break;
				j--;
			}
		}
		if (k <= j)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			break;
	}
	return v[k];
}

int sim_run(const struct sim_config *c, enum sim_policy p, struct sim_result *r)
{
	struct sim s;
	int e;

	if (!c || !r || !check(c, p))
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	memset(&s, 0, sizeof(s));
	e = setup(&s, c, p);
	while (!e && s.nh) {
		struct sim_ev ev = pop(&s);

		s.now = ev.t;
		s.events++;
		e = step(&s, &ev);
		if (s.now >= s.t_measured && !s.outstanding)
			break;
	}
	if (!e && s.outstanding)
		e = -EIO; /* cannot happen: every job finishes once arrivals stop */
	if (!e) {
		double sum = 0;

		for (size_t i = 0; i < s.nsd; i++)
			sum += s.sd[i];
		r->jobs = s.nsd;
		r->mean_slowdown = s.nsd ? sum / (double)s.nsd : 0;
		r->p95_slowdown = s.nsd ? quantile(s.sd, s.nsd, 0.95) : 0;
		r->mig_per_proc = s.nsd ? s.moves / (double)s.nsd : 0;
		r->pingpong = s.pp;
		if (c->burst > 0) {
			r->burst_slowdown = s.burst_sd / c->burst;
			r->burst_makespan_s = s.burst_end - s.burst_start;
			r->burst_moves = s.burst_moves;
		}
		r->events = s.events;
	}
	teardown(&s);
	return e;
}
