/*
 * test_wire.c - Check suite for the frame codec (ssid/wire.c, ssid/wire_tables.c).
 *
 * For every message type: round trip, every prefix of a frame (need-more / truncated),
 * oversize length, unknown type, unknown field (skipped when optional, rejected when
 * critical), duplicate field, wrong wire type, every required field missing. Frames are
 * edited at the TLV level by helpers here, independently of the encoder's code.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ssid/buf.h"
#include "ssid/ssierr.h"
#include "ssid/wire.h"
#include "ssid/wire_int.h"

static const uint16_t all_types[] = {
	WIRE_HELLO,
	WIRE_HEARTBEAT,
	WIRE_ERROR,
	WIRE_LOAD_WINDOW,
	WIRE_LOAD_PULL,
	WIRE_PROC_TABLE_REQ,
	WIRE_PROC_TABLE_REPLY,
	WIRE_SIGNAL,
	WIRE_SIGNAL_REPLY,
	WIRE_MOVE_REQ,
	WIRE_MOVE_PROGRESS,
	WIRE_MOVE_RESULT,
	WIRE_MIG_OFFER,
	WIRE_MIG_ACCEPT,
	WIRE_MIG_REFUSE,
	WIRE_MIG_STREAM,
	WIRE_MIG_READY,
	WIRE_MIG_COMMIT,
	WIRE_MIG_ABORT,
	WIRE_MIG_DONE,
	WIRE_MIG_QUERY,
	WIRE_FILE_REQ,
	WIRE_FILE_REPLY,
	WIRE_STDIO,
	WIRE_EXIT,
};
#define NTYPES (sizeof(all_types) / sizeof(all_types[0]))

static struct wire_load_entry sample_load[3];
static struct wire_proc_entry sample_proc[2];
static uint32_t sample_groups[] = {4, 24, 27, 1000};
static const uint8_t sample_data[] = {0, 1, 2, 0xff, 0, 'x'};
static const uint8_t sample_cmd[] = "sleep\0"
				    "100";

/* A message of type t with every field set to a non-zero value. */
static void fill(struct wire_msg *m, uint16_t t)
{
	size_t i;

	wire_msg_init(m, t, 0x01020304u + t);
	switch (t) {
	case WIRE_HELLO:
		m->u.hello = (struct wire_hello){.version = 1,
						 .min_version = 1,
						 .node_id = 511,
						 .name = "node1",
						 .cpus = 2,
						 .speed = 1000,
						 .mem_total_kb = 16ull << 20,
						 .kernel = "6.18.0-test",
						 .cpu_flags = "fpu vme sse2 avx2",
						 .listen = "127.0.1.1:7022",
						 .boot_id = 0xfeedfacecafebeefull,
						 .incarnation = 0x0123456789abcdefull};
		break;
	case WIRE_HEARTBEAT:
		m->u.heartbeat = (struct wire_heartbeat){.node_id = 3, .seq = 99, .uptime_ms = 5};
		break;
	case WIRE_ERROR:
		m->u.error = (struct wire_error){
			.code = SSI_E_REFUSED, .text = "no such thing", .ref_type = 22};
		break;
	case WIRE_LOAD_WINDOW:
		for (i = 0; i < 3; i++) {
			sample_load[i] = (struct wire_load_entry){.node_id = (uint16_t)(i + 1),
								  .addr = "127.0.1.9:7022",
								  .age_ms = 100 * (uint32_t)i + 1,
								  .load = 1500,
								  .runq = 3,
								  .cpu_use = 1999,
								  .mem_total_kb = 1u << 30,
								  .mem_free_kb = 12345,
								  .psi = 250,
								  .cpus = 8,
								  .speed = 900,
								  .state = WIRE_NODE_SUSPECT,
								  .flags = WIRE_NODE_F_BLOCKED};
			snprintf(sample_load[i].name, sizeof(sample_load[i].name), "node%zu",
				 i + 1);
		}
		m->u.load_window =
			(struct wire_load_window){.from = 2, .entries = sample_load, .nentries = 3};
		break;
	case WIRE_LOAD_PULL:
		m->u.load_pull.from = 7;
		break;
	case WIRE_PROC_TABLE_REQ:
		m->u.proc_req = (struct wire_proc_req){.origin_uid = 1000, .flags = 1, .gpid = 42};
		break;
	case WIRE_PROC_TABLE_REPLY:
		for (i = 0; i < 2; i++)
			sample_proc[i] =
				(struct wire_proc_entry){.gpid = (1u << 22) + 100 + (uint32_t)i,
							 .uid = 1000,
							 .gid = 1000,
							 .node = 2,
							 .home = 1,
							 .state = 'S',
							 .ppid = 1,
							 .pgrp = 100,
							 .sid = 99,
							 .comm = "sleep",
							 .cmdline = sample_cmd,
							 .cmdline_len = sizeof(sample_cmd),
							 .utime = 10,
							 .stime = 11,
							 .starttime = 12345678,
							 .vsize = 1ull << 33,
							 .rss_pages = 400,
							 .threads = 1,
							 .nice = -20,
							 .priority = 39};
		m->u.proc_reply = (struct wire_proc_reply){.node = 2,
							   .more = 1,
							   .records_fmt = 3,
							   .records = sample_data,
							   .records_len = sizeof(sample_data),
							   .entries = sample_proc,
							   .nentries = 2};
		break;
	case WIRE_SIGNAL:
		m->u.signal =
			(struct wire_signal){.gpid = 4194404, .signo = 15, .origin_uid = 1000};
		break;
	case WIRE_SIGNAL_REPLY:
		m->u.signal_reply.err = -EPERM;
		break;
	case WIRE_MOVE_REQ:
		m->u.move_req = (struct wire_move_req){.gpid = 4194404,
						       .dst = 3,
						       .origin_uid = 1000,
						       .why = "node1 runs 3 on 2 cpus, node3 idle"};
		break;
	case WIRE_MOVE_PROGRESS:
		m->u.move_progress.step = "image sent to node 3: 0.2 MiB in 4 ms (60 MiB/s)";
		break;
	case WIRE_MOVE_RESULT:
		m->u.move_result = (struct wire_move_result){.err = -EHOSTUNREACH,
							     .from = 2,
							     .to = 3,
							     .mig_id = 2ull << 48 | 7,
							     .bytes = 262144,
							     .freeze_ms = 12,
							     .transfer_ms = 3,
							     .restore_ms = -1,
							     .total_ms = 40,
							     .text = "node3 refuses"};
		break;
	case WIRE_MIG_OFFER:
		m->u.mig_offer = (struct wire_mig_offer){.mig_id = 1ull << 60 | 5,
							 .gpid = 4194404,
							 .src = 1,
							 .dst = 2,
							 .home = 1,
							 .uid = 1000,
							 .gid = 100,
							 .comm = "cruncher",
							 .image_bytes = 1 << 24,
							 .image_version = 1,
							 .flags = 2,
							 .roles = 0x12,
							 .rss_kb = 900 << 10};
		break;
	case WIRE_MIG_ACCEPT:
		m->u.mig_accept = (struct wire_mig_accept){.mig_id = 5,
							   .window = 8,
							   .roles = 0x21,
							   .img_port = 40123,
							   .img_key_hi = 0x0123456789abcdefull,
							   .img_key_lo = 0xfedcba9876543210ull,
							   .img_salt = 0xa5a5a5a5u};
		break;
	case WIRE_MIG_REFUSE:
		m->u.mig_refuse = (struct wire_mig_refuse){
			.mig_id = 5, .err = -ENOMEM, .reason = "no memory", .roles = 0x21};
		break;
	case WIRE_MIG_STREAM:
		m->u.mig_stream = (struct wire_mig_stream){.mig_id = 5,
							   .seq = 7,
							   .offset = 7 << 20,
							   .data = sample_data,
							   .len = sizeof(sample_data),
							   .last = 1};
		break;
	case WIRE_MIG_READY:
		m->u.mig_ready = (struct wire_mig_ready){.mig_id = 5,
							 .pid = 100,
							 .roles = 0x23,
							 .freeze_us = 1,
							 .transfer_us = 2,
							 .restore_us = 3,
							 .bytes = 4};
		break;
	case WIRE_MIG_COMMIT:
		m->u.mig_commit = (struct wire_mig_commit){.mig_id = 5, .roles = 0x31};
		break;
	case WIRE_MIG_ABORT:
		m->u.mig_abort = (struct wire_mig_abort){
			.mig_id = 5, .err = -ETIMEDOUT, .reason = "timeout", .roles = 0x31};
		break;
	case WIRE_MIG_DONE:
		m->u.mig_done = (struct wire_mig_done){.mig_id = 5,
						       .err = -1,
						       .roles = 0x23,
						       .freeze_us = 5,
						       .transfer_us = 6,
						       .restore_us = 7,
						       .bytes = 8};
		break;
	case WIRE_MIG_QUERY:
		m->u.mig_query = (struct wire_mig_query){.mig_id = 6, .roles = 0x13};
		break;
	case WIRE_FILE_REQ:
		m->u.file_req = (struct wire_file_req){.op = WIRE_FOP_RENAME,
						       .uid = 1000,
						       .gid = 1000,
						       .groups = sample_groups,
						       .ngroups = 4,
						       .path = "/home/u/a",
						       .path2 = "/home/u/b",
						       .fh = 77,
						       .offset = 1ull << 40,
						       .length = 4096,
						       .flags = 0101,
						       .mode = 0644,
						       .data = sample_data,
						       .data_len = sizeof(sample_data)};
		break;
	case WIRE_FILE_REPLY:
		m->u.file_reply = (struct wire_file_reply){.err = -ENOENT,
							   .fh = 1,
							   .value = 2,
							   .data = sample_data,
							   .data_len = sizeof(sample_data),
							   .mode = 0100644,
							   .nlink = 1,
							   .uid = 3,
							   .gid = 4,
							   .size = 5,
							   .ino = 6,
							   .blocks = 7,
							   .rdev = 8,
							   .atime_ns = -9,
							   .mtime_ns = 10,
							   .ctime_ns = INT64_MIN};
		break;
	case WIRE_STDIO:
		m->u.stdio = (struct wire_stdio){.gpid = 9,
						 .stream = 1,
						 .data = sample_data,
						 .len = sizeof(sample_data),
						 .eof = 1,
						 .offset = 1ull << 40,
						 .ack = 17,
						 .epoch = 0x0002123456789abcull,
						 .flags = WIRE_STDIO_F_OFFSET};
		break;
	case WIRE_EXIT:
		m->u.exit = (struct wire_exit){.gpid = 9,
					       .status = 0x0900,
					       .utime = 1,
					       .stime = 2,
					       .flags = WIRE_EXIT_F_ACKME};
		break;
	}
}

