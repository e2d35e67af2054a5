/*
 * place.c - placement at start: the pure choice described in place.h.
 *
 * One linear pass over at most 511 nodes; the explanation lists the chosen node with its S
 * and the home's, then the nodes that were no candidate and why (cut when the line is full).
 */
#include "ssid/place.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void place_params_default(struct place_params *p, int gossip_ms, uint64_t min_free_kb)
{
	p->margin = PLACE_MARGIN;
	p->max_age_ms = gossip_ms > 0 ? (int64_t)gossip_ms * PLACE_AGE_INTERVALS : 0;
	p->min_free_kb = min_free_kb;
}

double place_slowdown(const struct place_node *n)
{
	double c = n->cpus ? (double)n->cpus : 1.0;
	double s = n->speed > 0 ? n->speed : 1.0;
	double l = n->load > 0 ? n->load : 0.0;
	double share = (l * c + 1.0) / c;

	return (share < 1.0 ? 1.0 : share) / s;
}

/* Why node x is no candidate, or NULL if it is one. */
static const char *skip_reason(const struct place_node *x, const struct place_params *p, char *b,
			       size_t cap)
{
	if (!x->up)
		return "not up";
	if (x->blocked)
		return "blocked";
	if (x->age_ms < 0)
		return "no load facts";
	if (p->max_age_ms > 0 && x->age_ms > p->max_age_ms) {
		snprintf(b, cap, "facts %.1f s old", (double)x->age_ms / 1000.0);
		return b;
	}
	if (!x->cpus)
		return "cpus unknown";
	if (x->mem_free_kb < p->min_free_kb) {
		snprintf(b, cap, "%llu MiB available", (unsigned long long)(x->mem_free_kb >> 10));
		return b;
	}
	return NULL;
}

/* 1 if a is a better candidate than b (lower S, then fresher, then lower id). */
static int better(const struct place_node *a, double sa, const struct place_node *b, double sb)
{
	const double eps = 1e-9;

	if (sa < sb - eps)
		return 1;
	if (sa > sb + eps)
		return 0;
	if (a->age_ms != b->age_ms)
		return a->age_ms < b->age_ms;
	return a->id < b->id;
}

static void append(char *dst, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void append(char *dst, size_t cap, const char *fmt, ...)
{
	size_t n = strlen(dst);
	va_list ap;

	if (n + 1 >= cap)
		return;
	va_start(ap, fmt);
	vsnprintf(dst + n, cap - n, fmt, ap);
	va_end(ap);
}

static const char *name_of(const struct place_node *x, char *b, size_t cap)
{
	if (x->name[0])
		return x->name;
	snprintf(b, cap, "node %d", x->id);
	return b;
}

int place_choose(const struct place_node *v, size_t n, const struct place_params *p,
		 struct place_result *r)
{
	const struct place_node *home = NULL, *best = NULL;
	double s_best = 0;
	char skipped[PLACE_WHY_MAX] = "", nb[48], nb2[48];

	if (!v || !p || !r)
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	for (size_t i = 0; i < n; i++) {
		if (!v[i].self)
			continue;
		if (home)
			return -EINVAL;
		home = &v[i];
	}
	if (!home) {
		snprintf(r->why, sizeof(r->why), "this node is not in the node list");
		return -ENOENT;
	}
	for (size_t i = 0; i < n; i++) {
		const struct place_node *x = &v[i];
		char b[64];
		const char *why;
		double s;

		if (x == home)
			continue;
		why = skip_reason(x, p, b, sizeof(b));
		if (why) {
			append(skipped, sizeof(skipped), "%s%s %s", skipped[0] ? ", " : "",
			       name_of(x, nb, sizeof(nb)), why);
			continue;
		}
		s = place_slowdown(x);
		if (!best || better(x, s, best, s_best)) {
			best = x;
			s_best = s;
		}
	}
	r->home = home->id;
	r->s_home = place_slowdown(home);
	r->node = home->id;
	r->s_node = r->s_home;
	if (!best)
		snprintf(r->why, sizeof(r->why), "%s (home, S %.2f): no other candidate",
			 name_of(home, nb, sizeof(nb)), r->s_home);
	else if (s_best <= r->s_home - p->margin + 1e-9) {
		r->node = best->id;
		r->s_node = s_best;
		snprintf(
			r->why, sizeof(r->why),
			"%s: S %.2f (load %.2f on %u cpus) beats home %s (S %.2f) by at least %.2f",
			name_of(best, nb, sizeof(nb)), s_best, best->load, best->cpus,
			name_of(home, nb2, sizeof(nb2)), r->s_home, p->margin);
	} else
		snprintf(r->why, sizeof(r->why),
			 "%s (home, S %.2f): best other %s (S %.2f) is not better by %.2f",
			 name_of(home, nb, sizeof(nb)), r->s_home, name_of(best, nb2, sizeof(nb2)),
			 s_best, p->margin);
	if (skipped[0])
		append(r->why, sizeof(r->why), "; no candidate: %s", skipped);
	return 0;
}
