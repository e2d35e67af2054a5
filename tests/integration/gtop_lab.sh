#!/usr/bin/env bash
# gtop_lab.sh - gtop (the cluster monitor) on a 3-node lab, through its batch and JSON output
# and once on a terminal. node1 lists node1..3 up with the CPUs their daemons report; a sleep
# placed on node2 by grun from node1 counts as node2's guest and node1's away (text and
# --json), and the counts follow it home after gmigrate; busy loops on node3 give it a higher
# load and process CPU% than an idle node; root sees the gmigrate in the migrations part, a
# user gets one line saying it needs root; the screen mode starts on a pty without TERM, draws
# the node names, follows a resize and exits on q or on SIGTERM; a crashed node3 reads down
# and gtop stays quick; with ssid stopped gtop says to start it and exits 1.
# Exit 0 pass, 77 skip (reason on the last line), else fail. Always removes its lab (trap).
set -u -o pipefail
. "$(dirname "$0")/lib.bash"
lab_init gtop-lab-$$
need_lab_host script su
need_bins ssid ssictl gprocfs grun gmigrate gtop

X() { local k=$1; shift; timeout 20 bash "$lab" exec "$k" -- "$@"; } # run in node K
work=$(mktemp -d /tmp/gtop_lab.XXXXXX)
lab_on_exit 'rm -rf "$work"'
lab_trap

# node_col FILE NODE N: column N of NODE's row in the last frame of a batch output FILE
# (columns: NODE STATE CPUS LOAD CPU% PRC% MEM PROCS GUESTS AWAY [bar]).
node_col() {
	awk -v n="$2" -v c="$3" '/^gtop / {v = ""} $1 == n && NF >= 10 {v = $c} END {print v}' "$1"
}
# jnode FILE NODE KEY: KEY of NODE in gtop --json output FILE ("absent" if not there).
jnode() {
	python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(next((n[sys.argv[3]] for n in d["nodes"] if n["name"] == sys.argv[2]), "absent"))' "$@" 2>/dev/null ||
		echo error
}

L up -n 3 >/dev/null || { bad "ssi-lab up -n 3"; exit 1; }

# 1. node1 lists node1..3 up, each with the CPUs its daemon reports.
all_up() {
	X 1 gtop -b -n 1 -t 0 -m 0 >"$work/f1" 2>"$work/e1" || return 1
	for k in 1 2 3; do [ "$(node_col "$work/f1" node$k 2)" = up ] || return 1; done
}
t0=$(now)
if wait_until 15 0.3 all_up; then
	ok "gtop -b -n 1 on node1 lists node1..3 up ($(ms "$t0") ms)"
else
	bad "gtop on node1 never showed node1..3 up: $(cat "$work/f1" "$work/e1")"
	exit 1
fi
good=1
for k in 1 2 3; do
	want=$(lab_field $k node$k cpus) # the node itself always knows its own
	got=$(node_col "$work/f1" node$k 3)
	[ "$got" = "$want" ] || { good=0; bad "node$k: gtop CPUS '$got', ssictl nodes on node$k says '$want'"; }
done
[ $good = 1 ] && ok "CPUS of node1..3 match each node's ssictl nodes ($(node_col "$work/f1" node1 3) each)"
grep -q '^gtop .* nodes 3/3 up' "$work/f1" && ok "header: nodes 3/3 up" ||
	bad "header without 'nodes 3/3 up': $(head -2 "$work/f1")"

# 2. grun -n node2 from node1: node2 has one guest, node1 one process away.
if [ -n "${SSI_SANITIZED:-}" ]; then
	# Under `make san` grun's pre-exec child carries ASan's sparse shadow mappings, too big to
	# checkpoint within the freeze time-out: start it at home and move the exec'd sleep.
	X 1 sh -c 'GRUN_VERBOSE=1 setsid grun sleep 7777 </dev/null >/dev/null 2>/tmp/gtop-grun.err &'
	wait_until 5 0.1 X 1 grep -q '^grun: gpid' /tmp/gtop-grun.err
	g=$(X 1 sed -n 's/^grun: gpid \([0-9]*\)$/\1/p' /tmp/gtop-grun.err)
	wait_until 5 0.05 exec_done "$g" && X 1 gmigrate "$g" node2 >/dev/null 2>&1 ||
		bad "sanitizer build: gmigrate $g node2 failed"
else
	X 1 sh -c 'setsid grun -n node2 sleep 7777 </dev/null >/dev/null 2>&1 &'
