/*
 * mig_int.h - inside of the migration module, shared by mig.c (loop, sockets, process table),
 * mig_relay.c (stdio relay), mig_stdin.c (stdin, exactly once), mig_proto.c (migproto machines
 * and their actions), mig_stream.c (image stream, restore worker), mig_sink.c (where an
 * incoming image goes) and mig_imgch.c (the image channel's connections). Not for other
 * modules: use mig.h.
 *
 * Threads: everything here except the event queue and the sink table is touched only by
 * the coordinator thread. Link threads and stream threads post events (mig_post) and write
 * image chunks into sinks (mig_sink_*), both under m->qlock.
 */
#ifndef SSI_MIG_INT_H
#define SSI_MIG_INT_H

#include "db/db.h"
#include "migrate/dump.h"
#include "migrate/fault.h"
#include "migrate/imgseal.h"
#include "migrate/migproto.h"
#include "ssid/mig.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#define MIG_MAX_CLIENTS	  128
#define MIG_MAX_PROCS	  256
#define MIG_MAX_MACH	  64
#define MIG_MAX_SINKS	  16
#define MIG_KEEP_FINAL_MS 60000 /* a final machine answers late QUERY/READY this long */

/* Timings of a move as MIG_READY / MIG_DONE carry them (0: not known). */
struct mig_times {
	uint64_t freeze_us, transfer_us, restore_us, bytes;
};

enum mig_evk {
	EVK_WIRE = 1, /* a MIG_*, STDIO or EXIT frame from a peer (or from ourselves), or a
		       * SIGNAL handed over by mig_signal() */
	EVK_PROTO,    /* a local migproto event (stream thread, worker) for mig_id/role */
};

struct mig_ev {
	struct mig_ev *next;
	int kind;
	int peer;
	/* EVK_WIRE */
	uint16_t type;
	uint32_t reqid;
	uint8_t roles;		       /* MIG_*: from << 4 | to, 0 if absent */
	struct mig_times tm;	       /* MIG_READY, MIG_DONE */
	struct wire_mig_offer offer;   /* MIG_OFFER */
	struct wire_mig_accept accept; /* MIG_ACCEPT: the image channel's port and key */
	uint64_t mig_id;
	int32_t err;
	uint32_t pid;
	uint32_t gpid, signo, uid; /* STDIO, EXIT, SIGNAL */
	uint8_t stream, eof;	   /* eof: also "last chunk" of a MIG_STREAM progress */
	int32_t status;
	uint8_t *data; /* STDIO data (malloc'd) */
	size_t len;
	uint64_t off, ack, epoch; /* STDIO offsets and acknowledgements (mig.c relay) */
	uint8_t flags;		  /* STDIO: WIRE_STDIO_F_*; EXIT: WIRE_EXIT_F_* */
	char reason[MIGPROTO_REASON_MAX];
	/* EVK_PROTO */
	int role;
	int pev; /* enum migproto_ev */
	struct dump_stats dst;
	double first_ms, last_ms; /* stream: when the first / last chunk went out (destination:
				   * last_ms = when this chunk arrived) */
	uint64_t bytes;
	int dctl;   /* STREAM_DONE: control pipe of the checkpoint child holding the process
		     * frozen, or -1 (taken by the receiver; mig_dump_ctl) */
	pid_t dpid; /* that child */
};

enum proc_kind {
	P_CHILD = 1, /* a child of the deputy on this (home) node: its own stdio */
	P_RESTORED,  /* restored here by a worker: stdio are pipes relayed to the deputy */
	P_REMOTE,    /* home record only: runs on node `where` */
};

struct proc {
	int used;
	uint32_t gpid;
	uint32_t uid;
	int home, where; /* node ids */
	int kind;
	pid_t pid;     /* local pid (P_CHILD, P_RESTORED) */
	int deputy;    /* client index (home), -1 if none or gone */
	uint64_t mig;  /* migration in flight, 0 if none */
	int src_dead;  /* the source copy was killed by the dump */
	uint64_t sigq; /* signals held while a migration is in flight */
	char comm[64];
	/* P_RESTORED: the worker and its pipes */
	pid_t wpid;
	int st_fd, ctl_fd, in_fd, out_fd, err_fd;
	int resumed;
	int exited, status; /* worker reported the process's end */
	struct buf st_in;   /* partial status lines */
	/* ended here: its EXIT waits for its output's acknowledgement */
	int exit_held;
	/* home, reloaded after a restart of this daemon (mig_adopt.c): waiting since this
	 * mig_now_ms() for its deputy to re-attach (0: not waiting); meanwhile its output
	 * (DEPUTY_OUTPUT bodies) and its end are kept for it */
	double await_deputy;
	int reloaded; /* home: this entry was reloaded from sqlite at this daemon's start */
	struct buf dep_out;
	int dep_exit, dep_status;
};

