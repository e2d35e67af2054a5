/*
 * wire.h - the frame codec for messages between node daemons (docs/protocol.md).
 *
 * Owns: frame layout, the typed C struct of every message, encoding to and decoding from
 * bytes with explicit bounds checks, and the stream splitter that cuts channel data into
 * frames. Does not: do I/O, log, keep per-link state, or judge what a message means
 * (a SIGNAL with signo 999 decodes fine; its handler refuses it).
 * Assumes: bytes come from an authenticated but possibly buggy or hostile peer; nothing in
 * a frame is trusted before it passed wire_decode().
 *
 * Frame: 12-byte header {u16 magic 0x5349 "SI", u16 type, u32 body length, u32 request id},
 * then the body: a sequence of TLV fields {u16 tag, u8 wire type, u32 length, value}.
 * Unknown field rule: an unknown tag >= WIRE_TAG_OPTIONAL is skipped, an unknown tag below
 * it makes the frame invalid (SSI_E_BADFIELD).
 *
 * Usage (daemon receive path):
 *	append channel bytes to struct buf in; then
 *	while ((r = wire_read(&in, &m)) == 1) { handle(&m); wire_msg_free(&m); }
 *	if (r < 0) close the link, logging ssierr_str(r), wire_type_name(m.type), m.bad_tag;
 *	r == 0: wait for more bytes (buf_compact(&in) now and then).
 */
#ifndef SSI_WIRE_H
#define SSI_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "ssid/buf.h"

/* Protocol versions this build speaks; carried in HELLO (see wire_version_agree()). */
#define WIRE_PROTO_VERSION     1
#define WIRE_PROTO_MIN_VERSION 1

#define WIRE_MAGIC     0x5349u /* "SI" */
#define WIRE_HDR_SIZE  12
/* Largest data carried by one MIG_STREAM / STDIO / FILE frame. */
#define WIRE_MAX_CHUNK (1u << 20)
/* Largest body of any frame: one chunk plus room for the other fields of its message (a
 * FILE_REQ with full data, two full paths and all groups fits). A message whose fields
 * add up to more (a big PROC_TABLE_REPLY) is refused by wire_encode() with SSI_E_TOOBIG:
 * split it (PROC_TABLE_REPLY: more = 1). */
#define WIRE_MAX_BODY  (WIRE_MAX_CHUNK + 65536u)
#define WIRE_MAX_FRAME (WIRE_HDR_SIZE + WIRE_MAX_BODY)

/* Tags at or above this are optional-to-understand: a decoder that does not know one skips it. */
#define WIRE_TAG_OPTIONAL 0x8000u

/* Limits checked by encoder and decoder (SSI_E_TOOBIG / SSI_E_BADFIELD beyond them). */
#define WIRE_NAME_MAX	  32   /* node name, bytes, without NUL */
#define WIRE_ADDR_MAX	  63   /* "host:port" */
#define WIRE_KREL_MAX	  64   /* kernel release (utsname.release) */
#define WIRE_COMM_MAX	  63   /* process comm */
#define WIRE_TEXT_MAX	  1024 /* ERROR text, refusal reasons */
#define WIRE_FLAGS_MAX	  4096 /* cpu feature flags, space separated */
#define WIRE_PATH_MAX	  4096 /* FILE paths */
#define WIRE_CMDLINE_MAX  32768
#define WIRE_LOAD_ENTRIES 16   /* entries in one LOAD_WINDOW */
#define WIRE_PROC_ENTRIES 8192 /* typed entries in one PROC_TABLE_REPLY */
#define WIRE_GROUPS_MAX	  8192 /* supplementary groups in a FILE_REQ */
#define WIRE_LOAD_SCALE	  1000 /* load, cpu_use: fixed point, value * 1000 */
#define WIRE_PSI_SCALE	  100  /* psi: percent * 100 */
#define WIRE_SPEED_REF	  1000 /* relative speed of the reference cpu */

