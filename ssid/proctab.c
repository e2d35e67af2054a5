/*
 * proctab.c - the cluster process table in the daemon (proctab.h).
 *
 * Owns the two caches and the per-peer bookkeeping described in the header. Assumes peers run
 * the same table format (PROCTAB_RECORDS_FMT); a peer whose table does not decode, or claims
 * another node's id, name or processes, is left out of the view like a silent one.
 * A process moved here by the migration module (mig.h) is listed under its original gpid
 * (home = the node it was born on, node = this one, pid = its pid here), not under the gpid
 * its local pid would give; its home lists it only through the node holding it.
 * Locks: selflock over the own-table cache (link threads and the main thread); everything else
 * (cluster cache, last[], skip_until[]) is touched by the main thread only.
 */
#include "ssid/proctab.h"
#include "ssid/log.h"
#include "ssid/member.h"
#include "ssid/mig.h"
#include "ssid/ptable.h"
#include "ssid/ssierr.h"
#include "ssid/wire.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct proctab {
	struct cluster *c;
	const struct config *cfg;
	struct pending *pend;
	char procdir[256];
	pthread_mutex_t selflock;
	struct buf self_enc;			      /* selflock: this node's encoded table */
	int64_t self_mono;			      /* selflock: when it was read, 0 = never */
	struct buf all_enc;			      /* main thread: the assembled cluster table */
	int64_t all_mono;			      /* main thread: when assembled, 0 = never */
	struct ptable_node last[PTABLE_NODE_MAX + 1]; /* main: last record per peer (id 0: none) */
	int64_t skip_until[PTABLE_NODE_MAX + 1];      /* main: no request before this (mono ms) */
};

int proctab_new(struct proctab **out, struct cluster *c, const struct config *cfg,
		struct pending *pend, const char *procdir)
{
	struct proctab *pt = calloc(1, sizeof(*pt));

	*out = NULL;
	if (!pt)
		return -ENOMEM;
	pt->c = c;
	pt->cfg = cfg;
	pt->pend = pend;
	snprintf(pt->procdir, sizeof(pt->procdir), "%s", procdir ? procdir : "/proc");
	pthread_mutex_init(&pt->selflock, NULL);
	buf_init(&pt->self_enc);
	buf_init(&pt->all_enc);
	*out = pt;
	return 0;
}

void proctab_free(struct proctab *pt)
{
	if (!pt)
		return;
	for (int i = 0; i <= PTABLE_NODE_MAX; i++)
		free(pt->last[i].cpu);
	buf_free(&pt->self_enc);
	buf_free(&pt->all_enc);
	pthread_mutex_destroy(&pt->selflock);
	free(pt);
}

/* Give processes moved here their gpid (mig.h); drop a record whose gpid would be shown twice. */
static void remap_moved(struct ptable *t, int self)
{
	struct mig_entry e[256];
	size_t n = mig_entries(mig_current(), e, sizeof(e) / sizeof(e[0]));
	int changed = 0;

	for (size_t i = 0; i < n; i++) {
		if (e[i].child || e[i].node != self || e[i].pid <= 0)
			continue;
		for (uint32_t j = 0; j < t->nprocs; j++) {
			struct ptable_proc *p = &t->procs[j];
			if (p->pid == (uint32_t)e[i].pid && p->node == self) {
				p->gpid = e[i].gpid;
				p->home = (uint16_t)e[i].home;
				changed = 1;
			} else if (p->gpid == e[i].gpid) {
				p->gpid = 0; /* a local pid that collides with the moved gpid */
				changed = 1;
			}
		}
	}
	if (!changed)
		return;
	uint32_t k = 0;
	for (uint32_t j = 0; j < t->nprocs; j++) {
		if (t->procs[j].gpid) {
			t->procs[k++] = t->procs[j];
		} else {
			free(t->procs[j].cmdline);
			free(t->procs[j].cgroup);
		}
	}
	t->nprocs = k;
	ptable_sort(t);
}

