#!/usr/bin/env bash
# cr_syscall.sh - a process frozen inside nanosleep() and inside read() on its stdin (a
# pipe): after restore each call runs again and the program sees no error.
. "$(dirname "$0")/cr_common.bash"
feed() { sleep 1.5; for l in one two three four; do sleep 0.5; echo "$l"; done; }
"$PROGS/sleeper" < <(feed) >"$work/ref.out"
[ $? = 0 ] || fail "reference run"
for when in 0.7 2.2; do # inside nanosleep, inside read
	# The feeder is a separate process (a <(...) here would be a child of sleeper).
	(sleep 1.8; echo one; sleep 5) | (cd "$work" && cr_exec_clean "$PROGS/sleeper") >"$work/s.out" &
	pid=$!
	cr_pids+=("$pid")
	sleep $when
	state=$(awk '/^State:/ {print $2}' /proc/$pid/status)
	"$SSICTL" checkpoint "$pid" -o "$work/s.img" --kill || fail "checkpoint"
	wait "$pid" 2>/dev/null
	if [ "$when" = 0.7 ]; then
		"$SSICTL" restore "$work/s.img" --wait < <(feed) >>"$work/s.out"
	else
		# The restored read() gets the rest of the input.
		"$SSICTL" restore "$work/s.img" --wait < <(for l in two three four; do sleep 0.5; echo $l; done) >>"$work/s.out"
	fi
	rc=$?
	[ $rc = 0 ] || { cat "$work/s.out"; fail "exit status $rc (frozen at ${when}s, state $state)"; }
	if [ "$when" = 0.7 ]; then
		cmp "$work/ref.out" "$work/s.out" || { cat "$work/ref.out" "$work/s.out"; fail "output after restore from nanosleep"; }
	else
		cmp "$work/ref.out" "$work/s.out" || { cat "$work/s.out"; fail "output after restore from read"; }
	fi
	echo "ok frozen at ${when}s (state $state): same output"
done