/* Message types (u16 on the wire; 0 is never valid). Numbers are fixed forever. */
enum wire_type {
	WIRE_HELLO = 1,	       /* first frame each way on a link */
	WIRE_HEARTBEAT = 2,    /* liveness, every heartbeat_ms */
	WIRE_ERROR = 3,	       /* generic reply: request failed */
	WIRE_LOAD_WINDOW = 10, /* gossip, or the reply to LOAD_PULL */
	WIRE_LOAD_PULL = 11,   /* ask for the peer's load window */
	WIRE_PROC_TABLE_REQ = 20,
	WIRE_PROC_TABLE_REPLY = 21, /* may take several frames: more = 1 on all but the last */
	WIRE_SIGNAL = 22,
	WIRE_SIGNAL_REPLY = 23,
	WIRE_MOVE_REQ = 24,	 /* "move gpid", asked on any node, sent to its home */
	WIRE_MOVE_PROGRESS = 25, /* home -> asking node: a step of that move */
	WIRE_MOVE_RESULT = 26,	 /* home -> asking node: its outcome (refusal: ERROR) */

	WIRE_MIG_OFFER = 30, /* source -> destination */
	WIRE_MIG_ACCEPT = 31,
	WIRE_MIG_REFUSE = 32,
	WIRE_MIG_STREAM = 33, /* one image chunk, bulk channel */
	WIRE_MIG_READY = 34,  /* destination restored the process, stopped */
	WIRE_MIG_COMMIT = 35,
	WIRE_MIG_ABORT = 36,
	WIRE_MIG_DONE = 37,
	WIRE_MIG_QUERY = 38, /* what was decided about mig_id? (docs/migration.md) */
	WIRE_FILE_REQ = 40,
	WIRE_FILE_REPLY = 41,
	WIRE_STDIO = 50,
	WIRE_EXIT = 51,
};

/* Flags in a load entry. */
#define WIRE_NODE_F_BLOCKED 1u /* its administrator blocks incoming processes */

/* Node states in a load entry. */
enum wire_node_state {
	WIRE_NODE_UP = 1,
	WIRE_NODE_SUSPECT = 2,
	WIRE_NODE_DOWN = 3
};

/* FILE_REQ operations (semantics: the file service; the codec only carries them). */
enum wire_file_op {
	WIRE_FOP_OPEN = 1, /* path, flags, mode -> fh */
	WIRE_FOP_CLOSE,	   /* fh */
	WIRE_FOP_READ,	   /* fh, offset, length -> data */
	WIRE_FOP_WRITE,	   /* fh, offset, data -> value = bytes written */
	WIRE_FOP_STAT,	   /* path (or fh if no path) -> attributes */
	WIRE_FOP_LSTAT,	   /* path -> attributes */
	WIRE_FOP_READDIR, /* path, offset -> data (file-service-defined entry list), value = next offset */
	WIRE_FOP_READLINK, /* path -> data */
	WIRE_FOP_MKDIR,	   /* path, mode */
	WIRE_FOP_UNLINK,   /* path */
	WIRE_FOP_RMDIR,	   /* path */
	WIRE_FOP_RENAME,   /* path -> path2, flags */
	WIRE_FOP_TRUNCATE, /* path or fh, offset = new size */
	WIRE_FOP_CHMOD,	   /* path, mode */
	WIRE_FOP_ACCESS,   /* path, mode */
	WIRE_FOP_SYMLINK,  /* path2 (target) -> path */
	/* Numbers from 64 on: the /gfs file service's later ops (argument use: ssid/fsmsg.h). */
	WIRE_FOP_CHOWN = 64,   /* path; data = u32 uid, u32 gid */
	WIRE_FOP_UTIMENS = 65, /* path or fh; data = atime, mtime */
	WIRE_FOP_FSYNC = 66,   /* fh; flags = 1 for fdatasync */
	WIRE_FOP_STATFS = 67,  /* path -> data */
};

/* --- message bodies. Integers are host values; the codec range-checks them against the C
 * type. Strings: char arrays are NUL-terminated; const char * and byte pointers are owned
 * by the wire_msg after wire_decode() (wire_msg_free() releases them) and borrowed from
 * the caller when encoding (never freed by wire_encode()). Optional fields that are absent
 * decode as 0 / "" / NULL; the encoder omits optional fields that are 0 / "" / NULL. --- */

struct wire_hello {
	uint32_t version;		/* req: highest protocol version the sender speaks */
	uint32_t min_version;		/* req: lowest it speaks */
	uint16_t node_id;		/* req: 1..511 */
	char name[WIRE_NAME_MAX + 1];	/* req */
	uint32_t cpus;			/* req: online cpus */
	uint32_t speed;			/* req: relative speed, WIRE_SPEED_REF = reference */
	uint64_t mem_total_kb;		/* req */
	char kernel[WIRE_KREL_MAX + 1]; /* opt: utsname.release */
	const char *cpu_flags;		/* opt: /proc/cpuinfo "flags", <= WIRE_FLAGS_MAX */
	char listen[WIRE_ADDR_MAX + 1]; /* opt: "host:port" of the sender's SSH server */
	uint64_t boot_id;		/* opt: changes at every daemon start (restart detection) */
	uint64_t incarnation;		/* opt: the node's; changes when its processes all died */
};

