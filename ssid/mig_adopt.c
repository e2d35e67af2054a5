/*
 * mig_adopt.c - a move and the processes of a node survive a restart of that node's ssid
 * alone (kill -9, crash of the daemon; the node and the process stay up).
 *
 * Held side: the helper holding a copy for the daemon -- the checkpoint child holding the
 * frozen source copy once its last image chunk left, or the restore worker holding the
 * restored, stopped copy (or, once it runs, waiting for it) -- sees its daemon die (EOF on
 * its control pipe). It must neither run nor let go of a held copy (the other side may have
 * it running), so it listens on run_dir/hold-<mig_id>-<S|D|G>.sock until a restarted daemon
 * adopts it (mig_hold_wait, mig_hold_run).
 * Daemon side: the coordinator looks for those sockets every 2 s (mig_adopt_scan) and
 * rebuilds the move in doubt (migproto_adopt): the home decides, as for any doubt.
 * Home side: its table of processes is reloaded from sqlite at start (mig_reload), its
 * deputies (grun) re-attach (mig_reattach) and late questions about moves its predecessor
 * decided are answered from the durable records (mig_orphan_answer). docs/protocol.md
 * "Daemon restarts". Coordinator thread only, except mig_hold_wait / mig_hold_run (forked
 * helpers: no logging, only their stderr and a .why file).
 */
#include "migrate/deputy.h"
#include "ssid/log.h"
#include "ssid/mig_int.h"
#include "ssid/ssierr.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HOLD_WARN_MS	(5 * 60 * 1000) /* alone this long: say so again, keep holding */
#define AWAIT_DEPUTY_MS 60000		/* a reloaded process's deputy must be back by then */
#define DEP_OUT_MAX	(16u << 20)	/* output kept for a deputy not back yet */

/* ------------------------------------------------------------------ held side */

struct hold {
	uint64_t mig_id;
	uint32_t gpid;
	int role, home, src, dst;
	pid_t pid; /* source: the frozen process; dest: 0 (the worker knows it) */
};

/* Written by the coordinator before it (or the stream thread it started) forks the helper;
 * the helper reads its own copy of memory, so no lock is involved. */
static struct hold holds[MIG_MAX_MACH];
static unsigned hold_next;
static int hold_worker = -1; /* the slot of the worker about to be forked */
static char hold_run_dir[PATH_MAX];

void mig_hold_dir(const char *run_dir)
{
	snprintf(hold_run_dir, sizeof(hold_run_dir), "%s", run_dir);
}

void mig_hold_note(const struct mach *k, int worker)
{
	if (!k) {
		hold_worker = -1;
		return;
	}
	unsigned i = hold_next % MIG_MAX_MACH;
	for (unsigned j = 0; j < MIG_MAX_MACH; j++) /* one entry per frozen pid: the newest */
		if (!worker && holds[j].role == MIGPROTO_SOURCE && holds[j].pid == (pid_t)k->pid)
			i = j;
	if (i == hold_next % MIG_MAX_MACH)
		hold_next++;
	holds[i] = (struct hold){.mig_id = k->p.mig_id,
				 .gpid = k->p.gpid,
				 .role = k->p.role,
				 .home = k->p.home,
				 .src = k->p.src,
				 .dst = k->p.dst,
				 .pid = worker ? 0 : (pid_t)k->pid};
	if (worker)
		hold_worker = (int)i;
}

static int reopen_pipe(pid_t pid, int fd, int flags);

static const struct hold *hold_find(int role, pid_t pid)
{
	if (role == MIGPROTO_DEST)
		return hold_worker >= 0 ? &holds[hold_worker] : NULL;
	for (int i = 0; i < MIG_MAX_MACH; i++)
		if (holds[i].role == role && holds[i].pid == pid && holds[i].mig_id)
			return &holds[i];
	return NULL;
}

/* One line for the node's log (the checkpoint child's stderr is the daemon's) and the same
 * into run_dir/hold-...why, which outlives the helper's stderr (the worker's is /dev/null). */
static void hold_say(const char *why_path, const char *fmt, const char *what, const struct hold *h,
		     pid_t pid, const char *extra)
{
	char line[768], ts[32];
	time_t t = time(NULL);
	struct tm tm;
	int fd;

	strftime(ts, sizeof(ts), "%F %T", localtime_r(&t, &tm));
	snprintf(line, sizeof(line), fmt, ts, what, (int)pid, h->gpid,
		 (unsigned long long)h->mig_id, h->src, h->dst, h->home, extra);
	dprintf(2, "%s\n", line);
	fd = open(why_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd >= 0) {
		dprintf(fd, "%s\n", line);
		close(fd);
	}
}

