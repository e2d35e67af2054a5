/*
 * migproto.h - the migration protocol (two-phase commit, home record authoritative) as a
 * pure state machine: one struct migproto per migration per role (source, destination,
 * home). Design, diagram and the argument for "exactly one copy": docs/migration.md.
 *
 * Owns: states, transitions, time-outs and the actions each transition asks for.
 * Does not: touch sockets, clocks, processes, files or the database; does not encode
 * messages (ssid/wire.h) nor move image bytes (MIG_STREAM chunks go from the daemon
 * straight to the dump/restore engines; the machine only sees PROGRESS and DONE events).
 * Assumes: one thread drives a given machine; `now` never goes backwards; the daemon
 * carries out every action returned, in order, before the next step on the same machine.
 *
 * Transition table (the full table with every ignored event is in docs/migration.md;
 * s_* / d_* / h_* are the static functions in migproto_roles.c that make each transition):
 *
 *  role state        event                     -> next         actions              function
 *  S    NEW          START                     -> S_NEGOTIATE  OFFER->D, OFFER->H   s_start
 *  S    S_NEGOTIATE  ACCEPT from D and from H  -> S_FREEZING   FREEZE               s_negotiate
 *  S    S_NEGOTIATE  REFUSE/ABORT/timeout/down -> S_ABORTED    ABORT->others,REPORT s_negotiate
 *  S    S_FREEZING   FROZEN                    -> S_STREAMING  STREAM               s_freezing
 *  S    S_FREEZING   FAILED/ABORT/timeout/down -> S_ABORTED    THAW, ABORT, REPORT  s_freezing
 *  S    S_STREAMING  STREAM_DONE               -> S_DECIDING   (wait for home)      s_streaming
 *  S    S_STREAMING  STREAM_FAILED             -> S_ABORTED    THAW, ABORT, REPORT  s_streaming
 *  S    S_STREAMING  ABORT/down(H)/idle/CANCEL -> S_CANCELLING CANCEL_STREAM        s_streaming
 *  S    S_CANCELLING STREAM_FAILED             -> S_ABORTED    THAW, ABORT, REPORT  s_cancelling
 *  S    S_CANCELLING STREAM_DONE / timeout     -> S_DECIDING   QUERY->H,D           s_cancelling
 *  S    S_DECIDING   COMMIT                    -> S_MOVED      KILL_FROZEN, REPORT  s_deciding
 *  S    S_DECIDING   ABORT (from H or D)       -> S_ABORTED    THAW, (D's: ABORT->H), REPORT
 *  S    S_DECIDING   timeout                   -> S_DECIDING   QUERY->H,D (backoff) s_deciding
 *  S    S_DECIDING   home dead, grace over     -> S_LOST       KILL_FROZEN, REPORT  s_deciding
 *  D    NEW          OFFER ok / not ok         -> D_RECEIVING / D_ABORTED  RESTORE, ACCEPT / REFUSE
 *  D    D_RECEIVING  RESTORED                  -> D_READY      READY->H             d_receiving
 *  D    D_RECEIVING  FAILED/ABORT/idle/dead(H) -> D_ABORTED    DISCARD, ABORT       d_receiving
 *  D    D_RECEIVING  down/dead(S), image short -> D_ABORTED    DISCARD, ABORT       d_receiving
 *  D    D_READY      COMMIT                    -> D_RUNNING    RESUME, DONE->H,S    d_ready
 *  D    D_READY      ABORT                     -> D_ABORTED    DISCARD              d_ready
 *  D    D_READY      timeout                   -> D_READY      READY->H, QUERY->S   d_ready
 *  D    D_READY      home dead, grace over     -> D_LOST       DISCARD, REPORT      d_ready
 *  H    NEW          OFFER ok / not ok         -> H_WAIT_READY / H_ABORTED  ACCEPT / REFUSE
 *  H    H_WAIT_READY READY                     -> H_RECORDING  RECORD_COMMIT        h_wait_ready
 *  H    H_WAIT_READY ABORT/timeout/dead(D)     -> H_ABORTED    ABORT->S,D, REPORT   h_wait_ready
 *  H    H_WAIT_READY timeout, src dead (once)  -> H_WAIT_READY (wait home_grace_ms)  h_wait_ready
 *  H    H_RECORDING  RECORDED                  -> H_COMMITTED  COMMIT->D,S, REPORT  h_recording
 *  H    H_RECORDING  RECORD_FAILED             -> H_ABORTED    ABORT->S,D, REPORT   h_recording
 *  H    H_COMMITTED  DONE                      -> H_MOVED                           h_committed
 *  H    H_COMMITTED  timeout                   -> H_COMMITTED  COMMIT->D            h_committed
 *  H    H_COMMITTED  dead(D)                   -> H_LOST       REPORT LOST          h_committed
 *  H    H_ABORTED    dead(S)                   -> H_LOST       REPORT LOST          h_final
 *  *    final states answer READY/QUERY with the decision they know (s_final, d_final, h_final)
 *  S/D  NEW  adopted after a daemon restart -> S_DECIDING QUERY->H,D / D_READY READY->H, QUERY->S
 *            / (already running) D_RUNNING DONE->H,S                        migproto_adopt
 *
 * Error rule: int functions return 0 or a negative errno (ssid/ssierr.h). Peer input is
 * never asserted on: a message from the wrong node or role, or one that makes no sense in
 * the current state, is ignored (zero actions). migproto_check() is asserted on entry.
 */
