/*
 * wire_tables.c - the field table of every message type (docs/protocol.md lists the same).
 *
 * Owns: tag numbers, required/optional, limits. A tag, once published, never changes
 * meaning; a new field that old peers may ignore gets a tag >= WIRE_TAG_OPTIONAL, one they
 * must understand gets a tag below it together with a protocol version bump.
 * Does not: encode or decode (wire.c walks these tables).
 */
#include "ssid/wire_int.h"

#define REQ 1
#define OPT 0

/* Kind from the member's C type, so a table entry that does not match its struct member
 * fails to compile. Arrays of char decay to char * in the controlling expression. */
#define KIND_OF(T, m)                                                                              \
	_Generic(((T *)0)->m, uint8_t: K_U8, uint16_t: K_U16, uint32_t: K_U32, uint64_t: K_U64,    \
		 int32_t: K_I32, int64_t: K_I64, char *: K_STRA)
/* Integer or char-array field. */
#define F(T, m, tag, req)                                                                          \
	{                                                                                          \
		tag, KIND_OF(T, m), req, offsetof(T, m), 0, sizeof(((T *)0)->m), NULL              \
	}
/* const char * string of at most max bytes. */
#define FS(T, m, tag, req, max)                                                                    \
	{                                                                                          \
		tag, K_STRP, req, offsetof(T, m), 0, max, NULL                                     \
	}
/* byte string p of n bytes, at most max. */
#define FB(T, p, n, tag, req, max)                                                                 \
	{                                                                                          \
		tag, K_BYTES, req, offsetof(T, p), offsetof(T, n), max, NULL                       \
	}
/* u32 array p of n entries, at most max. */
#define FA(T, p, n, tag, req, max)                                                                 \
	{                                                                                          \
		tag, K_U32ARR, req, offsetof(T, p), offsetof(T, n), max, NULL                      \
	}
/* list of records p (layout sub) of n entries, at most max. */
#define FL(T, p, n, tag, req, max, sub)                                                            \
	{                                                                                          \
		tag, K_LIST, req, offsetof(T, p), offsetof(T, n), max, sub                         \
	}
#define REC(T, tab)                                                                                \
	{                                                                                          \
		tab, sizeof(tab) / sizeof(tab[0]), sizeof(T)                                       \
	}

#define T struct wire_hello
static const struct field hello_f[] = {
	F(T, version, 1, REQ),
	F(T, min_version, 2, REQ),
	F(T, node_id, 3, REQ),
	F(T, name, 4, REQ),
	F(T, cpus, 5, REQ),
	F(T, speed, 6, REQ),
	F(T, mem_total_kb, 7, REQ),
	F(T, kernel, 8, OPT),
	FS(T, cpu_flags, 9, OPT, WIRE_FLAGS_MAX),
	F(T, listen, 10, OPT),
	F(T, boot_id, 11, OPT),
	F(T, incarnation, 12, OPT),
};
static const struct rec hello_r = REC(T, hello_f);
#undef T

#define T struct wire_heartbeat
static const struct field heartbeat_f[] = {
	F(T, node_id, 1, REQ),
	F(T, seq, 2, REQ),
	F(T, uptime_ms, 3, OPT),
};
static const struct rec heartbeat_r = REC(T, heartbeat_f);
#undef T

#define T struct wire_error
static const struct field error_f[] = {
	F(T, code, 1, REQ),
	FS(T, text, 2, OPT, WIRE_TEXT_MAX),
	F(T, ref_type, 3, OPT),
};
static const struct rec error_r = REC(T, error_f);
#undef T

#define T struct wire_load_entry
static const struct field load_entry_f[] = {
	F(T, node_id, 1, REQ),
	F(T, name, 2, REQ),
	F(T, addr, 3, OPT),
	F(T, age_ms, 4, REQ),
	F(T, load, 5, REQ),
	F(T, runq, 6, OPT),
	F(T, cpu_use, 7, OPT),
	F(T, mem_total_kb, 8, OPT),
	F(T, mem_free_kb, 9, OPT),
	F(T, psi, 10, OPT),
	F(T, cpus, 11, OPT),
	F(T, speed, 12, OPT),
	F(T, state, 13, OPT),
	F(T, flags, WIRE_TAG_OPTIONAL + 1, OPT), /* optional to understand: old peers skip it */
};
static const struct rec load_entry_r = REC(T, load_entry_f);
#undef T

