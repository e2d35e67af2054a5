/*
 * wire_int.h - private to the wire codec (wire.c, wire_tables.c): the field-table types.
 *
 * A message body is described by a struct rec: a table of fields, each naming its tag,
 * how the value is held in the C struct (kind, offset, count offset), whether it is
 * required, and its limit. wire.c encodes and decodes by walking these tables;
 * wire_tables.c holds one table per message type. Nothing outside the codec includes this.
 */
#ifndef SSI_WIRE_INT_H
#define SSI_WIRE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "ssid/wire.h"

/* Wire types of a TLV field (u8). */
enum wire_wt {
	WT_UINT = 1,   /* length 8: u64 */
	WT_SINT = 2,   /* length 8: i64, two's complement */
	WT_STR = 3,    /* bytes without NUL (no terminator on the wire) */
	WT_BYTES = 4,  /* any bytes */
	WT_LIST = 5,   /* u32 count, then count x {u32 length, TLV fields of one record} */
	WT_U32ARR = 6, /* n x u32 */
};

/* How a field is held in its C struct. */
enum wire_kind {
	K_U8 = 1,
	K_U16,
	K_U32,
	K_U64,
	K_I32,
	K_I64,
	K_STRA,	  /* char array, NUL-terminated, max = sizeof the array */
	K_STRP,	  /* const char *, owned after decode */
	K_BYTES,  /* const uint8_t * + size_t length */
	K_U32ARR, /* uint32_t * + size_t count */
	K_LIST,	  /* element array + size_t count; elements described by sub */
};

struct rec;
struct field {
	uint16_t tag;
	uint8_t kind;  /* enum wire_kind */
	uint8_t req;   /* 1: required */
	uint32_t off;  /* offset of the value (or pointer) in the struct */
	uint32_t off2; /* K_BYTES/K_U32ARR/K_LIST: offset of the size_t count */
	uint32_t max;  /* K_STRA: array size; K_STRP/K_BYTES: bytes; K_U32ARR/K_LIST: count */
	const struct rec *sub; /* K_LIST: layout of one element */
};

struct rec {
	const struct field *f;
	size_t n;    /* fields, <= 64 (the decoder's seen-mask) */
	size_t size; /* sizeof the struct (list elements) */
};

/* The body layout of message type t, or NULL if t is unknown. */
const struct rec *wire_rec_of(uint16_t t);
/* The name of message type t, or NULL. */
const char *wire_name_of(uint16_t t);

#define WIRE_REC_MAXFIELDS 64

#endif
