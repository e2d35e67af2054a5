/*
 * policy.c - the preemptive balancing decision described in policy.h.
 *
 * One pass over the load table (at most 511 entries) to drop what cannot be a target and to
 * weigh the rest, two or three weighted draws, then every (process, drawn target) pair is
 * judged by the rules; the best pair wins. Cost: O(nodes + 3 * processes) per interval.
 * Assumes the caller's table and process list are consistent snapshots; nothing is kept
 * between calls but struct policy_state.
 */
#include "ssid/policy.h"
#include "ssid/place.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_CAND 512

/* ---- PRNG: xoshiro256** seeded through splitmix64 (public-domain algorithms) ---- */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

void policy_rng_seed(struct policy_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

uint64_t policy_rng_next(struct policy_rng *r)
{
	uint64_t *s = r->s, res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return res;
}

double policy_rng_uniform(struct policy_rng *r)
{
	return (double)(policy_rng_next(r) >> 11) * 0x1.0p-53;
}

/* ---- parameters, state, cost ---- */

void policy_params_default(struct policy_params *p, int64_t interval_ms, uint64_t mem_reserve_kb)
{
	p->interval_ms = interval_ms;
	p->margin = PLACE_MARGIN;
	p->stale_intervals = PLACE_AGE_INTERVALS;
	p->c0_s = 0.05; /* docs/BENCHMARKS.md: a 1 MiB move takes ~20 ms in the lab */
	p->c_fd_s = 0.001;
	p->mem_reserve_kb = mem_reserve_kb;
}

void policy_init(struct policy_state *st, double bw_guess_bps)
{
	st->bw_bps = bw_guess_bps > 0 ? bw_guess_bps : 10e6;
	st->last_move_ms = INT64_MIN;
}

void policy_note_transfer(struct policy_state *st, double bytes, double secs)
{
	if (!(bytes > 0) || !(secs > 0) || !isfinite(bytes / secs))
		return;
	st->bw_bps += (bytes / secs - st->bw_bps) * POLICY_BW_WEIGHT;
}

double policy_cost(const struct policy_params *p, const struct policy_state *st,
		   const struct policy_proc *pr)
{
	double bw = st->bw_bps > 0 ? st->bw_bps : 1.0;

	return p->c0_s + (double)pr->dirty_bytes / bw + p->c_fd_s * pr->nfds;
}

/* ---- the decision ---- */

/* A drawn or drawable target. */
struct cand {
	const struct policy_node *n;
	double w;     /* draw weight: free capacity */
	double s_dst; /* slowdown of one more process there, age-corrected, pending counted */
	double thr;   /* hysteresis for this target */
};

/* Why pairs or nodes were rejected, for the explanation. */
struct tally {
	int down, blocked, stale, unknown;
	int hyst, age, resid, mem;
};

static double speed_of(double s)
{
	return s > 0 ? s : 1.0;
}

/* Mean exported load of the nodes with known facts (the age correction's target). */
static double table_mean(const struct policy_input *in)
{
	double sum = 0;
	int n = 0;

	for (size_t i = 0; i < in->nnodes; i++) {
		const struct policy_node *x = &in->nodes[i];

		if (x->up && x->age_ms >= 0 && x->cpus) {
			sum += x->load > 0 ? x->load : 0;
			n++;
		}
	}
	return n ? sum / n : 0;
}

/* Fill c[] with the nodes that may be targets; returns the count, *nfresh the fresh ones. */
static size_t gather(const struct policy_params *p, const struct policy_input *in, struct cand *c,
		     int *nfresh, struct tally *t)
{
	int64_t max_age = p->interval_ms * (p->stale_intervals > 0 ? p->stale_intervals : 1);
	double tau = POLICY_AGE_TAU_INTERVALS * (double)p->interval_ms, mean = table_mean(in);
	size_t n = 0;

	*nfresh = 0;
	for (size_t i = 0; i < in->nnodes && n < MAX_CAND; i++) {
		const struct policy_node *x = &in->nodes[i];
		struct place_node pn = {.id = x->id, .up = 1, .cpus = x->cpus};
		double l, sp = speed_of(x->speed);

		if (x->id == in->self)
			continue;
		if (!x->up) {
			t->down++;
			continue;
		}
		if (x->blocked) {
			t->blocked++;
			continue;
		}
		if (x->age_ms < 0 || !x->cpus) {
			t->unknown++;
			continue;
		}
		if (x->age_ms > max_age) {
			t->stale++;
			continue;
		}
		l = x->load > 0 ? x->load : 0;
		l += (mean - l) * (1 - exp(-(double)x->age_ms / tau));
		pn.load = l + (double)x->pending / x->cpus;
		pn.speed = sp;
		c[n].n = x;
		c[n].s_dst = place_slowdown(&pn);
		c[n].thr = p->margin + 1.0 / (x->cpus * sp);
		c[n].w = sp * fmax(0.1, x->cpus * (1 - l) - x->pending);
		if (x->age_ms <= p->interval_ms)
			(*nfresh)++;
		n++;
	}
	return n;
}

/* Move k of c[0..n) chosen at random, weighted by w, without replacement, to c[0..k). */
static void draw(struct cand *c, size_t n, size_t k, struct policy_rng *rng)
{
	for (size_t j = 0; j < k && j < n; j++) {
		double total = 0, u;
		size_t pick = n - 1;

		for (size_t i = j; i < n; i++)
			total += c[i].w;
		u = policy_rng_uniform(rng) * total;
		for (size_t i = j; i < n; i++) {
			if (u < c[i].w) {
				pick = i;
				break;
			}
			u -= c[i].w;
		}
		struct cand tmp = c[j];
		c[j] = c[pick];
		c[pick] = tmp;
	}
}

/* Judge moving pr to c; returns the expected gain (> -INFINITY if every rule passes). */
static double judge(const struct policy_params *p, const struct policy_state *st,
		    const struct policy_proc *pr, const struct cand *c, double s_src,
		    struct tally *t, double *cost)
{
	double g = s_src - c->s_dst, need;

	*cost = policy_cost(p, st, pr);
	if (g < c->thr - 1e-9) { /* 1e-9: 2.3 - 1.0 must pass a 1.3 threshold */
		t->hyst++;
		return -INFINITY;
	}
	if (pr->migrated && pr->residency_s < POLICY_RESIDENCY * *cost) {
		t->resid++;
		return -INFINITY;
	}
	if (pr->cpu_age_s < *cost / g) {
		t->age++;
		return -INFINITY;
	}
	need = (double)c->n->pending_kb + (double)pr->mem_kb + (double)p->mem_reserve_kb;
	if ((double)c->n->mem_free_kb < need) {
		t->mem++;
		return -INFINITY;
	}
	return pr->cpu_age_s * g - *cost;
}

static void explain_none(struct policy_decision *d, double s_src, size_t ncand, size_t drawn,
			 const struct tally *t)
{
	snprintf(d->why, sizeof(d->why),
		 "no move: S_src %.2f, %zu candidates (dropped: %d down, %d blocked, %d stale, "
		 "%d unknown), %zu drawn; pairs rejected: %d hysteresis, %d age gate, "
		 "%d residency, %d memory",
		 s_src, ncand, t->down, t->blocked, t->stale, t->unknown, drawn, t->hyst, t->age,
		 t->resid, t->mem);
}

int policy_decide(struct policy_state *st, const struct policy_params *p,
		  const struct policy_input *in, struct policy_rng *rng, struct policy_decision *d)
{
	struct cand c[MAX_CAND];
	struct tally t = {0};
	const struct policy_proc *best = NULL;
	const struct cand *best_c = NULL;
	double s_src, best_gain = -INFINITY, best_cost = 0;
	size_t n, k;
	int nfresh;

	if (!st || !p || !in || !rng || !d || !in->cpus || p->interval_ms <= 0 ||
	    (in->nnodes && !in->nodes) || (in->nprocs && !in->procs))
		return -EINVAL;
	memset(d, 0, sizeof(*d));
	d->from = in->self;
	s_src = fmax(1.0, (in->local_runq > 0 ? in->local_runq : 0) / in->cpus) /
		speed_of(in->speed);
	d->s_src = s_src;
	if (st->last_move_ms != INT64_MIN && in->now_ms - st->last_move_ms < p->interval_ms) {
		snprintf(d->why, sizeof(d->why),
			 "no move: one move per interval (last %lld ms ago)",
			 (long long)(in->now_ms - st->last_move_ms));
		return 0;
	}
	if (!in->nprocs) {
		snprintf(d->why, sizeof(d->why), "no move: no process here");
		return 0;
	}
	n = gather(p, in, c, &nfresh, &t);
	k = nfresh >= POLICY_CHOICES_FRESH ? POLICY_CHOICES_FRESH : POLICY_CHOICES;
	if (k > n)
		k = n;
	draw(c, n, k, rng);
	for (size_t j = 0; j < k; j++) {
		for (size_t i = 0; i < in->nprocs; i++) {
			const struct policy_proc *pr = &in->procs[i];
			double cost, gain;

			if (pr->immovable || pr->io_heavy)
				continue;
			gain = judge(p, st, pr, &c[j], s_src, &t, &cost);
			if (gain == -INFINITY)
				continue;
			/* ties: the lower process id, then the target drawn first (not the lower
			 * node id: that would send every node's ties to the same few nodes) */
			if (!best || gain > best_gain || (gain == best_gain && pr->id < best->id)) {
				best = pr;
				best_c = &c[j];
				best_gain = gain;
				best_cost = cost;
			}
		}
	}
	if (!best) {
		explain_none(d, s_src, n, k, &t);
		return 0;
	}
	d->move = 1;
	d->proc = best->id;
	d->to = best_c->n->id;
	d->s_dst = best_c->s_dst;
	d->cost_s = best_cost;
	d->gain = best_gain;
	st->last_move_ms = in->now_ms;
	snprintf(d->why, sizeof(d->why),
		 "move %llu to node %d: S %.2f -> %.2f (hysteresis %.2f), cpu age %.2f s >= "
		 "C_mig %.3f s / gain %.2f, expected gain %.2f s",
		 (unsigned long long)best->id, d->to, s_src, d->s_dst, best_c->thr, best->cpu_age_s,
		 best_cost, s_src - d->s_dst, best_gain);
	return 0;
}
