#!/usr/bin/env bash
# mig_matrix.sh - issue 6, the failure matrix: at every protocol step of a move, cut the link,
# crash the source or crash the destination, on a 3-node lab (home node1).
# T3: the process (mig_ticker started with grun on node1, printing 100 lines into a pipe;
# 1.5 MB of environment make its image two chunks) moves node2 -> node3, so the home
# survives every crash. TH: it moves node1 -> node2 (home = source), cut cases only.
# Steps: offer, freeze, stream (after the first chunk), last (after the last chunk),
# restored (before READY), ready (READY at home, before the commit record), commit (record
# durable, COMMIT not sent), resumed (before DONE). Each has a fault point per fault (tables
# pt_src/pt_dst/pt_cut below; ssid's SSI_FAULT_FILE, re-armed per case, migrate/fault.h):
#   cut: that point's node drops its link to the other side (src<->dst; home<->dst at the
#        home's points) for 5 s, longer than the lab's down_ms: both ends see it go down;
#   crash: the point pauses that node's protocol (3 s) while `ssi-lab crash` kills the whole
#        source or destination node, which is restarted after the case.
# Every case: the move ends; never two copies running at once (host-side sampler of every
# node's processes of this case); it then runs on one node (that node's own /proc); grun's
# pipe gets exactly the unmigrated output and exit status 7 -- or, only where the crashed
# node held the only copy, a prefix of it (nothing repeated), a message naming the loss and
# status 137 (expect() below). Every wait is bounded.
# Default: 7 cases (75-90 s). SSI_FULL_MATRIX=1: all 32 (about 5 minutes).
# SSI_MATRIX="T3:last:cut TH:commit:cut" runs the cases named. SSI_KEEP_LOGS=DIR keeps the
# nodes' logs and each case's files on failure. docs/migration.md has the matrix as tested.
# Exit 0 pass, 77 skip (reason on the last line), else fail. Always removes its lab (trap).
set -u -o pipefail
. "$(dirname "$0")/lib.bash"
ticker=$build/tests/progs/mig_ticker

lab_init mig-mx-$$
need_lab_host
need_bins ssid ssictl grun gmigrate
[ -x "$ticker" ] || skip "no $ticker: run make"
work=/var/tmp/mig-mx-work-$$ # outside the nodes' private /tmp: every node sees it
lab_trap
lab_on_exit "rm -rf $work"
mkdir -p "$work" && chmod 755 "$work" && : >"$work/faults" && : >"$work/case"
export SSI_FAULT_FILE=$work/faults SSI_FAULT_PAUSE_MS=3000 SSI_FAULT_CUT_MS=5000

# The point of each step, per fault. A pause holds that node's protocol (the coordinator, or
# the stream for the stream-thread points) so that the crashed node dies right at the step;
# a cut is made from the point's node. name:role (role: the node it fires on).
declare -A pt_src=([offer]=mig.after_offer:src [freeze]=mig.after_freeze:src
	[stream]=mig.mid_stream:src [last]=mig.after_last:src [restored]=mig.before_ready:dst
	[ready]=mig.before_commit:home [commit]=mig.after_record:home
	[resumed]=mig.after_resume:dst)
declare -A pt_dst=([offer]=mig.after_accept:dst [freeze]=mig.after_freeze:src
	[stream]=mig.mid_stream:src [last]=mig.last_chunk:dst [restored]=mig.before_ready:dst
	[ready]=mig.before_commit:home [commit]=mig.after_record:home
	[resumed]=mig.after_resume:dst)
declare -A pt_cut=([offer]=mig.after_accept:dst [freeze]=mig.after_freeze:src
	[stream]=mig.mid_stream:src [last]=mig.after_last:src [restored]=mig.before_ready:dst
	[ready]=mig.before_commit:home [commit]=mig.after_record:home
	[resumed]=mig.after_resume:dst)
steps="offer freeze stream last restored ready commit resumed"
# Outcome where the crashed node held the only copy: lost (137); else it runs on.
expect() { # STEP FAULT
	case $2 in
	crash_src) case $1 in offer | freeze | stream) echo lost ;; *) echo runs ;; esac ;;
	crash_dst) case $1 in ready | commit | resumed) echo lost ;; *) echo runs ;; esac ;;
	*) echo runs ;;
	esac
}

lines=100
interval=40
"$ticker" $lines 0 >"$work/ref.txt"

