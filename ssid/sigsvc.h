/*
 * sigsvc.h - signals to any process of the cluster: the control request SIGSVC_CTL_TYPE for
 * local programs (gkill) and the SIGNAL / SIGNAL_REPLY peer messages.
 *
 * Owns the rights check, done on the node that holds the process, like kill(2): a uid may
 * signal a process whose real, effective or saved uid is its own; uid 0 may signal any. The
 * uid is the caller's SO_PEERCRED uid for local requests (never a field of the request) and the
 * origin_uid of a SIGNAL frame, which only authenticated peers can send (link layer).
 * Does not own: transport (cluster_send, pending.h). Processes are found by their home node
 * (gpid >> 22); a process moved by grun/gmigrate is found through the migration module
 * (mig_signal(): its home forwards the signal to the node holding it, which checks rights).
 */
#ifndef SSI_SIGSVC_H
#define SSI_SIGSVC_H

#include "ssid/cluster.h"
#include "ssid/ctl.h"
#include "ssid/pending.h"

#include <stdint.h>
#include <sys/types.h>

/* Control request: body u32 gpid, u32 signo (0..SIGRTMAX; 0 checks existence and rights).
 * Reply: empty body; status 0 or a negative errno as kill(2) gives it (-ESRCH, -EPERM,
 * -EINVAL), or -EHOSTUNREACH (the node holding it is not up), -ETIMEDOUT (it did not answer
 * within SIGSVC_TIMEOUT_MS). Any uid may ask; the rights check applies. */
#define SIGSVC_CTL_TYPE	  41
#define SIGSVC_TIMEOUT_MS 1500

struct sigsvc;

/* c and pend are borrowed and must outlive it; self_id is this node's id. 0 or -ENOMEM. */
int sigsvc_new(struct sigsvc **out, struct cluster *c, struct pending *pend, int self_id);
/* Register the peer handlers (before cluster_start) and the control request. */
int sigsvc_register(struct sigsvc *sv, struct ctl_server *s);
void sigsvc_free(struct sigsvc *sv);

/* Deliver signo to this node's process gpid with the rights of uid (the check above), using
 * procdir ("/proc") for its credentials. 0 or a negative errno. Pure of daemon state, so tests
 * can call it. */
int sigsvc_local(const char *procdir, int self_id, uint32_t gpid, int signo, uid_t uid);

/* Deliver anywhere: locally, or through a SIGNAL to the node that holds gpid (waits at most
 * SIGSVC_TIMEOUT_MS). Returns as the control request above. */
int sigsvc_send(struct sigsvc *sv, uint32_t gpid, int signo, uid_t uid);

#endif
