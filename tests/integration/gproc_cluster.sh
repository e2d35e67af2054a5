#!/usr/bin/env bash
# gproc_cluster.sh - issue 4 on a 3-node lab: /gproc (mounted by each node's ssid) shows every
# process of the cluster. Distinct sleeps on each node; on node1, stock procps over
# `mount --bind /gproc /proc` (ps -ef, ps aux, top -b -n 1, pgrep -f, free, uptime) lists them
# with the right commands and gpids and writes nothing to stderr; gps shows the right NODE and
# its --json parses; a process that exits leaves /gproc and gps within 1 s; a crashed node's
# processes leave the view and nodes/ shows it down within the failure time-out; during a cut
# and a crash, ps never takes long. Exit 0 pass, 77 skip (reason on the last line), else fail.
set -u -o pipefail
. "$(dirname "$0")/lib.bash"
lab_init gproc-cl-$$
need_lab_host ps top pgrep free uptime
need_bins ssid ssictl gprocfs gps
[ -e /dev/fuse ] || skip "needs /dev/fuse"

X() { local k=$1; shift; timeout 20 bash "$lab" exec "$k" -- "$@"; } # run in node K
work=$(mktemp -d /tmp/gproc_cluster.XXXXXX)
lab_on_exit 'rm -rf "$work"'
lab_trap

# procps over /gproc in node K: PROCPS K CMD... (stdout to $work/out, stderr to $work/err)
PROCPS() {
	local k=$1
	shift
	timeout 10 bash "$lab" exec "$k" -- unshare -m sh -c 'mount --bind /gproc /proc && exec "$@"' \
		sh "$@" >"$work/out" 2>"$work/err"
}

L up -n 3 >/dev/null || { L status; bad "ssi-lab up -n 3"; exit 1; }

# The lab is up when every ssid answers; wait until node1's /gproc shows all three nodes up.
all_up() { [ "$(X 1 sh -c 'cat /gproc/nodes/node1/state /gproc/nodes/node2/state /gproc/nodes/node3/state 2>/dev/null' | tr '\n' ' ')" = "up up up " ]; }
t0=$(now)
wait_until 10 0.2 all_up || { bad "node1's /gproc/nodes never showed node1..3 up"; X 1 ls /gproc/nodes; exit 1; }
ok "gprocfs mounted by ssid on every node; node1 sees node1..3 up ($(ms $t0) ms)"
for k in 2 3; do
	X $k awk '$5 == "/gproc" && / - fuse\.gproc gprocfs / {f = 1} END {exit !f}' /proc/self/mountinfo && ok "node$k: /gproc is a gprocfs mount" ||
		bad "node$k: no gprocfs mount on /gproc"
done

# Distinct sleeps: node K runs "sleep $tag$K"; gpid[K] = K << 22 | its pid in node K.
tag=$((RANDOM % 9000 + 1000))0
declare -A gpid
for k in 1 2 3; do
	X $k sh -c "setsid sleep $tag$k </dev/null >/dev/null 2>&1 &"
	pid=$(X $k pgrep -x -f "sleep $tag$k") || { bad "node$k: sleep $tag$k did not start"; exit 1; }
	gpid[$k]=$((k << 22 | pid))
done
echo "     sleeps: ${gpid[1]} ${gpid[2]} ${gpid[3]} (sleep $tag{1,2,3})"
sleep 1 # beyond every cache (ssid 250 ms, peer 200 ms, gprocfs 500 ms)

# ps -ef: PID column = gpid, CMD = the sleep; no stderr.
if PROCPS 1 ps -ef; then
	good=1
	for k in 1 2 3; do
		awk -v p="${gpid[$k]}" -v c="sleep $tag$k" '$2 == p && substr($0, index($0, $8)) == c {f = 1} END {exit !f}' \
			"$work/out" || { good=0; bad "ps -ef: no line with PID ${gpid[$k]} and CMD 'sleep $tag$k'"; }
	done
	[ -s "$work/err" ] && { good=0; bad "ps -ef wrote to stderr: $(head -3 "$work/err")"; }
	[ $good = 1 ] && ok "ps -ef lists the three sleeps with their gpids ($(wc -l <"$work/out") lines, no stderr)"
else
	bad "ps -ef failed: $(head -3 "$work/err")"
fi

# ps aux: PID column 2, COMMAND from column 11.
if PROCPS 1 ps aux; then
	good=1
	for k in 1 2 3; do
		awk -v p="${gpid[$k]}" -v c="sleep $tag$k" '$2 == p && $11 " " $12 == c {f = 1} END {exit !f}' \
			"$work/out" || { good=0; bad "ps aux: no line with PID ${gpid[$k]} and 'sleep $tag$k'"; }
	done
	[ -s "$work/err" ] && { good=0; bad "ps aux wrote to stderr: $(head -3 "$work/err")"; }
	[ $good = 1 ] && ok "ps aux lists the three sleeps ($(wc -l <"$work/out") lines, no stderr)"
