/*
 * proctab.h - the cluster process table in the daemon: answers the control request
 * PTABLE_CTL_TYPE (ptable.h) with this node's processes plus every up peer's, and answers
 * peers' PROC_TABLE_REQ with this node's table.
 *
 * Owns: the cache of this node's encoded table (shared by peer requests and local ones, so
 * concurrent askers share one /proc pass), the cache of the assembled cluster table, the last
 * node record seen from every peer (a down node keeps its last figures), and per-peer
 * time-out back-off. Does not own: transport (cluster_send, pending.h), the table format
 * (ptable.h), membership (cluster.h).
 *
 * Data flow: one PROC_TABLE_REQ per up peer, all sent at once; each answers with its
 * ptable_encode() bytes cut into PROC_TABLE_REPLY frames of at most WIRE_MAX_CHUNK bytes
 * (more = 1 on all but the last). A peer that does not answer within PROCTAB_PEER_TIMEOUT_MS
 * is left out (its node shows "suspect") and not asked again for PROCTAB_SKIP_MS, so a cut or
 * dead peer never makes a ps wait more than once per PROCTAB_SKIP_MS.
 * Threads: the control handler runs on the main thread; the peer handlers on link threads.
 */
#ifndef SSI_PROCTAB_H
#define SSI_PROCTAB_H

#include "ssid/cluster.h"
#include "ssid/config.h"
#include "ssid/ctl.h"
#include "ssid/pending.h"

#define PROCTAB_PEER_TIMEOUT_MS 800	    /* wait for all peers' tables at most this long */
#define PROCTAB_SKIP_MS		2000	    /* a peer that timed out is not asked for this long */
#define PROCTAB_CACHE_MS	250	    /* the assembled cluster table is reused this long */
#define PROCTAB_SELF_CACHE_MS	200	    /* this node's table is reused this long */
#define PROCTAB_RECORDS_FMT	0x50540001u /* PROC_TABLE_REPLY records: ptable_encode v1 */

struct proctab;

/* Create for node cfg->id / cfg->name reading procdir ("/proc"); c, cfg and pend are borrowed
 * and must outlive it. 0 or -ENOMEM. */
int proctab_new(struct proctab **out, struct cluster *c, const struct config *cfg,
		struct pending *pend, const char *procdir);
/* Register the peer handlers (before cluster_start) and the control request. 0 or negative. */
int proctab_register(struct proctab *pt, struct ctl_server *s);
/* Free. Call after every link thread has been joined. NULL is fine. */
void proctab_free(struct proctab *pt);

/* Build the cluster table now (or take the cached one) and append its ptable_encode() bytes
 * to out. Main thread. 0 or a negative code. Exposed for the control handler and tests. */
int proctab_cluster_encode(struct proctab *pt, struct buf *out);

#endif
