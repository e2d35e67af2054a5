#!/usr/bin/env bash
# cr_files.sh - a file read and written at offsets, an O_APPEND log, /dev/null, /dev/zero:
# output and the files themselves identical after checkpoint --kill + restore; a file that
# shrank below the saved offset makes the restore fail before any process is created.
. "$(dirname "$0")/cr_common.bash"
CR_FILES="data.bin log.txt" cr_roundtrip fileio 0.3 1.4 "$PROGS/fileio" . 40

d=$work/shrink.d
mkdir -p "$d"
(cd "$d" && cr_exec_clean "$PROGS/fileio" . 40) </dev/null >"$work/shrink.out" &
pid=$!
cr_pids+=("$pid")
sleep 0.5
"$SSICTL" checkpoint "$pid" -o "$work/shrink.img" --kill || fail "checkpoint"
wait "$pid" 2>/dev/null
: >"$d/data.bin"
if "$SSICTL" restore "$work/shrink.img" --wait </dev/null >/dev/null 2>"$work/shrink.err"; then
	fail "restore accepted a file that shrank below its offset"
fi
grep -q 'shrank' "$work/shrink.err" || { cat "$work/shrink.err"; fail "no clear message"; }
kill -0 "$pid" 2>/dev/null && fail "a process with pid $pid exists after the failed restore"
echo "ok shrunken file refused: $(head -1 "$work/shrink.err")"
