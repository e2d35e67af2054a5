#!/usr/bin/env bash
# gproc_ps.sh - `ps -e` through gprocfs (local mode, bound over /proc in a private mount
# namespace) against `ps -e` on the real /proc, over about 2,000 local processes, same run.
# Prints both medians and the ratio; also `gps -e` (same data source, no FUSE) and `ps -e`
# through a second gprocfs on libfuse's thread pool (-o mt), for comparison with the default
# single request thread. The cluster version is tests/bench/gproc_cluster_ps.sh.
set -u
bin=${SSI_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/bin}
nproc_target=${GPROC_BENCH_PROCS:-2000}
runs=${GPROC_BENCH_RUNS:-9}
[ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit 0; }
[ -c /dev/fuse ] || { echo "skip: no /dev/fuse"; exit 0; }
# Own mount namespace, so that namespaces others make meanwhile get no copy of our mount.
if [ -z "${GPROC_BENCH_NS:-}" ]; then
	GPROC_BENCH_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi

tmp=$(mktemp -d /tmp/gproc_bench.XXXXXX)
mnt=$tmp/mnt
mkdir -p "$mnt"
pids=()
fs_pid=''
mt_pid=''
mnt_mt=$tmp/mnt_mt
mkdir -p "$mnt_mt"
cleanup() {
	fusermount3 -u "$mnt_mt" 2>/dev/null || umount -l "$mnt_mt" 2>/dev/null
	[ -n "$mt_pid" ] && kill "$mt_pid" 2>/dev/null
	[ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null
	fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null
	if [ -n "$fs_pid" ]; then
		for i in $(seq 20); do kill -0 "$fs_pid" 2>/dev/null || break; sleep 0.1; done
		kill "$fs_pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

have=$(ls -d /proc/[0-9]* | wc -l)
for ((i = have; i < nproc_target; i++)); do
	sleep 3600 &
	pids+=($!)
done
total=$(ls -d /proc/[0-9]* | wc -l)
"$bin/gprocfs" "$mnt" -f -o node_id=1,node_name=bench &
fs_pid=$!
for i in $(seq 50); do [ -e "$mnt/uptime" ] && break; sleep 0.1; done
[ -e "$mnt/uptime" ] || { echo "gprocfs did not mount"; exit 1; }
"$bin/gprocfs" "$mnt_mt" -f -o node_id=1,node_name=bench,mt &
mt_pid=$!
for i in $(seq 50); do [ -e "$mnt_mt/uptime" ] && break; sleep 0.1; done
[ -e "$mnt_mt/uptime" ] || { echo "gprocfs -o mt did not mount"; exit 1; }

# Prints one elapsed time in ms per run of "$@".
times_ms() {
	for ((k = 0; k < runs; k++)); do
		s=$(date +%s%N)
		"$@" >/dev/null
		e=$(date +%s%N)
		echo $(((e - s) / 1000))
	done
}
median() { sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}'; }

base=$(times_ms ps -e | median)
export -f times_ms
export runs
gproc=$(unshare -m bash -c 'mount --bind "$1" /proc && times_ms ps -e' _ "$mnt" | median)
gproc_mt=$(unshare -m bash -c 'mount --bind "$1" /proc && times_ms ps -e' _ "$mnt_mt" | median)
fusermount3 -u "$mnt_mt" # its refresher would take CPU from what follows
lines=$(unshare -m bash -c 'mount --bind "$1" /proc && ps -e | wc -l' _ "$mnt")
gps=$(times_ms "$bin/gps" -e --node-id 1 --node-name bench | median)
ratio=$(awk -v a="$gproc" -v b="$base" 'BEGIN {printf "%.2f", a / b}')

# gprocfs CPU use while `top -d 1` refreshes over gprocfs (and top's own, over both).
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
top_s=${GPROC_BENCH_TOP_S:-30}
f0=$(ticks $fs_pid)
t0=$(date +%s%N)
topcpu_g=$(unshare -m bash -c 'mount --bind "$1" /proc && /usr/bin/time -f "%U %S" top -b -d 1 -n "$2" 2>&1 >/dev/null | tail -1' _ "$mnt" "$top_s")
t1=$(date +%s%N)
f1=$(ticks $fs_pid)
fs_cpu=$(awk -v d=$((f1 - f0)) -v hz="$hz" -v ns=$((t1 - t0)) 'BEGIN {printf "%.1f", d / hz / (ns / 1e9) * 100}')
topcpu_p=$( { /usr/bin/time -f "%U %S" top -b -d 1 -n "$top_s" >/dev/null; } 2>&1 | tail -1)
pct() { awk -v u="$1" -v s="$2" -v n="$top_s" 'BEGIN {printf "%.1f", (u + s) / n * 100}'; }

printf '%-34s %10s\n' "measure ($total processes, $runs runs)" "median ms"
printf '%-34s %10s\n' "ps -e over /proc (baseline)" "$base"
printf '%-34s %10s\n' "ps -e over gprocfs (local)" "$gproc"
printf '%-34s %10s\n' "ps -e over gprocfs -o mt (local)" "$gproc_mt"
printf '%-34s %10s\n' "gps -e (local source)" "$gps"
printf '%-34s %10s\n' "ratio gprocfs/proc" "$ratio"
printf '%-34s %10s\n' "ps -e lines over gprocfs" "$lines"
printf '%-34s %10s\n' "top -d 1, ${top_s} s: top CPU % /proc" "$(pct $topcpu_p)"
printf '%-34s %10s\n' "top -d 1, ${top_s} s: top CPU % gproc" "$(pct $topcpu_g)"
printf '%-34s %10s\n' "top -d 1, ${top_s} s: gprocfs CPU %" "$fs_cpu"
