#!/usr/bin/env bash
# gkill_cluster.sh - issue 4 signals on a 3-node lab: gkill from node3 of a process on node1
# ends it and it leaves /gproc within 1 s; -SIG/-s/-n pick the signal (a USR1 trap runs on the
# far node); the user ssiuser (uid 1001) cannot signal root's processes on another node or on
# its own ("Operation not permitted", exit 1, the process lives) but can signal its own on
# another node; a gpid nobody has gives "No such process"; the control request takes the uid
# from the socket, not from its body. Exit 0 pass, 77 skip (reason on the last line), else fail.
set -u -o pipefail
. "$(dirname "$0")/lib.bash"
lab_init gkill-cl-$$
need_lab_host pgrep
need_bins ssid ssictl gprocfs gkill
[ -e /dev/fuse ] || skip "needs /dev/fuse"

X() { local k=$1; shift; timeout 20 bash "$lab" exec "$k" "$@"; } # X K [--user U] -- CMD
lab_trap

L up -n 3 >/dev/null || { L status; bad "ssi-lab up -n 3"; exit 1; }
id -u ssiuser >/dev/null || { bad "no user ssiuser after ssi-lab up"; exit 1; }

# start K USER CMD: start CMD detached in node K as USER ("" = root); prints its gpid.
start() {
	local k=$1 u=$2 pid
	shift 2
	X "$k" ${u:+--user "$u"} -- sh -c 'setsid "$@" </dev/null >/dev/null 2>&1 &' sh "$@"
	pid=$(X "$k" -- pgrep -n -x -f "$*") || return 1
	echo $((k << 22 | pid))
}
alive() { X "$1" -- kill -0 $(($2 & 0x3fffff)) 2>/dev/null; } # alive K GPID
tag=$((RANDOM % 9000 + 1000))0
g_root1=$(start 1 "" sleep ${tag}1) || { bad "cannot start a sleep on node1"; exit 1; }
g_root2=$(start 2 "" sleep ${tag}2) || { bad "cannot start a sleep on node2"; exit 1; }
g_user1=$(start 1 ssiuser sleep ${tag}3) || { bad "cannot start ssiuser's sleep on node1"; exit 1; }
g_root3=$(start 3 "" sleep ${tag}4) || { bad "cannot start a sleep on node3"; exit 1; }
g_trap=$(start 1 "" sh -c "trap 'echo usr1 >/tmp/gkill-usr1-$tag; exit 0' USR1; while :; do sleep 0.1; done") ||
	{ bad "cannot start the USR1 catcher on node1"; exit 1; }
echo "     root on node1 $g_root1, node2 $g_root2, node3 $g_root3; ssiuser on node1 $g_user1"
# Each node must see the others up before a remote signal can go anywhere.
both_listed() { X 3 -- test -e /gproc/$g_root1 && X 3 -- test -e /gproc/$g_root2; }
wait_until 10 0.2 both_listed || bad "node3's /gproc never listed node1's and node2's sleeps"

# 1. ssiuser, from node3, against root's sleep on node1 and on node3 itself: refused.
for g in $g_root1 $g_root3; do
	out=$(X 3 --user ssiuser -- gkill "$g" 2>&1)
	rc=$?
	k=$((g >> 22))
	if [ $rc = 1 ] && [ "$out" = "gkill: ($g) - Operation not permitted" ] && alive $k $g; then
		ok "ssiuser's gkill $g (root's, node$k) from node3: '$out', exit 1, still alive"
	else
		bad "ssiuser's gkill $g (root's, node$k): exit $rc, '$out', alive: $(alive $k $g && echo yes || echo no)"
	fi
done
out=$(X 3 --user ssiuser -- gkill -s KILL "$g_root2" 2>&1)
[ $? = 1 ] && alive 2 $g_root2 && ok "ssiuser's gkill -s KILL of root's sleep on node2 refused: $out" ||
	bad "ssiuser's gkill -s KILL of root's sleep on node2: '$out'"

# 2. root, from node3, ends node1's sleep; it leaves /gproc (node3's and node1's) within 1 s.
t0=$(now)
out=$(X 3 -- gkill "$g_root1" 2>&1)
rc=$?
# Watch both nodes at once, each from the gkill: "gone at" is the clock when that node's
# /gproc stopped showing it (the nodes share the host's clock).
gone_at() { X "$1" -- sh -c 'i=0; while [ -e /gproc/$1 ]; do i=$((i + 1)); [ $i -ge 150 ] && break; sleep 0.02; done; date +%s%N' sh "$g_root1"; }
gone=$(mktemp -d)
gone_at 3 >"$gone/3" &
w3=$!
gone_at 1 >"$gone/1" &
w1=$!
wait $w3 $w1
t3=$((($(cat "$gone/3") - t0) / 1000000))
t1=$((($(cat "$gone/1") - t0) / 1000000))
rm -rf "$gone"
if [ $rc = 0 ] && [ -z "$out" ] && ! alive 1 $g_root1; then
	ok "root's gkill $g_root1 from node3 ended node1's sleep (exit 0, no output)"
