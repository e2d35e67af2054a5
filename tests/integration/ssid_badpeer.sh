#!/usr/bin/env bash
# ssid_badpeer.sh - issue 3 robustness: an authenticated peer (tests/tools/badpeer, logging in
# from node3 with node3's trusted key) sends node1 garbage, an oversize header, a truncated
# frame and an unknown type after a valid HELLO. node1 closes each such link with a logged
# reason (a link-error event), keeps running, and still sees node2 and node3 up.
# Exit 0 pass, 77 skip (reason on the last line), else fail. Always removes its lab (trap).
set -u -o pipefail
. "$(dirname "$0")/lib.bash"
lab_init ssid-bad-$$
need_lab_host
need_bins ssid ssictl
build=${SSI_BUILD:-build}
case $build in /*) ;; *) build=$top/$build ;; esac
badpeer=$build/tests/tools/badpeer
[ -x "$badpeer" ] || skip "no $badpeer: run make"
lab_trap

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
	s=$(lab_state 1 node$j)
	[ "$s" = up ] && ok "node1 still sees node$j up" || bad "node1 sees node$j $s"
done
s=$(lab_state 3 node1)
[ "$s" = up ] && ok "node3's own links to node1 are unaffected" || bad "node3 sees node1 $s"

log1() { bash "$lab" log 1 | tail -20; }
finish bad-peer log1
