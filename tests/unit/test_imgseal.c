/*
 * test_imgseal.c - the image channel's sealed records (migrate/imgseal.c): round trips of
 * empty to maximal records, the format against an independent AES-128-GCM computation, a
 * flipped bit anywhere, records out of order, replayed or from another migration, key or
 * salt, header and preface parsing.
 */
#include <check.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "migrate/imgseal.h"
#include "ssid/ssierr.h"

static const struct imgseal_key tkey = {
	.key = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
	.salt = {0xa1, 0xb2, 0xc3, 0xd4},
};

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

/* One sealed record, kept for tampering and replay. */
struct rec {
	uint8_t hdr[IMGSEAL_HDR_LEN], tag[IMGSEAL_TAG_LEN];
	uint8_t *data; /* cipher text */
	uint8_t *plain;
	uint32_t len;
};

static void rec_seal(struct imgseal *s, struct rec *r, uint32_t len, uint8_t flags, uint32_t seed)
{
	r->len = len;
	r->data = malloc(len ? len : 1);
	r->plain = malloc(len ? len : 1);
	fill(r->plain, len, seed);
	memcpy(r->data, r->plain, len);
	ck_assert_int_eq(imgseal_seal(s, r->data, len, flags, r->hdr, r->tag), 0);
}

static void rec_free(struct rec *r)
{
	free(r->data);
	free(r->plain);
}

/* Open a copy of r (r stays sealed): the result of imgseal_open; *ok: the plain text matched. */
static int rec_open(struct imgseal *o, const struct rec *r, int *ok)
{
	uint8_t *d = malloc(r->len ? r->len : 1);
	memcpy(d, r->data, r->len);
	int e = imgseal_open(o, r->hdr, d, r->len, r->tag);
	*ok = e == 0 && memcmp(d, r->plain, r->len) == 0;
	free(d);
	return e;
}

START_TEST(round_trip)
{
	const uint32_t lens[] = {0, 1, 4096, IMGSEAL_MAX_REC};
	struct imgseal *s, *o;
	struct rec r[5];
	int ok;

	ck_assert_int_eq(imgseal_new(&s, &tkey, 42, 1), 0);
	ck_assert_int_eq(imgseal_new(&o, &tkey, 42, 0), 0);
	for (int i = 0; i < 4; i++) {
		rec_seal(s, &r[i], lens[i], 0, (uint32_t)i);
		ck_assert_uint_eq(imgseal_count(s), i + 1);
		/* header: len big-endian, flags, three zero bytes */
		ck_assert_uint_eq(r[i].hdr[0], lens[i] >> 24);
		ck_assert_uint_eq(r[i].hdr[1], (lens[i] >> 16) & 0xff);
		ck_assert_uint_eq(r[i].hdr[2], (lens[i] >> 8) & 0xff);
		ck_assert_uint_eq(r[i].hdr[3], lens[i] & 0xff);
		ck_assert_uint_eq(r[i].hdr[4] | r[i].hdr[5] | r[i].hdr[6] | r[i].hdr[7], 0);
		if (lens[i] >= 16) /* really encrypted */
			ck_assert(memcmp(r[i].data, r[i].plain, lens[i]) != 0);
	}
	rec_seal(s, &r[4], 4096, IMGSEAL_F_LAST, 99);
	ck_assert_uint_eq(r[4].hdr[4], IMGSEAL_F_LAST);
	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(rec_open(o, &r[i], &ok), 0);
		ck_assert(ok);
		ck_assert_uint_eq(imgseal_count(o), i + 1);
	}
	/* an empty LAST record, as the end of an image */
	struct rec e;
	rec_seal(s, &e, 0, IMGSEAL_F_LAST, 0);
	ck_assert_int_eq(rec_open(o, &e, &ok), 0);
	rec_free(&e);
	for (int i = 0; i < 5; i++)
		rec_free(&r[i]);
	imgseal_free(s);
	imgseal_free(o);
	imgseal_free(NULL);
}
END_TEST

