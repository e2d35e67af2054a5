#!/usr/bin/env bash
# lab_lifecycle.sh - ssi-lab itself: a 3-node lab without daemons (up --no-daemon) has per-node
# hostnames, PID namespaces, /tmp and /etc/ssid; exec passes stdio and exit status; cut/heal
# stop and resume TCP between two nodes only; crash kills a node's processes and restart brings
# it back with its files; down leaves nothing behind. up --link-rate 20mbit: tc in a node shows
# the rate, 2.5 MB take about 1 s each way, down removes it. When $SSI_BIN has ssid and ssictl, a
# second lab with daemons checks that every node answers `ssictl status`, also after a restart.
# Exit 0 pass, 77 skip (reason on the last line), else fail. Always removes its lab (trap).
set -u -o pipefail
. "$(dirname "$0")/lib.bash"
# A lab of its own name and directory: runs beside a user's lab and touches nothing of it.
lab_init ssi-lab-t$$
need_lab_host tc

step() { echo "== $*"; }
ex() { timeout 20 bash "$lab" exec "$@"; }

work=$(mktemp -d /var/tmp/lab-lifecycle.XXXXXX)
chmod 755 "$work"
lab_on_exit 'rm -rf "$work"'
lab_trap

cg2=/sys/fs/cgroup
[ -e $cg2/cgroup.controllers ] || cg2=/sys/fs/cgroup/unified
rules_before=$(ip rule show)

# An echo server and a client that keeps one connection and answers per line on stdin:
# "ok"/"timeout" for each exchange of one byte (1 s limit, or 6 s for "wait").
cat >"$work/srv.py" <<'EOF'
import socket, sys, threading
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(16)
def serve(c):
    while True:
        d = c.recv(100)
        if not d:
            return
        c.sendall(d)
while True:
    threading.Thread(target=serve, args=(s.accept()[0],), daemon=True).start()
EOF
cat >"$work/cli.py" <<'EOF'
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)
print("connected", flush=True)
for line in sys.stdin:
    s.settimeout(6 if line.strip() == "wait" else 1)
    try:
        if line.strip() != "wait":
            s.sendall(b"x")
        print("ok" if s.recv(100) else "closed", flush=True)
    except socket.timeout:
        print("timeout", flush=True)
EOF
# connect A ADDR: can node A open a new TCP connection to ADDR:9000 within 2 s?
connect() {
	ex "$1" -- python3 -c 'import socket,sys; socket.create_connection((sys.argv[1], 9000), timeout=2)' "$2" 2>/dev/null
}

# dead PID: no such process, or only a zombie (this machine's pid 1 reaps orphans lazily).
dead() { [ ! -e /proc/$1 ] || grep -q "^State:.*Z" /proc/$1/status 2>/dev/null || { grep -E "State|PPid|Name" /proc/$1/status; cat /proc/$1/cgroup; false; }; }

# Nothing of a lab left: netns, mounts, cgroups, addresses, rules, processes, state.
check_clean() {
	local what=$1 left="" p cmd
	ip netns list | grep -qw "$NAME" && left+=" netns"
	grep -qE "/run/netns/$NAME |$LAB_DIR" /proc/self/mountinfo && left+=" mounts"
	[ -d $cg2/$NAME ] && left+=" cgroup"
	[ -d /sys/fs/cgroup/cpuset/$NAME ] && left+=" cpuset-cgroup"
	nft list tables 2>/dev/null | grep -q ssi_lab && left+=" nft-table"
	[ "$(ip rule show)" = "$rules_before" ] || left+=" ip-rules"
	ip -4 addr show | grep -q '127\.0\.1\.' && left+=" addresses"
	for p in /proc/[0-9]*; do
		cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
		case $cmd in *"$LAB_DIR"* | *"$NAME"*)
			left+=" process:${p#/proc/}($cmd)" ;;
		esac
	done
	[ -e "$LAB_DIR" ] && left+=" state-dir"
	[ -e /run/ssi-lab/$NAME.dir ] && left+=" /run/ssi-lab/$NAME.dir"
	if [ -z "$left" ]; then ok "$what: nothing left behind"; else bad "$what: left behind:$left"; fi
}

step "up -n 3 --no-daemon"
check "up succeeds" L up -n 3 --no-daemon
check "second up refuses (exit 1)" eval '! L up -n 3 --no-daemon 2>/dev/null'
L status

step "per-node namespaces and directories"
for k in 1 2 3; do
	h=$(ex $k -- hostname)
	[ "$h" = node$k ] && ok "node$k hostname $h" || bad "node$k hostname is '$h'"
done
init1=$(ex 2 -- cat /proc/1/cmdline | tr '\0' ' ')
[[ $init1 == *"_init 2 "* ]] && ok "node2's pid 1 is its init" || bad "node2's pid 1 is '$init1'"
(ex 2 -- sleep 4242) 2>/dev/null &
sleep 0.5
check "node2 sees its own sleep 4242" eval 'ex 2 -- pgrep -fx "sleep 4242" >/dev/null'
check "node1 does not see node2's process" eval '! ex 1 -- pgrep -fx "sleep 4242" >/dev/null'
check "node1's /proc lists only node1's processes" \
	eval '[ "$(ex 1 -- sh -c "ls -d /proc/[0-9]* | wc -l")" -le 4 ]'