#define T struct wire_load_window
static const struct field load_window_f[] = {
	F(T, from, 1, REQ),
	FL(T, entries, nentries, 2, REQ, WIRE_LOAD_ENTRIES, &load_entry_r),
};
static const struct rec load_window_r = REC(T, load_window_f);
#undef T

#define T struct wire_load_pull
static const struct field load_pull_f[] = {
	F(T, from, 1, REQ),
};
static const struct rec load_pull_r = REC(T, load_pull_f);
#undef T

#define T struct wire_proc_req
static const struct field proc_req_f[] = {
	F(T, origin_uid, 1, REQ),
	F(T, flags, 2, OPT),
	F(T, gpid, 3, OPT),
};
static const struct rec proc_req_r = REC(T, proc_req_f);
#undef T

#define T struct wire_proc_entry
static const struct field proc_entry_f[] = {
	F(T, gpid, 1, REQ),
	F(T, uid, 2, REQ),
	F(T, gid, 3, REQ),
	F(T, node, 4, REQ),
	F(T, home, 5, REQ),
	F(T, state, 6, REQ),
	F(T, ppid, 7, OPT),
	F(T, pgrp, 8, OPT),
	F(T, sid, 9, OPT),
	F(T, comm, 10, REQ),
	FB(T, cmdline, cmdline_len, 11, OPT, WIRE_CMDLINE_MAX),
	F(T, utime, 12, OPT),
	F(T, stime, 13, OPT),
	F(T, starttime, 14, OPT),
	F(T, vsize, 15, OPT),
	F(T, rss_pages, 16, OPT),
	F(T, threads, 17, OPT),
	F(T, nice, 18, OPT),
	F(T, priority, 19, OPT),
};
static const struct rec proc_entry_r = REC(T, proc_entry_f);
#undef T

#define T struct wire_proc_reply
static const struct field proc_reply_f[] = {
	F(T, node, 1, REQ),
	F(T, more, 2, OPT),
	F(T, records_fmt, 3, OPT),
	FB(T, records, records_len, 4, OPT, WIRE_MAX_CHUNK),
	FL(T, entries, nentries, 5, OPT, WIRE_PROC_ENTRIES, &proc_entry_r),
};
static const struct rec proc_reply_r = REC(T, proc_reply_f);
#undef T

#define T struct wire_signal
static const struct field signal_f[] = {
	F(T, gpid, 1, REQ),
	F(T, signo, 2, REQ),
	F(T, origin_uid, 3, REQ),
};
static const struct rec signal_r = REC(T, signal_f);
#undef T

#define T struct wire_signal_reply
static const struct field signal_reply_f[] = {
	F(T, err, 1, REQ),
};
static const struct rec signal_reply_r = REC(T, signal_reply_f);
#undef T

#define T struct wire_move_req
static const struct field move_req_f[] = {
	F(T, gpid, 1, REQ), F(T, dst, 2, OPT), F(T, origin_uid, 3, REQ),
	FS(T, why, WIRE_TAG_OPTIONAL + 1, OPT, WIRE_TEXT_MAX), /* old peers skip it */
};
static const struct rec move_req_r = REC(T, move_req_f);
#undef T

#define T struct wire_move_progress
static const struct field move_progress_f[] = {
	FS(T, step, 1, REQ, WIRE_TEXT_MAX),
};
static const struct rec move_progress_r = REC(T, move_progress_f);
#undef T

#define T struct wire_move_result
static const struct field move_result_f[] = {
	F(T, err, 1, OPT),	   F(T, from, 2, REQ),
	F(T, to, 3, REQ),	   F(T, mig_id, 4, REQ),
	F(T, bytes, 5, OPT),	   F(T, freeze_ms, 6, OPT),
	F(T, transfer_ms, 7, OPT), F(T, restore_ms, 8, OPT),
	F(T, total_ms, 9, OPT),	   FS(T, text, 10, OPT, WIRE_TEXT_MAX),
};
static const struct rec move_result_r = REC(T, move_result_f);
#undef T

#define T struct wire_mig_offer
static const struct field mig_offer_f[] = {
	F(T, mig_id, 1, REQ),
	F(T, gpid, 2, REQ),
	F(T, src, 3, REQ),
	F(T, dst, 4, REQ),
	F(T, home, 5, REQ),
	F(T, uid, 6, REQ),
	F(T, gid, 7, REQ),
	F(T, comm, 8, OPT),
	F(T, image_bytes, 9, OPT),
	F(T, image_version, 10, OPT),
	F(T, flags, 11, OPT),
	F(T, roles, 12, OPT),
	F(T, rss_kb, WIRE_TAG_OPTIONAL + 1, OPT), /* optional to understand: old peers skip it */
};
static const struct rec mig_offer_r = REC(T, mig_offer_f);
#undef T

