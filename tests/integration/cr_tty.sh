#!/usr/bin/env bash
# cr_tty.sh - a process whose fds 0-2 are a terminal (a pty made by script(1)): checkpointed
# with --kill, restored by an `ssictl restore --wait` whose stdio is another pty; the restored
# process sees isatty(0/1/2) true and its output (stdout and stderr) arrives on the new
# terminal; the terminal output, less ssictl's "restored pid N" line, is byte-identical to
# an unmigrated run; same pid, same exit status.
. "$(dirname "$0")/cr_common.bash"
prog=$PROGS/crmisc
[ -x "$prog" ] || { echo "skip: $prog is not built"; exit 77; }
command -v script >/dev/null || { echo "skip: script(1) (util-linux) is missing"; exit 77; }

# The command script(1) runs on its pty: note the pid, close all but fds 0-2, exec crmisc.
# script(1) runs its command with $SHELL -c, and dash (root's /bin/sh under CI) does not exec a
# lone command: it would stay between script and crmisc and print "Killed" on the pty when
# --kill ends crmisc. Hence the explicit exec in both script(1) commands.
inner='echo $$ >"$1"; for f in /proc/$$/fd/*; do f=${f##*/}; [ "$f" -gt 2 ] && eval "exec $f>&-"; done; exec "$2" tty'
run_on_pty() { # PIDFILE: crmisc on a fresh pty, terminal output to stdout
	script -qec "exec bash -c '$inner' - '$1' '$prog'" /dev/null </dev/null
}

run_on_pty "$work/ref.pid" >"$work/tty.ref"
want=$?
[ "$want" = 7 ] || fail "unmigrated run on a pty exited $want, not 7"
grep -q "^after isatty 1 1 1"$'\r'"\$" "$work/tty.ref" || { cat -A "$work/tty.ref"; fail "unmigrated run: fds 0-2 not a terminal"; }

run_on_pty "$work/run.pid" >"$work/tty.out" &
spid=$!
cr_pids+=("$spid")
for _ in $(seq 50); do [ -s "$work/run.pid" ] && break; sleep 0.02; done
pid=$(cat "$work/run.pid") || fail "no pid from the run on a pty"
cr_pids+=("$pid")
rand_sleep 0.2 0.7
"$SSICTL" checkpoint "$pid" -o "$work/tty.img" --kill || fail "checkpoint of pid $pid on a pty failed"
wait "$spid" 2>/dev/null
before=$(wc -c <"$work/tty.out")
script -qec "exec '$SSICTL' restore '$work/tty.img' --wait" /dev/null </dev/null >>"$work/tty.out"
got=$?
# ssictl's own "restored pid N" (its stderr, the same pty) is in there once: take it out.
msg="restored pid $pid"$'\r'
n=$(grep -cxF -- "$msg" "$work/tty.out")
[ "$n" = 1 ] || { cat -A "$work/tty.out"; fail "expected one '$msg' line from ssictl restore, got $n"; }
grep -vxF -- "$msg" "$work/tty.out" >"$work/tty.prog"
cmp "$work/tty.ref" "$work/tty.prog" || {
	diff <(cat -A "$work/tty.ref") <(cat -A "$work/tty.prog") | head -20
	fail "terminal output differs from the unmigrated run (checkpoint after $before bytes)"
}
[ "$got" = "$want" ] || fail "exit status $got after restore on a pty, $want unmigrated"
echo "ok tty: isatty 0-2 after restore on a new pty, identical terminal output ($(wc -c <"$work/tty.ref") bytes, checkpoint after $before), exit $got"