struct mach {
	int used;
	struct migproto p;
	int requester; /* home: gmigrate client index, -1 if none */
	int64_t db_id; /* home: history row */
	int64_t t0;    /* home: wall ms at request */
	double t0_mono;
	uint32_t pid; /* dst: restored pid; src: local pid */
	uint32_t uid, gid;
	char comm[64];
	/* source stream */
	pthread_t th;
	int th_started;
	volatile int cancel;
	int rfd;	   /* read end the stream thread reads (closed on cancel) */
	int dctl;	   /* source: control pipe of the child holding it frozen, -1 if none */
	pid_t dpid;	   /* source: that checkpoint child */
	int thaw_pending;  /* source: THAW asked while the stream thread still ran */
	int thawed;	   /* source: the move is abandoned and that was handled */
	unsigned dead_fed; /* NODE_DEAD given for src (1), dst (2), home (4) */
	int stalled;	   /* a stall fault hit: this side takes no further action */
	/* statistics: measured at the destination (first image byte received -> resumed,
	 * first -> last chunk received, the restore engine's time, bytes received), sent to
	 * the home in MIG_READY and MIG_DONE; a home that is the source measures the freeze
	 * itself, from the engine's first image byte to DONE */
	int64_t freeze_ms, transfer_ms, restore_ms;
	uint64_t bytes;
	double t_first, t_last; /* destination: chunk arrivals; source at home: frozen */
	double freeze_exact, transfer_exact, restore_exact; /* destination, ms, < 0 unknown */
	int reported;
	double final_at; /* when the machine became final (kept a while to answer QUERY) */
	/* the image channel (mig_imgch.c): destination, its own listener's port and key, sent
	 * in MIG_ACCEPT; source, the destination's from that ACCEPT. img_port 0: none (the
	 * image goes in MIG_STREAM frames over the SSH link) */
	uint16_t img_port;
	struct imgseal_key img_key;
};

struct client {
	int fd; /* -1 = free slot (unless rnode) */
	uid_t uid;
	pid_t pid;
	uint32_t gpid; /* deputy of this process, 0 if none */
	struct buf in, out;
	/* Home: a MOVE_REQ of node rnode (request id rreq) in a slot of its own, fd -1: what
	 * is sent to it goes back as MOVE_PROGRESS / MOVE_RESULT / ERROR (mig_client.c). */
	int rnode;
	uint32_t rreq;
	double rsince; /* mig_now_ms() when it came */
	/* gmigrate's MIGRATE forwarded to the process's home node fnode as MOVE_REQ freq at
	 * fsince (mig_now_ms()); fheard: the home has answered (a progress line at least) */
	int fnode, fheard;
	uint32_t freq, fgpid;
	double fsince;
};

struct shmring;	    /* migrate/shmring.h */
struct sink_writer; /* mig_sink.c: the thread that writes a sink's chunks into its pipe */
struct imgrx;	    /* mig_imgch.c: the thread receiving an image channel into a sink */

enum sink_path {
	SINK_UNDECIDED = 0, /* neither MIG_STREAM nor the image channel has brought a byte */
	SINK_SSH,	    /* MIG_STREAM chunks over the SSH link */
	SINK_DIRECT,	    /* the image channel (its receiver writes the ring itself) */
};

struct sink {
	uint64_t mig_id;
	int fd; /* -1 free, else in use (the image goes through w's ring to the worker) */
	uint64_t next_seq;
	struct sink_writer *w; /* chunks are queued to it: a link thread never blocks on a
				* full pipe while the restore waits for that link (/gfs) */
	enum sink_path path;
	struct imgrx *rx; /* the image channel's receiver, NULL if none (or stopped) */
};

