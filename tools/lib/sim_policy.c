/*
 * sim_policy.c - what each simulated policy decides (sim.h), on what it knows.
 *
 * random, threshold: at arrival, on the home node's true run queue; threshold probes Lp nodes
 * and sees their true queues (a probe is a round trip, taken as instantaneous). mosix: each
 * interval, its own local load against the gossiped (stale) exported loads. ours: each
 * interval, ssid/policy.c on the gossiped table and the node's process table. ours+place:
 * ssid/place.c at arrival on the gossiped table (grun --best), then ours. Gossiped facts are
 * corrected only by the moves a node sent itself (sim_entry.sent), as a daemon could.
 */
#include "tools/lib/sim_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[SIM_NPOLICIES] = {
	"none", "random", "threshold", "mosix", "ours", "ours+place", "ideal",
};

void sim_config_default(struct sim_config *c)
{
	memset(c, 0, sizeof(*c));
	c->nodes = 16;
	c->cores = 1;
	c->rho = 0.7;
	c->warmup_s = 200;
	c->duration_s = 800;
	c->seed = 1;
	c->alpha = 1.0;
	c->x_min_s = 0.01;
	c->x_max_s = 1e4;
	c->mem_node_mb = 4096;
	c->bw_mbps = 100;
	c->c0_s = 0.05;
	c->interval_s = 1.0;
	c->gossip_s = 1.0;
	c->threshold = 2;
	c->probes = 3;
	c->margin = PLACE_MARGIN;
	c->burst_cpu_s = 30;
}

const char *sim_policy_name(enum sim_policy p)
{
	return (int)p >= 0 && p < SIM_NPOLICIES ? names[p] : "?";
}

