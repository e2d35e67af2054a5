/*
 * cluster_link.c - the link callbacks of one daemon (struct link_ops, cluster_ops_init): peer
 * key checks against the trust files, HELLO exchange, incoming frames and closed links.
 *
 * Runs on link threads: c->lock is held only for table updates, never across I/O. Trust files
 * are reloaded when their mtime changes, so `ssictl trust` takes effect without a restart.
 * Refusal events are rate-limited per key and peer (one per REFUSAL_QUIET_MS), since an
 * untrusted node retries every few seconds. Membership and gossip encoding stay in cluster.c.
 */
#include "ssid/cluster_int.h"
#include "ssid/log.h"
#include "ssid/ssierr.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---------------------------------------------------------------- trust */

static void reload_one(const char *path, int with_name, struct keys_set *set,
		       struct timespec *mtime)
{
	struct stat st;
	struct keys_set fresh;
	char err[256];

	if (stat(path, &st) < 0)
		memset(&st, 0, sizeof(st));
	if (st.st_mtim.tv_sec == mtime->tv_sec && st.st_mtim.tv_nsec == mtime->tv_nsec && set->v)
		return;
	if (keys_load(path, with_name, &fresh, err, sizeof(err)) < 0) {
		log_warn("%s (keeping the previous keys)", err);
		return;
	}
	keys_set_free(set);
	*set = fresh;
	*mtime = st.st_mtim;
}

void cluster_reload_keys(struct cluster *c)
{
	reload_one(c->cfg->authorized_keys, 0, &c->ak, &c->ak_mtime);
	reload_one(c->cfg->known_hosts, 1, &c->kh, &c->kh_mtime);
}

/* 1 if an event for key should be recorded now (rate limit), lock held. */
static int refusal_due(struct cluster *c, const char *key)
{
	int64_t now = cluster_mono_ms();
	int oldest = 0;

	for (int i = 0; i < REFUSALS; i++) {
		if (!strcmp(c->refused[i].key, key)) {
			if (now - c->refused[i].t < REFUSAL_QUIET_MS)
				return 0;
			c->refused[i].t = now;
			return 1;
		}
		if (c->refused[i].t < c->refused[oldest].t)
			oldest = i;
	}
	snprintf(c->refused[oldest].key, sizeof(c->refused[oldest].key), "%s", key);
	c->refused[oldest].t = now;
	return 1;
}

static int op_auth_key(void *ctx, const char *remote, ssh_key key, char *name, size_t cap,
		       char *why, size_t whycap)
{
	struct cluster *c = ctx;
	char fp[80] = "?";
	int i;

	keys_fingerprint(key, fp, sizeof(fp));
	pthread_mutex_lock(&c->lock);
	cluster_reload_keys(c);
	if (keys_find_key(&c->ak, key) < 0) {
		char rk[160];
		int due;

		snprintf(why, whycap, "key %s from %s is not in %s", fp, remote,
			 c->cfg->authorized_keys);
		snprintf(rk, sizeof(rk), "in %s", fp);
		due = refusal_due(c, rk);
		pthread_mutex_unlock(&c->lock);
		if (due)
			cluster_event(c, 0, "auth-refused", "refused login: %s", why);
		return SSI_E_AUTH;
	}
	i = keys_find_key(&c->kh, key);
	snprintf(name, cap, "%s", i >= 0 ? c->kh.v[i].name : "");
	pthread_mutex_unlock(&c->lock);
	return 0;
}