fi
placed() {
	X 1 gtop --json -t 0 >"$work/j2" 2>/dev/null &&
		[ "$(jnode "$work/j2" node2 guests)" = 1 ] && [ "$(jnode "$work/j2" node1 away)" = 1 ]
}
t0=$(now)
if wait_until 15 0.3 placed; then
	ok "--json: node2 guests 1, node1 away 1 after grun -n node2 ($(ms "$t0") ms)"
else
	bad "--json after grun -n node2: node2 guests '$(jnode "$work/j2" node2 guests)'," \
		"node1 away '$(jnode "$work/j2" node1 away)'"
fi
X 1 gtop -b -n 1 -t 0 -m 0 >"$work/f2"
g2=$(node_col "$work/f2" node2 9) a1=$(node_col "$work/f2" node1 10)
[ "$g2" = 1 ] && [ "$a1" = 1 ] && ok "text: node2 GUESTS 1, node1 AWAY 1" ||
	bad "text: node2 GUESTS '$g2', node1 AWAY '$a1'"
gpid=$(X 1 gtop -b -n 1 --node node2 -t 50 -m 0 |
	awk '$2 == "node2" && $3 == "node1" && $(NF - 1) == "sleep" && $NF == "7777" {print $1}')
[ -n "$gpid" ] && [ $((gpid >> 22)) = 1 ] &&
	ok "--node node2 lists the sleep: gpid $gpid, NODE node2, HOME node1" ||
	bad "--node node2 does not list the sleep with NODE node2 HOME node1 ('$gpid')"

# 3. Busy loops on node3: within a few frames its load and PRC% exceed idle node2's.
for _ in 1 2; do
	X 3 sh -c 'setsid timeout 40 sh -c "while :; do :; done" </dev/null >/dev/null 2>&1 &'
done
# busier: node3's load > node2's + 0.3 and its PRC% > node2's, in the last of 2 frames
busier() {
	X 1 gtop -b -n 2 -d 0.5 -t 0 -m 0 >"$work/f3" || return 1
	l3=$(node_col "$work/f3" node3 4) l2=$(node_col "$work/f3" node2 4)
	p3=$(node_col "$work/f3" node3 6) p2=$(node_col "$work/f3" node2 6)
	awk -v a="$l3" -v b="$l2" -v c="$p3" -v d="$p2" \
		'BEGIN {exit !(a != "-" && b != "-" && c != "-" && d != "-" && a > b + 0.3 && c > d)}'
}
t0=$(now)
if wait_until 12 0.2 busier; then
	ok "busy node3 above idle node2 after $(ms "$t0") ms: load $l3 > $l2, PRC% $p3 > $p2"
else
	bad "node3 (2 busy loops) not above node2 within 12 s: load $l3 vs $l2, PRC% $p3 vs $p2"
fi
X 3 pkill -f 'while :; do :; done'

# 4. Migrations: root sees the gmigrate (node2 -> node1) with outcome ok; a user one line.
if [ -n "$gpid" ] && X 1 gmigrate "$gpid" home >"$work/mig" 2>&1; then
	seen() {
		X 1 gtop -b -n 1 -t 0 >"$work/f4" &&
			awk -v g="$gpid" '$2 == g && $3 == "node2" && $4 == "node1" && $7 == "ok" {f = 1} END {exit !f}' "$work/f4"
	}
	wait_until 5 0.3 seen && ok "root: the migrations part shows $gpid node2 -> node1 ok" ||
		bad "root: gmigrate $gpid not in the migrations part: $(sed -n '/^MIGRATIONS/,$p' "$work/f4")"
	X 1 gtop --json -t 0 >"$work/j4"
	python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if any(m["gpid"] == int(sys.argv[2]) and m["from"] == "node2" and m["to"] == "node1"
                  and m["outcome"] == "ok" for m in d["migrations"]) else 1)' "$work/j4" "$gpid" &&
		ok "--json migrations has it too" || bad "--json migrations lacks $gpid node2 -> node1"
	[ "$(jnode "$work/j4" node2 guests)" = 0 ] && [ "$(jnode "$work/j4" node1 away)" = 0 ] &&
		ok "after the move home: node2 guests 0, node1 away 0" ||
		bad "after the move home: node2 guests '$(jnode "$work/j4" node2 guests)', node1 away '$(jnode "$work/j4" node1 away)'"
else
	bad "gmigrate $gpid home failed: $(cat "$work/mig" 2>/dev/null)"
fi
X 1 su ssiuser -s /bin/sh -c 'gtop -b -n 1 -t 0' >"$work/f5" 2>"$work/e5"
rc=$?
n=$(sed -n '/^MIGRATIONS/,$p' "$work/f5" | wc -l)
if [ $rc = 0 ] && [ "$n" = 2 ] && grep -q '^migrations: need root' "$work/f5" && [ ! -s "$work/e5" ]; then
	ok "as ssiuser: exit 0, one line: $(grep '^migrations:' "$work/f5")"
