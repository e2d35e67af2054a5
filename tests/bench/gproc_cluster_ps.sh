#!/usr/bin/env bash
# gproc_cluster_ps.sh - issue 4 benchmark: `ps -e` through /gproc over about 2,000 processes
# spread over 4 lab nodes (gprocfs with the daemon's cluster table, mounted by ssid), next to
# `ps -e` over about 2,000 local processes in a plain /proc, in the same run. Prints both
# medians and the ratio (goal: at most 3x), `gps -e` (same table, no FUSE), and the CPU used by
# node1's gprocfs and ssid while `top -d 1` runs for 30 s over /gproc.
# Method (as tests/bench/gproc_ps.sh): every sleep is started and exec'd and the machine has
# settled before anything is timed; one untimed warm-up run of each measure; then
# GPROC_BENCH_RUNS rounds, each timing the baseline, /gproc and gps once, in an order that
# rotates per round. Only the command is timed, inside its namespaces (elapsed, and its CPU
# time plus node1's gprocfs's). node1's gprocfs is stopped (SIGSTOP) while the baseline and gps
# run, so that its refresher does not poll the daemons meanwhile; the lab's daemons run
# throughout (all 4 nodes share this machine's CPUs: their work for the table is measured
# and printed). The bench runs at nice GPROC_BENCH_NICE (-10), the lab daemons it starts too.
# Knobs: GPROC_BENCH_PROCS (2000), GPROC_BENCH_RUNS (11), GPROC_BENCH_TOP_S (30),
# GPROC_BENCH_NICE (-10), GPROC_BENCH_ALT=/path/to/another/gprocfs (A/B: mounted on node1 at
# /tmp/gproc_alt with the same source, measured as a fourth variant "alt").
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
alt=${GPROC_BENCH_ALT:-}

[ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit 0; }
[ -c /dev/fuse ] || { echo "skip: no /dev/fuse"; exit 0; }
for p in ssid gprocfs gps; do [ -x "$bin/$p" ] || { echo "skip: no $bin/$p (make)"; exit 0; }; done
renice -n "${GPROC_BENCH_NICE:--10}" -p $$ >/dev/null

