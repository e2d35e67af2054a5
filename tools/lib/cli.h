/*
 * cli.h - small pieces the user programs (tools/) share: JSON string output and resolving
 * a NODE argument. Owns nothing else; prints to stdout/stderr as documented per function.
 */
#ifndef SSI_TOOLS_CLI_H
#define SSI_TOOLS_CLI_H

/* Print s to stdout as a JSON string (quotes, backslash escapes, \u00XX for control bytes). */
void cli_json_str(const char *s);

/*
 * NODE -> node id: digits 1..511, or a name from the node list of the daemon whose run
 * directory is run_dir. On failure returns -1 after printing "PROG: <reason>" on stderr
 * (daemon not reachable, or "no node named 'X' (see ssictl nodes)").
 */
int cli_node_id(const char *prog, const char *run_dir, const char *s);

#endif