#ifndef SSI_MIGRATE_MIGPROTO_H
#define SSI_MIGRATE_MIGPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ssid/wire.h"

#define MIGPROTO_REASON_MAX  256 /* bytes kept of a refusal/abort reason, with NUL */
#define MIGPROTO_MAX_ACTIONS 8	 /* no step returns more actions than this */

enum migproto_role {
	MIGPROTO_SOURCE = 1, /* holds the running, later frozen, copy */
	MIGPROTO_DEST = 2,   /* restores the copy, stopped, then runs it */
	MIGPROTO_HOME = 3,   /* the process's home node: records where it is, decides */
};

enum migproto_state {
	MIGPROTO_NEW = 0,
	/* source */
	MIGPROTO_S_NEGOTIATE,  /* OFFER sent to dst and home, waiting for both ACCEPTs */
	MIGPROTO_S_FREEZING,   /* FREEZE asked, waiting for FROZEN */
	MIGPROTO_S_STREAMING,  /* dump-and-stream running; the last chunk is not out yet */
	MIGPROTO_S_CANCELLING, /* stream cancelled; waiting for the engine's last word */
	MIGPROTO_S_DECIDING,   /* whole image sent: frozen, waiting for home's decision */
	MIGPROTO_S_MOVED,      /* final: commit known, frozen copy killed */
	MIGPROTO_S_ABORTED,    /* final: local copy runs (never stopped, or thawed) */
	MIGPROTO_S_LOST,       /* final: home died while in doubt; frozen copy killed */
	/* destination */
	MIGPROTO_D_RECEIVING, /* accepted; image arriving and being restored */
	MIGPROTO_D_READY,     /* restored stopped, READY sent: voted, waiting for decision */
	MIGPROTO_D_RUNNING,   /* final: commit known, restored copy resumed */
	MIGPROTO_D_ABORTED,   /* final: refused, or nothing restored is left */
	MIGPROTO_D_LOST,      /* final: home died while in doubt; restored copy discarded */
	/* home */
	MIGPROTO_H_WAIT_READY, /* registered the move; waiting for the destination's READY */
	MIGPROTO_H_RECORDING,  /* durable commit record being written */
	MIGPROTO_H_COMMITTED,  /* decision COMMIT sent; waiting for DONE from dst */
	MIGPROTO_H_MOVED,      /* final: dst runs the process */
	MIGPROTO_H_ABORTED,    /* final: the process stays on the source */
	MIGPROTO_H_LOST,       /* final: the node holding the only copy died; deputy told */
	MIGPROTO_STATE_COUNT
};

