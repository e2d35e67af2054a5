/*
 * cluster.c - membership, load table, life cycle and events of one daemon (cluster.h).
 *
 * Everything mutable sits under c->lock; link threads hold it only for table updates, never
 * across I/O. Frames to peers are built under the lock and sent after it is released. Owns the
 * timers (cluster_tick, cluster_sample, cluster_gossip), sending and peer queries; the link
 * callbacks (trust, HELLO, incoming frames) are in cluster_link.c, control requests in
 * cluster_ctl.c.
 */
#include "ssid/cluster.h"
#include "ssid/client.h"
#include "ssid/gossip.h"
#include "ssid/keys.h"
#include "ssid/load.h"
#include "ssid/log.h"
#include "ssid/member.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "ssid/cluster_int.h"

int64_t cluster_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t cluster_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint32_t rng_next(void *ctx)
{
	uint64_t *s = ctx;

	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (uint32_t)(*s >> 16);
}

void cluster_event(struct cluster *c, int node, const char *kind, const char *fmt, ...)
{
	char text[DB_TEXT_MAX];
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	log_info("event %s: %s", kind, text);
	pthread_mutex_lock(&c->dblock);
	r = db_event_add(c->db, cluster_wall_ms(), node, kind, text, NULL);
	if (r < 0)
		log_warn("storing event %s: %s", kind, db_errmsg(c->db));
	pthread_mutex_unlock(&c->dblock);
}

/* ---------------------------------------------------------------- membership */

static void state_changed(struct cluster *c, const struct member_change *ch)
{
	static const char *const kind[] = {"node-unknown", "node-up", "node-suspect", "node-down"};
	static const int dbstate[] = {DB_NODE_DOWN, DB_NODE_UP, DB_NODE_SUSPECT, DB_NODE_DOWN};
	const char *name = c->gos.e[ch->id].id ? c->gos.e[ch->id].name : "?";
	int64_t wall = cluster_wall_ms();
	int64_t quiet = ch->t_ms - c->mem.m[ch->id].last_heard_ms;

	c->info[ch->id].since_wall = wall;
	if (ch->to == MEMBER_UP)
		cluster_event(c, ch->id, kind[ch->to], "%s (id %d) is up (was %s)", name, ch->id,
			      member_state_str(ch->from));
	else
		cluster_event(c, ch->id, kind[ch->to],
			      "%s (id %d) is %s: nothing heard for %lld ms", name, ch->id,
			      member_state_str(ch->to), (long long)quiet);
	pthread_mutex_lock(&c->dblock);
	if (db_node_set_state(c->db, ch->id, dbstate[ch->to], wall) < 0 && ch->to != MEMBER_DOWN)
		log_debug("node %d state not stored: %s", ch->id, db_errmsg(c->db));
	pthread_mutex_unlock(&c->dblock);
}

void cluster_heard(struct cluster *c, int id, int64_t now)
{
	struct member_change ch;

	c->info[id].heard_mono = now;
	if (member_heard(&c->mem, id, now, &ch) == 1)
		state_changed(c, &ch);
}

static int configured(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->npeers; i++)
		if (!strcmp(cfg->peers[i].name, name))
			return 1;
	return 0;
}

