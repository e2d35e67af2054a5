/*
 * ssierr.c - text for the project's error codes (ssierr.h). Pure; no state.
 */
#include <string.h>

#include "ssid/ssierr.h"

static const char *const ssierr_text[] = {
	[SSI_E_TRUNCATED - SSI_E_BASE] = "truncated input",
	[SSI_E_TOOBIG - SSI_E_BASE] = "length exceeds the maximum",
	[SSI_E_BADTYPE - SSI_E_BASE] = "unknown type",
	[SSI_E_BADFIELD - SSI_E_BASE] = "malformed, unknown or duplicate field",
	[SSI_E_MISSING - SSI_E_BASE] = "required field missing",
	[SSI_E_VERSION - SSI_E_BASE] = "unsupported version",
	[SSI_E_CHECKSUM - SSI_E_BASE] = "checksum mismatch",
	[SSI_E_CORRUPT - SSI_E_BASE] = "corrupt data",
	[SSI_E_NEWER_SCHEMA - SSI_E_BASE] = "database written by a newer version of ssi",
	[SSI_E_DB - SSI_E_BASE] = "database error",
	[SSI_E_AUTH - SSI_E_BASE] = "peer key unknown or changed",
	[SSI_E_REFUSED - SSI_E_BASE] = "refused by policy",
	[SSI_E_UNSUPPORTED - SSI_E_BASE] = "not supported here",
};

const char *ssierr_str(int r)
{
	if (r == 0)
		return "success";
	if (r > SSI_E_BASE && r < SSI_E_LAST)
		return ssierr_text[r - SSI_E_BASE];
	if (r < 0 && r > -4096)
		return strerror(-r);
	return "unknown error";
}
