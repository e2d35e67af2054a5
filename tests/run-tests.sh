#!/usr/bin/env bash
# run-tests.sh - run every suite and end with one line "N passed, N failed, N skipped".
#
# Unit suites: each $SSI_BUILD/tests/test_* (Check) counts its checks.
# Integration tests: each tests/integration/*.sh is one test; it exits 0 (pass), 77 (skip:
# it prints why) or anything else (fail). They run as root on an ssi-lab cluster they start
# and remove themselves. Options: --unit, --integration, or test names (substrings) to filter.
# SSI_TEST_JOBS=2 (the default; 1 = one after another): the unit suites and the integration
# tests that start no lab (cr_*, gproc_local, ...) run in a second lane beside the lab tests;
# every lab test has its own lab name, so two could run at once, but on 2 cores the lab
# tests' time-outs are kept to one lane. Each line is printed when its test ends.
set -u
cd "$(dirname "$0")/.."
build=${SSI_BUILD:-build}
export SSI_BIN=${SSI_BIN:-$PWD/bin} SSI_BUILD=$build SSI_TOP=$PWD
mode=all
filters=()
for a in "$@"; do
	case $a in
	--unit) mode=unit ;;
	--integration) mode=integration ;;
	*) filters+=("$a") ;;
	esac
done
selected() {
	[ ${#filters[@]} -eq 0 ] && return 0
	local f
	for f in "${filters[@]}"; do [[ $1 == *"$f"* ]] && return 0; done
	return 1
}

res=$(mktemp -d)
trap 'rm -rf "$res"' EXIT
# record LANE RESULT NAME [N]: one result line for the totals (RESULT pass/fail/skip, N checks)
record() { echo "$2 ${4:-1} $3" >>"$res/$1"; }

run_units() {
	local t out rc line n f e bad
	for t in "$build"/tests/test_*; do
		[ -x "$t" ] || continue
		selected "$t" || continue
		out=$("$t" 2>&1)
		rc=$?
		line=$(printf '%s\n' "$out" | grep -E '^[0-9]+%: Checks: ' | tail -1)
		if [ -z "$line" ]; then
			printf '%s\n' "$out" | tail -20
			echo "FAIL ${t##*/}: no Check summary (exit $rc)"
			record "$1" fail "${t##*/}"
			continue
		fi
		n=$(sed -E 's/.*Checks: ([0-9]+).*/\1/' <<<"$line")
		f=$(sed -E 's/.*Failures: ([0-9]+).*/\1/' <<<"$line")
		e=$(sed -E 's/.*Errors: ([0-9]+).*/\1/' <<<"$line")
		bad=$((f + e))
		if [ $bad -gt 0 ] || [ $rc -ne 0 ]; then
			printf '%s\n' "$out" | grep -vE ':P:' | tail -30
			[ $bad -eq 0 ] && bad=1
			record "$1" fail "${t##*/}" "$bad"
		fi
		echo "unit ${t##*/}: $line"
		[ $((n - (f + e))) -gt 0 ] && record "$1" pass "${t##*/}" $((n - (f + e)))
	done
}

# run_integration LANE TEST...: each test with its own log; the verdict line (and a failure's
# last lines) printed in one write, so two lanes do not interleave within a report.
run_integration() {
	local lane=$1 t name start log rc secs
	shift
	for t in "$@"; do
		name=${t##*/}
		start=$(date +%s)
		log=$build/integration-${name%.sh}.log
		timeout --kill-after=10 "${SSI_TEST_TIMEOUT:-300}" bash "$t" >"$log" 2>&1
		rc=$?
		secs=$(($(date +%s) - start))
		case $rc in
		0) echo "PASS $name (${secs}s)"; record "$lane" pass "$name" ;;
		77) echo "SKIP $name: $(tail -1 "$log")"; record "$lane" skip "$name" ;;
		*) printf 'FAIL %s (exit %s, %ss); last lines of %s:\n%s\n' "$name" "$rc" "$secs" "$log" \
			"$(tail -25 "$log" | sed 's/^/    /')"
		   record "$lane" fail "$name" ;;
		esac
	done
}

# needs_lab TEST: it starts an ssi-lab cluster
needs_lab() { grep -qE 'lab_init|ssi-lab' "$1"; }

labs=() solos=()
if [ $mode != unit ]; then
	mkdir -p "$build"
	for t in tests/integration/*.sh; do
		[ -e "$t" ] || continue
		selected "$t" || continue
		if needs_lab "$t"; then labs+=("$t"); else solos+=("$t"); fi
	done
fi
lane2() {
	[ $mode != integration ] && run_units 2
	[ ${#solos[@]} -gt 0 ] && run_integration 2 "${solos[@]}"
	return 0
}
if [ "${SSI_TEST_JOBS:-2}" -ge 2 ] && [ ${#labs[@]} -gt 0 ]; then
	lane2 &
	lane2_pid=$!
	run_integration 1 "${labs[@]}"
	wait "$lane2_pid"
else
	lane2
	[ ${#labs[@]} -gt 0 ] && run_integration 1 "${labs[@]}"
fi

passed=0 failed=0 skipped=0
failures=()
while read -r r n name; do
	case $r in
	pass) passed=$((passed + n)) ;;
	skip) skipped=$((skipped + n)) ;;
	fail) failed=$((failed + n)); failures+=("$name") ;;
	esac
done < <(cat "$res"/* 2>/dev/null)

[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
