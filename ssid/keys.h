/*
 * keys.h - node keys: make the ed25519 node key, load authorized_keys and known_hosts, match
 * a presented key against them, and add a trusted peer (`ssictl trust`).
 *
 * Owns the file formats: node_key (OpenSSH private key), node_key.pub and authorized_keys
 * (OpenSSH "type base64 [comment]" lines), known_hosts ("NAME type base64" lines, our own
 * pinning format). Keys are libssh ssh_key objects. Does not log; every int function returns
 * 0 or a negative code (ssierr.h) and, where it takes err, one line saying what to fix.
 */
#ifndef SSI_KEYS_H
#define SSI_KEYS_H

#include <libssh/libssh.h>
#include <stddef.h>

#define KEYS_NAME_MAX 64

struct keys_entry {
	char name[KEYS_NAME_MAX]; /* known_hosts: node name; authorized_keys: comment or "" */
	ssh_key key;		  /* public key, owned by the set */
};

struct keys_set {
	struct keys_entry *v; /* malloc'd */
	size_t n;
};

/*
 * Parse one line of authorized_keys (with_name 0: "[type] base64 [comment]") or known_hosts
 * (with_name 1: "NAME type base64"). Blank and '#' lines give 1 (nothing to add). Returns 0
 * with *e filled (caller owns e->key), 1 to skip, or SSI_E_CORRUPT for an unparsable line.
 */
int keys_parse_line(const char *line, int with_name, struct keys_entry *e);

/* Load a whole file into *set (emptied first). A missing file is an empty set (0). A bad line
 * fails with SSI_E_CORRUPT and err "file:line: ...". Free with keys_set_free(). */
int keys_load(const char *path, int with_name, struct keys_set *set, char *err, size_t errlen);
void keys_set_free(struct keys_set *set);

/* Index of the entry whose public key equals key, or -1. */
int keys_find_key(const struct keys_set *set, const ssh_key key);
/* Index of the first entry named name, or -1. */
int keys_find_name(const struct keys_set *set, const char *name);

/* "SHA256:..." fingerprint of key into out (cap >= 64). Returns 0 or SSI_E_CORRUPT. */
int keys_fingerprint(const ssh_key key, char *out, size_t cap);

/*
 * Make an ed25519 key at path (mode 0600) and path.pub ("ssh-ed25519 BASE64 comment").
 * If path exists and force is 0: returns -EEXIST and leaves it. err says what went wrong.
 */
int keys_generate(const char *path, const char *comment, int force, char *err, size_t errlen);

/* Load the private key at path into *key (caller ssh_key_free()s). -ENOENT if absent. */
int keys_load_private(const char *path, ssh_key *key, char *err, size_t errlen);

/*
 * Trust peer name with the public key in pubfile: append it to authorized_keys (if that key is
 * not there yet) and pin it for name in known_hosts (replacing a different pinned key for
 * name). Idempotent. *changed gets a bit mask: 1 authorized_keys written, 2 known_hosts
 * written, 4 an older pinned key for name was replaced.
 */
int keys_trust(const char *authorized_keys, const char *known_hosts, const char *name,
	       const char *pubfile, int *changed, char *err, size_t errlen);

#endif
