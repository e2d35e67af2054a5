#!/usr/bin/env bash
# gfs_cut.sh - /gfs when the serving node is unreachable: with [gfs] timeout_ms = 3000 on
# node2, a cut link makes `cat /gfs/node1/...` on node2 fail with EIO after about 3 s (not a
# hang, not success), the failure is logged by node2's ssid, a write to an already open file
# reports the error to the writer instead of dropping the bytes, and after heal the same
# calls work again. When node2's gprocfs dies with a node1 file open, node1's ssid closes it
# and ssid restarts gprocfs --gfs. Exit 0 pass, 77 skip (reason on the last line), else fail. Removes its
# lab (trap).
set -u -o pipefail
. "$(dirname "$0")/lib.bash"
lab_init ssi-gfs-c$$
need_lab_host
[ -c /dev/fuse ] || skip "no /dev/fuse"
[ -x "$bin/ssid" ] && [ -x "$bin/gprocfs" ] || { echo "FAIL: ssid/gprocfs not built in $bin"; exit 1; }

n1() { timeout 60 bash "$lab" exec node1 -- "$@"; }
n2() { timeout 60 bash "$lab" exec node2 -- "$@"; }
lab_trap

L up -n 2 >/dev/null || { echo "FAIL: ssi-lab up -n 2"; exit 1; }
# The time-out is a config key: 3 s on node2 (restart to read it).
printf '[gfs]\ntimeout_ms = 3000\n' >>"$LAB_DIR/node2/etc/ssid.conf"
L restart 2 >/dev/null || { echo "FAIL: restart node2"; exit 1; }
wait_until 10 0.1 n2 test -f /gfs/node1/etc/hostname 2>/dev/null
n1 sh -c 'echo before-cut >/home/f'
[ "$(n2 cat /gfs/node1/home/f)" = before-cut ] && ok "read through /gfs before the cut" ||
	bad "read before the cut: $(n2 cat /gfs/node1/home/f 2>&1)"

# A writer with files open before the cut: its next writes must fail, not vanish.
n2 python3 -c '
import os, sys, time
def try_(what, f):
    try:
        f()
        print(what + ": ok")
    except OSError as e:
        print(what + ": " + os.strerror(e.errno))
fd = os.open("/gfs/node1/home/w", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
fd2 = os.open("/gfs/node1/home/w2", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"one\n")
os.write(fd2, b"one\n")
os.fsync(fd2)
open("/tmp/w.ready", "w").close()
while not os.path.exists("/tmp/w.go"):
    time.sleep(0.05)
try_("append", lambda: os.write(fd, b"two\n"))
try_("fsync", lambda: os.fsync(fd))
try_("write2", lambda: os.write(fd2, b"two\n"))
try_("close2", lambda: os.close(fd2))
' >"$LAB_DIR/node2/tmp/w.out" 2>&1 &
wpid=$!
wait_until 10 0.1 test -e "$LAB_DIR/node2/tmp/w.ready"

L cut 1 2 >/dev/null
sleep 0.5
t0=$(now)
out=$(n2 timeout 30 cat /gfs/node1/home/f 2>&1)
rc=$?
ms=$(ms "$t0")
case "$rc:$out" in
124:*) bad "cat hung for 30 s during the cut" ;;
0:*) bad "cat succeeded across a cut link: $out" ;;
*"Input/output error"*)
	# One path walk may wait twice (revalidate, then lookup) while the link still looks up.
	if [ $ms -ge 2500 ] && [ $ms -lt 7000 ]; then ok "cut: cat fails with EIO after $ms ms (timeout_ms 3000)"
	else bad "cut: EIO after $ms ms, expected 3000 (at most two time-outs)"; fi ;;
*) bad "cut: rc $rc, $out" ;;
esac
touch "$LAB_DIR/node2/tmp/w.go"
wait $wpid
w=$(cat "$LAB_DIR/node2/tmp/w.out")
case $w in
*"append: Input/output error"*) ok "an O_APPEND write during the cut reports EIO to the writer" ;;
*) bad "append during the cut: $w" ;;
esac
# A plain write goes out behind (write-behind): its failure is reported by write or by close.
case $w in
*"write2: Input/output error"* | *"write2: ok"*"close2: Input/output error"*)
	ok "a plain write during the cut: the EIO reaches the writer ($(echo $w | tr '\n' ' '))" ;;
*) bad "plain write during the cut was not reported: $w" ;;
esac
grep -q "gfs: node 1: .*no answer within 3000 ms" "$LAB_DIR/node2/ssid.log" &&
	ok "node2's ssid logged the unanswered request" || bad "no log line for the EIO"

L heal 1 2 >/dev/null
# f_reads WANT: node2 reads WANT from node1's /home/f through /gfs
f_reads() { [ "$(n2 cat /gfs/node1/home/f 2>/dev/null)" = "$1" ]; }
wait_until 10 0.1 f_reads before-cut && ok "heal: reads through /gfs work again" || bad "after heal: $(n2 cat /gfs/node1/home/f 2>&1)"
n2 sh -c 'echo after-heal >>/gfs/node1/home/w' || bad "append after heal"
w=$(n1 cat /home/w | tr '\n' ,)
case $w in
one,after-heal, | one,two,after-heal,) ok "node1's file after heal: $w (the failed write was reported, never silently lost)" ;;
*) bad "node1's file after heal: $w" ;;
esac

# A client that dies with files open on another node: that node's ssid closes them.
# the daemon is the oldest ssid: its forks (restore workers, the /usr cache walker) come later
held() { n1 sh -c 'ls -l /proc/$(pgrep -o -x ssid)/fd 2>/dev/null' | grep -c '/home/held$'; }
n1 sh -c 'echo held >/home/held'
n2 sh -c 'sleep 60 </gfs/node1/home/held >/dev/null 2>&1 & echo $! >/tmp/sleep.pid'
held_is() { [ "$(held)" = "$1" ]; }
wait_until 5 0.1 held_is 1
if [ "$(held)" != 1 ]; then
	bad "node1's ssid does not hold the file a node2 process opened through /gfs"
else
	gpid=$(n2 sh -c 'for p in $(pidof gprocfs); do grep -q -- --gfs /proc/$p/cmdline && echo $p; done')
	n2 kill -9 $gpid
	wait_until 5 0.1 held_is 0
	[ "$(held)" = 0 ] && ok "node2's gprocfs killed: node1 closed the file it held for it" ||
		bad "node1 still holds the file after node2's gprocfs died"
	# (a stat may still be answered from the kernel's 1 s cache: wait for a real read)
	held_reads() { [ "$(n2 cat /gfs/node1/home/held 2>/dev/null)" = held ]; }
	wait_until 10 0.1 held_reads
	[ "$(n2 cat /gfs/node1/home/held 2>&1)" = held ] && ok "ssid restarted gprocfs --gfs: /gfs works again" ||
		bad "after the gprocfs restart: $(n2 cat /gfs/node1/home/held 2>&1)"
	n2 sh -c 'kill $(cat /tmp/sleep.pid)'
fi

finish "gfs cut/heal" tail -25 "$LAB_DIR/node2/ssid.log"
