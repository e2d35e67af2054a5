/*
 * client.c - talk to the daemon's control socket; encode/decode the replies (client.h).
 *
 * Doubles travel as fixed point (value * 1000, i64) so both ends agree without float layout
 * assumptions. Every getter checks bounds through struct buf.
 */
#include "ssid/client.h"
#include "ssid/usock.h"
#include "ssid/ctl.h"
#include "ssid/ssierr.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct client {
	int fd;
};

int client_open(struct client **out, const char *sock_path, char *err, size_t errlen)
{
	struct client *c;
	int fd;

	*out = NULL;
	fd = usock_connect(sock_path, 0);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s%s", sock_path, strerror(-fd),
			 fd == -ENOENT || fd == -ECONNREFUSED ? "; is ssid running (ssid -f)?"
							      : "");
		return fd;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->fd = fd;
	*out = c;
	return 0;
}

void client_close(struct client *c)
{
	if (!c)
		return;
	close(c->fd);
	free(c);
}

int client_call(struct client *c, uint16_t type, const struct buf *req, struct buf *reply)
{
	uint8_t hdr[4] = {type >> 8, type & 0xff, 0, 0}, st[4];
	struct buf empty;
	int r;

	buf_init(&empty);
	r = ctl_send(c->fd, hdr, sizeof(hdr), req ? req : &empty);
	if (r)
		return r;
	r = ctl_recv(c->fd, st, sizeof(st), reply);
	if (r)
		return r == -ECONNRESET ? SSI_E_TRUNCATED : r;
	return (int32_t)((uint32_t)st[0] << 24 | (uint32_t)st[1] << 16 | (uint32_t)st[2] << 8 |
			 st[3]);
}

static int put_fx(struct buf *b, double v)
{
	return buf_put_i64(b, (int64_t)(v * 1000.0 + (v < 0 ? -0.5 : 0.5)));
}

static int get_fx(struct buf *b, double *v)
{
	int64_t x;
	int r = buf_get_i64(b, &x);

	*v = (double)x / 1000.0;
	return r;
}

/* The u8 flag appended to the status reply: an older daemon's reply ends before it (0).
 * (Node records are followed by more records, so there the flag is read strictly.) */
static int get_flag(struct buf *b, int *v)
{
	uint8_t x = 0;
	int r = buf_avail(b) ? buf_get_u8(b, &x) : 0;

	*v = x != 0;
	return r;
}

int client_status_put(struct buf *b, const struct client_status *s)
{
	int r = 0;

	r |= buf_put_u16(b, (uint16_t)s->id);
	r |= buf_put_str(b, s->name);
	r |= buf_put_str(b, s->listen);
	r |= buf_put_i64(b, s->uptime_ms);
	r |= buf_put_u32(b, s->links);
	r |= buf_put_u32(b, s->links_up);
	r |= buf_put_u32(b, s->peers_up);
	r |= buf_put_u32(b, s->peers_known);
	r |= buf_put_u64(b, s->frames_tx);
	r |= buf_put_u64(b, s->frames_rx);
	r |= buf_put_u64(b, s->bytes_tx);
	r |= buf_put_u64(b, s->bytes_rx);
	r |= buf_put_u64(b, s->gossip_msgs);
	r |= buf_put_u64(b, s->gossip_bytes);
	r |= put_fx(b, s->load_local);
	r |= put_fx(b, s->load_export);
	r |= put_fx(b, s->runq);
	r |= put_fx(b, s->cpu_use);
	r |= put_fx(b, s->psi_cpu);
	r |= put_fx(b, s->speed);
	r |= buf_put_u32(b, s->cpus);
	r |= buf_put_u64(b, s->mem_total_kb);
	r |= buf_put_u64(b, s->mem_free_kb);
	r |= buf_put_str(b, s->db_path);
	r |= buf_put_u8(b, (uint8_t)(s->blocked != 0)); /* appended: absent from older daemons */
	return r ? -ENOMEM : 0;
}

int client_status_get(struct buf *b, struct client_status *s)
{
	uint16_t id = 0;
	int r = 0;

	memset(s, 0, sizeof(*s));
	if ((r = buf_get_u16(b, &id)) || (r = buf_get_cstr(b, s->name, sizeof(s->name))) ||
	    (r = buf_get_cstr(b, s->listen, sizeof(s->listen))) ||
	    (r = buf_get_i64(b, &s->uptime_ms)) || (r = buf_get_u32(b, &s->links)) ||
	    (r = buf_get_u32(b, &s->links_up)) || (r = buf_get_u32(b, &s->peers_up)) ||
	    (r = buf_get_u32(b, &s->peers_known)) || (r = buf_get_u64(b, &s->frames_tx)) ||
	    (r = buf_get_u64(b, &s->frames_rx)) || (r = buf_get_u64(b, &s->bytes_tx)) ||
	    (r = buf_get_u64(b, &s->bytes_rx)) || (r = buf_get_u64(b, &s->gossip_msgs)) ||
	    (r = buf_get_u64(b, &s->gossip_bytes)) || (r = get_fx(b, &s->load_local)) ||
	    (r = get_fx(b, &s->load_export)) || (r = get_fx(b, &s->runq)) ||
	    (r = get_fx(b, &s->cpu_use)) || (r = get_fx(b, &s->psi_cpu)) ||
	    (r = get_fx(b, &s->speed)) || (r = buf_get_u32(b, &s->cpus)) ||
	    (r = buf_get_u64(b, &s->mem_total_kb)) || (r = buf_get_u64(b, &s->mem_free_kb)) ||
	    (r = buf_get_cstr(b, s->db_path, sizeof(s->db_path))))
		return r;
	s->id = id;
	return get_flag(b, &s->blocked);
}

