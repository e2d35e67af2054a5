#!/usr/bin/env bash
# migrate.sh - benchmark of process migration (issue 6): a process with 1, 64 and 512 MiB of
# dirty private memory (tests/progs/dirtymem) started with grun on lab node1 and moved to
# node2 with gmigrate --json: image size, total time (home: request -> DONE), freeze (home:
# the process stopped -> resumed on node2), transfer and restore (node2), MiB/s of the image
# over the total, and that figure as a share of the raw SSH channel node1 -> node2 measured
# in the same run (tests/tools/sshbench, one libssh channel, the same as ssh_channel.sh).
# After each move the moved process checks every page (SIGUSR1 through gkill: "ok").
# SIZES (default "1 64 512") and REPS (default 2) tune it. Needs root (ssi-lab).
set -u -o pipefail
top=${SSI_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${SSI_BIN:-$top/bin}
build=${SSI_BUILD:-build}
case $build in /*) ;; *) build=$top/$build ;; esac
bench=$build/tests/tools/sshbench
dirty=$build/tests/progs/dirtymem
sizes=${SIZES:-1 64 512}
reps=${REPS:-2}
for f in "$bench" "$dirty" "$bin/ssid" "$bin/grun" "$bin/gmigrate" "$bin/gkill"; do
	[ -x "$f" ] || { echo "no $f: run make"; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "needs root (ssi-lab)"; exit 1; }
command -v python3 >/dev/null || { echo "needs python3"; exit 1; }
lab=$bin/ssi-lab
[ -x "$lab" ] || lab=$top/tools/ssi-lab.sh
export SSI_BIN=$bin SSI_TOP=$top SSI_LAB_NAME=mig-bench-$$ SSI_LAB_DIR=/var/tmp/mig-bench-$$
work=/var/tmp/mig-bench-work-$$
X() { local n=$1; shift; timeout 120 bash "$lab" exec "$n" -- "$@"; }
cleanup() {
	[ -n "${dep:-}" ] && kill "$dep" 2>/dev/null
	bash "$lab" down >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
mkdir -p "$work" && chmod 755 "$work"
timeout 60 bash "$lab" up -n 2 >/dev/null || { echo "ssi-lab up failed"; exit 1; }
sleep 1.5

# The raw channel, same nodes, same run: the largest size's bytes (at least 256 MiB).
mib=256
for s in $sizes; do [ "$s" -gt $mib ] && mib=$s; done
port=$((30000 + $$ % 20000))
declare -A raw
X 2 "$bench" serve 127.0.1.2 "$port" 2 >/dev/null &
sleep 0.5
for c in aes128-gcm@openssh.com chacha20-poly1305@openssh.com; do
	r=$(X 1 "$bench" send 127.0.1.2 "$port" "$c" "$mib") || { echo "sshbench with $c failed"; exit 1; }
	raw[$c]=${r%% *}
done
wait

echo "== migration node1 -> node2 of dirtymem (grun), $reps run(s) per size"
echo "raw libssh channel node1 -> node2, $mib MiB: aes128-gcm ${raw[aes128-gcm@openssh.com]} MiB/s," \
	"chacha20-poly1305 ${raw[chacha20-poly1305@openssh.com]} MiB/s"
printf "%-8s %9s %9s %9s %9s %9s %9s %8s %6s\n" "dirty" "image MiB" "total ms" "freeze ms" \
	"xfer ms" "restore" "MiB/s" "of raw" "check"
best=${raw[aes128-gcm@openssh.com]}
for s in $sizes; do
	for r in $(seq "$reps"); do
		out=$work/d$s.$r.out
		( X 1 bash -c "GRUN_VERBOSE=1 exec grun $dirty $s >$out 2>$work/d$s.$r.err" ) 2>/dev/null &
		dep=$!
		for _ in $(seq 600); do grep -q ready "$out" 2>/dev/null && break; sleep 0.1; done
		gpid=$(sed -n 's/^grun: gpid \([0-9]*\)$/\1/p' "$work/d$s.$r.err")
		[ -n "$gpid" ] && grep -q ready "$out" || { echo "dirtymem $s did not start"; exit 1; }
		j=$(X 1 gmigrate --json "$gpid" node2)
		X 1 gkill -USR1 "$gpid" >/dev/null 2>&1
		chk=none
		for _ in $(seq 100); do
			grep -q '^ok' "$out" && { chk=ok; break; }
			grep -q '^BAD' "$out" && { chk=BAD; break; }
			sleep 0.1
		done
		X 1 gkill -KILL "$gpid" >/dev/null 2>&1
		wait "$dep" 2>/dev/null
		dep=""
		python3 - "$j" "$s" "$best" "$chk" <<'PY'
import json, sys
j, size, raw, chk = json.loads(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4]
if j.get("outcome") != "moved":
    print("%-8s move failed: %s" % (size + " MiB", j.get("error")))
    sys.exit(0)
mb = j["bytes"] / 1048576.0
rate = mb / (j["total_ms"] / 1000.0) if j["total_ms"] > 0 else 0
print("%-8s %9.1f %9d %9d %9d %9d %9.0f %7.0f%% %6s" % (size + " MiB", mb, j["total_ms"],
      j["freeze_ms"], j["transfer_ms"], j["restore_ms"], rate, 100 * rate / raw, chk))
PY
	done
done
echo "(total: gmigrate's request to the destination's DONE at home; freeze: stopped at node1"
echo " -> resumed at node2; xfer: first -> last image chunk at node2; restore overlaps xfer;"
echo " MiB/s = image / total; of raw = against aes128-gcm; check = every page verified after)"