/* Encode a filled sample of type t into b (reset first). */
static void encode_sample(struct buf *b, uint16_t t)
{
	struct wire_msg m;

	buf_reset(b);
	fill(&m, t);
	ck_assert_msg(wire_encode(b, &m) == 0, "encode %s", wire_type_name(t));
}

/* Set the body length in the header of the frame at the start of b. */
static void fix_len(struct buf *b)
{
	ck_assert_int_eq(buf_poke_u32(b, 4, (uint32_t)(b->len - WIRE_HDR_SIZE)), 0);
}

static void put_tlv(struct buf *b, uint16_t tag, uint8_t wt, const void *v, uint32_t n)
{
	ck_assert_int_eq(buf_put_u16(b, tag), 0);
	ck_assert_int_eq(buf_put_u8(b, wt), 0);
	ck_assert_int_eq(buf_put_u32(b, n), 0);
	ck_assert_int_eq(buf_put(b, v, n), 0);
}

/* Copy the frame in src to dst, field by field, applying an edit to the top-level field
 * with tag `tag`: 'd' drop it, '2' write it twice, 't' change its wire type. */
static void edit_frame(const struct buf *src, struct buf *dst, uint16_t tag, char op)
{
	struct buf in;
	uint16_t t;
	uint8_t wt;
	uint32_t n;
	int hit = 0;

	buf_view(&in, src->d, src->len);
	buf_reset(dst);
	ck_assert_int_eq(buf_put(dst, src->d, WIRE_HDR_SIZE), 0);
	buf_skip(&in, WIRE_HDR_SIZE);
	while (buf_avail(&in)) {
		ck_assert_int_eq(buf_get_u16(&in, &t), 0);
		ck_assert_int_eq(buf_get_u8(&in, &wt), 0);
		ck_assert_int_eq(buf_get_u32(&in, &n), 0);
		const uint8_t *v = buf_rptr(&in);

		ck_assert_int_eq(buf_skip(&in, n), 0);
		if (t == tag) {
			hit = 1;
			if (op == 'd')
				continue;
			if (op == '2')
				put_tlv(dst, t, wt, v, n);
			if (op == 't')
				wt = wt == 1 ? 2 : 1;
		}
		put_tlv(dst, t, wt, v, n);
	}
	ck_assert_msg(hit, "tag %u not in frame", tag);
	fix_len(dst);
}

