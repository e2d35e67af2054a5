#!/usr/bin/env bash
# ssid_membership.sh - issue 3 membership on a 3-node lab: every node sees all 3 up within 5 s
# of its daemon's start; `cut 1 3` makes node1 mark node3 suspect, then down, while node2 still
# sees both; `heal` brings node3 back up at node1; `crash 2` makes the others mark node2 down;
# `restart 2` brings it back up everywhere and its database still holds its earlier history.
# Exit 0 pass, 77 skip (reason on the last line), else fail. Always removes its lab (trap).
set -u -o pipefail
. "$(dirname "$0")/lib.bash"
lab_init ssid-mem-$$
need_lab_host
need_bins ssid ssictl
lab_trap

# wait_state FROM NAME STATE SECONDS: poll until FROM sees NAME in STATE; prints the time taken
wait_state() {
	local t0 s
	t0=$(now)
	while :; do
		s=$(lab_state "$1" "$2")
		[ "$s" = "$3" ] && { echo "$(ms "$t0") ms"; return 0; }
		[ "$(ms "$t0")" -ge $(($4 * 1000)) ] && { echo "last seen: $s"; return 1; }
		sleep 0.1
	done
}
check_wait() { # DESCRIPTION FROM NAME STATE SECONDS
	local d=$1 out
	shift
	if out=$(wait_state "$@"); then ok "$d ($out)"; else bad "$d ($out)"; fi
}

L up -n 3 >/dev/null || { L status; bad "ssi-lab up -n 3"; exit 1; }
L status >/dev/null || { bad "the lab $SSI_LAB_NAME is gone right after up"; exit 1; }

# 1. All up within 5 s of each daemon's start: compare event times in each node's database.
sleep 5.5 # so that a node-up later than 5 s after a start would already be recorded
for k in 1 2 3; do
	r=$(timeout 10 bash "$lab" exec $k -- ssictl events --json | python3 -c '
import json, sys
ev = json.load(sys.stdin)
start = max(e["t_ms"] for e in ev if e["kind"] == "daemon-start")
ups = {e["text"].split()[0]: e["t_ms"] for e in ev if e["kind"] == "node-up" and e["t_ms"] >= start}
want = {"node1", "node2", "node3"} - {sys.argv[1]}
missing = want - set(ups)
if missing:
    print("missing " + " ".join(sorted(missing)))
else:
    print("%d" % (max(ups.values()) - start))' "node$k")
	if [[ $r =~ ^[0-9]+$ ]] && [ "$r" -le 5000 ]; then
		ok "node$k saw both peers up $r ms after its start"
	else
		bad "node$k: all peers up within 5 s of start ($r)"
	fi
	for j in 1 2 3; do
		[ $j = $k ] && continue
		s=$(lab_state $k node$j)
		[ "$s" = up ] && ok "node$k sees node$j up" || bad "node$k sees node$j $s"
	done
done

# 2. cut 1 3: suspect, then down at node1; node2 still sees both.
L cut 1 3 >/dev/null || bad "ssi-lab cut 1 3"
check_wait "node1 marks node3 suspect after the cut" 1 node3 suspect 4
check_wait "node1 marks node3 down after the cut" 1 node3 down 6
[ "$(lab_state 2 node1)" = up ] && ok "node2 still sees node1 up" || bad "node2 sees node1 $(lab_state 2 node1)"
[ "$(lab_state 2 node3)" = up ] && ok "node2 still sees node3 up" || bad "node2 sees node3 $(lab_state 2 node3)"
[ "$(lab_state 1 node2)" = up ] && ok "node1 still sees node2 up" || bad "node1 sees node2 $(lab_state 1 node2)"
L heal 1 3 >/dev/null || bad "ssi-lab heal 1 3"
check_wait "node1 sees node3 up again after heal" 1 node3 up 12
check_wait "node3 sees node1 up again after heal" 3 node1 up 12

# 3. crash 2: down at the others; restart 2: up again, with its history in its database.
L crash 2 >/dev/null || bad "ssi-lab crash 2"
check_wait "node1 marks crashed node2 down" 1 node2 down 7
check_wait "node3 marks crashed node2 down" 3 node2 down 7
L restart 2 >/dev/null || bad "ssi-lab restart 2"
check_wait "node1 sees restarted node2 up" 1 node2 up 12
check_wait "node3 sees restarted node2 up" 3 node2 up 12
check_wait "restarted node2 sees node1 up" 2 node1 up 12
starts=$(timeout 10 bash "$lab" exec 2 -- ssictl events --json | python3 -c '
import json, sys
print(sum(1 for e in json.load(sys.stdin) if e["kind"] == "daemon-start"))')
[ "${starts:-0}" -ge 2 ] && ok "node2's database holds both of its starts ($starts)" ||
	bad "node2's database lost its history (daemon-start events: ${starts:-none})"

# logs: the end of each node's log (shown when a check failed)
logs() { for k in 1 2 3; do echo "--- node$k log"; bash "$lab" log $k 2>&1 | tail -15; done; }
finish membership logs
