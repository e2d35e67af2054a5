#!/usr/bin/env bash
# gproc_ssid.sh - gprocfs and gps with source=ssid: the cluster table read from a control
# socket, served here by tests/tools/ptable_server (the daemon's own socket code answering
# the table request with this machine as node "alpha" plus peer "beta", up, 2 CPUs, booted
# 100 s earlier, running remote_sleeper and a process migrated from alpha, and "gamma", down).
# Checks what a user sees: stock ps/top/free over it list the peer's processes with NODE-
# independent gpids and no tty, nodes/ shows states, global stat counts the peer's CPUs and
# uses the earlier boot time, gps shows NODE/HOME, --json parses; when the socket goes away
# gprocfs keeps answering (last table) and never hangs.
set -u
bin=${SSI_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/bin}
build=${SSI_BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build}
[ "$(id -u)" = 0 ] || { echo "needs root (mount namespaces, allow_other)"; exit 77; }
[ -c /dev/fuse ] || { echo "no /dev/fuse"; exit 77; }
command -v fusermount3 >/dev/null || { echo "no fusermount3 (apt-get install fuse3)"; exit 77; }
server=$build/tests/tools/ptable_server
[ -x "$server" ] || { echo "FAIL: $server not built"; exit 1; }
[ -x "$bin/gprocfs" ] && [ -x "$bin/gps" ] || { echo "FAIL: gprocfs/gps not built"; exit 1; }
if [ -z "${GPROC_TEST_NS:-}" ]; then
	GPROC_TEST_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi

tmp=$(mktemp -d /tmp/gproc_ssid.XXXXXX)
mnt=$tmp/mnt
sock=$tmp/ssid.sock
mkdir -p "$mnt"
srv_pid= fs_pid=
cleanup() {
	[ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null
	fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null
	if [ -n "$fs_pid" ]; then
		for i in $(seq 20); do kill -0 "$fs_pid" 2>/dev/null || break; sleep 0.1; done
		kill "$fs_pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*"
	exit 1
}

# Without a server, gprocfs refuses to mount and says why.
out=$("$bin/gprocfs" "$mnt" -f -o source=ssid,sock="$sock",node_id=1,node_name=alpha 2>&1) &&
	fail "gprocfs mounted without a daemon"
echo "$out" | grep -q "is ssid running" || fail "no reason given: $out"
echo "ok: no daemon -> no mount, reason: $out"

"$server" "$sock" 1 alpha &
srv_pid=$!
for i in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
"$bin/gprocfs" "$mnt" -f -o source=ssid,sock="$sock",node_id=1,node_name=alpha \
	2>"$tmp/gprocfs.err" &
fs_pid=$!
for i in $(seq 50); do [ -e "$mnt/uptime" ] && break; sleep 0.1; done
[ -e "$mnt/uptime" ] || fail "gprocfs did not mount: $(cat "$tmp/gprocfs.err")"

remote=$((2 << 22 | 4242))
migrated=$((1 << 22 | (1 << 22) - 8))
ls "$mnt" | grep -qx $remote || fail "beta's process $remote not listed"
ls "$mnt" | grep -qx $migrated || fail "migrated process $migrated not listed"
ls "$mnt" | grep -qx $((1 << 22 | $$)) || fail "this shell (gpid of $$) not listed"
[ "$(cat "$mnt/$remote/node")" = beta ] || fail "node of $remote: $(cat "$mnt/$remote/node")"
[ "$(cat "$mnt/$migrated/node")" = beta ] && [ "$(cat "$mnt/$migrated/home")" = alpha ] ||
	fail "migrated process: node $(cat "$mnt/$migrated/node") home $(cat "$mnt/$migrated/home")"
[ "$(cat "$mnt/nodes/beta/state")" = up ] || fail "beta not up"
[ "$(cat "$mnt/nodes/gamma/state")" = down ] || fail "gamma not down"
[ "$(cat "$mnt/nodes/beta/cpus")" = 2 ] || fail "beta cpus"
[ "$(stat -c %u "$mnt/$remote")" = 1000 ] || fail "owner of $remote is not uid 1000"
set -- $(cat "$mnt/$remote/stat")
[ "$7" = 0 ] && [ "$8" = -1 ] || fail "remote process shows tty $7 tpgid $8"
[ "${22}" = 1000 ] || fail "beta booted first: its starttime should stay 1000, is ${22}"
echo "ok: peer processes, node/home, nodes/, owner, no tty for remote"

# Global files: CPUs of alpha + beta (gamma is down), btime = beta's, uptime = now - btime.
ncpu=$(nproc --all)
[ "$(grep -c '^cpu[0-9]' "$mnt/stat")" = $((ncpu + 2)) ] || fail "cpuN lines: want $((ncpu + 2))"
[ "$(grep -c '^processor' "$mnt/cpuinfo")" = $((ncpu + 2)) ] || fail "cpuinfo processors"
bt=$(awk '/^btime/ {print $2}' /proc/stat)
gbt=$(awk '/^btime/ {print $2}' "$mnt/stat")
[ "$gbt" = $((bt - 100)) ] || fail "cluster btime $gbt, want $((bt - 100))"
up=$(cut -d' ' -f1 "$mnt/uptime")
now=$(date +%s)
awk -v b="$gbt" -v u="$up" -v n="$now" 'BEGIN {d = b + u - n; exit !(d > -2 && d < 2)}' ||
	fail "btime $gbt + uptime $up != now $now"
mt=$(awk '/^MemTotal/ {print $2}' /proc/meminfo)
[ "$(awk '/^MemTotal/ {print $2}' "$mnt/meminfo")" = $((mt + 2000000)) ] || fail "MemTotal sum"
echo "ok: global stat, cpuinfo, btime, uptime, meminfo sum the up nodes"

unshare -m bash -c '
	mount --bind "$1" /proc || exit 99
	ps -ef >"$2/ps" 2>"$2/ps.err" && top -b -n 1 -w 200 >"$2/top" 2>>"$2/ps.err" &&
		free >/dev/null 2>>"$2/ps.err" && uptime >/dev/null 2>>"$2/ps.err"
' _ "$mnt" "$tmp" || fail "procps over the cluster table failed: $(cat "$tmp/ps.err")"
[ -s "$tmp/ps.err" ] && fail "procps wrote errors: $(cat "$tmp/ps.err")"
grep -Eq "^[^ ]+ +$remote +[0-9]+ .* \\? +00:00:00 remote_sleeper 42\$" "$tmp/ps" ||
	fail "ps -ef lacks $remote: $(grep remote "$tmp/ps")"
grep -q "^ *$remote .*remote_sleeper" "$tmp/top" || fail "top lacks $remote"
echo "ok: ps -ef, top, free, uptime show the cluster"

opts=(--source ssid --sock "$sock" --node-id 1 --node-name alpha)
"$bin/gps" "${opts[@]}" -e | grep -Eq "^ *$remote +beta +beta +\\? .*remote_sleeper 42\$" ||
	fail "gps: $("$bin/gps" "${opts[@]}" -e | grep remote)"
"$bin/gps" "${opts[@]}" -e | grep -Eq "^ *$migrated +beta +alpha " || fail "gps: migrated HOME"
[ "$("$bin/gps" "${opts[@]}" -e --node beta --no-headers -o gpid | wc -l)" = 2 ] ||
	fail "gps --node beta"
"$bin/gps" "${opts[@]}" -e --json | python3 -c '
import json, sys
d = {p["gpid"]: p for p in json.load(sys.stdin)}
p = d[int(sys.argv[1])]
assert p["node"] == "beta" and p["home"] == "beta" and p["uid"] == 1000, p
assert p["args"] == "remote_sleeper 42" and p["tty"] == "?", p
' $remote || fail "gps --json"
echo "ok: gps NODE/HOME, --node, --json"

# The daemon goes away: gprocfs keeps the last table and never hangs.
kill "$srv_pid"
wait "$srv_pid" 2>/dev/null
srv_pid=
sleep 0.5
timeout 5 ls "$mnt" >/dev/null || fail "ls hangs or fails without the daemon"
timeout 5 cat "$mnt/$remote/stat" >/dev/null || fail "stat unreadable without the daemon"
echo "ok: no hang when the daemon is gone"

# A clean unmount ends gprocfs with status 0 and nothing on stderr (sanitizer builds report
# there).
fusermount3 -u "$mnt" || fail "unmount failed"
for i in $(seq 50); do kill -0 "$fs_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$fs_pid" 2>/dev/null && fail "gprocfs still runs after the unmount"
wait "$fs_pid"
rc=$?
fs_pid=
[ $rc = 0 ] || fail "gprocfs exited $rc: $(cat "$tmp/gprocfs.err")"
[ -s "$tmp/gprocfs.err" ] && fail "gprocfs wrote: $(head -20 "$tmp/gprocfs.err")"
echo "ok: clean unmount"
echo "PASS"