struct mig {
	struct cluster *c;
	const struct config *cfg;
	int self;
	struct db *db;
	int lfd;  /* mig.sock */
	int evfd; /* eventfd: wake the loop */
	pthread_t th;
	int running;
	volatile int stopping;
	pthread_mutex_t qlock;
	struct mig_ev *qhead, *qtail;	  /* qlock */
	struct sink sinks[MIG_MAX_SINKS]; /* qlock */
	char sock_path[4200];
	struct client cl[MIG_MAX_CLIENTS];
	struct proc procs[MIG_MAX_PROCS];
	struct mach mach[MIG_MAX_MACH];
	pthread_mutex_t elock;		      /* over the snapshot below */
	struct mig_entry ents[MIG_MAX_PROCS]; /* elock: for mig_entries() */
	size_t nents;
	uint32_t seq;
	/* home: moves its predecessor (before a restart) left undecided or committed, as the
	 * durable records say: answers to late READY / QUERY (mig_adopt.c) */
	struct {
		uint64_t id;
		int committed;
	} orph[MIG_MAX_PROCS];
	size_t norph;
	double t_scan;	     /* last look for held copies to adopt (mig_adopt.c) */
	struct balance *bal; /* automatic moves (balance.h) */
	atomic_int rx_live;  /* image channel receivers still running (mig_imgch.c): they use m */
};

/* mig.c */
void mig_post(struct mig *m, struct mig_ev *ev); /* takes ev (malloc'd) */
struct proc *mig_proc(struct mig *m, uint32_t gpid);
struct proc *mig_proc_new(struct mig *m, uint32_t gpid);
void mig_proc_drop(struct mig *m, struct proc *p);
void mig_proc_detach_worker(struct proc *p); /* forget the worker and pipes of a copy gone */
/* Publish the process table to mig_signal()/mig_entries() (link threads) now, not only at
 * the end of the loop turn: a process resumed here must be found by a SIGNAL its DONE causes. */
void mig_snapshot(struct mig *m);
/* mig_client.c */
void mig_client_accept(struct mig *m);
void mig_client_error(struct mig *m, int ci, int code, const char *text); /* DEPUTY_ERROR */
int mig_parent_of(pid_t pid); /* ppid from /proc/PID/stat, -1 if unreadable (mig_client.c) */
void mig_client_read(struct mig *m, int ci); /* may close the client */
void mig_client_flush(struct mig *m, int ci);
void mig_client_send(struct mig *m, int ci, uint16_t type, struct buf *body);
void mig_send_stdin(struct mig *m, struct proc *p, uint8_t eof, const uint8_t *d, size_t n);
/* MOVE_REQ / MOVE_PROGRESS / MOVE_RESULT and ERROR for MOVE_REQ (link threads: post). */
int mig_client_on_wire(void *ctx, int peer, const struct wire_msg *w, struct buf *reply);
void mig_client_wire_ev(struct mig *m, struct mig_ev *ev); /* that event, coordinator */
void mig_client_fwd_check(struct mig *m); /* about once a second: forwarded moves' homes */
/* EXIT to p's deputy, forget p; WHERE to its deputy; a signal wherever p runs (held while
 * it moves). */
void mig_deputy_exit(struct mig *m, struct proc *p, int status, const char *text);
void mig_deputy_where(struct mig *m, struct proc *p);
void mig_deliver_signal(struct mig *m, struct proc *p, int signo);

/* mig.c */
double mig_now_ms(void);
/* mig_relay.c (coordinator, except mig_relay_handover) */
void mig_relay_drain(struct mig *m, struct proc *p); /* send what is in its pipes now */
void mig_proc_exited(struct mig *m, struct proc *p); /* EXIT to home once output is out */
/* Its relay state goes. */
void mig_relay_forget(struct mig *m, const struct proc *p);
/* Room for stream (1 stdout, 2 stderr) of p in its window: 0 = do not read its pipe now. */
size_t mig_relay_room(struct mig *m, struct proc *p, int stream);
/* Read what *fd (p's stream 1 or 2) holds now (drain: all that fits the window) and relay
 * it; closes *fd at EOF. Returns 0, or 1 at EOF. */
