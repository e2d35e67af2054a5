/*
 * imgseal.h - the records of a migration's image channel (imgchan.h), sealed with AES-128-GCM.
 * Pure: no I/O, no allocation beyond the cipher context; the record bytes are sealed and
 * opened in place, so the image is never copied for the crypto.
 *
 * Why: libssh 0.10 costs ~1 ms of CPU per MiB on a channel (4 KiB socket reads, a poll each,
 * 32 KiB packets); the image of a move goes instead on a TCP connection of its own, under a
 * fresh key per migration that the destination sends to the source inside their SSH link
 * (MIG_ACCEPT). The key never leaves the two daemons, so the stream has what the SSH
 * channel gave it: confidentiality, integrity, the peer proven by its node key.
 *
 * A connection is a preface then records, one direction (source -> destination):
 *	preface	"SSIIMG01" mig_id(u64)			16 bytes, in clear
 *	record	header: len(u32) flags(u8) 0 0 0		8 bytes, in clear, authenticated
 *		ciphertext					len bytes (<= IMGSEAL_MAX_REC)
 *		tag						16 bytes
 * Big-endian. nonce = salt(4) || record number(u64, from 0); additional data = the header
 * and the mig_id. A record out of order, replayed, cut, or from another migration fails to
 * open. IMGSEAL_F_LAST marks the image's last record (it may be empty); nothing follows it.
 */
#ifndef SSI_MIGRATE_IMGSEAL_H
#define SSI_MIGRATE_IMGSEAL_H

#include <stddef.h>
#include <stdint.h>

#define IMGSEAL_KEY_LEN	    16
#define IMGSEAL_SALT_LEN    4
#define IMGSEAL_TAG_LEN	    16
#define IMGSEAL_HDR_LEN	    8
#define IMGSEAL_PREFACE_LEN 16
#define IMGSEAL_MAX_REC	    (1u << 20)
#define IMGSEAL_F_LAST	    0x01u

/* What the destination sends in MIG_ACCEPT: key and nonce salt of one migration. */
struct imgseal_key {
	uint8_t key[IMGSEAL_KEY_LEN];
	uint8_t salt[IMGSEAL_SALT_LEN];
};

/* One direction of one migration: the cipher context, the key and the next record number.
 * Opaque; one thread at a time. */
struct imgseal;

/* A fresh random key and salt (getrandom). 0 or a negative errno. */
int imgseal_key_new(struct imgseal_key *k);

/* A sealer (seal = 1, the source) or an opener (seal = 0, the destination) for mig_id under
 * k, record number 0 next. 0 and *out, or -ENOMEM / -EIO (the cipher refused). */
int imgseal_new(struct imgseal **out, const struct imgseal_key *k, uint64_t mig_id, int seal);
void imgseal_free(struct imgseal *s); /* NULL is fine; wipes the key */

/* Seal len bytes at data in place (len <= IMGSEAL_MAX_REC; flags: IMGSEAL_F_LAST or 0):
 * writes the header to hdr and the tag to tag; the record number advances. 0 or
 * -EINVAL (len or flags) / -EIO (the cipher refused). */
int imgseal_seal(struct imgseal *s, uint8_t *data, uint32_t len, uint8_t flags,
		 uint8_t hdr[IMGSEAL_HDR_LEN], uint8_t tag[IMGSEAL_TAG_LEN]);

/* Parse a received header: 0 and *len, *flags; SSI_E_CORRUPT if len > IMGSEAL_MAX_REC, an
 * unknown flag or a reserved byte is set. Pure, any input. */
int imgseal_hdr_parse(const uint8_t hdr[IMGSEAL_HDR_LEN], uint32_t *len, uint8_t *flags);

/* Open the record hdr + data[len] + tag in place: 0 and data is the plain text, the record
 * number advances; SSI_E_CORRUPT if it does not authenticate (data is garbage then, the
 * record number stays: the stream is dead). Parses hdr itself (its len must equal len). */
int imgseal_open(struct imgseal *s, const uint8_t hdr[IMGSEAL_HDR_LEN], uint8_t *data, uint32_t len,
		 const uint8_t tag[IMGSEAL_TAG_LEN]);

/* Records sealed or opened so far. */
uint64_t imgseal_count(const struct imgseal *s);

/* The preface for mig_id; parse one: 0 and *mig_id, or SSI_E_CORRUPT (wrong magic). */
void imgseal_preface(uint8_t out[IMGSEAL_PREFACE_LEN], uint64_t mig_id);
int imgseal_preface_parse(const uint8_t in[IMGSEAL_PREFACE_LEN], uint64_t *mig_id);

#endif