int cluster_tick(struct cluster *c, int64_t now)
{
	struct member_change ch[16];
	struct {
		char name[GOSSIP_NAME_MAX], host[CONFIG_HOST_MAX];
		uint16_t port;
		int id;
	} dial[8];
	int n, nd = 0;

	pthread_mutex_lock(&c->lock);
	n = member_tick(&c->mem, now, ch, 16);
	for (int i = 0; i < n && i < 16; i++)
		state_changed(c, &ch[i]);
	/* Peers learned from peers: dial every known node whose host key we have pinned. */
	cluster_reload_keys(c);
	for (int id = 1; id <= GOSSIP_MAX_ID && nd < 8; id++) {
		struct gossip_entry *e = &c->gos.e[id];
		if (!e->id || id == c->cfg->id || c->info[id].dialled || !e->addr[0] ||
		    keys_find_name(&c->kh, e->name) < 0)
			continue;
		if (configured(c->cfg, e->name)) { /* dialled at start already */
			c->info[id].dialled = 1;
			continue;
		}
		if (config_parse_hostport(e->addr, dial[nd].host, sizeof(dial[nd].host),
					  &dial[nd].port) < 0)
			continue;
		snprintf(dial[nd].name, sizeof(dial[nd].name), "%s", e->name);
		dial[nd].id = id;
		c->info[id].dialled = 1;
		member_add(&c->mem, id, now);
		nd++;
	}
	pthread_mutex_unlock(&c->lock);
	for (int i = 0; i < nd; i++) {
		log_info("dialling %s (id %d) at %s:%u, learned from peers", dial[i].name,
			 dial[i].id, dial[i].host, dial[i].port);
		link_mgr_dial(c->links, dial[i].name, dial[i].host, dial[i].port);
	}
	link_mgr_reap(c->links);
	return TICK_MS;
}

/* ---------------------------------------------------------------- load and gossip */

/* Encode our load window into a message; lock held. entries: caller storage. */
void cluster_build_window(struct cluster *c, int64_t now, struct wire_msg *m,
			  struct wire_load_entry *entries)
{
	struct gossip_entry win[GOSSIP_WINDOW];
	uint32_t age[GOSSIP_WINDOW];
	size_t n = gossip_window(&c->gos, now, win, age, GOSSIP_WINDOW);

	wire_msg_init(m, WIRE_LOAD_WINDOW, 0);
	for (size_t i = 0; i < n; i++)
		gossip_to_wire(&win[i], age[i], &entries[i]);
	m->u.load_window.from = (uint16_t)c->cfg->id;
	m->u.load_window.entries = entries;
	m->u.load_window.nentries = n;
}

static void store_sample(struct cluster *c, const struct load_raw *r)
{
	struct db_load s = {
		.node_id = c->cfg->id,
		.t_ms = cluster_wall_ms(),
		.runq = c->ls.runq_avg,
		.cpu_use = c->ls.cpu_use,
		.mem_free = r->mem_avail_kb * 1024,
		.psi_cpu = r->psi_cpu,
		.load_local = c->ls.local / c->cpus,
		.load_export = c->ls.exported / c->cpus,
	};
	int64_t now = cluster_mono_ms();
	int seen[GOSSIP_MAX_ID];
	size_t nseen = 0;

	pthread_mutex_lock(&c->lock); /* order: lock, then dblock; never both here */
	for (int id = 1; id <= GOSSIP_MAX_ID; id++)
		if (c->info[id].heard_mono > now - DB_FLUSH_MS && id != c->cfg->id)
			seen[nseen++] = id;
	pthread_mutex_unlock(&c->lock);
	pthread_mutex_lock(&c->dblock);
	if (db_tx_begin(c->db) == 0) {
		if (db_load_add(c->db, &s) < 0)
			log_warn("storing load sample: %s", db_errmsg(c->db));
		for (size_t i = 0; i < nseen; i++)
			db_node_seen(c->db, seen[i], s.t_ms);
		if (db_tx_commit(c->db) < 0) {
			log_warn("store commit: %s", db_errmsg(c->db));
			db_tx_rollback(c->db);
		}
	}
	pthread_mutex_unlock(&c->dblock);
}

/* Send a gossip frame (LOAD_WINDOW or LOAD_PULL) to peer and count it. */
static void gossip_send(struct cluster *c, int peer, const struct wire_msg *m)
{
	struct buf b;

	buf_init(&b);
	if (link_mgr_send(c->links, peer, m) == 0 && wire_encode(&b, m) == 0) {
		pthread_mutex_lock(&c->lock);
		c->gossip_msgs++;
		c->gossip_bytes += b.len;
		pthread_mutex_unlock(&c->lock);
	}
	buf_free(&b);
}

