/*
 * gtree.c - the /gproc path table and one generator per file.
 *
 * Owns: which names exist, their kind/mode/owner, and the mapping of each file to a ptable
 * renderer. Assumes the snapshot is sorted by gpid. The caller's own local pid (procps'
 * look_up_our_self) is read from this node's /proc at resolve time, so a process that started
 * after the snapshot still finds itself; it is never listed by readdir.
 * Also owns the versions of per-process files (gtree_prepare): kept with each snapshot as
 * its aux data, one record per process in the table's order.
 */
#include "fuse/gtree.h"
#include "ssid/ssierr.h"

#include <errno.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAXC 3

static int rctx(const struct gtree_ref *ref, struct ptable_rctx *r)
{
	ptable_rctx_init(r, ref->snap->t, gsrc_node_id(ref->src));
	return 0;
}

#define GLOBAL_GEN(name, fn)                                                                       \
	static int name(const struct gtree_ref *ref, struct buf *out)                              \
	{                                                                                          \
		struct ptable_rctx r;                                                              \
		rctx(ref, &r);                                                                     \
		return fn(&r, out);                                                                \
	}
GLOBAL_GEN(gen_gstat, ptable_render_gstat)
GLOBAL_GEN(gen_meminfo, ptable_render_meminfo)
GLOBAL_GEN(gen_uptime, ptable_render_uptime)
GLOBAL_GEN(gen_loadavg, ptable_render_loadavg)
GLOBAL_GEN(gen_cpuinfo, ptable_render_cpuinfo)
GLOBAL_GEN(gen_pid_max, ptable_render_pid_max)

#define PROC_GEN(name, fn)                                                                         \
	static int name(const struct gtree_ref *ref, struct buf *out)                              \
	{                                                                                          \
		struct ptable_rctx r;                                                              \
		rctx(ref, &r);                                                                     \
		return fn(&r, ref->proc, out);                                                     \
	}
PROC_GEN(gen_stat, ptable_render_stat)
PROC_GEN(gen_status, ptable_render_status)
PROC_GEN(gen_statm, ptable_render_statm)
PROC_GEN(gen_cmdline, ptable_render_cmdline)
PROC_GEN(gen_cgroup, ptable_render_cgroup)

#define NODE_GEN(name, fn)                                                                         \
	static int name(const struct gtree_ref *ref, struct buf *out)                              \
	{                                                                                          \
		return fn(ref->node, out);                                                         \
	}
NODE_GEN(gen_node_load, ptable_render_node_load)
NODE_GEN(gen_node_cpus, ptable_render_node_cpus)
NODE_GEN(gen_node_memory, ptable_render_node_memory)
NODE_GEN(gen_node_state, ptable_render_node_state)

static int put_node_name(const struct gtree_ref *ref, unsigned id, struct buf *out)
{
	const struct ptable_node *n = ptable_node_by_id(ref->snap->t, id);

	return n ? ptable_printf(out, "%s\n", n->name) : ptable_printf(out, "%u\n", id);
}

static int gen_where(const struct gtree_ref *ref, struct buf *out)
{
	return put_node_name(ref, ref->proc->node, out);
}

static int gen_home(const struct gtree_ref *ref, struct buf *out)
{
	return put_node_name(ref, ref->proc->home, out);
}

/* Thread group of thread tid (FUSE reports the calling thread); tid itself if unknown. */
static uint32_t tgid_of(const struct gsrc *src, uint32_t tid)
{
	char path[300], b[2048];
	uint32_t tgid = tid;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%" PRIu32 "/status", gsrc_procdir(src), tid);
	f = fopen(path, "re");
	if (!f)
		return tid;
	while (fgets(b, sizeof(b), f))
		if (sscanf(b, "Tgid: %" SCNu32, &tgid) == 1)
			break;
	fclose(f);
	return tgid;
}

static int gen_self(const struct gtree_ref *ref, struct buf *out)
{
	if (!ref->caller)
		return -ENOENT;
	return ptable_printf(out, "%" PRIu32, tgid_of(ref->src, ref->caller));
}