/* Control messages. Numbers are the wire types of ssid/wire.h. */
enum migproto_msg {
	MIGPROTO_OFFER = WIRE_MIG_OFFER,   /* S->D, S->H: may I move gpid? */
	MIGPROTO_ACCEPT = WIRE_MIG_ACCEPT, /* D->S, H->S */
	MIGPROTO_REFUSE = WIRE_MIG_REFUSE, /* D->S, H->S: err, reason */
	MIGPROTO_READY = WIRE_MIG_READY,   /* D->H: restored stopped (the vote; also D's query) */
	MIGPROTO_COMMIT = WIRE_MIG_COMMIT, /* H->D,S: durably recorded at dst; relayed by S/D */
	MIGPROTO_ABORT = WIRE_MIG_ABORT,   /* any: give up (rules in docs/migration.md) */
	MIGPROTO_DONE = WIRE_MIG_DONE,	   /* D->H,S: the restored copy runs */
	MIGPROTO_QUERY = WIRE_MIG_QUERY,   /* S->H,D / D->S: what was decided? */
};

enum migproto_ev {
	MIGPROTO_EV_START = 1,	    /* source: begin the move (gmigrate, balancer) */
	MIGPROTO_EV_MSG,	    /* a control message for this mig_id arrived */
	MIGPROTO_EV_TIMER,	    /* now >= migproto_deadline() (early or stale: ignored) */
	MIGPROTO_EV_PROGRESS,	    /* a chunk was written (S) / received (D): idle timer reset */
	MIGPROTO_EV_CANCEL,	    /* source: the requester gave up (^C on gmigrate) */
	MIGPROTO_EV_FROZEN,	    /* S: the process is stopped */
	MIGPROTO_EV_FREEZE_FAILED,  /* S: could not stop it (err); it still runs */
	MIGPROTO_EV_STREAM_DONE,    /* S: the chunk with last=1 was handed to the link */
	MIGPROTO_EV_STREAM_FAILED,  /* S: stream ended and the last chunk was NOT handed over */
	MIGPROTO_EV_RESTORED,	    /* D: whole image restored, process stopped */
	MIGPROTO_EV_RESTORE_FAILED, /* D: bad image, gap, restore error (err); nothing left */
	MIGPROTO_EV_RECORDED,	    /* H: the commit record is durable (fsync'd) */
	MIGPROTO_EV_RECORD_FAILED,  /* H: the commit record was not written (err) */
	MIGPROTO_EV_LINK_DOWN,	    /* the link to node is gone (cut or crash: unknown) */
	MIGPROTO_EV_LINK_UP,	    /* the link to node is back */
	MIGPROTO_EV_NODE_DEAD,	    /* node lost its processes: came back as a new
				       incarnation (migproto_reborn) or declared dead by
				       membership. Never a mere time-out. */
};

struct migproto_event {
	enum migproto_ev type;
	uint64_t now;		 /* ms, monotonic; every event carries it */
	uint16_t node;		 /* MSG: sender node; LINK_*, NODE_DEAD: the peer */
	enum migproto_role from; /* MSG: sender's role (from the wire, see report) */
	enum migproto_msg msg;	 /* MSG: which message */
	int err;		 /* MSG REFUSE/ABORT: peer's code; *_FAILED: local code;
					MSG OFFER at D/H: the daemon's verdict, 0 = acceptable */
	const char *reason;	 /* optional text for err; copied, may be NULL */
	bool last;		 /* PROGRESS at D: that chunk had last = 1 (whole image here) */
};

enum migproto_act {
	MIGPROTO_A_SEND = 1,	  /* send msg to (to, to_role); err/reason for REFUSE/ABORT */
	MIGPROTO_A_FREEZE,	  /* S: stop the process (answer FROZEN / FREEZE_FAILED) */
	MIGPROTO_A_THAW,	  /* S: let the local copy run; cancels a freeze; idempotent */
	MIGPROTO_A_STREAM,	  /* S: dump and stream the image to dst */
	MIGPROTO_A_CANCEL_STREAM, /* S: stop the stream; answer STREAM_FAILED or _DONE */
	MIGPROTO_A_KILL_FROZEN,	  /* S: SIGKILL and reap the frozen copy */
	MIGPROTO_A_RESTORE,	  /* D: restore the arriving stream, stopped (RESTORED/..) */
	MIGPROTO_A_DISCARD,	  /* D: cancel the restore / kill the stopped copy */
	MIGPROTO_A_RESUME,	  /* D: let the restored copy run */
	MIGPROTO_A_RECORD_COMMIT, /* H: durably record "gpid is at dst" (RECORDED/..) */
	MIGPROTO_A_REPORT,	  /* tell requester (S), deputy and history (H), log (D) */
};