static void push_all(struct cluster *c, int64_t now)
{
	struct wire_load_entry entries[GOSSIP_WINDOW];
	int up[GOSSIP_MAX_ID];
	struct wire_msg m;
	size_t n = link_mgr_up_peers(c->links, up, GOSSIP_MAX_ID);

	pthread_mutex_lock(&c->lock);
	cluster_build_window(c, now, &m, entries);
	pthread_mutex_unlock(&c->lock);
	for (size_t i = 0; i < n; i++)
		gossip_send(c, up[i], &m);
}

int cluster_sample(struct cluster *c, int64_t now)
{
	struct load_raw r;
	struct gossip_load gl;
	int e, push = 0, flush = 0;

	e = load_read("/proc", "/sys/fs/cgroup", getpid(), &r);
	if (e < 0) {
		log_warn("load sample: %s", strerror(-e));
		return c->cfg->sample_ms;
	}
	pthread_mutex_lock(&c->lock);
	load_update(&c->ls, &r, c->last_sample ? (now - c->last_sample) / 1000.0 : 0);
	c->last_sample = now;
	c->last_raw = r;
	memset(&gl, 0, sizeof(gl));
	gl.load = c->ls.exported / c->cpus;
	gl.runq = c->ls.runq_avg;
	gl.cpu_use = c->ls.cpu_use;
	gl.psi_cpu = r.psi_cpu;
	gl.speed = c->speed;
	gl.cpus = (uint32_t)c->cpus;
	gl.mem_total_kb = r.mem_total_kb;
	gl.mem_free_kb = r.mem_avail_kb;
	gossip_set_self(&c->gos, &gl, now);
	/* Push at once when the load moved by a whole process (notes s4). */
	if (c->ls.exported - c->pushed_runq >= 1.0 || c->pushed_runq - c->ls.exported >= 1.0) {
		c->pushed_runq = c->ls.exported;
		push = 1;
	}
	if (now - c->last_flush >= DB_FLUSH_MS) {
		c->last_flush = now;
		flush = 1;
	}
	pthread_mutex_unlock(&c->lock);
	if (push)
		push_all(c, now);
	if (flush)
		store_sample(c, &r);
	return c->cfg->sample_ms;
}

int cluster_gossip(struct cluster *c, int64_t now)
{
	struct wire_load_entry entries[GOSSIP_WINDOW];
	struct gossip_rng rng = {rng_next, &c->rng};
	struct gossip_plan plan;
	int link_up[GOSSIP_MAX_ID], up[GOSSIP_MAX_ID];
	size_t nl = link_mgr_up_peers(c->links, link_up, GOSSIP_MAX_ID), n = 0;
	struct wire_msg m, pull;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < nl; i++)
		if (member_state(&c->mem, link_up[i]) == MEMBER_UP)
			up[n++] = link_up[i];
	gossip_plan_round(&c->gos, up, n, now, c->cfg->gossip_ms, &rng, &plan);
	cluster_build_window(c, now, &m, entries);
	pthread_mutex_unlock(&c->lock);
	if (plan.push_to)
		gossip_send(c, plan.push_to, &m);
	if (plan.pull_from) {
		wire_msg_init(&pull, WIRE_LOAD_PULL, 0);
		pull.u.load_pull.from = (uint16_t)c->cfg->id;
		gossip_send(c, plan.pull_from, &pull);
	}
	return (int)plan.next_delay_ms;
}

/* ---------------------------------------------------------------- life cycle */

static char *read_cpu_flags(void)
{
	FILE *f = fopen("/proc/cpuinfo", "re");
	char *line = NULL, *out = NULL;
	size_t cap = 0;

	while (f && getline(&line, &cap, f) > 0) {
		if (strncmp(line, "flags", 5))
			continue;
		char *p = strchr(line, ':');
		if (p) {
			p += 1 + strspn(p + 1, " \t");
			p[strcspn(p, "\n")] = '\0';
			if (strlen(p) > WIRE_FLAGS_MAX)
				p[WIRE_FLAGS_MAX] = '\0';
			out = strdup(p);
		}
		break;
	}
	free(line);
	if (f)
		fclose(f);
	return out ? out : strdup("");
}

