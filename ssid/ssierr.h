/*
 * ssierr.h - the one list of error codes used across ssi.
 *
 * Rule (STYLE.md #5): int functions return 0 on success or a negative code: either a
 * negative errno (-ENOMEM, -EIO, ...) or one of the SSI_E_* codes below, which sit far
 * below the errno range so the two never collide. ssierr_str() names either kind.
 */
#ifndef SSI_SSIERR_H
#define SSI_SSIERR_H

enum ssierr {
	SSI_E_BASE = -10000,
	SSI_E_TRUNCATED,    /* input ended inside a field or frame */
	SSI_E_TOOBIG,	    /* a length exceeds its hard maximum */
	SSI_E_BADTYPE,	    /* unknown message or section type */
	SSI_E_BADFIELD,	    /* unknown, duplicate or malformed field */
	SSI_E_MISSING,	    /* a required field is absent */
	SSI_E_VERSION,	    /* protocol, image or schema version not supported */
	SSI_E_CHECKSUM,	    /* checksum does not match */
	SSI_E_CORRUPT,	    /* structurally invalid data (magic, ordering, NUL in string) */
	SSI_E_NEWER_SCHEMA, /* database written by a newer ssi */
	SSI_E_DB,	    /* sqlite reported an error */
	SSI_E_AUTH,	    /* peer key unknown or changed */
	SSI_E_REFUSED,	    /* a request was understood and refused by policy */
	SSI_E_UNSUPPORTED,  /* a feature the input needs is not supported here */
	SSI_E_LAST
};

/* Human text for r (0, -errno or SSI_E_*). Never NULL; the string is static. */
const char *ssierr_str(int r);

#endif
