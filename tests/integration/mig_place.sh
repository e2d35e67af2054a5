#!/usr/bin/env bash
# mig_place.sh - issue 6, placement at start and admission at the destination, on a 3-node lab.
# 1. node1 and node2 busy (niced busy loops): `grun --best` from node1 lands on node3 (seen in
#    node3's own /proc and in gps NODE on node1); its output and exit status (7) arrive.
# 2. `ssictl block` on node3: shown in ssictl status/nodes there and gossiped to node1;
#    gmigrate to node3 is refused with "node3 refuses: blocked by its administrator ..."
#    (exit 1); grun -n node3 runs the command at home with that message; --best avoids node3.
# 3. node3 restarts: still blocked (the order is in its sqlite store); unblock: accepted.
# 4. Memory: node2 restarts with [admit] reserve_mb = 1048576 in its config (a reserve above
#    its whole memory, so nothing is available above it: a real setting, not a fake
#    measurement; a reserve relative to MemAvailable would race with whatever else runs on
#    the host); a process with 400 MiB resident is refused with
#    "node2 refuses: needs N MiB, 0 MiB available".
# Exit 0 pass, 77 skip (reason on the last line), else fail. Always removes its lab (trap).
set -u -o pipefail
. "$(dirname "$0")/lib.bash"
ticker=$build/tests/progs/mig_ticker
lab_init mig-place-$$

need_lab_host
need_bins ssid ssictl grun gmigrate gps
[ -x "$ticker" ] || skip "no $ticker: run make"
lab_trap
lab_work /var/tmp/mig-place-work-$$
t0=$(now)

lab_up -n 3

# field FROM NAME KEY: from `ssictl nodes --json` on node FROM.
field() { lab_field "$@"; }
up3() { [ "$(field 1 node2 state)" = up ] && [ "$(field 1 node3 state)" = up ] &&
	[ "$(field 1 node3 age_ms)" != -1 ] && [ "$(field 1 node2 age_ms)" != -1 ]; }
wait_until 15 0.2 up3 || bad "node1 does not see node2 and node3 up with load facts"

# 1. node1 and node2 busy, node3 idle.
busy() { X "$1" setsid -f nice -n 19 sh -c 'while :; do :; done' >/dev/null 2>&1 </dev/null; }
busy 1; busy 1; busy 1; busy 2; busy 2; busy 2; busy 2 # 3 and 4 runnable on 2 CPUs each
# node1 sees the load it needs to see: node1 and node2 busy, node3 well below both (the
# lab's nodes share the host's CPUs, so other work on the host shows on every node).
loaded() { python3 -c 'import sys; a, b, c = map(float, sys.argv[1:]); sys.exit(not (a >= 1.3 and b >= 1.8 and c <= min(a, b) - 0.6))' \
	"$(field 1 node1 load)" "$(field 1 node2 load)" "$(field 1 node3 load)" 2>/dev/null; }
wait_until 20 0.2 loaded && ok "node1 sees load node1 $(field 1 node1 load), node2 $(field 1 node2 load), node3 $(field 1 node3 load)" ||
	bad "loads not seen on node1: node1 $(field 1 node1 load), node2 $(field 1 node2 load)"

if [ -n "${SSI_SANITIZED:-}" ]; then
	# Under `make san` grun carries ASan: the child it places before exec has ASan's huge
	# shadow mappings, whose checkpoint outlasts the freeze time-out (as in mig_signals.sh).
	echo "note: sanitizer build: the grun --best placement on node3 is not run"