struct wire_heartbeat {
	uint16_t node_id;   /* req */
	uint64_t seq;	    /* req: increases by one per heartbeat */
	uint64_t uptime_ms; /* opt: sender's daemon uptime */
};

struct wire_error {
	int32_t code;	   /* req: negative errno or SSI_E_* */
	const char *text;  /* opt: <= WIRE_TEXT_MAX, for the log */
	uint16_t ref_type; /* opt: type of the frame this answers */
};

struct wire_load_entry {
	uint16_t node_id;	      /* req */
	char name[WIRE_NAME_MAX + 1]; /* req */
	char addr[WIRE_ADDR_MAX + 1]; /* opt */
	uint32_t age_ms;	      /* req: how old this information is, at sending */
	uint32_t load;		      /* req: load * WIRE_LOAD_SCALE */
	uint32_t runq;		      /* opt: runnable tasks */
	uint32_t cpu_use;	      /* opt: busy cpus * WIRE_LOAD_SCALE */
	uint64_t mem_total_kb;	      /* opt */
	uint64_t mem_free_kb;	      /* opt: MemAvailable */
	uint32_t psi;		      /* opt: cpu some avg10 * WIRE_PSI_SCALE */
	uint32_t cpus;		      /* opt */
	uint32_t speed;		      /* opt */
	uint8_t state;		      /* opt: enum wire_node_state */
	uint8_t flags;		      /* opt (tag 0x8001, old peers skip it): WIRE_NODE_F_* */
};

struct wire_load_window {
	uint16_t from;			 /* req: sender node id */
	struct wire_load_entry *entries; /* req (may be empty): <= WIRE_LOAD_ENTRIES */
	size_t nentries;
};

struct wire_load_pull {
	uint16_t from; /* req */
};

struct wire_proc_req {
	uint32_t origin_uid; /* req: uid of the asking user */
	uint32_t flags;	     /* opt: reserved, 0 */
	uint32_t gpid;	     /* opt: only this process (0: all) */
};

struct wire_proc_entry {
	uint32_t gpid, uid, gid;      /* req */
	uint16_t node, home;	      /* req */
	uint8_t state;		      /* req: /proc state letter, 'R' 'S' 'D' 'T' 'Z' ... */
	uint32_t ppid, pgrp, sid;     /* opt: as gpids */
	char comm[WIRE_COMM_MAX + 1]; /* req */
	const uint8_t *cmdline;	      /* opt: NUL-separated args as in /proc, <= WIRE_CMDLINE_MAX */
	size_t cmdline_len;
	uint64_t utime, stime;	/* opt: clock ticks */
	uint64_t starttime;	/* opt: clock ticks after the home node's boot */
	uint64_t vsize;		/* opt: bytes */
	uint64_t rss_pages;	/* opt */
	uint32_t threads;	/* opt */
	int32_t nice, priority; /* opt */
};

struct wire_proc_reply {
	uint16_t node;		/* req: answering node */
	uint8_t more;		/* opt: 1 = further reply frames follow */
	uint32_t records_fmt;	/* opt: format id of records (db module defines it) */
	const uint8_t *records; /* opt: opaque encoded records, <= WIRE_MAX_CHUNK */
	size_t records_len;
	struct wire_proc_entry *entries; /* opt: <= WIRE_PROC_ENTRIES */
	size_t nentries;
};

struct wire_signal {
	uint32_t gpid;	     /* req */
	uint32_t signo;	     /* req */
	uint32_t origin_uid; /* req: uid whose rights apply */
};

struct wire_signal_reply {
	int32_t err; /* req: 0 or negative errno (-EPERM, -ESRCH, ...) */
};

/* A move asked with gmigrate on a node other than the process's home (docs/protocol.md). */
struct wire_move_req {
	uint32_t gpid;	     /* req */
	uint16_t dst;	     /* opt: destination node id; 0 = the process's home */
	uint32_t origin_uid; /* req: uid whose rights apply (SO_PEERCRED where it was asked) */
	const char *why;     /* opt (tag 0x8001, old peers skip it): an automatic move's reason
			      * (the asking node's balancer), <= WIRE_TEXT_MAX */
};

