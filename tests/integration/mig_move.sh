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
top=${SSI_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${SSI_BIN:-$top/bin}
build=${SSI_BUILD:-$top/build}
case $build in /*) ;; *) build=$top/$build ;; esac
lab=$bin/ssi-lab
[ -x "$lab" ] || lab=$top/tools/ssi-lab.sh
export SSI_BIN=$bin SSI_TOP=$top SSI_LAB_NAME=mig-move-$$ SSI_LAB_DIR=/var/tmp/mig-move-$$
work=/var/tmp/mig-move-work-$$ # outside the nodes' private /tmp: every node sees it
ticker=$build/tests/progs/mig_ticker

skip() { echo "$*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (namespaces, mounts, cgroups, ptrace)"
for t in nsenter unshare ip python3 su; do command -v $t >/dev/null || skip "needs $t"; done
for p in ssid ssictl grun gmigrate; do [ -x "$bin/$p" ] || skip "no $bin/$p: run make"; done
[ -x "$ticker" ] || skip "no $ticker: run make"
[ -e /run/netns/$SSI_LAB_NAME ] && skip "a lab named $SSI_LAB_NAME is already up; not touching it"

fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
L() { timeout 60 bash "$lab" "$@"; }
X() { local n=$1; shift; timeout 20 bash "$lab" exec "$n" -- "$@"; }
cleanup() {
	if [ $fails -gt 0 ] && [ -n "${SSI_KEEP_LOGS:-}" ]; then
		for k in 1 2 3; do cp "$SSI_LAB_DIR/node$k/ssid.log" "$SSI_KEEP_LOGS.node$k.log"; done
		cp "$work/out.txt" "$SSI_KEEP_LOGS.out.txt"
	fi
	bash "$lab" down >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
mkdir -p "$work" && chmod 755 "$work"

L up -n 3 >/dev/null || { bad "ssi-lab up -n 3"; exit 1; }
sleep 1.5 # links up

# where: the nodes whose own /proc shows the ticker (by its full command line)
where() {
	local k out=""
	for k in 1 2 3; do
		X $k pgrep -x mig_ticker >/dev/null && out="$out$k"
	done
	echo "${out:-none}"
}

# 1. The move 1 -> 2 -> 3 -> home while printing into a pipe.
lines=80
"$ticker" $lines 0 >"$work/ref.txt"
echo "$?" >"$work/ref.rc"
( X 1 bash -c "GRUN_VERBOSE=1 grun $ticker $lines 100 2>$work/grun.err | cat >$work/out.txt; \
	echo \${PIPESTATUS[0]} >$work/rc" ) &
runner=$!
for _ in $(seq 50); do grep -q 'gpid' "$work/grun.err" 2>/dev/null && break; sleep 0.1; done
gpid=$(sed -n 's/^grun: gpid \([0-9]*\)$/\1/p' "$work/grun.err")
[ -n "$gpid" ] || { bad "grun printed no gpid: $(cat "$work/grun.err" 2>/dev/null)"; exit 1; }
ok "grun started gpid $gpid on node1"
w=$(where)
[ "$w" = 1 ] && ok "before any move it runs on node1 only" || bad "before any move it runs on: $w"

# A non-owner may not move it (it belongs to root).
msg=$(X 1 su ssiuser -s /bin/sh -c "gmigrate $gpid node2" 2>&1)
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
	w=$(where)
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

wait $runner
if cmp -s "$work/ref.txt" "$work/out.txt"; then
	ok "output through the pipe identical to an unmigrated run ($(wc -l <"$work/out.txt") lines)"
else
	bad "output differs from an unmigrated run: $(diff "$work/ref.txt" "$work/out.txt" | head -5)"
fi
rc=$(cat "$work/rc" 2>/dev/null)
[ "$rc" = "$(cat "$work/ref.rc")" ] && ok "exit status $rc arrived at grun" ||
	bad "grun exited $rc, expected $(cat "$work/ref.rc")"

# 2. A user moves their own process (and it keeps its uid there).
( X 1 su ssiuser -s /bin/sh -c "GRUN_VERBOSE=1 grun $ticker 30 100" 2>"$work/u.err" >"$work/u.out"
	echo $? >"$work/u.rc" ) &
for _ in $(seq 50); do grep -q 'gpid' "$work/u.err" 2>/dev/null && break; sleep 0.1; done
ugpid=$(sed -n 's/^grun: gpid \([0-9]*\)$/\1/p' "$work/u.err")
msg=$(X 1 su ssiuser -s /bin/sh -c "gmigrate $ugpid node3" 2>&1)
owner=$(X 3 ps -o user= -C mig_ticker 2>/dev/null | tr -d ' ')
[ "$owner" = ssiuser ] && ok "ssiuser moved their own gpid $ugpid to node3, where it runs as ssiuser" ||
	bad "ssiuser's own move: '$msg', owner on node3: '$owner'"
for _ in $(seq 100); do [ -s "$work/u.rc" ] && break; sleep 0.1; done
"$ticker" 30 0 >"$work/u.ref"
cmp -s "$work/u.ref" "$work/u.out" && [ "$(cat "$work/u.rc")" = 7 ] &&
	ok "ssiuser's process: output identical, exit status 7" ||
	bad "ssiuser's process: rc $(cat "$work/u.rc" 2>/dev/null), output differs"

# 3. The history at home.
h=$(X 1 ssictl history --json "$gpid")
n=$(python3 -c '
import json, sys
v = json.loads(sys.argv[1])
print(sum(1 for m in v if m["outcome"] == "ok"), " ".join("%d>%d" % (m["from"], m["to"]) for m in reversed(v)))' "$h" 2>&1)
[ "$n" = "3 1>2 2>3 3>1" ] && ok "ssictl history: 3 moves ok: ${n#3 }" || bad "ssictl history: $n"
X 1 ssictl history "$gpid"

[ $fails -eq 0 ] || { echo "$fails check(s) failed"; exit 1; }
exit 0
