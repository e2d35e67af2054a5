#!/usr/bin/env bash
# ssid_local.sh - ssid and ssictl without a lab: four daemons on 127.0.0.1 (different ports and
# directories). node1 lists only node2, node2 lists node1 and node4, node3 is trusted by nobody.
# Checks: keygen/trust files; start-up errors are one clear line (missing key, bad key name in
# the config, taken port); nodes 1, 2, 4 see each other up (node1 learns node4 from node2);
# node3's key is refused and recorded; bad frames from an authenticated peer close that link
# only; kill -9 of node2 -> down, restart -> up with its history kept; SIGTERM -> exit 0.
# Exit 0 pass, 77 skip (reason on the last line), else fail. Cleans up (trap).
set -u -o pipefail
. "$(dirname "$0")/lib.bash"
build=${SSI_BUILD:-build}
case $build in /*) ;; *) build=$top/$build ;; esac
[ -x "$bin/ssid" ] && [ -x "$bin/ssictl" ] || skip "no $bin/ssid or $bin/ssictl: run make"
command -v python3 >/dev/null || skip "needs python3"
badpeer=$build/tests/tools/badpeer

work=$(mktemp -d /tmp/ssid_local.XXXXXX)
pids=()
cleanup() {
	exec 2>/dev/null # no "Killed" job notices
	for p in "${pids[@]}"; do kill -KILL "$p"; done
	wait
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
base=$((20000 + $$ % 20000))
port() { echo $((base + $1)); }

conf() { # conf ID PEER_IDS...
	local i=$1 j
	shift
	mkdir -p "$work/n$i"
	{
		echo "[node]"
		echo "id = $i"
		echo "name = node$i"
		echo "listen = 127.0.0.1:$(port $i)"
		echo "state_dir = state"
		echo "run_dir = run"
		echo "key = node_key"
		echo "authorized_keys = authorized_keys"
		echo "known_hosts = known_hosts"
		echo "[peers]"
		for j in "$@"; do echo "node$j = 127.0.0.1:$(port $j)"; done
		echo "[timing]"
		echo "heartbeat_ms = 250"
		echo "suspect_ms = 1000"
		echo "down_ms = 3000"
		echo "gossip_ms = 500"
		echo "[gproc]"
		echo "mount =" # four daemons share this host's mount namespace: no /gproc here
		echo "[gfs]"
		echo "mount =" # nor /gfs
	} >"$work/n$i/ssid.conf"
}
C() { local i=$1; shift; "$bin/ssictl" -c "$work/n$i/ssid.conf" "$@"; }
start() { # start ID: run ssid -f in the background, remember its pid in $work/nID/pid
	"$bin/ssid" -f -c "$work/n$1/ssid.conf" >>"$work/n$1/log" 2>&1 &
	echo $! >"$work/n$1/pid"
	pids+=($!)
}
state() { # state FROM NAME
	C "$1" nodes --json 2>/dev/null | python3 -c '
import json, sys
d = {n["name"]: n for n in json.load(sys.stdin)}
print(d.get(sys.argv[1], {}).get("state", "absent"))' "$2" 2>/dev/null || echo error
}
wait_state() { # FROM NAME STATE SECONDS
	local t0=$(date +%s%N) s
	while :; do
		s=$(state "$1" "$2")
		[ "$s" = "$3" ] && return 0
		[ $(($(date +%s%N) - t0)) -ge $(($4 * 1000000000)) ] && { echo "($2 is $s)"; return 1; }
		sleep 0.1
	done
}
check_wait() { local d=$1 out; shift; if out=$(wait_state "$@"); then ok "$d"; else bad "$d $out"; fi; }

conf 1 2
conf 2 1 4
conf 3 1 2
conf 4 2
# Start-up errors before any key exists: one line saying what to fix.
out=$("$bin/ssid" -f -c "$work/n1/ssid.conf" 2>&1)
[ $? = 1 ] && [ "$(wc -l <<<"$out")" = 1 ] && grep -q "run \`ssictl keygen\` first" <<<"$out" &&
	ok "missing key: '$out'" || bad "missing key message: '$out'"
for i in 1 2 3 4; do C $i keygen >/dev/null || bad "keygen node$i"; done
out=$(C 1 keygen)
grep -q "exists, SHA256:" <<<"$out" && ok "keygen keeps an existing key" || bad "keygen again: $out"
for a in 1 2 4; do
	for b in 1 2 4; do [ $a = $b ] || C $a trust node$b "$work/n$b/node_key.pub" >/dev/null || bad "trust $a $b"; done
done
C 3 trust node1 "$work/n1/node_key.pub" >/dev/null
C 3 trust node2 "$work/n2/node_key.pub" >/dev/null
out=$(C 1 trust node2 "$work/n2/node_key.pub")
grep -q "already trusted" <<<"$out" && [ "$(wc -l <"$work/n1/known_hosts")" = 2 ] &&
	ok "trust is idempotent" || bad "trust twice: $out"
sed 's/^name = node1/nmae = node1/' "$work/n1/ssid.conf" >"$work/typo.conf"
out=$("$bin/ssid" -f -c "$work/typo.conf" 2>&1)
[ $? = 1 ] && grep -q "typo.conf:3: unknown key 'nmae'" <<<"$out" && ok "config typo: '$out'" ||
	bad "config typo message: '$out'"

for i in 1 2 3 4; do start $i; done
check_wait "node1 sees node2 up" 1 node2 up 5
check_wait "node2 sees node1 up" 2 node1 up 5
check_wait "node1 learns node4 from node2 and sees it up" 1 node4 up 8
check_wait "node4 sees node1 up (it dialled node4 itself)" 4 node1 up 8
out=$("$bin/ssid" -f -c "$work/n2/ssid.conf" -r "$work/n2/run2" 2>&1)
[ $? = 1 ] && grep -q "127.0.0.1:$(port 2): address in use" <<<"$out" && ok "taken port: '$out'" ||
	bad "taken port message: '$out'"
for k in 1 2; do
	s=$(state $k node3)
	[ "$s" != up ] && ok "node$k does not have untrusted node3 up ($s)" || bad "node$k sees node3 up"
	C $k events | grep -q "auth-refused.*refused login: key SHA256:" &&
		ok "node$k recorded the refused key of node3" || bad "node$k has no auth-refused event"
done

if [ -x "$badpeer" ]; then
	for m in garbage oversize truncated badtype; do
		"$badpeer" "$work/n2/node_key" 127.0.0.1 "$(port 1)" node2 2 $m >/dev/null 2>&1 &&
			ok "node1 closed a link after $m" || bad "node1 kept a link open after $m"
	done
	n=$(C 1 events -n 1000 | grep -c "link-error.*malformed frame")
	[ "$n" = 4 ] && ok "4 link-error events with their reason" || bad "$n link-error events, want 4"
	[ "$(state 1 node2)" = up ] && [ "$(state 1 node4)" = up ] && ok "node1 still sees node2 and node4 up" ||
		bad "node1 lost a peer after the bad frames"
else
	bad "no $badpeer (make build/tests/tools/badpeer)"
fi

p=$(cat "$work/n2/pid")
kill -KILL "$p"
wait "$p" 2>/dev/null
check_wait "node1 marks killed node2 down" 1 node2 down 6
start 2
check_wait "node1 sees restarted node2 up" 1 node2 up 10
n=$(C 2 events -n 1000 | grep -c daemon-start)
[ "$n" = 2 ] && ok "node2's database kept its history (2 starts)" || bad "node2 has $n daemon-start events"

p=$(cat "$work/n1/pid")
kill -TERM "$p"
wait "$p"
rc=$?
[ $rc = 0 ] && ok "SIGTERM: ssid exits 0" || bad "SIGTERM: exit $rc"
if command -v sqlite3 >/dev/null; then
	sqlite3 "$work/n1/state/ssid.db" 'pragma integrity_check; select kind from events' >"$work/db.txt" 2>&1
	head -1 "$work/db.txt" | grep -qx ok && grep -qx daemon-stop "$work/db.txt" &&
		ok "database consistent and the clean stop recorded" || bad "database after SIGTERM: $(head -3 "$work/db.txt")"
else
	echo "note: no sqlite3 program, database not inspected"
fi
[ -e "$work/n1/run/ssid.sock" ] && bad "control socket left behind" || ok "control socket removed"

# logs: the end of node1's and node2's logs (shown when a check failed)
logs() { for i in 1 2; do echo "--- node$i"; tail -15 "$work/n$i/log"; done; }
finish "local ssid" logs
