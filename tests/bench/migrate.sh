#!/usr/bin/env bash
# migrate.sh - benchmark of process migration (issue 6): a process with 1, 64 and 512 MiB of
# dirty private memory (tests/progs/dirtymem) started with grun on lab node1 and moved to
# node2 with gmigrate --json: image size, total time (home: request -> DONE), freeze (home:
# the process stopped -> resumed on node2), transfer and restore (node2), MiB/s of the image
# over the total, and that figure as a share of the raw SSH channel node1 -> node2 measured
# in the same run (tests/tools/sshbench, one libssh channel, the same as ssh_channel.sh), and
# the raw image channel (sshbench gcmsend: TCP + AES-128-GCM records, migrate/imgchan.h, the
# way moves send their image by default). Each size is moved on both paths in turn: the image
# channel (`[migrate] image_channel = direct`, the default) and the SSH link (node2 restarted
# with `image_channel = ssh`); PATHS="direct" or PATHS="ssh" for one.
# After each move the moved process checks every page (SIGUSR1 through gkill: "ok").
# Then the CPU per MiB of image of each node (its cgroup), split into the daemon's threads,
# the checkpoint child and the restore worker, next to the raw channel's own CPU per MiB:
# the figure that does not move with the load of a shared machine.
# SIZES (default "1 64 512") and REPS (default 2) tune it; PERF_OUT=FILE records a system-wide
# perf profile of each move into FILE.SIZE.RUN (perf record -a -g). Needs root (ssi-lab).
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
pr=/sys/module/page_reporting/parameters
pr_old="" pr_oldw=""
cleanup() {
	[ -n "$pr_old" ] && echo "$pr_old" >"$pr/min_free_ms"
	[ -n "$pr_oldw" ] && echo "$pr_oldw" >"$pr/max_waiting_mib"
	[ -n "${dep:-}" ] && kill "$dep" 2>/dev/null
	bash "$lab" down >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
mkdir -p "$work" && chmod 755 "$work"
# LINK_RATE=RATE [LINK_DELAY=MS]: shape each node's sending side like a LAN link (ssi-lab up
# --link-rate/--link-delay); default unshaped (loopback, bounded by CPU alone).
linkopt=()
[ -n "${LINK_RATE:-}${LINK_DELAY:-}" ] &&
	linkopt=(${LINK_RATE:+--link-rate "$LINK_RATE"} ${LINK_DELAY:+--link-delay "$LINK_DELAY"})
timeout 60 bash "$lab" up -n 2 "${linkopt[@]}" >/dev/null || { echo "ssi-lab up ${linkopt[*]} failed"; exit 1; }
sleep 1.5

# The raw channel, same nodes, same run: the largest size's bytes (at least 256 MiB).
mib=256
for s in $sizes; do [ "$s" -gt $mib ] && mib=$s; done
port=$((30000 + $$ % 20000))
declare -A raw
declare -A rawcpu
X 2 "$bench" serve 127.0.1.2 "$port" 2 >"$work/serve.out" &
sleep 0.5
for c in aes128-gcm@openssh.com chacha20-poly1305@openssh.com; do
	r=$(X 1 "$bench" send 127.0.1.2 "$port" "$c" "$mib") || { echo "sshbench with $c failed"; exit 1; }
	raw[$c]=${r%% *}
	rawcpu[$c]=${r##* }
done
wait
rawrecv=$(awk '$1 == "recv" { print $3; exit }' "$work/serve.out") # the aes128-gcm session
X 2 "$bench" gcmserve 127.0.1.2 "$((port + 1))" 1 >"$work/gserve.out" &
sleep 0.5
r=$(X 1 "$bench" gcmsend 127.0.1.2 "$((port + 1))" "$mib") || { echo "sshbench gcmsend failed"; exit 1; }
wait
gcm=${r%% *} gcmcpu=${r##* }
gcmrecv=$(awk '$1 == "recv" { print $3; exit }' "$work/gserve.out")

# New memory: a VM may back its guest's pages only when first touched, and give freed pages
# back to the host soon after (virtio-balloon free page reporting: this one reports pages
# free for min_free_ms = 0 ms): a fault on such a page costs ~1.2-2.3 ms per MiB instead of
# ~0.33, and the restore pays it for every page of the moved process, at random (whether
# the allocator hands out reported pages). A real machine does not. So, where the knobs
# exist and VMTUNE is not 0, the run holds reporting back for pages free < 60 s and for up
# to 64 GiB of them (restored at exit) and touches twice the largest size once; the "new
# mem" column is what faulting in (and freeing) as much memory as the image cost right
# before each move.
if [ "${VMTUNE:-1}" != 0 ] && [ -w "$pr/min_free_ms" ] && [ -w "$pr/max_waiting_mib" ]; then
	pr_old=$(cat "$pr/min_free_ms") pr_oldw=$(cat "$pr/max_waiting_mib")
	echo 60000 >"$pr/min_free_ms" && echo 65536 >"$pr/max_waiting_mib" &&
		echo "VM free page reporting held back for the run (min_free_ms $pr_old -> 60000," \
			"max_waiting_mib $pr_oldw -> 65536)"
	"$dirty" --touch $((2 * mib)) >/dev/null
fi

# CPU of each node during a move: its cgroup (ssi-lab puts every process of a node there), and
# inside it the daemon's own threads (link, stream, sink) apart from its children (the
# checkpoint child on the source once reaped, the restore worker on the destination).
cg2=/sys/fs/cgroup
[ -f $cg2/cgroup.controllers ] || cg2=/sys/fs/cgroup/unified
cgn=$cg2/$SSI_LAB_NAME
cg_us() { awk '$1 == "usage_usec" { print $2 }' "$cgn/node$1/cpu.stat" 2>/dev/null || echo 0; }
node_ssid() { # host pid of node N's daemon
	local p
	for p in $(cat "$cgn/node$1/cgroup.procs" 2>/dev/null); do
		[ "$(cat /proc/"$p"/comm 2>/dev/null)" = ssid ] || continue
		[ "$(cat /proc/"$(awk '{ print $4 }' /proc/"$p"/stat)"/comm 2>/dev/null)" = ssid ] && continue
		echo "$p"
		return
	done
}
# "self children" CPU ticks of pid $1: its own threads (dead ones included), and its reaped
# children plus its live ssid children (workers, checkpoint children)
ticks() {
	local self kids c
	read -r self kids < <(awk '{ print $14 + $15, $16 + $17 }' /proc/"$1"/stat 2>/dev/null)
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		case $(cat /proc/"$c"/comm 2>/dev/null) in ssid | ssid-*) ;; *) continue ;; esac
		kids=$((kids + $(awk '{ print $14 + $15 + $16 + $17 }' /proc/"$c"/stat 2>/dev/null || echo 0)))
	done
	echo "${self:-0} ${kids:-0}"
}
cpu_snap() { echo "$(cg_us 1) $(cg_us 2) $(ticks "$s1") $(ticks "$s2")"; }
s1=$(node_ssid 1)
s2=$(node_ssid 2)

echo "== migration node1 -> node2 of dirtymem (grun), $reps run(s) per size," \
	"link: ${LINK_RATE:-unshaped}${LINK_DELAY:+, +$LINK_DELAY ms one way}"
echo "raw libssh channel node1 -> node2, $mib MiB: aes128-gcm ${raw[aes128-gcm@openssh.com]} MiB/s," \
	"chacha20-poly1305 ${raw[chacha20-poly1305@openssh.com]} MiB/s"
echo "raw channel CPU per MiB (aes128-gcm): send ${rawcpu[aes128-gcm@openssh.com]} ms," \
	"receive ${rawrecv:-?} ms"
echo "raw image channel node1 -> node2 (TCP, AES-128-GCM records of 1 MiB), $mib MiB: $gcm MiB/s;" \
	"CPU per MiB: send $gcmcpu ms, receive ${gcmrecv:-?} ms"
printf "%-8s %-6s %9s %9s %9s %9s %9s %9s %8s %6s %7s\n" "dirty" "path" "image MiB" "total ms" \
	"freeze ms" "xfer ms" "restore" "MiB/s" "of raw" "check" "new mem"
best=${raw[aes128-gcm@openssh.com]}
# raw_ssh MIB: MiB/s of the raw libssh channel (aes128-gcm) node1 -> node2 for MIB (>= 64) MiB
rawport=$((port + 2))
raw_ssh() {
	local n=$1 r
	[ "$n" -ge 64 ] || n=64
	rawport=$((rawport + 1))
	X 2 "$bench" serve 127.0.1.2 "$rawport" 1 >/dev/null &
	sleep 0.3
	r=$(X 1 "$bench" send 127.0.1.2 "$rawport" aes128-gcm@openssh.com "$n")
	wait $!
	echo "${r%% *}"
}
# set_path direct|ssh: node2 (the destination) offers the image channel or not
conf2=$SSI_LAB_DIR/node2/etc/ssid.conf
set_path() {
	sed -i '/^\[migrate\]$/,$d' "$conf2"
	[ "$1" = ssh ] && printf '[migrate]\nimage_channel = ssh\n' >>"$conf2"
	bash "$lab" restart 2 >/dev/null || { echo "ssi-lab restart 2 failed"; exit 1; }
	for _ in $(seq 100); do
		X 1 ssictl nodes --json 2>/dev/null | grep -q '"state": "up"' && break
		sleep 0.1
	done
	sleep 1
	s2=$(node_ssid 2)
}
for path in ${PATHS:-direct ssh}; do
	set_path "$path"
	for s in $sizes; do
	for r in $(seq "$reps"); do
		out=$work/d$path.$s.$r.out
		( X 1 bash -c "GRUN_VERBOSE=1 exec grun $dirty $s >$out 2>$work/d$path.$s.$r.err" ) 2>/dev/null &
		dep=$!
		for _ in $(seq 600); do grep -q ready "$out" 2>/dev/null && break; sleep 0.1; done
		gpid=$(sed -n 's/^grun: gpid \([0-9]*\)$/\1/p' "$work/d$path.$s.$r.err")
		[ -n "$gpid" ] && grep -q ready "$out" || { echo "dirtymem $s did not start"; exit 1; }
		pair=$(raw_ssh "$s") # the raw channel right before this move: the load of the moment
		newmem=$("$dirty" --touch "$s")
		c0=$(cpu_snap)
		if [ -n "${PERF_OUT:-}" ]; then # profile the move: perf record -a around gmigrate
			perf record -q -a -g -o "$PERF_OUT.$s.$r" -- \
				timeout 120 bash "$lab" exec 1 -- gmigrate --json "$gpid" node2 \
				>"$work/j" 2>/dev/null
			j=$(cat "$work/j")
		else
			j=$(X 1 gmigrate --json "$gpid" node2)
		fi
		sleep 0.5 # the source's frozen copy killed, its checkpoint child reaped
		c1=$(cpu_snap)
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
		python3 - "$j" "$s" "${pair:-$best}" "$chk" "$c0" "$c1" "$work/cpu" "$path" "$newmem" <<'PY'
import json, os, sys
j, size, raw, chk = json.loads(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4]
path = sys.argv[8]
if j.get("outcome") != "moved":
    print("%-8s %-6s move failed: %s" % (size + " MiB", path, j.get("error")))
    sys.exit(0)
mb = j["bytes"] / 1048576.0
rate = mb / (j["total_ms"] / 1000.0) if j["total_ms"] > 0 else 0
print("%-8s %-6s %9.1f %9d %9d %9d %9d %9.0f %7.0f%% %6s %7s" % (size + " MiB", path, mb,
      j["total_ms"], j["freeze_ms"], j["transfer_ms"], j["restore_ms"], rate, 100 * rate / raw, chk,
      sys.argv[9]))
a, b = [list(map(int, x.split())) for x in sys.argv[5:7]]
d = [y - x for x, y in zip(a, b)]
tick = 1000.0 / os.sysconf("SC_CLK_TCK")
src, dst = d[0] / 1000.0 / mb, d[1] / 1000.0 / mb
# 10 ms ticks say nothing about a few MiB: the split is shown from 32 MiB up
sp = lambda t: "%8.2f" % (t * tick / mb) if mb >= 32 else "%8s" % "-"
with open(sys.argv[7], "a") as f:
    f.write("%-8s %-6s %8.2f %s %s %8.2f %s %s %9.0f\n" % (size + " MiB", path, src, sp(d[2]),
            sp(d[3]), dst, sp(d[4]), sp(d[5]), 2000.0 / (src + dst)))
PY
	done
	done
done
echo "(total: gmigrate's request to the destination's DONE at home; freeze: stopped at node1"
echo " -> resumed at node2; xfer: first -> last image chunk at node2; restore overlaps xfer;"
echo " MiB/s = image / total; of raw = against the raw libssh channel (aes128-gcm, the image's"
echo " size, at least 64 MiB) measured right before that move; path: direct ="
echo " the image channel, ssh = MIG_STREAM inside the SSH link; check = every page verified after;"
echo " new mem = ms per MiB to fault in and free as much new memory right before the move)"
echo
echo "== CPU per MiB of image, ms (node cgroups; ssid = the daemon's threads: link, stream, sink)"
printf "%-8s %-6s %8s %8s %8s %8s %8s %8s %9s\n" "dirty" "path" "src all" "ssid" "ckpt" "dst all" \
	"ssid" "restore" "2-core MiB/s"
cat "$work/cpu" 2>/dev/null
echo "(src/dst all: every process of the node, tick-free; ssid, ckpt (checkpoint child), restore"
echo " (worker): 10 ms ticks; 2-core MiB/s = 2000 / (src all + dst all), the rate if both cores"
echo " did nothing else and the stages overlapped perfectly; the raw channel needs send+receive)"