#define D 0555
#define R 0444
static const struct gtree_entry table[] = {
	{{NULL}, 0, GTREE_DIR, D, NULL, 0},
	{{"stat"}, 1, GTREE_REG, R, gen_gstat, 0},
	{{"meminfo"}, 1, GTREE_REG, R, gen_meminfo, 0},
	{{"uptime"}, 1, GTREE_REG, R, gen_uptime, 0},
	{{"loadavg"}, 1, GTREE_REG, R, gen_loadavg, 0},
	{{"cpuinfo"}, 1, GTREE_REG, R, gen_cpuinfo, 0},
	{{"self"}, 1, GTREE_LNK, 0777, gen_self, 0},
	{{"sys"}, 1, GTREE_DIR, D, NULL, 0},
	{{"sys", "kernel"}, 2, GTREE_DIR, D, NULL, 0},
	{{"sys", "kernel", "pid_max"}, 3, GTREE_REG, R, gen_pid_max, 0},
	{{"nodes"}, 1, GTREE_DIR, D, NULL, 0},
	{{"nodes", "%n"}, 2, GTREE_DIR, D, NULL, 0},
	{{"nodes", "%n", "load"}, 3, GTREE_REG, R, gen_node_load, 0},
	{{"nodes", "%n", "cpus"}, 3, GTREE_REG, R, gen_node_cpus, 0},
	{{"nodes", "%n", "memory"}, 3, GTREE_REG, R, gen_node_memory, 0},
	{{"nodes", "%n", "state"}, 3, GTREE_REG, R, gen_node_state, 0},
	{{"%p"}, 1, GTREE_DIR, D, NULL, 0},
	{{"%p", "stat"}, 2, GTREE_REG, R, gen_stat, 1},
	{{"%p", "status"}, 2, GTREE_REG, R, gen_status, 2},
	{{"%p", "statm"}, 2, GTREE_REG, R, gen_statm, 3},
	{{"%p", "cmdline"}, 2, GTREE_REG, R, gen_cmdline, 4},
	{{"%p", "cgroup"}, 2, GTREE_REG, R, gen_cgroup, 5},
	{{"%p", "node"}, 2, GTREE_REG, R, gen_where, 6},
	{{"%p", "home"}, 2, GTREE_REG, R, gen_home, 7},
};
#undef D
#undef R
#define NENTRIES (sizeof(table) / sizeof(table[0]))

#define LOCAL_BIT 0x80000000u /* id bit of inodes of the caller's own local pid */
#define IDX_BITS  5	      /* entry index + 1 at bits 32..36 */
#define GEN_SHIFT (32 + IDX_BITS)
#define GEN_MASK  GTREE_GEN_MAX
_Static_assert(GTREE_GEN_MAX == (1ull << (64 - GEN_SHIFT)) - 1, "generation bits");

/* ---- versions of per-process files */

struct fver {
	uint64_t hash; /* FNV-1a of the content and the owner */
	uint32_t len;  /* content length */
	uint32_t gen;  /* snapshot number in which this content appeared */
};
struct pver {
	struct fver f[GTREE_NVER];
	uint64_t dir; /* hash of the directory's attributes (owner, start time) */
};
struct vmeta {
	uint64_t ctx; /* hash of what rendering depends on besides the record */
	uint32_t n;   /* = the table's nprocs */
	struct pver *v;
};

static void vmeta_free(void *p)
{
	struct vmeta *m = p;

	if (m)
		free(m->v);
	free(m);
}

static const struct vmeta *vmeta_of(const struct gsnap *g)
{
	return g && g->aux_free == vmeta_free ? g->aux : NULL;
}

#define FNV_OFF 14695981039346656037ull
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 1099511628211ull;
	return h;
}

/* The rendering context: node ids, names and boot times, the local node, Hz. */
static uint64_t ctx_hash(const struct ptable_rctx *r)
{
	uint64_t h = fnv(FNV_OFF, &r->local_node, sizeof(r->local_node));

	h = fnv(h, &r->btime_cluster, sizeof(r->btime_cluster));
	h = fnv(h, &r->hz, sizeof(r->hz));
	for (uint32_t i = 0; i < r->t->nnodes; i++) {
		const struct ptable_node *n = &r->t->nodes[i];
		h = fnv(h, &n->id, sizeof(n->id));
		h = fnv(h, &n->btime, sizeof(n->btime));
		h = fnv(h, n->name, strlen(n->name) + 1);
	}
	return h;
}

/* Same record (the pointed-to cmdline and cgroup compared by content)? A false "no" only
 * costs a render. */