ex 1 -- sh -c 'echo one >/tmp/marker; echo key1 >/etc/ssid/own'
check "node1 reads its /tmp/marker" eval '[ "$(ex 1 -- cat /tmp/marker)" = one ]'
check "node2 has no /tmp/marker" eval '! ex 2 -- test -e /tmp/marker'
check "node1's /tmp is STATE/node1/tmp" test -e "$LAB_DIR/node1/tmp/marker"
check "node2's /etc/ssid is its own" eval '! ex 2 -- test -e /etc/ssid/own'
check "own /var/lib/ssid, /run/ssid, /home" eval \
	'ex 3 -- sh -c "touch /var/lib/ssid/a /run/ssid/b /home/c" && [ -e $LAB_DIR/node3/lib/a ] && [ -e $LAB_DIR/node3/run/b ] && [ -e $LAB_DIR/node3/home/c ] && ! ex 1 -- test -e /home/c'
check "/gproc and /gfs exist in a node" ex 1 -- test -d /gproc -a -d /gfs
# In the node, its cgroup is the root of the cgroup v2 file system: init (1), sleep 4242, cat,
# and as 0 the host-side nsenter parents of the two execs (outside the node's PID namespace).
procs=$(ex 2 -- cat $cg2/cgroup.procs | sort -n | tr '\n' ' ')
[[ $procs =~ ^0\ 0\ 1\ [0-9]+\ [0-9]+\ $ ]] && ok "node2's cgroup file system shows its own cgroup: $procs" ||
	bad "node2's $cg2/cgroup.procs: $procs"
check "the state directory is hidden in a node" eval '! ex 1 -- test -e "$LAB_DIR/node2"'

step "exec: exit status, stdio, user"
ex 3 -- sh -c 'exit 42'
rc=$?
[ $rc = 42 ] && ok "exit status 42 passes through" || bad "exit status: got $rc, want 42"
out=$(echo abc | ex 1 -- cat)
[ "$out" = abc ] && ok "stdin and stdout pass through" || bad "stdin/stdout: got '$out'"
err=$(ex 1 -- sh -c 'echo oops >&2' 2>&1 >/dev/null)
[ "$err" = oops ] && ok "stderr passes through" || bad "stderr: got '$err'"
uid=$(id -u ssiuser 2>/dev/null)
u1=$(ex 1 --user ssiuser -- id -u) u2=$(ex 2 --user ssiuser -- id -u)
[ -n "$uid" ] && [ "$u1" = "$uid" ] && [ "$u2" = "$uid" ] && ok "exec --user ssiuser runs as uid $uid on every node" ||
	bad "exec --user ssiuser: uids '$u1' '$u2', want '$uid'"
ex 9 -- true 2>/dev/null
rc=$?
[ $rc != 0 ] && ok "exec on a node that does not exist fails" || bad "exec 9 succeeded"

step "cut 1 3 / heal 1 3"
for k in 1 2 3; do
	(ex $k -- python3 "$work/srv.py" 127.0.1.$k 9000) 2>/dev/null &
done
sleep 1
check "1 -> 3 connects before the cut" connect 1 127.0.1.3
coproc CLI { ex 1 -- python3 -u "$work/cli.py" 127.0.1.3 9000 2>&1; }
read -r -t 5 line <&"${CLI[0]}"
[ "$line" = connected ] || bad "client in node1 did not connect to node3: '$line'"
echo go >&"${CLI[1]}"
read -r -t 5 line <&"${CLI[0]}"
[ "$line" = ok ] && ok "1 -> 3 exchange on a long connection" || bad "exchange before cut: '$line'"
check "cut 1 3" L cut 1 3
[[ $(L status) == *"node1 "*"node3 "* ]] && ok "status shows the cut" || bad "status does not show the cut"
echo go >&"${CLI[1]}"
read -r -t 5 line <&"${CLI[0]}"
[ "$line" = timeout ] && ok "1 -> 3 stalls on the cut connection" || bad "cut connection answered: '$line'"
check "1 -> 3 new connection fails" eval '! connect 1 127.0.1.3'
check "3 -> 1 new connection fails too" eval '! connect 3 127.0.1.1'
check "2 -> 1 still connects" connect 2 127.0.1.1
check "1 -> 2 still connects" connect 1 127.0.1.2
check "2 -> 3 still connects" connect 2 127.0.1.3
check "heal 1 3" L heal 1 3
echo wait >&"${CLI[1]}"
read -r -t 10 line <&"${CLI[0]}"
[ "$line" = ok ] && ok "the stalled connection resumes after heal" || bad "after heal: '$line'"
check "1 -> 3 connects after heal" connect 1 127.0.1.3
eval "exec ${CLI[1]}>&-"

