#!/usr/bin/env bash
# cr_refuse.sh - the pre-flight refuses a process with several blockers (a second thread,
# a socket, an eventfd) in one message naming each, a traced process and one with a child
# process; the refused
# process keeps running unchanged; a checkpoint that fails half-way (image to /dev/full)
# leaves the process running as before, also one frozen inside nanosleep(); checkpointing
# a pid that does not exist fails cleanly.
. "$(dirname "$0")/cr_common.bash"
(cd "$work" && cr_exec_clean "$PROGS/blockers") </dev/null >"$work/b.out" &
pid=$!
cr_pids+=("$pid")
sleep 0.5
if "$SSICTL" checkpoint "$pid" -o "$work/b.img" 2>"$work/b.err"; then
	fail "checkpoint of a threaded process with a socket succeeded"
fi
cat "$work/b.err"
grep -q "pid $pid: has 2 threads" "$work/b.err" || fail "threads not named"
grep -q "pid $pid: fd [0-9]*: socket:" "$work/b.err" || fail "socket not named"
grep -q "pid $pid: fd [0-9]*: anon_inode:\[eventfd\]" "$work/b.err" || fail "eventfd not named"
[ ! -e "$work/b.img" ] || fail "a failed checkpoint left an image file"
n1=$(grep -c '' "$work/b.out")
sleep 0.5
n2=$(grep -c '' "$work/b.out")
[ "$n2" -gt "$n1" ] || fail "refused process stopped running"
grep -q "^State:[[:space:]]*[RS]" "/proc/$pid/status" || fail "refused process not running"
wait "$pid" || fail "refused process exit status"
[ "$(tail -1 "$work/b.out")" = "tick 59" ] || fail "refused process output incomplete"
echo "ok blockers listed together; process ran on to the end"

if command -v strace >/dev/null; then
	(cd "$work" && cr_exec_clean "$PROGS/counter" 40 40000000) </dev/null >/dev/null &
	pid=$!
	cr_pids+=("$pid")
	strace -p "$pid" -o /dev/null &
	spid=$!
	cr_pids+=("$spid")
	sleep 0.5
	"$SSICTL" checkpoint "$pid" -o "$work/t.img" 2>"$work/t.err" && fail "traced process checkpointed"
	grep -q "pid $pid: is already traced by pid $spid" "$work/t.err" || { cat "$work/t.err"; fail "tracer not named"; }
	kill "$spid"
	wait "$spid" 2>/dev/null
	wait "$pid"
	[ $? = 3 ] || fail "traced process did not finish normally"
	echo "ok traced process refused: $(head -1 "$work/t.err" | cut -c1-80)"
fi

if [ -c /dev/full ]; then
	(cd "$work" && cr_exec_clean "$PROGS/counter" 40 40000000) </dev/null >"$work/f.out" &
	pid=$!
	cr_pids+=("$pid")
	rand_sleep 0.2 0.6
	"$SSICTL" checkpoint "$pid" -o /dev/full 2>"$work/f.err" && fail "checkpoint to /dev/full succeeded"
	grep -q "No space left" "$work/f.err" || { cat "$work/f.err"; fail "unclear message"; }
	[ -c /dev/full ] || fail "/dev/full is no longer a device"
	wait "$pid"
	[ $? = 3 ] || fail "process did not go on after a failed checkpoint"
	"$PROGS/counter" 40 40000000 | cmp - "$work/f.out" || fail "output changed by a failed checkpoint"
	(sleep 2.2; echo hi) | (cd "$work" && cr_exec_clean "$PROGS/sleeper") >"$work/z.out" &
	pid=$!
	cr_pids+=("$pid")
	sleep 0.5
	"$SSICTL" checkpoint "$pid" -o /dev/full 2>/dev/null && fail "checkpoint to /dev/full succeeded"
	wait "$pid" || fail "sleeper failed after a failed checkpoint"
	[ "$(cat "$work/z.out")" = "$(printf 'slept\nread 0: hi\neof')" ] || fail "sleeper output"
	echo "ok failed checkpoints (write error) left both processes running as before"
fi

# A process with a child: the child would not be saved.
(cd "$work" && cr_exec_clean bash -c 'sleep 3 & wait') </dev/null >/dev/null &
pid=$!
cr_pids+=("$pid")
sleep 0.3
"$SSICTL" checkpoint "$pid" -o "$work/k.img" 2>"$work/k.err" && fail "parent process checkpointed"
grep -q "pid $pid: has child processes" "$work/k.err" || { cat "$work/k.err"; fail "child not named"; }
echo "ok parent with a child refused"

"$SSICTL" checkpoint 4194000 -o "$work/x.img" 2>"$work/x.err" && fail "nonexistent pid checkpointed"
grep -q "No such process" "$work/x.err" || { cat "$work/x.err"; fail "unclear message for a missing pid"; }
echo "ok missing pid: $(tail -1 "$work/x.err")"