else
	bad "as ssiuser: rc $rc, migrations part: $(sed -n '/^MIGRATIONS/,$p' "$work/f5"), stderr: $(cat "$work/e5")"
fi

# 5. The screen, on a pty without TERM: draws the nodes, quits on q, and on SIGTERM.
(sleep 2; printf q) | X 1 env -u TERM script -qec gtop /dev/null >"$work/s1" 2>&1
rc=$?
if [ $rc = 0 ] && grep -q node1 "$work/s1" && grep -q node3 "$work/s1" && grep -q $'\e\[?1049l' "$work/s1"; then
	ok "screen mode: draws node1..node3, exits 0 on q and restores the terminal"
else
	bad "screen mode with q: rc $rc, $(wc -c <"$work/s1") bytes: $(tr -d '\033' <"$work/s1" | head -c 300)"
fi
# --foreground: timeout(1) would otherwise put gtop in a background process group, where
# any curses program stops on its first terminal write (SIGTTOU).
X 1 env -u TERM script -qec "exec timeout --foreground 3 gtop" /dev/null </dev/null >"$work/s2" 2>&1
rc=$?
if [ $rc = 124 ] && grep -q node2 "$work/s2" && grep -q $'\e\[?1049l' "$work/s2"; then
	ok "screen mode under timeout 3: drew node2, ended by SIGTERM with the terminal restored"
else
	bad "screen mode under timeout 3: rc $rc (124 expected), $(tr -d '\033' <"$work/s2" | head -c 300)"
fi

# A resize (the pty grows from 24 to 40 rows after 2 s): gtop redraws on the new rows.
X 1 env -u TERM script -qec "(sleep 2; stty rows 40 cols 132 </dev/tty) & exec timeout --foreground 4 gtop" \
	/dev/null </dev/null >"$work/s3" 2>&1
rc=$?
if [ $rc = 124 ] && grep -q $'\e\[1;24r' "$work/s3" && grep -q $'\e\[1;40r' "$work/s3" &&
	grep -Eq $'\e\\[(3[0-9]|40)(;[0-9]+H|d)' "$work/s3"; then
	ok "screen mode follows a resize from 24 to 40 rows (draws on rows 30-40)"
else
	bad "screen mode after a resize to 40 rows: rc $rc, no drawing below row 29"
fi

# 6. A crashed node reads down; every gtop run stays quick meanwhile.
L crash 3 >/dev/null
t0=$(now) worst=0 st=""
while [ "$(ms "$t0")" -lt 9000 ]; do
	t1=$(now)
	X 1 gtop -b -n 1 -t 3 -m 0 >"$work/f6" 2>&1 || bad "gtop failed after the crash: $(head -3 "$work/f6")"
	t=$(ms "$t1")
	[ "$t" -gt "$worst" ] && worst=$t
	st=$(node_col "$work/f6" node3 2)
	[ "$st" = down ] && break
	sleep 0.3
done
[ "$st" = down ] && ok "node3 reads down $(ms "$t0") ms after the crash" ||
	bad "node3 reads '$st' 9 s after the crash"
[ "$worst" -le 5000 ] && ok "each gtop -b -n 1 took at most $worst ms meanwhile" ||
	bad "a gtop -b -n 1 took $worst ms after the crash"
X 1 gtop --json -t 0 >"$work/j6" && [ "$(jnode "$work/j6" node3 state)" = down ] &&
	[ "$(jnode "$work/j6" node3 load)" = None ] && ok "--json: node3 down, load null" ||
	bad "--json after the crash: node3 state '$(jnode "$work/j6" node3 state)' load '$(jnode "$work/j6" node3 load)'"

# 7. Without ssid: a clear message to start it, exit 1, quickly.
X 2 sh -c 'kill -TERM $(pgrep -x ssid); i=0; while pgrep -x ssid >/dev/null; do i=$((i + 1)); [ $i -ge 100 ] && exit 1; sleep 0.05; done'
t0=$(now)
X 2 gtop -b -n 1 >"$work/f7" 2>"$work/e7"
rc=$?
if [ $rc = 1 ] && grep -q 'ssid is not running\|ssid does not answer' "$work/e7" &&
	grep -q 'Start it' "$work/e7" && [ ! -s "$work/f7" ]; then
	ok "ssid stopped on node2: exit 1 in $(ms "$t0") ms: $(head -1 "$work/e7")"
else
	bad "ssid stopped on node2: rc $rc, stderr '$(cat "$work/e7")', stdout $(wc -c <"$work/f7") bytes"
fi

finish gtop_lab
