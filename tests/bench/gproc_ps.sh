#!/usr/bin/env bash
# gproc_ps.sh - `ps -e` through gprocfs (local source: this machine's /proc, bound over /proc
# in a private mount namespace) against `ps -e` on the real /proc, over about 2,000 local
# processes, same run. Prints medians, minimums and the ratio; also `ps -e` through a second
# gprocfs on libfuse's thread pool (-o mt), `gps -e` (same data source, no FUSE), the CPU
# use while `top -d 1` runs, and the FUSE requests one `ps -e` costs. The cluster version is
# tests/bench/gproc_cluster_ps.sh.
# Method (so that runs compare): the sleeps are started and have all exec'd, and the machine
# has settled, before anything is timed; one untimed warm-up run of each measure; then
# GPROC_BENCH_RUNS rounds, each timing every measure once, in an order that rotates per round,
# so that drift of the machine hits all alike. Every `ps` runs the same way (nsenter into a
# mount namespace that holds the /proc to read; only the ps is timed). Each gprocfs not being
# measured is stopped (SIGSTOP), so that its snapshot refresher (it re-reads /proc every 0.5 s
# while its mount is in use) does not take CPU from the others; the measured one runs as it
# would for a user. Besides the elapsed time, the CPU time of each run is measured (ps's
# user+system time, plus the measured gprocfs's from its threads' schedstat): on a machine
# shared with other work the elapsed time swings by 2x or more, the CPU time much less. The
# whole bench runs at nice GPROC_BENCH_NICE (-10; baseline and gprocfs alike) so that other
# work at nice 0 or 10 disturbs it less. CPU steal, the load average and the CPU the rest of
# the machine used during the rounds are printed: compare runs only when those are low.
# Knobs: GPROC_BENCH_PROCS (2000), GPROC_BENCH_RUNS (15), GPROC_BENCH_TOP_S (30),
# GPROC_BENCH_NICE (-10), GPROC_BENCH_ALT=/path/to/another/gprocfs (A/B: a variant "alt").
set -u
bin=${SSI_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/bin}
nproc_target=${GPROC_BENCH_PROCS:-2000}
runs=${GPROC_BENCH_RUNS:-15}
top_s=${GPROC_BENCH_TOP_S:-30}
alt=${GPROC_BENCH_ALT:-}
renice -n "${GPROC_BENCH_NICE:--10}" -p $$ >/dev/null
[ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit 0; }
[ -c /dev/fuse ] || { echo "skip: no /dev/fuse"; exit 0; }
for t in nsenter unshare ps top; do command -v $t >/dev/null || { echo "skip: no $t"; exit 0; }; done
# Own mount namespace, so that namespaces others make meanwhile get no copy of our mounts, and
# own PID namespace with its /proc, so that both measures see our processes only (not those
# other work on the machine starts and ends meanwhile).
if [ -z "${GPROC_BENCH_NS:-}" ]; then
	GPROC_BENCH_NS=1 exec unshare -m --pid --fork --mount-proc --propagation private bash "$0" "$@"
fi

