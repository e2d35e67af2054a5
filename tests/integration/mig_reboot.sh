#!/usr/bin/env bash
# mig_reboot.sh - a node that crashes and comes back quickly is a new incarnation at once;
# a node whose daemon alone restarted is not. 2-node lab (lab down_ms 3000: membership alone
# would call a silent node dead 2 x 3 s after it went quiet, and never if it is back within
# 3 s). The subject is mig_ticker started with `grun -n node2` on node1 (home node1, runs on
# node2, prints every 50 ms):
#  (a) reboot: `ssi-lab crash 2; ssi-lab restart 2` (node2's processes die, node2 is back in
#      1-2 s): node2's HELLO carries a new incarnation, node1 takes node2's processes for dead
#      at once: grun reports the loss and exits 137 less than 5 s after the crash began, and
#      node2 is up again;
#  (b) daemon only: kill -9 node2's ssid and start it again (the process and its restore worker
#      live on): the same incarnation, nothing is lost: the process runs to its end on node2,
#      grun gets every line and exit status 7;
#  (c) a move in flight: the process runs at home (node1), moving it to node2 is paused on
#      node2 after the restore, before its READY (SSI_FAULT_FILE: mig.before_ready:pause);
#      node2 crashes and comes back: the home aborts the move at once (gmigrate: failed,
#      less than 5 s after the crash began; before, it waited for READY until its time-out),
#      node1's frozen copy runs on and grun gets every line and exit status 7.
# Every wait is bounded; the lab is taken down on any exit. Exit 0 pass, 77 skip, else fail.
set -u -o pipefail
. "$(dirname "$0")/lib.bash"
ticker=$build/tests/progs/mig_ticker

lab_init mig-rb-$$
need_lab_host --no-nft
need_bins ssid ssictl grun
[ -x "$ticker" ] || skip "no $ticker: run make"
lab_trap
[ -n "${SSI_KEEP_LOGS:-}" ] &&
	lab_before_down 'mkdir -p "$SSI_KEEP_LOGS"; for k in 1 2; do cp "$LAB_DIR/node$k/ssid.log" "$SSI_KEEP_LOGS/node$k.log"; done'
lab_work /var/tmp/mig-rb-work-$$
: >"$work/faults"
export SSI_FAULT_FILE=$work/faults SSI_FAULT_PAUSE_MS=4000

links_up() { [ "$(lab_state 1 node2)" = up ] && [ "$(lab_state 2 node1)" = up ]; }
logpos() { stat -c %s "$LAB_DIR/node$1/ssid.log" 2>/dev/null || echo 0; }
seen() { tail -c +$(($2 + 1)) "$LAB_DIR/node$1/ssid.log" 2>/dev/null | grep -qF "$3"; }
lines_of() { wc -l <"$1" 2>/dev/null || echo 0; }
more_than() { [ "$(lines_of "$2")" -gt "$1" ]; }

# start NAME LINES [NODE]: grun the ticker on node1, placed on NODE (default 2; 1: left at
# home; LINES lines, 50 ms apart); waits until it runs there and has printed. Sets d, runner,
# gpid. Under `make san` grun's pre-exec child carries ASan's sparse shadow mappings, too big
# to checkpoint within the freeze time-out: grun starts it at home and the exec'd ticker is
# moved to node2 with gmigrate instead of grun -n node2.
start() {
	local k=${3:-2} opt="-n node2"
	[ "$k" = 1 ] && opt=""
	if [ -n "${SSI_SANITIZED:-}" ] && [ "$k" = 2 ]; then
		opt=""
		echo "note: sanitizer build: $1: started at home by grun, moved by gmigrate instead of grun -n node2"
	fi
	d=$work/$1
	mkdir -p "$d"
	(timeout 60 bash "$lab" exec 1 -- bash -c "GRUN_VERBOSE=1 grun $opt $ticker $2 50 2>$d/grun.err >$d/out.txt; \
		echo \$? >$d/rc") &
	runner=$!
	gpid=$(grun_gpid "$d/grun.err") || { bad "$1: grun printed no gpid: $(head -c 300 "$d/grun.err")"; return 1; }
	if [ -n "${SSI_SANITIZED:-}" ] && [ "$k" = 2 ]; then
		wait_until 5 0.05 exec_done "$gpid" && X 1 gmigrate "$gpid" node2 >/dev/null 2>&1 ||
			{ bad "$1: sanitizer build: gmigrate $gpid node2"; return 1; }
	fi
	wait_until 10 0.05 same "$k" lab_where mig_ticker 1 2 ||
		{ bad "$1: not running on node$k (runs on: $(lab_where mig_ticker 1 2))"; return 1; }
	wait_until 10 0.05 more_than 3 "$d/out.txt" || { bad "$1: no output from node2"; return 1; }
}

# wait_grun SECONDS: until grun's shell has written its exit status (1 if not within: the
# runner is killed, the lab's `down` ends what is left in the node).
wait_grun() {
	wait_until "$1" 0.02 test -s "$d/rc" && return 0
	kill -KILL "$runner" 2>/dev/null
	return 1
}

L up -n 2 >/dev/null || {
	bad "ssi-lab up -n 2"
	exit 1
}
wait_until 15 0.2 links_up || bad "node1 and node2 see each other up after ssi-lab up"
"$ticker" 100 0 >"$work/ref.txt"