static int op_host_key(void *ctx, const char *peer, const char *remote, ssh_key key, char *why,
		       size_t whycap)
{
	struct cluster *c = ctx;
	char fp[80] = "?";
	int i, r = 0;

	keys_fingerprint(key, fp, sizeof(fp));
	pthread_mutex_lock(&c->lock);
	cluster_reload_keys(c);
	i = keys_find_name(&c->kh, peer);
	if (i < 0) {
		snprintf(why, whycap,
			 "host key %s of %s at %s is not pinned in %s (ssictl trust %s KEYFILE)",
			 fp, peer, remote, c->cfg->known_hosts, peer);
		r = SSI_E_AUTH;
	} else if (ssh_key_cmp(c->kh.v[i].key, key, SSH_KEY_CMP_PUBLIC) != 0) {
		snprintf(why, whycap, "host key of %s at %s CHANGED: now %s, pinned key differs",
			 peer, remote, fp);
		r = SSI_E_AUTH;
	}
	if (r) {
		char rk[160];
		int due;

		snprintf(rk, sizeof(rk), "host %s %s", peer, fp);
		due = refusal_due(c, rk);
		pthread_mutex_unlock(&c->lock);
		if (due)
			cluster_event(c, 0, "auth-refused", "refused peer: %s", why);
		return r;
	}
	pthread_mutex_unlock(&c->lock);
	return 0;
}

/* ---------------------------------------------------------------- HELLO and messages */

static void op_make_hello(void *ctx, struct wire_msg *m)
{
	struct cluster *c = ctx;
	struct wire_hello *h = &m->u.hello;

	h->version = WIRE_PROTO_VERSION;
	h->min_version = WIRE_PROTO_MIN_VERSION;
	h->node_id = (uint16_t)c->cfg->id;
	snprintf(h->name, sizeof(h->name), "%s", c->cfg->name);
	h->cpus = (uint32_t)c->cpus;
	h->speed = (uint32_t)(c->speed * WIRE_SPEED_REF + 0.5);
	pthread_mutex_lock(&c->lock);
	h->mem_total_kb = c->last_raw.mem_total_kb;
	pthread_mutex_unlock(&c->lock);
	snprintf(h->kernel, sizeof(h->kernel), "%s", c->kernel);
	h->cpu_flags = c->cpu_flags;
	snprintf(h->listen, sizeof(h->listen), "%s", c->listen);
	h->boot_id = c->boot_id;
	h->incarnation = c->incarnation;
}

static void store_node(struct cluster *c, int id, const struct wire_hello *h)
{
	struct db_node n;
	int r;

	memset(&n, 0, sizeof(n));
	n.id = id;
	snprintf(n.name, sizeof(n.name), "%s", h->name);
	snprintf(n.addr, sizeof(n.addr), "%s", h->listen);
	n.state = DB_NODE_UP;
	n.state_since_ms = n.last_seen_ms = cluster_wall_ms();
	n.cpus = (int)h->cpus;
	n.speed = (double)h->speed / WIRE_SPEED_REF;
	n.mem_total = h->mem_total_kb * 1024;
	snprintf(n.kernel, sizeof(n.kernel), "%s", h->kernel);
	snprintf(n.cpu_flags, sizeof(n.cpu_flags), "%s", h->cpu_flags ? h->cpu_flags : "");
	pthread_mutex_lock(&c->dblock);
	r = db_node_put(c->db, &n);
	if (r == -EEXIST) { /* the name moved to a new id: drop the stale record */
		struct db_node *all = NULL;
		size_t cnt = 0;
		if (db_node_list(c->db, &all, &cnt) == 0)
			for (size_t i = 0; i < cnt; i++)
				if (!strcmp(all[i].name, n.name) && all[i].id != id)
					db_node_del(c->db, all[i].id);
		free(all);
		r = db_node_put(c->db, &n);
	}
	if (r < 0)
		log_warn("storing node %s: %s", n.name, db_errmsg(c->db));
	pthread_mutex_unlock(&c->dblock);
}