tmp=$(mktemp -d /tmp/gproc_bench.XXXXXX)
pids=()
declare -A fs=() hold=() mnt=()
cleanup() {
	local v
	for v in "${!hold[@]}"; do kill "${hold[$v]}" 2>/dev/null; done
	for v in "${!fs[@]}"; do kill -CONT "${fs[$v]}" 2>/dev/null; done
	[ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null
	for v in "${!mnt[@]}"; do fusermount3 -u "${mnt[$v]}" 2>/dev/null || umount -l "${mnt[$v]}" 2>/dev/null; done
	for v in "${!fs[@]}"; do
		for _ in $(seq 20); do kill -0 "${fs[$v]}" 2>/dev/null || break; sleep 0.1; done
		kill "${fs[$v]}" 2>/dev/null
	done
	[ -n "${GPROC_BENCH_KEEP:-}" ] && cp "$tmp/times" "$GPROC_BENCH_KEEP"
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ---- the processes: started, exec'd (comm "sleep"), and the machine settled
have=$(ls -d /proc/[0-9]* | wc -l)
n_sleep=$((nproc_target - have))
for ((i = 0; i < n_sleep; i++)); do
	sleep 3600 &
	pids+=($!)
done
for _ in $(seq 300); do
	[ "$(pgrep -c -x -P $$ sleep)" -ge "$n_sleep" ] && break
	sleep 0.1
done
sleep 2
total=$(ls -d /proc/[0-9]* | wc -l)

# ---- one gprocfs per variant, and one namespace holder per variant with its /proc
start_fs() { # name binary options
	local m=$tmp/mnt_$1
	mkdir -p "$m"
	"$2" "$m" -f -o "$3" &
	fs[$1]=$!
	mnt[$1]=$m
	for _ in $(seq 50); do [ -e "$m/uptime" ] && return 0; sleep 0.1; done
	echo "gprocfs ($1) did not mount"
	exit 1
}
start_fs gproc "$bin/gprocfs" node_id=1,node_name=bench
start_fs gproc_mt "$bin/gprocfs" node_id=1,node_name=bench,mt
[ -n "$alt" ] && start_fs alt "$alt" node_id=1,node_name=bench
variants=(proc "${!fs[@]}")
for v in "${variants[@]}"; do
	if [ "$v" = proc ]; then
		unshare -m --propagation private sleep infinity &
	else
		unshare -m --propagation private bash -c 'mount --bind "$1" /proc && exec sleep infinity' _ "${mnt[$v]}" &
	fi
	hold[$v]=$!
done
sleep 0.3

# Only the gprocfs of variant $1 runs (none for proc, gps).
only() {
	local v
	for v in "${!fs[@]}"; do
		if [ "$v" = "$1" ]; then kill -CONT "${fs[$v]}"; else kill -STOP "${fs[$v]}"; fi
	done
}
# CPU ns used so far by all threads of process $1.
fs_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{n += $1} END {printf "%.0f", n}'; }
# One timed `ps -e` (or gps) for variant $1: prints elapsed us, the command's CPU us, the
# gprocfs's CPU us.
# shellcheck disable=SC2016
run_timed='TIMEFORMAT="%3U %3S"; s=$EPOCHREALTIME; c=$( { time "$@" >/dev/null; } 2>&1); e=$EPOCHREALTIME
	echo $((${e/./} - ${s/./})) $(awk -v u="${c% *}" -v s="${c#* }" "BEGIN {printf \"%d\", (u + s) * 1e6}")'
time_one() {
	local f0=0 f1=0 out
	only "$1"
	[ -n "${fs[$1]:-}" ] && f0=$(fs_ns "${fs[$1]}")
	if [ "$1" = gps ]; then
		out=$(bash -c "$run_timed" _ "$bin/gps" -e --source local --node-id 1 --node-name bench)
	else
		out=$(nsenter -t "${hold[$1]}" -m bash -c "$run_timed" _ ps -e)
	fi
	[ -n "${fs[$1]:-}" ] && f1=$(fs_ns "${fs[$1]}")
	echo "$out $(((f1 - f0) / 1000))"
}
# steal, busy and all ticks of the machine
steal() { awk '/^cpu / {print $9, $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat; }

measures=("${variants[@]}" gps)
for v in "${measures[@]}"; do time_one "$v" >/dev/null; done # warm-up
read -r st0 busy0 all0 < <(steal)
load=$(cut -d' ' -f1 /proc/loadavg)
for ((r = 0; r < runs; r++)); do
	k=${#measures[@]}
	for ((j = 0; j < k; j++)); do
		v=${measures[$(((j + r) % k))]}
		echo "$r $v $(time_one "$v")"
	done
done >"$tmp/times"
read -r st1 busy1 all1 < <(steal)
only none
stealpct=$(awk -v s=$((st1 - st0)) -v a=$((all1 - all0)) 'BEGIN {printf "%.1f", a ? s * 100 / a : 0}')
# CPU of the machine during the rounds, less what the measured commands and gprocfs used
hz=$(getconf CLK_TCK)
ncpu=$(nproc)
others=$(awk -v b=$((busy1 - busy0)) -v a=$((all1 - all0)) -v hz="$hz" -v n="$ncpu" -v f="$tmp/times" 'BEGIN {
	while ((getline l < f) > 0) { split(l, x, " "); own += x[4] + x[5]; wall += x[3] }
	# busy ticks minus own CPU, over the CPU time there was (wall x CPUs)
	printf "%.0f", a ? (b / hz - own / 1e6) / (a / hz) * 100 : 0 }')

# median / min of a variant's times in ms (column 3 elapsed, 4+5 CPU); per-round ratios
med() { awk -v v="$1" '$2 == v {print $3}' "$tmp/times" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}'; }
mn() { awk -v v="$1" '$2 == v {print $3}' "$tmp/times" | sort -n | head -1 | awk '{printf "%.1f", $1/1000}'; }
cpu() { awk -v v="$1" '$2 == v {print $4 + $5}' "$tmp/times" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}'; }
rratio() {
	awk -v v="$1" '$2 == "proc" {b[$1] = $3} $2 == v {x[$1] = $3} END {for (r in x) print x[r] / b[r]}' "$tmp/times" |
		sort -n | awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)]}'
}

# FUSE requests one warm ps -e costs (median of 3): the daemon's reads of /dev/fuse, seen by
# strace.
reqs_of() {
	local fd sp k
	fd=$(ls -l "/proc/${fs[$1]}/fd" 2>/dev/null | awk '$NF == "/dev/fuse" {print $(NF - 2); exit}')
	command -v strace >/dev/null && [ -n "$fd" ] || { echo -; return; }
	only "$1"
	for k in 1 2 3; do
		strace -f -q -e trace=read -e signal=none -o "$tmp/st" -p "${fs[$1]}" &
		sp=$!
		sleep 0.5
		nsenter -t "${hold[$1]}" -m ps -e >/dev/null
		sleep 0.3
		kill -INT $sp 2>/dev/null
		wait $sp 2>/dev/null
		grep -cE "read\($fd, .* = [1-9]" "$tmp/st"
	done | sort -n | sed -n 2p
}
only gproc
lines=$(nsenter -t "${hold[gproc]}" -m ps -e | wc -l)

# ---- CPU while `top -d 1` refreshes: gprocfs's and top's over gprocfs, top's over /proc
only gproc
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
f0=$(ticks "${fs[gproc]}")
t0=$(date +%s%N)
topcpu_g=$(nsenter -t "${hold[gproc]}" -m /usr/bin/time -f "%U %S" top -b -d 1 -n "$top_s" 2>&1 >/dev/null | tail -1)
t1=$(date +%s%N)
f1=$(ticks "${fs[gproc]}")
only none
fs_cpu=$(awk -v d=$((f1 - f0)) -v hz="$hz" -v ns=$((t1 - t0)) 'BEGIN {printf "%.1f", d / hz / (ns / 1e9) * 100}')
topcpu_p=$(nsenter -t "${hold[proc]}" -m /usr/bin/time -f "%U %S" top -b -d 1 -n "$top_s" 2>&1 >/dev/null | tail -1)
pct() { awk -v u="$1" -v s="$2" -v n="$top_s" 'BEGIN {printf "%.1f", (u + s) / n * 100}'; }

printf '%-40s %9s %9s %8s %9s\n' "measure ($total processes, $runs rounds)" "median ms" "min ms" "ratio" "CPU ms"
row() { printf '%-40s %9s %9s %8s %9s\n' "$1" "$(med "$2")" "$(mn "$2")" "$3" "$(cpu "$2")"; }
base=$(med proc)
ratio() { awk -v a="$(med "$1")" -v b="$base" 'BEGIN {printf "%.2f", a / b}'; }
row "ps -e over /proc (baseline)" proc 1.00
row "ps -e over gprocfs (local)" gproc "$(ratio gproc)"
row "ps -e over gprocfs -o mt (local)" gproc_mt "$(ratio gproc_mt)"
[ -n "$alt" ] && row "ps -e over $alt" alt "$(ratio alt)"
row "gps -e (local source)" gps "$(ratio gps)"
printf '%-40s %9s\n' "median of per-round ratios gprocfs/proc" "$(rratio gproc)"
[ -n "$alt" ] && printf '%-40s %9s\n' "median of per-round ratios alt/proc" "$(rratio alt)"
printf '%-40s %9s\n' "ps -e lines over gprocfs" "$lines"
printf '%-40s %9s\n' "FUSE requests of one warm ps -e" "$(reqs_of gproc)"
[ -n "$alt" ] && printf '%-40s %9s\n' "FUSE requests of one warm ps -e, alt" "$(reqs_of alt)"
printf '%-40s %9s\n' "CPU steal % during the rounds" "$stealpct"
printf '%-40s %9s\n' "CPU % other work used during the rounds" "$others"
printf '%-40s %9s\n' "load average (1 min) before the rounds" "$load"
printf '%-40s %9s\n' "top -d 1, ${top_s} s: top CPU % /proc" "$(pct $topcpu_p)"
printf '%-40s %9s\n' "top -d 1, ${top_s} s: top CPU % gproc" "$(pct $topcpu_g)"
printf '%-40s %9s\n' "top -d 1, ${top_s} s: gprocfs CPU %" "$fs_cpu"