/* Append this node's encoded table to out, reading /proc if the cached one is too old. */
static int self_encode(struct proctab *pt, struct buf *out)
{
	int64_t now = cluster_mono_ms();
	int r = 0;

	pthread_mutex_lock(&pt->selflock);
	if (!pt->self_mono || now - pt->self_mono >= PROCTAB_SELF_CACHE_MS) {
		struct ptable *t = NULL;
		int64_t start = cluster_mono_ms();

		buf_reset(&pt->self_enc);
		pt->self_mono = 0;
		r = ptable_read_self(&t, pt->procdir, (unsigned)pt->cfg->id, pt->cfg->name);
		if (r == 0 && !strcmp(pt->procdir, "/proc"))
			remap_moved(t, pt->cfg->id);
		if (r == 0)
			r = ptable_encode(t, &pt->self_enc);
		ptable_free(t);
		if (r == 0)
			pt->self_mono = start; /* as old as the start of the pass */
		else
			buf_reset(&pt->self_enc);
	}
	if (r == 0)
		r = buf_put(out, buf_rptr(&pt->self_enc), buf_avail(&pt->self_enc));
	pthread_mutex_unlock(&pt->selflock);
	return r;
}

/* PROC_TABLE_REQ from a peer (link thread): our table in frames of at most WIRE_MAX_CHUNK. */
static int on_req(void *ctx, int peer, const struct wire_msg *m, struct buf *reply)
{
	struct proctab *pt = ctx;
	struct wire_msg out;
	struct buf enc;
	size_t off = 0, len;
	int r;

	buf_init(&enc);
	buf_set_max(&enc, PTABLE_ENCODED_MAX);
	r = self_encode(pt, &enc);
	if (r < 0) {
		log_warn("table for node %d: reading %s: %s", peer, pt->procdir, ssierr_str(r));
		buf_reset(&enc); /* an empty reply: the asker treats it as a failure */
	}
	len = buf_avail(&enc);
	do {
		size_t n = len - off > WIRE_MAX_CHUNK ? WIRE_MAX_CHUNK : len - off;

		wire_msg_init(&out, WIRE_PROC_TABLE_REPLY, m->reqid);
		out.u.proc_reply.node = (uint16_t)pt->cfg->id;
		out.u.proc_reply.more = off + n < len;
		out.u.proc_reply.records_fmt = PROCTAB_RECORDS_FMT;
		out.u.proc_reply.records = n ? buf_rptr(&enc) + off : NULL;
		out.u.proc_reply.records_len = n;
		r = wire_encode(reply, &out);
		off += n;
	} while (r == 0 && off < len);
	buf_free(&enc);
	if (r < 0)
		log_warn("table for node %d: encoding the reply: %s", peer, ssierr_str(r));
	return 0;
}

/* PROC_TABLE_REPLY (link thread): hand the bytes to the waiting request. */
static int on_reply(void *ctx, int peer, const struct wire_msg *m, struct buf *reply)
{
	struct proctab *pt = ctx;
	const struct wire_proc_reply *pr = &m->u.proc_reply;

	(void)reply;
	if (pr->records_fmt != PROCTAB_RECORDS_FMT) {
		pending_fail(pt->pend, m->reqid, peer, SSI_E_VERSION);
		return 0;
	}
	/* A reply nobody waits for any more (timed out) is dropped quietly. */
	pending_deliver(pt->pend, m->reqid, peer, pr->records, pr->records_len, !pr->more, 0);
	return 0;
}

/* ERROR in answer to our PROC_TABLE_REQ (e.g. an older daemon): fail the request now. */
static int on_error(void *ctx, int peer, const struct wire_msg *m, struct buf *reply)
{
	struct proctab *pt = ctx;
	int code = m->u.error.code < 0 ? m->u.error.code : -EPROTO;

	(void)reply;
	if (pending_fail(pt->pend, m->reqid, peer, code) == 0)
		log_debug("node %d refused the process table request: %s", peer, ssierr_str(code));
	return 0;
}

/* Copy node record src into a new node of t (deep copy of the cpu array), with state. */
static int add_node_copy(struct ptable *t, const struct ptable_node *src, int state)
{
	struct ptable_node *n;

	if (ptable_node_by_id(t, src->id) || ptable_node_by_name(t, src->name))
		return -EEXIST;
	n = ptable_add_node(t);
	if (!n)
		return -ENOMEM;
	*n = *src;
	n->cpu = NULL;
	if (src->cpu && src->cpus) {
		n->cpu = malloc((size_t)src->cpus * PTABLE_CPU_FIELDS * sizeof(uint64_t));
		if (!n->cpu) {
			n->cpus = 0;
			return -ENOMEM;
		}
		memcpy(n->cpu, src->cpu, (size_t)src->cpus * PTABLE_CPU_FIELDS * sizeof(uint64_t));
	} else {
		n->cpus = 0;
	}
	n->state = (uint8_t)state;
	return 0;
}

