/*
 * admit.h - admission at the destination: may this node take the process a MIG_OFFER
 * offers? (the policy part of the negotiation; CPU features are checked by the restore,
 * migrate/cpufeat.h).
 *
 * Owns: the rule (admit_check, pure) and gathering this node's facts for it (admit_offer:
 * the block order from the store, MemAvailable from /proc/meminfo, the reserve from the
 * config), plus reading a process's RSS at the source for the offer (admit_rss_kb).
 * Does not: send the refusal (the migration protocol does, with the text made here).
 *
 * The rule, in order:
 *   1. Blocked by the administrator (`ssictl block`) -> refused, unless the process comes
 *      back to its home node (a block keeps guests out, not the node's own processes).
 *   2. Memory: the process's RSS (carried in the offer; 0 = unknown, not checked) must not
 *      exceed MemAvailable minus the reserve ([admit] reserve_mb, default 64 MiB).
 * Texts (the user sees them through gmigrate and grun -n):
 *   "node3 refuses: blocked by its administrator (ssictl unblock on node3)"
 *   "node3 refuses: needs 900 MiB, 512 MiB available"
 */
#ifndef SSI_ADMIT_H
#define SSI_ADMIT_H

#include "db/db.h"
#include "ssid/config.h"
#include "ssid/wire.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ADMIT_TEXT_MAX 256

/* Everything the rule looks at. */
struct admit_facts {
	char name[33];	       /* this node's name, for the text */
	int blocked;	       /* the administrator blocks incoming processes */
	int coming_home;       /* the offered process was born on this node */
	uint64_t need_kb;      /* its RSS, 0 = unknown */
	uint64_t mem_avail_kb; /* MemAvailable here now */
	uint64_t reserve_kb;   /* kept for this node's own use */
};

/* The rule above. Returns 0 (admit; why = ""), SSI_E_REFUSED (blocked) or -ENOMEM
 * (memory), with the text for the user in why (at most cap bytes, NUL-terminated). */
int admit_check(const struct admit_facts *f, char *why, size_t cap);

/*
 * This node (cfg, its store db) judges offer o: gathers the facts and applies admit_check.
 * Returns 0 or the refusal code; *why points to the text (valid until the next call from
 * the same thread; "" when admitted). A store or /proc/meminfo that cannot be read
 * refuses nothing (the fact is taken as unknown). Not pure; call from one thread.
 */
int admit_offer(struct db *db, const struct config *cfg, const struct wire_mig_offer *o,
		const char **why);

/* RSS of process pid of this node in kB (/proc/PID/statm), or 0 if it cannot be read. */
uint64_t admit_rss_kb(pid_t pid);

#endif