struct wire_move_progress {
	const char *step; /* req: one line, <= WIRE_TEXT_MAX */
};

struct wire_move_result {
	int32_t err;	   /* opt: 0 = moved, else negative errno or SSI_E_* */
	uint16_t from, to; /* req: node ids */
	uint64_t mig_id;   /* req */
	uint64_t bytes;	   /* opt: image bytes */
	int64_t freeze_ms, transfer_ms, restore_ms, total_ms; /* opt: -1 = not reached */
	const char *text; /* opt: why it failed, <= WIRE_TEXT_MAX */
};

struct wire_mig_offer {
	uint64_t mig_id;	 /* req: unique per migration (source node id in the top bits) */
	uint32_t gpid;		 /* req */
	uint16_t src, dst, home; /* req: node ids */
	uint32_t uid, gid;	 /* req */
	char comm[WIRE_COMM_MAX + 1]; /* opt */
	uint64_t image_bytes;	      /* opt: estimate */
	uint32_t image_version;	      /* opt */
	uint32_t flags;		      /* opt */
	uint8_t roles;	 /* opt: from_role << 4 | to_role (1 source, 2 destination, 3 home) */
	uint64_t rss_kb; /* opt (tag 0x8001, old peers skip it): resident memory at the source,
			  * kB (admission, admit.h); 0 = unknown */
};

struct wire_mig_accept {
	uint64_t mig_id; /* req */
	uint32_t window; /* opt: chunks the sender may have in flight (0: no limit given) */
	uint8_t roles;	 /* opt: from_role << 4 | to_role (1 source, 2 destination, 3 home) */
	/* opt (tags 0x8001-0x8004, old peers skip them): the destination's image channel
	 * (migrate/imgchan.h): TCP port (0: none, stream over this link), the AES-128 key as two
	 * big-endian halves and the nonce salt. Secret: sent only inside the SSH link. */
	uint16_t img_port;
	uint64_t img_key_hi, img_key_lo;
	uint32_t img_salt;
};

struct wire_mig_refuse {
	uint64_t mig_id;    /* req */
	int32_t err;	    /* req: negative errno or SSI_E_* */
	const char *reason; /* opt: <= WIRE_TEXT_MAX */
	uint8_t roles;	    /* opt: from_role << 4 | to_role (1 source, 2 destination, 3 home) */
};

struct wire_mig_stream {
	uint64_t mig_id;     /* req */
	uint64_t seq;	     /* req: chunk number from 0 */
	uint64_t offset;     /* opt: byte offset of data in the image */
	const uint8_t *data; /* req: <= WIRE_MAX_CHUNK */
	size_t len;
	uint8_t last; /* opt: 1 on the final chunk */
};

struct wire_mig_ready {
	uint64_t mig_id;      /* req */
	uint32_t pid;	      /* opt: local pid on the destination */
	uint8_t roles;	      /* opt: from_role << 4 | to_role (1 source, 2 destination, 3 home) */
	uint64_t freeze_us;   /* opt: timings of this move as far as the sender knows them */
	uint64_t transfer_us; /* opt */
	uint64_t restore_us;  /* opt */
	uint64_t bytes;	      /* opt: image bytes */
};

struct wire_mig_commit {
	uint64_t mig_id; /* req */
	uint8_t roles;	 /* opt: from_role << 4 | to_role (1 source, 2 destination, 3 home) */
};

struct wire_mig_abort {
	uint64_t mig_id;    /* req */
	int32_t err;	    /* opt */
	const char *reason; /* opt */
	uint8_t roles;	    /* opt: from_role << 4 | to_role (1 source, 2 destination, 3 home) */
};

struct wire_mig_done {
	uint64_t mig_id;      /* req */
	int32_t err;	      /* opt: 0 = migrated */
	uint8_t roles;	      /* opt: from_role << 4 | to_role (1 source, 2 destination, 3 home) */
	uint64_t freeze_us;   /* opt: timings of this move as far as the sender knows them */
	uint64_t transfer_us; /* opt */
	uint64_t restore_us;  /* opt */
	uint64_t bytes;	      /* opt: image bytes */
};

struct wire_mig_query {
	uint64_t mig_id; /* req */
	uint8_t roles;	 /* opt: as in MIG_OFFER */
};

