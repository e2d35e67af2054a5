/*
 * load.c - sample this node's load from /proc and smooth it (load.h).
 *
 * Cost: one sample reads /proc/PID/task/TID/stat of every task on the node (a few hundred small
 * reads in a lab node); at 4 samples a second this stays well under 1% of a CPU. Our own
 * tasks are skipped because the sampler is always running when it looks.
 */
#include "ssid/load.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Read up to cap-1 bytes of a small file, NUL-terminated. Returns bytes or -errno. */
static ssize_t read_small(const char *path, char *out, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0;

	if (fd < 0)
		return -errno;
	while (n < cap - 1) {
		ssize_t r = read(fd, out + n, cap - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			close(fd);
			return -e;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	out[n] = '\0';
	return (ssize_t)n;
}

int load_parse_meminfo(const char *text, uint64_t *total_kb, uint64_t *avail_kb)
{
	const char *t = strstr(text, "MemTotal:"), *a = strstr(text, "MemAvailable:");

	if (!t || !a)
		return -EINVAL;
	*total_kb = strtoull(t + 9, NULL, 10);
	*avail_kb = strtoull(a + 13, NULL, 10);
	return 0;
}

int load_parse_psi(const char *text, double *some_avg10)
{
	const char *p = strstr(text, "some avg10=");
	char *end;

	if (!p)
		return -EINVAL;
	*some_avg10 = strtod(p + 11, &end);
	return end == p + 11 ? -EINVAL : 0;
}

int load_parse_stat_cpu(const char *text, uint64_t *busy, uint64_t *total)
{
	unsigned long long v[8] = {0};

	if (strncmp(text, "cpu ", 4) ||
	    sscanf(text + 4, "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &v[6], &v[7]) < 4)
		return -EINVAL;
	*total = 0;
	for (int i = 0; i < 8; i++)
		*total += v[i];
	*busy = *total - v[3] - v[4]; /* idle and iowait are not busy */
	return 0;
}

char load_parse_task_state(const char *statline)
{
	const char *p = strrchr(statline, ')');

	if (!p || p[1] != ' ' || !p[2])
		return 0;
	return p[2];
}

/* Is process pid one of exclude's own helpers: a child of exclude named "ssid-..." (the
 * checkpoint child, the restore worker, the /usr walker of mig_home.c)? Their work is the
 * daemon's, not the node's users': counted, the walker alone made an idle node look busy. */
static int is_helper(const char *proc_root, long pid, pid_t exclude)
{
	char path[512], line[1024];
	const char *open, *close;
	long ppid = 0;

	snprintf(path, sizeof(path), "%s/%ld/stat", proc_root, pid);
	if (read_small(path, line, sizeof(line)) <= 0 || !(open = strchr(line, '(')) ||
	    !(close = strrchr(line, ')')))
		return 0;
	if (sscanf(close + 1, " %*c %ld", &ppid) != 1 || ppid != (long)exclude)
		return 0;
	return close - open > 5 && !strncmp(open + 1, "ssid-", 5);
}

/* Count tasks in state R under proc_root, skipping process exclude and its helpers. */
static int count_running(const char *proc_root, pid_t exclude, double *runq)
{
	DIR *d = opendir(proc_root);
	struct dirent *de;
	char path[512], line[1024];
	int n = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		DIR *td;
		struct dirent *te;
		long pid = strtol(de->d_name, NULL, 10);

		if (pid <= 0 || pid == exclude ||
		    (exclude > 0 && is_helper(proc_root, pid, exclude)))
			continue;
		snprintf(path, sizeof(path), "%s/%ld/task", proc_root, pid);
		td = opendir(path);
		if (!td)
			continue; /* exited meanwhile */
		while ((te = readdir(td))) {
			if (te->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%ld/task/%s/stat", proc_root, pid,
				 te->d_name);
			if (read_small(path, line, sizeof(line)) > 0 &&
			    load_parse_task_state(line) == 'R')
				n++;
		}
		closedir(td);
	}
	closedir(d);
	*runq = n;
	return 0;
}

static int read_psi(const char *proc_root, const char *cgroup_root, double *psi)
{
	char text[4096], path[4400];

	*psi = 0;
	if (cgroup_root && read_small("/proc/self/cgroup", text, sizeof(text)) > 0 &&
	    !strncmp(text, "0::", 3)) {
		text[strcspn(text, "\n")] = '\0';
		snprintf(path, sizeof(path), "%s%s/cpu.pressure", cgroup_root, text + 3);
		if (read_small(path, text, sizeof(text)) > 0 && load_parse_psi(text, psi) == 0)
			return 0;
	}
	snprintf(path, sizeof(path), "%s/pressure/cpu", proc_root);
	if (read_small(path, text, sizeof(text)) > 0)
		return load_parse_psi(text, psi);
	return 0; /* no PSI on this kernel: report 0 */
}

int load_read(const char *proc_root, const char *cgroup_root, pid_t exclude, struct load_raw *r)
{
	char text[8192], path[512];
	int e;

	memset(r, 0, sizeof(*r));
	e = count_running(proc_root, exclude, &r->runq);
	if (e < 0)
		return e;
	snprintf(path, sizeof(path), "%s/stat", proc_root);
	if (read_small(path, text, sizeof(text)) < 0 ||
	    load_parse_stat_cpu(text, &r->cpu_busy, &r->cpu_total) < 0)
		return -EIO;
	snprintf(path, sizeof(path), "%s/meminfo", proc_root);
	if (read_small(path, text, sizeof(text)) < 0 ||
	    load_parse_meminfo(text, &r->mem_total_kb, &r->mem_avail_kb) < 0)
		return -EIO;
	return read_psi(proc_root, cgroup_root, &r->psi_cpu);
}

void load_update(struct load_state *s, const struct load_raw *r, double dt_s)
{
	double sum = 0, x;

	s->win[s->pos] = r->runq;
	s->pos = (s->pos + 1) % LOAD_WINDOW;
	if (s->nwin < LOAD_WINDOW)
		s->nwin++;
	for (int i = 0; i < s->nwin; i++)
		sum += s->win[i];
	x = s->runq_avg = sum / s->nwin;
	if (dt_s < 0)
		dt_s = 0;
	if (x <= s->local)
		s->local = x;
	else
		s->local += (x - s->local) * (1 - exp(-dt_s / LOAD_TAU_RISE_S));
	if (x >= s->exported)
		s->exported = x;
	else
		s->exported += (x - s->exported) * (1 - exp(-dt_s / LOAD_TAU_DECAY_S));
	if (s->have_prev && r->cpu_total > s->prev_total && r->cpu_busy >= s->prev_busy) {
		double u = (double)(r->cpu_busy - s->prev_busy) /
			   (double)(r->cpu_total - s->prev_total);
		s->cpu_use = u > 1 ? 1 : u;
	}
	s->prev_busy = r->cpu_busy;
	s->prev_total = r->cpu_total;
	s->have_prev = 1;
}

int load_cpus(void)
{
	cpu_set_t set;
	int n;

	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return 1;
	n = CPU_COUNT(&set);
	return n > 0 ? n : 1;
}

/* Nanoseconds the loop below took on the reference machine (the development box, a 2-core
 * x86-64 VM). A node twice as fast measures half of it and reports speed 2.0. */
#define SPEED_REF_NS 20.0e6

double load_measure_speed(void)
{
	struct timespec a, b;
	volatile uint64_t sink;
	uint64_t x = 88172645463325252ull;
	double best = 1e18;

	for (int round = 0; round < 3; round++) {
		clock_gettime(CLOCK_MONOTONIC, &a);
		for (int i = 0; i < 10 * 1000 * 1000; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
		}
		sink = x;
		clock_gettime(CLOCK_MONOTONIC, &b);
		double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
		if (ns < best)
			best = ns;
	}
	(void)sink;
	return best > 0 ? SPEED_REF_NS / best : 1.0;
}
