/*
 * client.h - the client side of the control socket (ctl.h), for ssictl and other tools, and
 * the one encoding of the replies (the daemon writes them with the *_put functions here, so
 * both ends share one layout).
 *
 * Return rule: 0 or a negative code (ssierr.h); a request the daemon refused returns the
 * daemon's status (e.g. -EPERM). Pointers returned through out parameters are malloc'd and
 * owned by the caller (free()). Not thread-safe per struct client.
 */
#ifndef SSI_CLIENT_H
#define SSI_CLIENT_H

#include "ssid/buf.h"

#include <stddef.h>
#include <stdint.h>

struct client;

struct client_node {
	int id;
	char name[33];
	char addr[64];	  /* host:port, "" if unknown */
	char state[8];	  /* "up", "suspect", "down", "unknown" (self: "up") */
	int self;	  /* 1 for the answering node */
	int64_t since_ms; /* wall-clock ms when the state last changed, 0 unknown */
	int64_t age_ms;	  /* age of the load facts, -1 if none yet */
	double load;	  /* exported load: smoothed run queue per CPU */
	double runq;	  /* run-queue length (raw) */
	double cpu_use;	  /* 0..1 */
	double psi_cpu;	  /* percent */
	double speed;	  /* relative CPU speed */
	uint32_t cpus;
	uint64_t mem_total_kb;
	uint64_t mem_free_kb;
	char kernel[65]; /* from HELLO, "" if not heard */
	int blocked;	 /* its administrator blocks incoming processes (ssictl block) */
};

struct client_status {
	int id;
	char name[33];
	char listen[64];
	int64_t uptime_ms;
	uint32_t links, links_up; /* SSH links alive / with HELLO done */
	uint32_t peers_up, peers_known;
	uint64_t frames_tx, frames_rx, bytes_tx, bytes_rx;
	uint64_t gossip_msgs, gossip_bytes; /* load gossip frames sent and their bytes */
	double load_local, load_export, runq, cpu_use, psi_cpu, speed;
	uint32_t cpus;
	uint64_t mem_total_kb, mem_free_kb;
	char db_path[256];
	int blocked; /* this node accepts no incoming processes (ssictl block) */
};

struct client_event {
	int64_t id, t_ms; /* t_ms: wall clock */
	int node_id;
	char kind[32];
	char text[512];
};

/* Connect to sock_path (run_dir/ssid.sock). err says what to fix (daemon not running, ...). */
int client_open(struct client **out, const char *sock_path, char *err, size_t errlen);
void client_close(struct client *c);

/* One raw request: type, request body req (may be NULL); reply body into reply (reset first).
 * Returns the daemon's status, or a transport error. */
int client_call(struct client *c, uint16_t type, const struct buf *req, struct buf *reply);

int client_status(struct client *c, struct client_status *st);
int client_nodes(struct client *c, struct client_node **out, size_t *n);
int client_events(struct client *c, uint32_t limit, struct client_event **out, size_t *n);
/* Block (1) or unblock (0) incoming processes on the daemon's node (root; CTL_BLOCK). */
int client_block(struct client *c, int blocked);

/* Encodings (used by the daemon for replies and by the functions above). */
int client_status_put(struct buf *b, const struct client_status *st);
int client_status_get(struct buf *b, struct client_status *st);
int client_node_put(struct buf *b, const struct client_node *n);
int client_node_get(struct buf *b, struct client_node *n);
int client_event_put(struct buf *b, const struct client_event *e);
int client_event_get(struct buf *b, struct client_event *e);

#endif