L() { timeout 120 bash "$lab" "$@"; }
X() { local k=$1; shift; timeout 300 bash "$lab" exec "$k" -- "$@"; }
base_ns='' base_in='' g1='' ga=''
tmp=$(mktemp -d /tmp/gproc_cluster_bench.XXXXXX)
cleanup() {
	[ -n "$g1" ] && kill -CONT "$g1" 2>/dev/null
	[ -n "$ga" ] && kill -CONT "$ga" 2>/dev/null
	# unshare --fork blocks SIGTERM; the namespace ends with its init (--kill-child).
	[ -n "$base_in" ] && kill -KILL "$base_in" 2>/dev/null
	[ -n "$base_ns" ] && kill -KILL "$base_ns" 2>/dev/null
	bash "$lab" down >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# Runs "$@" once: prints elapsed us and the command's CPU us (user + system).
# shellcheck disable=SC2016
run_timed='TIMEFORMAT="%3U %3S"; s=$EPOCHREALTIME; c=$( { time "$@" >/dev/null; } 2>&1); e=$EPOCHREALTIME
	echo $((${e/./} - ${s/./})) $(awk -v u="${c% *}" -v s="${c#* }" "BEGIN {printf \"%d\", (u + s) * 1e6}")'
# CPU ns used so far by all threads of the host processes "$@".
cpu_ns() { for p in "$@"; do cat /proc/"$p"/task/*/schedstat 2>/dev/null; done | awk '{n += $1} END {printf "%.0f", n}'; }
# Host pids of the lab's processes whose name (comm) begins with $1, of node $2 or of every
# node ("").
lab_pids() {
	local p
	for p in $(pgrep "^$1"); do
		grep -qE "/$SSI_LAB_NAME/node${2:-[0-9]+}\$" "/proc/$p/cgroup" 2>/dev/null && echo "$p"
	done
}

# ---- baseline: a PID namespace holding $target processes, kept for the whole run
unshare --pid --fork --kill-child --mount-proc bash -c '
	for ((i = 3; i < $1; i++)); do sleep 3600 & done
	exec sleep infinity' _ "$target" &
base_ns=$!
disown "$base_ns" # no "Killed" notice at the end
for _ in $(seq 50); do
	base_in=$(pgrep -P "$base_ns" | head -1)
	[ -n "$base_in" ] && break
	sleep 0.1
done

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
for _ in $(seq 100); do
	[ "$(nsenter -t "$base_in" -p -m sh -c 'ls -d /proc/[0-9]* | wc -l')" -ge "$target" ] && break
	sleep 0.2
done
g1=$(lab_pids gprocfs 1 | while read -r p; do grep -q -- ' /gproc ' <(tr '\0' ' ' <"/proc/$p/cmdline") && echo "$p"; done | head -1)
[ -n "$g1" ] || { echo "node1's gprocfs not found"; exit 1; }
if [ -n "$alt" ]; then
	X 1 sh -c 'mkdir -p /tmp/gproc_alt && "$1" /tmp/gproc_alt -o source=ssid,sock=/run/ssid/ssid.sock,node_id=1,node_name=node1' _ "$alt" ||
		{ echo "$alt did not mount"; exit 1; }
	ga=$(lab_pids gprocfs 1 | while read -r p; do grep -q -- ' /tmp/gproc_alt ' <(tr '\0' ' ' <"/proc/$p/cmdline") && echo "$p"; done | head -1)
	[ -n "$ga" ] || { echo "the alt gprocfs not found"; exit 1; }
fi
for p in $(lab_pids ssid) $(lab_pids gprocfs); do renice -n "${GPROC_BENCH_NICE:--10}" -p "$p" >/dev/null; done
sleep 2 # settle

# One timed run of measure $1: prints elapsed us, command CPU us, node1 gprocfs CPU us.
time_one() {
	local f0 f1 out g=
	if [ "$1" = gproc ]; then kill -CONT "$g1"; g=$g1; else kill -STOP "$g1"; fi
	if [ -n "$ga" ] && [ "$1" = alt ]; then kill -CONT "$ga"; g=$ga; elif [ -n "$ga" ]; then kill -STOP "$ga"; fi
	f0=$(cpu_ns $g)
	case $1 in
	proc) out=$(nsenter -t "$base_in" -p -m bash -c "$run_timed" _ ps -e) ;;
	gproc) out=$(X 1 unshare -m bash -c 'mount --bind /gproc /proc || exit 1; '"$run_timed" _ ps -e) ;;
	alt) out=$(X 1 unshare -m bash -c 'mount --bind /tmp/gproc_alt /proc || exit 1; '"$run_timed" _ ps -e) ;;
	gps) out=$(X 1 bash -c "$run_timed" _ gps -e) ;;
	esac
	f1=$(cpu_ns $g)
	echo "$out $(((f1 - f0) / 1000))"
}
measures=(proc gproc gps)
[ -n "$alt" ] && measures+=(alt)
for v in "${measures[@]}"; do time_one "$v" >/dev/null; done # warm-up
# shellcheck disable=SC2046 # one pid per word
lab0=$(cpu_ns $(lab_pids ssid) $(lab_pids gprocfs))
t0=$(date +%s%N)
load=$(cut -d' ' -f1 /proc/loadavg)
for ((r = 0; r < runs; r++)); do
	k=${#measures[@]}
	for ((j = 0; j < k; j++)); do
		v=${measures[$(((j + r) % k))]}
		echo "$r $v $(time_one "$v")"
	done
done >"$tmp/times"
t1=$(date +%s%N)
# shellcheck disable=SC2046 # one pid per word
lab1=$(cpu_ns $(lab_pids ssid) $(lab_pids gprocfs))
kill -CONT "$g1"
[ -n "$ga" ] && kill -CONT "$ga"
[ -n "$ga" ] && X 1 fusermount3 -u /tmp/gproc_alt
labcpu=$(awk -v c=$((lab1 - lab0)) -v w=$((t1 - t0)) 'BEGIN {printf "%.0f", c / w * 100}')

base_n=$(nsenter -t "$base_in" -p -m sh -c 'ls -d /proc/[0-9]* | wc -l')
lines=$(X 1 unshare -m sh -c 'mount --bind /gproc /proc && ps -e | wc -l')
med() { awk -v v="$1" '$2 == v {print $3}' "$tmp/times" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}'; }
mn() { awk -v v="$1" '$2 == v {print $3}' "$tmp/times" | sort -n | head -1 | awk '{printf "%.1f", $1/1000}'; }
cpu() { awk -v v="$1" '$2 == v {print $4 + $5}' "$tmp/times" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}'; }
base=$(med proc)
ratio() { awk -v a="$(med "$1")" -v b="$base" 'BEGIN {printf "%.2f", a / b}'; }
rratio() {
	awk -v v="$1" '$2 == "proc" {b[$1] = $3} $2 == v {x[$1] = $3} END {for (r in x) print x[r] / b[r]}' "$tmp/times" |
		sort -n | awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)]}'
}

# ---- CPU of node1's gprocfs and ssid while top -d 1 runs over /gproc for $top_s s
# shellcheck disable=SC2016
cpu=$(X 1 bash -c '
	ticks() { awk "{print \$14 + \$15}" /proc/$1/stat; }
	g=$(pgrep -f "^[^ ]*gprocfs /gproc ") s=$(pgrep -o -x ssid) hz=$(getconf CLK_TCK)
	g0=$(ticks $g) s0=$(ticks $s) t0=$(date +%s%N)
	unshare -m sh -c "mount --bind /gproc /proc && top -b -d 1 -n $1 >/dev/null"
	t1=$(date +%s%N)
	awk -v g=$(($(ticks $g) - g0)) -v s=$(($(ticks $s) - s0)) -v hz=$hz -v ns=$((t1 - t0)) \
		"BEGIN {printf \"%.1f %.1f\", g / hz / (ns / 1e9) * 100, s / hz / (ns / 1e9) * 100}"' _ "$top_s")

printf '%-46s %9s %8s %7s %7s\n' "measure ($runs rounds)" "median ms" "min ms" "ratio" "CPU ms"
row() { printf '%-46s %9s %8s %7s %7s\n' "$1" "$(med "$2")" "$(mn "$2")" "$(ratio "$2")" "$(cpu "$2")"; }
row "ps -e over /proc, $base_n local processes" proc
row "ps -e over /gproc, $((lines - 1)) processes on $nodes nodes" gproc
row "gps -e, same cluster table" gps
[ -n "$alt" ] && row "ps -e over $alt" alt
printf '%-46s %9s\n' "median of per-round ratios /gproc / local" "$(rratio gproc)"
[ -n "$alt" ] && printf '%-46s %9s\n' "median of per-round ratios alt / local" "$(rratio alt)"
printf '%-46s %9s\n' "lab daemons' CPU % during the rounds" "$labcpu"
printf '%-46s %9s\n' "load average (1 min) before the rounds" "$load"
printf '%-46s %9s\n' "node1 gprocfs CPU %, top -d 1 for ${top_s} s" "${cpu% *}"
printf '%-46s %9s\n' "node1 ssid CPU %, same period" "${cpu#* }"
