/*
 * migreq.h - one migration request from a user program (gmigrate, ssictl expel/bring) to the
 * local ssid over run_dir/mig.sock (migrate/deputy.h: DEPUTY_MIGRATE, then PROGRESS lines and
 * RESULT or ERROR). The daemon passes it on to the process's home when that is another node
 * and checks there that the caller (SO_PEERCRED) owns the process or is root; this code does
 * no check of its own. Blocks until the daemon answers; prints nothing.
 * Also the `ssictl expel | bring` commands built on it (list the processes from the cluster
 * table as gps does, fuse/gsrc.h; move them home one after another; print per process).
 */
#ifndef SSI_TOOLS_MIGREQ_H
#define SSI_TOOLS_MIGREQ_H

#include "migrate/deputy.h"

#include <stdint.h>

/* migreq_move's return values besides 0 (moved or not: r->err says) and negative codes. */
#define MIGREQ_REFUSED 1 /* the daemon refused the request: r->err its code, r->text why */

/*
 * Ask the ssid whose run directory is run_dir to move gpid to node (1..511; 0 = its home
 * node) and wait for the outcome. progress, if not NULL, gets every step line the daemon
 * sends ("offering gpid N to node 3", ...), in the calling thread.
 * Returns 0 with *r the daemon's result (r->err 0: moved; else r->text says why not),
 * MIGREQ_REFUSED with r->err (negative errno / SSI_E_*; -ETIMEDOUT: the home did not answer,
 * the outcome is unknown) and r->text, or a negative code when the daemon could not be asked
 * (r->err the same code, r->text what failed: connecting, or talking to ssid). r is always
 * filled; r->text is "" only on a successful move.
 */
int migreq_move(const char *run_dir, uint32_t gpid, uint16_t node,
		void (*progress)(const char *step, void *arg), void *arg, struct deputy_result *r);

/*
 * `ssictl expel | bring` (argv[0] is "expel" or "bring"), with the config file conf:
 * expel moves every guest process running on this node (home elsewhere) to its home (root
 * only); bring moves this node's processes running elsewhere home (the caller's own; --all:
 * everyone's, root only; GPIDs restrict it). One request at a time through migreq_move, one
 * line per process on stdout; the failures again on stderr at the end. Returns the exit
 * status: 0 all went home (or nothing to do), 1 some did not or the table could not be read,
 * 2 usage.
 */
int migreq_ctl_main(const char *conf, int argc, char **argv);

/* Usage lines of the two subcommands, for `ssictl --help`. */
const char *migreq_ctl_usage(void);

#endif
