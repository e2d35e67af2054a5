#!/usr/bin/env bash
# checkpoint.sh - checkpoint and restore time and MB/s for 1, 64, 512 and 2048 MiB of dirty
# memory, next to a memcpy and a tmpfs write/read of the same number of bytes, same run.
# The image goes to tmpfs (/dev/shm) so the disk is not what is measured; the tmpfs
# baseline is taken while the measured process holds its memory (in a VM, pages the guest
# never touched before cost far more to write than recycled ones). Restore time
# includes the verify pass over the file (checksums checked before any process exists).
# Needs root; SIZES="1 64" to choose sizes.
set -u
top=${SSI_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${SSI_BUILD:-build}
case $build in /*) ;; *) build=$top/$build ;; esac
SSICTL=${SSI_BIN:-$top/bin}/ssictl
prog=$build/tests/progs/dirtymem
[ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit 0; }
[ -x "$SSICTL" ] && [ -x "$prog" ] || { echo "skip: ssictl or $prog not built"; exit 0; }
dir=$(mktemp -d /dev/shm/ssi-bench.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill -9 $p 2>/dev/null; done; rm -rf "$dir"' EXIT
now() { date +%s.%N; }
# Only fds 0-2 open in the measured process (others would be refused by the pre-flight).
clean_exec() {
	local fd
	for fd in /proc/$BASHPID/fd/*; do
		fd=${fd##*/}
		[ "$fd" -gt 2 ] && eval "exec $fd>&-"
	done
	exec "$@"
}
ms() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", (b - a) * 1000}'; }
mbs() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN{printf "%.0f", n * 1048576 / 1e6 / (b - a)}'; }

printf '%-8s %12s %10s %12s %10s %10s %10s %10s %10s\n' MiB checkpoint_ms ckpt_MB/s \
	restore_ms rest_MB/s memcpy_MB/s tmpfs_wMB/s tmpfs_rMB/s image_MiB
for mib in ${SIZES:-1 64 512 2048}; do
	fifo=$dir/out.$mib
	(clean_exec "$prog" "$mib") >"$fifo" 2>/dev/null </dev/null &
	pid=$!
	pids+=("$pid")
	until grep -q ready "$fifo" 2>/dev/null; do sleep 0.05; done
	# Baseline under the same memory load: the process's pages exist while tmpfs is written.
	w0=$(now)
	dd if=/dev/zero of="$dir/raw" bs=1M count="$mib" status=none
	w1=$(now)
	dd if="$dir/raw" of=/dev/null bs=1M status=none
	w2=$(now)
	rm -f "$dir/raw"
	t0=$(now)
	"$SSICTL" checkpoint "$pid" -o "$dir/img" --kill || { echo "checkpoint failed"; exit 1; }
	t1=$(now)
	wait "$pid" 2>/dev/null
	sleep 0.2 # let the killed process's memory go back before the restore allocates
	img=$(($(stat -c %s "$dir/img") >> 20))
	t2=$(now)
	"$SSICTL" restore "$dir/img" --pid-file "$dir/pid" </dev/null >>"$fifo" 2>/dev/null ||
		{ echo "restore failed"; exit 1; }
	t3=$(now)
	rpid=$(cat "$dir/pid")
	pids+=("$rpid")
	kill -USR1 "$rpid"
	for _ in $(seq 200); do grep -qE '^(ok|BAD)' "$fifo" && break; sleep 0.05; done
	grep -q '^ok' "$fifo" || { echo "restored memory differs ($mib MiB)"; exit 1; }
	kill -9 "$rpid" 2>/dev/null
	rm -f "$dir/img"
	cp=$("$prog" --memcpy "$mib" | awk '{print $2}')
	printf '%-8s %12s %10s %12s %10s %10s %10s %10s %10s\n' "$mib" "$(ms "$t0" "$t1")" \
		"$(mbs "$mib" "$t0" "$t1")" "$(ms "$t2" "$t3")" "$(mbs "$mib" "$t2" "$t3")" "$cp" \
		"$(mbs "$mib" "$w0" "$w1")" "$(mbs "$mib" "$w1" "$w2")" "$img"
done
echo "(checkpoint/restore times are whole ssictl runs: process start, freeze, /proc reads, pages, fsync)"