static int rec_equal(const struct ptable_proc *a, const struct ptable_proc *b)
{
	if (memcmp(a, b, offsetof(struct ptable_proc, cmdline)) != 0 ||
	    a->cmdline_len != b->cmdline_len || !a->cmdline != !b->cmdline ||
	    !a->cgroup != !b->cgroup)
		return 0;
	if (a->cmdline && memcmp(a->cmdline, b->cmdline, a->cmdline_len) != 0)
		return 0;
	return !a->cgroup || strcmp(a->cgroup, b->cgroup) == 0;
}

void gtree_prepare(struct gsnap *snap, const struct gsnap *prev, uint32_t gen_no,
		   void (*changed)(void *arg, uint32_t gpid, const char *name), void *arg)
{
	const struct ptable *t = snap->t, *pt = prev ? prev->t : NULL;
	const struct vmeta *pm = vmeta_of(prev);
	struct vmeta *m = calloc(1, sizeof(*m));
	struct ptable_rctx r;
	struct buf b;
	uint32_t j = 0;

	if (!m || !(m->v = calloc(t->nprocs ? t->nprocs : 1, sizeof(*m->v)))) {
		free(m);
		return;
	}
	m->n = t->nprocs;
	ptable_rctx_init(&r, t, gsrc_node_id(snap->src));
	m->ctx = ctx_hash(&r);
	if (pm && pm->n != pt->nprocs)
		pm = NULL;
	buf_init(&b);
	for (uint32_t i = 0; i < t->nprocs; i++) {
		const struct ptable_proc *p = &t->procs[i];
		const struct pver *old = NULL;
		struct pver *v = &m->v[i];
		while (pm && j < pt->nprocs && pt->procs[j].gpid < p->gpid)
			j++;
		if (pm && j < pt->nprocs && pt->procs[j].gpid == p->gpid)
			old = &pm->v[j];
		if (old && pm->ctx == m->ctx && rec_equal(p, &pt->procs[j])) {
			*v = *old;
			continue;
		}
		uint64_t st = ptable_starttime(&r, p);
		v->dir = fnv(fnv(fnv(FNV_OFF, &p->uid[1], 4), &p->gid[1], 4), &st, sizeof(st));
		if (old && old->dir != v->dir && changed)
			changed(arg, p->gpid, NULL);
		struct gtree_ref ref = {.src = snap->src, .snap = snap, .proc = p};
		for (size_t k = 0; k < NENTRIES; k++) {
			const struct gtree_entry *e = &table[k];
			if (!e->vslot)
				continue;
			struct fver *f = &v->f[e->vslot - 1];
			ref.e = e;
			buf_reset(&b);
			if (e->gen(&ref, &b) < 0) {
				/* Cannot version it: the whole snapshot is served unversioned. */
				buf_free(&b);
				vmeta_free(m);
				return;
			}
			f->len = (uint32_t)b.len;
			f->hash = fnv(fnv(fnv(FNV_OFF, b.d, b.len), &p->uid[1], 4), &p->gid[1], 4);
			if (old && old->f[e->vslot - 1].hash == f->hash &&
			    old->f[e->vslot - 1].len == f->len) {
				f->gen = old->f[e->vslot - 1].gen;
			} else {
				f->gen = gen_no & GEN_MASK;
				if (old && changed)
					changed(arg, p->gpid, e->c[1]);
			}
		}
	}
	buf_free(&b);
	snap->aux = m;
	snap->aux_free = vmeta_free;
}

/* The version record of table process p in ref's snapshot, or NULL. */
static const struct fver *fver_of(const struct gtree_ref *ref, const struct gtree_entry *e,
				  const struct ptable_proc *p)
{
	const struct vmeta *m = vmeta_of(ref->snap);

	if (!m || !e->vslot || !p || p == &ref->local)
		return NULL;
	size_t i = (size_t)(p - ref->snap->t->procs);
	return i < m->n ? &m->v[i].f[e->vslot - 1] : NULL;
}

uint32_t gtree_ino_gen(uint64_t ino)
{
	return (uint32_t)(ino >> GEN_SHIFT);
}

uint64_t gtree_proc_ino(uint32_t gpid)
{
	for (size_t i = 0; i < NENTRIES; i++)
		if (table[i].n == 1 && strcmp(table[i].c[0], "%p") == 0)
			return (uint64_t)(i + 1) << 32 | gpid;
	return 0;
}