/* The format in the header, computed here with a one-shot GCM: nonce salt || record number,
 * additional data header || mig_id. Another implementation of the channel must match it. */
START_TEST(format_known)
{
	struct imgseal *s;
	uint8_t iv[12], aad[16], ref[300], tag[16];
	struct rec r[3];
	int n;

	ck_assert_int_eq(imgseal_new(&s, &tkey, 0x0102030405060708ull, 1), 0);
	for (int i = 0; i < 3; i++)
		rec_seal(s, &r[i], 300, i == 2 ? IMGSEAL_F_LAST : 0, 7);
	memcpy(iv, tkey.salt, 4);
	memset(iv + 4, 0, 7);
	iv[11] = 2; /* record number 2 */
	memcpy(aad, r[2].hdr, 8);
	for (int i = 0; i < 8; i++)
		aad[8 + i] = (uint8_t)(i + 1);
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	ck_assert_int_eq(EVP_EncryptInit_ex(c, EVP_aes_128_gcm(), NULL, tkey.key, iv), 1);
	ck_assert_int_eq(EVP_EncryptUpdate(c, NULL, &n, aad, 16), 1);
	ck_assert_int_eq(EVP_EncryptUpdate(c, ref, &n, r[2].plain, 300), 1);
	ck_assert_int_eq(EVP_EncryptFinal_ex(c, ref + n, &n), 1);
	ck_assert_int_eq(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag), 1);
	EVP_CIPHER_CTX_free(c);
	ck_assert_mem_eq(r[2].data, ref, 300);
	ck_assert_mem_eq(r[2].tag, tag, 16);
	/* same plain text, other record number: other cipher text */
	ck_assert(memcmp(r[0].data, r[1].data, 300) != 0);
	for (int i = 0; i < 3; i++)
		rec_free(&r[i]);
	imgseal_free(s);
}
END_TEST

START_TEST(flipped_bits)
{
	struct imgseal *s, *o;
	struct rec r;
	int ok;

	ck_assert_int_eq(imgseal_new(&s, &tkey, 7, 1), 0);
	ck_assert_int_eq(imgseal_new(&o, &tkey, 7, 0), 0);
	rec_seal(s, &r, 4096, 0, 3);
	/* header: length (mismatch), the LAST flag (authenticated) */
	r.hdr[3] ^= 0x01;
	ck_assert_int_eq(rec_open(o, &r, &ok), SSI_E_CORRUPT);
	r.hdr[3] ^= 0x01;
	r.hdr[4] ^= IMGSEAL_F_LAST;
	ck_assert_int_eq(rec_open(o, &r, &ok), SSI_E_CORRUPT);
	r.hdr[4] ^= IMGSEAL_F_LAST;
	/* cipher text, first, middle and last byte */
	const uint32_t at[] = {0, 2049, 4095};
	for (int i = 0; i < 3; i++) {
		r.data[at[i]] ^= 0x40;
		ck_assert_int_eq(rec_open(o, &r, &ok), SSI_E_CORRUPT);
		r.data[at[i]] ^= 0x40;
	}
	/* tag, first and last byte */
	r.tag[0] ^= 0x01;
	ck_assert_int_eq(rec_open(o, &r, &ok), SSI_E_CORRUPT);
	r.tag[0] ^= 0x01;
	r.tag[15] ^= 0x80;
	ck_assert_int_eq(rec_open(o, &r, &ok), SSI_E_CORRUPT);
	r.tag[15] ^= 0x80;
	/* a wrong length passed by the caller */
	ck_assert_int_eq(imgseal_open(o, r.hdr, r.data, 4095, r.tag), SSI_E_CORRUPT);
	/* failures did not advance the record number: the intact record still opens */
	ck_assert_uint_eq(imgseal_count(o), 0);
	ck_assert_int_eq(rec_open(o, &r, &ok), 0);
	ck_assert(ok);
	ck_assert_uint_eq(imgseal_count(o), 1);
	rec_free(&r);
	imgseal_free(s);
	imgseal_free(o);
}
END_TEST

