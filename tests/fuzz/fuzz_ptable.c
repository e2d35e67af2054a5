/*
 * fuzz_ptable.c - libFuzzer target for the process-table decoder (ssid/ptable_codec.c).
 *
 * The input is an encoded table as the daemon would receive it from a peer or serve on its
 * control socket. Whatever decodes must be well formed (sorted, unique gpids, known nodes),
 * survive a round trip (re-encode, decode, re-encode gives the same bytes) and render every
 * /proc file without error. Any crash, leak, sanitizer report or broken property is a bug.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ssid/buf.h"
#include "ssid/ptable.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void render_all(const struct ptable *t)
{
	struct ptable_rctx r;
	struct buf out;

	buf_init(&out);
	ptable_rctx_init(&r, t, t->nnodes ? t->nodes[0].id : 1);
	if (ptable_render_gstat(&r, &out) || ptable_render_meminfo(&r, &out) ||
	    ptable_render_loadavg(&r, &out) || ptable_render_uptime(&r, &out) ||
	    ptable_render_cpuinfo(&r, &out))
		abort();
	for (uint32_t i = 0; i < t->nprocs; i++) {
		const struct ptable_proc *p = &t->procs[i];
		if (i && p->gpid <= t->procs[i - 1].gpid)
			abort();
		if (!ptable_node_by_id(t, p->node) || ptable_find(t, p->gpid) != p)
			abort();
		buf_reset(&out);
		if (ptable_render_stat(&r, p, &out) || ptable_render_status(&r, p, &out) ||
		    ptable_render_statm(&r, p, &out) || ptable_render_cmdline(&r, p, &out) ||
		    ptable_render_cgroup(&r, p, &out))
			abort();
	}
	for (uint32_t i = 0; i < t->nnodes; i++)
		if (ptable_render_node_load(&t->nodes[i], &out) ||
		    ptable_render_node_memory(&t->nodes[i], &out))
			abort();
	buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ptable *t = NULL, *t2 = NULL;
	struct buf in, a, b;

	buf_view(&in, data, size);
	if (ptable_decode(&in, &t) != 0) {
		if (t)
			abort();
		return 0;
	}
	render_all(t);
	buf_init(&a);
	buf_init(&b);
	if (ptable_encode(t, &a) != 0 || ptable_decode(&a, &t2) != 0 || ptable_encode(t2, &b) != 0)
		abort();
	buf_reset(&a);
	if (ptable_encode(t, &a) != 0 || a.len != b.len || memcmp(a.d, b.d, a.len) != 0)
		abort();
	buf_free(&a);
	buf_free(&b);
	ptable_free(t);
	ptable_free(t2);
	return 0;
}
