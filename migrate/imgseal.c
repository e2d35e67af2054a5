/*
 * imgseal.c - AES-128-GCM records of the image channel (see imgseal.h for the format).
 *
 * Owns: one EVP_CIPHER_CTX per direction, keyed once; each record only sets a new IV
 * (salt || record number), so the AES key schedule is computed once per migration.
 * Does not: any I/O, or allocate per record; the data is encrypted and decrypted in place
 * (OpenSSL's GCM accepts out == in).
 * Assumes: one thread at a time per struct imgseal (the header says so).
 */
#include "migrate/imgseal.h"

#include "ssid/ssierr.h"

#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define IV_LEN	12
#define AAD_LEN (IMGSEAL_HDR_LEN + 8)

_Static_assert(IMGSEAL_SALT_LEN + 8 == IV_LEN, "nonce = salt || record number");
_Static_assert(IMGSEAL_MAX_REC <= INT_MAX, "EVP takes int lengths");

static const uint8_t magic[8] = {'S', 'S', 'I', 'I', 'M', 'G', '0', '1'};

struct imgseal {
	EVP_CIPHER_CTX *ctx;		/* keyed at imgseal_new; only the IV changes */
	uint8_t salt[IMGSEAL_SALT_LEN]; /* first 4 bytes of every nonce */
	uint64_t mig_id;		/* in every record's additional data */
	uint64_t seq;			/* number of the next record */
	int seal;			/* 1: encrypt (source), 0: decrypt (destination) */
};

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

int imgseal_key_new(struct imgseal_key *k)
{
	uint8_t *p = (uint8_t *)k;
	size_t got = 0;

	_Static_assert(sizeof(*k) == IMGSEAL_KEY_LEN + IMGSEAL_SALT_LEN, "no padding");
	while (got < sizeof(*k)) {
		ssize_t n = getrandom(p + got, sizeof(*k) - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	return 0;
}

int imgseal_new(struct imgseal **out, const struct imgseal_key *k, uint64_t mig_id, int seal)
{
	struct imgseal *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->ctx = EVP_CIPHER_CTX_new();
	if (!s->ctx) {
		free(s);
		return -ENOMEM;
	}
	s->seal = seal ? 1 : 0;
	/* Cipher first, then the IV length, then the key: GCM's default IV is 12 bytes, but
	 * say so rather than rely on it. */
	if (EVP_CipherInit_ex(s->ctx, EVP_aes_128_gcm(), NULL, NULL, NULL, s->seal) != 1 ||
	    EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_GCM_SET_IVLEN, IV_LEN, NULL) != 1 ||
	    EVP_CipherInit_ex(s->ctx, NULL, NULL, k->key, NULL, s->seal) != 1) {
		imgseal_free(s);
		return -EIO;
	}
	memcpy(s->salt, k->salt, sizeof(s->salt));
	s->mig_id = mig_id;
	*out = s;
	return 0;
}

void imgseal_free(struct imgseal *s)
{
	if (!s)
		return;
	EVP_CIPHER_CTX_free(s->ctx); /* cleanses the key schedule */
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
}

/* Set the nonce of record s->seq and feed the additional data (header, mig_id). */
static int start_record(struct imgseal *s, const uint8_t hdr[IMGSEAL_HDR_LEN])
{
	uint8_t iv[IV_LEN], aad[AAD_LEN];
	int outl;

	memcpy(iv, s->salt, IMGSEAL_SALT_LEN);
	put_be64(iv + IMGSEAL_SALT_LEN, s->seq);
	memcpy(aad, hdr, IMGSEAL_HDR_LEN);
	put_be64(aad + IMGSEAL_HDR_LEN, s->mig_id);
	if (EVP_CipherInit_ex(s->ctx, NULL, NULL, NULL, iv, s->seal) != 1)
		return -EIO;
	if (EVP_CipherUpdate(s->ctx, NULL, &outl, aad, AAD_LEN) != 1)
		return -EIO;
	return 0;
}

int imgseal_seal(struct imgseal *s, uint8_t *data, uint32_t len, uint8_t flags,
		 uint8_t hdr[IMGSEAL_HDR_LEN], uint8_t tag[IMGSEAL_TAG_LEN])
{
	int outl = 0, fl = 0, r;

	if (!s->seal || len > IMGSEAL_MAX_REC || (flags & ~IMGSEAL_F_LAST))
		return -EINVAL;
	put_be32(hdr, len);
	hdr[4] = flags;
	hdr[5] = hdr[6] = hdr[7] = 0;
	r = start_record(s, hdr);
	if (r < 0)
		return r;
	if (len > 0 &&
	    (EVP_EncryptUpdate(s->ctx, data, &outl, data, (int)len) != 1 || (uint32_t)outl != len))
		return -EIO;
	/* GCM is a stream mode: the final call writes nothing. */
	if (EVP_EncryptFinal_ex(s->ctx, data + outl, &fl) != 1 || fl != 0 ||
	    EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_GCM_GET_TAG, IMGSEAL_TAG_LEN, tag) != 1)
		return -EIO;
	s->seq++;
	return 0;
}

int imgseal_hdr_parse(const uint8_t hdr[IMGSEAL_HDR_LEN], uint32_t *len, uint8_t *flags)
{
	uint32_t l = get_be32(hdr);

	*len = 0;
	*flags = 0;
	if (l > IMGSEAL_MAX_REC || (hdr[4] & ~IMGSEAL_F_LAST) || hdr[5] || hdr[6] || hdr[7])
		return SSI_E_CORRUPT;
	*len = l;
	*flags = hdr[4];
	return 0;
}

int imgseal_open(struct imgseal *s, const uint8_t hdr[IMGSEAL_HDR_LEN], uint8_t *data, uint32_t len,
		 const uint8_t tag[IMGSEAL_TAG_LEN])
{
	uint8_t t[IMGSEAL_TAG_LEN], fl8;
	uint32_t hlen;
	int outl = 0, fl = 0, r;

	if (s->seal)
		return -EINVAL;
	r = imgseal_hdr_parse(hdr, &hlen, &fl8);
	if (r < 0 || hlen != len)
		return SSI_E_CORRUPT;
	r = start_record(s, hdr);
	if (r < 0)
		return r;
	if (len > 0 &&
	    (EVP_DecryptUpdate(s->ctx, data, &outl, data, (int)len) != 1 || (uint32_t)outl != len))
		return -EIO;
	memcpy(t, tag, sizeof(t)); /* SET_TAG takes a non-const pointer */
	if (EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_GCM_SET_TAG, IMGSEAL_TAG_LEN, t) != 1)
		return -EIO;
	if (EVP_DecryptFinal_ex(s->ctx, data + outl, &fl) <= 0)
		return SSI_E_CORRUPT;
	s->seq++;
	return 0;
}

uint64_t imgseal_count(const struct imgseal *s)
{
	return s->seq;
}

void imgseal_preface(uint8_t out[IMGSEAL_PREFACE_LEN], uint64_t mig_id)
{
	memcpy(out, magic, sizeof(magic));
	put_be64(out + sizeof(magic), mig_id);
}

int imgseal_preface_parse(const uint8_t in[IMGSEAL_PREFACE_LEN], uint64_t *mig_id)
{
	*mig_id = 0;
	if (memcmp(in, magic, sizeof(magic)) != 0)
		return SSI_E_CORRUPT;
	*mig_id = get_be64(in + sizeof(magic));
	return 0;
}
