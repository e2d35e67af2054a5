#!/usr/bin/env bash
# cr_memory.sh - brk heap growing before and after the restore, a 64 MiB sparse private
# mapping (untouched pages stay out of the image), shared anonymous memory, a read-only
# region: output identical after checkpoint --kill + restore.
. "$(dirname "$0")/cr_common.bash"
cr_roundtrip bigmem 0.4 1.6 "$PROGS/bigmem" 40 64
img=$work/bigmem.img
"$SSICTL" image show "$img" >"$work/show" || fail "image show"
dumped=$(awk '/^sizes:/ {print $6}' "$work/show")
[ "$dumped" -lt 60000 ] || fail "image holds $dumped KiB: untouched pages were dumped"
grep -q ' shmem ' "$work/show" || fail "shared anonymous mapping not recorded"
echo "ok image holds $dumped KiB of pages for 64+ MiB mapped"