struct wire_file_req {
	uint32_t op;	   /* req: enum wire_file_op */
	uint32_t uid, gid; /* req: rights of the caller */
	uint32_t *groups;  /* opt: supplementary groups, <= WIRE_GROUPS_MAX */
	size_t ngroups;
	const char *path;     /* opt: <= WIRE_PATH_MAX */
	const char *path2;    /* opt: rename/symlink target */
	uint64_t fh;	      /* opt: handle from OPEN */
	uint64_t offset;      /* opt */
	uint32_t length;      /* opt: <= WIRE_MAX_CHUNK */
	uint32_t flags, mode; /* opt: open(2) flags, mode bits */
	const uint8_t *data;  /* opt: WRITE data, <= WIRE_MAX_CHUNK */
	size_t data_len;
};

struct wire_file_reply {
	int32_t err;	     /* req: 0 or negative errno */
	uint64_t fh;	     /* opt */
	uint64_t value;	     /* opt: bytes written, next readdir offset, ... */
	const uint8_t *data; /* opt: READ/READLINK/READDIR data, <= WIRE_MAX_CHUNK */
	size_t data_len;
	/* opt: attributes (STAT/LSTAT/OPEN) */
	uint32_t mode, nlink, uid, gid;
	uint64_t size, ino, blocks, rdev;
	int64_t atime_ns, mtime_ns, ctime_ns;
};

struct wire_stdio {
	uint32_t gpid;	     /* req */
	uint8_t stream;	     /* req: 0 stdin, 1 stdout, 2 stderr */
	const uint8_t *data; /* opt: <= WIRE_MAX_CHUNK */
	size_t len;
	uint8_t eof; /* opt: 1 = no more data on this stream */
	/* Optional to understand (docs/protocol.md "STDIO offsets and acknowledgements"): */
	uint64_t offset; /* opt: position of data[0] in the stream of this epoch (F_OFFSET) */
	uint64_t ack;	 /* opt: positions of the stream delivered (F_ACK) */
	uint64_t epoch;	 /* opt: which holder's stream the offsets count (F_OFFSET, F_ACK) */
	uint8_t flags;	 /* opt: WIRE_STDIO_F_* */
};
#define WIRE_STDIO_F_OFFSET 1u /* offset and epoch are set: acknowledge, the sender keeps it */
#define WIRE_STDIO_F_ACK    2u /* an acknowledgement of (gpid, stream, epoch); no data */
#define WIRE_STDIO_F_RESEND 4u /* with F_ACK: a piece beyond ack arrived; send from ack again */
/* stdin (stream 0), with F_ACK: the holder's last word on epoch (the process left it or
 * ended): ack is exactly what the process read; from the home, it confirms that word. */
#define WIRE_STDIO_F_FINAL  8u

struct wire_exit {
	uint32_t gpid;	       /* req */
	int32_t status;	       /* req: wait status as from waitpid() */
	uint64_t utime, stime; /* opt: clock ticks */
	uint8_t flags;	       /* opt, optional to understand: WIRE_EXIT_F_* */
};
#define WIRE_EXIT_F_ACKME 1u /* the sender repeats this EXIT until it is acknowledged */
#define WIRE_EXIT_F_ACK	  2u /* the home's acknowledgement of an EXIT with F_ACKME */

/* One message: the header values and the body for its type. */
struct wire_msg {
	uint16_t type;	  /* enum wire_type */
	uint32_t reqid;	  /* request id; a reply carries its request's id; 0 = none */
	uint16_t bad_tag; /* after a failed decode: the field at fault, if known (log it) */
	uint8_t borrowed; /* wire_read_ref(): u.mig_stream.data points into the input buffer */
	union {
		struct wire_hello hello;
		struct wire_heartbeat heartbeat;
		struct wire_error error;
		struct wire_load_window load_window;
		struct wire_load_pull load_pull;
		struct wire_proc_req proc_req;
		struct wire_proc_reply proc_reply;
		struct wire_signal signal;
		struct wire_signal_reply signal_reply;
		struct wire_move_req move_req;
		struct wire_move_progress move_progress;
		struct wire_move_result move_result;
		struct wire_mig_offer mig_offer;
		struct wire_mig_accept mig_accept;
		struct wire_mig_refuse mig_refuse;
		struct wire_mig_stream mig_stream;
		struct wire_mig_ready mig_ready;
		struct wire_mig_commit mig_commit;
		struct wire_mig_abort mig_abort;
		struct wire_mig_done mig_done;
		struct wire_mig_query mig_query;
		struct wire_file_req file_req;
		struct wire_file_reply file_reply;
		struct wire_stdio stdio;
		struct wire_exit exit;
	} u;
};

