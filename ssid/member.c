/*
 * member.c - the membership state machine drawn in member.h.
 *
 * Time-outs are measured from the last frame heard, so a peer that stops talking passes
 * UP -> SUSPECT -> DOWN on the ticks after suspect_ms and down_ms; any frame brings it back
 * up at once. The table is a fixed array indexed by node id (511 entries, ~16 KiB).
 */
#include "ssid/member.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

void member_init(struct member_table *t, int self, int64_t suspect_ms, int64_t down_ms)
{
	memset(t, 0, sizeof(*t));
	t->self = self;
	t->suspect_ms = suspect_ms;
	t->down_ms = down_ms;
	if (self >= 1 && self <= MEMBER_MAX_ID) {
		t->m[self].present = 1;
		t->m[self].state = MEMBER_UP;
	}
}

int member_check(const struct member_table *t)
{
	if (t->suspect_ms <= 0 || t->down_ms <= t->suspect_ms)
		return -EINVAL;
	for (int i = 1; i <= MEMBER_MAX_ID; i++) {
		const struct member *m = &t->m[i];
		if (!m->present && m->state != MEMBER_UNKNOWN)
			return -EINVAL;
		if (m->state < MEMBER_UNKNOWN || m->state > MEMBER_DOWN)
			return -EINVAL;
		if (i == t->self && m->state != MEMBER_UP)
			return -EINVAL;
	}
	return 0;
}

int member_add(struct member_table *t, int id, int64_t now)
{
	assert(member_check(t) == 0);
	if (id < 1 || id > MEMBER_MAX_ID)
		return -EINVAL;
	if (t->m[id].present)
		return 0;
	t->m[id].present = 1;
	t->m[id].state = MEMBER_UNKNOWN;
	t->m[id].since_ms = now;
	t->m[id].last_heard_ms = now;
	return 0;
}

static int set_state(struct member *m, int id, int to, int64_t now, struct member_change *ch)
{
	if (ch) {
		ch->id = id;
		ch->from = m->state;
		ch->to = to;
		ch->t_ms = now;
	}
	m->state = to;
	m->since_ms = now;
	return 1;
}

/* The entry of peer id, made present (state unknown since now; *made = 1) if it was not;
 * NULL for an id out of range or this node's own. */
static struct member *peer(struct member_table *t, int id, int64_t now, int *made)
{
	struct member *m;

	assert(member_check(t) == 0);
	if (id < 1 || id > MEMBER_MAX_ID || id == t->self)
		return NULL;
	m = &t->m[id];
	*made = !m->present;
	if (!m->present) {
		m->present = 1;
		m->state = MEMBER_UNKNOWN;
		m->since_ms = now;
	}
	return m;
}

int member_heard(struct member_table *t, int id, int64_t now, struct member_change *ch)
{
	int made;
	struct member *m = peer(t, id, now, &made);

	if (!m)
		return -EINVAL;
	if (now > m->last_heard_ms || m->state == MEMBER_UNKNOWN)
		m->last_heard_ms = now;
	if (m->state == MEMBER_UP)
		return 0;
	return set_state(m, id, MEMBER_UP, now, ch);
}

int member_tick(struct member_table *t, int64_t now, struct member_change *ch, int cap)
{
	int n = 0;

	assert(member_check(t) == 0);
	for (int id = 1; id <= MEMBER_MAX_ID; id++) {
		struct member *m = &t->m[id];
		int64_t quiet = now - m->last_heard_ms;
		int to = m->state;

		if (!m->present || id == t->self)
			continue;
		if (quiet >= t->down_ms && m->state != MEMBER_DOWN)
			to = MEMBER_DOWN;
		else if (quiet >= t->suspect_ms && m->state == MEMBER_UP)
			to = MEMBER_SUSPECT;
		if (to == m->state)
			continue;
		set_state(m, id, to, now, n < cap ? &ch[n] : NULL);
		n++;
	}
	return n;
}

int member_incarnation(struct member_table *t, int id, uint64_t inc, int64_t now)
{
	int made, reborn;
	struct member *m = peer(t, id, now, &made);

	if (!m)
		return -EINVAL;
	if (made)
		m->last_heard_ms = now;
	if (!inc)
		return 0;
	reborn = m->incarnation && m->incarnation != inc;
	m->incarnation = inc;
	if (reborn)
		m->reborn_ms = now;
	return reborn;
}

int member_state(const struct member_table *t, int id)
{
	if (id < 1 || id > MEMBER_MAX_ID || !t->m[id].present)
		return MEMBER_UNKNOWN;
	return t->m[id].state;
}

const char *member_state_str(int state)
{
	static const char *const s[] = {"unknown", "up", "suspect", "down"};

	return state >= 0 && state <= MEMBER_DOWN ? s[state] : "?";
}