START_TEST(round_trip)
{
	uint16_t t = all_types[_i];
	struct buf a, b;
	struct wire_msg m;
	struct wire_hdr h;
	size_t n;

	buf_init(&a);
	buf_init(&b);
	encode_sample(&a, t);
	ck_assert_int_eq(wire_split(a.d, a.len, &n, &h), 1);
	ck_assert_uint_eq(n, a.len);
	ck_assert_uint_eq(h.type, t);
	ck_assert_uint_eq(h.reqid, 0x01020304u + t);
	ck_assert_uint_eq(h.len + WIRE_HDR_SIZE, a.len);
	ck_assert_int_eq(wire_decode(a.d, a.len, &m), 0);
	ck_assert_uint_eq(m.type, t);
	ck_assert_uint_eq(m.reqid, 0x01020304u + t);
	/* The decoded message encodes to the same bytes: every field survived. */
	ck_assert_int_eq(wire_encode(&b, &m), 0);
	ck_assert_uint_eq(a.len, b.len);
	ck_assert_mem_eq(a.d, b.d, a.len);
	wire_msg_free(&m);
	wire_msg_free(&m); /* idempotent */
	buf_free(&a);
	buf_free(&b);
}
END_TEST

START_TEST(round_trip_values)
{
	struct buf a;
	struct wire_msg m;

	buf_init(&a);
	encode_sample(&a, WIRE_HELLO);
	ck_assert_int_eq(wire_decode(a.d, a.len, &m), 0);
	ck_assert_uint_eq(m.u.hello.node_id, 511);
	ck_assert_str_eq(m.u.hello.name, "node1");
	ck_assert_str_eq(m.u.hello.kernel, "6.18.0-test");
	ck_assert_str_eq(m.u.hello.cpu_flags, "fpu vme sse2 avx2");
	ck_assert_str_eq(m.u.hello.listen, "127.0.1.1:7022");
	ck_assert_uint_eq(m.u.hello.mem_total_kb, 16ull << 20);
	ck_assert_uint_eq(m.u.hello.boot_id, 0xfeedfacecafebeefull);
	ck_assert_uint_eq(m.u.hello.incarnation, 0x0123456789abcdefull);
	wire_msg_free(&m);

	encode_sample(&a, WIRE_LOAD_WINDOW);
	ck_assert_int_eq(wire_decode(a.d, a.len, &m), 0);
	ck_assert_uint_eq(m.u.load_window.nentries, 3);
	ck_assert_str_eq(m.u.load_window.entries[2].name, "node3");
	ck_assert_uint_eq(m.u.load_window.entries[2].age_ms, 201);
	ck_assert_uint_eq(m.u.load_window.entries[1].state, WIRE_NODE_SUSPECT);
	wire_msg_free(&m);

	encode_sample(&a, WIRE_PROC_TABLE_REPLY);
	ck_assert_int_eq(wire_decode(a.d, a.len, &m), 0);
	ck_assert_uint_eq(m.u.proc_reply.nentries, 2);
	ck_assert_int_eq(m.u.proc_reply.entries[1].nice, -20);
	ck_assert_uint_eq(m.u.proc_reply.entries[1].cmdline_len, sizeof(sample_cmd));
	ck_assert_mem_eq(m.u.proc_reply.entries[1].cmdline, sample_cmd, sizeof(sample_cmd));
	ck_assert_mem_eq(m.u.proc_reply.records, sample_data, sizeof(sample_data));
	wire_msg_free(&m);

	encode_sample(&a, WIRE_FILE_REQ);
	ck_assert_int_eq(wire_decode(a.d, a.len, &m), 0);
	ck_assert_uint_eq(m.u.file_req.ngroups, 4);
	ck_assert_uint_eq(m.u.file_req.groups[3], 1000);
	ck_assert_str_eq(m.u.file_req.path2, "/home/u/b");
	ck_assert_uint_eq(m.u.file_req.offset, 1ull << 40);
	wire_msg_free(&m);

	encode_sample(&a, WIRE_FILE_REPLY);
	ck_assert_int_eq(wire_decode(a.d, a.len, &m), 0);
	ck_assert_int_eq(m.u.file_reply.ctime_ns, INT64_MIN);
	ck_assert_int_eq(m.u.file_reply.err, -ENOENT);
	wire_msg_free(&m);

	encode_sample(&a, WIRE_MOVE_RESULT);
	ck_assert_int_eq(wire_decode(a.d, a.len, &m), 0);
	ck_assert_int_eq(m.u.move_result.err, -EHOSTUNREACH);
	ck_assert_int_eq(m.u.move_result.restore_ms, -1); /* "not reached" survives */
	ck_assert_uint_eq(m.u.move_result.mig_id, 2ull << 48 | 7);
	ck_assert_str_eq(m.u.move_result.text, "node3 refuses");
	wire_msg_free(&m);

	/* MOVE_REQ for root: origin_uid 0 is sent (required), dst 0 (home) is not. */
	buf_reset(&a);
	wire_msg_init(&m, WIRE_MOVE_REQ, 5);
	m.u.move_req.gpid = 4194404;
	ck_assert_int_eq(wire_encode(&a, &m), 0);
	ck_assert_uint_eq(a.len, WIRE_HDR_SIZE + 2 * 15);
	ck_assert_int_eq(wire_decode(a.d, a.len, &m), 0);
	ck_assert_uint_eq(m.u.move_req.origin_uid, 0);
	ck_assert_uint_eq(m.u.move_req.dst, 0);
	wire_msg_free(&m);

	/* Absent optional fields decode as zero / empty / NULL. */
	buf_reset(&a);
	wire_msg_init(&m, WIRE_HELLO, 0);
	strcpy(m.u.hello.name, "n");
	ck_assert_int_eq(wire_encode(&a, &m), 0);
	ck_assert_int_eq(wire_decode(a.d, a.len, &m), 0);
	ck_assert_ptr_null(m.u.hello.cpu_flags);
	ck_assert_str_eq(m.u.hello.kernel, "");
	ck_assert_uint_eq(m.u.hello.version, 0);
	wire_msg_free(&m);
	buf_free(&a);
}
END_TEST

START_TEST(every_prefix_is_incomplete)
{
	uint16_t t = all_types[_i];
	struct buf a;
	struct wire_msg m;
	size_t n, k;

	buf_init(&a);
	encode_sample(&a, t);
	for (k = 0; k < a.len; k++) {
		ck_assert_msg(wire_split(a.d, k, &n, NULL) == 0, "%s prefix %zu", wire_type_name(t),
			      k);
		ck_assert_int_eq(wire_decode(a.d, k, &m), SSI_E_TRUNCATED);
	}
	buf_free(&a);
}
END_TEST

/* Shorten the body (header length patched to match): any cut is handled without a crash,
 * and a cut inside a field is reported as truncated. */
