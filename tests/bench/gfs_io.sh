#!/usr/bin/env bash
# gfs_io.sh - benchmark of /gfs (issue 7) between two lab nodes, node2 using node1's files:
#   sequential write and read in MiB/s (dd, 1 MiB blocks, write with conv=fsync), 4 KiB
#   writes (dd bs=4k, 16 MiB, conv=fsync: the write-behind case), and small-
#   file create and stat rates (python, fresh names so no cache helps), each through
#   /gfs/node1/home from node2 next to the same on node1's local /home, plus the raw SSH
#   channel (tests/tools/sshbench, the cipher ssid links use) between the same two nodes,
#   all in the same run. Both read rows read the file node1 wrote locally: it is in node1's
#   page cache for both, and never in node2's. MIB (default 128) sets the size;
#   FILES (default 1000) the small-file count. Needs root (ssi-lab).
set -u -o pipefail
top=${SSI_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${SSI_BIN:-$top/bin}
build=${SSI_BUILD:-build}
case $build in /*) ;; *) build=$top/$build ;; esac
bench=$build/tests/tools/sshbench
mib=${MIB:-128}
files=${FILES:-1000}
lab=$bin/ssi-lab
[ -x "$lab" ] || lab=$top/tools/ssi-lab.sh
[ "$(id -u)" = 0 ] || { echo "needs root (ssi-lab)"; exit 1; }
[ -x "$bench" ] || { echo "no $bench: run make"; exit 1; }
export SSI_BIN=$bin SSI_LAB_NAME=gfs-bench-$$ SSI_LAB_DIR=/var/tmp/gfs-bench-$$ SSI_TOP=$top
trap 'bash "$lab" down >/dev/null 2>&1' EXIT
timeout 60 bash "$lab" up -n 2 >/dev/null || { echo "ssi-lab up failed"; exit 1; }
n1() { bash "$lab" exec 1 -- "$@"; }
n2() { bash "$lab" exec 2 -- "$@"; }
for i in $(seq 50); do n2 test -d /gfs/node1/home && break; sleep 0.1; done
n2 test -d /gfs/node1/home || { echo "/gfs not mounted on node2"; exit 1; }

# dd's own rate line -> MiB/s
ddrate() { # ddrate NODEFN ARGS...: run dd, print MiB/s from bytes and seconds
	local fn=$1
	shift
	$fn sh -c "dd $* 2>&1 >/dev/null" | awk '/bytes/ {for (i = 1; i <= NF; i++) if ($i ~ /^s,?$/ || $i == "s,") t = $(i-1); printf "%.0f\n", $1 / 1048576 / t}'
}
small() { # small NODEFN DIR: "creates/s stats/s" for $files files
	$1 python3 - "$2" "$files" <<'PY'
import os, sys, time
d, n = sys.argv[1], int(sys.argv[2])
os.makedirs(d, exist_ok=True)
t = time.monotonic()
for i in range(n):
    with open(f"{d}/f{i}", "w") as f:
        f.write("x")
c = n / (time.monotonic() - t)
t = time.monotonic()
for i in range(n):
    os.stat(f"{d}/f{i}")
s = n / (time.monotonic() - t)
print(f"{c:.0f} {s:.0f}")
PY
}

w_loc=$(ddrate n1 if=/dev/zero of=/home/seq.local bs=1M count=$mib conv=fsync)
w_gfs=$(ddrate n2 if=/dev/zero of=/gfs/node1/home/seq.gfs bs=1M count=$mib conv=fsync)
sw_loc=$(ddrate n1 if=/dev/zero of=/home/w4k.local bs=4k count=4096 conv=fsync)
sw_gfs=$(ddrate n2 if=/dev/zero of=/gfs/node1/home/w4k.gfs bs=4k count=4096 conv=fsync)
r_loc=$(ddrate n1 if=/home/seq.local of=/dev/null bs=1M)
# the file node1 wrote itself: never in node2's page cache
r_gfs=$(ddrate n2 if=/gfs/node1/home/seq.local of=/dev/null bs=1M)
read -r c_loc s_loc < <(small n1 /home/small.local)
sleep 1.2 # let the entries made by the create loop age out of the /gfs cache
read -r c_gfs s_gfs < <(small n2 /gfs/node1/home/small.gfs)
n1 "$bench" serve 127.0.1.1 7399 1 >/dev/null &
srv=$!
sleep 0.5
ssh_raw=$(n2 "$bench" send 127.0.1.1 7399 aes128-gcm@openssh.com "$mib") || ssh_raw="failed"
wait $srv

echo "== /gfs between two lab nodes (node2 -> node1's /home), $mib MiB sequential, $files small files"
printf "%-44s %12s %12s\n" "what" "local (node1)" "/gfs (node2)"
printf "%-44s %12s %12s\n" "sequential write, MiB/s (dd 1M, fsync)" "$w_loc" "$w_gfs"
printf "%-44s %12s %12s\n" "4 KiB writes, MiB/s (dd 4k x 4096, fsync)" "$sw_loc" "$sw_gfs"
printf "%-44s %12s %12s\n" "sequential read, MiB/s (dd 1M, server cached)" "$r_loc" "$r_gfs"
printf "%-44s %12s %12s\n" "small-file create+write+close, files/s" "$c_loc" "$c_gfs"
printf "%-44s %12s %12s\n" "stat, entries not cached, stats/s" "$s_loc" "$s_gfs"
printf "%-44s %12s %12s\n" "raw SSH channel node2->node1, MiB/s" "-" "${ssh_raw%% *}"
