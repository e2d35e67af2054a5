/*
 * sshbench - throughput of one libssh channel (for tests/bench/ssh_channel.sh), with a memcpy
 * of the same bytes as the baseline, and of the migration image channel (migrate/imgchan.h:
 * TCP with AES-128-GCM records) that replaces the SSH channel for images.
 *
 *   sshbench serve ADDR PORT N     accept N sessions (any client key; a benchmark, not a
 *                                  daemon), on each read until the client's EOF, answer 1 byte;
 *                                  print "recv MIB cpu_ms_per_MiB" per session
 *   sshbench send HOST PORT CIPHER MIB   send MIB MiB on one channel; print
 *                                  "MiB/s cipher cpu_ms_per_MiB" (the sender's CPU, user+sys)
 *   sshbench gcmserve ADDR PORT N  accept N image channel connections, read each one's records
 *                                  until the last into a 4 MiB shmring (a consumer thread
 *                                  frees them); print "recv MIB cpu_ms_per_MiB" (whole process)
 *   sshbench gcmsend HOST PORT MIB send MIB MiB in 1 MiB sealed records, wait for the server to
 *                                  close; print "MiB/s aes128-gcm-direct cpu_ms_per_MiB"
 *   sshbench memcpy MIB            copy MIB MiB in 32 KiB pieces; print MiB/s
 * Sessions use the same settings as ssid (ed25519 keys, no ssh config files, TCP_NODELAY).
 * gcmserve/gcmsend use a fixed, public test key and migration id (a benchmark: never a secret).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <pthread.h>
#include <unistd.h>

#include "migrate/imgchan.h"

#define CHUNK 32768

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CPU time (user + system) of this process so far, in ms. */
static double cpu_ms(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

struct srv {
	ssh_channel ch;
	int authed;
	struct ssh_channel_callbacks_struct ccb;
};

static int auth_any(ssh_session s, const char *user, struct ssh_key_struct *k, char st, void *ud)
{
	struct srv *v = ud;

	(void)s;
	(void)user;
	(void)k;
	if (st == SSH_PUBLICKEY_STATE_VALID)
		v->authed = 1;
	return SSH_AUTH_SUCCESS;
}

static int subsys_ok(ssh_session s, ssh_channel ch, const char *sub, void *ud)
{
	(void)s;
	(void)ch;
	(void)sub;
	(void)ud;
	return 0;
}

static ssh_channel chan_open(ssh_session s, void *ud)
{
	struct srv *v = ud;

	v->ch = ssh_channel_new(s);
	memset(&v->ccb, 0, sizeof(v->ccb));
	v->ccb.userdata = v;
	v->ccb.channel_subsystem_request_function = subsys_ok;
	ssh_callbacks_init(&v->ccb);
	ssh_set_channel_callbacks(v->ch, &v->ccb);
	return v->ch;
}

static int serve_one(ssh_bind b, int lfd)
{
	struct ssh_server_callbacks_struct cb;
	struct srv v = {0};
	ssh_session s = ssh_new();
	ssh_event ev;
	static char buf[CHUNK];
	int fd = accept(lfd, NULL, NULL);

	if (fd < 0 || ssh_bind_accept_fd(b, s, fd) != SSH_OK)
		return -1;
	memset(&cb, 0, sizeof(cb));
	cb.userdata = &v;
	cb.auth_pubkey_function = auth_any;
	cb.channel_open_request_session_function = chan_open;
	ssh_callbacks_init(&cb);
	ssh_set_server_callbacks(s, &cb);
	ssh_set_auth_methods(s, SSH_AUTH_METHOD_PUBLICKEY);
	if (ssh_handle_key_exchange(s) != SSH_OK)
		return -1;
	ev = ssh_event_new();
	ssh_event_add_session(ev, s);
	while (!(v.authed && v.ch))
		if (ssh_event_dopoll(ev, 1000) == SSH_ERROR)
			return -1;
	double c0 = cpu_ms(), got = 0;
	for (;;) {
		int n = ssh_channel_read(v.ch, buf, sizeof(buf), 0);
		if (n == SSH_ERROR)
			return -1;
		if (n == 0 && ssh_channel_is_eof(v.ch))
			break;
		got += n;
	}
	got /= 1048576.0;
	printf("recv %.0f %.3f\n", got, got > 0 ? (cpu_ms() - c0) / got : 0.0);
	fflush(stdout);
	ssh_channel_write(v.ch, "k", 1);
	ssh_channel_send_eof(v.ch);
	ssh_channel_close(v.ch);
	ssh_event_remove_session(ev, s);
	ssh_event_free(ev);
	ssh_disconnect(s);
	ssh_free(s);
	return 0;
}

static int serve(const char *addr, int port, int n)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	ssh_bind b = ssh_bind_new();
	ssh_key key;
	bool f = false;
	int one = 1, lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	inet_pton(AF_INET, addr, &sa.sin_addr);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4) < 0) {
		perror("sshbench: bind");
		return 1;
	}
	ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key);
	ssh_bind_options_set(b, SSH_BIND_OPTIONS_PROCESS_CONFIG, &f);
	ssh_bind_options_set(b, SSH_BIND_OPTIONS_IMPORT_KEY, key);
	printf("ready\n");
	fflush(stdout);
	for (int i = 0; i < n; i++)
		if (serve_one(b, lfd) < 0) {
			fprintf(stderr, "sshbench: session %d failed\n", i);
			return 1;
		}
	ssh_bind_free(b);
	return 0;
}

