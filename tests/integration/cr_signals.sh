#!/usr/bin/env bash
# cr_signals.sh - handlers (SA_RESTART, SA_ONSTACK on a sigaltstack), a blocked pending
# signal, the mask, an ignored signal, an ITIMER_REAL timer, getpid/gettid: identical
# output and exit status after checkpoint --kill + restore.
. "$(dirname "$0")/cr_common.bash"
cr_roundtrip sigs 0.5 2.2 "$PROGS/sigs"
grep -q "usr2 delivered 1, pid stable 1, tid stable 1" "$work/sigs.out" || fail "sigs summary"
grep -q "rseq registered 1" "$work/sigs.out" || fail "rseq not registered after restore"
