/*
 * ctl_cr.h - the `ssictl checkpoint | restore | image` subcommands (CLI glue over migrate/).
 *
 * Owns: argument parsing, messages and exit statuses of those subcommands. Does not: talk
 * to the daemon (they work without one) or implement any of the engine.
 */
#ifndef SSI_TOOLS_CTL_CR_H
#define SSI_TOOLS_CTL_CR_H

/* argv[0] is "checkpoint", "restore" or "image". Returns the process exit status:
 * 0 success, 1 failure, 2 usage error; `restore --wait` returns the restored process's own
 * exit status (128 + signal number when it was killed by a signal). */
int ctl_cr_main(int argc, char **argv);

/* One-paragraph usage of the three subcommands, for `ssictl --help`. */
const char *ctl_cr_usage(void);

#endif