else
	bad "ps aux failed: $(head -3 "$work/err")"
fi

# top -b -n 1: every sleep's gpid in the PID column, and the summary lines.
if PROCPS 1 top -b -n 1 -w 200; then
	good=1
	for k in 1 2 3; do
		awk -v p="${gpid[$k]}" '$1 == p && $NF == "sleep" {f = 1} END {exit !f}' "$work/out" ||
			{ good=0; bad "top: no line for ${gpid[$k]} (sleep)"; }
	done
	grep -q '^Tasks:' "$work/out" && grep -q 'load average' "$work/out" || { good=0; bad "top: no summary"; }
	[ -s "$work/err" ] && { good=0; bad "top wrote to stderr: $(head -3 "$work/err")"; }
	[ $good = 1 ] && ok "top -b -n 1 shows the three sleeps and its summary, no stderr"
else
	bad "top -b -n 1 failed: $(head -3 "$work/err")"
fi

# pgrep -f: prints the gpid.
for k in 1 2 3; do
	if PROCPS 1 pgrep -f "^sleep $tag$k\$" && [ "$(cat "$work/out")" = "${gpid[$k]}" ] && [ ! -s "$work/err" ]; then
		ok "pgrep -f 'sleep $tag$k' on node1 prints ${gpid[$k]} (node$k)"
	else
		bad "pgrep -f 'sleep $tag$k': '$(cat "$work/out")' (want ${gpid[$k]}); stderr: $(head -2 "$work/err")"
	fi
done

# free: the cluster's memory is the sum of the nodes' (all three see this host's MemTotal).
host_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
if PROCPS 1 free -k && [ ! -s "$work/err" ]; then
	tot=$(awk '/^Mem:/ {print $2}' "$work/out")
	[ "$tot" = $((3 * host_kb)) ] && ok "free: Mem total $tot kB = 3 nodes x $host_kb kB" ||
		bad "free: Mem total '$tot' kB, want $((3 * host_kb))"
else
	bad "free failed: $(head -3 "$work/err")"
fi

# uptime: runs, no stderr, the load average of the cluster.
if PROCPS 1 uptime && [ ! -s "$work/err" ] && grep -q "load average" "$work/out"; then
	ok "uptime: $(cat "$work/out")"
else
	bad "uptime failed: $(cat "$work/out") $(head -3 "$work/err")"
fi

# gps: NODE column right for each sleep; --json parses and agrees.
X 2 timeout 10 gps -o gpid,node,args --no-headers >"$work/gps" 2>"$work/err"
good=1
for k in 1 2 3; do
	awk -v p="${gpid[$k]}" -v n="node$k" -v c="$tag$k" '$1 == p && $2 == n && $3 == "sleep" && $4 == c {f = 1} END {exit !f}' \
		"$work/gps" || { good=0; bad "gps on node2: no '${gpid[$k]} node$k sleep $tag$k'"; }
done
[ -s "$work/err" ] && { good=0; bad "gps wrote to stderr: $(head -3 "$work/err")"; }
[ $good = 1 ] && ok "gps (on node2) shows each sleep on its node"
if X 3 timeout 10 gps --json >"$work/json" && python3 -m json.tool "$work/json" >/dev/null; then
	n=$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
want = {int(sys.argv[2]): "node1", int(sys.argv[3]): "node2", int(sys.argv[4]): "node3"}
print(sum(1 for p in d if want.get(p.get("gpid")) == p.get("node")))' "$work/json" "${gpid[1]}" "${gpid[2]}" "${gpid[3]}")
	[ "$n" = 3 ] && ok "gps --json (on node3) parses; the three sleeps with their nodes" ||
		bad "gps --json: $n of 3 sleeps with the right node"
else
	bad "gps --json does not parse"
fi

# A process that exits leaves /gproc (node1's view) and gps within 1 s.
pid2=$((gpid[2] & 0x3fffff))
X 2 kill "$pid2"
t0=$(now)
X 1 sh -c 'i=0; while [ -e /gproc/$1 ]; do i=$((i + 1)); [ $i -ge 100 ] && exit 1; sleep 0.02; done' sh "${gpid[2]}"
t_dir=$(ms $t0)
gone_from_gps() { ! X 1 gps -o gpid --no-headers | grep -qx " *${gpid[2]}"; }
wait_until 3 0 gone_from_gps
t_gps=$(ms $t0)
[ "$t_dir" -le 1000 ] && ok "exited sleep on node2 left node1's /gproc in $t_dir ms" ||
	bad "exited sleep on node2 still in node1's /gproc after $t_dir ms"
[ "$t_gps" -le 1000 ] && ok "... and gps in $t_gps ms" || bad "exited sleep still in gps after $t_gps ms"

