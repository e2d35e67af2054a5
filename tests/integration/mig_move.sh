#!/usr/bin/env bash
# mig_move.sh - issue 6, first migration end to end on a 3-node lab: a program started with
# grun on node1 prints numbered lines into a pipe while gmigrate moves it 1 -> 2 -> 3 -> home.
# After each move it runs on exactly one node, the target (seen in that node's own /proc);
# the output is byte-identical to an unmigrated run; its exit status (7) arrives at grun;
# gps and /gproc on node1 show it on its new node under its gpid after each move;
# `ssictl history` on node1 lists the three moves as ok. A non-owner cannot move it; a
# user can move their own process.
# Exit 0 pass, 77 skip (reason on the last line), else fail. Always removes its lab (trap).
set -u -o pipefail
. "$(dirname "$0")/lib.bash"
lab_init mig-move-$$
ticker=$build/tests/progs/mig_ticker
need_lab_host --no-nft su
need_bins ssid ssictl grun gmigrate "$ticker"
# SSI_KEEP_LOGS=PREFIX: on failure keep the nodes' ssid logs and the output as PREFIX.*
keep_logs() {
	[ $fails -gt 0 ] && [ -n "${SSI_KEEP_LOGS:-}" ] || return 0
	for k in 1 2 3; do cp "$SSI_LAB_DIR/node$k/ssid.log" "$SSI_KEEP_LOGS.node$k.log"; done
	cp "$work/out.txt" "$SSI_KEEP_LOGS.out.txt"
}
lab_before_down keep_logs
lab_trap
lab_work /var/tmp/mig-move-work-$$

lab_up -n 3
sleep 1.5 # links up

# 1. The move 1 -> 2 -> 3 -> home while printing into a pipe.
start_piped_run "$ticker" 80 100
ok "grun started gpid $gpid on node1"
w=$(lab_where mig_ticker)
[ "$w" = 1 ] && ok "before any move it runs on node1 only" || bad "before any move it runs on: $w"

# A non-owner may not move it (it belongs to root).
msg=$(as_ssiuser 1 "gmigrate $gpid node2" 2>&1)
rc=$?
if [ $rc -ne 0 ] && [[ $msg == *"Operation not permitted"* ]]; then
	ok "ssiuser cannot move root's process: $msg"
else
	bad "non-owner move: rc $rc, '$msg'"
fi

for step in "node2 2" "node3 3" "home 1"; do
	set -- $step
	j=$(X 1 gmigrate --json "$gpid" "$1")
	rc=$?
	if [ $rc -eq 0 ] && [[ $j == *'"outcome": "moved"'* ]]; then
		ok "gmigrate $gpid $1: $j"
	else
		bad "gmigrate $gpid $1: rc $rc: $j"
	fi
	w=$(lab_where mig_ticker)
	[ "$w" = "$2" ] && ok "after the move to $1 it runs on node$2 only" ||
		bad "after the move to $1 it runs on: $w (expected node$2 only)"
	# gps and /gproc on node1 show it on its new node under the same gpid, once
	seen="" gn=""
	for _ in $(seq 40); do
		seen=$(X 1 gps -e -o gpid,node,home --no-headers 2>/dev/null |
			awk -v g="$gpid" '$1 == g' | tr -s ' ' | sed 's/^ //')
		gn=$(X 1 cat "/gproc/$gpid/node" 2>/dev/null)
		[ "$(printf '%s\n' "$seen" | grep -c .)" = 1 ] && [[ $seen == "$gpid node$2 node1" ]] &&
			[[ $gn == *"$2"* ]] && break
		sleep 0.1
	done
	[ "$(printf '%s\n' "$seen" | grep -c .)" = 1 ] && [[ $seen == "$gpid node$2 node1" ]] &&
		ok "gps on node1: '$seen' (same gpid, once)" ||
		bad "gps on node1 after the move to $1: '$seen' (expected '$gpid node$2 node1', once)"
	[[ $gn == *"$2"* ]] && ok "/gproc/$gpid/node on node1: $gn" ||
		bad "/gproc/$gpid/node on node1 after the move to $1: '$gn'"
done

check_piped_run $runner

# 2. A user moves their own process (and it keeps its uid there).
( as_ssiuser 1 "GRUN_VERBOSE=1 grun $ticker 30 100" 2>"$work/u.err" >"$work/u.out"
	echo $? >"$work/u.rc" ) &
ugpid=$(grun_gpid "$work/u.err")
msg=$(as_ssiuser 1 "gmigrate $ugpid node3" 2>&1)
owner=$(X 3 ps -o user= -C mig_ticker 2>/dev/null | tr -d ' ')
[ "$owner" = ssiuser ] && ok "ssiuser moved their own gpid $ugpid to node3, where it runs as ssiuser" ||
	bad "ssiuser's own move: '$msg', owner on node3: '$owner'"
wait_until 10 0.1 test -s "$work/u.rc"
"$ticker" 30 0 >"$work/u.ref"
cmp -s "$work/u.ref" "$work/u.out" && [ "$(cat "$work/u.rc")" = 7 ] &&
	ok "ssiuser's process: output identical, exit status 7" ||
	bad "ssiuser's process: rc $(cat "$work/u.rc" 2>/dev/null), output differs"

# 3. The history at home.
n=$(history_moves 1 "$gpid")
[ "$n" = "3 1>2 2>3 3>1" ] && ok "ssictl history: 3 moves ok: ${n#3 }" || bad "ssictl history: $n"
X 1 ssictl history "$gpid"

finish mig_move
