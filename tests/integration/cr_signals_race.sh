#!/usr/bin/env bash
# cr_signals_race.sh - restore while signals keep coming: the process (tests/progs/sigrace)
# has a 1 ms ITIMER_REAL (SIGALRM falls due during every restore), is sent SIGUSR1 in a
# tight loop from before its restore starts until it ends, and holds SIGUSR2 and three
# queued SIGRTMIN pending and blocked. After checkpoint --kill + restore --wait it must
# exit 5: pending signals exactly as before (each once, RT values in order), SIGUSR1 and
# SIGALRM still handled after the restore, same pid. Three rounds.
. "$(dirname "$0")/cr_common.bash"
sender=
stop_sender() {
	[ -n "$sender" ] && kill "$sender" 2>/dev/null && wait "$sender" 2>/dev/null
	sender=
}
trap 'stop_sender; cr_cleanup' EXIT

for round in 1 2 3; do
	out=$work/race$round.out
	(cd "$work" && cr_exec_clean "$PROGS/sigrace" 1500) </dev/null >"$out" 2>&1 &
	pid=$!
	cr_pids+=("$pid")
	for _ in $(seq 100); do grep -qs '^ready$' "$out" && break; sleep 0.02; done
	grep -q '^ready$' "$out" || fail "round $round: sigrace did not start"
	rand_sleep 0.1 0.5
	"$SSICTL" checkpoint "$pid" -o "$work/race.img" --kill || fail "round $round: checkpoint of pid $pid"
	wait "$pid" 2>/dev/null
	# From before the restore until it ends: SIGUSR1 at the saved pid, as fast as bash goes
	# (the pid is free meanwhile, so nothing else is hit; the restore takes it again).
	(while :; do kill -USR1 "$pid" 2>/dev/null; done) &
	sender=$!
	sleep 0.05
	"$SSICTL" restore "$work/race.img" --wait </dev/null >>"$out" 2>"$work/race$round.err"
	got=$?
	stop_sender
	if [ "$got" != 5 ]; then
		cat "$work/race$round.err" "$out"
		fail "round $round: exit status $got after restore under signals, want 5"
	fi
	[ "$(grep -c '^ready$' "$out")" = 1 ] || fail "round $round: restored process started over"
	grep -q "^pending before unblock: usr2 1, rtmin 1$" "$out" || fail "round $round: pending signals"
	grep -q "^delivered after unblock: usr2 1, rtmin 3 in order 1$" "$out" ||
		fail "round $round: pending signals not delivered exactly once"
	grep -q "usr1 handled 1, alarm handled 1, pid stable 1" "$out" ||
		fail "round $round: handlers after restore"
done
echo "ok 3 rounds: restored under a SIGUSR1 storm and a 1 ms timer, pending signals intact, exit 5"