int sim_policy_parse(const char *s)
{
	for (int i = 0; i < SIM_NPOLICIES; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

int sim_uses_gossip(enum sim_policy p)
{
	return p == SIM_MOSIX || p == SIM_OURS || p == SIM_OURS_PLACE;
}

int sim_uses_tick(enum sim_policy p)
{
	return sim_uses_gossip(p);
}

/* A random node other than i. */
static int other(struct sim *s, int i)
{
	int j = (int)(policy_rng_uniform(&s->node[i].rng) * (s->nn - 1));

	return j >= i ? j + 1 : j;
}

static int queue(const struct sim *s, int i)
{
	return (int)s->node[i].n + s->node[i].pending;
}

/* place.h's choice on home's gossiped view: 1 if it chose another node. */
static int place(struct sim *s, int j, int home, int *dst)
{
	const struct sim_node *x = &s->node[home];
	struct place_params pp;
	struct place_result r;
	int e;

	for (int i = 0; i < s->nn; i++) {
		const struct sim_entry *v = &x->view[i];
		struct place_node *n = &s->pl[i];

		memset(n, 0, sizeof(*n));
		n->id = i + 1;
		n->up = 1;
		n->cpus = (uint32_t)s->k;
		n->speed = 1;
		if (i == home) {
			n->self = 1;
			n->age_ms = 0;
			n->load = x->ls.exported / s->k;
			n->mem_free_kb = (uint64_t)fmax(0, s->mem_kb - x->mem_used_kb);
			continue;
		}
		n->age_ms = v->origin < 0 ? -1 : (int64_t)((s->now - v->origin) * 1000);
		n->load = v->load + (double)(v->pending + v->sent) / s->k;
		n->mem_free_kb = (uint64_t)fmax(0, v->mem_free_kb - v->sent_kb);
	}
	place_params_default(&pp, (int)(s->c->gossip_s * 1000),
			     SIM_RESERVE_KB + (uint64_t)s->job[j].mem_kb);
	e = place_choose(s->pl, (size_t)s->nn, &pp, &r);
	if (e)
		return e;
	*dst = r.node - 1;
	return r.node != home + 1;
}

int sim_at_start(struct sim *s, int j, int home)
{
	int limit = s->c->threshold * s->k, dst = -1, e;

	if (s->nn < 2)
		return 0;
	switch (s->pol) {
	case SIM_RANDOM:
		if (queue(s, home) + 1 > limit)
			dst = other(s, home);
		break;
	case SIM_THRESHOLD:
		if (queue(s, home) + 1 <= limit)
			break;
		for (int p = 0; p < s->c->probes && dst < 0; p++) {
			int q = other(s, home);

			if (queue(s, q) + 1 <= limit)
				dst = q;
		}
		break;
	case SIM_OURS_PLACE:
		e = place(s, j, home, &dst);
		if (e <= 0)
			return e;
		break;
	default:
		break;
	}
	if (dst < 0)
		return 0;
	e = sim_move(s, j, dst, 0);
	return e ? e : 1;
}

/* MOSIX-like: own local load against the lowest gossiped exported load, whatever its age;
 * move the process with the second-highest CPU use if local > remote + 1.3 processes. */
static int mosix(struct sim *s, int i)
{
	struct sim_node *x = &s->node[i];
	int best = -1, pick = -1, second = -1;

	if (!x->n)
		return 0;
	for (int j = 0; j < s->nn; j++)
		if (j != i && x->view[j].origin >= 0 &&
		    (best < 0 || x->view[j].load < x->view[best].load))
			best = j;
	if (best < 0 || x->ls.local / s->k <= x->view[best].load + 1.3 / s->k)
		return 0;
	sim_advance(s, x);
	for (size_t k = 0; k < x->n; k++) {
		int j = x->run[k];

		if (pick < 0 || sim_cpu_age(s, j) > sim_cpu_age(s, pick)) {
			second = pick;
			pick = j;
		} else if (second < 0 || sim_cpu_age(s, j) > sim_cpu_age(s, second))
			second = j;
	}
	return sim_move(s, second >= 0 ? second : pick, best, 1);
}

/* ours: the daemon's policy on this node's view and process table. */
static int ours(struct sim *s, int i)
{
	struct sim_node *x = &s->node[i];
	struct policy_input in = {.now_ms = (int64_t)(s->now * 1000),
				  .self = i + 1,
				  .local_runq = x->ls.local,
				  .cpus = (uint32_t)s->k,
				  .speed = 1,
				  .nodes = s->pn,
				  .nnodes = (size_t)s->nn,
				  .procs = s->pr,
				  .nprocs = x->n};
	struct policy_decision d;
	int e;

	if (!x->n)
		return 0;
	if (x->n > s->cappr) {
		size_t cap = x->n * 2;
		struct policy_proc *v = realloc(s->pr, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->pr = v;
		s->cappr = cap;
	}
	in.procs = s->pr;
	for (int j = 0; j < s->nn; j++) {
		const struct sim_entry *v = &x->view[j];
		struct policy_node *n = &s->pn[j];

		n->id = j + 1;
		n->up = 1;
		n->blocked = 0;
		n->age_ms = v->origin < 0 ? -1 : (int64_t)((s->now - v->origin) * 1000);
		n->load = v->load;
		n->cpus = (uint32_t)s->k;
		n->speed = 1;
		n->mem_free_kb = (uint64_t)fmax(0, v->mem_free_kb);
		n->pending = (uint32_t)(v->pending + v->sent);
		n->pending_kb = (uint64_t)v->sent_kb;
	}
	sim_advance(s, x);
	for (size_t k = 0; k < x->n; k++) {
		const struct sim_job *b = &s->job[x->run[k]];
		struct policy_proc *p = &s->pr[k];

		memset(p, 0, sizeof(*p));
		p->id = (uint64_t)x->run[k];
		p->cpu_age_s = sim_cpu_age(s, x->run[k]);
		p->residency_s = s->now - b->since;
		p->migrated = b->migrated;
		p->dirty_bytes = (uint64_t)(b->mem_kb * 1024);
		p->mem_kb = (uint64_t)b->mem_kb;
		p->nfds = b->nfds;
	}
	e = policy_decide(&x->ps, &s->pp_params, &in, &x->rng, &d);
	if (e || !d.move)
		return e;
	return sim_move(s, (int)d.proc, d.to - 1, 1);
}

int sim_tick(struct sim *s, int i)
{
	if (s->pol == SIM_MOSIX)
		return mosix(s, i);
	if (s->pol == SIM_OURS || s->pol == SIM_OURS_PLACE)
		return ours(s, i);
	return 0;
}
