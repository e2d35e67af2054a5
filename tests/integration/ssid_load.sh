#!/usr/bin/env bash
# ssid_load.sh - issue 3 load information: in a 3-node lab with one CPU per node, a CPU burner
# started on node2 raises node2's load as seen from node1 and node3 within 3 s (gossip and the
# immediate push on a change of a whole process), and node2 stores its load samples.
# Exit 0 pass, 77 skip (reason on the last line), else fail. Always removes its lab (trap).
set -u -o pipefail
. "$(dirname "$0")/lib.bash"
lab_init ssid-load-$$
need_lab_host
need_bins ssid ssictl
lab_trap

L up -n 3 --cpus-per-node 1 >/dev/null || { bad "ssi-lab up -n 3 --cpus-per-node 1"; exit 1; }
L status >/dev/null || { bad "the lab $SSI_LAB_NAME is gone right after up"; exit 1; }
sleep 3
# the exported load rises at once and decays slowly: let node2's start-up activity decay (on a
# busy machine its daemons wait longer as runnable) before taking the baseline, 10 s at most
below() { python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 0.3 else 1)' "$(lab_field "$1" node2 load)" 2>/dev/null; }
wait_until 10 0.2 below 1 && wait_until 10 0.2 below 3
base1=$(lab_field 1 node2 load)
base3=$(lab_field 3 node2 load)
echo "node2's load before: seen from node1 $base1, from node3 $base3"
timeout 15 bash "$lab" exec 2 -- sh -c 'exec timeout 12 sh -c "while :; do :; done"' &
burner=$!
t0=$(date +%s%N)
seen1="" seen3=""
while [ $(($(date +%s%N) - t0)) -lt 3000000000 ] && { [ -z "$seen1" ] || [ -z "$seen3" ]; }; do
	ms=$((($(date +%s%N) - t0) / 1000000))
	[ -z "$seen1" ] && python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= float(sys.argv[2]) + 0.5 else 1)' \
		"$(lab_field 1 node2 load)" "$base1" 2>/dev/null && seen1=$ms
	[ -z "$seen3" ] && python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= float(sys.argv[2]) + 0.5 else 1)' \
		"$(lab_field 3 node2 load)" "$base3" 2>/dev/null && seen3=$ms
	sleep 0.1
done
[ -n "$seen1" ] && ok "node1 saw node2's load rise by >= 0.5 after $seen1 ms ($(lab_field 1 node2 load))" ||
	bad "node1 did not see node2's load rise within 3 s (now $(lab_field 1 node2 load))"
[ -n "$seen3" ] && ok "node3 saw node2's load rise by >= 0.5 after $seen3 ms ($(lab_field 3 node2 load))" ||
	bad "node3 did not see node2's load rise within 3 s (now $(lab_field 3 node2 load))"
age=$(lab_field 1 node2 age_ms)
[ "$age" -ge 0 ] 2>/dev/null && [ "$age" -lt 3000 ] && ok "node1's information on node2 is $age ms old" ||
	bad "node1's information on node2 is stale or missing (age_ms $age)"
kill $burner 2>/dev/null
wait $burner 2>/dev/null
n=$(timeout 10 bash "$lab" exec 2 -- sh -c 'command -v sqlite3 >/dev/null && sqlite3 /var/lib/ssid/ssid.db "select count(*) from load_samples" 2>/dev/null')
if [ -n "$n" ]; then
	[ "$n" -ge 3 ] && ok "node2 stored $n load samples" || bad "node2 stored only $n load samples"
fi

finish load