START_TEST(every_body_cut)
{
	uint16_t t = all_types[_i];
	struct buf a, c;
	struct wire_msg m;
	size_t k;

	buf_init(&a);
	buf_init(&c);
	encode_sample(&a, t);
	for (k = WIRE_HDR_SIZE; k < a.len; k++) {
		buf_reset(&c);
		ck_assert_int_eq(buf_put(&c, a.d, k), 0);
		fix_len(&c);
		int r = wire_decode(c.d, c.len, &m);

		ck_assert_msg(r == 0 || r == SSI_E_TRUNCATED || r == SSI_E_MISSING,
			      "%s cut %zu: %s", wire_type_name(t), k, ssierr_str(r));
		if (k - WIRE_HDR_SIZE > 0 && k - WIRE_HDR_SIZE < 7)
			ck_assert_int_eq(r, SSI_E_TRUNCATED); /* inside the first TLV header */
		wire_msg_free(&m);
	}
	buf_free(&a);
	buf_free(&c);
}
END_TEST

START_TEST(oversize)
{
	uint8_t hdr[WIRE_HDR_SIZE] = {0x53, 0x49, 0, WIRE_HEARTBEAT};
	struct buf a;
	struct wire_msg m;
	struct wire_proc_entry pe[3];
	size_t n, i;
	uint8_t *big;

	/* A header announcing one byte more than the maximum body: refused at once. */
	buf_init(&a);
	ck_assert_int_eq(buf_put(&a, hdr, 4), 0);
	ck_assert_int_eq(buf_put_u32(&a, WIRE_MAX_BODY + 1), 0);
	ck_assert_int_eq(wire_split(a.d, 8, &n, NULL), SSI_E_TOOBIG);
	ck_assert_int_eq(buf_put_u32(&a, 1), 0);
	ck_assert_int_eq(wire_split(a.d, a.len, &n, NULL), SSI_E_TOOBIG);
	ck_assert_int_eq(wire_decode(a.d, a.len, &m), SSI_E_TOOBIG);
	ck_assert_int_eq(buf_poke_u32(&a, 4, UINT32_MAX), 0);
	ck_assert_int_eq(wire_split(a.d, a.len, &n, NULL), SSI_E_TOOBIG);
	/* The maximum itself is fine: need-more until it is all there. */
	ck_assert_int_eq(buf_poke_u32(&a, 4, WIRE_MAX_BODY), 0);
	ck_assert_int_eq(wire_split(a.d, a.len, &n, NULL), 0);
	ck_assert_uint_eq(n, WIRE_MAX_FRAME);

	/* The encoder refuses a chunk over the limit and leaves the buffer as it was. */
	big = calloc(1, WIRE_MAX_CHUNK + 1);
	ck_assert_ptr_nonnull(big);
	buf_reset(&a);
	ck_assert_int_eq(buf_put_u8(&a, 0xaa), 0);
	wire_msg_init(&m, WIRE_MIG_STREAM, 1);
	m.u.mig_stream.data = big;
	m.u.mig_stream.len = WIRE_MAX_CHUNK + 1;
	ck_assert_int_eq(wire_encode(&a, &m), SSI_E_TOOBIG);
	ck_assert_uint_eq(a.len, 1);
	/* A full chunk fits, and decodes. */
	m.u.mig_stream.len = WIRE_MAX_CHUNK;
	ck_assert_int_eq(wire_encode(&a, &m), 0);
	ck_assert_int_eq(wire_split(a.d + 1, a.len - 1, &n, NULL), 1);
	ck_assert_int_eq(wire_decode(a.d + 1, n, &m), 0);
	ck_assert_uint_eq(m.u.mig_stream.len, WIRE_MAX_CHUNK);
	wire_msg_free(&m);
	/* Fields each within their limit but together over the body limit. */
	buf_reset(&a);
	wire_msg_init(&m, WIRE_PROC_TABLE_REPLY, 1);
	m.u.proc_reply.records = big;
	m.u.proc_reply.records_len = WIRE_MAX_CHUNK;
	for (i = 0; i < 3; i++)
		pe[i] = (struct wire_proc_entry){
			.comm = "x", .cmdline = big, .cmdline_len = WIRE_CMDLINE_MAX};
	m.u.proc_reply.entries = pe;
	m.u.proc_reply.nentries = 3;
	ck_assert_int_eq(wire_encode(&a, &m), SSI_E_TOOBIG);
	ck_assert_uint_eq(a.len, 0);
	m.u.proc_reply.nentries = 1;
	ck_assert_int_eq(wire_encode(&a, &m), 0);
	free(big);
	buf_free(&a);
}
END_TEST

START_TEST(unknown_type)
{
	struct buf a;
	struct wire_msg m;
	struct wire_hdr h;
	size_t n;

	buf_init(&a);
	encode_sample(&a, WIRE_HEARTBEAT);
	a.d[3] = 99;					     /* type 99 */
	ck_assert_int_eq(wire_split(a.d, a.len, &n, &h), 1); /* the header is sound */
	ck_assert_uint_eq(h.type, 99);
	ck_assert_int_eq(wire_decode(a.d, a.len, &m), SSI_E_BADTYPE);
	ck_assert_uint_eq(m.type, 99);
	ck_assert_uint_eq(m.reqid, 0x01020304u + WIRE_HEARTBEAT); /* for an ERROR reply */
	ck_assert_str_eq(wire_type_name(99), "?");
	ck_assert_str_eq(wire_type_name(WIRE_MIG_STREAM), "MIG_STREAM");
	a.d[2] = 0xff;
	ck_assert_int_eq(wire_decode(a.d, a.len, &m), SSI_E_BADTYPE);
	/* Type 0 is never valid: a bad header. */
	a.d[2] = 0;
	a.d[3] = 0;
	ck_assert_int_eq(wire_split(a.d, 4, &n, NULL), SSI_E_CORRUPT);
	ck_assert_int_eq(wire_decode(a.d, a.len, &m), SSI_E_BADTYPE);
	wire_msg_init(&m, 1000, 0);
	ck_assert_int_eq(wire_encode(&a, &m), SSI_E_BADTYPE);
	buf_free(&a);
}
END_TEST

