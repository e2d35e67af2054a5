/*
 * gossip.c - the load table and the push-pull gossip rounds described in gossip.h.
 *
 * Freshness is the local origin time (receive time minus the age the sender stated); an entry
 * is replaced only by a strictly fresher one, so old news never overwrites new. A table of at
 * most 511 nodes is scanned linearly; the window sort is a partial selection of <= 16 items.
 */
#include "ssid/gossip.h"
#include "ssid/config.h"
#include "ssid/ssierr.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void gossip_init(struct gossip_table *t, int self, const char *name, const char *addr)
{
	memset(t, 0, sizeof(*t));
	t->self = self;
	if (self >= 1 && self <= GOSSIP_MAX_ID)
		gossip_know(t, self, name, addr);
}

void gossip_set_self(struct gossip_table *t, const struct gossip_load *l, int64_t now)
{
	struct gossip_entry *e = &t->e[t->self];

	e->l = *l;
	e->origin_ms = now;
}

void gossip_set_self_flags(struct gossip_table *t, unsigned flags)
{
	t->e[t->self].flags = flags;
}

int gossip_know(struct gossip_table *t, int id, const char *name, const char *addr)
{
	struct gossip_entry *e;

	if (id < 1 || id > GOSSIP_MAX_ID || !name || strlen(name) >= GOSSIP_NAME_MAX)
		return -EINVAL;
	e = &t->e[id];
	if (!e->id)
		e->origin_ms = INT64_MIN;
	e->id = id;
	snprintf(e->name, sizeof(e->name), "%s", name);
	if (addr && *addr)
		snprintf(e->addr, sizeof(e->addr), "%s", addr);
	return 0;
}

int gossip_merge(struct gossip_table *t, const struct gossip_entry *in, const uint32_t *age,
		 size_t n, int64_t now, int *new_ids, int cap)
{
	int fresh = 0;

	for (size_t i = 0; i < n; i++) {
		const struct gossip_entry *x = &in[i];
		struct gossip_entry *e;
		uint32_t a = age[i] > GOSSIP_MAX_AGE_MS ? GOSSIP_MAX_AGE_MS : age[i];
		int64_t origin = now - a;

		if (x->id < 1 || x->id > GOSSIP_MAX_ID || x->id == t->self)
			continue;
		e = &t->e[x->id];
		if (!e->id) {
			if (fresh < cap)
				new_ids[fresh] = x->id;
			fresh++;
		} else if (origin <= e->origin_ms || strcmp(e->name, x->name)) {
			continue; /* older news, or a different name for a known id: ignore */
		}
		char addr[GOSSIP_ADDR_MAX];
		memcpy(addr, e->addr, sizeof(addr));
		*e = *x;
		e->origin_ms = origin;
		if (!x->addr[0]) /* keep an address we knew */
			memcpy(e->addr, addr, sizeof(addr));
	}
	return fresh;
}

int64_t gossip_age(const struct gossip_table *t, int id, int64_t now)
{
	if (id < 1 || id > GOSSIP_MAX_ID || !t->e[id].id || t->e[id].origin_ms == INT64_MIN)
		return -1;
	return now - t->e[id].origin_ms;
}

size_t gossip_window(const struct gossip_table *t, int64_t now, struct gossip_entry *out,
		     uint32_t *age, size_t max)
{
	size_t n = 0;

	/* Insertion into a sorted array of at most max (<= 16) freshest entries. */
	for (int id = 1; id <= GOSSIP_MAX_ID; id++) {
		const struct gossip_entry *e = &t->e[id];
		size_t pos;

		if (!e->id || e->origin_ms == INT64_MIN || max == 0)
			continue;
		/* Self sorts first: it is always the freshest news we have about it. */
		int64_t key = id == t->self ? INT64_MAX : e->origin_ms;
		for (pos = n; pos > 0; pos--) {
			const struct gossip_entry *p = &out[pos - 1];
			int64_t pk = p->id == t->self ? INT64_MAX : p->origin_ms;
			if (pk >= key)
				break;
		}
		if (pos >= max)
			continue;
		size_t last = n < max ? n : max - 1;
		memmove(&out[pos + 1], &out[pos], (last - pos) * sizeof(*out));
		out[pos] = *e;
		if (n < max)
			n++;
	}
	for (size_t i = 0; i < n; i++) {
		int64_t a = now - out[i].origin_ms;
		age[i] = a < 0 ? 0 : a > GOSSIP_MAX_AGE_MS ? GOSSIP_MAX_AGE_MS : (uint32_t)a;
	}
	return n;
}

