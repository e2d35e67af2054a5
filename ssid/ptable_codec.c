/*
 * ptable_codec.c - encode/decode a struct ptable as buf.h bytes (big-endian, versioned).
 *
 * Layout (docs/gproc.md): u32 magic "SPTB", u16 version, u64 taken_ms, u32 nnodes, u32 nprocs,
 * nodes, processes. Strings are u32 length + bytes. Every count is checked against the bytes
 * left before memory is allocated, so a short hostile input cannot make us allocate much.
 * Validation: node ids 1..511 and unique; gpid's node bits equal home; pid 1..2^22-1; the
 * process's current node is in the table; gpids unique. Anything else: SSI_E_* and no table.
 */
#include "ssid/ptable.h"
#include "ssid/ssierr.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC	       0x53505442u /* "SPTB" */
#define NODE_MIN_BYTES (2 + 4 + 1 + 4 + 8 + 8 + 12 + 12 + 24 + 8 + 4 + 8 * PTABLE_MEM_N + 4 + 4)
#define PROC_MIN_BYTES                                                                             \
	(4 + 2 + 2 + 4 + 32 + 4 + 4 + 1 + 12 + 8 + 4 + 32 + 32 + 8 + 4 + 32 + 8 + 8 +              \
	 8 * PTABLE_VM_N + 8 + 8 * PTABLE_SIG_N + 4 + 4)

/* Accumulate the first error: each PUT/GET is skipped once r < 0. */
#define PUT(expr)                                                                                  \
	do {                                                                                       \
		if (r == 0)                                                                        \
			r = (expr);                                                                \
	} while (0)
#define GET PUT

static int put_node(struct buf *b, const struct ptable_node *n)
{
	int r = 0;

	PUT(buf_put_u16(b, n->id));
	PUT(buf_put_str(b, n->name));
	PUT(buf_put_u8(b, n->state));
	PUT(buf_put_u32(b, n->load));
	PUT(buf_put_u64(b, n->btime));
	PUT(buf_put_u64(b, n->uptime_cs));
	for (int i = 0; i < 3; i++)
		PUT(buf_put_u32(b, n->loadavg_c[i]));
	PUT(buf_put_u32(b, n->nr_running));
	PUT(buf_put_u32(b, n->nr_threads));
	PUT(buf_put_u32(b, n->last_pid));
	PUT(buf_put_u64(b, n->ctxt));
	PUT(buf_put_u64(b, n->processes));
	PUT(buf_put_u64(b, n->intr));
	PUT(buf_put_u32(b, n->procs_running));
	PUT(buf_put_u32(b, n->procs_blocked));
	PUT(buf_put_u32(b, PTABLE_MEM_N));
	for (int i = 0; i < PTABLE_MEM_N; i++)
		PUT(buf_put_u64(b, n->mem[i]));
	PUT(buf_put_str(b, n->model));
	PUT(buf_put_u32(b, n->cpus));
	for (uint32_t i = 0; i < n->cpus * PTABLE_CPU_FIELDS && n->cpu; i++)
		PUT(buf_put_u64(b, n->cpu[i]));
	return r;
}