static int sendbench(const char *host, int port, const char *cipher, long mib)
{
	ssh_session s = ssh_new();
	ssh_channel ch;
	ssh_key key;
	static char buf[CHUNK];
	unsigned int p = (unsigned)port;
	bool f = false;
	int nodelay = 1;
	double t0, t, c0;
	char ack;

	ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key);
	memset(buf, 0x5a, sizeof(buf));
	ssh_options_set(s, SSH_OPTIONS_HOST, host);
	ssh_options_set(s, SSH_OPTIONS_PORT, &p);
	ssh_options_set(s, SSH_OPTIONS_USER, "bench");
	ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &f);
	ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, "/dev/null");
	ssh_options_set(s, SSH_OPTIONS_NODELAY, &nodelay);
	ssh_options_set(s, SSH_OPTIONS_CIPHERS_C_S, cipher);
	ssh_options_set(s, SSH_OPTIONS_CIPHERS_S_C, cipher);
	if (ssh_connect(s) != SSH_OK || ssh_userauth_publickey(s, NULL, key) != SSH_AUTH_SUCCESS) {
		fprintf(stderr, "sshbench: %s:%d: %s\n", host, port, ssh_get_error(s));
		return 1;
	}
	ch = ssh_channel_new(s);
	if (ssh_channel_open_session(ch) != SSH_OK ||
	    ssh_channel_request_subsystem(ch, "ssi") != SSH_OK) {
		fprintf(stderr, "sshbench: channel: %s\n", ssh_get_error(s));
		return 1;
	}
	t0 = now_s();
	c0 = cpu_ms();
	for (long i = 0; i < mib * (1024 * 1024 / CHUNK); i++)
		if (ssh_channel_write(ch, buf, sizeof(buf)) != (int)sizeof(buf)) {
			fprintf(stderr, "sshbench: write: %s\n", ssh_get_error(s));
			return 1;
		}
	ssh_channel_send_eof(ch);
	if (ssh_channel_read(ch, &ack, 1, 0) != 1) {
		fprintf(stderr, "sshbench: no acknowledgement: %s\n", ssh_get_error(s));
		return 1;
	}
	t = now_s() - t0;
	printf("%.1f %s %.3f\n", mib / t, ssh_get_cipher_out(s), (cpu_ms() - c0) / (double)mib);
	ssh_channel_close(ch);
	ssh_channel_free(ch);
	ssh_disconnect(s);
	ssh_free(s);
	ssh_key_free(key);
	return 0;
}

/* ---- the image channel (migrate/imgchan.h) ---- */

#define GCM_MIG 0x5ea1beefull

/* The benchmark's key: fixed and public, so that both ends agree without an SSH link. */
static void gcm_key(struct imgseal_key *k)
{
	for (int i = 0; i < IMGSEAL_KEY_LEN; i++)
		k->key[i] = (uint8_t)(0xb0 + i);
	for (int i = 0; i < IMGSEAL_SALT_LEN; i++)
		k->salt[i] = (uint8_t)(0x50 + i);
}

struct drain {
	struct shmring *ring;
};

/* The ring's consumer: frees what arrives (the restore worker's place, minus its work). */
static void *drain_ring(void *a)
{
	struct drain *d = a;
	size_t n;

	for (;;) {
		shmring_wait_data(d->ring, 1, -1);
		shmring_rptr(d->ring, &n);
		if (n) {
			shmring_consume(d->ring, n);
			continue;
		}
		if (shmring_state(d->ring) != 0) {
			shmring_rptr(d->ring, &n);
			if (!n)
				return NULL;
		}
	}
}

