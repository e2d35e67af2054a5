#!/usr/bin/env bash
# run-tests.sh - run every suite and end with one line "N passed, N failed, N skipped".
#
# Unit suites: each $SSI_BUILD/tests/test_* (Check) counts its checks.
# Integration tests: each tests/integration/*.sh is one test; it exits 0 (pass), 77 (skip:
# it prints why) or anything else (fail). They run as root on an ssi-lab cluster they start
# and remove themselves. Options: --unit, --integration, or test names (substrings) to filter.
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
passed=0 failed=0 skipped=0
failures=()

selected() {
	[ ${#filters[@]} -eq 0 ] && return 0
	local f
	for f in "${filters[@]}"; do [[ $1 == *"$f"* ]] && return 0; done
	return 1
}

if [ $mode != integration ]; then
	for t in "$build"/tests/test_*; do
		[ -x "$t" ] || continue
		selected "$t" || continue
		out=$("$t" 2>&1)
		rc=$?
		line=$(printf '%s\n' "$out" | grep -E '^[0-9]+%: Checks: ' | tail -1)
		if [ -z "$line" ]; then
			printf '%s\n' "$out" | tail -20
			echo "FAIL ${t##*/}: no Check summary (exit $rc)"
			failed=$((failed + 1)); failures+=("${t##*/}")
			continue
		fi
		n=$(sed -E 's/.*Checks: ([0-9]+).*/\1/' <<<"$line")
		f=$(sed -E 's/.*Failures: ([0-9]+).*/\1/' <<<"$line")
		e=$(sed -E 's/.*Errors: ([0-9]+).*/\1/' <<<"$line")
		bad=$((f + e))
		if [ $bad -gt 0 ] || [ $rc -ne 0 ]; then
			printf '%s\n' "$out" | grep -vE ':P:' | tail -30
			[ $bad -eq 0 ] && bad=1
			failures+=("${t##*/}")
		fi
		echo "unit ${t##*/}: $line"
		passed=$((passed + n - (f + e))); failed=$((failed + bad))
	done
fi

if [ $mode != unit ]; then
	for t in tests/integration/*.sh; do
		[ -e "$t" ] || continue
		selected "$t" || continue
		name=${t##*/}
		start=$(date +%s)
		log=$build/integration-${name%.sh}.log
		mkdir -p "$build"
		timeout --kill-after=10 ${SSI_TEST_TIMEOUT:-300} bash "$t" >"$log" 2>&1
		rc=$?
		secs=$(($(date +%s) - start))
		case $rc in
		0) echo "PASS $name (${secs}s)"; passed=$((passed + 1)) ;;
		77) echo "SKIP $name: $(tail -1 "$log")"; skipped=$((skipped + 1)) ;;
		*) echo "FAIL $name (exit $rc, ${secs}s); last lines of $log:"; tail -25 "$log" | sed 's/^/    /'
		   failed=$((failed + 1)); failures+=("$name") ;;
		esac
	done
fi

[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