/* This node's incarnation: the same while the processes it holds may live, new once they all
 * died. The kernel's boot_id changes at a reboot; the start time of pid 1 of our PID namespace
 * (and that namespace) changes when the namespace's init died, which killed every process in
 * it: a container or an ssi-lab node crashed and started again (the lab's nodes share one
 * kernel, so boot_id alone cannot tell them). A restart of ssid alone changes none of them,
 * so no state file is needed. 0 (unknown: never judged) if none can be read. */
static uint64_t node_incarnation(void)
{
	char boot[64] = "", ns[64] = "", st[1024] = "", *p;
	unsigned long long start = 0;
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
	FILE *f;
	ssize_t n;

	if ((f = fopen("/proc/sys/kernel/random/boot_id", "re"))) {
		if (!fgets(boot, sizeof(boot), f))
			boot[0] = '\0';
		fclose(f);
	}
	n = readlink("/proc/self/ns/pid", ns, sizeof(ns) - 1);
	ns[n > 0 ? n : 0] = '\0';
	if ((f = fopen("/proc/1/stat", "re"))) {
		if (fgets(st, sizeof(st), f) && (p = strrchr(st, ')'))) {
			/* p then at the space before field i: 3 state ... 22 starttime */
			for (int i = 3; i <= 22 && p; i++)
				p = strchr(p + 1, ' ');
			if (p)
				start = strtoull(p + 1, NULL, 10);
		}
		fclose(f);
	}
	if (!boot[0] && !ns[0] && !start)
		return 0;
	snprintf(st, sizeof(st), "%s|%s|%llu", boot, ns, start);
	for (p = st; *p; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
	return h ? h : 1;
}

int cluster_new(struct cluster **out, const struct config *cfg, struct db *db, char *err,
		size_t errlen)
{
	struct cluster *c = calloc(1, sizeof(*c));
	struct utsname u;
	struct load_raw r;

	*out = NULL;
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->cfg = cfg;
	c->db = db;
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->dblock, NULL);
	c->start_mono = cluster_mono_ms();
	c->cpus = load_cpus();
	c->speed = load_measure_speed();
	uname(&u);
	snprintf(c->kernel, sizeof(c->kernel), "%s", u.release);
	c->cpu_flags = read_cpu_flags();
	if (getrandom(&c->boot_id, sizeof(c->boot_id), 0) != sizeof(c->boot_id))
		c->boot_id = (uint64_t)cluster_wall_ms() ^ (uint64_t)getpid() << 32;
	c->rng = c->boot_id | 1;
	c->incarnation = node_incarnation();
	if (strcmp(cfg->listen_host, "0.0.0.0"))
		snprintf(c->listen, sizeof(c->listen), "%s:%u", cfg->listen_host, cfg->listen_port);
	member_init(&c->mem, cfg->id, cfg->suspect_ms, cfg->down_ms);
	gossip_init(&c->gos, cfg->id, cfg->name, c->listen);
	if (load_read("/proc", "/sys/fs/cgroup", getpid(), &r) == 0) {
		c->last_raw = r;
		load_update(&c->ls, &r, 0);
	}
	cluster_reload_keys(c);
	cluster_ops_init(c);
	*out = c;
	return 0;
}

int cluster_on_msg(struct cluster *c, uint16_t type, cluster_msg_fn fn, void *ctx)
{
	if (type == 0 || type >= 64 || !fn)
		return -EINVAL;
	if (type == WIRE_HELLO || type == WIRE_HEARTBEAT || type == WIRE_ERROR ||
	    type == WIRE_LOAD_WINDOW || type == WIRE_LOAD_PULL || c->handlers[type].fn)
		return -EEXIST;
	if (c->started)
		return -EBUSY;
	c->handlers[type].fn = fn;
	c->handlers[type].ctx = ctx;
	return 0;
}