# ---- (a) crash + restart of node2 while the process runs there
if start reboot 400; then
	pos=$(logpos 1)
	t0=$(now)
	L crash 2 >/dev/null || bad "reboot: ssi-lab crash 2"
	L restart 2 >/dev/null || bad "reboot: ssi-lab restart 2"
	back=$(ms "$t0")
	wait_grun 15 || bad "reboot: grun still running 15 s after the crash"
	took=$(ms "$t0")
	wait $runner 2>/dev/null
	rc=$(cat "$d/rc" 2>/dev/null)
	if [ "$rc" = 137 ] && grep -qi "lost" "$d/grun.err"; then
		ok "reboot: grun reported the loss and exited 137 ($(grep -i lost "$d/grun.err" | head -1))"
	else
		bad "reboot: grun exited ${rc:-?}, expected 137 with the loss: $(tail -3 "$d/grun.err" | tr '\n' ' ')"
	fi
	if [ "$took" -lt 5000 ]; then
		ok "reboot: crash -> grun's exit $took ms (node2 back after $back ms; < 5000)"
	else
		bad "reboot: crash -> grun's exit $took ms (node2 back after $back ms), expected < 5000"
	fi
	seen 1 "$pos" "new incarnation" && ok "reboot: node1 saw node2 come back as a new incarnation" ||
		bad "reboot: node1's log never says node2 is a new incarnation"
	wait_until 10 0.2 links_up && ok "reboot: node2 is up again" || bad "reboot: node2 not up again"
	[ "$(lab_where mig_ticker 1 2)" = none ] && ok "reboot: no copy of the process anywhere" ||
		bad "reboot: a copy runs on node(s) $(lab_where mig_ticker 1 2)"
fi

# ---- (b) kill -9 + restart of node2's ssid alone while the process runs there
if start daemon 100; then
	pos=$(logpos 1) pos2=$(logpos 2)
	p=$(X 2 pgrep -x ssid | head -1)
	X 2 kill -KILL "$p" || bad "daemon: kill -9 node2's ssid"
	wait_until 5 0.05 sh -c "! timeout 5 bash $lab exec 2 -- kill -0 $p 2>/dev/null" ||
		bad "daemon: node2's ssid $p still alive"
	echo "== $(date '+%F %T') mig_reboot: ssid killed (-9) and started again" >>"$LAB_DIR/node2/ssid.log"
	X 2 /bin/sh -c "setsid ssid -f -c /etc/ssid/ssid.conf </dev/null >>/run/ssi-lab/node/ssid.log 2>&1 &" ||
		bad "daemon: starting node2's ssid again"
	wait_until 10 0.1 X 2 ssictl status >/dev/null 2>&1 || bad "daemon: node2's new ssid does not answer"
	wait_until 10 0.1 seen 2 "$pos2" "adopted its running copy" &&
		ok "daemon: node2's new ssid adopted the running process" ||
		bad "daemon: node2's new ssid did not adopt the running process"
	wait_grun 20 || bad "daemon: grun still running 20 s after the restart"
	wait $runner 2>/dev/null
	rc=$(cat "$d/rc" 2>/dev/null)
	if [ "$rc" = 7 ] && cmp -s "$work/ref.txt" "$d/out.txt"; then
		ok "daemon: the process ran to its end: exit 7, every line as in the unmigrated run"
	else
		bad "daemon: grun exited ${rc:-?} (expected 7), $(lines_of "$d/out.txt") of 100 lines: $(tail -3 "$d/grun.err" | tr '\n' ' ')"
	fi
	grep -qi "lost" "$d/grun.err" && bad "daemon: grun reported a loss: $(grep -i lost "$d/grun.err" | head -1)"
	seen 1 "$pos" "new incarnation" && bad "daemon: node1 took a daemon restart for a new incarnation" ||
		ok "daemon: node1 did not take node2's daemon restart for a new incarnation"
fi

# ---- (c) crash + restart of node2 while a move node1 -> node2 waits for its READY
if start inflight 120 1; then
	pos=$(logpos 2)
	echo "mig.before_ready:pause" >"$work/faults"
	(timeout 30 bash "$lab" exec 1 -- gmigrate --json "$gpid" node2 >"$d/mv.json" 2>&1) &
	mv=$!
	if wait_until 15 0.02 seen 2 "$pos" "fault mig.before_ready: pause"; then
		: >"$work/faults"
		t0=$(now)
		L crash 2 >/dev/null || bad "inflight: ssi-lab crash 2"
		L restart 2 >/dev/null || bad "inflight: ssi-lab restart 2"
		wait_until 15 0.02 sh -c "! kill -0 $mv 2>/dev/null" || kill -KILL $mv 2>/dev/null
		took=$(ms "$t0")
		out=$(sed -n 's/.*"outcome": "\([a-z]*\)".*/\1/p' "$d/mv.json" | head -1)
		if [ "$out" = failed ] && [ "$took" -lt 5000 ]; then
			ok "inflight: gmigrate: failed $took ms after the crash began (< 5000)"
		else
			bad "inflight: gmigrate: ${out:-no outcome} $took ms after the crash: $(head -c 300 "$d/mv.json")"
		fi
	else
		bad "inflight: mig.before_ready never reached on node2"
		: >"$work/faults"
	fi
	wait $mv 2>/dev/null
	wait_grun 30 || bad "inflight: grun still running 30 s later"
	wait $runner 2>/dev/null
	rc=$(cat "$d/rc" 2>/dev/null)
	"$ticker" 120 0 >"$work/ref120.txt"
	if [ "$rc" = 7 ] && cmp -s "$work/ref120.txt" "$d/out.txt"; then
		ok "inflight: the process ran on at home to its end: exit 7, every line as unmigrated"
	else
		bad "inflight: grun exited ${rc:-?} (expected 7), $(lines_of "$d/out.txt") of 120 lines: $(tail -3 "$d/grun.err" | tr '\n' ' ')"
	fi
fi

finish mig_reboot tail -20 "$LAB_DIR/node1/ssid.log"
