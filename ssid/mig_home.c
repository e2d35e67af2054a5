/*
 * mig_home.c - the home view of a process held away from home: what the restore worker needs,
 * resolved before its fork; entering the view in the worker; joining it in the checkpoint
 * child. See mig_home.h, and docs/gfs.md "A process away from home" for the whole path.
 *
 * Never logs (the children report through their status pipes; the daemon logs those).
 */
#include "ssid/mig_home.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ssid/cluster.h"
#include "ssid/homens.h"
#include "ssid/homens_cache.h"
#include "ssid/member.h"

#define CACHE_NAME "homens.cache"

void mig_home_prepare(struct mig_home *h, const struct config *cfg, struct cluster *c, int home_id)
{
	struct cluster_peer *peers;
	size_t n;

	memset(h, 0, sizeof(*h));
	h->home_id = home_id;
	h->away = home_id != cfg->id;
	snprintf(h->gfs, sizeof(h->gfs), "%s", cfg->gfs_mount);
	snprintf(h->local_dirs, sizeof(h->local_dirs), "%s", cfg->gfs_local_dirs);
	if ((size_t)snprintf(h->cache, sizeof(h->cache), "%s/%s", cfg->run_dir, CACHE_NAME) >=
	    sizeof(h->cache))
		h->cache[0] = 0;
	if (!h->away || !c)
		return;
	peers = calloc(CONFIG_PEERS_MAX, sizeof(*peers));
	if (!peers)
		return; /* reported by mig_home_enter as "name not known" */
	n = cluster_peers(c, peers, CONFIG_PEERS_MAX);
	for (size_t i = 0; i < n; i++)
		if (peers[i].id == home_id && config_name_ok(peers[i].name))
			snprintf(h->home, sizeof(h->home), "%s", peers[i].name);
	free(peers);
}

/* Membership named the home node, but gprocfs --gfs learns names on its own (it asks ssid
 * again at most once a second when a name is unknown): right after the node joined, <gfs>/<home>
 * may be missing for a moment. Wait for it, up to VIEW_WAIT_MS; homens_enter reports it if it
 * stays missing. */
#define VIEW_WAIT_MS 3000
static void wait_view(const struct mig_home *h)
{
	char root[PATH_MAX];
	struct stat st;

	if ((size_t)snprintf(root, sizeof(root), "%s/%s", h->gfs, h->home) >= sizeof(root))
		return;
	for (int waited = 0; waited < VIEW_WAIT_MS && stat(root, &st) < 0 && errno == ENOENT;
	     waited += 100)
		usleep(100 * 1000);
}

int mig_home_enter(const struct mig_home *h, char *info, size_t infolen)
{
	struct homens_spec s = {.home = h->home,
				.gfs = h->gfs,
				.local_dirs = h->local_dirs,
				.cwd = "/",
				.cache = h->cache,
				.cache_only = 1};
	int r;

	if (infolen)
		info[0] = 0;
	if (!h->away)
		return 0;
	if (!h->gfs[0]) {
		snprintf(info, infolen,
			 "home node %d: this node mounts no /gfs ([gfs] mount empty)", h->home_id);
		return -ENOENT;
	}
	if (!h->home[0]) {
		snprintf(info, infolen, "home node %d: its name is not known to membership",
			 h->home_id);
		return -ENOENT;
	}
	wait_view(h);
	r = homens_enter(&s, info, infolen);
	if (r < 0 && infolen) {
		char why[768];

		snprintf(why, sizeof(why), "%s", info);
		snprintf(info, infolen, "home %s (node %d): %s", h->home, h->home_id, why);
	}
	return r;
}

/* 1 if the two paths name the same object (stat), 0 if not, negative errno. */
static int same_object(const char *a, const char *b)
{
	struct stat sa, sb;

	if (stat(a, &sa) < 0 || stat(b, &sb) < 0)
		return -errno;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int mig_home_join(pid_t pid)
{
	char ns[64], root[64];
	int r, fd;

	snprintf(ns, sizeof(ns), "/proc/%d/ns/mnt", (int)pid);
	snprintf(root, sizeof(root), "/proc/%d/root", (int)pid);
	if ((r = same_object(ns, "/proc/self/ns/mnt")) != 0)
		return r < 0 ? r : 0;
	if ((r = same_object(root, "/")) != 0)
		return r < 0 ? r : 0;
	if ((fd = open(ns, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	r = setns(fd, CLONE_NEWNS) < 0 ? -errno : 1;
	close(fd);
	return r;
}

static double mono_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The warm-up child: every up named peer, every local dir. Never returns. */
__attribute__((noreturn)) static void warm_child(const struct config *cfg,
						 const struct cluster_peer *p, size_t n)
{
	char cache[PATH_MAX], dirs[1024], root[PATH_MAX];
	sigset_t none;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	prctl(PR_SET_NAME, "ssid-homens"); /* in ps: not the daemon (pgrep -x ssid) */
	close_range(3, ~0u, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	(void)setpriority(PRIO_PROCESS, 0, 10); /* failing that, it only yields less */
	if ((size_t)snprintf(cache, sizeof(cache), "%s/%s", cfg->run_dir, CACHE_NAME) >=
	    sizeof(cache))
		_exit(1);
	/* first our own fingerprints, which the other nodes read through /gfs */
	(void)homens_cache_publish(cache, cfg->gfs_local_dirs);
	for (size_t i = 0; i < n; i++) {
		char *save = NULL;

		if (p[i].state != MEMBER_UP || !config_name_ok(p[i].name))
			continue;
		if ((size_t)snprintf(root, sizeof(root), "%s/%s", cfg->gfs_mount, p[i].name) >=
		    sizeof(root))
			continue;
		snprintf(dirs, sizeof(dirs), "%s", cfg->gfs_local_dirs);
		for (char *d = strtok_r(dirs, " \t,", &save); d; d = strtok_r(NULL, " \t,", &save))
			if (d[0] == '/' && d[1])
				(void)homens_cache_warm(cache, p[i].name, d, root);
	}
	_exit(0);
}

void mig_home_tick(const struct config *cfg, struct cluster *c)
{
	static double last_look, last_warm;
	static uint64_t last_sig;
	static pid_t child;
	struct cluster_peer *peers;
	uint64_t sig = 0xcbf29ce484222325ULL;
	double now = mono_s();
	size_t n;
	pid_t w;

	if (!cfg->gfs_mount[0] || !cfg->gfs_local_dirs[0] || now - last_look < 1.0)
		return;
	last_look = now;
	if (child > 0 && kill(child, 0) == 0)
		return; /* the last one still works (or is not reaped yet) */
	if (!(peers = calloc(CONFIG_PEERS_MAX, sizeof(*peers))))
		return;
	n = cluster_peers(c, peers, CONFIG_PEERS_MAX);
	for (size_t i = 0; i < n; i++) {
		if (peers[i].state != MEMBER_UP || !peers[i].name[0])
			continue;
		sig = (sig ^ (uint64_t)peers[i].id) * 0x100000001b3ULL;
		for (const char *q = peers[i].name; *q; q++)
			sig = (sig ^ (unsigned char)*q) * 0x100000001b3ULL;
	}
	if (sig != last_sig || now - last_warm >= MIG_HOME_WARM_S) {
		w = fork();
		if (w == 0)
			warm_child(cfg, peers, n);
		if (w > 0) {
			child = w;
			last_sig = sig;
			last_warm = now;
		}
	}
	free(peers);
}