START_TEST(unknown_field)
{
	uint16_t t = all_types[_i];
	struct buf a, b;
	struct wire_msg m;

	buf_init(&a);
	buf_init(&b);
	/* Optional range: skipped, whatever its wire type; the message is otherwise intact. */
	encode_sample(&b, t);
	buf_reset(&a);
	buf_put(&a, b.d, b.len);
	put_tlv(&a, WIRE_TAG_OPTIONAL, 77, "future", 6);
	put_tlv(&a, 0xffff, 1, "12345678", 8);
	fix_len(&a);
	ck_assert_int_eq(wire_decode(a.d, a.len, &m), 0);
	buf_reset(&a);
	ck_assert_int_eq(wire_encode(&a, &m), 0);
	ck_assert_mem_eq(a.d, b.d, b.len);
	wire_msg_free(&m);
	/* Critical range: the frame is rejected, naming the tag. */
	buf_reset(&a);
	buf_put(&a, b.d, b.len);
	put_tlv(&a, WIRE_TAG_OPTIONAL - 1, 1, "12345678", 8);
	fix_len(&a);
	ck_assert_int_eq(wire_decode(a.d, a.len, &m), SSI_E_BADFIELD);
	ck_assert_uint_eq(m.bad_tag, WIRE_TAG_OPTIONAL - 1);
	/* Tag 0 is never defined. */
	buf_truncate(&a, b.len);
	put_tlv(&a, 0, 1, "12345678", 8);
	fix_len(&a);
	ck_assert_int_eq(wire_decode(a.d, a.len, &m), SSI_E_BADFIELD);
	buf_free(&a);
	buf_free(&b);
}
END_TEST

/* Every field of every type: written twice -> rejected; with another wire type -> rejected;
 * dropped -> MISSING if required, else accepted. */
START_TEST(duplicate_wrongtype_missing)
{
	uint16_t t = all_types[_i];
	const struct rec *r = wire_rec_of(t);
	struct buf a, b;
	struct wire_msg m;
	size_t i;

	ck_assert_ptr_nonnull(r);
	buf_init(&a);
	buf_init(&b);
	encode_sample(&a, t);
	for (i = 0; i < r->n; i++) {
		uint16_t tag = r->f[i].tag;

		edit_frame(&a, &b, tag, '2');
		ck_assert_int_eq(wire_decode(b.d, b.len, &m), SSI_E_BADFIELD);
		ck_assert_uint_eq(m.bad_tag, tag);
		edit_frame(&a, &b, tag, 't');
		ck_assert_int_eq(wire_decode(b.d, b.len, &m), SSI_E_BADFIELD);
		ck_assert_uint_eq(m.bad_tag, tag);
		edit_frame(&a, &b, tag, 'd');
		if (r->f[i].req) {
			ck_assert_int_eq(wire_decode(b.d, b.len, &m), SSI_E_MISSING);
			ck_assert_uint_eq(m.bad_tag, tag);
		} else {
			ck_assert_int_eq(wire_decode(b.d, b.len, &m), 0);
			wire_msg_free(&m);
		}
	}
	buf_free(&a);
	buf_free(&b);
}
END_TEST

START_TEST(values_out_of_range)
{
	struct buf a;
	struct wire_msg m;
	uint8_t v8[8] = {0, 0, 0, 0, 0, 1, 0, 0};     /* 65536: too big for a u16 */
	uint8_t i64[8] = {0, 0, 0, 0, 0x80, 0, 0, 0}; /* 2^31: too big for an i32 */
	uint8_t s[] = {'a', 0, 'b'};
	char longname[WIRE_NAME_MAX + 1];

	buf_init(&a);
	/* HEARTBEAT {node_id (u16) = 65536, seq}. */
	ck_assert_int_eq(buf_put(&a, "\x53\x49\x00\x02\0\0\0\0\0\0\0\0", 12), 0);
	put_tlv(&a, 1, 1, v8, 8);
	put_tlv(&a, 2, 1, v8, 8);
	fix_len(&a);
	ck_assert_int_eq(wire_decode(a.d, a.len, &m), SSI_E_BADFIELD);
	ck_assert_uint_eq(m.bad_tag, 1);
	/* An integer must be 8 bytes long. */
	buf_truncate(&a, 12);
	put_tlv(&a, 1, 1, "\0\0\0\1", 4);
	put_tlv(&a, 2, 1, v8, 8);
	fix_len(&a);
	ck_assert_int_eq(wire_decode(a.d, a.len, &m), SSI_E_BADFIELD);
	/* SIGNAL_REPLY {err (i32) = 2^31}. */
	buf_reset(&a);
	ck_assert_int_eq(buf_put(&a, "\x53\x49\x00\x17\0\0\0\0\0\0\0\0", 12), 0);
	put_tlv(&a, 1, 2, i64, 8);
	fix_len(&a);
	ck_assert_int_eq(wire_decode(a.d, a.len, &m), SSI_E_BADFIELD);
	/* ERROR {code, text with a NUL inside}. */
	buf_reset(&a);
	ck_assert_int_eq(buf_put(&a, "\x53\x49\x00\x03\0\0\0\0\0\0\0\0", 12), 0);
	put_tlv(&a, 1, 2, v8, 8);
	put_tlv(&a, 2, 3, s, sizeof(s));
	fix_len(&a);
	ck_assert_int_eq(wire_decode(a.d, a.len, &m), SSI_E_CORRUPT);
	/* HEARTBEAT field whose length runs past the body. */
	buf_reset(&a);
	ck_assert_int_eq(buf_put(&a, "\x53\x49\x00\x02\0\0\0\0\0\0\0\0", 12), 0);
	put_tlv(&a, 1, 1, v8, 8);
	buf_poke_u32(&a, 15, 9);
	fix_len(&a);
	ck_assert_int_eq(wire_decode(a.d, a.len, &m), SSI_E_TRUNCATED);
	/* Bytes after the frame. */
	encode_sample(&a, WIRE_EXIT);
	buf_put_u8(&a, 0);
	ck_assert_int_eq(wire_decode(a.d, a.len, &m), SSI_E_CORRUPT);
	ck_assert_int_eq(wire_decode(a.d, a.len - 1, &m), 0);
	wire_msg_free(&m);
	/* Encoder: a name of 33 bytes does not fit the wire limit of 32. */
	buf_reset(&a);
	wire_msg_init(&m, WIRE_LOAD_PULL, 0);
	m.type = WIRE_HELLO;
	memset(longname, 'x', sizeof(longname));
	memcpy(m.u.hello.name, longname, sizeof(m.u.hello.name)); /* no NUL */
	ck_assert_int_eq(wire_encode(&a, &m), SSI_E_BADFIELD);
	ck_assert_uint_eq(a.len, 0);
	wire_msg_init(&m, WIRE_FILE_REQ, 0);
	m.u.file_req.data_len = 1; /* NULL data with a length */
	ck_assert_int_eq(wire_encode(&a, &m), -EINVAL);
	buf_free(&a);
}
END_TEST

