# lib.bash - shared pieces of the lab integration tests (tests/integration/*.sh). Sourced, not run
# (no .sh suffix, so the runner skips it). Owns: the private lab name, finding ssi-lab, the exit
# trap that takes the lab down, the ok/bad counters, waiting with a time-out and the final verdict.
# Also: running a command in a node (X), as ssiuser (as_ssiuser), where a program runs
# (lab_where, lab_running), grun's gpid (grun_gpid), a work directory removed on exit (lab_work),
# the lab up and its links (lab_up, wait_sees, lab_links_up), ssid logs (lab_logpos, lab_seen),
# migration checks (copies_sampler, start_piped_run, check_piped_run, history_moves, cut_closes).
# Does not start a lab nor decide what a test checks. Assumes bash, `set -u`, and that the test
# sources it as: . "$(dirname "$0")/lib.bash"
# Sets: $top (repo root), $bin (programs), $build (build directory: test programs), $lab
# (ssi-lab), $fails; lab_init sets $NAME, $LAB_DIR; lab_work sets $work.

top=${SSI_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${SSI_BIN:-$top/bin}
build=${SSI_BUILD:-$top/build}
case $build in /*) ;; *) build=$top/$build ;; esac
# ssi-lab: $SSI_LAB if given, else the built one, else the script in the tree.
lab=${SSI_LAB:-$bin/ssi-lab}
[ -n "${SSI_LAB:-}" ] || [ -x "$lab" ] || lab=$top/tools/ssi-lab.sh
fails=0

# lab_init NAME: this test's own lab (name and state directory /var/tmp/NAME), so that tests
# run side by side and beside a user's lab; exports what ssi-lab reads.
lab_init() {
	NAME=$1
	LAB_DIR=/var/tmp/$NAME
	export SSI_BIN=$bin SSI_TOP=$top SSI_LAB_NAME=$NAME SSI_LAB_DIR=$LAB_DIR
}

# skip REASON: exit 77 with the reason as the last line.
skip() {
	echo "$*"
	exit 77
}

# need_lab_host [--no-nft] [TOOL...]: skip unless root with nsenter, unshare, ip, python3, nft
# (not with --no-nft: a test that never cuts a link) and TOOLs, and unless no lab of this name is
# up already (never touch someone else's lab).
need_lab_host() {
	local t nft=nft
	[ "${1:-}" = --no-nft ] && { nft=""; shift; }
	[ "$(id -u)" = 0 ] || skip "needs root (namespaces, mounts, cgroups)"
	for t in nsenter unshare ip python3 $nft "$@"; do
		command -v "$t" >/dev/null && continue
		[ "$t" = nft ] && skip "needs nft (apt-get install nftables)"
		skip "needs $t"
	done
	[ -e "/run/netns/$NAME" ] && skip "a lab named $NAME is already up; not touching it"
	return 0
}

# need_bins PROG...: skip unless every PROG is built in $bin (a PROG with a / is a path).
need_bins() {
	local p
	for p in "$@"; do
		[[ $p == */* ]] || p=$bin/$p
		[ -x "$p" ] || skip "no $p: run make"
	done
}

# ok MSG / bad MSG: report one check; bad counts it in $fails.
ok() { echo "ok   $*"; }
bad() {
	echo "FAIL $*"
	fails=$((fails + 1))
}

# check DESCRIPTION CMD...: one check that passes when CMD succeeds.
check() {
	local d=$1
	shift
	if "$@"; then ok "$d"; else bad "$d"; fi
}

# L ARGS...: ssi-lab ARGS on this test's lab, never longer than 60 s.
L() { timeout 60 bash "$lab" "$@"; }

# X NODE CMD...: CMD in NODE (1 or node1) as root, never longer than $X_TIMEOUT s (20).
X() {
	local n=$1
	shift
	timeout "${X_TIMEOUT:-20}" bash "$lab" exec "$n" -- "$@"
}
# as_ssiuser NODE SCRIPT: sh -c SCRIPT in NODE as ssiuser, through su (it keeps the caller's
# environment, as a user's shell would pass it on).
as_ssiuser() { X "$1" su ssiuser -s /bin/sh -c "$2"; }

