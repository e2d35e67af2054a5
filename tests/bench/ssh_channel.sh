#!/usr/bin/env bash
# ssh_channel.sh - benchmark of ssid's transport (issue 3):
#  1. throughput of one libssh channel between two lab nodes (node1 -> node2) in MiB/s for
#     aes128-gcm@openssh.com and chacha20-poly1305@openssh.com, next to a memcpy of the same
#     number of bytes (64 MiB buffers, 32 KiB pieces) measured in the same run;
#  2. load gossip frames and bytes sent per node per second in a 3-node lab (lab timings:
#     gossip_ms 500, heartbeat_ms 250), read from `ssictl status --json` over 10 s, with all
#     frames (heartbeats included) for comparison.
# Without root, part 1 runs over 127.0.0.1 in this namespace and
# part 2 is skipped (said in the output). MIB (default 256) sets the bytes per cipher.
set -u -o pipefail
top=${SSI_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${SSI_BIN:-$top/bin}
build=${SSI_BUILD:-build}
case $build in /*) ;; *) build=$top/$build ;; esac
bench=$build/tests/tools/sshbench
mib=${MIB:-256}
[ -x "$bench" ] || { echo "no $bench: run make"; exit 1; }
lab=$bin/ssi-lab
[ -x "$lab" ] || lab=$top/tools/ssi-lab.sh
export SSI_BIN=$bin SSI_LAB_NAME=ssid-bench-$$ SSI_LAB_DIR=/var/tmp/ssid-bench-$$
use_lab=1
[ "$(id -u)" = 0 ] || use_lab=0
[ -e /run/netns/$SSI_LAB_NAME ] && use_lab=0
command -v python3 >/dev/null || use_lab=0
if [ $use_lab = 1 ]; then
	trap 'bash "$lab" down >/dev/null 2>&1' EXIT
	timeout 60 bash "$lab" up -n 3 >/dev/null || { echo "ssi-lab up failed"; exit 1; }
	run1() { bash "$lab" exec 1 -- "$@"; }
	run2() { bash "$lab" exec 2 -- "$@"; }
	host=127.0.1.2 where="lab node1 -> node2"
else
	run1() { "$@"; }
	run2() { "$@"; }
	host=127.0.0.1 where="loopback in one namespace (no lab: not root)"
fi
port=$((30000 + $$ % 20000))

echo "== one libssh channel, $mib MiB per row, $where"
printf "%-32s %10s\n" "what" "MiB/s"
run2 "$bench" serve "$host" "$port" 2 >/dev/null &
srv=$!
sleep 0.5
for c in aes128-gcm@openssh.com chacha20-poly1305@openssh.com; do
	r=$(run1 "$bench" send "$host" "$port" "$c" "$mib") || { echo "send with $c failed"; exit 1; }
	printf "%-32s %10s\n" "$c" "${r%% *}"
done
wait $srv
r=$(run1 "$bench" memcpy "$mib")
printf "%-32s %10s\n" "memcpy (baseline)" "${r%% *}"

if [ $use_lab = 1 ]; then
	echo
	echo "== gossip traffic per node, 3 nodes, 10 s (gossip_ms 500, heartbeat_ms 250)"
	sleep 2
	snap() { for k in 1 2 3; do bash "$lab" exec $k -- ssictl status --json; done; }
	a=$(snap)
	sleep 10
	b=$(snap)
	python3 - "$a" "$b" <<'PY'
import json, sys
a = [json.loads(l) for l in sys.argv[1].splitlines() if l.strip()]
b = [json.loads(l) for l in sys.argv[2].splitlines() if l.strip()]
print("%-8s %12s %12s %12s %12s" % ("node", "gossip/s", "gossip B/s", "frames/s", "bytes/s"))
for x, y in zip(a, b):
    dt = (y["uptime_ms"] - x["uptime_ms"]) / 1000.0
    print("%-8s %12.1f %12.0f %12.1f %12.0f" % (y["name"],
        (y["gossip_msgs"] - x["gossip_msgs"]) / dt, (y["gossip_bytes"] - x["gossip_bytes"]) / dt,
        (y["frames_tx"] - x["frames_tx"]) / dt, (y["bytes_tx"] - x["bytes_tx"]) / dt))
print("(frames/bytes: every frame sent, heartbeats included; bytes are channel payload, before SSH)")
PY
fi
