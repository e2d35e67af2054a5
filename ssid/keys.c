/*
 * keys.c - ed25519 node keys and the two trust files, through libssh's pki functions.
 *
 * Assumes files are small (one line per node): they are read whole and rewritten whole
 * (write to a temporary file, fsync, rename) when a pinned key is replaced.
 */
#include "ssid/keys.h"
#include "ssid/ssierr.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *next_tok(char **s)
{
	char *p = *s, *start;

	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p)
		return NULL;
	start = p;
	while (*p && *p != ' ' && *p != '\t')
		p++;
	if (*p)
		*p++ = '\0';
	*s = p;
	return start;
}

int keys_parse_line(const char *line, int with_name, struct keys_entry *e)
{
	char tmp[8192], *s = tmp, *name = NULL, *type, *b64, *rest;
	enum ssh_keytypes_e kt;
	size_t n = strlen(line);

	memset(e, 0, sizeof(*e));
	if (n >= sizeof(tmp))
		return SSI_E_CORRUPT;
	memcpy(tmp, line, n + 1);
	while (n && (tmp[n - 1] == '\n' || tmp[n - 1] == '\r'))
		tmp[--n] = '\0';
	while (*s == ' ' || *s == '\t')
		s++;
	if (!*s || *s == '#')
		return 1;
	if (with_name && !(name = next_tok(&s)))
		return SSI_E_CORRUPT;
	type = next_tok(&s);
	b64 = next_tok(&s);
	if (!type || !b64)
		return SSI_E_CORRUPT;
	kt = ssh_key_type_from_name(type);
	if (kt == SSH_KEYTYPE_UNKNOWN)
		return SSI_E_CORRUPT;
	if (ssh_pki_import_pubkey_base64(b64, kt, &e->key) != SSH_OK)
		return SSI_E_CORRUPT;
	if (with_name) {
		if (strlen(name) >= sizeof(e->name))
			goto bad;
		strcpy(e->name, name);
	} else {
		while (*s == ' ' || *s == '\t')
			s++;
		rest = s;
		snprintf(e->name, sizeof(e->name), "%s", rest);
	}
	return 0;
bad:
	ssh_key_free(e->key);
	e->key = NULL;
	return SSI_E_CORRUPT;
}

void keys_set_free(struct keys_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		ssh_key_free(set->v[i].key);
	free(set->v);
	set->v = NULL;
	set->n = 0;
}

int keys_load(const char *path, int with_name, struct keys_set *set, char *err, size_t errlen)
{
	char *line = NULL;
	size_t cap = 0;
	int lineno = 0, r = 0;
	FILE *f;

	set->v = NULL;
	set->n = 0;
	f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT)
			return 0;
		r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-r));
		return r;
	}
	while (getline(&line, &cap, f) > 0) {
		struct keys_entry e, *nv;
		lineno++;
		r = keys_parse_line(line, with_name, &e);
		if (r == 1) {
			r = 0;
			continue;
		}
		if (r < 0) {
			snprintf(err, errlen, "%s:%d: not a %s line", path, lineno,
				 with_name ? "'NAME type base64'" : "'type base64 [comment]'");
			break;
		}
		nv = realloc(set->v, (set->n + 1) * sizeof(*nv));
		if (!nv) {
			ssh_key_free(e.key);
			r = -ENOMEM;
			snprintf(err, errlen, "%s: out of memory", path);
			break;
		}
		set->v = nv;
		set->v[set->n++] = e;
	}
	free(line);
	fclose(f);
	if (r < 0)
		keys_set_free(set);
	return r;
}

int keys_find_key(const struct keys_set *set, const ssh_key key)
{
	for (size_t i = 0; i < set->n; i++)
		if (ssh_key_cmp(set->v[i].key, key, SSH_KEY_CMP_PUBLIC) == 0)
			return (int)i;
	return -1;
}

int keys_find_name(const struct keys_set *set, const char *name)
{
	for (size_t i = 0; i < set->n; i++)
		if (!strcmp(set->v[i].name, name))
			return (int)i;
	return -1;
}

int keys_fingerprint(const ssh_key key, char *out, size_t cap)
{
	unsigned char *hash = NULL;
	size_t hlen = 0;
	char *fp;

	if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) < 0)
		return SSI_E_CORRUPT;
	fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
	ssh_clean_pubkey_hash(&hash);
	if (!fp)
		return SSI_E_CORRUPT;
	snprintf(out, cap, "%s", fp);
	ssh_string_free_char(fp);
	return 0;
}

/* Write all of s to fd, retrying EINTR and short writes. */
static int write_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

static int pub_line(const ssh_key key, const char *comment, char *out, size_t cap)
{
	char *b64 = NULL;

	if (ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK)
		return SSI_E_CORRUPT;
	snprintf(out, cap, "%s %s%s%s\n", ssh_key_type_to_char(ssh_key_type(key)), b64,
		 comment && *comment ? " " : "", comment ? comment : "");
	ssh_string_free_char(b64);
	return 0;
}

