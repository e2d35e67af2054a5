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
	int home;   /* node it was born on (gpid >> 22) */
	int node;   /* node it runs on now */
	pid_t pid;  /* its pid on this node (node == self), else 0 */
	int moving; /* a move of it is under way */
	int child;  /* grun's child at home, never moved: pid == gpid & 0x3fffff */
};

/* Register the wire handlers, open run_dir/mig.sock and state_dir/ssid.db, start the thread.
 * cfg and c are borrowed and must outlive the module. 0 or negative (err says what). */
int mig_new(struct mig **out, struct cluster *c, const struct config *cfg, char *err,
	    size_t errlen);
/* Snapshot of the processes started by grun that this node is home of (wherever they run)
 * or holds (moved here; an incoming copy not resumed yet is left out): at most cap entries
 * into out, returns their number. Thread-safe (any thread); refreshed by the module's loop
 * after every event and at least once a second. */
size_t mig_entries(struct mig *m, struct mig_entry *out, size_t cap);

/* The module mig_new() made in this process, or NULL (none, or freed): for modules created
 * before it (sigsvc, proctab) that ask about moved processes. Valid until mig_free(). */
struct mig *mig_current(void);

/* A signal for gpid from a caller with uid, asked by sigsvc (any thread). Returns
 *  -ENOENT  the module does not know gpid, or it is grun's child at home and not moving:
 *           the caller finds it by its gpid as usual;
 *  0        it runs here as *pid (the caller does kill(2)'s rights check and the kill);
 *  1        this node is its home and it runs elsewhere or is moving: uid passed the check
 *           against its owner, and the signal was handed to the module, which sends it to
 *           the node holding it (that node checks the rights again) or holds it until the
 *           move ends (signo 0: only the check);
 *  -EPERM   uid is neither 0 nor the owner;
 *  -EINVAL  signo 64 (SIGRTMAX) to a process away from here: not supported. */
int mig_signal(struct mig *m, uint32_t gpid, int signo, uint32_t uid, pid_t *pid);

/* Stop the thread; later peer messages are dropped. Safe with NULL. */
void mig_stop(struct mig *m);
/* Free everything (after the link threads were joined). Safe with NULL. */
void mig_free(struct mig *m);

#endif