START_TEST(order_and_replay)
{
	struct imgseal *s, *o;
	struct rec r[3];
	int ok;

	ck_assert_int_eq(imgseal_new(&s, &tkey, 7, 1), 0);
	ck_assert_int_eq(imgseal_new(&o, &tkey, 7, 0), 0);
	for (int i = 0; i < 3; i++)
		rec_seal(s, &r[i], 100, 0, 5);			  /* same plain text in each */
	ck_assert_int_eq(rec_open(o, &r[1], &ok), SSI_E_CORRUPT); /* skipped one */
	ck_assert_int_eq(rec_open(o, &r[0], &ok), 0);
	ck_assert_int_eq(rec_open(o, &r[0], &ok), SSI_E_CORRUPT); /* replayed */
	ck_assert_int_eq(rec_open(o, &r[2], &ok), SSI_E_CORRUPT); /* r[1] dropped */
	ck_assert_int_eq(rec_open(o, &r[1], &ok), 0);
	ck_assert_int_eq(rec_open(o, &r[2], &ok), 0);
	ck_assert(ok);
	for (int i = 0; i < 3; i++)
		rec_free(&r[i]);
	imgseal_free(s);
	imgseal_free(o);
}
END_TEST

START_TEST(other_migration_key_salt)
{
	struct imgseal_key k2 = tkey, k3 = tkey;
	struct imgseal *s, *o;
	struct rec r;
	int ok;

	k2.key[15] ^= 1;
	k3.salt[0] ^= 1;
	ck_assert_int_eq(imgseal_new(&s, &tkey, 1000, 1), 0);
	rec_seal(s, &r, 512, IMGSEAL_F_LAST, 11);

	ck_assert_int_eq(imgseal_new(&o, &tkey, 1001, 0), 0);
	ck_assert_int_eq(rec_open(o, &r, &ok), SSI_E_CORRUPT);
	imgseal_free(o);
	ck_assert_int_eq(imgseal_new(&o, &k2, 1000, 0), 0);
	ck_assert_int_eq(rec_open(o, &r, &ok), SSI_E_CORRUPT);
	imgseal_free(o);
	ck_assert_int_eq(imgseal_new(&o, &k3, 1000, 0), 0);
	ck_assert_int_eq(rec_open(o, &r, &ok), SSI_E_CORRUPT);
	imgseal_free(o);
	/* and the right one opens it (the failures above are not an accident of the record) */
	ck_assert_int_eq(imgseal_new(&o, &tkey, 1000, 0), 0);
	ck_assert_int_eq(rec_open(o, &r, &ok), 0);
	ck_assert(ok);
	imgseal_free(o);
	rec_free(&r);
	imgseal_free(s);
}
END_TEST

START_TEST(wrong_direction_and_limits)
{
	struct imgseal *s, *o;
	uint8_t d[16] = {0}, hdr[8], tag[16];

	ck_assert_int_eq(imgseal_new(&s, &tkey, 1, 1), 0);
	ck_assert_int_eq(imgseal_new(&o, &tkey, 1, 0), 0);
	ck_assert_int_eq(imgseal_seal(s, d, IMGSEAL_MAX_REC + 1, 0, hdr, tag), -EINVAL);
	ck_assert_int_eq(imgseal_seal(s, d, 16, 0x02, hdr, tag), -EINVAL);
	ck_assert_int_eq(imgseal_seal(s, d, 16, 0x80, hdr, tag), -EINVAL);
	ck_assert_uint_eq(imgseal_count(s), 0); /* refused records take no number */
	ck_assert_int_eq(imgseal_seal(o, d, 16, 0, hdr, tag), -EINVAL); /* an opener */
	ck_assert_int_eq(imgseal_seal(s, d, 16, 0, hdr, tag), 0);
	ck_assert_int_eq(imgseal_open(s, hdr, d, 16, tag), -EINVAL); /* a sealer */
	ck_assert_int_eq(imgseal_open(o, hdr, d, 16, tag), 0);
	imgseal_free(s);
	imgseal_free(o);
}
END_TEST