/* Listen on run_dir/hold-<mig_id>-<tag>.sock until a root peer connects; greet it and make
 * the connection ctlfd and stfd (-1: none). tag: 'S' frozen source copy, 'D' restored stopped
 * copy, 'G' a guest that runs here. pfd >= 0 (a pidfd of waitfor): if it fires meanwhile,
 * waitfor is reaped into *st and *done set; listening goes on (its status is owed to a
 * daemon). Returns 0, or -1 if the helper cannot be adopted (run_dir too long). */
static int hold_accept(const struct hold *h, char tag, pid_t pid, int stfd, int ctlfd, int pfd,
		       pid_t waitfor, int *done, int *st)
{
	static const char fmt[] = "%s ssid-hold: the %s copy (pid %d, gpid %u) of migration %llx "
				  "(node %d -> %d, home node %d) is held: %s";
	const char *what = tag == 'G' ? "running" : tag == 'S' ? "frozen" : "restored";
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char why[PATH_MAX + 32];
	int l, a = -1;
	double alone = 0;

	if ((size_t)snprintf(why, sizeof(why), "%s/hold-%016llx-%c.sock", hold_run_dir,
			     (unsigned long long)h->mig_id, tag) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, why, strlen(why) + 1);
	snprintf(why, sizeof(why), "%s/hold-%016llx-%c.why", hold_run_dir,
		 (unsigned long long)h->mig_id, tag);
	for (;;) {
		l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (l < 0) {
			sleep(1);
			continue;
		}
		unlink(sa.sun_path);
		mode_t old = umask(077);
		int bad = bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 4) < 0;
		umask(old);
		if (!bad)
			break;
		close(l);
		sleep(1);
	}
	hold_say(why, fmt, what, h, pid,
		 tag == 'G' ? "its ssid died; its output waits in its pipes until a restarted "
			      "ssid adopts it"
			    : "its ssid died before the outcome was known; waiting for a restarted "
			      "ssid to adopt it and ask the home (never run or let go meanwhile)");
	while (a < 0) {
		struct pollfd pf[2] = {{.fd = l, .events = POLLIN}, {.fd = pfd, .events = POLLIN}};
		int r = poll(pf, pfd >= 0 && !*done ? 2 : 1, 1000);
		if (r == 0 && (alone += 1000) >= HOLD_WARN_MS) {
			alone = 0;
			hold_say(why, fmt, what, h, pid,
				 tag == 'G'
					 ? "still no ssid after 5 minutes (start ssid on this node)"
					 : "still no ssid after 5 minutes: it stays held (running "
					   "it could make two copies). Start ssid on this node; it "
					   "adopts it and asks the home what was decided");
		}
		if (r > 0 && pfd >= 0 && !*done && (pf[1].revents & POLLIN)) {
			while (waitpid(waitfor, st, 0) < 0 && errno == EINTR)
				;
			*done = 1;
		}
		if (r <= 0 || !(pf[0].revents & POLLIN))
			continue;
		a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		struct ucred cr;
		socklen_t crl = sizeof(cr);
		if (a >= 0 &&
		    (getsockopt(a, SOL_SOCKET, SO_PEERCRED, &cr, &crl) < 0 || cr.uid != 0)) {
			close(a);
			a = -1;
		}
	}
	close(l);
	unlink(sa.sun_path);
	dprintf(a, "H %c %llx %u %d %d %d %d %d\n", tag, (unsigned long long)h->mig_id, h->gpid,
		(int)pid, (int)getpid(), h->home, h->src, h->dst);
	unlink(why);
	dup2(a, ctlfd);
	if (stfd >= 0)
		dup2(a, stfd);
	close(a);
	return 0;
}

char mig_hold_wait(int role, pid_t pid, int stfd, int ctlfd)
{
	const struct hold *h = hold_find(role, pid);
	char c;

	if (!h || !hold_run_dir[0])
		return 0;
	signal(SIGPIPE, SIG_IGN); /* a daemon dying again must not take the held copy along */
	for (;;) {
		if (hold_accept(h, role == MIGPROTO_SOURCE ? 'S' : 'D', pid, stfd, ctlfd, -1, 0,
				NULL, NULL) < 0)
			return 0;
		ssize_t n;
		do
			n = read(ctlfd, &c, 1);
		while (n < 0 && errno == EINTR);
		if (n == 1)
			return c;
		/* the adopting daemon died too: hold on for the next one */
	}
}