enum migproto_outcome {
	MIGPROTO_OUT_MOVED = 1, /* the process runs on dst */
	MIGPROTO_OUT_ABORTED,	/* the move failed; the process runs where it was */
	MIGPROTO_OUT_REFUSED,	/* dst or home said no; nothing was stopped */
	MIGPROTO_OUT_INDOUBT,	/* still waiting for home's decision (process frozen) */
	MIGPROTO_OUT_LOST,	/* the only copy died (deputy: message, exit status 137) */
};

struct migproto_action {
	enum migproto_act kind;
	uint16_t to;		       /* SEND: node (may be this node: deliver locally) */
	enum migproto_role to_role;    /* SEND: which machine on that node */
	enum migproto_msg msg;	       /* SEND */
	enum migproto_outcome outcome; /* REPORT */
	int err;		       /* SEND REFUSE/ABORT, REPORT: 0 or negative code */
	const char *reason;	       /* SEND, REPORT: text or NULL; valid until the next
					    step on the same machine */
};

/* Time-outs in ms. migproto_conf_default() gives values for a LAN/lab. */
struct migproto_conf {
	uint32_t nego_ms;	    /* S: both ACCEPTs within this */
	uint32_t freeze_ms;	    /* S: FROZEN within this */
	uint32_t stream_idle_ms;    /* S: at most this between PROGRESS events */
	uint32_t cancel_ms;	    /* S: engine's last word after CANCEL_STREAM */
	uint32_t recv_idle_ms;	    /* D: at most this between PROGRESS events */
	uint32_t ready_base_ms;	    /* H: READY within base + image_bytes / min_rate */
	uint32_t min_rate_kib_s;    /* H: slowest transfer+restore rate assumed, KiB/s (>0) */
	uint32_t query_ms;	    /* S, D in doubt: first re-query after this; doubles */
	uint32_t query_max_ms;	    /* ... up to this */
	uint32_t indoubt_report_ms; /* S: report INDOUBT to the requester after this */
	uint32_t home_grace_ms;	    /* S, D in doubt: after home's death, give up after */
	uint32_t commit_retry_ms;   /* H: resend COMMIT to dst until DONE */
};

struct migproto_params {
	uint64_t mig_id;	 /* unique per move (source node id in the top bits) */
	uint32_t gpid;		 /* the process */
	uint16_t self;		 /* this node */
	uint16_t src, dst, home; /* node ids (1..); src != dst; home may equal either */
	uint64_t image_bytes;	 /* estimate (sizes home's READY time-out) */
	struct migproto_conf conf;
};

/* One migration seen by one role. Plain struct so the daemon can embed it; only this
 * module writes its fields. */
struct migproto {
	enum migproto_role role;
	enum migproto_state state;
	uint64_t mig_id;
	uint32_t gpid;
	uint16_t self, src, dst, home; /* node ids */
	uint64_t image_bytes;
	struct migproto_conf conf;
	uint64_t deadline;	/* ms; 0 only in NEW and final states (nothing waits forever) */
	uint64_t born;		/* ms: now at migproto_init() (also via migproto_adopt()) */
	uint64_t last_now;	/* the latest event time seen, ms */
	uint64_t doubt_since;	/* S_DECIDING, D_READY: when the doubt began, ms */
	uint64_t grace_end;	/* in doubt with a dead home: give up at this time, else 0 */
	uint32_t backoff_ms;	/* current re-query interval */
	bool acc_dst, acc_home; /* S_NEGOTIATE: ACCEPTs received */
	bool src_dead, dst_dead, home_dead; /* NODE_DEAD seen */
	bool doubt_reported;		    /* S: INDOUBT reported once */
	bool waited_longer;		    /* H: READY time-out extended once because src died */
	bool abort_known;		    /* S: home decided abort, or dst will never vote */
	bool committed;	  /* H: the durable record says dst (answers in final states) */
	bool image_whole; /* D: the last chunk arrived (a dead source cannot matter now) */
	int err;	  /* the code that decided a failed outcome, else 0 */
	char reason[MIGPROTO_REASON_MAX]; /* its text ("" if none) */
};

/* Default time-outs. */
void migproto_conf_default(struct migproto_conf *c);

