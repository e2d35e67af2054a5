#!/usr/bin/env bash
# mig_anywhere.sh - gmigrate from any node (issue 6: a single-system image does not care where a
# command is typed). 3-node lab; a program started with grun on node1 prints numbered lines into
# a pipe while gmigrate, typed on other nodes, moves it: on node3 to node2, on node2 to node3 (on
# a terminal: the progress lines), on node3 back home. After each move it runs on exactly the
# target (that node's own /proc). The output is byte-identical to an unmigrated run, the exit
# status (7) arrives at grun on node1, `ssictl history` on node1 lists the three moves. Refused,
# with exit 1 and the process left where it is: ssiuser moving root's process from node3
# ("Operation not permitted"), a move to where it already runs; an unknown gpid (home node1, or
# a home not in the cluster) gives a clear error, and so does a home cut off (ssi-lab cut).
# Exit 0 pass, 77 skip (reason on the last line), else fail. Always removes its lab (trap).
set -u -o pipefail
. "$(dirname "$0")/lib.bash"
ticker=$build/tests/progs/mig_ticker
lab_init mig-anywhere-$$

need_lab_host su script
need_bins ssid ssictl grun gmigrate
[ -x "$ticker" ] || skip "no $ticker: run make"
lab_trap
lab_work /var/tmp/mig-anywhere-work-$$
# refused WHAT NODE EXPECT CMD...: CMD (a gmigrate on NODE) exits 1 saying EXPECT
refused() {
	local what=$1 node=$2 expect=$3 msg rc
	shift 3
	msg=$(X "$node" "$@" 2>&1)
	rc=$?
	if [ $rc -eq 1 ] && [[ $msg == *"$expect"* ]]; then
		ok "$what (node$node): exit 1, '$msg'"
	else
		bad "$what (node$node): rc $rc, '$msg' (expected exit 1 and '$expect')"
	fi
}

t0=$(now)
lab_up -n 3
wait_sees 3 1
wait_sees 2 1

start_piped_run "$ticker" 80 100
ok "grun started gpid $gpid on node1"

# Refusals first, while it runs at home: none of them may move it.
refused "ssiuser moves root's process" 3 "Operation not permitted" \
	su ssiuser -s /bin/sh -c "gmigrate $gpid node2"
refused "unknown gpid at node1" 3 "no process with gpid $((gpid + 1)) was started by grun on node1" \
	gmigrate $((gpid + 1)) node2
refused "gpid of a node not in the cluster" 3 "node 9, its home, is not connected" \
	gmigrate $((9 << 22 | 5)) node2
w=$(lab_where mig_ticker)
[ "$w" = 1 ] && ok "after the refusals it still runs on node1 only" || bad "after the refusals it runs on: $w"

# node3: to node2, with --json
j=$(X 3 gmigrate --json "$gpid" node2)
rc=$?
v=$(python3 -c '
import json, sys
d = json.loads(sys.argv[1])
print(d["outcome"], d["from"], d["to"], d["bytes"] > 0, d["total_ms"] >= 0, d["error"] == "")' "$j" 2>&1)
[ $rc -eq 0 ] && [ "$v" = "moved 1 2 True True True" ] && ok "node3: gmigrate --json $gpid node2: $j" ||
	bad "node3: gmigrate --json $gpid node2: rc $rc, $j ($v)"
w=$(lab_where mig_ticker)
[ "$w" = 2 ] && ok "it runs on node2 only" || bad "after the move to node2 it runs on: $w"

# node2, where it runs: to node2 is a no-op
refused "move to where it runs" 2 "gpid $gpid already runs on node 2" gmigrate "$gpid" node2

# node2: to node3, on a terminal (progress lines)
X 2 script -qec "exec gmigrate $gpid node3" /dev/null >"$work/tty.txt" 2>&1
rc=$?
t=$(tr '\r' '\n' <"$work/tty.txt")
if [ $rc -eq 0 ] && [[ $t == *"gmigrate: offering gpid $gpid to node 3"* ]] &&
	[[ $t == *"restored on node 3"* ]] && [[ $t == *"gpid $gpid moved from node 2 to node 3"* ]]; then
	ok "node2: gmigrate $gpid node3 on a terminal: progress and result shown"
else
	bad "node2: gmigrate $gpid node3 on a terminal: rc $rc: $(printf '%s' "$t" | tr -d '\033' | tail -5)"
fi
w=$(lab_where mig_ticker)
[ "$w" = 3 ] && ok "it runs on node3 only" || bad "after the move to node3 it runs on: $w"

# node3, where it runs: back home
msg=$(X 3 gmigrate "$gpid" home 2>&1)
rc=$?
[ $rc -eq 0 ] && [[ $msg == *"moved from node 3 to node 1"* ]] && ok "node3: gmigrate $gpid home: $msg" ||
	bad "node3: gmigrate $gpid home: rc $rc, '$msg'"
w=$(lab_where mig_ticker)
[ "$w" = 1 ] && ok "it runs on node1 only" || bad "after the move home it runs on: $w"

check_piped_run $runner "on node1"

n=$(history_moves 1 "$gpid")
[ "$n" = "3 1>2 2>3 3>1" ] && ok "ssictl history on node1: 3 moves ok: ${n#3 }" || bad "ssictl history on node1: $n"

# The home cut off from the asking node: gmigrate there ends with a clear error, not a hang.
L cut 1 3 >/dev/null || bad "ssi-lab cut 1 3"
t1=$(now)
j=$(X 3 gmigrate --json "$gpid" node2 2>"$work/cut.err")
rc=$?
msg=$(cat "$work/cut.err")
if [ $rc -eq 1 ] && [[ $msg == *"node 1"* ]] &&
	{ [[ $msg == *"did not answer"* && $j == *'"outcome": "unknown"'* ]] ||
		[[ $msg == *"not connected"* && $j == *'"outcome": "refused"'* ]]; }; then
	ok "home cut off from node3: exit 1 after $(ms "$t1") ms: '$msg' $j"
else
	bad "home cut off from node3: rc $rc after $(ms "$t1") ms: '$msg' $j"
fi
L heal 1 3 >/dev/null
echo "($(ms "$t0") ms)"

finish "mig_anywhere" tail -n 30 "$LAB_DIR/node1/ssid.log" "$LAB_DIR/node3/ssid.log"