int mig_hold_run(pid_t waitfor, pid_t pid, int stw, int ctl)
{
	const struct hold *h = hold_find(MIGPROTO_DEST, 0);
	int pfd = h && hold_run_dir[0] ? (int)syscall(SYS_pidfd_open, waitfor, 0) : -1;
	int st = SIGKILL, done = 0;

	if (pfd < 0) { /* not adoptable: as before, the status goes to this ssid or nowhere */
		while (waitpid(waitfor, &st, 0) < 0)
			if (errno != EINTR)
				return SIGKILL;
		return st;
	}
	signal(SIGPIPE, SIG_IGN);
	/* Readers of its stdout and stderr that outlive ssid: without one its next write would
	 * kill it (SIGPIPE) before a restarted ssid reopens the pipes. They never read. */
	int keep1 = reopen_pipe(pid, 1, O_RDONLY), keep2 = reopen_pipe(pid, 2, O_RDONLY);
	for (;;) {
		struct pollfd pf[2] = {{.fd = pfd, .events = POLLIN},
				       {.fd = ctl, .events = POLLIN}};
		char c;
		if (!done && poll(pf, 2, -1) < 0)
			continue; /* EINTR */
		if (!done && (pf[0].revents & POLLIN)) {
			while (waitpid(waitfor, &st, 0) < 0 && errno == EINTR)
				;
			done = 1;
		}
		if (done)
			break;
		if (!(pf[1].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		ssize_t n = read(ctl, &c, 1);
		if (n != 0)
			continue; /* nothing is asked of a running copy; EINTR */
		/* EOF: ssid died -- or dropped us as the process dies (killed as it left) */
		struct pollfd q = {.fd = pfd, .events = POLLIN};
		if (poll(&q, 1, 300) > 0)
			continue; /* it ends: reap it above */
		if (hold_accept(h, 'G', pid, stw, ctl, pfd, waitfor, &done, &st) < 0)
			break;
	}
	if (keep1 >= 0)
		close(keep1);
	if (keep2 >= 0)
		close(keep2);
	close(pfd);
	return st;
}

/* ------------------------------------------------------------------ daemon side: adopt */

static int read_line(int fd, char *line, size_t len)
{
	size_t n = 0;

	while (n + 1 < len) {
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		if (poll(&pf, 1, 2000) <= 0)
			return -ETIMEDOUT;
		ssize_t r = read(fd, line + n, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -EPIPE;
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	return 0;
}

/* One of the stdio pipes of the held process, reopened through /proc: the daemon that held
 * the other ends died with them. -1 if that descriptor is not a pipe. */
static int reopen_pipe(pid_t pid, int fd, int flags)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
	if (stat(path, &st) < 0 || !S_ISFIFO(st.st_mode))
		return -1;
	return open(path, flags | O_NONBLOCK | O_CLOEXEC);
}

static void proc_facts(pid_t pid, uint32_t *uid, char *comm, size_t len)
{
	char path[64];
	struct stat st;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	if (stat(path, &st) == 0)
		*uid = st.st_uid;
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	f = fopen(path, "re");
	if (f && fgets(comm, (int)len, f))
		comm[strcspn(comm, "\n")] = '\0';
	if (f)
		fclose(f);
}

/* The destination's copy: a P_RESTORED entry (or the home's own record, when the move
 * comes home) whose worker is the held helper, over the socket fd. */
static struct proc *adopt_copy(struct mig *m, int fd, uint64_t id, uint32_t gpid, pid_t pid,
			       pid_t helper, int home)
{
	struct proc *p = mig_proc(m, gpid);

	if (p && (p->st_fd >= 0 || p->kind == P_RESTORED || (p->mig && p->mig != id)))
		return NULL; /* this daemon already holds another copy of it */
	if (!p) {
		p = mig_proc_new(m, gpid);
		if (!p)
			return NULL;
		p->kind = P_RESTORED;
		p->home = home;
		p->where = m->self;
		proc_facts(pid, &p->uid, p->comm, sizeof(p->comm));
	}
	p->pid = pid;
	p->wpid = helper; /* not our child: only ever signalled, never waited for */
	p->mig = id;
	p->st_fd = fd;
	p->ctl_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	p->out_fd = reopen_pipe(pid, 1, O_RDONLY);
	p->err_fd = reopen_pipe(pid, 2, O_RDONLY);
	p->in_fd = reopen_pipe(pid, 0, O_WRONLY);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return p;
}

static void adopt_one(struct mig *m, int fd, const char *line)
{
	char r = 0;
	unsigned long long id = 0;
	unsigned gpid = 0;
	int pid = 0, helper = 0, home = 0, src = 0, dst = 0;
	struct migproto_action a[MIGPROTO_MAX_ACTIONS];
	size_t n = 0;

	if (sscanf(line, "H %c %llx %u %d %d %d %d %d", &r, &id, &gpid, &pid, &helper, &home, &src,
		   &dst) != 8 ||
	    (r != 'S' && r != 'D' && r != 'G') || pid <= 0 || helper <= 0) {
		log_warn("held copy: unreadable greeting '%s'", line);
		close(fd);
		return;
	}
	struct migproto_params pp = {.mig_id = id,
				     .gpid = gpid,
				     .self = (uint16_t)m->self,
				     .src = (uint16_t)src,
				     .dst = (uint16_t)dst,
				     .home = (uint16_t)home};
	migproto_conf_default(&pp.conf);
	if (r == 'G') { /* a guest that runs here: no move in doubt, only its relay */
		struct proc *p = adopt_copy(m, fd, id, gpid, pid, helper, home);
		if (!p) {
			log_warn("gpid %u (pid %d): a running copy left by the previous ssid, but "
				 "one is known here already; not adopted",
				 gpid, pid);
			close(fd);
			return;
		}
		p->kind = P_RESTORED;
		p->where = m->self;
		p->mig = 0;
		p->resumed = 1;
		log_warn("gpid %u: adopted its running copy (pid %d, worker pid %d) left by the "
			 "previous ssid; output and exit status go to node %d again",
			 gpid, pid, helper, home);
		/* the move that brought it here committed; its DONE may have died with the old
		 * daemon, and the home waits for it */
		struct mach *k = mig_mach_find(m, id, MIGPROTO_DEST) || dst != m->self
					 ? NULL
					 : mig_mach_new(m, MIGPROTO_DEST, &pp);
		if (k &&
		    migproto_adopt(&k->p, MIGPROTO_DEST, &pp, true, (uint64_t)cluster_mono_ms(), a,
				   MIGPROTO_MAX_ACTIONS, &n) == 0) {
			k->pid = (uint32_t)pid;
			mig_act_list(m, k, a, n);
		} else if (k) {
			k->used = 0;
		}
		return;
	}
	int role = r == 'S' ? MIGPROTO_SOURCE : MIGPROTO_DEST;
	struct mach *k = mig_mach_find(m, id, role) ? NULL : mig_mach_new(m, role, &pp);
	struct proc *p = NULL;
	if (k && role == MIGPROTO_DEST) {
		p = adopt_copy(m, fd, id, gpid, pid, helper, home);
		if (!p)
			k->used = 0;
	}
	if (!k || (role == MIGPROTO_DEST && !p) ||
	    migproto_adopt(&k->p, role, &pp, false, (uint64_t)cluster_mono_ms(), a,
			   MIGPROTO_MAX_ACTIONS, &n) < 0) {
		log_warn("migration %llx: cannot adopt the held copy of gpid %u (pid %d): %s", id,
			 gpid, pid, k ? "bad parameters" : "already known or table full");
		if (k)
			k->used = 0;
		if (p)
			mig_proc_drop(m, p);
		else
			close(fd);
		return;
	}
	k->pid = (uint32_t)pid;
	proc_facts(pid, &k->uid, k->comm, sizeof(k->comm));
	if (role == MIGPROTO_SOURCE) {
		k->dctl = fd;
		k->dpid = -helper; /* adopted: the socket closes when it is done */
		struct proc *h = mig_proc(m, gpid);
		if (h && h->where == m->self && !h->mig)
			h->mig = id; /* the home's own record (home = source) */
	}
	log_warn("migration %llx: adopted the %s copy of gpid %u (pid %d, held by pid %d) left "
		 "by the previous ssid; asking node %d what was decided",
		 id, role == MIGPROTO_SOURCE ? "frozen" : "restored", gpid, pid, helper, home);
	mig_act_list(m, k, a, n);
}

void mig_adopt_scan(struct mig *m)
{
	DIR *d;
	struct dirent *e;

	if (mig_now_ms() - m->t_scan < 2000)
		return;
	m->t_scan = mig_now_ms();
	d = opendir(m->cfg->run_dir);
	if (!d)
		return;
	while ((e = readdir(d))) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		size_t l = strlen(e->d_name);
		char line[256];
		if (strncmp(e->d_name, "hold-", 5) || l < 10 || strcmp(e->d_name + l - 5, ".sock"))
			continue;
		if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", m->cfg->run_dir,
				     e->d_name) >= sizeof(sa.sun_path))
			continue;
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			break;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			struct stat st;
			/* nobody listens: its holder died (killed); gone after a while */
			if (errno == ECONNREFUSED && stat(sa.sun_path, &st) == 0 &&
			    time(NULL) - st.st_mtime > 30)
				unlink(sa.sun_path);
			close(fd);
			continue;
		}
		if (read_line(fd, line, sizeof(line)) < 0) {
			close(fd); /* its holder is busy: next scan */
			continue;
		}
		adopt_one(m, fd, line);
	}
	closedir(d);
}

