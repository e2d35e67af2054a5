/*
 * mig_mach.c - the table of migproto machines of this node (mig_int.h): creation (and reuse
 * of final machines kept to answer late questions), their time-outs, the home's entry point
 * for a move asked by gmigrate, and the membership check that feeds NODE_DEAD. The
 * machines' actions and the wire side are in mig_proto.c.
 * Coordinator thread only.
 */
#include "ssid/client.h"
#include "ssid/ctl.h"
#include "ssid/log.h"
#include "ssid/mig_int.h"
#include "ssid/ssierr.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MEMBER_IDS 512 /* node ids 1..511 */

static uint64_t now_ms(void)
{
	return (uint64_t)cluster_mono_ms();
}

/* A final machine nothing else refers to any more (may be freed). */
static int mach_idle(const struct mach *k)
{
	return migproto_final(&k->p) && !k->th_started && !k->thaw_pending &&
	       (k->p.role != MIGPROTO_HOME || k->reported);
}

struct mach *mig_mach_new(struct mig *m, int role, const struct migproto_params *pp)
{
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < MIG_MAX_MACH; i++) {
			struct mach *k = &m->mach[i];
			if (k->used && (pass == 0 || !mach_idle(k)))
				continue;
			if (k->used && k->dctl >= 0) /* pass 1: reuse a final one; EOF: the */
				close(k->dctl);	     /* child decides (mig_stream.c) */
			memset(k, 0, sizeof(*k));
			if (migproto_init(&k->p, (enum migproto_role)role, pp, now_ms()) < 0)
				return NULL;
			k->used = 1;
			k->requester = -1;
			k->rfd = -1;
			k->dctl = -1;
			k->freeze_ms = k->transfer_ms = k->restore_ms = -1;
			k->freeze_exact = k->transfer_exact = k->restore_exact = -1;
			return k;
		}
	}
	return NULL;
}

int mig_proto_request(struct mig *m, int ci, uint32_t gpid, int dst, char *err, size_t errlen)
{
	struct proc *p = mig_proc(m, gpid);
	struct client *c = &m->cl[ci];
	struct migproto_params pp;
	struct mach *h;

	if ((int)(gpid >> 22) != m->self) {
		snprintf(err, errlen, "gpid %u has its home on node %u: run gmigrate there", gpid,
			 gpid >> 22);
		return -EXDEV;
	}
	if (!p) {
		snprintf(err, errlen, "no process with gpid %u started here by grun", gpid);
		return -ESRCH;
	}
	if (c->uid != 0 && c->uid != p->uid) {
		snprintf(err, errlen, "Operation not permitted: gpid %u belongs to uid %u", gpid,
			 p->uid);
		return -EPERM;
	}
	if (dst == 0)
		dst = m->self;
	if (dst == p->where) {
		snprintf(err, errlen, "gpid %u already runs on node %d", gpid, dst);
		return -EALREADY;
	}
	if (p->mig) {
		snprintf(err, errlen, "gpid %u is already being moved", gpid);
		return -EBUSY;
	}
	memset(&pp, 0, sizeof(pp));
	pp.mig_id = (uint64_t)p->where << 48 |
		    ((uint64_t)cluster_wall_ms() & 0xffffffffffull) << 8 | (m->seq++ & 0xff);
	pp.gpid = gpid;
	pp.self = (uint16_t)m->self;
	pp.src = (uint16_t)p->where;
	pp.dst = (uint16_t)dst;
	pp.home = (uint16_t)m->self;
	migproto_conf_default(&pp.conf);
	h = mig_mach_new(m, MIGPROTO_HOME, &pp);
	if (!h) {
		snprintf(err, errlen,
			 "cannot start migration to node %d (bad node, or too many "
			 "migrations at once)",
			 dst);
		return -EINVAL;
	}
	h->requester = ci;
	h->t0 = cluster_wall_ms();
	h->t0_mono = mig_now_ms();
	h->uid = p->uid;
	snprintf(h->comm, sizeof(h->comm), "%s", p->comm);
	if (db_mig_start(m->db, gpid, p->where, dst, h->t0, &h->db_id) < 0)
		log_warn("migration history: %s", db_errmsg(m->db));
	p->mig = pp.mig_id;
	p->src_dead = 0;
	/* Durable before anything is sent: a restarted home knows this move was in flight and
	 * never committed (mig_adopt.c answers its parties ABORT). */
	struct db_proc rec = {.gpid = gpid,
			      .home_node = m->self,
			      .node = p->where,
			      .uid = p->uid,
			      .state = DB_PROC_MIGRATING,
			      .since_ms = h->t0,
			      .mig_id = (int64_t)pp.mig_id};
	snprintf(rec.cmd, sizeof(rec.cmd), "%s", p->comm);
	if (db_proc_put(m->db, &rec) < 0)
		log_warn("gpid %u: recording the move: %s", gpid, db_errmsg(m->db));
	if (p->where == m->self) {
		pp.self = (uint16_t)m->self;
		struct mach *s = mig_mach_new(m, MIGPROTO_SOURCE, &pp);
		if (!s) {
			h->used = 0;
			p->mig = 0;
			snprintf(err, errlen, "cannot start the source side");
			return -ENOMEM;
		}
		s->pid = (uint32_t)p->pid;
		s->uid = p->uid;
		snprintf(s->comm, sizeof(s->comm), "%s", p->comm);
		struct migproto_event st = {.type = MIGPROTO_EV_START};
		mig_step(m, s, &st);
	} else {
		struct migproto_action r = {.kind = MIGPROTO_A_SEND,
					    .to = (uint16_t)p->where,
					    .to_role = MIGPROTO_SOURCE,
					    .msg = MIGPROTO_OFFER};
		mig_send_msg(m, h, &r);
	}
	mig_progress(m, h, "offering gpid %u to node %d", gpid, dst);
	log_info("migration %llx: gpid %u from node %d to node %d asked by uid %u",
		 (unsigned long long)pp.mig_id, gpid, p->where, dst, c->uid);
	return 0;
}