int mig_relay_fd(struct mig *m, struct proc *p, int *fd, int stream, int drain);
/* Every loop turn: resends, acknowledgements; *tmo_ms shortened while anything pends. */
void mig_relay_turn(struct mig *m, int *tmo_ms);
/* A STDIO frame; an EXIT frame. */
void mig_relay_stdio_ev(struct mig *m, struct mig_ev *ev);
void mig_relay_exit_ev(struct mig *m, struct mig_ev *ev);
uint64_t mig_relay_epoch(int self); /* unique per holder stint (node id, wall clock) */
/* mig_stdin.c (coordinator) */
/* Home: grun's stdin for p (not P_CHILD), kept until the process read it wherever it runs. */
void mig_stdin_put(struct mig *m, struct proc *p, uint8_t eof, const uint8_t *d, size_t n);
void mig_stdin_frame(struct mig *m, int peer, const struct wire_stdio *s); /* stream 0 */
void mig_stdin_forget(struct mig *m, const struct proc *p); /* p goes (or is rebuilt) */
/* Every turn; *busy: something to resend or confirm; *fast: a read offset is moving. */
void mig_stdin_turn(struct mig *m, int *busy, int *fast);
/* Stream thread, source of a move of a process whose home is another node, once it is
 * frozen: read what its output pipes fd[0] (stdout), fd[1] (stderr) hold (-1: none) and
 * wait until the home has acknowledged all of its output, so that nothing the process
 * wrote here is pending when the move commits. 0, -ECANCELED (*cancel set) or -ETIMEDOUT
 * (after timeout_ms; why says so). */
int mig_relay_handover(struct mig *m, uint32_t gpid, int home, const int fd[2],
		       volatile int *cancel, int timeout_ms, char *why, size_t whylen);

/* mig_mach.c */
struct mach *mig_mach_new(struct mig *m, int role, const struct migproto_params *pp);
/* mig_proto.c */
struct mach *mig_mach_find(struct mig *m, uint64_t id, int role);
void mig_step(struct mig *m, struct mach *k, struct migproto_event *ev); /* and act */
void mig_send_msg(struct mig *m, struct mach *k, const struct migproto_action *a);
void mig_proto_wire(struct mig *m, struct mig_ev *ev);	/* a MIG_* frame */
void mig_proto_local(struct mig *m, struct mig_ev *ev); /* an EVK_PROTO event */
void mig_proto_timers(struct mig *m, int *tmo_ms);
void mig_proto_nodes(struct mig *m); /* membership check, about once a second */
enum fault_action mig_fault(const char *point, const char *role); /* crash: exits */
/* The same with the node a `cut` at this point separates us from (0: none). */
enum fault_action mig_fault_peer(const char *point, const char *role, int peer);
int mig_proto_request(struct mig *m, int ci, uint32_t gpid, int dst, char *err, size_t errlen);
void mig_proto_worker_line(struct mig *m, struct proc *p, const char *line);
void mig_proto_free(struct mig *m);
void mig_post_proto(struct mig *m, uint64_t id, int role, int pev, int err, const char *why);

/* mig_proto.c: carry out actions of k (an adopted machine's first ones) */
void mig_act_list(struct mig *m, struct mach *k, const struct migproto_action *a, size_t n);

/* mig_adopt.c: daemon restarts. Held side (forked helpers, no logging): before forking the
 * checkpoint child (source) or the restore worker (dest), the coordinator notes the move
 * (mig_hold_note(k, 0 / 1); mig_hold_note(NULL, 1) after the worker's fork); a helper whose
 * daemon died calls mig_hold_wait(): it listens on run_dir/hold-<mig_id>-<S|D>.sock (0600,
 * root peers only) until a daemon adopts it, makes that connection its control (ctlfd) and
 * status (stfd, -1 none) descriptors, and returns the first command byte read on it. It
 * never returns without one; 0 only if the move was never noted (the caller keeps its old
 * rule). Daemon side, coordinator thread: */
void mig_hold_dir(const char *run_dir);
void mig_hold_note(const struct mach *k, int worker);
char mig_hold_wait(int role, pid_t pid, int stfd, int ctlfd);
/* The restore worker, once its process runs: wait for waitfor (the process or the init of
 * its PID namespace; pid: the process) and return its wait status. If ssid dies meanwhile
 * it listens (tag G) and an adopting daemon becomes ctl and stw; its stdout/stderr pipes
 * keep a reader so that the process's writes block instead of killing it. */
