#!/usr/bin/env bash
# mig_stdin.sh - issue 6: stdin reaches a process running away from home exactly once, in
# order, across real link cuts and a move. On a 3-node lab, a generator on node1 pipes 12 MB of
# numbered lines, paced over ~8 s, into `grun -n node2` of a reader that counts and hashes its
# stdin (sha256) and prints "bytes hash" at EOF. Meanwhile the link node1 <-> node2 is cut
# twice for 3.6 s (nftables: longer than the lab's down_ms of 3 s, so both daemons close their
# SSH session with what it had queued or in flight; shorter than the 6 s after which node1
# takes node2 for dead), then, stdin still flowing, `gmigrate` moves the reader to node3 and
# then home (what a pipe held unread at the freeze must reach the next holder; the reader is
# slower than the generator, so it holds some). Checked: both cuts closed the link; the reader
# ran on node2, then on node3; both moves succeeded; the reader's count and hash equal the local
# run's; grun exits 0.
# SSI_KEEP_LOGS=PREFIX: on failure keep the nodes' logs as PREFIX.nodeN.log
# Exit 0 pass, 77 skip (reason on the last line), else fail. Always removes its lab (trap).
set -u -o pipefail
. "$(dirname "$0")/lib.bash"
lab_init mig-stdin-$$
need_lab_host
need_bins ssid ssictl grun gmigrate
keep_logs() {
	[ $fails -gt 0 ] && [ -n "${SSI_KEEP_LOGS:-}" ] || return 0
	for k in 1 2 3; do cp "$LAB_DIR/node$k/ssid.log" "$SSI_KEEP_LOGS.node$k.log" 2>/dev/null; done
	cp "$work/grun.err" "$SSI_KEEP_LOGS.err.txt" 2>/dev/null
}
lab_before_down keep_logs
lab_trap
lab_work /var/tmp/mig-stdin-work-$$

# The generator: 300,000 lines of 40 bytes in batches of 2,500, one batch every 60 ms (PACE=0:
# at once). The reader: byte count and sha256 of all of its stdin.
cat >"$work/gen.py" <<'EOF'
import os, sys, time
out, pace = sys.stdout.buffer, float(os.environ.get("PACE", "0.06"))
for i in range(0, 300000, 2500):
    out.write(b"".join(b"%08d the quick brown fox jumps over\n" % j for j in range(i, i + 2500)))
    out.flush()
    time.sleep(pace)
EOF
cat >"$work/reader.py" <<'EOF'
import hashlib, sys, time
h, n, inp = hashlib.sha256(), 0, sys.stdin.buffer
while True:
    b = inp.read1(16384)
    if not b:
        break
    time.sleep(0.012)  # ~1.3 MB/s, slower than the generator: its pipe is not empty
    h.update(b)
    n += len(b)
print(n, h.hexdigest(), flush=True)
EOF
ref=$(PACE=0 python3 "$work/gen.py" | python3 "$work/reader.py")
[ "${ref%% *}" = 12000000 ] || { bad "the generator and reader do not run here: '$ref'"; exit 1; }

lab_up -n 3
# Reconnect quickly once a cut heals (default up to 5 s): back within the 6 s.
for k in 1 2 3; do printf 'reconnect_min_ms = 100\nreconnect_max_ms = 300\n' >>"$LAB_DIR/node$k/etc/ssid.conf"; done
for k in 1 2 3; do L restart $k >/dev/null || { bad "restarting node$k"; exit 1; }; done
up_at1() { [ "$(lab_state 1 node2)" = up ] && [ "$(lab_state 1 node3)" = up ]; }
wait_until 15 0.2 up_at1 || { bad "node2, node3 not up at node1"; exit 1; }
log1=$LAB_DIR/node1/ssid.log

# Under `make san` grun's pre-exec child carries ASan's sparse shadow mappings, too big to
# checkpoint within the freeze time-out: grun starts the reader at home and the exec'd python3
# is moved to node2 with gmigrate instead.
place="-n node2"
[ -n "${SSI_SANITIZED:-}" ] && place="" &&
	echo "note: sanitizer build: started at home by grun and moved by gmigrate instead of grun -n node2"
( X_TIMEOUT=100 X 1 bash -c "python3 $work/gen.py | GRUN_VERBOSE=1 grun $place python3 \
	$work/reader.py >$work/out.txt 2>$work/grun.err; echo \$? >$work/rc" ) &
runner=$!
lab_on_exit "kill $runner 2>/dev/null"
gpid=$(grun_gpid "$work/grun.err") || { bad "grun printed no gpid: $(cat "$work/grun.err" 2>/dev/null)"; exit 1; }
if [ -n "${SSI_SANITIZED:-}" ]; then
	wait_until 5 0.05 exec_done "$gpid" && X_TIMEOUT=30 X 1 gmigrate "$gpid" node2 >/dev/null 2>&1 ||
		bad "sanitizer build: gmigrate $gpid node2"
fi
running() { [ ! -s "$work/rc" ]; }
on2() { [ "$(lab_where python3 2 3)" = 2 ]; }
wait_until 10 0.1 on2 && ok "gpid $gpid reads its stdin on node2" || bad "the reader runs on: $(lab_where python3 2 3)"
sleep 1

for cut in 1 2; do
	cut_closes 1 2 3.6 "cut $cut (3.6 s)" || break
	sleep 1
done

running || bad "the reader ended before the move (slow machine?): $(cat "$work/out.txt")"
j=$(X 1 gmigrate --json "$gpid" node3 2>&1)
[[ $j == *'"outcome": "moved"'* ]] && ok "moved to node3 while reading: $j" || bad "gmigrate $gpid node3: $j"
left=$(grep "gpid $gpid: stdin: the process read to offset" "$LAB_DIR/node2/ssid.log" | tail -1)
echo "info node2: ${left:-its pipe was empty when it was frozen}"
on3() { [ "$(lab_where python3 2 3)" = 3 ]; }
running && { on3 && ok "it reads on node3 now" || bad "the reader runs on: $(lab_where python3 2 3)"; }
# And home, still reading: node1 itself becomes the holder (its stdin pipe written by node1's
# ssid), and what node3's pipe held unread comes back.
sleep 2
running || bad "the reader ended before the move home (slow machine?): $(cat "$work/out.txt")"
j=$(X 1 gmigrate --json "$gpid" home 2>&1)
[[ $j == *'"outcome": "moved"'* ]] && ok "moved home while reading: $j" || bad "gmigrate $gpid home: $j"
left=$(grep "gpid $gpid: stdin: the process read to offset" "$LAB_DIR/node3/ssid.log" | tail -1)
echo "info node3: ${left:-its pipe was empty when it was frozen}"

wait_until 40 0.2 test -s "$work/rc" || bad "grun did not end within 40 s of the move"
rc=$(cat "$work/rc" 2>/dev/null)
[ "$rc" = 0 ] && ok "grun exits 0" || bad "grun's status: '$rc' ($(tail -3 "$work/grun.err" | tr '\n' ' '))"
got=$(cat "$work/out.txt" 2>/dev/null)
[ "$got" = "$ref" ] && ok "the reader got all 12 MB of its stdin once, in order: $got" ||
	bad "the reader got '$got', want '$ref'"
finish "stdin across link cuts and a move" tail -n 30 "$log1"