# A cut link: ps on node1 stays quick while node3 is cut off; node3 shows suspect/down.
L cut 1 3 >/dev/null
worst=0
for _ in 1 2 3 4 5 6; do
	t0=$(now)
	PROCPS 1 ps -e || bad "ps -e failed during the cut: $(head -2 "$work/err")"
	t=$(ms $t0)
	[ "$t" -gt "$worst" ] && worst=$t
	sleep 0.3
done
st=$(X 1 cat /gproc/nodes/node3/state)
[ "$worst" -le 2500 ] && ok "during cut 1-3, ps -e on node1 took at most $worst ms (node3: $st)" ||
	bad "during cut 1-3, ps -e on node1 took $worst ms"
case $st in suspect | down) ok "node3 shows $st at node1 while cut" ;; *) bad "node3 shows '$st' while cut" ;; esac
X 1 test -e "/gproc/${gpid[3]}" && bad "node3's sleep still in node1's /gproc while cut" ||
	ok "node3's sleep is out of node1's view while cut"
L heal 1 3 >/dev/null
t0=$(now)
wait_until 8 0.2 X 1 test -e "/gproc/${gpid[3]}"
X 1 test -e "/gproc/${gpid[3]}" && ok "after heal, node3's sleep is back in node1's view ($(ms $t0) ms)" ||
	bad "after heal, node3's sleep did not come back within 8 s"

# ssid watches gprocfs: killed, it is restarted (stale mount cleared, no stacked mounts).
gmounts() { X 2 awk '$5 == "/gproc" && / - fuse\.gproc gprocfs / {n++} END {print n + 0}' /proc/self/mountinfo; }
old_fs=$(X 2 pgrep -f "gprocfs /gproc ")
X 2 kill -KILL "$old_fs"
t0=$(now)
fs_back() { new_fs=$(X 2 pgrep -f "gprocfs /gproc ") && [ "$new_fs" != "$old_fs" ] && X 2 test -e /gproc/${gpid[1]}; }
wait_until 5 0.1 fs_back
if [ -n "$new_fs" ] && [ "$new_fs" != "$old_fs" ] && X 2 test -e /gproc/${gpid[1]} && [ "$(gmounts)" = 1 ]; then
	ok "gprocfs killed on node2: ssid restarted it (pid $old_fs -> $new_fs), /gproc works again in $(ms $t0) ms, one mount"
else
	bad "gprocfs killed on node2: not back within 5 s (pid '$new_fs', mounts $(gmounts))"
fi

# A crashed node: its processes leave the view, nodes/ shows it down within the failure
# time-out (lab: down_ms 3000); ps keeps answering quickly meanwhile.
L crash 3 >/dev/null
t0=$(now) t_gone="" t_down="" worst=0
while [ "$(ms $t0)" -lt 6000 ]; do
	t1=$(now)
	PROCPS 1 ps -e -o pid= || bad "ps -e failed after the crash: $(head -2 "$work/err")"
	t=$(ms $t1)
	[ "$t" -gt "$worst" ] && worst=$t
	[ -z "$t_gone" ] && ! grep -qx " *${gpid[3]}" "$work/out" && t_gone=$(ms $t0)
	[ -z "$t_down" ] && [ "$(X 1 cat /gproc/nodes/node3/state)" = down ] && t_down=$(ms $t0)
	[ -n "$t_gone" ] && [ -n "$t_down" ] && break
	sleep 0.1
done
[ -n "$t_gone" ] && [ "$t_gone" -le 3500 ] && ok "crashed node3's sleep left ps on node1 in $t_gone ms" ||
	bad "crashed node3's sleep still listed (${t_gone:-never} ms)"
[ -n "$t_down" ] && [ "$t_down" -le 4500 ] && ok "nodes/node3/state is down $t_down ms after the crash" ||
	bad "nodes/node3/state not down within 4.5 s (${t_down:-never})"
[ "$worst" -le 2500 ] && ok "ps -e on node1 took at most $worst ms while node3 was failing" ||
	bad "ps -e took $worst ms while node3 was failing"
X 1 test -e "/gproc/${gpid[1]}" && PROCPS 1 pgrep -f "^sleep ${tag}1\$" &&
	ok "node1's own sleep still listed after the crash" || bad "node1's sleep vanished after node3's crash"

# SIGTERM to ssid: it unmounts /gproc and stops gprocfs.
X 2 sh -c 'kill -TERM $(pgrep -x ssid); i=0; while pgrep -x ssid >/dev/null; do i=$((i + 1)); [ $i -ge 100 ] && exit 1; sleep 0.05; done'
if [ "$(gmounts)" = 0 ] && ! X 2 pgrep -f "gprocfs /gproc " >/dev/null; then
	ok "ssid on node2 stopped by SIGTERM: /gproc unmounted, gprocfs gone"
else
	bad "after SIGTERM to node2's ssid: $(gmounts) gprocfs mount(s), gprocfs pid '$(X 2 pgrep -f "gprocfs /gproc ")'"
fi

finish gproc_cluster
