/*
 * admit.c - admission of an offered process at the destination (admit.h).
 *
 * admit_check is pure; admit_offer reads the store, /proc/meminfo and the config once per
 * offer (a few hundred microseconds, on the migration thread); admit_rss_kb reads statm.
 */
#include "ssid/admit.h"
#include "ssid/load.h"
#include "ssid/ssierr.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* kB rounded up to MiB for the text: 1 kB "needs" 1 MiB, never 0. */
static unsigned long long mib_up(uint64_t kb)
{
	return (unsigned long long)((kb + 1023) >> 10);
}

int admit_check(const struct admit_facts *f, char *why, size_t cap)
{
	uint64_t avail;

	if (cap)
		why[0] = '\0';
	if (f->blocked && !f->coming_home) {
		snprintf(why, cap,
			 "%s refuses: blocked by its administrator (ssictl unblock on %s)", f->name,
			 f->name);
		return SSI_E_REFUSED;
	}
	if (!f->need_kb)
		return 0;
	avail = f->mem_avail_kb > f->reserve_kb ? f->mem_avail_kb - f->reserve_kb : 0;
	if (f->need_kb > avail) {
		snprintf(why, cap, "%s refuses: needs %llu MiB, %llu MiB available", f->name,
			 mib_up(f->need_kb), (unsigned long long)(avail >> 10));
		return -ENOMEM;
	}
	return 0;
}

/* Read a small /proc file into b (NUL-terminated). 0 or -errno. */
static int read_small(const char *path, char *b, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0;

	if (fd < 0)
		return -errno;
	while (n + 1 < cap) {
		ssize_t r = read(fd, b + n, cap - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	b[n] = '\0';
	return n ? 0 : -EIO;
}

int admit_offer(struct db *db, const struct config *cfg, const struct wire_mig_offer *o,
		const char **why)
{
	static _Thread_local char text[ADMIT_TEXT_MAX];
	struct admit_facts f;
	struct db_policy pol;
	char mi[4096];
	uint64_t total = 0;

	memset(&f, 0, sizeof(f));
	snprintf(f.name, sizeof(f.name), "%s", cfg->name);
	if (db && db_policy_get(db, &pol) == 0)
		f.blocked = pol.blocked;
	f.coming_home = o->home == cfg->id;
	f.need_kb = o->rss_kb;
	f.reserve_kb = cfg->admit_reserve_mb << 10;
	if (read_small("/proc/meminfo", mi, sizeof(mi)) < 0 ||
	    load_parse_meminfo(mi, &total, &f.mem_avail_kb) < 0)
		f.need_kb = 0; /* memory unknown here: not checked */
	*why = text;
	return admit_check(&f, text, sizeof(text));
}

uint64_t admit_rss_kb(pid_t pid)
{
	char path[64], b[256];
	unsigned long long size, rss;
	long page = sysconf(_SC_PAGESIZE);

	if (pid <= 0 || page <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	if (read_small(path, b, sizeof(b)) < 0 || sscanf(b, "%llu %llu", &size, &rss) != 2)
		return 0;
	return (uint64_t)rss * (uint64_t)page / 1024;
}