static int put_proc(struct buf *b, const struct ptable_proc *p)
{
	uint32_t ng = p->ngroups < PTABLE_GROUPS_MAX ? p->ngroups : PTABLE_GROUPS_MAX;
	uint32_t cl = p->cmdline_len < PTABLE_CMDLINE_MAX ? p->cmdline_len : PTABLE_CMDLINE_MAX;
	int r = 0;

	PUT(buf_put_u32(b, p->gpid));
	PUT(buf_put_u16(b, p->home));
	PUT(buf_put_u16(b, p->node));
	PUT(buf_put_u32(b, p->pid));
	for (int i = 0; i < 4; i++)
		PUT(buf_put_u32(b, p->uid[i]));
	for (int i = 0; i < 4; i++)
		PUT(buf_put_u32(b, p->gid[i]));
	PUT(buf_put_u32(b, ng));
	// cppcheck-suppress knownConditionTrueFalse ; ng comes from the record, not a constant
	for (uint32_t i = 0; i < ng; i++)
		PUT(buf_put_u32(b, p->groups[i]));
	PUT(buf_put_str(b, p->comm));
	PUT(buf_put_u8(b, (uint8_t)p->state));
	PUT(buf_put_u32(b, p->ppid));
	PUT(buf_put_u32(b, p->pgrp));
	PUT(buf_put_u32(b, p->session));
	PUT(buf_put_u32(b, (uint32_t)p->tty_nr));
	PUT(buf_put_u32(b, (uint32_t)p->tpgid));
	PUT(buf_put_u32(b, p->flags));
	PUT(buf_put_u64(b, p->minflt));
	PUT(buf_put_u64(b, p->cminflt));
	PUT(buf_put_u64(b, p->majflt));
	PUT(buf_put_u64(b, p->cmajflt));
	PUT(buf_put_u64(b, p->utime));
	PUT(buf_put_u64(b, p->stime));
	PUT(buf_put_i64(b, p->cutime));
	PUT(buf_put_i64(b, p->cstime));
	PUT(buf_put_u32(b, (uint32_t)p->priority));
	PUT(buf_put_u32(b, (uint32_t)p->nice));
	PUT(buf_put_u32(b, p->num_threads));
	PUT(buf_put_u64(b, p->starttime));
	PUT(buf_put_u64(b, p->vsize));
	PUT(buf_put_u64(b, p->rss));
	PUT(buf_put_u64(b, p->rsslim));
	PUT(buf_put_u32(b, (uint32_t)p->exit_signal));
	PUT(buf_put_u32(b, (uint32_t)p->processor));
	PUT(buf_put_u32(b, p->rt_priority));
	PUT(buf_put_u32(b, p->policy));
	for (int i = 0; i < PTABLE_VM_N; i++)
		PUT(buf_put_u64(b, p->vm[i]));
	PUT(buf_put_u32(b, p->sigq));
	PUT(buf_put_u32(b, p->sigq_max));
	for (int i = 0; i < PTABLE_SIG_N; i++)
		PUT(buf_put_u64(b, p->sig[i]));
	PUT(buf_put_bytes(b, p->cmdline, p->cmdline ? cl : 0));
	PUT(buf_put_str(b, p->cgroup));
	return r;
}

int ptable_encode(const struct ptable *t, struct buf *out)
{
	size_t start = out->len;
	int r = 0;

	PUT(buf_put_u32(out, MAGIC));
	PUT(buf_put_u16(out, PTABLE_VERSION));
	PUT(buf_put_u64(out, t->taken_ms));
	PUT(buf_put_u32(out, t->nnodes));
	PUT(buf_put_u32(out, t->nprocs));
	for (uint32_t i = 0; i < t->nnodes && r == 0; i++)
		r = put_node(out, &t->nodes[i]);
	for (uint32_t i = 0; i < t->nprocs && r == 0; i++)
		r = put_proc(out, &t->procs[i]);
	if (r == 0 && out->len - start > PTABLE_ENCODED_MAX)
		r = SSI_E_TOOBIG;
	if (r < 0)
		buf_truncate(out, start);
	return r;
}

static int get_i32(struct buf *b, int32_t *v)
{
	uint32_t u;
	int r = buf_get_u32(b, &u);

	*v = (int32_t)u;
	return r;
}

