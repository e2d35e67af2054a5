/*
 * link_int.h - the inside of struct link and struct link_mgr, shared by link.c (the manager:
 * listen, accept, dial, send, stop) and link_session.c (one session's thread: SSH set-up and
 * the frame loop). Not for other modules: use link.h. Locking rules are in link.c's header.
 */
#ifndef SSI_LINK_INT_H
#define SSI_LINK_INT_H

#include "ssid/link.h"

#include <libssh/callbacks.h>
#include <libssh/server.h>
#include <pthread.h>
#include <stdatomic.h>

#define HELLO_TIMEOUT_MS  5000
#define SETUP_TIMEOUT_MS  10000
#define CONNECT_TIMEOUT_S 2
#define POLL_MS		  100
#define OUTQ_MAX	  (8u << 20) /* a peer this far behind is not reading */
#define STABLE_MS	  10000	     /* a link up this long resets the backoff */
#define SUBSYSTEM	  "ssi"
#define MAX_LINKS	  1024 /* threads; beyond this new connections are closed at once */

struct link {
	struct link_mgr *mgr;
	pthread_t thr;
	int outgoing;  /* 1: we dialled */
	char name[64]; /* client: node dialled */
	char host[64]; /* client: its address */
	uint16_t port;
	char remote[96]; /* "addr:port" of the other end */
	int efd;	 /* eventfd: queue has frames / stop */
	pthread_mutex_t qlock;
	struct buf outq;   /* frames to send (qlock) */
	int peer_id;	   /* > 0 once HELLO accepted (mgr->lock) */
	int up;		   /* HELLO exchanged (mgr->lock) */
	uint64_t up_seq;   /* the manager's count of links up when this one came up (lock) */
	int done;	   /* thread ended, join me (mgr->lock) */
	int sockfd;	   /* socket while connected, else -1 (mgr->lock) */
	int accepted_fd;   /* server: socket handed over by accept */
	struct link *next; /* mgr->links (mgr->lock) */
	/* Owned by the link's thread only: */
	ssh_session s;
	ssh_channel ch;
	ssh_event ev;
	char key_name[64]; /* server: name the client key is pinned for */
	char refusal[256]; /* server: why auth was refused */
	int authed, sub_ok, denials;
	uint64_t hb_seq;
	struct ssh_server_callbacks_struct scb;
	struct ssh_channel_callbacks_struct ccb;
};

struct link_mgr {
	struct link_cfg cfg;
	struct link_ops ops;
	ssh_bind bind;
	int lfd;
	atomic_int stopping;
	pthread_mutex_t lock;
	struct link *links; /* lock */
	uint64_t ups;	    /* lock: links that came up so far (link.up_seq) */
	atomic_uint_fast64_t frames_tx, frames_rx, bytes_tx, bytes_rx;
	int self_id;
};

/* link_session.c: thread bodies, and the eventfd wake-up used by the manager. */
void *link_server_thread(void *arg);
void *link_client_thread(void *arg);
void link_wake(struct link *l);

#endif