int keys_generate(const char *path, const char *comment, int force, char *err, size_t errlen)
{
	char pubpath[4200], line[512];
	ssh_key key = NULL;
	mode_t old;
	int fd, r;

	if (!force && access(path, F_OK) == 0) {
		snprintf(err, errlen, "%s: exists (use --force to overwrite)", path);
		return -EEXIST;
	}
	if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK) {
		snprintf(err, errlen, "%s: ed25519 key generation failed", path);
		return SSI_E_CORRUPT;
	}
	unlink(path);
	old = umask(077);
	r = ssh_pki_export_privkey_file(key, NULL, NULL, NULL, path);
	umask(old);
	if (r != SSH_OK) {
		r = errno ? -errno : -EIO;
		snprintf(err, errlen,
			 "%s: cannot write private key: %s (does the directory exist?)", path,
			 strerror(-r));
		goto out;
	}
	snprintf(pubpath, sizeof(pubpath), "%s.pub", path);
	r = pub_line(key, comment, line, sizeof(line));
	if (r < 0)
		goto out;
	fd = open(pubpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", pubpath, strerror(-r));
		goto out;
	}
	r = write_all(fd, line, strlen(line));
	if (!r && fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r < 0)
		snprintf(err, errlen, "%s: write: %s", pubpath, strerror(-r));
out:
	ssh_key_free(key);
	return r;
}

int keys_load_private(const char *path, ssh_key *key, char *err, size_t errlen)
{
	*key = NULL;
	if (access(path, R_OK) < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: %s%s", path, strerror(e),
			 e == ENOENT ? "; run `ssictl keygen` first" : "");
		return -e;
	}
	if (ssh_pki_import_privkey_file(path, NULL, NULL, NULL, key) != SSH_OK) {
		snprintf(err, errlen,
			 "%s: not an OpenSSH private key; remake it with `ssictl keygen "
			 "--force`",
			 path);
		return SSI_E_CORRUPT;
	}
	return 0;
}

static int append_line(const char *path, const char *line)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644), r;

	if (fd < 0)
		return -errno;
	r = write_all(fd, line, strlen(line));
	if (!r && fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

/* Rewrite known_hosts without the lines naming name, then append newline. */
static int replace_pin(const char *path, const char *name, const char *newline)
{
	char tmp[4200], *line = NULL;
	size_t cap = 0, nl = strlen(name);
	FILE *in = fopen(path, "re");
	int fd, r = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	while (in && !r && getline(&line, &cap, in) > 0) {
		const char *p = line + strspn(line, " \t");
		if (!strncmp(p, name, nl) && (p[nl] == ' ' || p[nl] == '\t'))
			continue;
		r = write_all(fd, line, strlen(line));
	}
	if (!r)
		r = write_all(fd, newline, strlen(newline));
	if (!r && fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (!r && rename(tmp, path) < 0)
		r = -errno;
	if (r)
		unlink(tmp);
out:
	free(line);
	if (in)
		fclose(in);
	return r;
}

int keys_trust(const char *authorized_keys, const char *known_hosts, const char *name,
	       const char *pubfile, int *changed, char *err, size_t errlen)
{
	struct keys_set ak = {0}, kh = {0};
	struct keys_entry e = {0};
	char line[8192], out[8400];
	FILE *f;
	int r, i;

	*changed = 0;
	f = fopen(pubfile, "re");
	if (!f) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", pubfile, strerror(-r));
		return r;
	}
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	fclose(f);
	if (keys_parse_line(line, 0, &e) != 0) {
		snprintf(err, errlen,
			 "%s: not an OpenSSH public key line ('type base64 [comment]')", pubfile);
		return SSI_E_CORRUPT;
	}
	r = keys_load(authorized_keys, 0, &ak, err, errlen);
	if (r < 0)
		goto out;
	r = keys_load(known_hosts, 1, &kh, err, errlen);
	if (r < 0)
		goto out;
	if (keys_find_key(&ak, e.key) < 0) {
		r = pub_line(e.key, name, out, sizeof(out));
		if (!r)
			r = append_line(authorized_keys, out);
		if (r < 0) {
			snprintf(err, errlen, "%s: %s", authorized_keys, ssierr_str(r));
			goto out;
		}
		*changed |= 1;
	}
	i = keys_find_name(&kh, name);
	if (i >= 0 && ssh_key_cmp(kh.v[i].key, e.key, SSH_KEY_CMP_PUBLIC) == 0)
		goto out;
	r = pub_line(e.key, NULL, line, sizeof(line));
	if (r < 0)
		goto out;
	snprintf(out, sizeof(out), "%s %s", name, line);
	r = i >= 0 ? replace_pin(known_hosts, name, out) : append_line(known_hosts, out);
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", known_hosts, ssierr_str(r));
		goto out;
	}
	*changed |= i >= 0 ? 2 | 4 : 2;
out:
	ssh_key_free(e.key);
	keys_set_free(&ak);
	keys_set_free(&kh);
	return r;
}