static int get_node(struct buf *b, struct ptable_node *n)
{
	uint32_t nmem = 0;
	uint8_t st = 0;
	int r = 0;

	GET(buf_get_u16(b, &n->id));
	GET(buf_get_cstr(b, n->name, sizeof(n->name)));
	GET(buf_get_u8(b, &st));
	GET(buf_get_u32(b, &n->load));
	GET(buf_get_u64(b, &n->btime));
	GET(buf_get_u64(b, &n->uptime_cs));
	for (int i = 0; i < 3; i++)
		GET(buf_get_u32(b, &n->loadavg_c[i]));
	GET(buf_get_u32(b, &n->nr_running));
	GET(buf_get_u32(b, &n->nr_threads));
	GET(buf_get_u32(b, &n->last_pid));
	GET(buf_get_u64(b, &n->ctxt));
	GET(buf_get_u64(b, &n->processes));
	GET(buf_get_u64(b, &n->intr));
	GET(buf_get_u32(b, &n->procs_running));
	GET(buf_get_u32(b, &n->procs_blocked));
	GET(buf_get_u32(b, &nmem));
	if (r == 0 && nmem != PTABLE_MEM_N)
		r = SSI_E_BADFIELD;
	for (int i = 0; i < PTABLE_MEM_N; i++)
		GET(buf_get_u64(b, &n->mem[i]));
	GET(buf_get_cstr(b, n->model, sizeof(n->model)));
	GET(buf_get_u32(b, &n->cpus));
	if (r < 0)
		return r;
	if (n->id == 0 || n->id > PTABLE_NODE_MAX || !n->name[0] || st > PTABLE_NODE_DOWN)
		return SSI_E_BADFIELD;
	n->state = st;
	if (n->cpus > PTABLE_MAX_CPUS)
		return SSI_E_TOOBIG;
	if ((size_t)n->cpus * PTABLE_CPU_FIELDS * 8 > buf_avail(b))
		return SSI_E_TRUNCATED;
	n->cpu = calloc(n->cpus ? n->cpus : 1, PTABLE_CPU_FIELDS * sizeof(uint64_t));
	if (!n->cpu)
		return -ENOMEM;
	for (uint32_t i = 0; i < n->cpus * PTABLE_CPU_FIELDS; i++)
		GET(buf_get_u64(b, &n->cpu[i]));
	return r;
}

static int get_proc(struct buf *b, struct ptable_proc *p)
{
	const uint8_t *cmd = NULL;
	size_t cmdlen = 0;
	uint8_t st = 0;
	int r = 0;

	GET(buf_get_u32(b, &p->gpid));
	GET(buf_get_u16(b, &p->home));
	GET(buf_get_u16(b, &p->node));
	GET(buf_get_u32(b, &p->pid));
	for (int i = 0; i < 4; i++)
		GET(buf_get_u32(b, &p->uid[i]));
	for (int i = 0; i < 4; i++)
		GET(buf_get_u32(b, &p->gid[i]));
	GET(buf_get_u32(b, &p->ngroups));
	if (r == 0 && p->ngroups > PTABLE_GROUPS_MAX)
		r = SSI_E_TOOBIG;
	for (uint32_t i = 0; i < p->ngroups && r == 0; i++)
		GET(buf_get_u32(b, &p->groups[i]));
	GET(buf_get_cstr(b, p->comm, sizeof(p->comm)));
	GET(buf_get_u8(b, &st));
	GET(buf_get_u32(b, &p->ppid));
	GET(buf_get_u32(b, &p->pgrp));
	GET(buf_get_u32(b, &p->session));
	GET(get_i32(b, &p->tty_nr));
	GET(get_i32(b, &p->tpgid));
	GET(buf_get_u32(b, &p->flags));
	GET(buf_get_u64(b, &p->minflt));
	GET(buf_get_u64(b, &p->cminflt));
	GET(buf_get_u64(b, &p->majflt));
	GET(buf_get_u64(b, &p->cmajflt));
	GET(buf_get_u64(b, &p->utime));
	GET(buf_get_u64(b, &p->stime));
	GET(buf_get_i64(b, &p->cutime));
	GET(buf_get_i64(b, &p->cstime));
	GET(get_i32(b, &p->priority));
	GET(get_i32(b, &p->nice));
	GET(buf_get_u32(b, &p->num_threads));
	GET(buf_get_u64(b, &p->starttime));
	GET(buf_get_u64(b, &p->vsize));
	GET(buf_get_u64(b, &p->rss));
	GET(buf_get_u64(b, &p->rsslim));
	GET(get_i32(b, &p->exit_signal));
	GET(get_i32(b, &p->processor));
	GET(buf_get_u32(b, &p->rt_priority));
	GET(buf_get_u32(b, &p->policy));
	for (int i = 0; i < PTABLE_VM_N; i++)
		GET(buf_get_u64(b, &p->vm[i]));
	GET(buf_get_u32(b, &p->sigq));
	GET(buf_get_u32(b, &p->sigq_max));
	for (int i = 0; i < PTABLE_SIG_N; i++)
		GET(buf_get_u64(b, &p->sig[i]));
	GET(buf_get_bytes_ref(b, &cmd, &cmdlen, PTABLE_CMDLINE_MAX));
	GET(buf_get_str(b, &p->cgroup, PTABLE_CGROUP_MAX));
	if (r < 0)
		return r;
	/* A state is one printable letter (stat field 3 is parsed as a %c then a space). */
	if (st < 'A' || st > 'z' || (st > 'Z' && st < 'a'))
		return SSI_E_BADFIELD;
	p->state = (char)st;
	if (p->home == 0 || p->home > PTABLE_NODE_MAX || p->node == 0 ||
	    p->node > PTABLE_NODE_MAX || p->pid == 0 || p->pid > PTABLE_PID_MASK ||
	    p->gpid >> PTABLE_PID_BITS != p->home || (p->gpid & PTABLE_PID_MASK) == 0)
		return SSI_E_BADFIELD;
	if (cmdlen) {
		p->cmdline = malloc(cmdlen);
		if (!p->cmdline)
			return -ENOMEM;
		memcpy(p->cmdline, cmd, cmdlen);
		p->cmdline_len = (uint32_t)cmdlen;
	}
	return 0;
}

