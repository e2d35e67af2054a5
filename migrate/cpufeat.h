/*
 * cpufeat.h - CPU, xsave and vdso compatibility between the checkpointing and restoring host.
 *
 * Owns: reading CPUID feature words, XCR0 and the xsave size here; comparing them and the
 * kernel's vdso (bytes) and vvar layout (sizes) with an image. Does not: patch vdsos (an
 * image from another kernel build is refused, not adapted).
 * Assumes: x86_64. glibc chose its string/math routines from the CPU features at start-up,
 * so the destination must have every feature the source had.
 */
#ifndef SSI_MIGRATE_CPUFEAT_H
#define SSI_MIGRATE_CPUFEAT_H

#include <stddef.h>

#include "migrate/state.h"

/* Fill the CPU fields of s (cpuid words, xcr0, xsave_size) for this machine. */
void cpufeat_fill(struct cr_state *s);

/* 0 when an image with s can run here, else SSI_E_UNSUPPORTED with the reason in err
 * (missing CPU features, other XCR0, another kernel's vdso or vvar layout). */
int cpufeat_check(const struct cr_state *s, char *err, size_t errlen);

#endif