START_TEST(hdr_parse)
{
	uint8_t h[8] = {0, 0x10, 0, 0, IMGSEAL_F_LAST, 0, 0, 0};
	uint32_t len;
	uint8_t fl;

	ck_assert_int_eq(imgseal_hdr_parse(h, &len, &fl), 0);
	ck_assert_uint_eq(len, IMGSEAL_MAX_REC);
	ck_assert_uint_eq(fl, IMGSEAL_F_LAST);
	h[3] = 1; /* MAX + 1 */
	ck_assert_int_eq(imgseal_hdr_parse(h, &len, &fl), SSI_E_CORRUPT);
	h[3] = 0;
	h[0] = 0xff;
	ck_assert_int_eq(imgseal_hdr_parse(h, &len, &fl), SSI_E_CORRUPT);
	h[0] = 0;
	for (int bit = 1; bit < 8; bit++) { /* every unknown flag */
		h[4] = (uint8_t)(1u << bit);
		ck_assert_int_eq(imgseal_hdr_parse(h, &len, &fl), SSI_E_CORRUPT);
	}
	h[4] = 0;
	for (int i = 5; i < 8; i++) { /* every reserved byte */
		h[i] = 1;
		ck_assert_int_eq(imgseal_hdr_parse(h, &len, &fl), SSI_E_CORRUPT);
		h[i] = 0;
	}
	ck_assert_int_eq(imgseal_hdr_parse(h, &len, &fl), 0);
	ck_assert_uint_eq(fl, 0);
}
END_TEST

START_TEST(preface)
{
	uint8_t p[IMGSEAL_PREFACE_LEN];
	uint64_t id;

	imgseal_preface(p, 0x1122334455667788ull);
	ck_assert_mem_eq(p, "SSIIMG01", 8);
	ck_assert_uint_eq(p[8], 0x11);
	ck_assert_uint_eq(p[15], 0x88);
	ck_assert_int_eq(imgseal_preface_parse(p, &id), 0);
	ck_assert_uint_eq(id, 0x1122334455667788ull);
	for (int i = 0; i < 8; i++) {
		p[i] ^= 0x20;
		ck_assert_int_eq(imgseal_preface_parse(p, &id), SSI_E_CORRUPT);
		p[i] ^= 0x20;
	}
	imgseal_preface(p, 0);
	ck_assert_int_eq(imgseal_preface_parse(p, &id), 0);
	ck_assert_uint_eq(id, 0);
}
END_TEST

START_TEST(fresh_keys)
{
	struct imgseal_key a, b;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	ck_assert_int_eq(imgseal_key_new(&a), 0);
	ck_assert_int_eq(imgseal_key_new(&b), 0);
	ck_assert(memcmp(&a, &b, sizeof(a)) != 0);
	ck_assert(memcmp(a.key, (uint8_t[IMGSEAL_KEY_LEN]){0}, IMGSEAL_KEY_LEN) != 0);
}
END_TEST

static Suite *imgseal_suite(void)
{
	Suite *s = suite_create("imgseal");
	TCase *t = tcase_create("core");
	tcase_add_test(t, round_trip);
	tcase_add_test(t, format_known);
	tcase_add_test(t, flipped_bits);
	tcase_add_test(t, order_and_replay);
	tcase_add_test(t, other_migration_key_salt);
	tcase_add_test(t, wrong_direction_and_limits);
	tcase_add_test(t, hdr_parse);
	tcase_add_test(t, preface);
	tcase_add_test(t, fresh_keys);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(imgseal_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
