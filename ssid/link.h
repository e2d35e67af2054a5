/*
 * link.h - SSH links between node daemons (libssh 0.10): the listening server, one client per
 * peer with reconnect and backoff, a session channel per link carrying wire frames.
 *
 * Threads (libssh rule): every session is owned by exactly one thread, which does all its I/O
 * through one ssh_event poll loop; other threads hand frames over by appending to the link's
 * queue and writing its eventfd. A server link lives for one session; a client link is a
 * thread that reconnects (backoff reconnect_min_ms doubling to reconnect_max_ms, +-25%
 * jitter) until link_mgr_stop().
 *
 * Protocol on a link: both sides send HELLO first, then HEARTBEAT every heartbeat_ms; a link
 * silent for down_ms, a frame that fails to decode, or a frame before HELLO closes that link
 * (ops->on_close says why). Identity decisions (is this key trusted, is this HELLO the node
 * the key belongs to) are the caller's, through struct link_ops; this module only enforces
 * that they are asked. Does not log: reasons go to ops callbacks.
 */
#ifndef SSI_LINK_H
#define SSI_LINK_H

#include "ssid/wire.h"

#include <libssh/libssh.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>

struct link;
struct link_mgr;

struct link_cfg {
	int self_id; /* our node id, sent in heartbeats */
	int heartbeat_ms;
	int down_ms; /* silence that closes a link */
	int reconnect_min_ms;
	int reconnect_max_ms;
	char key_path[PATH_MAX]; /* ed25519 private key: host key and client key */
	char ciphers[128];	 /* "" = libssh default order */
};

/* Callbacks, called from link threads (never with a link lock held); must be thread-safe. */
struct link_ops {
	void *ctx;
	/* Server: may the client key log in? 0 yes (name gets the node name the key is pinned
	 * for in known_hosts, or "" if none), negative no (why: one line). */
	int (*auth_key)(void *ctx, const char *remote, ssh_key key, char *name, size_t cap,
			char *why, size_t whycap);
	/* Client: is key the pinned host key of node peer_name? 0 yes, negative no (why). */
	int (*host_key)(void *ctx, const char *peer_name, const char *remote, ssh_key key,
			char *why, size_t whycap);
	/* Fill our HELLO (borrowed pointers must stay valid until the link is closed). */
	void (*make_hello)(void *ctx, struct wire_msg *m);
	/* The peer's HELLO arrived. key_name: the pinned name of its key ("" if not pinned);
	 * expect: the node we dialled (client) or "" (server). Return the peer's node id (> 0)
	 * to accept, or negative to close the link (why). */
	int (*on_hello)(void *ctx, struct link *l, const struct wire_hello *h, const char *key_name,
			const char *expect, char *why, size_t whycap);
	/* A frame after HELLO. Reply frames may be appended to reply (sent on this link).
	 * Return 0, or negative to close the link (why). */
	int (*on_msg)(void *ctx, struct link *l, int peer_id, const struct wire_msg *m,
		      struct buf *reply, char *why, size_t whycap);
	/* The link closed (peer_id 0 if HELLO never completed). */
	void (*on_close)(void *ctx, struct link *l, int peer_id, const char *remote,
			 const char *reason);
};

/* Create the manager; imports the key (err says what to fix). 0 or negative. */
int link_mgr_new(struct link_mgr **out, const struct link_cfg *cfg, const struct link_ops *ops,
		 char *err, size_t errlen);

/* Bind and listen on host:port. Returns 0 or -errno with err like
 * "127.0.1.1:7022: address in use". */
int link_mgr_listen(struct link_mgr *m, const char *host, uint16_t port, char *err, size_t errlen);
/* The listening socket (poll it for POLLIN, then call link_mgr_accept), or -1. */
int link_mgr_listen_fd(const struct link_mgr *m);
/* Accept one connection and start its server thread. 0 or negative (err). */
int link_mgr_accept(struct link_mgr *m, char *err, size_t errlen);

/* Start the client link to node name at host:port unless one exists for name. 0 (started or
 * already there) or negative. */
int link_mgr_dial(struct link_mgr *m, const char *name, const char *host, uint16_t port);

/* Encode msg and queue it on one up link to peer_id (the outgoing one if both are up).
 * 0, -ENOTCONN (no up link), or a wire_encode error. */
int link_mgr_send(struct link_mgr *m, int peer_id, const struct wire_msg *msg);

/* Ids of peers with at least one up link, into ids (cap). Returns the count. */
size_t link_mgr_up_peers(struct link_mgr *m, int *ids, size_t cap);

/* Counters of the manager. */
struct link_stats {
	unsigned links;	    /* links (threads) alive */
	unsigned up;	    /* links with HELLO done */
	uint64_t frames_tx; /* totals since start */
	uint64_t frames_rx;
	uint64_t bytes_tx;
	uint64_t bytes_rx;
};
void link_mgr_stats(struct link_mgr *m, struct link_stats *st);

/* Join server threads that have ended. Call from time to time. */
void link_mgr_reap(struct link_mgr *m);

/* Close every link, join every thread, free the manager. */
void link_mgr_free(struct link_mgr *m);

/* Fault injection (tests only, migrate/fault.h "cut"): close every link to node peer now
 * and refuse it for ms, on both sides' terms: a cut peer hears nothing from us (not even
 * HELLO), our dials to it wait, its dials are closed before they count as heard. Frames
 * queued for it are lost, as in a real cut. Process-wide. 0 or -EINVAL. */
int link_fault_cut(int peer, int ms);
/* 1 while such a cut of peer lasts, else 0: what else talks to that peer (a migration's
 * image channel, migrate/imgchan.h) stops too, as a real cut stops every packet. */
int link_fault_is_cut(int peer);

/* Text address of the remote end ("127.0.1.2:41234"). Lives as long as the link. */
const char *link_remote(const struct link *l);
/* 1 if we dialled this link. */
int link_outgoing(const struct link *l);

#endif