# lab_where PROG [NODE...]: the nodes (of 1 2 3, or NODEs) whose own /proc shows a process
# named PROG, as one string ("13"), or "none".
lab_where() {
	local prog=$1 k out="" nodes=(1 2 3)
	shift
	[ $# -eq 0 ] || nodes=("$@")
	for k in "${nodes[@]}"; do X "$k" pgrep -x "$prog" >/dev/null 2>&1 && out="$out$k"; done
	echo "${out:-none}"
}

# grun_gpid FILE: wait (5 s at most) for GRUN_VERBOSE's "grun: gpid N" line in FILE (grun's
# stderr) and print N; fails if there is none.
grun_gpid() {
	local g
	wait_until 5 0.1 grep -q '^grun: gpid ' "$1" 2>/dev/null
	g=$(sed -n 's/^grun: gpid \([0-9]*\)$/\1/p' "$1" 2>/dev/null)
	[ -n "$g" ] && echo "$g"
}

# exec_done GPID: grun's child GPID (home node1) has exec'd its program (its comm is no longer
# grun's). Under `make san` the child before its exec is the ASan-built grun, whose checkpoint
# outlasts the freeze time-out: wait for it before a gmigrate right after grun's gpid line.
exec_done() { local c; c=$(X 1 cat "/proc/$(($1 & 4194303))/comm" 2>/dev/null) && [ -n "$c" ] && [ "$c" != grun ]; }

# now: the time in ns; ms T0: milliseconds since T0 (a `now` value).
now() { date +%s%N; }
ms() { echo $((($(date +%s%N) - $1) / 1000000)); }

# wait_until SECONDS STEP CMD...: run CMD every STEP seconds until it succeeds (0) or SECONDS
# have passed (1; CMD is tried once more at the deadline).
wait_until() {
	local limit=$(($1 * 1000)) step=$2 t0
	shift 2
	t0=$(now)
	until "$@"; do
		[ "$(ms "$t0")" -ge "$limit" ] && return 1
		sleep "$step"
	done
}

# same VALUE CMD...: CMD prints VALUE (for wait_until, which reruns CMD: a "$(...)" in its
# arguments would be expanded only once).
same() {
	local v=$1
	shift
	[ "$("$@")" = "$v" ]
}

# lab_on_exit CMD: one more shell command for the exit trap (after the lab is down).
# lab_before_down CMD: one for the exit trap before the lab goes down (e.g. to keep its logs).
lab_exit_cmds=()
lab_down_cmds=()
lab_on_exit() { lab_exit_cmds+=("$1"); }
lab_before_down() { lab_down_cmds+=("$1"); }

# lab_work DIR: make DIR (mode 755: the nodes' users read it; under /var/tmp, outside the
# nodes' private /tmp, every node sees it) as $work; the exit trap removes it.
lab_work() {
	work=$1
	lab_on_exit 'rm -rf "$work"'
	mkdir -p "$work" && chmod 755 "$work"
}

# lab_trap: on any exit take this test's lab down and run the lab_on_exit commands; INT and
# TERM exit 1 (so the trap runs).
lab_trap() {
	trap lab_cleanup EXIT
	trap 'exit 1' INT TERM
}
lab_cleanup() {
	local c
	for c in "${lab_down_cmds[@]}"; do eval "$c"; done
	bash "$lab" down >/dev/null 2>&1
	for c in "${lab_exit_cmds[@]}"; do eval "$c"; done
}

# lab_field FROM NAME KEY: one field of NAME's entry in `ssictl nodes --json` on node FROM
# ("absent" if NAME is unknown there, "error" if the command fails).
lab_field() {
	timeout 10 bash "$lab" exec "$1" -- ssictl nodes --json 2>/dev/null | python3 -c '
import json, sys
d = {n["name"]: n for n in json.load(sys.stdin)}
print(d.get(sys.argv[1], {}).get(sys.argv[2], "absent"))' "$2" "$3" 2>/dev/null || echo error
}
# lab_state FROM NAME: NAME's state (up, suspect, down, ...) as node FROM sees it.
lab_state() { lab_field "$1" "$2" state; }

# lab_up ARGS...: ssi-lab up ARGS (e.g. -n 3); a failure is a failed check and ends the test (1).
lab_up() { L up "$@" >/dev/null || { bad "ssi-lab up $*"; exit 1; }; }
# wait_sees FROM NODE...: wait (10 s at most each) until node FROM sees every nodeNODE up.
wait_sees() {
	local f=$1 k
	shift
	for k in "$@"; do wait_until 10 0.2 same up lab_state "$f" "node$k" || bad "node$f does not see node$k up"; done
}
# lab_links_up: each of nodes 1 2 3 sees the two others up (`ssictl nodes`, via X).
lab_links_up() {
	local a
	for a in 1 2 3; do
		X $a ssictl nodes --json 2>/dev/null | python3 -c '
import json, sys
v = [n for n in json.load(sys.stdin) if not n.get("self")]
sys.exit(0 if len(v) == 2 and all(n["state"] == "up" for n in v) else 1)' || return 1
	done
}
# lab_running PROG: the nodes (of 1 2 3) whose own /proc shows PROG running (not stopped,
# traced or zombie), as one string ("13"), or "none".
lab_running() {
	local k out=""
	for k in 1 2 3; do
		X $k sh -c "ps -o stat= -C $1 | grep -qv '^[TtZ]'" 2>/dev/null && out="$out$k"
	done
	echo "${out:-none}"
}
# lab_logpos NODE: the size of NODE's ssid log; lab_seen NODE POS TEXT: TEXT in it after byte POS.
lab_logpos() { stat -c %s "$LAB_DIR/node$1/ssid.log" 2>/dev/null || echo 0; }
lab_seen() { tail -c +$(($2 + 1)) "$LAB_DIR/node$1/ssid.log" 2>/dev/null | grep -qF "$3"; }

# copies_sampler PROG VAR STEP [samples]: run for ever (in the background), every STEP s
# looking at every running (not stopped, traced-stopped or zombie) PROG of this lab whose
# environment has VAR=<the case named in $work/case>, by node (its cgroup); when two run at
# once it appends the evidence to $work/two; with "samples" every sighting to $work/samples.
copies_sampler() {
	local prog=$1 var=$2 step=$3 keep=${4:-} pid st cg n seen env c
	while :; do
		n=0 seen="" c=$(cat "$work/case")
		for pid in $(pgrep -x "$prog"); do
			cg=$(cat /proc/$pid/cgroup 2>/dev/null) || continue
			[[ $cg == *"/$NAME/node"* ]] || continue
			# this case's copies only (a restored copy keeps its environment); no
			# grep -q in a pipe here: with pipefail its early exit fails the pipe
			env=$(tr '\0' '\n' </proc/$pid/environ 2>/dev/null) || continue
			[[ $'\n'$env$'\n' == *$'\n'"$var=$c"$'\n'* ]] || continue
			st=$(awk '{print $3}' /proc/$pid/stat 2>/dev/null) || continue
			case $st in T | t | Z | X | "") continue ;; esac
			n=$((n + 1))
			seen="$seen node${cg##*/$NAME/node}:$pid:$st"
		done
		[ $n -gt 1 ] && echo "$(date +%T.%N) $seen" >>"$work/two"
		[ -n "$keep" ] && [ -n "$seen" ] && echo "$seen" >>"$work/samples"
		sleep "$step"
	done
}