/* Frame header as read by wire_split(). */
struct wire_hdr {
	uint16_t type;
	uint32_t len; /* body bytes (the frame is WIRE_HDR_SIZE + len) */
	uint32_t reqid;
};

/* Zero m and set its type and request id (for encoding). */
void wire_msg_init(struct wire_msg *m, uint16_t type, uint32_t reqid);

/* Free what wire_decode() allocated inside m and zero it (type and reqid kept). Safe on
 * a zeroed or failed-decode msg. Never call it on a msg filled by the caller for encoding
 * with borrowed pointers. */
void wire_msg_free(struct wire_msg *m);

/* Append one complete frame for m to out. Returns 0, or on error leaves out as it was and
 * returns SSI_E_BADTYPE (unknown m->type), SSI_E_TOOBIG (a string, data or list over its
 * limit, or body > WIRE_MAX_BODY), SSI_E_BADFIELD (unterminated char array, value that
 * does not fit, NUL inside a string), -EINVAL (NULL pointer with a nonzero length), or a
 * buf error (-ENOMEM, SSI_E_TOOBIG from out's limit). */
int wire_encode(struct buf *out, const struct wire_msg *m);

/* Stream splitter: look at the n bytes received so far at p (never consumes anything).
 * Returns 1: a complete frame of *frame_len bytes starts at p (bytes after it are the
 * next frame); 0: need more bytes (*frame_len = total frame size if the header is
 * complete, else WIRE_HDR_SIZE); SSI_E_CORRUPT: bad magic or type 0; SSI_E_TOOBIG: body
 * length above WIRE_MAX_BODY. Bad bytes are reported as soon as they arrive. hdr may be
 * NULL; it is filled whenever the header is complete. */
int wire_split(const void *p, size_t n, size_t *frame_len, struct wire_hdr *hdr);

/* Decode exactly one frame of len bytes (as delimited by wire_split()) into m.
 * Returns 0 (m owns its strings/arrays: call wire_msg_free()), or a negative code with
 * nothing left allocated in m: SSI_E_TRUNCATED (len shorter than the frame, or a field
 * running past its container), SSI_E_CORRUPT (bad magic, bytes after the frame, NUL in a
 * string), SSI_E_TOOBIG (body or a field over its limit), SSI_E_BADTYPE (unknown type),
 * SSI_E_BADFIELD (unknown critical tag, duplicate tag, wrong wire type or length, value
 * out of range), SSI_E_MISSING (required field absent), -ENOMEM. When the header could
 * be read, m->type and m->reqid are set even on failure; m->bad_tag names the field. */
int wire_decode(const void *frame, size_t len, struct wire_msg *m);

/* Receive helper: wire_split() on in's unread bytes, then wire_decode() of that frame.
 * Returns 1: a frame was consumed from in and decoded into m (call wire_msg_free());
 * 0: need more bytes, nothing consumed; negative: a bad header (nothing consumed) or a
 * frame that failed to decode (consumed; m->type, m->reqid, m->bad_tag as above). */
int wire_read(struct buf *in, struct wire_msg *m);

/* wire_read(), except that a MIG_STREAM's data is not copied: it points into in's storage,
 * valid until in is next written, compacted or freed (m->borrowed is set; wire_msg_free()
 * knows). For a receive loop that hands the chunk on before reading more; other types are
 * decoded as by wire_read(). */
int wire_read_ref(struct buf *in, struct wire_msg *m);

/* Encode an ERROR reply {code, text} to request reqid (ref_type: the request's type).
 * text may be NULL; a text over WIRE_TEXT_MAX bytes is cut to that length. */
int wire_encode_error(struct buf *out, uint32_t reqid, uint16_t ref_type, int code,
		      const char *text);

/* Name of a message type ("HELLO", ...), or "?" for unknown. Static string. */
const char *wire_type_name(uint16_t type);

/* Pick the protocol version for a link: the highest version both sides speak. Returns 0
 * with *out set, or SSI_E_VERSION if the ranges [min, max] do not overlap. */
int wire_version_agree(uint32_t my_min, uint32_t my_max, uint32_t peer_min, uint32_t peer_max,
		       uint32_t *out);

#endif
