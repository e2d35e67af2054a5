#!/usr/bin/env bash
# cr_frozen.sh - the migration calls of the checkpoint engine, run by the test tool
# tests/tools/cr_frozen.c from a worker thread (the tracer is not the main thread, as in ssid):
# frozen checkpoint then release (output identical), frozen checkpoint then kill + restore
# held then resumed (identical), restore held then discarded with the image on descriptors
# 3-7 and stdin closed (nothing left; the released original unaffected).
. "$(dirname "$0")/cr_common.bash"
tool=$build/tests/tools/cr_frozen
[ -x "$tool" ] || { echo "skip: $tool is not built"; exit 77; }
[ -x "$PROGS/counter" ] || { echo "skip: $PROGS/counter is not built"; exit 77; }
timeout 120 "$tool" "$PROGS/counter" "$work" </dev/null || fail "cr_frozen (exit $?)"