int cluster_on_error(struct cluster *c, uint16_t ref_type, cluster_msg_fn fn, void *ctx)
{
	if (ref_type == 0 || ref_type >= 64 || !fn)
		return -EINVAL;
	if (c->errhandlers[ref_type].fn)
		return -EEXIST;
	if (c->started)
		return -EBUSY;
	c->errhandlers[ref_type].fn = fn;
	c->errhandlers[ref_type].ctx = ctx;
	return 0;
}

int cluster_send(struct cluster *c, int peer, const struct wire_msg *m)
{
	return c->links ? link_mgr_send(c->links, peer, m) : -ENOTCONN;
}

size_t cluster_peers(struct cluster *c, struct cluster_peer *out, size_t cap)
{
	size_t n = 0;

	pthread_mutex_lock(&c->lock);
	for (int id = 1; id <= MEMBER_MAX_ID && id <= GOSSIP_MAX_ID && n < cap; id++) {
		if (id == c->cfg->id || !c->mem.m[id].present)
			continue;
		out[n].id = id;
		snprintf(out[n].name, sizeof(out[n].name), "%s",
			 c->gos.e[id].id ? c->gos.e[id].name : "");
		out[n].state = c->mem.m[id].state;
		out[n].reborn_ms = c->mem.m[id].reborn_ms;
		n++;
	}
	pthread_mutex_unlock(&c->lock);
	return n;
}

int cluster_peer_host(struct cluster *c, int id, char *host, size_t cap)
{
	uint16_t port;
	int e = -ENOENT;

	if (id <= 0 || id > GOSSIP_MAX_ID || id == c->cfg->id)
		return -ENOENT;
	pthread_mutex_lock(&c->lock);
	const struct gossip_entry *g = &c->gos.e[id];
	if (g->id && g->addr[0] && config_parse_hostport(g->addr, host, cap, &port) == 0)
		e = 0;
	for (size_t i = 0; e < 0 && g->id && i < c->cfg->npeers; i++)
		if (!strcmp(c->cfg->peers[i].name, g->name)) {
			snprintf(host, cap, "%s", c->cfg->peers[i].host);
			e = 0;
		}
	pthread_mutex_unlock(&c->lock);
	return e;
}

const struct link_ops *cluster_link_ops(struct cluster *c)
{
	return &c->ops;
}

void cluster_start(struct cluster *c, struct link_mgr *links)
{
	struct db_node self;

	c->links = links;
	c->started = 1;
	cluster_event(c, c->cfg->id, "daemon-start", "ssid started as %s (id %d) on %s:%u, %d cpus",
		      c->cfg->name, c->cfg->id, c->cfg->listen_host, c->cfg->listen_port, c->cpus);
	memset(&self, 0, sizeof(self));
	self.id = c->cfg->id;
	snprintf(self.name, sizeof(self.name), "%s", c->cfg->name);
	snprintf(self.addr, sizeof(self.addr), "%s", c->listen);
	self.state = DB_NODE_UP;
	self.state_since_ms = self.last_seen_ms = cluster_wall_ms();
	self.cpus = c->cpus;
	self.speed = c->speed;
	self.mem_total = c->last_raw.mem_total_kb * 1024;
	snprintf(self.kernel, sizeof(self.kernel), "%s", c->kernel);
	snprintf(self.cpu_flags, sizeof(self.cpu_flags), "%s", c->cpu_flags);
	pthread_mutex_lock(&c->dblock);
	if (db_node_put(c->db, &self) < 0)
		log_warn("storing own node record: %s", db_errmsg(c->db));
	pthread_mutex_unlock(&c->dblock);
	for (size_t i = 0; i < c->cfg->npeers; i++) {
		const struct config_peer *p = &c->cfg->peers[i];
		log_info("dialling %s at %s:%u", p->name, p->host, p->port);
		link_mgr_dial(links, p->name, p->host, p->port);
	}
}

void cluster_free(struct cluster *c)
{
	if (!c)
		return;
	if (c->started)
		cluster_event(c, c->cfg->id, "daemon-stop", "ssid stopped cleanly");
	keys_set_free(&c->ak);
	keys_set_free(&c->kh);
	free(c->cpu_flags);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->dblock);
	free(c);
}
