/*
 * badpeer - a misbehaving but authenticated peer, for tests: logs in to an ssid with a key
 * that ssid trusts, opens the "ssi" channel, sends a valid HELLO, then one bad frame, and
 * reports whether the daemon closed the link (exit 0) or kept it open for 5 s (exit 1).
 *
 * usage: badpeer KEY HOST PORT NAME ID MODE
 *   MODE garbage   random bytes (bad magic)
 *        oversize  a header announcing a body larger than WIRE_MAX_BODY
 *        truncated a frame whose field runs past the end of its body
 *        badtype   a well-formed header with an unknown message type
 * Exit 2: could not connect or authenticate (then the test itself is broken).
 */
#include "ssid/buf.h"
#include "ssid/wire.h"

#include <libssh/libssh.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void hdr(struct buf *b, uint16_t type, uint32_t len, uint32_t reqid)
{
	buf_put_u16(b, WIRE_MAGIC);
	buf_put_u16(b, type);
	buf_put_u32(b, len);
	buf_put_u32(b, reqid);
}

static int bad_frame(const char *mode, struct buf *b)
{
	if (!strcmp(mode, "garbage")) {
		srand((unsigned)time(NULL));
		for (int i = 0; i < 64; i++)
			buf_put_u8(b, (uint8_t)(rand() | 1));
		b->d[0] = 0xde; /* never the magic */
	} else if (!strcmp(mode, "oversize")) {
		hdr(b, WIRE_HEARTBEAT, WIRE_MAX_BODY + 1, 0);
	} else if (!strcmp(mode, "truncated")) {
		hdr(b, WIRE_HEARTBEAT, 7, 0);
		buf_put_u16(b, 1);   /* tag */
		buf_put_u8(b, 1);    /* wire type */
		buf_put_u32(b, 100); /* claims 100 bytes, none follow inside the body */
	} else if (!strcmp(mode, "badtype")) {
		hdr(b, 999, 0, 0);
	} else {
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	ssh_session s;
	ssh_channel ch;
	ssh_key key = NULL;
	struct wire_msg m;
	struct buf out;
	unsigned int port;
	bool f = false;
	char rd[4096];
	int rc;

	if (argc != 7) {
		fprintf(stderr, "usage: badpeer KEY HOST PORT NAME ID "
				"garbage|oversize|truncated|badtype\n");
		return 2;
	}
	port = (unsigned)atoi(argv[3]);
	buf_init(&out);
	wire_msg_init(&m, WIRE_HELLO, 0);
	m.u.hello.version = WIRE_PROTO_VERSION;
	m.u.hello.min_version = WIRE_PROTO_MIN_VERSION;
	m.u.hello.node_id = (uint16_t)atoi(argv[5]);
	snprintf(m.u.hello.name, sizeof(m.u.hello.name), "%s", argv[4]);
	m.u.hello.cpus = 1;
	m.u.hello.speed = WIRE_SPEED_REF;
	m.u.hello.mem_total_kb = 1024;
	if (wire_encode(&out, &m) < 0 || bad_frame(argv[6], &out) < 0) {
		fprintf(stderr, "badpeer: unknown mode %s\n", argv[6]);
		return 2;
	}
	if (ssh_pki_import_privkey_file(argv[1], NULL, NULL, NULL, &key) != SSH_OK) {
		fprintf(stderr, "badpeer: %s: cannot read key\n", argv[1]);
		return 2;
	}
	s = ssh_new();
	ssh_options_set(s, SSH_OPTIONS_HOST, argv[2]);
	ssh_options_set(s, SSH_OPTIONS_PORT, &port);
	ssh_options_set(s, SSH_OPTIONS_USER, "ssid");
	ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &f);
	ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, "/dev/null");
	if (ssh_connect(s) != SSH_OK || ssh_userauth_publickey(s, NULL, key) != SSH_AUTH_SUCCESS) {
		fprintf(stderr, "badpeer: login to %s:%u failed: %s\n", argv[2], port,
			ssh_get_error(s));
		return 2;
	}
	ch = ssh_channel_new(s);
	if (!ch || ssh_channel_open_session(ch) != SSH_OK ||
	    ssh_channel_request_subsystem(ch, "ssi") != SSH_OK) {
		fprintf(stderr, "badpeer: channel: %s\n", ssh_get_error(s));
		return 2;
	}
	rc = 1;
	if (ssh_channel_write(ch, buf_rptr(&out), (uint32_t)buf_avail(&out)) < 0) {
		printf("badpeer: closed while sending\n");
		rc = 0;
	}
	for (time_t end = time(NULL) + 5; rc && time(NULL) < end;) {
		int n = ssh_channel_read_timeout(ch, rd, sizeof(rd), 0, 200);
		if (n < 0 || ssh_channel_is_eof(ch) || !ssh_channel_is_open(ch) ||
		    !ssh_is_connected(s)) {
			printf("badpeer: %s: the daemon closed the link\n", argv[6]);
			rc = 0;
		}
	}
	if (rc)
		printf("badpeer: %s: the link is still open after 5 s\n", argv[6]);
	ssh_channel_free(ch);
	ssh_disconnect(s);
	ssh_free(s);
	ssh_key_free(key);
	buf_free(&out);
	return rc;
}