else
	bad "root's gkill $g_root1 from node3: exit $rc, '$out', alive: $(alive 1 $g_root1 && echo yes || echo no)"
fi
[ "$t3" -le 1000 ] && ok "it left node3's /gproc within $t3 ms of the gkill" || bad "still in node3's /gproc after $t3 ms"
[ "$t1" -le 1000 ] && ok "it left node1's /gproc within $t1 ms of the gkill" || bad "still in node1's /gproc after $t1 ms"

# 3. ssiuser may signal its own process on another node (here: -n 9 from node2).
out=$(X 2 --user ssiuser -- gkill -n 9 "$g_user1" 2>&1)
rc=$?
sleep 0.1
[ $rc = 0 ] && ! alive 1 $g_user1 && ok "ssiuser's gkill -n 9 of its own sleep on node1 from node2 worked" ||
	bad "ssiuser's gkill -n 9 of its own sleep: exit $rc, '$out'"

# 4. -USR1 reaches the trap on node1 from node2.
out=$(X 2 -- gkill -USR1 "$g_trap" 2>&1)
rc=$?
wait_until 2 0.1 X 1 -- test -e /tmp/gkill-usr1-$tag
[ $rc = 0 ] && X 1 -- test -e /tmp/gkill-usr1-$tag && ok "gkill -USR1 from node2 ran the USR1 trap on node1" ||
	bad "gkill -USR1: exit $rc '$out'; trap did not run"

# 5. Errors like kill(1): no such process, bad argument, a down node; exit 1.
gone=$g_root1
out=$(X 2 -- gkill "$gone" 2>&1)
[ $? = 1 ] && [ "$out" = "gkill: ($gone) - No such process" ] && ok "gkill of an ended gpid: '$out'" ||
	bad "gkill of an ended gpid: '$out'"
out=$(X 2 -- gkill abc 2>&1)
[ $? = 1 ] && [ "$out" = "gkill: failed to parse argument: 'abc'" ] && ok "gkill abc: '$out'" || bad "gkill abc: '$out'"
out=$(X 2 -- gkill -s NOSUCH "$g_root2" 2>&1)
[ $? = 2 ] && alive 2 $g_root2 && ok "gkill -s NOSUCH: exit 2 ($out)" || bad "gkill -s NOSUCH: '$out'"
[ "$(X 2 -- gkill -l 9)" = KILL ] && [ "$(X 2 -- gkill -l TERM)" = 15 ] && X 2 -- gkill --help | grep -q "^usage: gkill" &&
	ok "gkill -l 9 = KILL, -l TERM = 15, --help" || bad "gkill -l / --help"

# 6. The control request carries no uid: extra bytes after gpid and signo are refused, and a
# request for root's process from ssiuser (raw socket, body with a uid 0 appended) does nothing.
out=$(X 1 --user ssiuser -- python3 -c '
import socket, struct, sys
s = socket.socket(socket.AF_UNIX); s.connect("/run/ssid/ssid.sock")
def get(n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c: raise EOFError("ssid closed the connection")
        b += c
    return b
def reply():  # header: body length, status; then the body (an error text)
    n, st = struct.unpack(">Ii", get(8)); get(n); print(st)
body = struct.pack(">III", int(sys.argv[1]), 9, 0)
s.sendall(struct.pack(">IHH", len(body), 41, 0) + body)
reply()
body = struct.pack(">II", int(sys.argv[1]), 9)
s.sendall(struct.pack(">IHH", len(body), 41, 0) + body)
reply()' "$g_root2" 2>&1 | tr '\n' ' ')
[ "$out" = "-22 -1 " ] && alive 2 $g_root2 && ok "raw control requests from ssiuser: with a uid field -EINVAL, without -EPERM; root's sleep lives" ||
	bad "raw control requests from ssiuser: '$out' (want '-22 -1 ')"

# 7. A crashed node: gkill of its process fails quickly (no hang).
L crash 3 >/dev/null
t0=$(now)
out=$(X 1 -- timeout 5 gkill "$g_root3" 2>&1)
rc=$?
t=$(ms $t0)
[ $rc = 1 ] && [ "$t" -le 2500 ] && ok "gkill of a crashed node's gpid: '$out' in $t ms" ||
	bad "gkill of a crashed node's gpid: exit $rc '$out' in $t ms"

finish gkill_cluster
