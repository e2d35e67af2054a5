#!/usr/bin/env bash
# ssid_load.sh - issue 3 load information: in a 3-node lab with one CPU per node, a CPU burner
# started on node2 raises node2's load as seen from node1 and node3 within 3 s (gossip and the
# immediate push on a change of a whole process), and node2 stores its load samples.
# Exit 0 pass, 77 skip (reason on the last line), else fail. Always removes its lab (trap).
set -u -o pipefail
top=${SSI_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${SSI_BIN:-$top/bin}
lab=$bin/ssi-lab
[ -x "$lab" ] || lab=$top/tools/ssi-lab.sh
export SSI_BIN=$bin SSI_LAB_NAME=ssid-load-$$ SSI_LAB_DIR=/var/tmp/ssid-load-$$

skip() { echo "$*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (namespaces, mounts, cgroups)"
for t in nsenter unshare ip python3 nft; do command -v $t >/dev/null || skip "needs $t"; done
[ -x "$bin/ssid" ] && [ -x "$bin/ssictl" ] || skip "no $bin/ssid or $bin/ssictl: run make"
[ -e /run/netns/$SSI_LAB_NAME ] && skip "a lab named $SSI_LAB_NAME is already up; not touching it"
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

L up -n 3 --cpus-per-node 1 >/dev/null || { bad "ssi-lab up -n 3 --cpus-per-node 1"; exit 1; }
L status >/dev/null || { bad "the lab $SSI_LAB_NAME is gone right after up"; exit 1; }
sleep 3
base1=$(field 1 node2 load)
base3=$(field 3 node2 load)
echo "node2's load before: seen from node1 $base1, from node3 $base3"
timeout 15 bash "$lab" exec 2 -- sh -c 'exec timeout 12 sh -c "while :; do :; done"' &
burner=$!
t0=$(date +%s%N)
seen1="" seen3=""
while [ $(($(date +%s%N) - t0)) -lt 3000000000 ] && { [ -z "$seen1" ] || [ -z "$seen3" ]; }; do
	ms=$((($(date +%s%N) - t0) / 1000000))
	[ -z "$seen1" ] && python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= float(sys.argv[2]) + 0.5 else 1)' \
		"$(field 1 node2 load)" "$base1" 2>/dev/null && seen1=$ms
	[ -z "$seen3" ] && python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= float(sys.argv[2]) + 0.5 else 1)' \
		"$(field 3 node2 load)" "$base3" 2>/dev/null && seen3=$ms
	sleep 0.1
done
[ -n "$seen1" ] && ok "node1 saw node2's load rise by >= 0.5 after $seen1 ms ($(field 1 node2 load))" ||
	bad "node1 did not see node2's load rise within 3 s (now $(field 1 node2 load))"
[ -n "$seen3" ] && ok "node3 saw node2's load rise by >= 0.5 after $seen3 ms ($(field 3 node2 load))" ||
	bad "node3 did not see node2's load rise within 3 s (now $(field 3 node2 load))"
age=$(field 1 node2 age_ms)
[ "$age" -ge 0 ] 2>/dev/null && [ "$age" -lt 3000 ] && ok "node1's information on node2 is $age ms old" ||
	bad "node1's information on node2 is stale or missing (age_ms $age)"
kill $burner 2>/dev/null
wait $burner 2>/dev/null
n=$(timeout 10 bash "$lab" exec 2 -- sh -c 'command -v sqlite3 >/dev/null && sqlite3 /var/lib/ssid/ssid.db "select count(*) from load_samples" 2>/dev/null')
if [ -n "$n" ]; then
	[ "$n" -ge 3 ] && ok "node2 stored $n load samples" || bad "node2 stored only $n load samples"
fi

[ $fails -eq 0 ] || { echo "$fails check(s) failed"; exit 1; }
echo "all load checks passed"
