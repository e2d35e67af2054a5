#!/usr/bin/env bash
# cr_counter.sh - a compute loop printing a running checksum, checkpointed (--kill) at a
# random point and restored with the same pid: output and exit status as unmigrated.
# Also: the same with its stdout a pipe (a FIFO read by cat into a file); --leave-running
# leaves it running with unchanged output; a restore while the pid is still taken runs in a
# new PID namespace.
. "$(dirname "$0")/cr_common.bash"
cr_roundtrip counter 0.3 1.5 "$PROGS/counter" 60 40000000

# stdout a pipe: the reader drains what was written before the freeze; the restored
# process writes into the restorer's stdout (here the same file, appended).
mkfifo "$work/fifo"
cat "$work/fifo" >"$work/pipe.out" &
cpid=$!
cr_pids+=("$cpid")
(cd "$work" && cr_exec_clean "$PROGS/counter" 60 40000000) </dev/null >"$work/fifo" &
pid=$!
cr_pids+=("$pid")
rand_sleep 0.3 1.5
"$SSICTL" checkpoint "$pid" -o "$work/pipe.img" --kill || fail "checkpoint with stdout a pipe"
wait "$pid" 2>/dev/null
wait "$cpid"
"$SSICTL" restore "$work/pipe.img" --wait </dev/null >>"$work/pipe.out" 2>/dev/null
[ $? = 3 ] || fail "exit status after restore (stdout a pipe)"
cmp "$work/counter.ref" "$work/pipe.out" || fail "output through a pipe differs"
echo "ok stdout a pipe: identical output"

# Same pid after restore: the restored process is the one the image names.
(cd "$work" && cr_exec_clean "$PROGS/counter" 60 40000000) </dev/null >"$work/p.out" &
pid=$!
cr_pids+=("$pid")
rand_sleep 0.2 0.8
"$SSICTL" checkpoint "$pid" -o "$work/p.img" --kill || fail "checkpoint"
wait "$pid" 2>/dev/null
"$SSICTL" restore "$work/p.img" --pid-file "$work/p.pid" </dev/null >/dev/null 2>&1 || fail "restore"
rpid=$(cat "$work/p.pid")
cr_pids+=("$rpid")
[ "$rpid" = "$pid" ] || fail "restored as pid $rpid, was $pid"
grep -q "^State:" "/proc/$rpid/status" || fail "restored pid $rpid not running"
echo "ok same pid $pid"

# --leave-running: the process goes on undisturbed.
ref=$work/counter.ref
(cd "$work" && cr_exec_clean "$PROGS/counter" 60 40000000) </dev/null >"$work/l.out" &
pid=$!
cr_pids+=("$pid")
rand_sleep 0.2 1.0
"$SSICTL" checkpoint "$pid" -o "$work/l.img" --leave-running || fail "checkpoint --leave-running"
wait "$pid"
[ $? = 3 ] || fail "left-running process exit status changed"
cmp "$ref" "$work/l.out" || fail "left-running process output changed"
echo "ok leave-running"

# Restore while the original still runs (pid taken): a new PID namespace, same output.
(cd "$work" && cr_exec_clean "$PROGS/counter" 60 40000000) </dev/null >"$work/n.out" &
pid=$!
cr_pids+=("$pid")
rand_sleep 0.2 1.0
"$SSICTL" checkpoint "$pid" -o "$work/n.img" || fail "checkpoint for namespace test"
# What it had written at the checkpoint: the saved offset of its stdout (a file here).
bytes=$("$SSICTL" image show "$work/n.img" | awk '$1 == 1 && $2 == "stdio" {print $6}')
"$SSICTL" restore "$work/n.img" --wait </dev/null >"$work/n2.out"
[ $? = 3 ] || fail "namespace restore exit status"
cat <(head -c "$bytes" "$work/n.out") "$work/n2.out" | cmp - "$ref" || fail "namespace restore output"
wait "$pid"
echo "ok restore with the pid taken (new PID namespace)"
