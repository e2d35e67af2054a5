#!/usr/bin/env bash
# gproc_cluster_ps.sh - issue 4 benchmark: `ps -e` through /gproc over about 2,000 processes
# spread over 4 lab nodes (gprocfs with the daemon's cluster table, mounted by ssid), next to
# `ps -e` over about 2,000 local processes in a plain /proc, in the same run. Prints both
# medians and the ratio (goal: at most 3x), `gps -e` (same table, no FUSE), and the CPU used by
# node1's gprocfs and ssid while `top -d 1` runs for 30 s over /gproc.
# Knobs: GPROC_BENCH_PROCS (2000), GPROC_BENCH_RUNS (11), GPROC_BENCH_TOP_S (30).
set -u -o pipefail
top=${SSI_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${SSI_BIN:-$top/bin}
lab=$bin/ssi-lab
[ -x "$lab" ] || lab=$top/tools/ssi-lab.sh
export SSI_BIN=$bin SSI_TOP=$top SSI_LAB_NAME=gproc-bench-$$ SSI_LAB_DIR=/var/tmp/gproc-bench-$$
target=${GPROC_BENCH_PROCS:-2000}
runs=${GPROC_BENCH_RUNS:-11}
top_s=${GPROC_BENCH_TOP_S:-30}
nodes=4

[ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit 0; }
[ -c /dev/fuse ] || { echo "skip: no /dev/fuse"; exit 0; }
for p in ssid gprocfs gps; do [ -x "$bin/$p" ] || { echo "skip: no $bin/$p (make)"; exit 0; }; done

L() { timeout 120 bash "$lab" "$@"; }
X() { local k=$1; shift; timeout 300 bash "$lab" exec "$k" -- "$@"; }
base_ns=
cleanup() {
	[ -n "$base_ns" ] && kill "$base_ns" 2>/dev/null
	bash "$lab" down >/dev/null 2>&1
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# The timing loop, run where the measured /proc is: prints one line per run, microseconds.
# shellcheck disable=SC2016
loop='for ((i = 0; i < $1; i++)); do s=$(date +%s%N); "${@:2}" >/dev/null; e=$(date +%s%N); echo $(((e - s) / 1000)); done'
median() { sort -n | awk '{a[NR] = $1} END {printf "%.1f", a[int((NR + 1) / 2)] / 1000}'; }

# ---- baseline: ps -e over a plain /proc holding $target local processes (own PID namespace)
base_file=$(mktemp /tmp/gproc_cluster_base.XXXXXX)
unshare --pid --fork --mount-proc bash -c '
	for ((i = 3; i < $1; i++)); do sleep 3600 & done
	echo "$(ls -d /proc/[0-9]* | wc -l)" >"$2.n"
	eval "run() { $3; }"
	ps -e >/dev/null
	run "$4" ps -e >"$2"
	kill $(jobs -p) 2>/dev/null' _ "$target" "$base_file" "$loop" "$runs"
base_n=$(cat "$base_file.n")
base=$(median <"$base_file")
rm -f "$base_file" "$base_file.n"

# ---- cluster: 4 nodes, $target processes in all
L up -n $nodes >/dev/null || { echo "ssi-lab up -n $nodes failed"; exit 1; }
per=$((target / nodes))
for ((k = 1; k <= nodes; k++)); do
	have=$(X $k sh -c 'ls -d /proc/[0-9]* | wc -l')
	X $k bash -c 'for ((i = $1; i < $2; i++)); do setsid sleep 3600 </dev/null >/dev/null 2>&1 & done' _ "$have" "$per"
done
for _ in $(seq 100); do
	n=$(X 1 sh -c 'ls -d /gproc/[0-9]* | wc -l')
	[ "$n" -ge $((target - 40)) ] && break
	sleep 0.3
done
# shellcheck disable=SC2016
gproc_us=$(X 1 unshare -m bash -c 'mount --bind /gproc /proc || exit 1; eval "run() { $1; }"; ps -e >/dev/null; run "$2" ps -e' _ "$loop" "$runs")
gproc=$(median <<<"$gproc_us")
lines=$(X 1 unshare -m sh -c 'mount --bind /gproc /proc && ps -e | wc -l')
# shellcheck disable=SC2016
gps=$(X 1 bash -c 'eval "run() { $1; }"; run "$2" gps -e' _ "$loop" "$runs" | median)
ratio=$(awk -v a="$gproc" -v b="$base" 'BEGIN {printf "%.2f", a / b}')

# ---- CPU of node1's gprocfs and ssid while top -d 1 runs over /gproc for $top_s s
# shellcheck disable=SC2016
cpu=$(X 1 bash -c '
	ticks() { awk "{print \$14 + \$15}" /proc/$1/stat; }
	g=$(pgrep -f "^[^ ]*gprocfs /gproc ") s=$(pgrep -x ssid) hz=$(getconf CLK_TCK)
	g0=$(ticks $g) s0=$(ticks $s) t0=$(date +%s%N)
	unshare -m sh -c "mount --bind /gproc /proc && top -b -d 1 -n $1 >/dev/null"
	t1=$(date +%s%N)
	awk -v g=$(($(ticks $g) - g0)) -v s=$(($(ticks $s) - s0)) -v hz=$hz -v ns=$((t1 - t0)) \
		"BEGIN {printf \"%.1f %.1f\", g / hz / (ns / 1e9) * 100, s / hz / (ns / 1e9) * 100}"' _ "$top_s")

printf '%-46s %12s\n' "measure ($runs runs each)" "median ms"
printf '%-46s %12s\n' "ps -e over /proc, $base_n local processes" "$base"
printf '%-46s %12s\n' "ps -e over /gproc, $((lines - 1)) processes on $nodes nodes" "$gproc"
printf '%-46s %12s\n' "gps -e, same cluster table" "$gps"
printf '%-46s %12s\n' "ratio /gproc / local (goal <= 3)" "$ratio"
printf '%-46s %12s\n' "node1 gprocfs CPU %, top -d 1 for ${top_s} s" "${cpu% *}"
printf '%-46s %12s\n' "node1 ssid CPU %, same period" "${cpu#* }"
