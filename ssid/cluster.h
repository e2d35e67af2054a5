/*
 * cluster.h - the daemon's view of the cluster: membership, the load table, node facts from
 * HELLOs, trust decisions on keys, events; the glue between links, gossip, load sampling,
 * the store and the control socket.
 *
 * Owns: one mutex (lock) over all of that state; the store handle behind its own mutex
 * (dblock; order: lock before dblock). The link threads call in through the struct link_ops
 * this module provides; the main thread calls cluster_sample/gossip/tick on its timers and
 * the ctl handlers. Times: monotonic ms for liveness and ages, wall-clock ms in the store.
 */
#ifndef SSI_CLUSTER_H
#define SSI_CLUSTER_H

#include "db/db.h"
#include "ssid/config.h"
#include "ssid/ctl.h"
#include "ssid/link.h"

#include <stdint.h>

struct cluster;

/* Build the state for cfg (borrowed; must outlive the cluster) with the store db (borrowed).
 * Measures CPU speed and reads node facts. err says what to fix. */
int cluster_new(struct cluster **out, const struct config *cfg, struct db *db, char *err,
		size_t errlen);
/* The callbacks the link manager must use. */
const struct link_ops *cluster_link_ops(struct cluster *c);
/* Attach the link manager (after link_mgr_new) and dial the configured peers. */
void cluster_start(struct cluster *c, struct link_mgr *links);
/* Register the control requests (status, nodes, events, block) and apply the stored block
 * order. */
int cluster_ctl_register(struct cluster *c, struct ctl_server *s);

/*
 * Extension points for other daemon modules (process table, migration, file service):
 * a handler for peer messages of one wire type, called on the link thread of the peer that
 * sent it (so it must be thread-safe and must not block for long; hand long work to a thread
 * of its own). It may append reply frames to reply; a negative return closes that link.
 * Register before cluster_start(). Types handled here (HELLO, HEARTBEAT, ERROR, LOAD_*)
 * cannot be taken: -EEXIST. Unhandled types are answered with ERROR -EOPNOTSUPP.
 */
typedef int (*cluster_msg_fn)(void *ctx, int peer, const struct wire_msg *m, struct buf *reply);
int cluster_on_msg(struct cluster *c, uint16_t type, cluster_msg_fn fn, void *ctx);
/* An ERROR frame from a peer whose ref_type is a request type a module sent (e.g. an older
 * daemon answering -EOPNOTSUPP): fn gets it instead of the log line, so the module can fail
 * the waiting request at once. Same rules as cluster_on_msg; types < 64. */
int cluster_on_error(struct cluster *c, uint16_t ref_type, cluster_msg_fn fn, void *ctx);
/* Send m to node peer on one of its up links. 0, -ENOTCONN, or an encoding error. */
int cluster_send(struct cluster *c, int peer, const struct wire_msg *m);

/* One node known to membership other than this one (cluster_peers()). */
struct cluster_peer {
	int id;		   /* 1..511 */
	char name[33];	   /* from its HELLO or gossip; "" if not known yet */
	int state;	   /* enum member_state (member.h) */
	int64_t reborn_ms; /* cluster_mono_ms() when it was last heard as a new incarnation (its
			    * processes died: crash or reboot, not a daemon restart), 0 never */
};
/* Every node membership holds, this one excluded, into out (at most cap). Returns the count.
 * Thread-safe (takes the cluster lock briefly). */
size_t cluster_peers(struct cluster *c, struct cluster_peer *out, size_t cap);

/* The host (numeric address or name) node id's SSH server listens on: from its gossip, else
 * from this node's [peers] entry of its name. 0 and host, or -ENOENT (it listens on every
 * address and is not configured here). Thread-safe. */
int cluster_peer_host(struct cluster *c, int id, char *host, size_t cap);

/* Timers of the main loop; each returns ms until it wants to run again. */
int cluster_sample(struct cluster *c, int64_t now);
int cluster_gossip(struct cluster *c, int64_t now);
int cluster_tick(struct cluster *c, int64_t now);

/* Record an event (log line and store). node 0 = none. Thread-safe. */
void cluster_event(struct cluster *c, int node, const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Flush what is pending to the store. Call before freeing at shutdown. */
void cluster_free(struct cluster *c);

/* Monotonic and wall clocks in ms. */
int64_t cluster_mono_ms(void);
int64_t cluster_wall_ms(void);

#endif
