/*
 * config.h - /etc/ssid/ssid.conf: the node's identity, paths, peers and timing (INI, libinih).
 *
 * Owns parsing and validation of the file as /work/coord/CONFIG.md fixes it. Does not own
 * what the values mean at run time. Relative paths in the file are made absolute against the
 * directory of the config file. Unknown sections or keys are errors naming file, line and key.
 */
#ifndef SSI_CONFIG_H
#define SSI_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_DEFAULT_PATH "/etc/ssid/ssid.conf"
#define CONFIG_NAME_MAX	    33 /* [a-z0-9-]{1,32} + NUL */
#define CONFIG_HOST_MAX	    48
#define CONFIG_ID_MAX	    511
#define CONFIG_PEERS_MAX    511

struct config_peer {
	char name[CONFIG_NAME_MAX];
	char host[CONFIG_HOST_MAX]; /* numeric address or host name */
	uint16_t port;
};

struct config {
	char path[PATH_MAX]; /* the file read */
	int id;		     /* 1..511 */
	char name[CONFIG_NAME_MAX];
	char listen_host[CONFIG_HOST_MAX]; /* default 0.0.0.0 */
	uint16_t listen_port;		   /* default 7022 */
	char state_dir[PATH_MAX];	   /* default /var/lib/ssid */
	char run_dir[PATH_MAX];		   /* default /run/ssid */
	char key[PATH_MAX];		   /* default /etc/ssid/node_key */
	char authorized_keys[PATH_MAX];	   /* default /etc/ssid/authorized_keys */
	char known_hosts[PATH_MAX];	   /* default /etc/ssid/known_hosts */
	struct config_peer *peers;	   /* malloc'd, npeers entries */
	size_t npeers;
	int heartbeat_ms; /* all timing in milliseconds, > 0 */
	int suspect_ms;
	int down_ms;
	int gossip_ms;
	int sample_ms;
	int reconnect_min_ms;
	int reconnect_max_ms;
	char gproc_mount[PATH_MAX]; /* [gproc] mount: where ssid mounts gprocfs; default
				     * /gproc; "" = ssid starts no gprocfs */
	char gfs_mount[PATH_MAX];   /* [gfs] mount: where ssid mounts gprocfs --gfs; default /gfs;
				     * "" = no mount (the file service still serves peers) */
	int gfs_timeout_ms;	    /* [gfs] timeout_ms: a file request to an unreachable node
				     * fails with EIO after this long; default 10000 */
	char gfs_local_dirs[1024];  /* [gfs] local_dirs: space-separated absolute directories a
				     * process away from home uses from this node when they are
				     * the same at home (homens.h); default "/usr /lib /lib64
				     * /bin /sbin"; "" = none */
	uint64_t admit_reserve_mb;  /* [admit] reserve_mb: memory an offered process must leave
				     * available here (admit.h); default 64, 0..1048576 */
	int mig_image_direct;	    /* [migrate] image_channel = direct|ssh: a move's image on a
				     * TCP connection of its own, keyed over the SSH link
				     * (migrate/imgchan.h), or inside the SSH link; default
				     * direct (ssh if the connection cannot be made) */
	int balance_enabled;	    /* [balance] enabled = yes|no: ssid moves processes by
				     * itself (balance.h); default no */
	int balance_interval_ms;    /* [balance] interval_ms: one decision per interval;
				     * default 1000, 100..60000 */
	double balance_margin;	    /* [balance] margin: hysteresis (policy.h); default 0.3,
				     * 0..10 */
	int balance_c0_ms;	    /* [balance] c0_ms: fixed cost of a move; default 50,
				     * 1..60000 */
};

/* The config path to use when none is given: $SSID_CONF if set and non-empty, else the default.
 * Static or environment storage; do not free. */
const char *config_default_path(void);

/*
 * Read and validate path into *c (zeroed first, defaults applied). Returns 0, or a negative
 * code with err holding one line naming the file (and line/key where it applies) and what to
 * fix: -ENOENT (no such file), -EACCES, SSI_E_BADFIELD (unknown/invalid key), SSI_E_MISSING
 * (id or name absent). On failure *c holds nothing to free. Call config_free() after success.
 */
int config_load(const char *path, struct config *c, char *err, size_t errlen);

/* As config_load but from a string; base_dir resolves relative paths. For tests. */
int config_load_string(const char *text, const char *base_dir, struct config *c, char *err,
		       size_t errlen);

/* Release the peer list. Safe on a zeroed config. */
void config_free(struct config *c);

/* Parse "host:port" (IPv4 address or name; port 1..65535) into host (cap bytes) and *port.
 * Returns 0 or -EINVAL. */
int config_parse_hostport(const char *s, char *host, size_t cap, uint16_t *port);

/* 1 if s is a valid node name ([a-z0-9-]{1,32}), else 0. */
int config_name_ok(const char *s);

#endif