START_TEST(lists)
{
	struct wire_load_entry e[WIRE_LOAD_ENTRIES + 1];
	struct buf a, b;
	struct wire_msg m;
	size_t i;

	memset(e, 0, sizeof(e));
	for (i = 0; i <= WIRE_LOAD_ENTRIES; i++)
		snprintf(e[i].name, sizeof(e[i].name), "n%zu", i);
	buf_init(&a);
	buf_init(&b);
	wire_msg_init(&m, WIRE_LOAD_WINDOW, 1);
	m.u.load_window.entries = e;
	m.u.load_window.nentries = WIRE_LOAD_ENTRIES + 1;
	ck_assert_int_eq(wire_encode(&a, &m), SSI_E_TOOBIG);
	m.u.load_window.nentries = WIRE_LOAD_ENTRIES;
	ck_assert_int_eq(wire_encode(&a, &m), 0);
	ck_assert_int_eq(wire_decode(a.d, a.len, &m), 0);
	ck_assert_uint_eq(m.u.load_window.nentries, WIRE_LOAD_ENTRIES);
	ck_assert_str_eq(m.u.load_window.entries[15].name, "n15");
	wire_msg_free(&m);
	/* An empty window is valid: the required list is present with no entries. */
	buf_reset(&a);
	wire_msg_init(&m, WIRE_LOAD_WINDOW, 1);
	ck_assert_int_eq(wire_encode(&a, &m), 0);
	ck_assert_int_eq(wire_decode(a.d, a.len, &m), 0);
	ck_assert_uint_eq(m.u.load_window.nentries, 0);
	ck_assert_ptr_null(m.u.load_window.entries);
	/* A count of 17 on the wire. */
	buf_reset(&a);
	ck_assert_int_eq(buf_put(&a, "\x53\x49\x00\x0a\0\0\0\0\0\0\0\0", 12), 0);
	put_tlv(&a, 1, 1, "\0\0\0\0\0\0\0\1", 8);
	put_tlv(&a, 2, 5, "\0\0\0\x11", 4);
	fix_len(&a);
	ck_assert_int_eq(wire_decode(a.d, a.len, &m), SSI_E_TOOBIG);
	/* A count larger than the bytes could hold: refused before allocating. */
	buf_truncate(&a, a.len - 11);
	put_tlv(&a, 2, 5, "\0\0\0\x02\0\0\0\0", 8);
	fix_len(&a);
	ck_assert_int_eq(wire_decode(a.d, a.len, &m), SSI_E_TRUNCATED);
	/* One entry without its required name: MISSING names the inner tag. */
	buf_truncate(&a, a.len - 15);
	buf_reset(&b);
	buf_put_u32(&b, 1);
	buf_put_u32(&b, 3 * 15);
	put_tlv(&b, 1, 1, "\0\0\0\0\0\0\0\1", 8);
	put_tlv(&b, 4, 1, "\0\0\0\0\0\0\0\1", 8);
	put_tlv(&b, 5, 1, "\0\0\0\0\0\0\0\1", 8);
	put_tlv(&a, 2, 5, b.d, (uint32_t)b.len);
	fix_len(&a);
	ck_assert_int_eq(wire_decode(a.d, a.len, &m), SSI_E_MISSING);
	ck_assert_uint_eq(m.bad_tag, 2);
	ck_assert_ptr_null(m.u.load_window.entries); /* freed on failure */
	buf_free(&a);
	buf_free(&b);
}
END_TEST

START_TEST(split_stream)
{
	struct buf in, frames;
	struct wire_msg m;
	size_t i, n, got = 0;

	buf_init(&in);
	buf_init(&frames);
	for (i = 0; i < NTYPES; i++) {
		fill(&m, all_types[i]);
		ck_assert_int_eq(wire_encode(&frames, &m), 0);
	}
	/* Fed one byte at a time, every frame comes out once, in order; nothing is consumed
	 * while a frame is incomplete. */
	for (i = 0; i < frames.len; i++) {
		ck_assert_int_eq(buf_put_u8(&in, frames.d[i]), 0);
		int r;

		n = buf_avail(&in);
		r = wire_read(&in, &m);
		ck_assert_int_ge(r, 0);
		if (r == 0) {
			ck_assert_uint_eq(buf_avail(&in), n);
			continue;
		}
		ck_assert_uint_eq(m.type, all_types[got]);
		ck_assert_uint_eq(buf_avail(&in), 0);
		wire_msg_free(&m);
		buf_compact(&in);
		got++;
	}
	ck_assert_uint_eq(got, NTYPES);
	/* All at once: the splitter walks frame by frame. */
	for (i = 0, got = 0; got < NTYPES; got++) {
		ck_assert_int_eq(wire_split(frames.d + i, frames.len - i, &n, NULL), 1);
		i += n;
	}
	ck_assert_uint_eq(i, frames.len);
	/* A bad first byte is reported as soon as it arrives. */
	ck_assert_int_eq(wire_split("X", 1, &n, NULL), SSI_E_CORRUPT);
	ck_assert_int_eq(wire_split("SX", 2, &n, NULL), SSI_E_CORRUPT);
	ck_assert_int_eq(wire_split("S", 1, &n, NULL), 0);
	ck_assert_int_eq(wire_split("", 0, &n, NULL), 0);
	buf_reset(&in);
	buf_put(&in, "garbage!garbage!", 16);
	ck_assert_int_eq(wire_read(&in, &m), SSI_E_CORRUPT);
	ck_assert_uint_eq(buf_avail(&in), 16);
	buf_free(&in);
	buf_free(&frames);
}
END_TEST

START_TEST(error_reply_and_versions)
{
	struct buf a;
	struct wire_msg m;
	char longtext[WIRE_TEXT_MAX + 2];
	uint32_t v;

	buf_init(&a);
	ck_assert_int_eq(wire_encode_error(&a, 42, WIRE_SIGNAL, -EPERM, "not yours"), 0);
	ck_assert_int_eq(wire_decode(a.d, a.len, &m), 0);
	ck_assert_uint_eq(m.type, WIRE_ERROR);
	ck_assert_uint_eq(m.reqid, 42);
	ck_assert_int_eq(m.u.error.code, -EPERM);
	ck_assert_uint_eq(m.u.error.ref_type, WIRE_SIGNAL);
	ck_assert_str_eq(m.u.error.text, "not yours");
	wire_msg_free(&m);
	memset(longtext, 'y', sizeof(longtext) - 1);
	longtext[sizeof(longtext) - 1] = 0;
	buf_reset(&a);
	ck_assert_int_eq(wire_encode_error(&a, 1, 0, SSI_E_TOOBIG, longtext), 0);
	ck_assert_int_eq(wire_decode(a.d, a.len, &m), 0);
	ck_assert_int_eq(m.u.error.code, SSI_E_TOOBIG);
	ck_assert_uint_eq(strlen(m.u.error.text), WIRE_TEXT_MAX);
	wire_msg_free(&m);

	ck_assert_int_eq(wire_version_agree(1, 3, 2, 5, &v), 0);
	ck_assert_uint_eq(v, 3);
	ck_assert_int_eq(wire_version_agree(1, 1, 1, 1, &v), 0);
	ck_assert_uint_eq(v, 1);
	ck_assert_int_eq(wire_version_agree(1, 2, 3, 4, &v), SSI_E_VERSION);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(wire_version_agree(3, 4, 1, 2, &v), SSI_E_VERSION);
	buf_free(&a);
}
END_TEST

