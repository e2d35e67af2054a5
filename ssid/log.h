/*
 * log.h - the daemon's log lines: one line per event, with time, level, function and line.
 *
 * Owns: where lines go (stderr or syslog) and their format. Used only by main-level code
 * (ssid/main.c and the daemon modules that act on events); low layers return codes instead.
 * Thread-safe: one write(2) per line on stderr, syslog(3) is thread-safe.
 */
#ifndef SSI_LOG_H
#define SSI_LOG_H

enum log_level {
	LOG_LVL_ERR = 0,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG
};

/* Choose the destination: use_syslog 0 = stderr, 1 = syslog(ident). verbose 1 enables debug. */
void log_init(const char *ident, int use_syslog, int verbose);

/* Write one line. Use the macros below, which add function and line. */
void log_msg(int level, const char *func, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define log_err(...)   log_msg(LOG_LVL_ERR, __func__, __LINE__, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __func__, __LINE__, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __func__, __LINE__, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __func__, __LINE__, __VA_ARGS__)

#endif