int client_node_put(struct buf *b, const struct client_node *n)
{
	int r = 0;

	r |= buf_put_u16(b, (uint16_t)n->id);
	r |= buf_put_str(b, n->name);
	r |= buf_put_str(b, n->addr);
	r |= buf_put_str(b, n->state);
	r |= buf_put_u8(b, (uint8_t)n->self);
	r |= buf_put_i64(b, n->since_ms);
	r |= buf_put_i64(b, n->age_ms);
	r |= put_fx(b, n->load);
	r |= put_fx(b, n->runq);
	r |= put_fx(b, n->cpu_use);
	r |= put_fx(b, n->psi_cpu);
	r |= put_fx(b, n->speed);
	r |= buf_put_u32(b, n->cpus);
	r |= buf_put_u64(b, n->mem_total_kb);
	r |= buf_put_u64(b, n->mem_free_kb);
	r |= buf_put_str(b, n->kernel);
	r |= buf_put_u8(b, (uint8_t)(n->blocked != 0));
	return r ? -ENOMEM : 0;
}

int client_node_get(struct buf *b, struct client_node *n)
{
	uint16_t id = 0;
	uint8_t self = 0;
	int r;

	memset(n, 0, sizeof(*n));
	if ((r = buf_get_u16(b, &id)) || (r = buf_get_cstr(b, n->name, sizeof(n->name))) ||
	    (r = buf_get_cstr(b, n->addr, sizeof(n->addr))) ||
	    (r = buf_get_cstr(b, n->state, sizeof(n->state))) || (r = buf_get_u8(b, &self)) ||
	    (r = buf_get_i64(b, &n->since_ms)) || (r = buf_get_i64(b, &n->age_ms)) ||
	    (r = get_fx(b, &n->load)) || (r = get_fx(b, &n->runq)) ||
	    (r = get_fx(b, &n->cpu_use)) || (r = get_fx(b, &n->psi_cpu)) ||
	    (r = get_fx(b, &n->speed)) || (r = buf_get_u32(b, &n->cpus)) ||
	    (r = buf_get_u64(b, &n->mem_total_kb)) || (r = buf_get_u64(b, &n->mem_free_kb)) ||
	    (r = buf_get_cstr(b, n->kernel, sizeof(n->kernel))))
		return r;
	n->id = id;
	n->self = self;
	if ((r = buf_get_u8(b, &self)))
		return r;
	n->blocked = self != 0;
	return 0;
}

int client_event_put(struct buf *b, const struct client_event *e)
{
	int r = 0;

	r |= buf_put_i64(b, e->id);
	r |= buf_put_i64(b, e->t_ms);
	r |= buf_put_u16(b, (uint16_t)e->node_id);
	r |= buf_put_str(b, e->kind);
	r |= buf_put_str(b, e->text);
	return r ? -ENOMEM : 0;
}

int client_event_get(struct buf *b, struct client_event *e)
{
	uint16_t node = 0;
	int r;

	memset(e, 0, sizeof(*e));
	if ((r = buf_get_i64(b, &e->id)) || (r = buf_get_i64(b, &e->t_ms)) ||
	    (r = buf_get_u16(b, &node)) || (r = buf_get_cstr(b, e->kind, sizeof(e->kind))) ||
	    (r = buf_get_cstr(b, e->text, sizeof(e->text))))
		return r;
	e->node_id = node;
	return 0;
}

int client_status(struct client *c, struct client_status *st)
{
	struct buf rep;
	int r;

	buf_init(&rep);
	r = client_call(c, CTL_STATUS, NULL, &rep);
	if (!r)
		r = client_status_get(&rep, st);
	buf_free(&rep);
	return r;
}

int client_nodes(struct client *c, struct client_node **out, size_t *n)
{
	struct buf rep;
	uint16_t cnt = 0;
	int r;

	*out = NULL;
	*n = 0;
	buf_init(&rep);
	r = client_call(c, CTL_NODES, NULL, &rep);
	if (!r)
		r = buf_get_u16(&rep, &cnt);
	if (!r && cnt) {
		*out = calloc(cnt, sizeof(**out));
		if (!*out)
			r = -ENOMEM;
		for (size_t i = 0; !r && i < cnt; i++)
			r = client_node_get(&rep, &(*out)[i]);
	}
	if (r) {
		free(*out);
		*out = NULL;
	} else {
		*n = cnt;
	}
	buf_free(&rep);
	return r;
}

int client_block(struct client *c, int blocked)
{
	struct buf req, rep;
	int r;

	buf_init(&req);
	buf_init(&rep);
	r = buf_put_u8(&req, blocked ? 1 : 0);
	if (!r)
		r = client_call(c, CTL_BLOCK, &req, &rep);
	buf_free(&req);
	buf_free(&rep);
	return r;
}

int client_events(struct client *c, uint32_t limit, struct client_event **out, size_t *n)
{
	struct buf req, rep;
	uint32_t cnt = 0;
	int r;

	*out = NULL;
	*n = 0;
	buf_init(&req);
	buf_init(&rep);
	r = buf_put_u32(&req, limit);
	if (!r)
		r = client_call(c, CTL_EVENTS, &req, &rep);
	if (!r)
		r = buf_get_u32(&rep, &cnt);
	if (!r && cnt > limit)
		r = SSI_E_TOOBIG;
	if (!r && cnt) {
		*out = calloc(cnt, sizeof(**out));
		if (!*out)
			r = -ENOMEM;
		for (size_t i = 0; !r && i < cnt; i++)
			r = client_event_get(&rep, &(*out)[i]);
	}
	if (r) {
		free(*out);
		*out = NULL;
	} else {
		*n = cnt;
	}
	buf_free(&req);
	buf_free(&rep);
	return r;
}
