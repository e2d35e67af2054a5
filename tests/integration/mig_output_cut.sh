#!/usr/bin/env bash
# mig_output_cut.sh - issue 6: the output of a process running away from home reaches its pipe
# at home exactly once, in order, across real link cuts. On a 2-node lab, `grun -n node2` on
# node1 starts a writer that prints 200,000 numbered lines (5.6 MB) to stdout and 10 lines to
# stderr over about 14 s; meanwhile the link node1 <-> node2 is cut twice for 3.6 s (nftables:
# longer than the lab's down_ms of 3 s, so both daemons close their SSH session with whatever
# it had queued or in flight, shorter than the 6 s after which the home takes node2 for dead);
# then, output still flowing, `gmigrate` moves it home (node2 hands its output over first).
# Checked: both cuts really closed the link (node1's log); the move succeeds; the stdout at
# home is byte-identical to an unmigrated run; stderr has its 10 lines once each, in order; grun exits with the
# writer's status (3).
# SSI_KEEP_LOGS=PREFIX: on failure keep the nodes' logs and the output as PREFIX.*
# Exit 0 pass, 77 skip (reason on the last line), else fail. Always removes its lab (trap).
set -u -o pipefail
. "$(dirname "$0")/lib.bash"
lab_init mig-ocut-$$
need_lab_host
need_bins ssid ssictl grun gmigrate
keep_logs() {
	[ $fails -gt 0 ] && [ -n "${SSI_KEEP_LOGS:-}" ] || return 0
	for k in 1 2; do cp "$LAB_DIR/node$k/ssid.log" "$SSI_KEEP_LOGS.node$k.log" 2>/dev/null; done
	cp "$work/out.txt" "$SSI_KEEP_LOGS.out.txt" 2>/dev/null
	cp "$work/grun.err" "$SSI_KEEP_LOGS.err.txt" 2>/dev/null
}
lab_before_down keep_logs
lab_trap
lab_work /var/tmp/mig-ocut-work-$$

# The writer: 400 batches of 500 lines, one batch every 35 ms; a line to stderr every 20,000.
cat >"$work/writer.py" <<'EOF'
import sys, time
out, err = sys.stdout.buffer, sys.stderr.buffer
for i in range(0, 200000, 500):
    out.write(b"".join(b"%07d the quick brown fox\n" % j for j in range(i, i + 500)))
    out.flush()
    if i % 20000 == 0:
        err.write(b"err %d\n" % i)
        err.flush()
    time.sleep(0.035)
sys.exit(3)
EOF
python3 "$work/writer.py" >"$work/ref.txt" 2>"$work/ref.err"
[ $? = 3 ] && [ "$(wc -l <"$work/ref.txt")" = 200000 ] || { bad "the writer does not run here"; exit 1; }

lab_up -n 2
# Reconnect quickly once a cut heals (default up to 5 s): back within the 6 s.
for k in 1 2; do printf 'reconnect_min_ms = 100\nreconnect_max_ms = 300\n' >>"$LAB_DIR/node$k/etc/ssid.conf"; done
L restart 1 >/dev/null && L restart 2 >/dev/null || { bad "restarting the nodes"; exit 1; }
node2_up() { [ "$(lab_state 1 node2)" = up ]; }
wait_until 15 0.2 node2_up || { bad "node2 not up at node1"; exit 1; }
log1=$LAB_DIR/node1/ssid.log

# Under `make san` grun's pre-exec child carries ASan's sparse shadow mappings, too big to
# checkpoint within the freeze time-out: grun starts it at home and the exec'd python3 is moved
# to node2 with gmigrate instead.
place="-n node2"
[ -n "${SSI_SANITIZED:-}" ] && place="" &&
	echo "note: sanitizer build: started at home by grun and moved by gmigrate instead of grun -n node2"
( X_TIMEOUT=90 X 1 bash -c "GRUN_VERBOSE=1 grun $place python3 $work/writer.py 2>$work/grun.err \
	| cat >$work/out.txt; echo \${PIPESTATUS[0]} >$work/rc" ) &
runner=$!
lab_on_exit "kill $runner 2>/dev/null"
gpid=$(grun_gpid "$work/grun.err") || { bad "grun printed no gpid: $(cat "$work/grun.err" 2>/dev/null)"; exit 1; }
if [ -n "${SSI_SANITIZED:-}" ]; then
	wait_until 5 0.05 exec_done "$gpid" && X_TIMEOUT=30 X 1 gmigrate "$gpid" node2 >/dev/null 2>&1 ||
		bad "sanitizer build: gmigrate $gpid node2"
fi
size() { stat -c %s "$work/out.txt" 2>/dev/null || echo 0; }
out_over() { [ "$(size)" -gt "$1" ]; } # out_over BYTES: stdout at home has more
wait_until 15 0.05 out_over 300000 || { bad "no output from gpid $gpid"; exit 1; }
w=$(lab_where python3 1 2)
[ "$w" = 2 ] && ok "gpid $gpid runs on node2, its output flows to node1" || bad "the writer runs on: $w"

for cut in 1 2; do
	s0=$(size)
	cut_closes 1 2 3.6 "cut $cut (3.6 s, at $((s0 / 1000)) kB of output)" || break
	# Output flows again: more than was there at the heal.
	s1=$(size)
	wait_until 10 0.1 out_over "$s1" || [ -s "$work/rc" ] || bad "no output after cut $cut healed"
	sleep 0.5
done

# A move while it prints: what node2 read from its pipes reaches home before what it prints
# at home.
j=$(X 1 gmigrate --json "$gpid" home 2>&1)
if [[ $j == *'"outcome": "moved"'* ]]; then
	ok "moved home at $(($(size) / 1000)) kB of output: $j"
elif [ -s "$work/rc" ]; then
	bad "the writer ended before the move (slow machine?): $j"
else
	bad "gmigrate $gpid home: $j"
fi

wait_until 40 0.2 test -s "$work/rc" || bad "grun did not end within 40 s of the last heal"
rc=$(cat "$work/rc" 2>/dev/null)
[ "$rc" = 3 ] && ok "grun exits with the writer's status 3" || bad "grun's status: '$rc'"
if cmp -s "$work/ref.txt" "$work/out.txt"; then
	ok "stdout at home: $(wc -l <"$work/out.txt") lines, byte-identical to the unmigrated run"
else
	n=$(wc -l <"$work/out.txt")
	u=$(sort "$work/out.txt" | uniq -d | wc -l)
	bad "stdout differs from the unmigrated run: $n lines (want 200000), $u repeated, first difference: $(cmp "$work/ref.txt" "$work/out.txt" 2>&1 | head -1)"
fi
if [ "$(grep '^err ' "$work/grun.err")" = "$(cat "$work/ref.err")" ]; then
	ok "stderr at home: its 10 lines once each, in order"
else
	bad "stderr: $(grep -c '^err ' "$work/grun.err") lines: $(grep '^err ' "$work/grun.err" | tr '\n' ' ')"
fi
finish "output across link cuts" tail -n 30 "$log1"
