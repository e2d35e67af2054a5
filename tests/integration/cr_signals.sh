#!/usr/bin/env bash
# cr_signals.sh - handlers (SA_RESTART, SA_ONSTACK on a sigaltstack), a blocked pending
# signal, the mask, an ignored signal, an ITIMER_REAL timer, getpid/gettid: identical
# output and exit status after checkpoint --kill + restore; a job-stopped process.
. "$(dirname "$0")/cr_common.bash"
cr_roundtrip sigs 0.5 2.2 "$PROGS/sigs"
grep -q "usr2 delivered 1, pid stable 1, tid stable 1" "$work/sigs.out" || fail "sigs summary"
grep -q "rseq registered 1" "$work/sigs.out" || fail "rseq not registered after restore"

# A process stopped by job control (SIGSTOP) is checkpointed as it is, stays stopped with
# --leave-running (twice), comes back stopped after a restore, and finishes normally after
# SIGCONT.
(cd "$work" && cr_exec_clean "$PROGS/counter" 60 40000000) </dev/null >"$work/t.out" &
pid=$!
cr_pids+=("$pid")
rand_sleep 0.2 1.0
kill -STOP "$pid"
sleep 0.2
for i in 1 2; do
	"$SSICTL" checkpoint "$pid" -o "$work/t.img" || fail "checkpoint of a stopped process"
	# the detach wakes the task, which enters its group stop again by itself, in the kernel
	# (no user code runs); on a busy machine that can take a moment: wait up to 2 s
	for _ in $(seq 20); do grep -q "^State:[[:space:]]*T" "/proc/$pid/status" && break; sleep 0.1; done
	grep -q "^State:[[:space:]]*T" "/proc/$pid/status" || fail "no longer stopped after checkpoint $i"
done
"$SSICTL" checkpoint "$pid" -o "$work/t.img" --kill || fail "checkpoint --kill of a stopped process"
wait "$pid" 2>/dev/null
"$SSICTL" image show "$work/t.img" | grep -q "stopped by job control" || fail "stop not recorded"
"$SSICTL" restore "$work/t.img" --pid-file "$work/t.pid" </dev/null >>"$work/t.out" 2>/dev/null ||
	fail "restore of a stopped process"
rpid=$(cat "$work/t.pid")
cr_pids+=("$rpid")
sleep 0.3
grep -q "^State:[[:space:]]*T" "/proc/$rpid/status" || fail "restored process not stopped"
kill -CONT "$rpid"
for _ in $(seq 600); do kill -0 "$rpid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$rpid" 2>/dev/null && fail "restored process did not finish after SIGCONT"
"$PROGS/counter" 60 40000000 | cmp - "$work/t.out" || fail "output of the stopped-and-restored process"
echo "ok job-stopped process: stays stopped, restored stopped, finishes after SIGCONT"
