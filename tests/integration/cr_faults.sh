#!/usr/bin/env bash
# cr_faults.sh - every failure path of checkpoint and restore, driven by the named fault
# points (SSI_FAULT, migrate/fault.h): a checkpoint failing after its state was read or
# after the pages were written leaves the process running with unchanged output; a restore
# failing after the mappings, after PR_SET_MM_MAP or just before the process would run
# leaves no process behind, and the same image restores fine afterwards.
. "$(dirname "$0")/cr_common.bash"
"$PROGS/counter" 40 40000000 >"$work/ref.out"
for point in checkpoint.after_collect checkpoint.after_pages; do
	(cd "$work" && cr_exec_clean "$PROGS/counter" 40 40000000) </dev/null >"$work/c.out" &
	pid=$!
	cr_pids+=("$pid")
	rand_sleep 0.2 0.6
	SSI_FAULT=$point "$SSICTL" checkpoint "$pid" -o "$work/f.img" --kill 2>"$work/f.err" &&
		fail "$point: checkpoint succeeded"
	grep -q "fault injected at $point" "$work/f.err" || { cat "$work/f.err"; fail "$point: message"; }
	[ -e "$work/f.img" ] && fail "$point: image file left behind"
	wait "$pid"
	[ $? = 3 ] || fail "$point: process did not run on"
	cmp "$work/ref.out" "$work/c.out" || fail "$point: output changed"
	echo "ok $point: process ran on unchanged"
done
(cd "$work" && cr_exec_clean "$PROGS/counter" 40 40000000) </dev/null >"$work/r.out" &
pid=$!
cr_pids+=("$pid")
rand_sleep 0.2 0.6
"$SSICTL" checkpoint "$pid" -o "$work/r.img" --kill || fail "checkpoint"
wait "$pid" 2>/dev/null
for point in restore.after_map restore.after_mm restore.before_run; do
	SSI_FAULT=$point "$SSICTL" restore "$work/r.img" --wait </dev/null >/dev/null 2>"$work/r.err" &&
		fail "$point: restore succeeded"
	grep -q "fault injected at $point" "$work/r.err" || { cat "$work/r.err"; fail "$point: message"; }
	sleep 0.1
	[ -e "/proc/$pid" ] && fail "$point: a process with pid $pid is left"
	echo "ok $point: nothing left behind"
done
"$SSICTL" restore "$work/r.img" --wait </dev/null >>"$work/r.out" 2>/dev/null
[ $? = 3 ] || fail "restore after the failed attempts"
cmp "$work/ref.out" "$work/r.out" || fail "output after the failed attempts"
echo "ok the image restores after the failed attempts"