int mig_hold_run(pid_t waitfor, pid_t pid, int stw, int ctl);
void mig_adopt_scan(struct mig *m);  /* connect to held helpers, rebuild their moves */
void mig_reload(struct mig *m);	     /* home: processes and decided moves from sqlite */
void mig_reload_tick(struct mig *m); /* deputies that never came back */
void mig_reattach(struct mig *m, int ci, struct buf *b); /* DEPUTY_REATTACH */
/* A READY/QUERY for a move home has no machine for: 1 if answered from its records. */
int mig_orphan_answer(struct mig *m, const struct migproto_event *pe, uint64_t id);
/* Home: output / end of a reloaded process whose deputy is not back: 1 if kept for it. */
int mig_await_output(struct proc *p, uint8_t stream, uint8_t eof, const uint8_t *d, size_t n);
int mig_await_exit(struct proc *p, int status);

/* mig_stream.c */
void mig_progress(struct mig *m, const struct mach *h, const char *fmt, ...)
	__attribute__((format(printf, 3, 4))); /* a step line for h's gmigrate */
/* Timings (-1 unknown) into the home's machine h; progress lines for its gmigrate. */
void mig_merge_stats(struct mig *m, struct mach *h, int64_t fr, int64_t tr, int64_t rs,
		     uint64_t bytes);
void mig_stream_start(struct mig *m, struct mach *k); /* FREEZE: checkpoint and stream */
/* Source: the frozen process's fate, c 'K' (kill: committed) or 'R' (release: abandoned);
 * returns once it is done. Nothing if k holds no frozen process. */
void mig_dump_ctl(struct mach *k, char c);
/* RESTORE: fork the worker for p; the image comes from a sink fed by MIG_STREAM chunks
 * (image_fd -1) or from image_fd (the caller keeps its own descriptor). The worker holds the
 * restored process stopped until "C" (resume) or "K"/EOF (discard) on p->ctl_fd. */
int mig_worker_spawn(struct mig *m, struct proc *p, uint64_t id, int image_fd);

/* mig_sink.c */
/* A sink for the image of move id into ring (producer side; the sink takes ring): 0, or
 * -ENOMEM / -EBUSY (ring freed). */
int mig_sink_open(struct mig *m, uint64_t id, struct shmring *ring);
int mig_sink_write(struct mig *m, const struct wire_mig_stream *s); /* link threads */
void mig_sink_close(struct mig *m, uint64_t id);
void mig_sink_close_all(struct mig *m); /* the daemon stops: every sink and receiver ends */
/* The image channel's receiver (mig_imgch.c), once its connection authenticated: make the
 * sink of id take its image from that channel (MIG_STREAM for it is refused from now on)
 * and hand out its ring, with a reference *ref. NULL if the sink is gone or its image came
 * over the SSH link already. mig_sink_direct_end(): the last record arrived (drop 0) or
 * the channel failed (drop 1): the sink ends; the reference goes. */
struct shmring *mig_sink_direct(struct mig *m, uint64_t id, struct sink_writer **ref);
void mig_sink_direct_end(struct mig *m, uint64_t id, struct sink_writer *ref, int drop);
/* Attach rx to the sink of id (qlock): stopped when the sink ends. 0 or -ENOENT. */
int mig_sink_attach_rx(struct mig *m, uint64_t id, struct imgrx *rx);

/* mig_imgch.c: the image channel (migrate/imgchan.h), when [migrate] image_channel = direct.
 * Destination, after mig_worker_spawn made k's sink: listen on the node's address, pick a
 * key, start the receiver thread; sets k->img_port and k->img_key for MIG_ACCEPT (left 0 if
 * that fails: logged, the image then comes over the SSH link). */
void mig_imgrx_start(struct mig *m, struct mach *k);
/* The sink ends (mig_sink.c, qlock held): the receiver stops within 100 ms; the sink's
 * reference on rx goes. */
void mig_imgrx_stop(struct imgrx *rx);
/* Source, stream thread: connect to the image channel k's destination announced (ACCEPT);
 * the socket, or -1 with why filled (then stream over the SSH link). After a failure the
 * node is not tried again for 5 minutes (a dropping firewall would cost each move 3 s). */
int mig_imgtx_connect(struct mig *m, uint64_t id, int dst, uint16_t port, char *why, size_t whylen);
/* The channel's port and key into a MIG_ACCEPT, and back (returns the port, 0: none). */
void mig_imgch_pack(uint16_t port, const struct imgseal_key *k, struct wire_mig_accept *a);
uint16_t mig_imgch_unpack(const struct wire_mig_accept *a, struct imgseal_key *k);

#endif
