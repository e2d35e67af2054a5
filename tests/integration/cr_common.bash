# cr_common.bash - shared helpers of the checkpoint/restore tests (tests/integration/cr_*.sh).
# Not a test itself (no .sh suffix). Sourced; sets: $SSICTL, $PROGS, $work; cleans up on exit.
set -u
top=${SSI_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${SSI_BUILD:-build}
case $build in /*) ;; *) build=$top/$build ;; esac
SSICTL=${SSI_BIN:-$top/bin}/ssictl
PROGS=$build/tests/progs
if [ "$(id -u)" != 0 ]; then echo "skip: checkpoint/restore tests need root"; exit 77; fi
if [ ! -x "$SSICTL" ]; then echo "skip: $SSICTL is not built"; exit 77; fi
work=$(mktemp -d /tmp/ssi-cr.XXXXXX)
cr_pids=()
cr_cleanup() {
	local p
	for p in "${cr_pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$work"
}
trap cr_cleanup EXIT
trap 'exit 1' INT TERM

fail() { echo "FAIL: $*"; exit 1; }

# Run a command with only descriptors 0-2 open (what the test shell has open above 2
# would otherwise be refused by the checkpoint pre-flight).
cr_exec_clean() {
	local fd
	for fd in /proc/$BASHPID/fd/*; do
		fd=${fd##*/}
		[ "$fd" -gt 2 ] && eval "exec $fd>&-"
	done
	exec "$@"
}

# rand_sleep MIN MAX: sleep a random time in [MIN, MAX] seconds (fractions allowed).
rand_sleep() {
	sleep "$(awk -v a="$1" -v b="$2" -v s="$RANDOM" 'BEGIN{srand(s); printf "%.3f", a + rand() * (b - a)}')"
}

# cr_roundtrip NAME MIN MAX CMD...: run CMD once unmigrated (stdout to a file), then again,
# checkpoint it with --kill after a random MIN..MAX seconds (MAX capped at 60% of the
# unmigrated run's time), restore it with --wait
# appending to the same output; the output must be byte-identical and the exit status the
# same; files named in $CR_FILES (made in the working directory) must match too.
# stdin of both runs and of the restore: $CR_STDIN (default /dev/null).
cr_roundtrip() {
	local name=$1 min=$2 max=$3
	shift 3
	local in=${CR_STDIN:-/dev/null} ref=$work/$name.ref out=$work/$name.out
	local rdir=$work/$name.ref.d tdir=$work/$name.run.d
	mkdir -p "$rdir" "$tdir"
	local t0=$(date +%s%N)
	(cd "$rdir" && cr_exec_clean "$@") <"$in" >"$ref" 2>"$work/$name.err1"
	local want=$? ref_ms=$((($(date +%s%N) - t0) / 1000000))
	# The checkpoint must come while it runs: MAX at most 60% of the unmigrated run's time
	# (and MIN at most half of that), as a fast idle machine finishes early.
	read -r min max < <(awk -v a="$min" -v b="$max" -v r="$ref_ms" \
		'BEGIN{c = 0.6 * r / 1000; if (b > c) b = c; if (a > b / 2) a = b / 2; printf "%.3f %.3f\n", a, b}')
	(cd "$tdir" && cr_exec_clean "$@") <"$in" >"$out" 2>"$work/$name.err2" &
	local pid=$!
	cr_pids+=("$pid")
	rand_sleep "$min" "$max"
	kill -0 "$pid" 2>/dev/null || { cat "$work/$name.err2"; fail "$name: finished before the checkpoint; make it run longer"; }
	"$SSICTL" checkpoint "$pid" -o "$work/$name.img" --kill ||
		fail "$name: checkpoint of pid $pid failed"
	wait "$pid" 2>/dev/null
	local before
	before=$(wc -c <"$out")
	"$SSICTL" restore "$work/$name.img" --wait <"$in" >>"$out" 2>>"$work/$name.err2"
	local got=$?
	cmp "$ref" "$out" || {
		diff <(head -c 2000 "$ref") <(head -c 2000 "$out") | head -20
		fail "$name: output differs from the unmigrated run (checkpoint after $before bytes)"
	}
	[ "$got" = "$want" ] || fail "$name: exit status $got after restore, $want unmigrated"
	local f
	for f in ${CR_FILES:-}; do
		cmp "$rdir/$f" "$tdir/$f" || fail "$name: file $f differs from the unmigrated run"
	done
	echo "ok $name: identical output ($(wc -c <"$ref") bytes, checkpoint after $before), exit $got"
}