/* Membership, as the machines need it. "down" (silent for down_ms) may be a cut as well as a
 * crash: the machines get LINK_DOWN (the source gives up a move not yet past the last chunk;
 * nothing else changes) and LINK_UP when it is heard again (the parties in doubt ask again at
 * once). Only a node down for another down_ms is taken for dead (NODE_DEAD; the process that
 * ran there is reported lost to its deputy): a cut healed within that is never mistaken for
 * a crash. Per node: 0 up, 1 down (LINK_DOWN fed), 2 dead (NODE_DEAD fed). Coordinator
 * thread only, one mig per daemon. */
static unsigned char node_seen[MEMBER_IDS];
static double node_down_at[MEMBER_IDS];	    /* mig_now_ms() when first seen down */
static int64_t node_down_since[MEMBER_IDS]; /* membership's since_ms of that down period */

/* Feed ev (about node id) to every live machine that has id as a party. */
static void feed_node(struct mig *m, int id, enum migproto_ev type)
{
	unsigned bit;

	for (int j = 0; j < MIG_MAX_MACH; j++) {
		struct mach *k = &m->mach[j];
		if (!k->used || migproto_final(&k->p) || id == k->p.self ||
		    (id != k->p.src && id != k->p.dst && id != k->p.home))
			continue;
		bit = 1u << (id == k->p.src ? 0 : id == k->p.dst ? 1 : 2);
		if (type == MIGPROTO_EV_NODE_DEAD) {
			if (k->dead_fed & bit)
				continue;
			k->dead_fed |= bit;
		}
		struct migproto_event ev = {.type = type, .node = (uint16_t)id};
		log_warn("migration %llx: node %d %s", (unsigned long long)k->p.mig_id, id,
			 type == MIGPROTO_EV_NODE_DEAD	 ? "is dead (down for too long)"
			 : type == MIGPROTO_EV_LINK_DOWN ? "is down"
							 : "is up again");
		mig_step(m, k, &ev);
	}
}

/* Peers that came back as a new incarnation (cluster.c, from their HELLO: crashed or
 * rebooted, not a restart of their daemon alone): what they held died, however quickly they
 * came back, so this does not wait for membership's 2 x down_ms. A live machine that began
 * before that gets NODE_DEAD for the node (migproto_reborn); a process of ours that ran there
 * from before that is reported lost. When it got there: the start of the newest machine that
 * moved it there while one is kept, else the previous turn (a P_REMOTE keeps these turns
 * going every second). */
static int64_t reborn_turn; /* cluster_mono_ms() of the previous turn, 0 before the first */

static void reborn_check(struct mig *m)
{
	static struct cluster_peer peers[MEMBER_IDS];
	size_t n = cluster_peers(m->c, peers, MEMBER_IDS);
	int64_t now = cluster_mono_ms();

	for (size_t i = 0; i < n; i++) {
		int id = peers[i].id;
		int64_t at = peers[i].reborn_ms;
		if (at <= 0 || id <= 0 || id >= MEMBER_IDS)
			continue;
		for (int j = 0; j < MIG_MAX_MACH; j++) {
			struct mach *k = &m->mach[j];
			unsigned bit = 1u << (id == k->p.src ? 0 : id == k->p.dst ? 1 : 2);
			if (!k->used || (k->dead_fed & bit) ||
			    !migproto_reborn(&k->p, (uint16_t)id, (uint64_t)at))
				continue;
			k->dead_fed |= bit;
			log_warn("migration %llx: node %d came back as a new incarnation: dead",
				 (unsigned long long)k->p.mig_id, id);
			struct migproto_event ev = {.type = MIGPROTO_EV_NODE_DEAD,
						    .node = (uint16_t)id};
			mig_step(m, k, &ev);
		}
		for (int j = 0; j < MIG_MAX_PROCS; j++) {
			struct proc *p = &m->procs[j];
			int64_t since = -1;
			char text[160];
			if (!p->used || p->home != m->self || p->kind != P_REMOTE || p->mig ||
			    p->where != id)
				continue;
			for (int q = 0; q < MIG_MAX_MACH; q++) {
				const struct mach *k = &m->mach[q];
				if (k->used && k->p.gpid == p->gpid && k->p.dst == id &&
				    (int64_t)k->p.born > since)
					since = (int64_t)k->p.born;
			}
			if (at < (since >= 0 ? since : reborn_turn))
				continue;
			snprintf(text, sizeof(text),
				 "the process was lost: node %d, which ran it, %s", id,
				 "crashed or restarted (a new incarnation)");
			mig_deputy_exit(m, p, SIGKILL, text);
		}
	}
	reborn_turn = now;
}