# The ticker with 1.5 MB of environment strings on its stack: an image of two chunks.
big='b=$(head -c 120000 /dev/zero | tr "\0" x); for i in 1 2 3 4 5 6 7 8 9 10 11 12; do export BIG$i=$b; done'

# lab_ready: every node sees the two others up and has /gfs of the home mounted (a
# restarted node starts it after ssid).
lab_ready() {
	X_TIMEOUT=10 lab_links_up || return 1
	local k
	for k in 2 3; do X $k test -d /gfs/node1/tmp || return 1; done
}
results=()
# run_case TOPO STEP FAULT
run_case() {
	local topo=$1 step=$2 fault=$3 src dst home=1 pt prole spec victim="" pnode
	local exp c=$1:$2:$3 t0 j rc out gpid mv w
	case $fault in
	crash_src) pt=${pt_src[$step]} ;;
	crash_dst) pt=${pt_dst[$step]} ;;
	*) pt=${pt_cut[$step]} ;;
	esac
	prole=${pt#*:} pt=${pt%:*}
	exp=$(expect "$step" "$fault")
	[ "$topo" = T3 ] && src=2 dst=3 || src=1 dst=2
	case $prole in src) pnode=$src ;; dst) pnode=$dst ;; *) pnode=$home ;; esac
	[ "$fault" = crash_src ] && victim=$src
	[ "$fault" = crash_dst ] && victim=$dst
	d=$work/$c
	mkdir -p "$d"
	: >"$work/faults"
	t0=$(now)
	: >"$work/samples"
	echo "$c" >"$work/case"
	(timeout 120 bash "$lab" exec 1 -- bash -c "$big; export MX_CASE=$c; GRUN_VERBOSE=1 grun $ticker $lines $interval 2>$d/grun.err | cat >$d/out.txt; \
		echo \${PIPESTATUS[0]} >$d/rc") &
	local runner=$!
	wait_until 15 0.05 grep -q '^grun: gpid' "$d/grun.err"
	gpid=$(sed -n 's/^grun: gpid \([0-9]*\)$/\1/p' "$d/grun.err")
	if [ -z "$gpid" ]; then
		bad "$c: grun printed no gpid: $(cat "$d/grun.err")"
		return
	fi
	if [ "$src" != 1 ]; then
		j=$(X 1 gmigrate --json "$gpid" node$src 2>&1)
		[[ $j == *'"outcome": "moved"'* ]] || {
			bad "$c: placing it on node$src: $j"
			wait_until 30 0.2 sh -c "! kill -0 $runner 2>/dev/null"
			return
		}
	fi
	spec="$pt:${fault/crash_*/pause}"
	[ "$step" = stream ] && spec="$spec@1"
	local pos
	pos=$(lab_logpos $pnode)
	echo "$spec" >"$work/faults"
	(timeout 90 bash "$lab" exec 1 -- gmigrate --json "$gpid" node$dst >"$d/mv.json" 2>&1) &
	mv=$!
	if [ -n "$victim" ]; then
		if wait_until 20 0.05 lab_seen $pnode "$pos" "fault $pt: pause"; then
			echo "$(date +%T.%N) crash node$victim" >>"$d/events"
			L crash $victim >/dev/null
		else
			bad "$c: point $pt never reached on node$pnode"
		fi
	fi
	wait $mv
	: >"$work/faults"
	w=$(lab_running mig_ticker)
	# grun ends by itself: the rest of the ticker's lines, or the loss report
	if ! wait_until 60 0.2 sh -c "! kill -0 $runner 2>/dev/null"; then
		bad "$c: grun still running 60 s after the move (hangs)"
		pkill -KILL -f "grun $ticker" 2>/dev/null
	fi
	wait $runner 2>/dev/null
	rc=$(cat "$d/rc" 2>/dev/null)
	out=$(sed -n 's/.*"outcome": "\([a-z]*\)".*/\1/p' "$d/mv.json" | head -1)
	local got=runs ok1=1
	[ "$rc" = 137 ] && got=lost
	if [ "$got" = runs ]; then
		[ "$rc" = 7 ] || ok1=0
		cmp -s "$work/ref.txt" "$d/out.txt" || ok1=0
	else
		grep -qi "lost" "$d/grun.err" || ok1=0
		# a prefix of the reference: nothing repeated, nothing skipped
		[ "$(head -c "$(stat -c %s "$d/out.txt")" "$work/ref.txt" | cmp - "$d/out.txt" >/dev/null && echo y)" = y ] || ok1=0
	fi
	local nlines
	nlines=$(wc -l <"$d/out.txt")
	sort -u "$work/samples" >"$d/samples"
	local msg="$c: move $out, then on node ${w}; grun $rc, $nlines/$lines lines ($(ms "$t0") ms)"
	if [ -s "$work/two" ]; then
		bad "$msg: TWO COPIES RAN: $(head -2 "$work/two")"
		: >"$work/two"
	elif [ "$out" = moved ] && ! grep -q " node$dst:" "$d/samples"; then
		bad "$msg: the sampler never saw the copy running on node$dst"
	elif [ "$got" = runs ] && [ "$out" = failed ] && ! grep -q " node$src:" "$d/samples"; then
		bad "$msg: the sampler never saw the copy running on node$src again"
	elif [ -z "$out" ]; then
		bad "$msg: gmigrate gave no outcome within 90 s (hangs): $(head -c 300 "$d/mv.json")"
	elif [ "$w" != none ] && [ ${#w} -gt 1 ]; then
		bad "$msg: running on nodes $w at once (their own /proc)"
	elif [ "$got" != "$exp" ]; then
		bad "$msg: expected $exp"
	elif [ $ok1 = 0 ]; then
		bad "$msg: output or status wrong: $(diff "$work/ref.txt" "$d/out.txt" | head -4 | tr '\n' ' ') $(tail -2 "$d/grun.err" | tr '\n' ' ')"
	else
		ok "$msg"
	fi
	results+=("$topo $step $fault $got move=$out")
	# back to a whole lab
	[ -n "$victim" ] && { L restart $victim >/dev/null || bad "$c: restart node$victim"; }
	wait_until 15 0.3 lab_ready || bad "$c: links or /gfs not all up again after the case"
}

if [ -n "${SSI_MATRIX:-}" ]; then
	cases=$SSI_MATRIX
elif [ "${SSI_FULL_MATRIX:-0}" = 1 ]; then
	cases=""
	for s in $steps; do for f in cut crash_src crash_dst; do cases="$cases T3:$s:$f"; done; done
	for s in $steps; do cases="$cases TH:$s:cut"; done
else
	# one case per way a fault ends: lost before the whole image, D runs after a source
	# crash, S runs after a destination crash, lost after the commit, a cut that fails
	# the move, cuts home <-> destination after the commit and while it prints
	cases="T3:stream:crash_src T3:last:crash_src T3:restored:crash_dst T3:commit:crash_dst
		T3:last:cut TH:commit:cut TH:resumed:cut"
fi

lab_up -n 3
wait_until 15 0.3 lab_ready || bad "links and /gfs up after ssi-lab up"
# Warm-up, no fault: the first move to a fresh node fills its home view (/gfs) and can take
# seconds, longer than the ticker waits for its first move.
(timeout 60 bash "$lab" exec 1 -- bash -c "GRUN_VERBOSE=1 grun $ticker 100 40 2>$work/warm.err >/dev/null") &
warm=$!
wait_until 15 0.05 grep -q '^grun: gpid' "$work/warm.err"
g=$(sed -n 's/^grun: gpid \([0-9]*\)$/\1/p' "$work/warm.err")
for n in node2 node3; do [ -n "$g" ] && X 1 gmigrate "$g" $n >/dev/null 2>&1; done
wait $warm
# host-side sampler of this case's copies (every sighting into "samples": proof it sees every copy)
copies_sampler mig_ticker MX_CASE 0.1 samples &
sampler_pid=$!
lab_on_exit "kill $sampler_pid 2>/dev/null"
: >"$work/two"

for cs in $cases; do
	IFS=: read -r topo step fault <<<"$cs"
	run_case "$topo" "$step" "$fault"
done
echo "matrix as run (topology step fault outcome):"
printf '  %s\n' "${results[@]}"
# $SSI_KEEP_LOGS: the nodes' logs and the cases' files are copied there.
if [ -n "${SSI_KEEP_LOGS:-}" ]; then
	mkdir -p "$SSI_KEEP_LOGS"
	for k in 1 2 3; do cp "$LAB_DIR/node$k/ssid.log" "$SSI_KEEP_LOGS/node$k.log"; done
	cp -r "$work"/T* "$SSI_KEEP_LOGS/" 2>/dev/null
fi
# On failure: the tail of every node's log.
diag() {
	local k
	for k in 1 2 3; do
		echo "== node$k"
		tail -n 25 "$LAB_DIR/node$k/ssid.log"
	done
}
finish "fault matrix" diag