# start_piped_run TICKER LINES INTERVAL: mig_ticker TICKER's LINES here ($work/ref.txt, its
# status in ref.rc), then grun of it (a line per INTERVAL ms) on node1 into a pipe, in the
# background ($work/out.txt, grun's stderr grun.err, status rc): sets runner (its pid) and gpid;
# grun printing no gpid is a failed check that ends the test.
# shellcheck disable=SC2034 # runner and gpid are for the caller
start_piped_run() {
	"$1" "$2" 0 >"$work/ref.txt"
	echo "$?" >"$work/ref.rc"
	(X 1 bash -c "GRUN_VERBOSE=1 grun $1 $2 $3 2>$work/grun.err | cat >$work/out.txt; \
		echo \${PIPESTATUS[0]} >$work/rc") &
	runner=$!
	gpid=$(grun_gpid "$work/grun.err") || {
		bad "grun printed no gpid: $(cat "$work/grun.err" 2>/dev/null)"
		exit 1
	}
}
# check_piped_run PID [WHERE]: wait for PID (a run writing $work/out.txt and $work/rc), then
# check both against the unmigrated run's $work/ref.txt and $work/ref.rc (grun WHERE: "on node1").
check_piped_run() {
	local rc
	wait "$1"
	if cmp -s "$work/ref.txt" "$work/out.txt"; then
		ok "output through the pipe identical to an unmigrated run ($(wc -l <"$work/out.txt") lines)"
	else
		bad "output differs from an unmigrated run: $(diff "$work/ref.txt" "$work/out.txt" | head -5)"
	fi
	rc=$(cat "$work/rc" 2>/dev/null)
	[ "$rc" = "$(cat "$work/ref.rc")" ] && ok "exit status $rc arrived at grun${2:+ $2}" ||
		bad "grun exited '$rc', expected $(cat "$work/ref.rc")"
}
# history_moves NODE GPID: from `ssictl history` on NODE, "OK A>B ...": how many moves of GPID
# ended ok, then every move's from>to, oldest first.
history_moves() {
	local h
	h=$(X "$1" ssictl history --json "$2")
	python3 -c '
import json, sys
v = json.loads(sys.argv[1])
print(sum(1 for m in v if m["outcome"] == "ok"), " ".join("%d>%d" % (m["from"], m["to"]) for m in reversed(v)))' "$h" 2>&1
}
# cut_closes A B SECONDS WHAT: cut the link A<->B for SECONDS and heal it (1 if ssi-lab fails);
# one check: node A's log shows a session "closed" meanwhile.
cut_closes() {
	local log=$LAB_DIR/node$1/ssid.log c0
	c0=$(grep -c 'closed' "$log" 2>/dev/null)
	L cut "$1" "$2" >/dev/null || { bad "ssi-lab cut $1 $2"; return 1; }
	sleep "$3"
	L heal "$1" "$2" >/dev/null || { bad "ssi-lab heal $1 $2"; return 1; }
	[ "$(grep -c 'closed' "$log" 2>/dev/null)" -gt "$c0" ] &&
		ok "$4 closed the link: $(grep 'closed' "$log" | tail -1 | cut -c1-160)" ||
		bad "$4 did not close the link (a stalled session is not what this tests)"
}

# finish WHAT [CMD...]: the verdict. All passed: "all WHAT checks passed", exit 0. Else
# "N WHAT check(s) failed", then CMD (diagnostics, e.g. a log tail), exit 1.
finish() {
	local what=$1
	shift
	[ "$fails" = 0 ] && {
		echo "all $what checks passed"
		exit 0
	}
	echo "$fails $what check(s) failed"
	[ $# -gt 0 ] && "$@"
	exit 1
}