void gossip_plan_round(struct gossip_table *t, const int *up, size_t n, int64_t now,
		       int64_t interval_ms, const struct gossip_rng *rng, struct gossip_plan *p)
{
	uint32_t r = rng->next(rng->ctx);
	int64_t oldest = INT64_MAX;

	memset(p, 0, sizeof(*p));
	/* +-20% jitter, so rounds of different nodes do not synchronise. */
	p->next_delay_ms =
		interval_ms * 8 / 10 + (int64_t)(r % (uint32_t)(interval_ms * 4 / 10 + 1));
	t->round++;
	if (n == 0)
		return;
	p->push_to = up[rng->next(rng->ctx) % n];
	if (t->round % 2)
		return;
	for (size_t i = 0; i < n; i++) {
		int64_t origin;
		if (up[i] < 1 || up[i] > GOSSIP_MAX_ID)
			continue;
		origin = t->e[up[i]].id ? t->e[up[i]].origin_ms : INT64_MIN;
		if (origin < oldest) {
			oldest = origin;
			p->pull_from = up[i];
		}
	}
	(void)now;
}

static uint32_t scale(double v, double k)
{
	double x = v * k + 0.5;

	return x <= 0 ? 0 : x >= 4e9 ? 4000000000u : (uint32_t)x;
}

void gossip_to_wire(const struct gossip_entry *e, uint32_t age, struct wire_load_entry *w)
{
	memset(w, 0, sizeof(*w));
	w->node_id = (uint16_t)e->id;
	snprintf(w->name, sizeof(w->name), "%s", e->name);
	snprintf(w->addr, sizeof(w->addr), "%s", e->addr);
	w->age_ms = age;
	w->load = scale(e->l.load, WIRE_LOAD_SCALE);
	w->runq = scale(e->l.runq, 1);
	w->cpu_use = scale(e->l.cpu_use, WIRE_LOAD_SCALE);
	w->mem_total_kb = e->l.mem_total_kb;
	w->mem_free_kb = e->l.mem_free_kb;
	w->psi = scale(e->l.psi_cpu, WIRE_PSI_SCALE);
	w->cpus = e->l.cpus;
	w->speed = scale(e->l.speed, WIRE_SPEED_REF);
	w->state = WIRE_NODE_UP;
	w->flags = (uint8_t)(e->flags & WIRE_NODE_F_BLOCKED);
}

int gossip_from_wire(const struct wire_load_entry *w, struct gossip_entry *e, uint32_t *age)
{
	memset(e, 0, sizeof(*e));
	if (w->node_id < 1 || w->node_id > GOSSIP_MAX_ID || !config_name_ok(w->name))
		return SSI_E_BADFIELD;
	e->id = w->node_id;
	snprintf(e->name, sizeof(e->name), "%s", w->name);
	snprintf(e->addr, sizeof(e->addr), "%s", w->addr);
	*age = w->age_ms;
	e->l.load = (double)w->load / WIRE_LOAD_SCALE;
	e->l.runq = w->runq;
	e->l.cpu_use = (double)w->cpu_use / WIRE_LOAD_SCALE;
	e->l.mem_total_kb = w->mem_total_kb;
	e->l.mem_free_kb = w->mem_free_kb;
	e->l.psi_cpu = (double)w->psi / WIRE_PSI_SCALE;
	e->l.cpus = w->cpus;
	e->l.speed = (double)w->speed / WIRE_SPEED_REF;
	e->flags = w->flags & WIRE_NODE_F_BLOCKED; /* unknown flags of newer peers dropped */
	return 0;
}
