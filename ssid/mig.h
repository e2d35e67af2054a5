/*
 * mig.h - the daemon's migration module: deputies (grun) and gmigrate on run_dir/mig.sock,
 * the table of migratable processes this node is home of or holds, the migration
 * coordinator (driving migrate/migproto.h machines), the image stream and the stdio relay.
 *
 * Owns: one thread (the coordinator loop), the socket, per-migration stream threads and
 * restore workers, its own handle on the store. Does not own: links (cluster_send), the
 * checkpoint engine (migrate/dump.h, restore.h).
 * Assumes: created after cluster_new() and before cluster_start() (it registers wire
 * handlers); mig_stop() before link_mgr_free(), mig_free() after it.
 */
#ifndef SSI_MIG_H
#define SSI_MIG_H

#include "ssid/cluster.h"
#include "ssid/config.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mig;

/* A process this node is involved with, for the process table (gps, /gproc). */
struct mig_entry {
	uint32_t gpid;
	uint32_t uid;
	int home;  /* node it was born on (gpid >> 22) */
	int node;  /* node it runs on now */
	pid_t pid; /* its pid on this node (node == self), else 0 */
};

/* Register the wire handlers, open run_dir/mig.sock and state_dir/ssid.db, start the thread.
 * cfg and c are borrowed and must outlive the module. 0 or negative (err says what). */
int mig_new(struct mig **out, struct cluster *c, const struct config *cfg, char *err,
	    size_t errlen);
/* Snapshot of the processes moved by this module that this node holds (home elsewhere or
 * here) or is home of while they run elsewhere: at most cap entries into out, returns their
 * number. Thread-safe (any thread); refreshed by the module's loop at least once a second. */
size_t mig_entries(struct mig *m, struct mig_entry *out, size_t cap);

/* Stop the thread; later peer messages are dropped. Safe with NULL. */
void mig_stop(struct mig *m);
/* Free everything (after the link threads were joined). Safe with NULL. */
void mig_free(struct mig *m);

#endif