/* The tag of the field of record r at offset off (0 if none). */
static uint16_t tag_at(const struct rec *r, size_t off)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->f[i].off == off)
			return r->f[i].tag;
	return 0;
}

/* Fields added after version 1 (MIG_OFFER rss_kb, load entry flags) are optional to
 * understand, so peers built before them still decode the frames; frames from those
 * peers (without the fields) decode as 0 (= unknown / not blocked). */
START_TEST(added_fields_backward_compatible)
{
	const struct rec *offer = wire_rec_of(WIRE_MIG_OFFER);
	const struct rec *win = wire_rec_of(WIRE_LOAD_WINDOW);
	uint16_t t_rss = tag_at(offer, offsetof(struct wire_mig_offer, rss_kb));
	uint16_t t_flags = tag_at(win->f[1].sub, offsetof(struct wire_load_entry, flags));
	struct buf a, b;
	struct wire_msg m;

	ck_assert_uint_ge(t_rss, WIRE_TAG_OPTIONAL);
	ck_assert_uint_ge(t_flags, WIRE_TAG_OPTIONAL);
	buf_init(&a);
	buf_init(&b);
	/* New to new: the values arrive. */
	encode_sample(&a, WIRE_MIG_OFFER);
	ck_assert_int_eq(wire_decode(a.d, a.len, &m), 0);
	ck_assert_uint_eq(m.u.mig_offer.rss_kb, 900 << 10);
	wire_msg_free(&m);
	encode_sample(&b, WIRE_LOAD_WINDOW);
	ck_assert_int_eq(wire_decode(b.d, b.len, &m), 0);
	ck_assert_uint_eq(m.u.load_window.entries[0].flags, WIRE_NODE_F_BLOCKED);
	wire_msg_free(&m);
	/* Old sender to new: the field is absent and decodes as 0. */
	edit_frame(&a, &b, t_rss, 'd');
	ck_assert_int_eq(wire_decode(b.d, b.len, &m), 0);
	ck_assert_uint_eq(m.u.mig_offer.rss_kb, 0);
	ck_assert_uint_eq(m.u.mig_offer.gpid, 4194404);
	wire_msg_free(&m);
	/* An entry with flags 0 carries no flags field: byte-identical to an old sender's. */
	struct wire_load_entry e = {.node_id = 3, .name = "node3", .age_ms = 1, .load = 5};
	wire_msg_init(&m, WIRE_LOAD_WINDOW, 0);
	m.u.load_window = (struct wire_load_window){.from = 3, .entries = &e, .nentries = 1};
	buf_reset(&a);
	ck_assert_int_eq(wire_encode(&a, &m), 0);
	e.flags = WIRE_NODE_F_BLOCKED;
	buf_reset(&b);
	ck_assert_int_eq(wire_encode(&b, &m), 0);
	ck_assert_uint_eq(b.len, a.len + 15); /* one more TLV: 2 + 1 + 4 + 8 bytes */
	ck_assert_int_eq(wire_decode(a.d, a.len, &m), 0);
	ck_assert_uint_eq(m.u.load_window.entries[0].flags, 0);
	wire_msg_free(&m);
	buf_free(&a);
	buf_free(&b);
}
END_TEST

/* STDIO offsets/acknowledgements and EXIT flags (issue 6) are optional to understand: a
 * peer built before them skips them (tags >= WIRE_TAG_OPTIONAL), and a frame from such a
 * peer decodes with offset, ack, epoch and flags 0 (no offsets: relayed as before). */
START_TEST(stdio_offsets_backward_compatible)
{
	const struct rec *sr = wire_rec_of(WIRE_STDIO), *er = wire_rec_of(WIRE_EXIT);
	const size_t offs[] = {offsetof(struct wire_stdio, offset),
			       offsetof(struct wire_stdio, ack), offsetof(struct wire_stdio, epoch),
			       offsetof(struct wire_stdio, flags)};
	struct buf a, b;
	struct wire_msg m;

	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++)
		ck_assert_uint_ge(tag_at(sr, offs[i]), WIRE_TAG_OPTIONAL);
	ck_assert_uint_ge(tag_at(er, offsetof(struct wire_exit, flags)), WIRE_TAG_OPTIONAL);
	buf_init(&a);
	buf_init(&b);
	encode_sample(&a, WIRE_STDIO);
	ck_assert_int_eq(wire_decode(a.d, a.len, &m), 0);
	ck_assert_uint_eq(m.u.stdio.offset, 1ull << 40);
	ck_assert_uint_eq(m.u.stdio.ack, 17);
	ck_assert_uint_eq(m.u.stdio.epoch, 0x0002123456789abcull);
	ck_assert_uint_eq(m.u.stdio.flags, WIRE_STDIO_F_OFFSET);
	wire_msg_free(&m);
	/* What an old sender sends: none of the new fields. */
	struct buf *cur = &a, *nxt = &b, *t;
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		edit_frame(cur, nxt, tag_at(sr, offs[i]), 'd');
		t = cur;
		cur = nxt;
		nxt = t;
	}
	ck_assert_int_eq(wire_decode(cur->d, cur->len, &m), 0);
	ck_assert_uint_eq(m.u.stdio.gpid, 9);
	ck_assert_uint_eq(m.u.stdio.len, sizeof(sample_data));
	ck_assert_uint_eq(m.u.stdio.offset, 0);
	ck_assert_uint_eq(m.u.stdio.flags, 0);
	wire_msg_free(&m);
	/* A pure acknowledgement: gpid, stream and the optional fields only. */
	wire_msg_init(&m, WIRE_STDIO, 0);
	m.u.stdio = (struct wire_stdio){
		.gpid = 5, .stream = 2, .ack = 1000001, .epoch = 3, .flags = WIRE_STDIO_F_ACK};
	buf_reset(&a);
	ck_assert_int_eq(wire_encode(&a, &m), 0);
	ck_assert_int_eq(wire_decode(a.d, a.len, &m), 0);
	ck_assert_uint_eq(m.u.stdio.ack, 1000001);
	ck_assert_ptr_null(m.u.stdio.data);
	ck_assert_uint_eq(m.u.stdio.flags, WIRE_STDIO_F_ACK);
	wire_msg_free(&m);
	/* stdin's final word: read offset (ack), received offset (offset), F_FINAL */
	wire_msg_init(&m, WIRE_STDIO, 0);
	m.u.stdio = (struct wire_stdio){.gpid = 5,
					.stream = 0,
					.offset = 70000,
					.ack = 65536,
					.epoch = 4,
					.flags = WIRE_STDIO_F_ACK | WIRE_STDIO_F_FINAL};
	buf_reset(&a);
	ck_assert_int_eq(wire_encode(&a, &m), 0);
	ck_assert_int_eq(wire_decode(a.d, a.len, &m), 0);
	ck_assert_uint_eq(m.u.stdio.stream, 0);
	ck_assert_uint_eq(m.u.stdio.offset, 70000);
	ck_assert_uint_eq(m.u.stdio.ack, 65536);
	ck_assert_uint_eq(m.u.stdio.epoch, 4);
	ck_assert_uint_eq(m.u.stdio.flags, WIRE_STDIO_F_ACK | WIRE_STDIO_F_FINAL);
	wire_msg_free(&m);
	buf_free(&a);
	buf_free(&b);
}
END_TEST