/* "123" -> 123; 0 unless 1..2^31-1 in canonical decimal (no sign, no leading zero). */
static uint32_t parse_pid(const char *s)
{
	uint64_t v = 0;
	size_t i;

	if (s[0] < '1' || s[0] > '9')
		return 0;
	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= 10)
			return 0;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	return v <= 0x7fffffffu ? (uint32_t)v : 0;
}

/* Bind a %p component: a gpid in the snapshot, or the caller's own local pid. */
static int bind_pid(struct gtree_ref *ref, const char *name)
{
	uint32_t v = parse_pid(name);

	if (v == 0)
		return -ENOENT;
	if (ref->proc)
		return ref->proc->gpid == v || (ref->proc == &ref->local && ref->local.pid == v)
			       ? 0
			       : -ENOENT;
	if (v > PTABLE_PID_MASK) {
		ref->proc = ptable_find(ref->snap->t, v);
		return ref->proc ? 0 : -ENOENT;
	}
	/* A local pid: only the caller's own (thread or thread group) resolves. */
	if (!ref->caller || (v != ref->caller && v != tgid_of(ref->src, ref->caller)))
		return -ENOENT;
	if (gsrc_read_local_pid(ref->src, v, &ref->local) < 0)
		return -ENOENT;
	ref->proc = &ref->local;
	return 0;
}

static int match(struct gtree_ref *ref, const struct gtree_entry *e, char **comp, int n)
{
	if (e->n != n)
		return -ENOENT;
	for (int i = 0; i < n; i++) {
		if (strcmp(e->c[i], "%p") == 0) {
			if (bind_pid(ref, comp[i]) < 0)
				return -ENOENT;
		} else if (strcmp(e->c[i], "%n") == 0) {
			ref->node = ptable_node_by_name(ref->snap->t, comp[i]);
			if (!ref->node)
				return -ENOENT;
		} else if (strcmp(e->c[i], comp[i]) != 0) {
			return -ENOENT;
		}
	}
	return 0;
}

int gtree_resolve(struct gsrc *src, const char *path, uint32_t caller, struct gtree_ref *ref)
{
	char copy[256], *comp[MAXC + 1], *save = NULL;
	int n = 0, r;

	memset(ref, 0, sizeof(*ref));
	if (strlen(path) >= sizeof(copy))
		return -ENOENT;
	strcpy(copy, path);
	for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (n == MAXC)
			return -ENOENT;
		comp[n++] = c;
	}
	ref->src = src;
	ref->caller = caller;
	r = gsrc_get(src, &ref->snap);
	if (r < 0)
		return r;
	for (size_t i = 0; i < NENTRIES; i++) {
		/* Cheap prefilter on the literal first component before binding anything. */
		const struct gtree_entry *e = &table[i];
		if (e->n != n || (n && e->c[0][0] != '%' && strcmp(e->c[0], comp[0]) != 0))
			continue;
		if (match(ref, e, comp, n) == 0) {
			const struct fver *f = fver_of(ref, e, ref->proc);
			ref->e = e;
			if (f) {
				ref->gen = f->gen;
				ref->len = f->len;
			}
			return 0;
		}
	}
	gtree_ref_release(ref);
	return -ENOENT;
}

void gtree_ref_release(struct gtree_ref *ref)
{
	if (ref->proc == &ref->local)
		ptable_proc_clear(&ref->local);
	gsnap_put(ref->snap);
	memset(ref, 0, sizeof(*ref));
}

/* Stateless inode numbers: gen << 37 | (entry index + 1) << 32 | id, id = gpid, local pid |
 * LOCAL_BIT, node id, or 0; gen = the content's generation for versioned files, else 0; the
 * root is FUSE's 1. Nothing to forget, the same name and content give the same inode. */
static uint64_t make_ino(const struct gtree_ref *ref, const struct gtree_entry *e,
			 const struct ptable_proc *p, const struct ptable_node *n)
{
	size_t idx = (size_t)(e - table);
	uint32_t id = 0;

	if (idx == 0)
		return 1;
	if (p)
		id = p == &ref->local ? (p->pid | LOCAL_BIT) : p->gpid;
	else if (n)
		id = n->id;
	return (uint64_t)(idx + 1) << 32 | id;
}

