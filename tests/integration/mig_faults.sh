#!/usr/bin/env bash
# mig_faults.sh - issue 6, failures during a move on a 3-node lab, with the daemon's fault
# points (SSI_FAULT, migrate/fault.h) and ssi-lab crash. One process started with grun on
# node1 prints into a pipe while these moves are tried:
#   1 -> 2 fails before the last image chunk is sent (mig.after_stream on node1): the source
#          releases its frozen process, which runs on;
#   1 -> 2 fails at node2 before READY (mig.before_ready): same;
#   1 -> 2 fails at the home's durable commit record (mig.before_commit): same;
#   1 -> 2 succeeds;
#   2 -> 3 stalls at node3 before READY and node3 crashes: the home aborts once node3 is
#          dead (down for 2 x down_ms) and node2 releases the frozen process;
#   2 -> home succeeds.
# The whole matrix (every step x cut / crash source / crash destination) is mig_matrix.sh.
# Every failure is reported to gmigrate and in `ssictl history`; the process runs on one
# node at a time; output identical to an unmigrated run; exit status 7 arrives at grun.
# Exit 0 pass, 77 skip (reason on the last line), else fail. Always removes its lab (trap).
set -u -o pipefail
. "$(dirname "$0")/lib.bash"
lab_init mig-flt-$$
ticker=$build/tests/progs/mig_ticker
need_lab_host --no-nft
need_bins ssid ssictl grun gmigrate "$ticker"
# shellcheck disable=SC2034 # read by lib.bash's X: a move here may take longer than 20 s
X_TIMEOUT=30
lab_trap
lab_work /var/tmp/mig-flt-work-$$

L up -n 3 >/dev/null || { bad "ssi-lab up -n 3"; exit 1; }
SSI_FAULT="mig.after_stream:fail@1,mig.before_commit:fail@1" L restart 1 >/dev/null &&
	SSI_FAULT="mig.before_ready:fail@1" L restart 2 >/dev/null &&
	SSI_FAULT="mig.before_ready:stall" L restart 3 >/dev/null || { bad "restart with faults"; exit 1; }
sleep 3 # links up again

# move TARGET EXPECT(moved|failed) TEXT WHERE
move() {
	local j
	j=$(X 1 gmigrate --json "$gpid" "$1" 2>/dev/null)
	if [[ $j == *"\"outcome\": \"$2\""* ]] && [[ $j == *"$3"* ]]; then
		ok "gmigrate to $1: $2 ($3)"
	else
		bad "gmigrate to $1: expected $2 with '$3', got: $j"
	fi
	local w
	w=$(lab_where mig_ticker)
	[ "$w" = "$4" ] && ok "  then it runs on node$4 only" || bad "  then it runs on: $w (expected node$4)"
}

lines=200
"$ticker" $lines 0 >"$work/ref.txt"
( X 1 bash -c "GRUN_VERBOSE=1 grun $ticker $lines 100 2>$work/grun.err | cat >$work/out.txt; \
	echo \${PIPESTATUS[0]} >$work/rc" ) &
runner=$!
gpid=$(grun_gpid "$work/grun.err") || { bad "grun printed no gpid: $(cat "$work/grun.err" 2>/dev/null)"; exit 1; }

move node2 failed "fault injected at mig.after_stream" 1
move node2 failed "fault injected at mig.before_ready" 1
move node2 failed "fault injected at mig.before_commit" 1
move node2 moved "" 2

# 2 -> 3 with node3 stalling before READY, then node3 crashes.
X 1 gmigrate --json "$gpid" node3 >"$work/stall.json" 2>&1 &
mover=$!
for _ in $(seq 100); do grep -q 'fault mig.before_ready: stall' "$SSI_LAB_DIR/node3/ssid.log" && break; sleep 0.1; done
t0=$(now)
L crash 3 >/dev/null
wait $mover
took=$(ms "$t0")
j=$(cat "$work/stall.json")
[[ $j == *'"outcome": "failed"'* ]] && ok "2 -> 3 with node3 crashed before READY: failed after $took ms: $j" ||
	bad "2 -> 3 with node3 crashed: $j"
w=$(lab_where mig_ticker)
[ "$w" = 2 ] && ok "  then it runs on node2 only (restored there from its kept image)" ||
	bad "  after the crash it runs on: $w (expected node2)"
move home moved "" 1

wait $runner
cmp -s "$work/ref.txt" "$work/out.txt" &&
	ok "output identical to an unmigrated run ($(wc -l <"$work/out.txt") lines)" ||
	bad "output differs: $(diff "$work/ref.txt" "$work/out.txt" | head -5)"
rc=$(cat "$work/rc" 2>/dev/null)
[ "$rc" = 7 ] && ok "exit status 7 arrived at grun" || bad "grun exited $rc, expected 7"
h=$(X 1 ssictl history --json "$gpid")
n=$(python3 -c '
import json, sys
v = json.loads(sys.argv[1])
print(" ".join("%d>%d:%s" % (m["from"], m["to"], m["outcome"]) for m in reversed(v)))' "$h" 2>&1)
exp="1>2:failed 1>2:failed 1>2:failed 1>2:ok 2>3:failed 2>1:ok"
[ "$n" = "$exp" ] && ok "ssictl history: $n" || bad "ssictl history: $n (expected $exp)"

finish mig_faults