static int op_on_hello(void *ctx, struct link *l, const struct wire_hello *h, const char *key_name,
		       const char *expect, char *why, size_t whycap)
{
	struct cluster *c = ctx;
	struct gossip_entry *e;
	uint32_t ver;
	int id = h->node_id, restarted = 0, reborn;

	if (wire_version_agree(WIRE_PROTO_MIN_VERSION, WIRE_PROTO_VERSION, h->min_version,
			       h->version, &ver) < 0) {
		snprintf(why, whycap, "protocol versions %u..%u, we speak %u..%u", h->min_version,
			 h->version, (unsigned)WIRE_PROTO_MIN_VERSION,
			 (unsigned)WIRE_PROTO_VERSION);
		return SSI_E_VERSION;
	}
	if (id < 1 || id > GOSSIP_MAX_ID || id == c->cfg->id || !config_name_ok(h->name) ||
	    !strcmp(h->name, c->cfg->name)) {
		snprintf(why, whycap, "node id %d / name '%s' invalid or ours", id, h->name);
		return SSI_E_BADFIELD;
	}
	if (expect[0] && strcmp(expect, h->name)) {
		snprintf(why, whycap, "we dialled %s but %s answered", expect, h->name);
		return SSI_E_AUTH;
	}
	if (key_name[0] && strcmp(key_name, h->name)) {
		snprintf(why, whycap, "key pinned for %s but HELLO says %s", key_name, h->name);
		return SSI_E_AUTH;
	}
	pthread_mutex_lock(&c->lock);
	e = &c->gos.e[id];
	if (e->id && strcmp(e->name, h->name)) {
		snprintf(why, whycap, "node id %d already belongs to %s, not %s", id, e->name,
			 h->name);
		pthread_mutex_unlock(&c->lock);
		return SSI_E_REFUSED;
	}
	for (int i = 1; i <= GOSSIP_MAX_ID; i++)
		if (i != id && c->gos.e[i].id && !strcmp(c->gos.e[i].name, h->name))
			c->gos.e[i].id = 0; /* the name was renumbered: forget the old id */
	gossip_know(&c->gos, id, h->name, h->listen);
	snprintf(c->info[id].kernel, sizeof(c->info[id].kernel), "%s", h->kernel);
	/* boot_id is optional in HELLO: only two known, different ids mean a restart. */
	restarted = h->boot_id && c->info[id].boot_id && c->info[id].boot_id != h->boot_id;
	if (h->boot_id)
		c->info[id].boot_id = h->boot_id;
	/* a new incarnation: the processes it held died (not a restart of its daemon alone) */
	reborn = member_incarnation(&c->mem, id, h->incarnation, cluster_mono_ms()) == 1;
	cluster_heard(c, id, cluster_mono_ms());
	pthread_mutex_unlock(&c->lock);
	store_node(c, id, h);
	log_info("link %s %s: HELLO from %s (id %d, %u cpus, kernel %s, incarnation %016llx)",
		 link_outgoing(l) ? "to" : "from", link_remote(l), h->name, id, h->cpus, h->kernel,
		 (unsigned long long)h->incarnation);
	if (reborn)
		cluster_event(c, id, "node-reborn", "%s came back as a new incarnation (%s)",
			      h->name, "crashed or rebooted: the processes it held are gone");
	else if (restarted)
		cluster_event(c, id, "node-restart", "%s restarted (new daemon instance)", h->name);
	return id;
}

static int merge_window(struct cluster *c, int from, const struct wire_load_window *w, char *why,
			size_t whycap)
{
	struct gossip_entry in[WIRE_LOAD_ENTRIES];
	uint32_t age[WIRE_LOAD_ENTRIES];
	int fresh[WIRE_LOAD_ENTRIES], nf;
	char names[WIRE_LOAD_ENTRIES][GOSSIP_NAME_MAX];
	size_t n = 0;

	if (w->nentries > WIRE_LOAD_ENTRIES) {
		snprintf(why, whycap, "LOAD_WINDOW with %zu entries", w->nentries);
		return SSI_E_TOOBIG;
	}
	for (size_t i = 0; i < w->nentries; i++) {
		if (gossip_from_wire(&w->entries[i], &in[n], &age[n]) < 0) {
			snprintf(why, whycap, "LOAD_WINDOW entry %zu: bad node id or name", i);
			return SSI_E_BADFIELD;
		}
		n++;
	}
	pthread_mutex_lock(&c->lock);
	nf = gossip_merge(&c->gos, in, age, n, cluster_mono_ms(), fresh, WIRE_LOAD_ENTRIES);
	for (int i = 0; i < nf && i < WIRE_LOAD_ENTRIES; i++) /* names read under the lock */
		snprintf(names[i], sizeof(names[i]), "%s", c->gos.e[fresh[i]].name);
	pthread_mutex_unlock(&c->lock);
	for (int i = 0; i < nf && i < WIRE_LOAD_ENTRIES; i++)
		cluster_event(c, fresh[i], "node-learned", "learned of %s (id %d) from node %d",
			      names[i], fresh[i], from);
	return 0;
}