/* Set up m for role at time now (state NEW; the source then gets START, destination and
 * home get the OFFER as their first event). Returns 0, or -EINVAL when the params are
 * inconsistent (src == dst, a node id 0, self not the node of role, a zero time-out). */
int migproto_init(struct migproto *m, enum migproto_role role, const struct migproto_params *p,
		  uint64_t now);

/* A restarted daemon found a copy of the process that a helper of its predecessor still
 * holds (ssid/mig_adopt.c): role SOURCE, the frozen copy whose last image chunk had left
 * (the destination may have voted); role DEST, the restored, stopped copy (it may have
 * voted). Only the home knows whether the move committed, so m starts in doubt
 * (S_DECIDING / D_READY) and asks at once: the source QUERY to home and destination, the
 * destination READY to home (a vote home may still count: a READY is never a decision)
 * and QUERY to the source. From there the ordinary transitions decide: COMMIT ->
 * KILL_FROZEN / RESUME, ABORT -> THAW / DISCARD, home dead past home_grace_ms -> LOST;
 * a held copy is never let go or run on a time-out alone. running (DEST only): the copy
 * was resumed before the restart, so the move committed; m starts final in D_RUNNING and
 * says DONE to home and source again (the first DONE may have died with the daemon; home
 * waits for it), and answers as D_RUNNING does. Writes the (2) actions to out. Returns 0,
 * -EINVAL (bad params, role HOME: a home answers lost moves from its record,
 * migproto_home_orphan; running with SOURCE), -ENOSPC if max < 2 (m unchanged). */
int migproto_adopt(struct migproto *m, enum migproto_role role, const struct migproto_params *p,
		   bool running, uint64_t now, struct migproto_action *out, size_t max, size_t *n);

/* Node came back as a new incarnation at reborn_ms (same clock as the events; ssid learns it
 * from the node's HELLO: it crashed or rebooted, its processes and its daemon's memory of m
 * are gone; a restart of its daemon alone is no new incarnation). True if that is node's
 * death for m, i.e. the daemon must feed MIGPROTO_EV_NODE_DEAD for node now instead of
 * waiting for membership to call it dead: node is a party of m other than self, m is not
 * final, and reborn_ms >= m->born (the incarnation m began with is the one that died; one
 * that began before m started is the one m talks to). Pure; m unchanged. */
bool migproto_reborn(const struct migproto *m, uint16_t node, uint64_t reborn_ms);

/* Feed one event. Writes at most max actions to out (max >= MIGPROTO_MAX_ACTIONS is always
 * enough) and their number to *n; the daemon performs them in order. Returns 0 (also when
 * the event is ignored: *n = 0), -EINVAL for a malformed event (unknown type, now going
 * back), -ENOSPC if max was too small (m is then unchanged). */
int migproto_step(struct migproto *m, const struct migproto_event *ev, struct migproto_action *out,
		  size_t max, size_t *n);

/* When the daemon must feed EV_TIMER next (ms, same clock as events); 0: never. */
uint64_t migproto_deadline(const struct migproto *m);

/* True in a final state: the machine will ask for no further local action (it still
 * answers queries; the daemon may free it, home answers later queries from its history
 * with migproto_home_orphan()). */
bool migproto_final(const struct migproto *m);

/* Home node, no machine for this mig_id (unknown, finished and freed, or home restarted):
 * answer a READY or QUERY from its history. committed: the durable record says the move
 * committed. Unknown moves are presumed aborted (home never commits them any more).
 * Returns 0 with *n = 0 or 1 action (SEND COMMIT or ABORT to the sender). */
int migproto_home_orphan(bool committed, const struct migproto_event *ev,
			 struct migproto_action *out, size_t max, size_t *n);

/* Invariant: true when m is consistent (role/state pair, deadline set exactly in waiting
 * states, nodes valid). Asserted on entry to every public function taking m. */
bool migproto_check(const struct migproto *m);

/* Names for logs and tests ("S_DECIDING", "READY", ...). Never NULL; static strings. */
const char *migproto_state_name(enum migproto_state s);
const char *migproto_msg_name(enum migproto_msg msg);
const char *migproto_ev_name(enum migproto_ev ev);
const char *migproto_act_name(enum migproto_act a);
const char *migproto_outcome_name(enum migproto_outcome o);
const char *migproto_role_name(enum migproto_role r);

#endif
