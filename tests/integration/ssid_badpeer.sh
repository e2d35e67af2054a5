#!/usr/bin/env bash
# ssid_badpeer.sh - issue 3 robustness: an authenticated peer (tests/tools/badpeer, logging in
# from node3 with node3's trusted key) sends node1 garbage, an oversize header, a truncated
# frame and an unknown type after a valid HELLO. node1 closes each such link with a logged
# reason (a link-error event), keeps running, and still sees node2 and node3 up.
# Exit 0 pass, 77 skip (reason on the last line), else fail. Always removes its lab (trap).
set -u -o pipefail
top=${SSI_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${SSI_BIN:-$top/bin}
lab=$bin/ssi-lab
[ -x "$lab" ] || lab=$top/tools/ssi-lab.sh
export SSI_BIN=$bin SSI_LAB_NAME=ssid-bad-$$ SSI_LAB_DIR=/var/tmp/ssid-bad-$$

skip() { echo "$*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (namespaces, mounts, cgroups)"
for t in nsenter unshare ip python3 nft; do command -v $t >/dev/null || skip "needs $t"; done
[ -x "$bin/ssid" ] && [ -x "$bin/ssictl" ] || skip "no $bin/ssid or $bin/ssictl: run make"
[ -e /run/netns/$SSI_LAB_NAME ] && skip "a lab named $SSI_LAB_NAME is already up; not touching it"
build=${SSI_BUILD:-build}
case $build in /*) ;; *) build=$top/$build ;; esac
badpeer=$build/tests/tools/badpeer
[ -x "$badpeer" ] || skip "no $badpeer: run make"
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
L() { timeout 60 bash "$lab" "$@"; }
cleanup() { bash "$lab" down >/dev/null 2>&1; }
trap cleanup EXIT
trap 'exit 1' INT TERM

nodes_json() { timeout 10 bash "$lab" exec "$1" -- ssictl nodes --json 2>/dev/null; }
# field FROM NAME KEY: one field of NAME's entry as node FROM sees it
field() {
	nodes_json "$1" | python3 -c '
import json, sys
d = {n["name"]: n for n in json.load(sys.stdin)}
print(d.get(sys.argv[1], {}).get(sys.argv[2], "absent"))' "$2" "$3" 2>/dev/null || echo error
}
state() { field "$1" "$2" state; }

L up -n 3 >/dev/null || { bad "ssi-lab up -n 3"; exit 1; }
L status >/dev/null || { bad "the lab $SSI_LAB_NAME is gone right after up"; exit 1; }
sleep 2
for mode in garbage oversize truncated badtype; do
	out=$(timeout 20 bash "$lab" exec 3 -- "$badpeer" /etc/ssid/node_key 127.0.1.1 7022 node3 3 $mode 2>&1)
	rc=$?
	[ $rc = 0 ] && ok "node1 closed the link after $mode ($out)" || bad "badpeer $mode: exit $rc: $out"
done
sleep 1
ev=$(timeout 10 bash "$lab" exec 1 -- ssictl events -n 1000 | grep -c "link-error.*malformed frame")
[ "$ev" -ge 4 ] && ok "node1 logged $ev link-error events with the reason" ||
	bad "node1 logged $ev malformed-frame events, want 4"
timeout 10 bash "$lab" exec 1 -- ssictl status >/dev/null && ok "node1's ssid still answers" ||
	bad "node1's ssid does not answer any more"
for j in 2 3; do
	s=$(state 1 node$j)
	[ "$s" = up ] && ok "node1 still sees node$j up" || bad "node1 sees node$j $s"
done
s=$(state 3 node1)
[ "$s" = up ] && ok "node3's own links to node1 are unaffected" || bad "node3 sees node1 $s"

[ $fails -eq 0 ] || { echo "$fails check(s) failed"; bash "$lab" log 1 | tail -20; exit 1; }
echo "all bad-peer checks passed"
