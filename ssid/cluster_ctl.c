/*
 * cluster_ctl.c - the daemon's answers on the control socket: status, nodes, events.
 *
 * Handlers run on the main thread; they copy what they need under c->lock (or read the
 * store under c->dblock) and encode with the client.h encodings, so ssictl and the daemon
 * share one layout.
 */
#include "ssid/client.h"
#include "ssid/cluster_int.h"
#include "ssid/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- control requests */

static void fill_node(struct cluster *c, int id, int64_t now, int64_t wall, struct client_node *n)
{
	const struct gossip_entry *e = &c->gos.e[id];
	int st = member_state(&c->mem, id);

	memset(n, 0, sizeof(*n));
	n->id = id;
	n->self = id == c->cfg->id;
	snprintf(n->name, sizeof(n->name), "%s", e->name);
	snprintf(n->addr, sizeof(n->addr), "%s", e->addr);
	snprintf(n->state, sizeof(n->state), "%s", n->self ? "up" : member_state_str(st));
	n->since_ms = n->self		     ? wall - (now - c->start_mono)
		      : c->mem.m[id].present ? wall - (now - c->mem.m[id].since_ms)
					     : 0;
	n->age_ms = gossip_age(&c->gos, id, now);
	n->load = e->l.load;
	n->runq = e->l.runq;
	n->cpu_use = e->l.cpu_use;
	n->psi_cpu = e->l.psi_cpu;
	n->speed = e->l.speed;
	n->cpus = e->l.cpus;
	n->mem_total_kb = e->l.mem_total_kb;
	n->mem_free_kb = e->l.mem_free_kb;
	snprintf(n->kernel, sizeof(n->kernel), "%s", n->self ? c->kernel : c->info[id].kernel);
	n->blocked = (e->flags & WIRE_NODE_F_BLOCKED) != 0;
}

static int ctl_nodes(void *ctx, const struct ctl_caller *who, struct buf *req, struct buf *reply)
{
	struct cluster *c = ctx;
	int64_t now = cluster_mono_ms(), wall = cluster_wall_ms();
	uint16_t cnt = 0;
	size_t at = reply->len;
	int r;

	(void)who;
	(void)req;
	r = buf_put_u16(reply, 0);
	pthread_mutex_lock(&c->lock);
	for (int id = 1; id <= GOSSIP_MAX_ID && !r; id++) {
		struct client_node n;
		if (!c->gos.e[id].id)
			continue;
		fill_node(c, id, now, wall, &n);
		r = client_node_put(reply, &n);
		cnt++;
	}
	pthread_mutex_unlock(&c->lock);
	if (!r) {
		reply->d[at] = cnt >> 8;
		reply->d[at + 1] = cnt & 0xff;
	}
	return r;
}

static int ctl_status(void *ctx, const struct ctl_caller *who, struct buf *req, struct buf *reply)
{
	struct cluster *c = ctx;
	struct client_status s;
	struct link_stats ls;

	(void)who;
	(void)req;
	memset(&s, 0, sizeof(s));
	link_mgr_stats(c->links, &ls);
	pthread_mutex_lock(&c->lock);
	s.id = c->cfg->id;
	snprintf(s.name, sizeof(s.name), "%s", c->cfg->name);
	snprintf(s.listen, sizeof(s.listen), "%s:%u", c->cfg->listen_host, c->cfg->listen_port);
	s.uptime_ms = cluster_mono_ms() - c->start_mono;
	s.links = ls.links;
	s.links_up = ls.up;
	for (int id = 1; id <= GOSSIP_MAX_ID; id++) {
		if (id == c->cfg->id || !c->gos.e[id].id)
			continue;
		s.peers_known++;
		s.peers_up += member_state(&c->mem, id) == MEMBER_UP;
	}
	s.frames_tx = ls.frames_tx;
	s.frames_rx = ls.frames_rx;
	s.bytes_tx = ls.bytes_tx;
	s.bytes_rx = ls.bytes_rx;
	s.gossip_msgs = c->gossip_msgs;
	s.gossip_bytes = c->gossip_bytes;
	s.load_local = c->ls.local / c->cpus;
	s.load_export = c->ls.exported / c->cpus;
	s.runq = c->ls.runq_avg;
	s.cpu_use = c->ls.cpu_use;
	s.psi_cpu = c->last_raw.psi_cpu;
	s.speed = c->speed;
	s.cpus = (uint32_t)c->cpus;
	s.mem_total_kb = c->last_raw.mem_total_kb;
	s.mem_free_kb = c->last_raw.mem_avail_kb;
	snprintf(s.db_path, sizeof(s.db_path), "%s", db_path(c->db));
	s.blocked = (c->gos.e[c->cfg->id].flags & WIRE_NODE_F_BLOCKED) != 0;
	pthread_mutex_unlock(&c->lock);
	return client_status_put(reply, &s);
}