/* ------------------------------------------------------------------ home side */

/* pid still runs here as one of ours: a child of its deputy (grun) or of a restore worker
 * (it came back home), not a stranger that got the pid meanwhile. */
static int ours_here(pid_t pid)
{
	char path[64], comm[32] = "";
	int pp = mig_parent_of(pid);
	FILE *f;

	if (pp <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/comm", pp);
	f = fopen(path, "re");
	if (f && !fgets(comm, sizeof(comm), f))
		comm[0] = '\0';
	if (f)
		fclose(f);
	comm[strcspn(comm, "\n")] = '\0';
	return !strcmp(comm, "grun") || !strcmp(comm, "ssid-restore");
}

static void orphan_add(struct mig *m, uint64_t id, int committed)
{
	if (!id || m->norph >= MIG_MAX_PROCS)
		return;
	m->orph[m->norph].id = id;
	m->orph[m->norph++].committed = committed;
}

/* The records (db/db.h) the home keeps for each process born here: RUNNING on `node` (with
 * the move that committed it there, if any) or MIGRATING (a move in flight, not committed:
 * node is still the source). A move the records do not show committed never will be: the
 * machine that could have committed it died with the previous daemon. */
void mig_reload(struct mig *m)
{
	struct db_proc *r = NULL;
	struct db_mig *pend = NULL;
	size_t n = 0, np = 0, kept = 0;

	if (db_proc_list(m->db, DB_PROC_ALL, m->self, &r, &n) < 0) {
		log_warn("reloading the process table: %s", db_errmsg(m->db));
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct proc *p;
		pid_t pid = (pid_t)(r[i].gpid & ((1u << 22) - 1));
		if (r[i].home_node != m->self)
			continue;
		orphan_add(m, (uint64_t)r[i].mig_id, r[i].state == DB_PROC_RUNNING);
		if (r[i].node == m->self && !ours_here(pid)) {
			log_info("gpid %u ended while ssid was down; its record goes", r[i].gpid);
			db_proc_del(m->db, r[i].gpid);
			continue;
		}
		if (mig_proc(m, r[i].gpid) || !(p = mig_proc_new(m, r[i].gpid)))
			continue;
		p->uid = r[i].uid;
		p->home = m->self;
		p->where = r[i].node;
		p->kind = r[i].node == m->self ? P_CHILD : P_REMOTE;
		p->pid = r[i].node == m->self ? pid : 0;
		p->await_deputy = mig_now_ms();
		p->reloaded = 1;
		snprintf(p->comm, sizeof(p->comm), "%.*s", (int)sizeof(p->comm) - 1, r[i].cmd);
		kept++;
		log_info("gpid %u reloaded: runs on node %d; waiting for its deputy", p->gpid,
			 p->where);
	}
	if (db_mig_pending(m->db, &pend, &np) == 0)
		for (size_t i = 0; i < np; i++) {
			struct proc *p = mig_proc(m, pend[i].gpid);
			pend[i].end_ms = cluster_wall_ms();
			pend[i].outcome =
				p && p->where == pend[i].to_node ? DB_MIG_OK : DB_MIG_FAILED;
			if (pend[i].outcome == DB_MIG_FAILED)
				snprintf(pend[i].error, sizeof(pend[i].error),
					 "the home's ssid restarted before the commit");
			db_mig_finish(m->db, &pend[i]);
		}
	if (kept || m->norph)
		log_info("reloaded %zu processes of this home node, %zu decided moves", kept,
			 m->norph);
	free(r);
	free(pend);
}

void mig_reload_tick(struct mig *m)
{
	for (int i = 0; i < MIG_MAX_PROCS; i++) {
		struct proc *p = &m->procs[i];
		if (!p->used || p->await_deputy <= 0 || p->deputy >= 0 ||
		    mig_now_ms() - p->await_deputy < AWAIT_DEPUTY_MS)
			continue;
		p->await_deputy = 0;
		log_warn("gpid %u: its deputy did not come back within %d s of the restart; "
			 "killing the process",
			 p->gpid, AWAIT_DEPUTY_MS / 1000);
		if (p->dep_exit) {
			mig_deputy_exit(m, p, p->dep_status, NULL);
			continue;
		}
		mig_deliver_signal(m, p, SIGKILL);
	}
}

int mig_await_output(struct proc *p, uint8_t stream, uint8_t eof, const uint8_t *d, size_t n)
{
	if (p->await_deputy <= 0 || p->deputy >= 0)
		return 0;
	if (buf_avail(&p->dep_out) + n > DEP_OUT_MAX || buf_put_u8(&p->dep_out, stream) < 0 ||
	    buf_put_u8(&p->dep_out, eof) < 0 || buf_put_bytes(&p->dep_out, d, n) < 0)
		log_warn("gpid %u: output for its deputy (not back yet) lost", p->gpid);
	return 1;
}

int mig_await_exit(struct proc *p, int status)
{
	if (p->await_deputy <= 0 || p->deputy >= 0)
		return 0;
	p->dep_exit = 1;
	p->dep_status = status;
	return 1;
}

void mig_reattach(struct mig *m, int ci, struct buf *b)
{
	struct client *k = &m->cl[ci];
	uint32_t gpid;
	struct proc *p;
	struct buf o;

	if (buf_get_u32(b, &gpid))
		return mig_client_error(m, ci, -EINVAL, "malformed REATTACH");
	p = mig_proc(m, gpid);
	if (!p || p->home != m->self || p->deputy >= 0 || k->gpid)
		return mig_client_error(m, ci, -ESRCH,
					"no process of that gpid waits for its deputy");
	if ((k->uid != 0 && k->uid != p->uid) ||
	    (p->kind == P_CHILD && mig_parent_of(p->pid) != k->pid))
		return mig_client_error(m, ci, -EPERM, "not the deputy of that process");
	p->deputy = ci;
	p->await_deputy = 0;
	k->gpid = gpid;
	buf_init(&o);
	buf_put_u32(&o, gpid);
	mig_client_send(m, ci, DEPUTY_REGISTERED, &o);
	buf_free(&o);
	mig_deputy_where(m, p);
	log_info("gpid %u: its deputy (pid %d) is back", gpid, k->pid);
	while (buf_avail(&p->dep_out)) {
		uint8_t stream = 0, eof = 0;
		const uint8_t *d = NULL;
		size_t n = 0;
		if (buf_get_u8(&p->dep_out, &stream) < 0 || buf_get_u8(&p->dep_out, &eof) < 0 ||
		    buf_get_bytes_ref(&p->dep_out, &d, &n, DEP_OUT_MAX) < 0)
			break;
		buf_init(&o);
		buf_put_u8(&o, stream);
		buf_put_u8(&o, eof);
		buf_put_bytes(&o, d, n);
		mig_client_send(m, ci, DEPUTY_OUTPUT, &o);
		buf_free(&o);
	}
	buf_reset(&p->dep_out);
	if (p->dep_exit) {
		mig_deputy_exit(m, p, p->dep_status, NULL);
		k->gpid = 0;
	}
}

int mig_orphan_answer(struct mig *m, const struct migproto_event *pe, uint64_t id)
{
	struct migproto_action a[1];
	size_t n = 0;

	for (size_t i = 0; i < m->norph; i++) {
		if (m->orph[i].id != id)
			continue;
		if (migproto_home_orphan(m->orph[i].committed, pe, a, 1, &n) < 0 || n == 0)
			return 0;
		struct mach t;
		memset(&t, 0, sizeof(t));
		t.p.mig_id = id;
		t.p.role = MIGPROTO_HOME;
		t.freeze_exact = t.transfer_exact = t.restore_exact = -1;
		log_info("migration %llx (decided before this ssid started): %s to node %d",
			 (unsigned long long)id, migproto_msg_name(a[0].msg), a[0].to);
		mig_send_msg(m, &t, &a[0]);
		return 1;
	}
	return 0;
}