/* Remember peer's node record (its figures stay visible when it goes down). */
static void remember(struct proctab *pt, const struct ptable_node *n)
{
	struct ptable_node *l = &pt->last[n->id];
	uint64_t *cpu = NULL;

	if (n->cpu && n->cpus) {
		cpu = malloc((size_t)n->cpus * PTABLE_CPU_FIELDS * sizeof(uint64_t));
		if (cpu)
			memcpy(cpu, n->cpu, (size_t)n->cpus * PTABLE_CPU_FIELDS * sizeof(uint64_t));
	}
	free(l->cpu);
	*l = *n;
	l->cpu = cpu;
	if (!cpu)
		l->cpus = 0;
}

/* A peer's table is acceptable: exactly its own node record, only processes running there. */
static int peer_table_ok(const struct ptable *t, int peer)
{
	if (t->nnodes != 1 || t->nodes[0].id != peer)
		return 0;
	for (uint32_t i = 0; i < t->nprocs; i++)
		if (t->procs[i].node != peer)
			return 0;
	return 1;
}

/* A process that just moved may be in two tables read at slightly different times (the
 * node it left, cached up to PROCTAB_SELF_CACHE_MS, and the node it runs on now): keep the
 * record already in t, so the move never costs the whole peer table (ptable_merge refuses
 * a gpid twice). t is sorted. */
static void drop_dups(struct ptable *t, struct ptable *add)
{
	uint32_t k = 0;

	for (uint32_t j = 0; j < add->nprocs; j++) {
		if (!ptable_find(t, add->procs[j].gpid)) {
			add->procs[k++] = add->procs[j];
			continue;
		}
		free(add->procs[j].cmdline);
		free(add->procs[j].cgroup);
	}
	add->nprocs = k;
}

/* Merge peer's reply r into t. 0, or negative (the peer is then shown without processes). */
static int merge_peer(struct proctab *pt, struct ptable *t, struct pending_req *r, const char *name)
{
	struct ptable *pt2 = NULL;
	int e;

	if (r->err)
		return r->err;
	e = ptable_decode(&r->data, &pt2);
	if (e == 0 && !peer_table_ok(pt2, r->peer))
		e = SSI_E_CORRUPT;
	if (e == 0) {
		pt2->nodes[0].state = PTABLE_NODE_UP;
		remember(pt, &pt2->nodes[0]);
		drop_dups(t, pt2);
		e = ptable_merge(t, pt2);
	}
	if (e < 0)
		log_warn("process table of node %d (%s) left out: %s", r->peer, name,
			 ssierr_str(e));
	ptable_free(pt2);
	return e;
}

/* Node record for a peer whose processes are not in the view. */
static void add_absent(struct proctab *pt, struct ptable *t, const struct cluster_peer *p,
		       int state)
{
	struct ptable_node blank;

	if (pt->last[p->id].id == p->id) {
		add_node_copy(t, &pt->last[p->id], state);
		return;
	}
	if (!p->name[0])
		return; /* never heard of by name: nothing to show */
	memset(&blank, 0, sizeof(blank));
	blank.id = (uint16_t)p->id;
	snprintf(blank.name, sizeof(blank.name), "%s", p->name);
	add_node_copy(t, &blank, state);
}