else
	( X 1 bash -c "GRUN_VERBOSE=1 grun --best $ticker 30 100 7 busy 2>$work/best.err >$work/best.out; echo \$? >$work/best.rc" ) &
	runner=$!
	for _ in $(seq 50); do grep -q 'gpid' "$work/best.err" 2>/dev/null && break; sleep 0.1; done
	gpid=$(sed -n 's/^grun: gpid \([0-9]*\)$/\1/p' "$work/best.err")
	w=none
	for _ in $(seq 30); do w=$(lab_where mig_ticker); [ "$w" = 3 ] && break; sleep 0.1; done
	[ "$w" = 3 ] && ok "grun --best from node1 runs it on node3 only ($(grep -- '--best' "$work/best.err"))" ||
		bad "grun --best: it runs on '$w': $(cat "$work/best.err")"
	# gps reads the cluster table, refreshed every ~0.5 s: give it a few refreshes
	gps_row() {
		seen=$(X 1 gps -e -o gpid,node,home --no-headers 2>/dev/null | awk -v g="${gpid:-x}" '$1 == g' | tr -s ' ' | sed 's/^ //')
		[[ $seen == "$gpid node3 node1" ]]
	}
	wait_until 3 0.2 gps_row && ok "gps on node1: '$seen'" || bad "gps on node1: '$seen' (gpid '$gpid')"
	wait $runner
	"$ticker" 30 0 7 >"$work/ref.out"
	# busy mode ends every line with "on NODE": all on node3, else identical to a local run
	if [ "$(grep -c ' on node3$' "$work/best.out")" = 30 ] &&
		cmp -s <(sed 's/ on node[0-9]*$//' "$work/best.out") <(sed 's/ on node[0-9]*$//' "$work/ref.out"); then
		ok "its 30 lines arrived at node1, every one computed on node3"
	else
		bad "output of the placed process: $(head -3 "$work/best.out")"
	fi
	[ "$(cat "$work/best.rc")" = 7 ] && ok "exit status 7 arrived at grun" || bad "grun exited $(cat "$work/best.rc")"
fi

# 2. Block node3.
msg=$(X 3 ssictl block 2>&1) && ok "ssictl block on node3: $msg" || bad "ssictl block: $msg"
X 3 ssictl status | grep -q 'incoming processes blocked' && ok "ssictl status on node3 shows it" ||
	bad "ssictl status on node3: $(X 3 ssictl status | grep policy)"
blocked_seen() { [ "$(field 1 node3 blocked)" = True ]; }
wait_until 5 0.2 blocked_seen && ok "node1 learned by gossip that node3 is blocked" ||
	bad "node1 sees node3 blocked = $(field 1 node3 blocked)"
X 1 bash -c "GRUN_VERBOSE=1 grun $ticker 3000 50 2>$work/t.err >/dev/null" &
runner=$!
for _ in $(seq 50); do grep -q 'gpid' "$work/t.err" 2>/dev/null && break; sleep 0.1; done
tgpid=$(sed -n 's/^grun: gpid \([0-9]*\)$/\1/p' "$work/t.err")
msg=$(X 1 gmigrate "$tgpid" node3 2>&1)
rc=$?
[ $rc = 1 ] && [[ $msg == *"node3 refuses: blocked by its administrator (ssictl unblock on node3)"* ]] &&
	ok "gmigrate to blocked node3: exit 1, '$msg'" || bad "gmigrate to blocked node3: rc $rc, '$msg'"
[ "$(lab_where mig_ticker)" = 1 ] && ok "the refused process still runs on node1" ||
	bad "after the refusal it runs on: $(lab_where mig_ticker)"
msg=$(X 1 grun -n node3 sh -c 'cat /proc/sys/kernel/hostname; exit 5' 2>&1)
rc=$?
[ $rc = 5 ] && [[ $msg == *"node3 refuses: blocked by its administrator"* ]] &&
	echo "$msg" | grep -qx node1 &&
	ok "grun -n node3 falls back to node1 with the reason: $(echo "$msg" | tr '\n' ' ')" ||
	bad "grun -n node3 while blocked: rc $rc: $msg"