void mig_proto_nodes(struct mig *m)
{
	char sock[PATH_MAX + 16], err[256];
	struct client_node *v = NULL;
	struct client *cl;
	size_t n = 0;

	reborn_check(m);
	snprintf(sock, sizeof(sock), "%s/%s", m->cfg->run_dir, CTL_SOCK_NAME);
	if (client_open(&cl, sock, err, sizeof(err)) < 0)
		return;
	int r = client_nodes(cl, &v, &n);
	client_close(cl);
	if (r < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		int id = v[i].id;
		if (v[i].self || id <= 0 || id >= MEMBER_IDS)
			continue;
		if (strcmp(v[i].state, "down")) {
			if (!strcmp(v[i].state, "up") && node_seen[id]) {
				int was = node_seen[id];
				node_seen[id] = 0;
				if (was == 1)
					feed_node(m, id, MIGPROTO_EV_LINK_UP);
			}
			continue;
		}
		/* Polls stop while nothing moves: a node seen down (or dead) back then and down
		 * again now, with the "up" in between unseen, starts a new down period. */
		if (node_seen[id] && v[i].since_ms &&
		    llabs(v[i].since_ms - node_down_since[id]) > 500) /* (wall vs mono jitter) */
			node_seen[id] = 0;
		if (!node_seen[id]) {
			node_seen[id] = 1;
			node_down_at[id] = mig_now_ms();
			/* membership's own time when known: it saw the silence first */
			if (v[i].since_ms && v[i].since_ms <= cluster_wall_ms())
				node_down_at[id] -= (double)(cluster_wall_ms() - v[i].since_ms);
			node_down_since[id] = v[i].since_ms;
			feed_node(m, id, MIGPROTO_EV_LINK_DOWN);
		}
		if (mig_now_ms() - node_down_at[id] < (double)m->cfg->down_ms)
			continue;
		if (node_seen[id] != 2) {
			node_seen[id] = 2;
			feed_node(m, id, MIGPROTO_EV_NODE_DEAD);
		}
		/* every turn while it is dead: a move that was in flight may have just ended */
		for (int j = 0; j < MIG_MAX_PROCS; j++) {
			struct proc *p = &m->procs[j];
			char text[160];
			if (!p->used || p->home != m->self || p->kind != P_REMOTE || p->mig ||
			    p->where != id)
				continue;
			snprintf(text, sizeof(text),
				 "the process was lost: node %d, which ran it, is down", id);
			mig_deputy_exit(m, p, SIGKILL, text);
		}
	}
	free(v);
}

void mig_proto_timers(struct mig *m, int *tmo_ms)
{
	uint64_t now = now_ms();

	for (int i = 0; i < MIG_MAX_MACH; i++) {
		struct mach *k = &m->mach[i];
		if (!k->used)
			continue;
		uint64_t d = migproto_deadline(&k->p);
		if (d && d <= now) {
			struct migproto_event ev = {.type = MIGPROTO_EV_TIMER};
			mig_step(m, k, &ev);
			d = migproto_deadline(&k->p);
		}
		if (mach_idle(k)) { /* kept a minute to answer late questions (QUERY, READY) */
			if (k->final_at <= 0)
				k->final_at = mig_now_ms();
			if (mig_now_ms() - k->final_at >= MIG_KEEP_FINAL_MS)
				k->used = 0;
			continue;
		}
		if (d && d > now && (int64_t)(d - now) < *tmo_ms)
			*tmo_ms = (int)(d - now);
	}
}

void mig_proto_free(struct mig *m)
{
	for (int i = 0; i < MIG_MAX_MACH; i++) {
		struct mach *k = &m->mach[i];
		if (k->used && k->th_started) {
			k->cancel = 1;
			pthread_join(k->th, NULL);
		}
		if (k->used && k->dctl >= 0) { /* stopping: EOF, the child decides (mig_stream.c) */
			close(k->dctl);
			k->dctl = -1;
		}
		k->used = 0;
	}
	for (int i = 0; i < MIG_MAX_SINKS; i++)
		if (m->sinks[i].fd >= 0) /* its writer thread closes the pipe */
			mig_sink_close(m, m->sinks[i].mig_id);
}