#define T struct wire_mig_accept
static const struct field mig_accept_f[] = {
	F(T, mig_id, 1, REQ),
	F(T, window, 2, OPT),
	F(T, roles, 3, OPT),
	F(T, img_port, WIRE_TAG_OPTIONAL + 1, OPT),   /* optional to understand: old peers */
	F(T, img_key_hi, WIRE_TAG_OPTIONAL + 2, OPT), /* stream over the SSH link */
	F(T, img_key_lo, WIRE_TAG_OPTIONAL + 3, OPT),
	F(T, img_salt, WIRE_TAG_OPTIONAL + 4, OPT),
};
static const struct rec mig_accept_r = REC(T, mig_accept_f);
#undef T

#define T struct wire_mig_refuse
static const struct field mig_refuse_f[] = {
	F(T, mig_id, 1, REQ),
	F(T, err, 2, REQ),
	FS(T, reason, 3, OPT, WIRE_TEXT_MAX),
	F(T, roles, 4, OPT),
};
static const struct rec mig_refuse_r = REC(T, mig_refuse_f);
#undef T

#define T struct wire_mig_stream
static const struct field mig_stream_f[] = {
	F(T, mig_id, 1, REQ), F(T, seq, 2, REQ),
	F(T, offset, 3, OPT), FB(T, data, len, 4, REQ, WIRE_MAX_CHUNK),
	F(T, last, 5, OPT),
};
static const struct rec mig_stream_r = REC(T, mig_stream_f);
#undef T

#define T struct wire_mig_ready
static const struct field mig_ready_f[] = {
	F(T, mig_id, 1, REQ),	 F(T, pid, 2, OPT),	    F(T, roles, 3, OPT),
	F(T, freeze_us, 4, OPT), F(T, transfer_us, 5, OPT), F(T, restore_us, 6, OPT),
	F(T, bytes, 7, OPT),
};
static const struct rec mig_ready_r = REC(T, mig_ready_f);
#undef T

#define T struct wire_mig_commit
static const struct field mig_commit_f[] = {
	F(T, mig_id, 1, REQ),
	F(T, roles, 2, OPT),
};
static const struct rec mig_commit_r = REC(T, mig_commit_f);
#undef T

#define T struct wire_mig_abort
static const struct field mig_abort_f[] = {
	F(T, mig_id, 1, REQ),
	F(T, err, 2, OPT),
	FS(T, reason, 3, OPT, WIRE_TEXT_MAX),
	F(T, roles, 4, OPT),
};
static const struct rec mig_abort_r = REC(T, mig_abort_f);
#undef T

#define T struct wire_mig_query
static const struct field mig_query_f[] = {
	F(T, mig_id, 1, REQ),
	F(T, roles, 2, OPT),
};
static const struct rec mig_query_r = REC(T, mig_query_f);
#undef T

#define T struct wire_mig_done
static const struct field mig_done_f[] = {
	F(T, mig_id, 1, REQ),	 F(T, err, 2, OPT),	    F(T, roles, 3, OPT),
	F(T, freeze_us, 4, OPT), F(T, transfer_us, 5, OPT), F(T, restore_us, 6, OPT),
	F(T, bytes, 7, OPT),
};
static const struct rec mig_done_r = REC(T, mig_done_f);
#undef T

#define T struct wire_file_req
static const struct field file_req_f[] = {
	F(T, op, 1, REQ),
	F(T, uid, 2, REQ),
	F(T, gid, 3, REQ),
	FA(T, groups, ngroups, 4, OPT, WIRE_GROUPS_MAX),
	FS(T, path, 5, OPT, WIRE_PATH_MAX),
	FS(T, path2, 6, OPT, WIRE_PATH_MAX),
	F(T, fh, 7, OPT),
	F(T, offset, 8, OPT),
	F(T, length, 9, OPT),
	F(T, flags, 10, OPT),
	F(T, mode, 11, OPT),
	FB(T, data, data_len, 12, OPT, WIRE_MAX_CHUNK),
};
static const struct rec file_req_r = REC(T, file_req_f);
#undef T