step "crash 2 / restart 2"
pid2=$(cat "$LAB_DIR/node2/init.pid")
check "crash 2" L crash 2
sleep 0.3
check "node2's init is gone" dead "$pid2"
check "node2's processes are gone (sleep 4242, server)" eval '! pgrep -fx "sleep 4242" >/dev/null && [ -z "$(cat $cg2/$NAME/node2/cgroup.procs)" ]'
ex 2 -- true 2>/dev/null
rc=$?
[ $rc = 125 ] && ok "exec on a crashed node exits 125" || bad "exec on crashed node: $rc"
check "node1 and node3 still run" eval 'ex 1 -- true && ex 3 -- true'
check "restart 2" L restart 2
check "node2 runs again as node2" eval '[ "$(ex 2 -- hostname)" = node2 ]'
check "node2 kept its directories" eval 'ex 2 -- test -d /var/lib/ssid && [ -d $LAB_DIR/node2/tmp ]'
check "node1 kept /tmp/marker" eval '[ "$(ex 1 -- cat /tmp/marker)" = one ]'

step "down"
check "down" L down
check_clean "down"
check "down without a lab exits 0" L down

step "up -n 2 --no-daemon --link-rate 20mbit"
# sink: node B's server reads until EOF and answers one byte; send: node A's client sends
# 2.5 MB and prints the seconds until that answer (20 Mbit/s: 1 s less a 128 KiB burst).
cat >"$work/tx.py" <<'EOF'
import socket, sys, time
if sys.argv[1] == "sink":
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((sys.argv[2], 9100))
    s.listen(1)
    c = s.accept()[0]
    while c.recv(1 << 16):
        pass
    c.sendall(b"k")
else:
    for i in range(100):  # the sink may still be starting
        try:
            c = socket.create_connection((sys.argv[2], 9100), timeout=10)
            break
        except ConnectionRefusedError:
            time.sleep(0.1)
    t = time.time()
    c.sendall(b"x" * 2500000)
    c.shutdown(socket.SHUT_WR)
    c.recv(1)
    print("%.2f" % (time.time() - t))
EOF
# shaped A B: seconds node A takes to send 2.5 MB to node B
shaped() {
	(ex "$2" -- python3 "$work/tx.py" sink "127.0.1.$2") &
	ex "$1" -- python3 "$work/tx.py" send "127.0.1.$2"
	wait
}
check "up --link-rate 20mbit" L up -n 2 --no-daemon --link-rate 20mbit
out=$(ex 1 -- tc class show dev lo)
[[ $out == *"rate 20Mbit"* ]] && ok "tc in node1 shows the rate: $(echo "$out" | head -1)" ||
	bad "tc class show in node1: '$out'"
[[ $(L status) == *"20mbit"*"node2 "*20Mbit* ]] && ok "status shows the link rate" ||
	bad "status does not show the link rate: $(L status)"
for d in "1 2" "2 1"; do
	t=$(shaped $d)
	awk -v t="$t" 'BEGIN { exit !(t >= 0.8 && t <= 5) }' &&
		ok "node${d% *} -> node${d#* }: 2.5 MB in $t s (20 Mbit/s: about 1 s)" ||
		bad "node${d% *} -> node${d#* }: 2.5 MB in '$t' s, expected about 1 s"
done
check "down (shaped lab)" L down
check_clean "down of a shaped lab"
L up -n 2 --no-daemon --link-rate fast >/dev/null 2>&1
rc=$?
[ $rc = 1 ] && ok "up --link-rate fast is refused" || bad "up --link-rate fast: exit $rc"
check_clean "a refused --link-rate"
# --link-delay needs netem, which some kernels lack: then up says so and makes nothing.
if out=$(L up -n 2 --no-daemon --link-rate 1gbit --link-delay 5 2>&1); then
	out=$(ex 2 -- tc qdisc show dev lo)
	[[ $out == *"netem"*"delay 5ms"* ]] && ok "--link-delay 5: tc in node2 shows netem delay 5ms" ||
		bad "--link-delay 5: tc qdisc show in node2: '$out'"
	check "down (delayed lab)" L down
else
	[[ $out == *"no netem qdisc"* ]] && ok "--link-delay refused clearly: $out" || bad "--link-delay: $out"
fi
check_clean "--link-delay"

if [ -x "$bin/ssid" ] && [ -x "$bin/ssictl" ]; then
	step "with daemons: up -n 3"
	check "up -n 3 (ssid in every node)" L up -n 3
	for k in 1 2 3; do check "node$k answers ssictl status" eval "ex $k -- ssictl status >/dev/null"; done
	check "crash 2" L crash 2
	check "restart 2 (ssid answers again)" L restart 2
	check "node2 answers ssictl status after restart" eval "ex 2 -- ssictl status >/dev/null"
	check "down" L down
	check_clean "down with daemons"
else
	echo "== no $bin/ssid or ssictl yet: the daemon part is not run"
fi

finish lab_lifecycle