static int op_on_msg(void *ctx, struct link *l, int peer, const struct wire_msg *m,
		     struct buf *reply, char *why, size_t whycap)
{
	struct cluster *c = ctx;

	(void)l;
	pthread_mutex_lock(&c->lock);
	cluster_heard(c, peer, cluster_mono_ms());
	pthread_mutex_unlock(&c->lock);
	switch (m->type) {
	case WIRE_HEARTBEAT:
		return 0;
	case WIRE_LOAD_WINDOW:
		return merge_window(c, peer, &m->u.load_window, why, whycap);
	case WIRE_LOAD_PULL: {
		struct wire_load_entry entries[GOSSIP_WINDOW];
		size_t before = reply->len;
		struct wire_msg out;
		int r;

		pthread_mutex_lock(&c->lock);
		cluster_build_window(c, cluster_mono_ms(), &out, entries);
		out.reqid = m->reqid;
		r = wire_encode(reply, &out);
		if (!r) {
			c->gossip_msgs++;
			c->gossip_bytes += reply->len - before;
		}
		pthread_mutex_unlock(&c->lock);
		return r;
	}
	case WIRE_ERROR:
		if (m->u.error.ref_type < 64 && c->errhandlers[m->u.error.ref_type].fn)
			return c->errhandlers[m->u.error.ref_type].fn(
				c->errhandlers[m->u.error.ref_type].ctx, peer, m, reply);
		log_warn("node %d reports error %d (%s) for %s", peer, m->u.error.code,
			 m->u.error.text ? m->u.error.text : "",
			 wire_type_name(m->u.error.ref_type));
		return 0;
	default:
		if (m->type < 64 && c->handlers[m->type].fn)
			return c->handlers[m->type].fn(c->handlers[m->type].ctx, peer, m, reply);
		return wire_encode_error(reply, m->reqid, m->type, -EOPNOTSUPP,
					 "not served by this daemon yet");
	}
}

static void op_on_close(void *ctx, struct link *l, int peer, const char *remote, const char *reason)
{
	struct cluster *c = ctx;
	const char *dir = link_outgoing(l) ? "to" : "from";
	char name[GOSSIP_NAME_MAX] = "?";
	int due = 0;

	pthread_mutex_lock(&c->lock);
	if (peer > 0 && peer <= GOSSIP_MAX_ID && c->gos.e[peer].id)
		snprintf(name, sizeof(name), "%s", c->gos.e[peer].name);
	if (strstr(reason, "refused our key")) {
		char rk[160];
		snprintf(rk, sizeof(rk), "out %s", remote);
		due = refusal_due(c, rk);
	}
	pthread_mutex_unlock(&c->lock);
	if (!strncmp(reason, "malformed", 9) || !strncmp(reason, "HELLO refused", 13) ||
	    !strncmp(reason, "first frame", 11) || !strncmp(reason, "second HELLO", 12))
		cluster_event(c, peer, "link-error", "link %s %s (%s) closed: %s", dir, remote,
			      name, reason);
	else if (due)
		cluster_event(c, peer, "auth-refused", "link to %s: %s", remote, reason);
	else
		log_info("link %s %s (%s) closed: %s", dir, remote, name, reason[0] ? reason : "?");
}

void cluster_ops_init(struct cluster *c)
{
	c->ops = (struct link_ops){
		.ctx = c,
		.auth_key = op_auth_key,
		.host_key = op_host_key,
		.make_hello = op_make_hello,
		.on_hello = op_on_hello,
		.on_msg = op_on_msg,
		.on_close = op_on_close,
	};
}