static int ctl_events(void *ctx, const struct ctl_caller *who, struct buf *req, struct buf *reply)
{
	struct cluster *c = ctx;
	struct db_event *ev = NULL;
	size_t n = 0;
	uint32_t limit = 0;
	int r;

	(void)who;
	r = buf_get_u32(req, &limit);
	if (r < 0)
		return r;
	if (limit == 0 || limit > 100000)
		limit = 100000;
	pthread_mutex_lock(&c->dblock);
	r = db_event_list(c->db, 0, 0, limit, &ev, &n);
	if (r < 0)
		log_warn("listing events: %s", db_errmsg(c->db));
	pthread_mutex_unlock(&c->dblock);
	if (!r)
		r = buf_put_u32(reply, (uint32_t)n);
	for (size_t i = 0; i < n && !r; i++) {
		struct client_event e = {
			.id = ev[i].id, .t_ms = ev[i].t_ms, .node_id = ev[i].node_id};
		snprintf(e.kind, sizeof(e.kind), "%s", ev[i].kind);
		snprintf(e.text, sizeof(e.text), "%s", ev[i].text);
		r = client_event_put(reply, &e);
	}
	free(ev);
	return r;
}

/* ssictl block/unblock: the order goes to the store first (it must survive a restart, and
 * admission at the destination reads it there: admit.h), then into the gossiped flags. */
static int ctl_block(void *ctx, const struct ctl_caller *who, struct buf *req, struct buf *reply)
{
	struct cluster *c = ctx;
	struct db_policy p;
	uint8_t on = 0;
	int r;

	(void)reply;
	if ((r = buf_get_u8(req, &on)) < 0)
		return r;
	pthread_mutex_lock(&c->dblock);
	r = db_policy_get(c->db, &p);
	if (!r && p.blocked != (on != 0)) {
		p = (struct db_policy){
			.blocked = on != 0, .since_ms = cluster_wall_ms(), .by_uid = who->uid};
		r = db_policy_put(c->db, &p);
	}
	if (r < 0)
		log_warn("ssictl %s: %s", on ? "block" : "unblock", db_errmsg(c->db));
	pthread_mutex_unlock(&c->dblock);
	if (r < 0)
		return r;
	pthread_mutex_lock(&c->lock);
	gossip_set_self_flags(&c->gos, on ? WIRE_NODE_F_BLOCKED : 0);
	pthread_mutex_unlock(&c->lock);
	cluster_event(c, c->cfg->id, on ? "blocked" : "unblocked",
		      "incoming processes %s by uid %u", on ? "blocked" : "accepted again",
		      (unsigned)who->uid);
	return 0;
}

/* The block order of an earlier run (the store keeps it) is gossiped from the start. */
static void restore_block(struct cluster *c)
{
	struct db_policy p;
	int r;

	pthread_mutex_lock(&c->dblock);
	r = db_policy_get(c->db, &p);
	if (r < 0)
		log_warn("reading the block order: %s", db_errmsg(c->db));
	pthread_mutex_unlock(&c->dblock);
	if (r < 0 || !p.blocked)
		return;
	pthread_mutex_lock(&c->lock);
	gossip_set_self_flags(&c->gos, WIRE_NODE_F_BLOCKED);
	pthread_mutex_unlock(&c->lock);
	log_info("incoming processes blocked (ssictl unblock to accept them)");
}

int cluster_ctl_register(struct cluster *c, struct ctl_server *s)
{
	int r = ctl_server_add(s, CTL_STATUS, 0, ctl_status, c);

	restore_block(c);
	if (!r)
		r = ctl_server_add(s, CTL_BLOCK, CTL_ROOT_ONLY, ctl_block, c);

	if (!r)
		r = ctl_server_add(s, CTL_NODES, 0, ctl_nodes, c);
	if (!r)
		r = ctl_server_add(s, CTL_EVENTS, 0, ctl_events, c);
	return r;
}
