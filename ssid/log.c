/*
 * log.c - log lines to stderr (with a timestamp) or syslog.
 *
 * Owns the destination chosen by log_init(). Lines are formatted into one buffer and written
 * with a single write(2), so lines of different threads never interleave.
 */
#include "ssid/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static const char *log_ident = "ssid";
static int log_syslog;
static int log_verbose;

void log_init(const char *ident, int use_syslog, int verbose)
{
	log_ident = ident;
	log_syslog = use_syslog;
	log_verbose = verbose;
	if (use_syslog)
		openlog(ident, LOG_PID, LOG_DAEMON);
}

static const char *level_name(int level)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};

	return level >= 0 && level <= LOG_LVL_DEBUG ? names[level] : "?";
}

void log_msg(int level, const char *func, int line, const char *fmt, ...)
{
	static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
	char msg[1024], out[1200];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int saved = errno, n;

	if (level == LOG_LVL_DEBUG && !log_verbose)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (log_syslog) {
		syslog(prio[level & 3], "%s: %s (%s:%d)", level_name(level), msg, func, line);
		errno = saved;
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	n = snprintf(out, sizeof(out), "%02d:%02d:%02d.%03ld %s[%d] %s %s:%d: %s\n", tm.tm_hour,
		     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, log_ident, (int)getpid(),
		     level_name(level), func, line, msg);
	if (n > (int)sizeof(out) - 1) {
		n = (int)sizeof(out) - 1;
		out[n - 1] = '\n';
	}
	for (int off = 0; off < n;) {
		ssize_t w = write(STDERR_FILENO, out + off, (size_t)(n - off));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (int)w;
	}
	errno = saved;
}