#define T struct wire_file_reply
static const struct field file_reply_f[] = {
	F(T, err, 1, REQ),	 F(T, fh, 2, OPT),
	F(T, value, 3, OPT),	 FB(T, data, data_len, 4, OPT, WIRE_MAX_CHUNK),
	F(T, mode, 5, OPT),	 F(T, nlink, 6, OPT),
	F(T, uid, 7, OPT),	 F(T, gid, 8, OPT),
	F(T, size, 9, OPT),	 F(T, ino, 10, OPT),
	F(T, blocks, 11, OPT),	 F(T, rdev, 12, OPT),
	F(T, atime_ns, 13, OPT), F(T, mtime_ns, 14, OPT),
	F(T, ctime_ns, 15, OPT),
};
static const struct rec file_reply_r = REC(T, file_reply_f);
#undef T

#define T struct wire_stdio
static const struct field stdio_f[] = {
	F(T, gpid, 1, REQ),
	F(T, stream, 2, REQ),
	FB(T, data, len, 3, OPT, WIRE_MAX_CHUNK),
	F(T, eof, 4, OPT),
	/* offsets and acknowledgements: optional to understand, old peers skip them */
	F(T, offset, WIRE_TAG_OPTIONAL + 1, OPT),
	F(T, ack, WIRE_TAG_OPTIONAL + 2, OPT),
	F(T, epoch, WIRE_TAG_OPTIONAL + 3, OPT),
	F(T, flags, WIRE_TAG_OPTIONAL + 4, OPT),
};
static const struct rec stdio_r = REC(T, stdio_f);
#undef T

#define T struct wire_exit
static const struct field exit_f[] = {
	F(T, gpid, 1, REQ),
	F(T, status, 2, REQ),
	F(T, utime, 3, OPT),
	F(T, stime, 4, OPT),
	F(T, flags, WIRE_TAG_OPTIONAL + 1, OPT), /* optional to understand: old peers skip it */
};
static const struct rec exit_r = REC(T, exit_f);
#undef T

static const struct {
	const char *name;
	const struct rec *rec;
} types[] = {
	[WIRE_HELLO] = {"HELLO", &hello_r},
	[WIRE_HEARTBEAT] = {"HEARTBEAT", &heartbeat_r},
	[WIRE_ERROR] = {"ERROR", &error_r},
	[WIRE_LOAD_WINDOW] = {"LOAD_WINDOW", &load_window_r},
	[WIRE_LOAD_PULL] = {"LOAD_PULL", &load_pull_r},
	[WIRE_PROC_TABLE_REQ] = {"PROC_TABLE_REQ", &proc_req_r},
	[WIRE_PROC_TABLE_REPLY] = {"PROC_TABLE_REPLY", &proc_reply_r},
	[WIRE_SIGNAL] = {"SIGNAL", &signal_r},
	[WIRE_SIGNAL_REPLY] = {"SIGNAL_REPLY", &signal_reply_r},
	[WIRE_MOVE_REQ] = {"MOVE_REQ", &move_req_r},
	[WIRE_MOVE_PROGRESS] = {"MOVE_PROGRESS", &move_progress_r},
	[WIRE_MOVE_RESULT] = {"MOVE_RESULT", &move_result_r},
	[WIRE_MIG_OFFER] = {"MIG_OFFER", &mig_offer_r},
	[WIRE_MIG_ACCEPT] = {"MIG_ACCEPT", &mig_accept_r},
	[WIRE_MIG_REFUSE] = {"MIG_REFUSE", &mig_refuse_r},
	[WIRE_MIG_STREAM] = {"MIG_STREAM", &mig_stream_r},
	[WIRE_MIG_READY] = {"MIG_READY", &mig_ready_r},
	[WIRE_MIG_COMMIT] = {"MIG_COMMIT", &mig_commit_r},
	[WIRE_MIG_ABORT] = {"MIG_ABORT", &mig_abort_r},
	[WIRE_MIG_DONE] = {"MIG_DONE", &mig_done_r},
	[WIRE_MIG_QUERY] = {"MIG_QUERY", &mig_query_r},
	[WIRE_FILE_REQ] = {"FILE_REQ", &file_req_r},
	[WIRE_FILE_REPLY] = {"FILE_REPLY", &file_reply_r},
	[WIRE_STDIO] = {"STDIO", &stdio_r},
	[WIRE_EXIT] = {"EXIT", &exit_r},
};

const struct rec *wire_rec_of(uint16_t t)
{
	return t < sizeof(types) / sizeof(types[0]) ? types[t].rec : NULL;
}

const char *wire_name_of(uint16_t t)
{
	return t < sizeof(types) / sizeof(types[0]) ? types[t].name : NULL;
}