/* The exact bytes of docs/protocol.md's example: the format must not drift. */
START_TEST(golden_bytes)
{
	static const uint8_t want[] = {
		0x53, 0x49, 0x00, 0x02, 0x00, 0x00, 0x00, 0x1e, 0x00, 0x00, 0x00, 0x00, /* header */
		0x00, 0x01, 0x01, 0x00, 0x00, 0x00, 0x08, 0,	0,    0,    0,	  0,
		0,    0,    0x03, /* node_id */
		0x00, 0x02, 0x01, 0x00, 0x00, 0x00, 0x08, 0,	0,    0,    0,	  0,
		0,    0,    0x63, /* seq */
	};
	struct buf a;
	struct wire_msg m;

	buf_init(&a);
	wire_msg_init(&m, WIRE_HEARTBEAT, 0);
	m.u.heartbeat.node_id = 3;
	m.u.heartbeat.seq = 99;
	ck_assert_int_eq(wire_encode(&a, &m), 0);
	ck_assert_uint_eq(a.len, sizeof(want));
	ck_assert_mem_eq(a.d, want, sizeof(want));
	buf_free(&a);
}
END_TEST

/* wire_read_ref(): a MIG_STREAM's data points into the input buffer (no copy) and
 * wire_msg_free() leaves it alone; other types are copied as by wire_read(); a frame that
 * fails to decode is consumed and leaves nothing to free. */
START_TEST(read_ref_borrows_stream_data)
{
	static const uint8_t chunk[] = "0123456789abcdef";
	struct buf in;
	struct wire_msg m;
	const uint8_t *base;
	size_t end;

	buf_init(&in);
	wire_msg_init(&m, WIRE_MIG_STREAM, 7);
	m.u.mig_stream.mig_id = 5;
	m.u.mig_stream.data = (uint8_t *)chunk;
	m.u.mig_stream.len = sizeof(chunk);
	ck_assert_int_eq(wire_encode(&in, &m), 0);
	wire_msg_init(&m, WIRE_HEARTBEAT, 8);
	ck_assert_int_eq(wire_encode(&in, &m), 0);
	base = buf_rptr(&in);

	ck_assert_int_eq(wire_read_ref(&in, &m), 1);
	ck_assert_uint_eq(m.type, WIRE_MIG_STREAM);
	ck_assert_uint_eq(m.borrowed, 1);
	ck_assert_uint_eq(m.u.mig_stream.len, sizeof(chunk));
	ck_assert_mem_eq(m.u.mig_stream.data, chunk, sizeof(chunk));
	/* inside the frame just consumed, not a copy */
	ck_assert((const uint8_t *)m.u.mig_stream.data > base);
	ck_assert((const uint8_t *)m.u.mig_stream.data < buf_rptr(&in));
	wire_msg_free(&m); /* must not free() a pointer into in (ASan would say so) */

	ck_assert_int_eq(wire_read_ref(&in, &m), 1);
	ck_assert_uint_eq(m.type, WIRE_HEARTBEAT);
	ck_assert_uint_eq(m.borrowed, 0);
	wire_msg_free(&m);
	ck_assert_int_eq(wire_read_ref(&in, &m), 0); /* nothing left */

	/* A MIG_STREAM frame with a stray byte inside its length: consumed, an error, and
	 * nothing borrowed or owned. */
	buf_reset(&in);
	wire_msg_init(&m, WIRE_MIG_STREAM, 9);
	m.u.mig_stream.data = (uint8_t *)chunk;
	m.u.mig_stream.len = sizeof(chunk);
	ck_assert_int_eq(wire_encode(&in, &m), 0);
	end = in.len;
	ck_assert_int_eq(buf_put_u8(&in, 0), 0);
	ck_assert_int_eq(buf_poke_u32(&in, 4, (uint32_t)(end - 12 + 1)), 0);
	ck_assert_int_lt(wire_read_ref(&in, &m), 0);
	ck_assert_uint_eq(m.borrowed, 0);
	ck_assert_ptr_null(m.u.mig_stream.data);
	ck_assert_uint_eq(buf_avail(&in), 0);
	wire_msg_free(&m);
	buf_free(&in);
}
END_TEST

static Suite *wire_suite(void)
{
	Suite *s = suite_create("wire");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, round_trip, 0, NTYPES);
	tcase_add_test(tc, round_trip_values);
	tcase_add_loop_test(tc, every_prefix_is_incomplete, 0, NTYPES);
	tcase_add_loop_test(tc, every_body_cut, 0, NTYPES);
	tcase_add_test(tc, oversize);
	tcase_add_test(tc, unknown_type);
	tcase_add_loop_test(tc, unknown_field, 0, NTYPES);
	tcase_add_loop_test(tc, duplicate_wrongtype_missing, 0, NTYPES);
	tcase_add_test(tc, values_out_of_range);
	tcase_add_test(tc, stdio_offsets_backward_compatible);
	tcase_add_test(tc, lists);
	tcase_add_test(tc, split_stream);
	tcase_add_test(tc, error_reply_and_versions);
	tcase_add_test(tc, golden_bytes);
	tcase_add_test(tc, added_fields_backward_compatible);
	tcase_add_test(tc, read_ref_borrows_stream_data);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(wire_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
