# lib.bash - shared pieces of the lab integration tests (tests/integration/*.sh). Sourced, not run
# (no .sh suffix, so the runner skips it). Owns: the private lab name, finding ssi-lab, the exit
# trap that takes the lab down, the ok/bad counters, waiting with a time-out and the final verdict.
# Does not start a lab nor decide what a test checks. Assumes bash, `set -u`, and that the test
# sources it as: . "$(dirname "$0")/lib.bash"
# Sets: $top (repo root), $bin (programs), $lab (ssi-lab), $fails; lab_init sets $NAME, $LAB_DIR.

top=${SSI_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${SSI_BIN:-$top/bin}
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

# need_lab_host [TOOL...]: skip unless root with nsenter, unshare, ip, python3, nft and TOOLs,
# and unless no lab of this name is up already (never touch someone else's lab).
need_lab_host() {
	local t
	[ "$(id -u)" = 0 ] || skip "needs root (namespaces, mounts, cgroups)"
	for t in nsenter unshare ip python3 nft "$@"; do
		command -v "$t" >/dev/null && continue
		[ "$t" = nft ] && skip "needs nft (apt-get install nftables)"
		skip "needs $t"
	done
	[ -e "/run/netns/$NAME" ] && skip "a lab named $NAME is already up; not touching it"
	return 0
}

# need_bins PROG...: skip unless every PROG is built in $bin.
need_bins() {
	local p
	for p in "$@"; do [ -x "$bin/$p" ] || skip "no $bin/$p: run make"; done
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

# lab_on_exit CMD: one more shell command for the exit trap (after the lab is down).
lab_exit_cmds=()
lab_on_exit() { lab_exit_cmds+=("$1"); }

# lab_trap: on any exit take this test's lab down and run the lab_on_exit commands; INT and
# TERM exit 1 (so the trap runs).
lab_trap() {
	trap lab_cleanup EXIT
	trap 'exit 1' INT TERM
}
lab_cleanup() {
	local c
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