msg=$(X 1 env GRUN_VERBOSE=1 grun --best sh -c 'cat /proc/sys/kernel/hostname' 2>&1)
# home or node2 (both busy: which one depends on the moment's loads), never node3
[[ $msg == *"node3 blocked"* ]] && echo "$msg" | grep -qx 'node[12]' &&
	ok "--best avoids blocked node3: $(echo "$msg" | grep -x 'node[12]'): $(echo "$msg" | grep -- --best)" ||
	bad "--best with node3 blocked: $msg"

# 3. Restart node3: the block survives; unblock. node2 restarts with its reserve (step 4).
L restart node3 >/dev/null || bad "ssi-lab restart node3"
printf '[admit]\nreserve_mb = 1048576\n' >>"$LAB_DIR/node2/etc/ssid.conf"
L restart node2 >/dev/null || bad "ssi-lab restart node2"
X 3 ssictl status | grep -q 'incoming processes blocked' && ok "after a restart node3 is still blocked" ||
	bad "after a restart: $(X 3 ssictl status | grep policy)"
msg=$(X 3 ssictl unblock 2>&1) && ok "ssictl unblock on node3: $msg" || bad "ssictl unblock: $msg"
unblocked_seen() { [ "$(field 1 node3 blocked)" = False ] && [ "$(field 1 node3 state)" = up ]; }
wait_until 15 0.2 unblocked_seen || bad "node1 sees node3 blocked=$(field 1 node3 blocked) $(field 1 node3 state)"
# the restarted node3 serves a guest once it sees node1's files again
wait_until 15 0.2 X 3 test -d /gfs/node1/etc || bad "node3 has no /gfs/node1 after its restart"
j=$(X 1 gmigrate --json "$tgpid" node3 2>&1)
rc=$?
[ $rc = 0 ] && [[ $j == *'"outcome": "moved"'* ]] && [ "$(lab_where mig_ticker)" = 3 ] &&
	ok "unblocked: gmigrate to node3 accepted, it runs there" || bad "after unblock: rc $rc: $j"
X 1 gkill -s KILL "$tgpid" >/dev/null 2>&1
wait $runner 2>/dev/null

# 4. Memory: 400 MiB resident vs nothing available above node2's reserve.
X 1 bash -c "GRUN_VERBOSE=1 grun python3 -c 'import time; b = b\"x\" * (400 << 20); print(\"ready\", flush=True); time.sleep(60)' 2>$work/m.err >$work/m.out" &
runner=$!
for _ in $(seq 100); do grep -q ready "$work/m.out" 2>/dev/null && break; sleep 0.1; done
mgpid=$(sed -n 's/^grun: gpid \([0-9]*\)$/\1/p' "$work/m.err")
wait_until 15 0.2 eval '[ "$(field 1 node2 state)" = up ]' || bad "node2 not up again after its restart"
msg=$(X 1 gmigrate "$mgpid" node2 2>&1)
rc=$?
if [ $rc = 1 ] && [[ $msg =~ node2\ refuses:\ needs\ ([0-9]+)\ MiB,\ 0\ MiB\ available ]] &&
	[ "${BASH_REMATCH[1]}" -ge 400 ] && [ "$(lab_where python3)" = 1 ]; then
	ok "400 MiB process refused by node2 (reserve_mb 1048576), still runs on node1: '$msg'"
else
	bad "memory refusal: rc $rc: '$msg'"
fi
X 1 gkill -s KILL "$mgpid" >/dev/null 2>&1
wait $runner 2>/dev/null

echo "took $(($(ms "$t0") / 1000)) s"
# diag: the end of node3's log; with SSI_KEEP_LOGS=PREFIX every node's log is kept.
diag() {
	local k
	[ -n "${SSI_KEEP_LOGS:-}" ] && for k in 1 2 3; do cp "$LAB_DIR/node$k/ssid.log" "$SSI_KEEP_LOGS.node$k.log"; done
	tail -20 "$LAB_DIR/node3/ssid.log"
}
finish mig_place diag