static int check_table(const struct ptable *t)
{
	for (uint32_t i = 0; i < t->nnodes; i++)
		for (uint32_t j = i + 1; j < t->nnodes; j++)
			if (t->nodes[i].id == t->nodes[j].id ||
			    strcmp(t->nodes[i].name, t->nodes[j].name) == 0)
				return SSI_E_BADFIELD;
	for (uint32_t i = 0; i < t->nprocs; i++) {
		if (i > 0 && t->procs[i].gpid == t->procs[i - 1].gpid)
			return SSI_E_BADFIELD;
		if (!ptable_node_by_id(t, t->procs[i].node))
			return SSI_E_BADFIELD;
	}
	return 0;
}

int ptable_decode(struct buf *in, struct ptable **out)
{
	uint32_t magic = 0, nnodes = 0, nprocs = 0;
	uint16_t version = 0;
	struct ptable *t;
	int r = 0;

	*out = NULL;
	GET(buf_get_u32(in, &magic));
	GET(buf_get_u16(in, &version));
	if (r < 0)
		return r;
	if (magic != MAGIC)
		return SSI_E_CORRUPT;
	if (version != PTABLE_VERSION)
		return SSI_E_VERSION;
	t = ptable_new();
	if (!t)
		return -ENOMEM;
	GET(buf_get_u64(in, &t->taken_ms));
	GET(buf_get_u32(in, &nnodes));
	GET(buf_get_u32(in, &nprocs));
	if (r == 0 && (nnodes > PTABLE_MAX_NODES || nprocs > PTABLE_MAX_PROCS))
		r = SSI_E_TOOBIG;
	if (r == 0 &&
	    ((uint64_t)nnodes * NODE_MIN_BYTES + (uint64_t)nprocs * PROC_MIN_BYTES > buf_avail(in)))
		r = SSI_E_TRUNCATED;
	for (uint32_t i = 0; i < nnodes && r == 0; i++) {
		struct ptable_node *n = ptable_add_node(t);
		r = n ? get_node(in, n) : -ENOMEM;
	}
	for (uint32_t i = 0; i < nprocs && r == 0; i++) {
		struct ptable_proc *p = ptable_add_proc(t);
		r = p ? get_proc(in, p) : -ENOMEM;
	}
	if (r == 0) {
		ptable_sort(t);
		r = check_table(t);
	}
	if (r < 0) {
		ptable_free(t);
		return r;
	}
	*out = t;
	return 0;
}
