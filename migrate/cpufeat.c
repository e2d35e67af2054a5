/*
 * cpufeat.c - CPU/xsave/vdso compatibility (cpufeat.h).
 *
 * Feature words compared: CPUID.1 ECX/EDX and CPUID.(7,0) EBX/ECX/EDX, minus bits that
 * change at run time or say nothing about instructions (OSXSAVE, APIC ids live elsewhere).
 * The image's XCR0 must be a subset of ours and its xsave area no larger. The vdso must be
 * byte-identical: glibc keeps pointers into it, and we do not patch it.
 */
#include <cpuid.h>
#include <stdio.h>
#include <string.h>

#include "migrate/cpufeat.h"
#include "migrate/inject.h"
#include "ssid/ssierr.h"

static uint64_t xgetbv0(void)
{
	uint32_t lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (uint64_t)hi << 32 | lo;
}

void cpufeat_fill(struct cr_state *s)
{
	unsigned a, b, c, d;
	__cpuid(1, a, b, c, d);
	s->cpuid1_ecx = c & ~(1u << 27); /* OSXSAVE reflects the OS, compared through XCR0 */
	s->cpuid1_edx = d;
	__cpuid_count(7, 0, a, b, c, d);
	s->cpuid7_ebx = b;
	s->cpuid7_ecx = c;
	s->cpuid7_edx = d & ~(1u << 18); /* PCONFIG etc. are fine; keep the rest */
	s->xcr0 = xgetbv0();
	__cpuid_count(0xd, 0, a, b, c, d);
	s->xsave_size = b; /* size for the features enabled in XCR0 */
}

static int missing(char *err, size_t n, const char *word, uint32_t have, uint32_t need)
{
	snprintf(err, n,
		 "this CPU lacks features the image's process uses (%s: missing bits %#x); "
		 "restore it on a machine with the same or a newer CPU",
		 word, need & ~have);
	return SSI_E_UNSUPPORTED;
}

/* Our own [vvar]/[vvar_vclock] sizes from /proc/self/maps. */
static void local_vvar(uint64_t *vvar, uint64_t *vclock)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	*vvar = *vclock = 0;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long a, b;
		if (sscanf(line, "%llx-%llx", &a, &b) != 2)
			continue;
		if (strstr(line, "[vvar]"))
			*vvar = b - a;
		else if (strstr(line, "[vvar_vclock]"))
			*vclock = b - a;
	}
	fclose(f);
}

int cpufeat_check(const struct cr_state *s, char *err, size_t n)
{
	struct cr_state h;
	memset(&h, 0, sizeof(h));
	cpufeat_fill(&h);
	if ((s->cpuid1_ecx & ~h.cpuid1_ecx) != 0)
		return missing(err, n, "cpuid.1.ecx", h.cpuid1_ecx, s->cpuid1_ecx);
	if ((s->cpuid1_edx & ~h.cpuid1_edx) != 0)
		return missing(err, n, "cpuid.1.edx", h.cpuid1_edx, s->cpuid1_edx);
	if ((s->cpuid7_ebx & ~h.cpuid7_ebx) != 0)
		return missing(err, n, "cpuid.7.ebx", h.cpuid7_ebx, s->cpuid7_ebx);
	if ((s->cpuid7_ecx & ~h.cpuid7_ecx) != 0)
		return missing(err, n, "cpuid.7.ecx", h.cpuid7_ecx, s->cpuid7_ecx);
	if ((s->cpuid7_edx & ~h.cpuid7_edx) != 0)
		return missing(err, n, "cpuid.7.edx", h.cpuid7_edx, s->cpuid7_edx);
	if ((s->xcr0 & ~h.xcr0) != 0 || s->xsave_size > h.xsave_size) {
		snprintf(err, n,
			 "register state differs: image XCR0 %#llx (%u bytes), here %#llx (%u "
			 "bytes)",
			 (unsigned long long)s->xcr0, s->xsave_size, (unsigned long long)h.xcr0,
			 h.xsave_size);
		return SSI_E_UNSUPPORTED;
	}
	uint64_t vdso, len, off, vvar, vclock;
	if (inject_vdso_syscall(&vdso, &len, &off) < 0) {
		snprintf(err, n, "no vdso in this process");
		return SSI_E_UNSUPPORTED;
	}
	local_vvar(&vvar, &vclock);
	if (len != s->vdso_len || memcmp((const void *)(uintptr_t)vdso, s->vdso, len) != 0 ||
	    vvar != s->vvar_len || vclock != s->vvar_vclock_len) {
		snprintf(
			err, n,
			"the image comes from another kernel build (kernel %s): its vdso (%u "
			"bytes) or vvar layout (%llu+%llu) differs from this kernel's (%llu bytes, "
			"%llu+%llu)",
			s->kernel, s->vdso_len, (unsigned long long)s->vvar_len,
			(unsigned long long)s->vvar_vclock_len, (unsigned long long)len,
			(unsigned long long)vvar, (unsigned long long)vclock);
		return SSI_E_UNSUPPORTED;
	}
	return 0;
}
