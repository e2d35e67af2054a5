#!/usr/bin/env bash
# cr_regs.sh - AVX (ymm) registers held across the freeze inside a register-only loop,
# and double-precision arithmetic: identical output after checkpoint --kill + restore.
. "$(dirname "$0")/cr_common.bash"
for i in 1 2; do
	cr_roundtrip regs$i 0.3 1.5 "$PROGS/regs" 10
done
grep -q 'ymm intact 0' "$work/regs1.out" "$work/regs2.out" && fail "ymm registers lost"
echo "ok ymm intact"
