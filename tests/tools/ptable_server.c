/*
 * ptable_server.c - test tool: a stand-in for ssid's cluster-table service on a control
 * socket, so gprocfs/gps with source=ssid can be tested before the daemon serves the table.
 *
 * Uses the daemon's own socket code (ssid/ctl.c) and answers PTABLE_CTL_TYPE with this
 * machine's table as node ID/NAME merged with two peers it describes itself: "beta" (id ID+1,
 * up, 2 CPUs, booted 100 s before this machine) running two processes - one born there
 * (cmdline "remote_sleeper 42", uid 1000) and one that came from this node - and "gamma"
 * (id ID+2, down, no processes). Other requests: -EOPNOTSUPP. Runs until SIGTERM/SIGINT.
 * usage: ptable_server SOCK ID NAME
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ssid/ctl.h"
#include "ssid/ptable.h"
#include "ssid/ssierr.h"

static volatile sig_atomic_t stop;
static unsigned my_id;
static const char *my_name;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static struct ptable_node *peer_node(struct ptable *t, unsigned id, const char *name,
				     uint64_t btime, int state)
{
	struct ptable_node *n = ptable_add_node(t);

	if (!n)
		return NULL;
	n->id = (uint16_t)id;
	snprintf(n->name, sizeof(n->name), "%s", name);
	n->state = (uint8_t)state;
	n->btime = btime;
	n->cpus = 2;
	n->cpu = calloc(2, PTABLE_CPU_FIELDS * sizeof(uint64_t));
	if (!n->cpu)
		return NULL;
	for (int c = 0; c < 2; c++) {
		n->cpu[c * PTABLE_CPU_FIELDS + 0] = 5000;  /* user */
		n->cpu[c * PTABLE_CPU_FIELDS + 3] = 90000; /* idle */
	}
	n->mem[PTABLE_MEM_TOTAL] = 2000000;
	n->mem[PTABLE_MEM_FREE] = 1500000;
	n->mem[PTABLE_MEM_AVAILABLE] = 1600000;
	n->loadavg_c[0] = 100;
	n->load = 500;
	snprintf(n->model, sizeof(n->model), "stand-in cpu");
	return n;
}

static struct ptable_proc *peer_proc(struct ptable *t, unsigned home, unsigned node, uint32_t pid,
				     const char *comm, const char *cmdline, size_t cmdlen)
{
	struct ptable_proc *p = ptable_add_proc(t);

	if (!p)
		return NULL;
	p->home = (uint16_t)home;
	p->node = (uint16_t)node;
	p->pid = pid;
	p->gpid = ptable_gpid(home, pid);
	p->state = 'S';
	snprintf(p->comm, sizeof(p->comm), "%s", comm);
	for (int i = 0; i < 4; i++)
		p->uid[i] = p->gid[i] = 1000;
	p->ppid = ptable_gpid(node, 1);
	p->pgrp = p->session = p->gpid;
	p->tty_nr = 34817; /* pts/1 on its node: must show as no tty elsewhere */
	p->tpgid = (int32_t)p->gpid;
	p->priority = 20;
	p->num_threads = 1;
	p->starttime = 1000;
	p->vsize = 8 << 20;
	p->rss = 100;
	p->vm[PTABLE_VM_SIZE] = 8192;
	p->vm[PTABLE_VM_RSS] = 400;
	p->cmdline = malloc(cmdlen);
	if (!p->cmdline)
		return NULL;
	memcpy(p->cmdline, cmdline, cmdlen);
	p->cmdline_len = (uint32_t)cmdlen;
	return p;
}

static int serve(void *ctx, const struct ctl_caller *who, struct buf *req, struct buf *reply)
{
	struct ptable *t = NULL, *peers = ptable_new();
	int r;

	(void)ctx;
	(void)who;
	(void)req;
	if (!peers)
		return -ENOMEM;
	r = ptable_read_self(&t, "/proc", my_id, my_name);
	if (r == 0) {
		uint64_t b = t->nodes[0].btime - 100;
		static const char a1[] = "remote_sleeper\00042";
		static const char a2[] = "migrated_job\000--run";
		if (!peer_node(peers, my_id + 1, "beta", b, PTABLE_NODE_UP) ||
		    !peer_node(peers, my_id + 2, "gamma", b, PTABLE_NODE_DOWN) ||
		    !peer_proc(peers, my_id + 1, my_id + 1, 4242, "remote_sleeper", a1,
			       sizeof(a1)) ||
		    !peer_proc(peers, my_id, my_id + 1, PTABLE_PID_MASK - 7, "migrated_job", a2,
			       sizeof(a2)))
			r = -ENOMEM;
	}
	if (r == 0) {
		ptable_sort(peers);
		r = ptable_merge(t, peers);
	}
	if (r == 0)
		r = ptable_encode(t, reply);
	ptable_free(peers);
	ptable_free(t);
	return r;
}

int main(int argc, char **argv)
{
	struct ctl_server *s;
	char err[256];
	int r;

	if (argc != 4 || atoi(argv[2]) < 1 || atoi(argv[2]) > PTABLE_NODE_MAX - 2) {
		fprintf(stderr, "usage: ptable_server SOCK ID NAME (ID 1..%d)\n",
			PTABLE_NODE_MAX - 2);
		return 2;
	}
	my_id = (unsigned)atoi(argv[2]);
	my_name = argv[3];
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	r = ctl_server_open(&s, argv[1], err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "ptable_server: %s\n", err);
		return 1;
	}
	ctl_server_add(s, PTABLE_CTL_TYPE, 0, serve, NULL);
	while (!stop) {
		struct pollfd pfd = {ctl_server_fd(s), POLLIN, 0};
		if (poll(&pfd, 1, 200) == 1)
			ctl_server_serve(s);
	}
	ctl_server_free(s);
	return 0;
}