int gtree_ino_path(struct gsrc *src, uint64_t ino, char *out, size_t cap)
{
	size_t idx = (size_t)(ino >> 32) & ((1u << IDX_BITS) - 1), k = 0;
	uint32_t id = (uint32_t)ino;
	int r = 0;

	if (ino == 1) {
		snprintf(out, cap, "/");
		return 0;
	}
	if (idx < 2 || idx > NENTRIES)
		return -ENOENT;
	const struct gtree_entry *e = &table[idx - 1];
	out[0] = '\0';
	for (int i = 0; i < e->n && r == 0; i++) {
		int w;
		if (strcmp(e->c[i], "%p") == 0) {
			w = snprintf(out + k, cap - k, "/%" PRIu32, id & ~LOCAL_BIT);
		} else if (strcmp(e->c[i], "%n") == 0) {
			struct gsnap *g;
			const struct ptable_node *n = NULL;
			r = gsrc_get(src, &g);
			if (r < 0)
				break;
			n = ptable_node_by_id(g->t, id);
			w = n ? snprintf(out + k, cap - k, "/%s", n->name) : -1;
			gsnap_put(g);
		} else {
			w = snprintf(out + k, cap - k, "/%s", e->c[i]);
		}
		if (w < 0 || (size_t)w >= cap - k)
			r = -ENOENT;
		else
			k += (size_t)w;
	}
	return r;
}

static void stat_of(const struct gtree_ref *ref, const struct gtree_entry *e,
		    const struct ptable_proc *p, const struct ptable_node *n, struct stat *st)
{
	const struct ptable *t = ref->snap->t;
	time_t when = (time_t)(t->taken_ms / 1000);

	memset(st, 0, sizeof(*st));
	st->st_mode = e->mode | (e->kind == GTREE_DIR	? S_IFDIR
				 : e->kind == GTREE_LNK ? S_IFLNK
							: S_IFREG);
	st->st_nlink = e->kind == GTREE_DIR ? 2 : 1;
	st->st_ino = make_ino(ref, e, p, n);
	if (p) {
		struct ptable_rctx r;
		ptable_rctx_init(&r, t, gsrc_node_id(ref->src));
		st->st_uid = p->uid[1];
		st->st_gid = p->gid[1];
		when = (time_t)(r.btime_cluster + ptable_starttime(&r, p) / (uint64_t)r.hz);
	}
	if (e->kind == GTREE_LNK)
		st->st_size = 10;
	const struct fver *f = fver_of(ref, e, p);
	if (f) {
		st->st_size = f->len;
		st->st_ino |= (uint64_t)f->gen << GEN_SHIFT;
	}
	st->st_atime = st->st_mtime = st->st_ctime = when;
	st->st_blksize = 4096;
}

void gtree_stat(const struct gtree_ref *ref, struct stat *st)
{
	stat_of(ref, ref->e, ref->proc, ref->node, st);
}

int gtree_render(const struct gtree_ref *ref, struct buf *out)
{
	if (!ref->e->gen)
		return -EISDIR;
	return ref->e->gen(ref, out);
}

/* Is e a direct child of parent (same leading components)? */
static int child_of(const struct gtree_entry *e, const struct gtree_entry *parent)
{
	if (e->n != parent->n + 1)
		return 0;
	for (int i = 0; i < parent->n; i++)
		if (strcmp(e->c[i], parent->c[i]) != 0)
			return 0;
	return 1;
}

int gtree_readdir(const struct gtree_ref *ref,
		  int (*fill)(void *ctx, const char *name, const struct stat *st), void *ctx)
{
	const struct ptable *t = ref->snap->t;
	struct stat st;
	char name[16];
	int r = 0;

	if (ref->e->kind != GTREE_DIR)
		return -ENOTDIR;
	for (size_t i = 0; i < NENTRIES && r == 0; i++) {
		const struct gtree_entry *e = &table[i];
		if (!child_of(e, ref->e))
			continue;
		const char *last = e->c[e->n - 1];
		if (strcmp(last, "%p") == 0) {
			for (uint32_t k = 0; k < t->nprocs && r == 0; k++) {
				snprintf(name, sizeof(name), "%" PRIu32, t->procs[k].gpid);
				stat_of(ref, e, &t->procs[k], NULL, &st);
				r = fill(ctx, name, &st);
			}
		} else if (strcmp(last, "%n") == 0) {
			for (uint32_t k = 0; k < t->nnodes && r == 0; k++) {
				stat_of(ref, e, NULL, &t->nodes[k], &st);
				r = fill(ctx, t->nodes[k].name, &st);
			}
		} else {
			stat_of(ref, e, ref->proc, ref->node, &st);
			r = fill(ctx, last, &st);
		}
	}
	return r;
}