static int gcm_serve_one(int lfd)
{
	struct imgseal_key k;
	struct imgseal *o = NULL;
	struct drain d = {0};
	pthread_t th;
	char err[300];
	uint32_t len;
	uint8_t fl = 0;
	double got = 0, c0;
	int fd, e = 0;

	gcm_key(&k);
	fd = imgchan_accept(lfd, GCM_MIG, 60000, NULL, err, sizeof(err));
	if (fd < 0) {
		fprintf(stderr, "sshbench: %s\n", err);
		return -1;
	}
	if (shmring_create(4u << 20, &d.ring) < 0 || imgseal_new(&o, &k, GCM_MIG, 0) < 0 ||
	    pthread_create(&th, NULL, drain_ring, &d) != 0) {
		fprintf(stderr, "sshbench: no memory\n");
		return -1;
	}
	c0 = cpu_ms();
	while (!(fl & IMGSEAL_F_LAST)) {
		e = imgchan_recv_ring(fd, o, d.ring, 10000, NULL, &len, &fl, err, sizeof(err));
		if (e < 0)
			break;
		got += len;
	}
	shmring_close(d.ring, e);
	pthread_join(th, NULL);
	got /= 1048576.0;
	if (e < 0)
		fprintf(stderr, "sshbench: %s\n", err);
	else
		printf("recv %.0f %.3f\n", got, got > 0 ? (cpu_ms() - c0) / got : 0.0);
	fflush(stdout);
	close(fd); /* the sender waits for this */
	imgseal_free(o);
	shmring_free(d.ring);
	return e < 0 ? -1 : 0;
}

static int gcmserve(const char *addr, int port, int n)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int one = 1, lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		fprintf(stderr, "sshbench: %s: not an IPv4 address\n", addr);
		return 1;
	}
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4) < 0) {
		perror("sshbench: bind");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	for (int i = 0; i < n; i++)
		if (gcm_serve_one(lfd) < 0) {
			fprintf(stderr, "sshbench: connection %d failed\n", i);
			return 1;
		}
	close(lfd);
	return 0;
}

static int gcmsend(const char *host, int port, long mib)
{
	struct imgseal_key k;
	struct imgseal *s;
	uint8_t *buf = malloc(1u << 20);
	uint64_t x = 88172645463325252ull;
	char err[300], c;
	double t0, c0;
	int fd, e = 0;

	if (!buf || mib < 1)
		return 2;
	/* pseudo-random once: sealing in place turns it into other random bytes each time */
	for (size_t i = 0; i < (1u << 20); i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(buf + i, &x, 8);
	}
	gcm_key(&k);
	t0 = now_s();
	c0 = cpu_ms();
	fd = imgchan_connect(host, (uint16_t)port, GCM_MIG, 3000, err, sizeof(err));
	if (fd < 0 || imgseal_new(&s, &k, GCM_MIG, 1) < 0) {
		fprintf(stderr, "sshbench: %s\n", fd < 0 ? err : "no memory");
		return 1;
	}
	for (long i = 0; i < mib && !e; i++)
		e = imgchan_send(fd, s, buf, 1u << 20, i == mib - 1 ? IMGSEAL_F_LAST : 0, 10000,
				 NULL, err, sizeof(err));
	if (e < 0) {
		fprintf(stderr, "sshbench: %s\n", err);
		return 1;
	}
	/* delivered when the server, after the last record, closes */
	while (read(fd, &c, 1) < 0 && errno == EINTR)
		;
	printf("%.1f aes128-gcm-direct %.3f\n", mib / (now_s() - t0),
	       (cpu_ms() - c0) / (double)mib);
	imgseal_free(s);
	close(fd);
	free(buf);
	return 0;
}

/* The same bytes through memory: 64 MiB buffers (larger than any cache), 32 KiB pieces. */
static int memcpybench(long mib)
{
	const size_t big = 64u << 20;
	char *src = malloc(big), *dst = malloc(big);
	volatile char sink;
	double t0, t;

	if (!src || !dst)
		return 1;
	memset(src, 0x5a, big);
	memset(dst, 0, big);
	t0 = now_s();
	for (long i = 0; i < mib * (1024 * 1024 / CHUNK); i++) {
		size_t off = ((size_t)i * CHUNK) % big;
		memcpy(dst + off, src + off, CHUNK);
	}
	sink = dst[12345];
	(void)sink;
	t = now_s() - t0;
	printf("%.1f memcpy\n", mib / t);
	free(src);
	free(dst);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "serve"))
		return serve(argv[2], atoi(argv[3]), atoi(argv[4]));
	if (argc == 6 && !strcmp(argv[1], "send"))
		return sendbench(argv[2], atoi(argv[3]), argv[4], atol(argv[5]));
	if (argc == 5 && !strcmp(argv[1], "gcmserve"))
		return gcmserve(argv[2], atoi(argv[3]), atoi(argv[4]));
	if (argc == 5 && !strcmp(argv[1], "gcmsend"))
		return gcmsend(argv[2], atoi(argv[3]), atol(argv[4]));
	if (argc == 3 && !strcmp(argv[1], "memcpy"))
		return memcpybench(atol(argv[2]));
	fprintf(stderr, "usage: sshbench serve ADDR PORT N | send HOST PORT CIPHER MIB | gcmserve "
			"ADDR PORT N |\n"
			"       gcmsend HOST PORT MIB | memcpy MIB\n"
			"gcmserve/gcmsend use a fixed public test key: a benchmark, not a secure "
			"channel\n");
	return 2;
}