/* Assemble the table: ask the peers, read our own meanwhile, wait, merge. */
static int assemble(struct proctab *pt, struct buf *out)
{
	struct cluster_peer *peers = calloc(PTABLE_NODE_MAX, sizeof(*peers));
	struct pending_req *reqs = calloc(PTABLE_NODE_MAX, sizeof(*reqs));
	struct pending_req **asked = calloc(PTABLE_NODE_MAX, sizeof(*asked));
	struct ptable *t = NULL;
	struct buf self;
	size_t np, na = 0;
	int64_t now = cluster_mono_ms(), t_self, t_wait;
	int r = -ENOMEM;

	buf_init(&self);
	if (!peers || !reqs || !asked)
		goto out;
	np = cluster_peers(pt->c, peers, PTABLE_NODE_MAX);
	for (size_t i = 0; i < np; i++) {
		struct wire_msg m;

		if (peers[i].state != MEMBER_UP || now < pt->skip_until[peers[i].id])
			continue;
		reqs[i].max = PTABLE_ENCODED_MAX;
		pending_add(pt->pend, &reqs[i], peers[i].id);
		wire_msg_init(&m, WIRE_PROC_TABLE_REQ, reqs[i].reqid);
		m.u.proc_req.origin_uid = 0;
		if (cluster_send(pt->c, peers[i].id, &m) < 0) {
			pending_del(pt->pend, &reqs[i]);
			buf_free(&reqs[i].data);
			reqs[i].reqid = 0;
			continue;
		}
		asked[na++] = &reqs[i];
	}
	buf_set_max(&self, PTABLE_ENCODED_MAX);
	r = self_encode(pt, &self);
	if (r == 0)
		r = ptable_decode(&self, &t);
	t_self = cluster_mono_ms();
	if (na)
		pending_wait(pt->pend, asked, na, now + PROCTAB_PEER_TIMEOUT_MS);
	t_wait = cluster_mono_ms();
	for (size_t i = 0; i < np; i++) {
		const struct cluster_peer *p = &peers[i];
		/* Up but without a table (silent, refused, bad): suspect, like a silent one. */
		int state = p->state == MEMBER_UP || p->state == MEMBER_SUSPECT
				    ? PTABLE_NODE_SUSPECT
				    : PTABLE_NODE_DOWN;
		int merged = 0;

		if (reqs[i].reqid) {
			pending_del(pt->pend, &reqs[i]); /* no more delivery; data stays */
			if (!reqs[i].done) {
				pt->skip_until[p->id] = cluster_mono_ms() + PROCTAB_SKIP_MS;
				log_info("node %d (%s) sent no process table within %d ms; "
					 "left out for %d ms",
					 p->id, p->name, PROCTAB_PEER_TIMEOUT_MS, PROCTAB_SKIP_MS);
			} else if (t) {
				merged = merge_peer(pt, t, &reqs[i], p->name) == 0;
			}
		}
		if (!merged && t)
			add_absent(pt, t, p, state);
		buf_free(&reqs[i].data);
	}
	if (r == 0)
		r = ptable_encode(t, out);
	log_debug("cluster table: %zu peers asked; own table %lld ms, waiting %lld ms, merge and "
		  "encode %lld ms, %zu bytes",
		  na, (long long)(t_self - now), (long long)(t_wait - t_self),
		  (long long)(cluster_mono_ms() - t_wait), buf_avail(out));
out:
	ptable_free(t);
	buf_free(&self);
	free(peers);
	free(reqs);
	free(asked);
	return r;
}

int proctab_cluster_encode(struct proctab *pt, struct buf *out)
{
	int64_t now = cluster_mono_ms();

	if (!pt->all_mono || now - pt->all_mono >= PROCTAB_CACHE_MS) {
		int r;

		buf_reset(&pt->all_enc);
		pt->all_mono = 0;
		r = assemble(pt, &pt->all_enc);
		if (r < 0) {
			buf_reset(&pt->all_enc);
			return r;
		}
		pt->all_mono = now; /* the table is as old as the moment we started asking */
	}
	return buf_put(out, buf_rptr(&pt->all_enc), buf_avail(&pt->all_enc));
}

static int ctl_table(void *ctx, const struct ctl_caller *who, struct buf *req, struct buf *reply)
{
	struct proctab *pt = ctx;
	int r;

	(void)who;
	(void)req;
	r = proctab_cluster_encode(pt, reply);
	if (r < 0)
		log_warn("cluster process table: %s", ssierr_str(r));
	return r;
}

int proctab_register(struct proctab *pt, struct ctl_server *s)
{
	int r = cluster_on_msg(pt->c, WIRE_PROC_TABLE_REQ, on_req, pt);

	if (r == 0)
		r = cluster_on_msg(pt->c, WIRE_PROC_TABLE_REPLY, on_reply, pt);
	if (r == 0)
		r = cluster_on_error(pt->c, WIRE_PROC_TABLE_REQ, on_error, pt);
	if (r == 0)
		r = ctl_server_add(s, PTABLE_CTL_TYPE, 0, ctl_table, pt);
	return r;
}
