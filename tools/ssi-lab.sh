#!/usr/bin/env bash
# ssi-lab - a cluster of N ssi nodes on one machine, for trying and testing.
#
# Owns, per lab NAME (SSI_LAB_NAME, default ssi-lab): the network namespace NAME, the cgroups
# <cgroup2>/NAME/nodeK (plus v1 cpuset ones on hybrid hosts), one PID+mount+UTS+cgroup namespace
# per node whose pid 1 is this script's `_init`, the nftables table ssi_lab inside the netns (link
# cuts), the state directory (SSI_LAB_DIR, default /var/tmp/NAME); shared by all labs: /run/ssi-lab
# records, the user ssiuser and host mount points it had to create. Does not own ssid/ssictl: it
# writes their config (CONFIG.md contract) and starts them. Assumes root, util-linux, iproute2,
# cgroup v2 (pure, or hybrid at /sys/fs/cgroup/unified), nft for cut/heal and --link-rate (with
# tc's htb qdisc; netem for --link-delay). All it makes is found by name or in its records (the
# tc and nft state lives in the netns), so `down` cleans up also after a crash or an interrupted `up`.
set -u -o pipefail

NAME=${SSI_LAB_NAME:-ssi-lab}   # lab name: its netns and its parent cgroup are called so
NETNS=$NAME
NFT_TABLE=ssi_lab               # nftables table inside the lab netns
LAB_USER=ssiuser                # unprivileged user made by `up` when missing
RUNREC=/run/ssi-lab             # host: NAME.dir records each lab's state dir, made-dirs and
                                # made-user what the first lab made; in nodes: tmpfs with bin/, node/
MAX_NODES=64
PORT=7022
SELF=$(readlink -f "${BASH_SOURCE[0]}")
PROG=ssi-lab
# Mount points every node binds its own directory over (created on the host if missing).
NODE_MOUNTS="etc:/etc/ssid lib:/var/lib/ssid run:/run/ssid tmp:/tmp home:/home"
EMPTY_MOUNTS="/gproc /gfs"

die() { echo "$PROG: $*" >&2; exit 1; }
[[ $NAME =~ ^[A-Za-z0-9_-]{1,24}$ ]] || die "SSI_LAB_NAME must be 1-24 of A-Z a-z 0-9 _ -"
warn() { echo "$PROG: $*" >&2; }
note() { echo "$PROG: $*"; }

usage() {
	cat <<EOF
Usage: ssi-lab COMMAND [ARGS]
A cluster of N ssi nodes on one machine: one private network namespace (addresses
127.0.1.K on its loopback), and per node its own PID, mount, UTS and cgroup namespaces,
hostname nodeK, /etc/ssid, /var/lib/ssid, /run/ssid, /tmp, /home, /proc and cgroup (seen
as the root of the node's cgroup v2 mount). Runs as root.

Commands (NODE is "node2" or "2"):
  up [-n N] [--cpus-per-node K] [--untrusted K] [--no-daemon]
     [--link-rate RATE [--link-delay MS]]
                        start nodes node1..nodeN (default N=3); per node: key (ssictl keygen),
                        /etc/ssid/ssid.conf (peers = all other nodes, lab timings), trust of
                        every other node's key, then "ssid -f"; waits until each answers
                        "ssictl status" (10 s). --cpus-per-node K: K CPUs per node (cpuset),
                        round-robin over this machine's CPUs. --untrusted K: nobody trusts
                        node K's key (it still lists and trusts the others). --no-daemon:
                        namespaces, directories and user only; no keys, config or ssid.
                        --link-rate RATE: each node sends at most RATE (tc units: 100mbit,
                        1gbit, 10gbit), like a node on its own full-duplex link; default:
                        unshaped. --link-delay MS: every packet a node sends is also delayed
                        MS ms (one way; a round trip takes 2 x MS); needs the kernel's netem
                        qdisc. Not modelled: the limit of one node's receiving side (several
                        senders to one node get RATE each); a node's TCP to its own address
                        is shaped too. Needs tc (iproute2) and nft (nftables).
                        Fails (exit 1) if lab NAME is already up.
  down [--keep]         stop every node (SIGTERM to ssid first) and remove everything:
                        processes, mounts, cgroups, namespace, addresses, nft rules, the state
                        directory (unless --keep); the last lab down also removes the mount
                        points and the user $LAB_USER that labs made. Exit 0 if no lab is up.
  status                per node: id, pid of its init, ssid pid, address, CPUs, link shaping
                        (as tc has it), cut links
  exec NODE [--user U] [--] CMD [ARG...]
                        run CMD inside NODE (all its namespaces and its cgroup), as root or
                        as user U; stdio and CMD's exit status pass through; 125 if the
                        node is not running. PATH starts with the lab's program directory.
  shell NODE [--user U] interactive bash inside NODE
  cut A B / heal A B    drop / restore all IP traffic between nodes A and B (both ways)
  crash NODE            kill every process of NODE at once (SIGKILL to its PID-namespace init)
  restart NODE          start NODE again (same directories, keys and database; ssid again);
                        a running node is stopped first (SIGTERM to ssid, then killed)
  log NODE [-f]         show (or follow) NODE's ssid log

Environment:
  SSI_BIN       directory with ssid and ssictl (default: the directory holding ssi-lab)
  SSI_LAB_NAME  name of the lab (default ssi-lab): its network namespace and parent cgroup.
                Labs with different names run side by side (tests use their own name).
  SSI_LAB_DIR   state directory for "up" (default /var/tmp/NAME); later commands find it
                through $RUNREC/NAME.dir
  SSI_TOP, SSI_LAB_SHARE
                host directories (SSI_LAB_SHARE: colon-separated) that every node sees at
                the same path, e.g. the project tree for the tests' programs
Files: STATE/nodeK/{etc,lib,run,tmp,home} are the node's /etc/ssid, /var/lib/ssid, /run/ssid,
/tmp, /home; STATE/nodeK/ssid.log its daemon log; STATE/nodeK/init.log its init's messages.
Each node's ssid mounts gprocfs on the node's own /gproc (and /gfs when configured).
EOF
}

need_root() { [ "$(id -u)" = 0 ] || die "must run as root (it makes namespaces, mounts and cgroups)"; }

# ---- locating things -------------------------------------------------------------------------

# The cgroup v2 hierarchy: pure v2 at /sys/fs/cgroup, or hybrid at /sys/fs/cgroup/unified.
cg2_root() {
	if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
		echo /sys/fs/cgroup
	elif [ -e /sys/fs/cgroup/unified/cgroup.controllers ]; then
		echo /sys/fs/cgroup/unified
	else
		return 1
	fi
}

# v1 cpuset hierarchy on hybrid hosts (empty on pure v2).
cs1_root() {
	[ -e /sys/fs/cgroup/cgroup.controllers ] && return 1
	[ -e /sys/fs/cgroup/cpuset/cpuset.cpus ] && echo /sys/fs/cgroup/cpuset
}

# The state directory of the running lab (or of the one `up` will make).
lab_dir() {
	if [ -n "${SSI_LAB_DIR:-}" ]; then
		case $SSI_LAB_DIR in /*) echo "$SSI_LAB_DIR" ;; *) echo "$PWD/$SSI_LAB_DIR" ;; esac
	elif [ -s "$RUNREC/$NAME.dir" ]; then
		cat "$RUNREC/$NAME.dir"
	else
		echo "/var/tmp/$NAME"
	fi
}

bin_dir() {
	if [ -n "${SSI_BIN:-}" ]; then
		readlink -f "$SSI_BIN"
	else
		dirname "$SELF"
	fi
}

lab_exists() {
	local cg
	[ -e /run/netns/$NETNS ] && return 0
	cg=$(cg2_root) && [ -d "$cg/$NAME" ] && return 0
	return 1
}

# Is a lab other than NAME up? (a netns with a lab cgroup of the same name, any version)
other_labs() {
	local ns cg
	cg=$(cg2_root) || return 1
	for ns in /run/netns/*; do
		[ -e "$ns" ] && [ "${ns##*/}" != "$NAME" ] && [ -d "$cg/${ns##*/}" ] && return 0
	done
	return 1
}

load_env() {
	LAB=$(lab_dir)
	[ -f "$LAB/lab.env" ] || die "no lab is up (no $LAB/lab.env); start one with: ssi-lab up"
	# shellcheck disable=SC1091
	. "$LAB/lab.env"
	CG2=$(cg2_root) || die "no cgroup v2 hierarchy found"
}

# NODE argument -> node number, checked against the lab's size.
node_num() {
	local a=${1#node}
	[[ $a =~ ^[0-9]+$ ]] && [ "$a" -ge 1 ] && [ "$a" -le "$N" ] ||
		die "no node '$1' in this lab (nodes are node1..node$N, or 1..$N)"
	echo $((10#$a))
}

# Host pid of node K's init, if it runs (guards against pid reuse: its cmdline names _init K).
node_pid() {
	local k=$1 pid cmd
	[ -s "$LAB/node$k/init.pid" ] || return 1
	pid=$(<"$LAB/node$k/init.pid")
	[ -r /proc/$pid/cmdline ] || return 1
	cmd=$(tr '\0' ' ' </proc/$pid/cmdline 2>/dev/null) || return 1
	[[ $cmd == *" _init $k "* ]] || return 1
	echo "$pid"
}

# Host pids of the processes in node K's cgroup.
node_procs() { cat "$CG2/$NAME/node$1/cgroup.procs" 2>/dev/null; }

# Pid of node K's ssid, if one runs.
node_ssid() {
	local p
	for p in $(node_procs "$1"); do
		[ "$(cat /proc/$p/comm 2>/dev/null)" = ssid ] && { echo "$p"; return 0; }
	done
	return 1
}

# Move the calling shell into node K's cgroup(s), so what it execs belongs to the node.
join_cgroup() {
	local k=$1 cs
	echo "$BASHPID" >"$CG2/$NAME/node$k/cgroup.procs" || die "cannot join cgroup of node$k"
	if [ -n "${CPUS_PER_NODE:-}" ] && cs=$(cs1_root); then
		echo "$BASHPID" >"$cs/$NAME/node$k/cgroup.procs" || die "cannot join cpuset of node$k"
	fi
}

# ---- cpus ------------------------------------------------------------------------------------

# The CPUs this process may use, one per line (expands "0-3,6").
host_cpus() {
	local list r
	list=$(awk '/^Cpus_allowed_list:/ {print $2}' /proc/self/status)
	IFS=, read -ra r <<<"$list"
	for x in "${r[@]}"; do
		if [[ $x == *-* ]]; then seq "${x%-*}" "${x#*-}"; else echo "$x"; fi
	done
}

# CPUs of node K with C per node: round-robin over the host's CPUs, as "a,b".
node_cpus() {
	local k=$1 c=$2 cpus i out=()
	mapfile -t cpus < <(host_cpus)
	for ((i = 0; i < c; i++)); do
		out+=("${cpus[$((((k - 1) * c + i) % ${#cpus[@]}))]}")
	done
	(IFS=,; echo "${out[*]}")
}

# ---- nftables (cut/heal) ---------------------------------------------------------------------

# Run an nft script (stdin) in the lab netns. nft resolves "socket cgroupv2" paths under
# /sys/fs/cgroup, so on hybrid hosts it runs in a private mount ns with cgroup2 mounted there.
nft_lab() {
	nsenter --net=/run/netns/$NETNS unshare --mount --propagation private \
		sh -c 'mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null; exec nft -f -'
}

# Rebuild the table from a cut list (lines "A B"). Every packet is marked with its sender's node number
# (socket cgroup on output; with LINK_RATE its priority also names the node's tc class); on
# input, a packet whose mark and receiving socket's node form a cut pair is dropped. Matching
# cgroups, not addresses, because a connection to a local address takes that same address as
# its source.
apply_cuts() {
	local k a b
	command -v nft >/dev/null || { warn "cut/heal need nft: apt-get install nftables"; return 1; }
	{
		echo "table inet $NFT_TABLE {}"
		echo "delete table inet $NFT_TABLE"
		echo "table inet $NFT_TABLE {"
		echo " chain sender { type filter hook output priority -150;"
		for ((k = 1; k <= N; k++)); do
			echo "  socket cgroupv2 level 2 \"$NAME/node$k\" meta mark set $k${LINK_RATE:+ meta priority set 1:$k}"
		done
		echo " }"
		echo " chain links { type filter hook input priority 0;"
		while read -r a b; do
			[ -n "$a" ] || continue
			echo "  meta mark $a socket cgroupv2 level 2 \"$NAME/node$b\" drop"
			echo "  meta mark $b socket cgroupv2 level 2 \"$NAME/node$a\" drop"
		done <"$1"
		echo " }"
		echo "}"
	} | nft_lab || { warn "nft failed to install the cut rules"; return 1; }
}

cmd_cut() {
	[ $# -eq 3 ] || die "usage: ssi-lab $1 A B"
	local op=$1 a b
	need_root
	load_env
	a=$(node_num "$2") || exit 1
	shift
	b=$(node_num "$2") || exit 1
	[ "$a" != "$b" ] || die "a node cannot be cut from itself"
	[ "$a" -lt "$b" ] || { local t=$a; a=$b; b=$t; }
	touch "$LAB/cuts"
	grep -vx "$a $b" "$LAB/cuts" >"$LAB/cuts.new"
	[ "$op" = cut ] && echo "$a $b" >>"$LAB/cuts.new"
	apply_cuts "$LAB/cuts.new" || { rm -f "$LAB/cuts.new"; exit 1; }
	mv "$LAB/cuts.new" "$LAB/cuts"
	if [ "$op" = cut ]; then note "cut node$a <-> node$b"; else note "healed node$a <-> node$b"; fi
}

# ---- link shaping (tc) -----------------------------------------------------------------------

# Nodes share the lab netns and talk over its loopback, where a connection to a node's address
# takes that address as its source too: addresses do not name the sender. So the nft "sender"
# chain of apply_cuts sets the priority of each packet to its sender's class 1:K (by socket
# cgroup; HTB takes a priority that names one of its classes as the class) and that HTB class
# on lo's egress limits what node K sends to LINK_RATE; with LINK_DELAY a netem leaf delays
# each of its packets. Others (host helpers, SYN-ACKs) pass unshaped (HTB's direct queue).

tc_lab() { tc -n "$NETNS" "$@"; }

# rate_bytes RATE: a tc rate (NUMBER with bit, kbit, mbit, gbit, tbit, bps, kbps, mbps, gbps,
# tbps; k = 1000) in bytes per second; fails on anything else.
rate_bytes() {
	local rate=${1,,}
	[[ $rate =~ ^([0-9]+(\.[0-9]+)?)(bit|kbit|mbit|gbit|tbit|bps|kbps|mbps|gbps|tbps)$ ]] || return 1
	awk -v n="${BASH_REMATCH[1]}" -v u="${BASH_REMATCH[3]}" 'BEGIN {
		m["bit"] = 0.125; m["kbit"] = 125; m["mbit"] = 125e3; m["gbit"] = 125e6; m["tbit"] = 125e9
		m["bps"] = 1; m["kbps"] = 1e3; m["mbps"] = 1e6; m["gbps"] = 1e9; m["tbps"] = 1e12
		b = n * m[u]; if (b < 1) exit 1; printf "%.0f\n", b }'
}

# check_links: before anything is made, fail if tc, nft or the kernel's qdiscs are missing
# (tried in a throw-away network namespace).
check_links() {
	command -v tc >/dev/null || die "--link-rate needs tc: apt-get install iproute2"
	command -v nft >/dev/null ||
		die "--link-rate needs nft (it marks each node's packets): apt-get install nftables"
	unshare --net tc qdisc add dev lo root handle 1: htb 2>/dev/null ||
		die "--link-rate: this kernel has no htb qdisc (CONFIG_NET_SCH_HTB)"
	[ -z "$LINK_DELAY" ] || unshare --net tc qdisc add dev lo root netem delay 1ms 2>/dev/null ||
		die "--link-delay: this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM); use --link-rate alone"
}

# apply_links: the priorities and the per-node classes (after the node cgroups exist: nft
# resolves their paths when it loads the rules).
apply_links() {
	local k burst
	# Token bucket: 1 ms at the rate, at least two 64 KiB packets (lo's GSO size).
	burst=$(($(rate_bytes "$LINK_RATE") / 1000))
	[ "$burst" -ge 131072 ] || burst=131072
	apply_cuts "$LAB/cuts" || return 1
	tc_lab qdisc add dev lo root handle 1: htb default 0 direct_qlen 10000 || return 1
	for ((k = 1; k <= N; k++)); do
		tc_lab class add dev lo parent 1: classid "1:$k" htb rate "$LINK_RATE" ceil "$LINK_RATE" \
			burst "$burst" cburst "$burst" quantum 200000 || return 1
		if [ -n "$LINK_DELAY" ]; then
			tc_lab qdisc add dev lo parent "1:$k" handle "$((k + 100)):" netem delay "${LINK_DELAY}ms" \
				limit 10000 || return 1
		fi
	done
}

# links_said: the shaping in words, for up and status (empty when unshaped).
links_said() { echo "${LINK_RATE:+each node sends at most $LINK_RATE}${LINK_DELAY:+, +$LINK_DELAY ms a packet}"; }

# link_of K: node K's shaping as tc reports it ("1Gbit", "1Gbit+200us", or "-").
link_of() {
	local rate delay
	rate=$(tc_lab class show dev lo classid "1:$1" 2>/dev/null |
		awk '{ for (i = 1; i < NF; i++) if ($i == "rate") { print $(i + 1); exit } }')
	delay=$(tc_lab qdisc show dev lo parent "1:$1" 2>/dev/null |
		awk '$2 == "netem" { for (i = 1; i < NF; i++) if ($i == "delay") { print $(i + 1); exit } }')
	echo "${rate:--}${delay:++$delay}"
}

# ---- node init (pid 1 of a node's PID namespace) ---------------------------------------------

# Runs inside fresh PID/mount/UTS/cgroup namespaces within the lab netns, as pid 1. Builds the
# node's view of the file system, records its host pid, then only reaps children (bash reaps
# every child, adopted ones too) until killed.
node_init() {
	local k=$1 nd=$2 bin=$3 hostpid m src dst
	# /proc is still the host's here, so /proc/self/stat names our host pid.
	read -r hostpid _ </proc/self/stat
	# unshare made every mount private already; say it again before unmounting anything.
	mount --make-rprivate / || { echo "init: cannot make / private"; exit 1; }
	mount -t tmpfs -o mode=755,size=1m ssi-lab $RUNREC || { echo "init: tmpfs on $RUNREC failed"; exit 1; }
	mkdir -p $RUNREC/node $RUNREC/bin
	mount --bind "$nd" $RUNREC/node || { echo "init: bind $nd failed"; exit 1; }
	[ -d "$bin" ] && mount --bind "$bin" $RUNREC/bin
	local shared=() i=0
	[ -f "${nd%/*}/share" ] && mapfile -t shared <"${nd%/*}/share"
	for m in "${shared[@]}"; do
		mkdir -p "$RUNREC/share$i" && mount --bind "$m" "$RUNREC/share$i" || { echo "init: bind $m failed"; exit 1; }
		i=$((i + 1))
	done
	for m in $NODE_MOUNTS; do
		src=$RUNREC/node/${m%%:*} dst=${m#*:}
		mount --bind "$src" "$dst" || { echo "init: bind $src on $dst failed"; exit 1; }
	done
	# Hide the state directory (other nodes' keys and files); the node reaches its own through
	# the mounts above. Under /tmp or /home it is hidden already.
	[ -d "${nd%/*}" ] && mount -t tmpfs -o size=4k,mode=755 ssi-lab-state "${nd%/*}"
	i=0
	for m in "${shared[@]}"; do
		mkdir -p "$m" && mount --bind "$RUNREC/share$i" "$m" || { echo "init: sharing $m failed"; exit 1; }
		i=$((i + 1))
	done
	mount -t proc proc /proc || { echo "init: mounting /proc failed"; exit 1; }
	# The node's own cgroup as the cgroup v2 root at the host's path (as in a container): its
	# cpu.pressure, cpu.stat and cgroup.procs are the node's alone.
	local cg2
	# (The kernel refuses cgroup2 over its own root, so the inherited copy goes first; private.)
	cg2=$(cg2_root) && umount -l "$cg2" && mount -t cgroup2 cgroup2 "$cg2"
	hostname "node$k"
	echo "$hostpid" >$RUNREC/node/init.pid.new && mv $RUNREC/node/init.pid.new $RUNREC/node/init.pid
	cd / || exit 1
	# Block on a private FIFO nobody writes: no extra process shows in the node's ps, and
	# bash's SIGCHLD handling still reaps what the node's processes leave to it.
	mkfifo $RUNREC/.init && exec 3<>$RUNREC/.init && rm -f $RUNREC/.init
	while :; do read -r -u 3 _; done
}

# Start node K's init in the background and wait until it has built its mounts.
start_node() {
	local k=$1 nd=$LAB/node$1 i pid
	rm -f "$nd/init.pid"
	(
		join_cgroup "$k"
		for f in /proc/$BASHPID/fd/*; do
			f=${f##*/}
			[ "$f" -gt 2 ] && eval "exec $f>&-"
		done
		exec setsid nsenter --net=/run/netns/$NETNS \
			unshare --pid --fork --mount --uts --cgroup --propagation private \
			bash "$SELF" _init "$k" "$nd" "$BIN"
	) </dev/null >>"$nd/init.log" 2>&1 &
	for ((i = 0; i < 100; i++)); do
		if pid=$(node_pid "$k"); then
			# unshare (the init's parent) had to be in the node's cgroup to make it the root of
			# the node's cgroup namespace; back to ours, so the node's cgroup holds its own only.
			local orig upid
			orig=$(sed -n 's/^0:://p' /proc/self/cgroup)
			read -r _ _ _ upid _ <"/proc/$pid/stat"
			echo "$upid" >"$CG2${orig%/}/cgroup.procs" 2>/dev/null
			return 0
		fi
		sleep 0.05
	done
	warn "node$k: its init did not come up within 5 s; last lines of $nd/init.log:"
	tail -5 "$nd/init.log" >&2
	return 1
}

# Start ssid in node K, detached: the sh that starts it exits, so the node's init adopts it.
start_daemon() {
	local k=$1 i
	echo "== $(date '+%F %T') ssi-lab: starting ssid" >>"$LAB/node$k/ssid.log"
	run_in "$k" "" /bin/sh -c \
		"setsid ssid -f -c /etc/ssid/ssid.conf </dev/null >>$RUNREC/node/ssid.log 2>&1 &" ||
		{ warn "node$k: could not start ssid"; return 1; }
}

# Wait (10 s at most) until the ssid of every node given answers `ssictl status`; a daemon that
# exits fails at once. On failure, says which node and why, with the tail of its log.
wait_daemons() {
	local k left=("$@") still dead=() end=$((SECONDS + 10)) tries=0
	while [ ${#left[@]} -gt 0 ] && [ $SECONDS -lt $end ]; do
		still=()
		tries=$((tries + 1))
		for k in "${left[@]}"; do
			run_in "$k" "" timeout 3 ssictl -c /etc/ssid/ssid.conf status >/dev/null 2>&1 && continue
			# Right after the start the process may still be "setsid"; judge from the 3rd try.
			if [ $tries -ge 3 ] && ! node_ssid "$k" >/dev/null; then dead+=("$k"); else still+=("$k"); fi
		done
		left=("${still[@]}")
		[ ${#dead[@]} -gt 0 ] && break
		[ ${#left[@]} -eq 0 ] || sleep 0.2
	done
	[ ${#left[@]} -eq 0 ] && [ ${#dead[@]} -eq 0 ] && return 0
	for k in "${dead[@]}"; do
		warn "node$k: ssid exited at start; its log since the start:"
		log_tail "$k"
	done
	for k in "${left[@]}"; do
		warn "node$k: ssid runs but did not answer 'ssictl status' within 10 s; its log since the start:"
		log_tail "$k"
	done
	return 1
}

# The last 20 lines of node K's ssid log written since the latest start.
log_tail() {
	awk '/^== .* ssi-lab: starting ssid$/ {n = 0; next} {l[n++] = $0}
		END {for (i = (n > 20 ? n - 20 : 0); i < n; i++) print "    " l[i]}' \
		"$LAB/node$1/ssid.log" >&2
}

# ---- exec ------------------------------------------------------------------------------------

# run_in K USER CMD...: run CMD in node K (as USER if not empty); exit status of CMD, 125 if
# the node is not running. With RUN_IN_EXEC=1 this process becomes nsenter (no extra wrapper).
run_in() {
	local k=$1 user=$2 pid dir pre path
	shift 2
	pid=$(node_pid "$k") || { warn "node$k is not running (crashed? try: ssi-lab restart $k)"; return 125; }
	path="$RUNREC/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	if [ -n "$user" ]; then
		local uid gid home
		uid=$(id -u "$user" 2>/dev/null) || { warn "no user '$user' on this machine"; return 125; }
		gid=$(id -g "$user") home=$(getent passwd "$user" | cut -d: -f6)
		pre=(setpriv --reuid="$uid" --regid="$gid" --init-groups --reset-env env -u SSID_CONF "PATH=$path")
		dir=${home:-/}
	else
		pre=(env -u SSID_CONF "PATH=$path")
		dir=$PWD
	fi
	local argv=(nsenter --target "$pid" --all -- "${pre[@]}"
		/bin/sh -c 'cd -- "$0" 2>/dev/null || cd /; exec "$@"' "$dir" "$@")
	if [ "${RUN_IN_EXEC:-}" = 1 ]; then
		join_cgroup "$k"
		exec "${argv[@]}"
	fi
	(
		join_cgroup "$k"
		exec "${argv[@]}"
	)
}

parse_exec() {
	local k user=""
	[ $# -ge 1 ] || die "usage: ssi-lab exec NODE [--user U] [--] CMD [ARG...]"
	k=$(node_num "$1") || exit 1
	shift
	while [ $# -gt 0 ]; do
		case $1 in
		--user | -u) [ $# -ge 2 ] || die "--user needs a user name"; user=$2; shift 2 ;;
		--user=*) user=${1#--user=}; shift ;;
		--) shift; break ;;
		*) break ;;
		esac
	done
	EXEC_K=$k EXEC_USER=$user
	EXEC_ARGS=("$@")
}

cmd_exec() {
	need_root
	load_env
	parse_exec "$@"
	[ ${#EXEC_ARGS[@]} -gt 0 ] || die "usage: ssi-lab exec NODE [--user U] [--] CMD [ARG...]"
	RUN_IN_EXEC=1 run_in "$EXEC_K" "$EXEC_USER" "${EXEC_ARGS[@]}"
	exit $?
}

cmd_shell() {
	need_root
	load_env
	parse_exec "$@"
	RUN_IN_EXEC=1 run_in "$EXEC_K" "$EXEC_USER" bash -i
	exit $?
}

# ---- up --------------------------------------------------------------------------------------

write_config() {
	local k=$1 j f=$LAB/node$1/etc/ssid.conf
	{
		echo "; written by ssi-lab up (node$k of $N); paths are as seen inside the node"
		echo "[node]"
		echo "id = $k"
		echo "name = node$k"
		echo "listen = 127.0.1.$k:$PORT"
		echo "state_dir = /var/lib/ssid"
		echo "run_dir = /run/ssid"
		echo "key = /etc/ssid/node_key"
		echo "authorized_keys = /etc/ssid/authorized_keys"
		echo "known_hosts = /etc/ssid/known_hosts"
		echo "[peers]"
		for ((j = 1; j <= N; j++)); do
			[ "$j" = "$k" ] || echo "node$j = 127.0.1.$j:$PORT"
		done
		echo "[timing]"
		echo "heartbeat_ms = 250"
		echo "suspect_ms = 1000"
		echo "down_ms = 3000"
		echo "gossip_ms = 500"
		echo "sample_ms = 250"
	} >"$f"
}

# A directory the host lacks but a node mounts over: make it and remember to remove it.
make_mountpoint() {
	[ -d "$1" ] && return 0
	echo "$1" >>$RUNREC/made-dirs # first, so that an interrupted up is cleaned up too
	mkdir -p "$1" || die "cannot create mount point $1"
}

setup_cgroups() {
	local k cs cpus
	mkdir -p "$CG2/$NAME" || die "cannot create cgroup $CG2/$NAME"
	if [ -n "$CPUS_PER_NODE" ] && ! cs=$(cs1_root); then
		grep -qw cpuset "$CG2/cgroup.subtree_control" || echo +cpuset >"$CG2/cgroup.subtree_control" ||
			die "cannot enable the cpuset controller in $CG2"
		echo +cpuset >"$CG2/$NAME/cgroup.subtree_control" || die "cannot enable cpuset in $CG2/$NAME"
	elif [ -n "$CPUS_PER_NODE" ]; then
		mkdir -p "$cs/$NAME" || die "cannot create cgroup $cs/$NAME"
		cat "$cs/cpuset.cpus" >"$cs/$NAME/cpuset.cpus"
		cat "$cs/cpuset.mems" >"$cs/$NAME/cpuset.mems"
	fi
	for ((k = 1; k <= N; k++)); do
		mkdir -p "$CG2/$NAME/node$k" || die "cannot create cgroup $CG2/$NAME/node$k"
		[ -n "$CPUS_PER_NODE" ] || continue
		cpus=$(node_cpus "$k" "$CPUS_PER_NODE")
		if [ -n "${cs:-}" ]; then
			mkdir -p "$cs/$NAME/node$k"
			cat "$cs/$NAME/cpuset.mems" >"$cs/$NAME/node$k/cpuset.mems"
			echo "$cpus" >"$cs/$NAME/node$k/cpuset.cpus" || die "cannot give CPUs $cpus to node$k"
		else
			echo "$cpus" >"$CG2/$NAME/node$k/cpuset.cpus" || die "cannot give CPUs $cpus to node$k"
		fi
	done
}

cmd_up() {
	local k j n=3 untrusted="" nodaemon="" cpn=""
	LINK_RATE="" LINK_DELAY=""
	while [ $# -gt 0 ]; do
		case $1 in
		-n) [ $# -ge 2 ] || die "-n needs a number"; n=$2; shift 2 ;;
		-n*) n=${1#-n}; shift ;;
		--cpus-per-node) [ $# -ge 2 ] || die "--cpus-per-node needs a number"; cpn=$2; shift 2 ;;
		--cpus-per-node=*) cpn=${1#*=}; shift ;;
		--untrusted) [ $# -ge 2 ] || die "--untrusted needs a node"; untrusted=$2; shift 2 ;;
		--untrusted=*) untrusted=${1#*=}; shift ;;
		--no-daemon) nodaemon=1; shift ;;
		--link-rate) [ $# -ge 2 ] || die "--link-rate needs a rate (e.g. 1gbit)"; LINK_RATE=$2; shift 2 ;;
		--link-rate=*) LINK_RATE=${1#*=}; shift ;;
		--link-delay) [ $# -ge 2 ] || die "--link-delay needs milliseconds (e.g. 0.2)"; LINK_DELAY=$2; shift 2 ;;
		--link-delay=*) LINK_DELAY=${1#*=}; shift ;;
		-h | --help) usage; exit 0 ;;
		*) die "up: unknown option '$1' (see ssi-lab --help)" ;;
		esac
	done
	[[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le $MAX_NODES ] || die "-n takes 1..$MAX_NODES, not '$n'"
	N=$((10#$n))
	if [ -n "$cpn" ]; then
		[[ $cpn =~ ^[0-9]+$ ]] && [ "$cpn" -ge 1 ] || die "--cpus-per-node takes a number >= 1, not '$cpn'"
		[ "$cpn" -le "$(host_cpus | wc -l)" ] || die "--cpus-per-node $cpn: this machine has $(host_cpus | wc -l) CPUs"
	fi
	if [ -n "$untrusted" ]; then untrusted=$(node_num "$untrusted") || exit 1; fi
	if [ -n "$LINK_RATE" ]; then
		rate_bytes "$LINK_RATE" >/dev/null ||
			die "--link-rate takes a rate in tc units (e.g. 100mbit, 1gbit, 10gbit), not '$LINK_RATE'"
	fi
	if [ -n "$LINK_DELAY" ]; then
		[ -n "$LINK_RATE" ] || die "--link-delay needs --link-rate"
		[[ $LINK_DELAY =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--link-delay takes milliseconds (e.g. 0.2), not '$LINK_DELAY'"
	fi
	need_root
	for t in ip nsenter unshare setsid setpriv mount; do
		command -v $t >/dev/null || die "missing program '$t' (apt-get install iproute2 util-linux)"
	done
	CG2=$(cg2_root) || die "needs a cgroup v2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified"
	[ -z "$LINK_RATE" ] || check_links
	BIN=$(bin_dir)
	if [ -z "$nodaemon" ]; then
		for p in ssid ssictl; do
			[ -x "$BIN/$p" ] || die "no $BIN/$p: run make (or set SSI_BIN to the directory holding ssid and ssictl)"
		done
	fi
	if lab_exists; then
		echo "$PROG: lab '$NAME' is already up (state in $(lab_dir)); see 'ssi-lab status', or 'ssi-lab down' first (SSI_LAB_NAME=OTHER starts a second lab)" >&2
		exit 1
	fi
	LAB=$(lab_dir)
	[ "$LAB" != / ] || die "SSI_LAB_DIR must not be /"
	if [ -e "$LAB" ] && [ ! -e "$LAB/.ssi-lab" ] && [ -n "$(ls -A "$LAB" 2>/dev/null)" ]; then
		die "$LAB exists and is not a lab state directory; set SSI_LAB_DIR elsewhere"
	fi
	mkdir -p "$LAB" && touch "$LAB/.ssi-lab" || die "cannot create state directory $LAB"
	: >"$LAB/cuts"
	CPUS_PER_NODE=$cpn
	printf 'N=%q\nCPUS_PER_NODE=%q\nUNTRUSTED=%q\nNO_DAEMON=%q\nBIN=%q\nLINK_RATE=%q\nLINK_DELAY=%q\n' \
		"$N" "$cpn" "$untrusted" "$nodaemon" "$BIN" "$LINK_RATE" "$LINK_DELAY" >"$LAB/lab.env"
	mkdir -p $RUNREC && echo "$LAB" >"$RUNREC/$NAME.dir"
	# Host directories every node sees at their own path (the project tree, so tests can run
	# build/tests/... inside nodes even when the tree lives under /tmp or /home).
	local share="" d
	for d in ${SSI_TOP:-} ${SSI_LAB_SHARE:+${SSI_LAB_SHARE//:/ }}; do
		[ -d "$d" ] && share+="$(readlink -f "$d")"$'\n'
	done
	printf '%s' "$share" >"$LAB/share"

	# User with the same uid on every node (nodes share the host's /etc/passwd).
	if ! id -u $LAB_USER >/dev/null 2>&1; then
		touch $RUNREC/made-user
		useradd -M -d /home/$LAB_USER -s /bin/bash -U $LAB_USER || die "cannot create user $LAB_USER"
	fi
	for m in $NODE_MOUNTS; do make_mountpoint "${m#*:}"; done
	for m in $EMPTY_MOUNTS; do make_mountpoint "$m"; done
	for ((k = 1; k <= N; k++)); do
		local nd=$LAB/node$k
		mkdir -p "$nd"/{etc,lib,run,tmp,home} || die "cannot create $nd"
		chmod 755 "$nd/etc"
		chmod 1777 "$nd/tmp"
		mkdir -p "$nd/home/$LAB_USER" && chown $LAB_USER: "$nd/home/$LAB_USER"
		: >>"$nd/ssid.log"
	done

	ip netns add $NETNS || die "cannot create network namespace $NETNS"
	ip -n $NETNS link set lo up || die "cannot bring up lo in $NETNS"
	for ((k = 1; k <= N; k++)); do
		ip -n $NETNS addr add 127.0.1.$k/32 dev lo || die "cannot add 127.0.1.$k"
	done
	setup_cgroups
	if [ -n "$LINK_RATE" ]; then
		apply_links || die "cannot shape the links (tc in netns $NETNS); clean up with: ssi-lab down"
	fi
	for ((k = 1; k <= N; k++)); do
		start_node "$k" || die "node$k failed to start; clean up with: ssi-lab down"
	done
	if [ -n "$nodaemon" ]; then
		note "$N nodes up without daemons (--no-daemon); state in $LAB${LINK_RATE:+; $(links_said)}"
		return 0
	fi

	# Keys, config and trust, made inside each node so the files land in its own /etc/ssid.
	for ((k = 1; k <= N; k++)); do
		write_config "$k"
		run_in "$k" "" ssictl -c /etc/ssid/ssid.conf keygen >/dev/null ||
			die "node$k: 'ssictl keygen' failed"
		[ -s "$LAB/node$k/etc/node_key.pub" ] || die "node$k: keygen made no /etc/ssid/node_key.pub"
	done
	for ((k = 1; k <= N; k++)); do
		for ((j = 1; j <= N; j++)); do
			[ "$j" = "$k" ] || [ "$j" = "$untrusted" ] && continue
			cp "$LAB/node$j/etc/node_key.pub" "$LAB/node$k/tmp/.node$j.pub"
			run_in "$k" "" ssictl -c /etc/ssid/ssid.conf trust "node$j" "/tmp/.node$j.pub" >/dev/null ||
				die "node$k: 'ssictl trust node$j' failed"
			rm -f "$LAB/node$k/tmp/.node$j.pub"
		done
	done
	for ((k = 1; k <= N; k++)); do start_daemon "$k" || die "node$k: ssid did not start"; done
	wait_daemons $(seq 1 "$N") || die "not every ssid answers; the lab is left up for a look (ssi-lab log NODE), remove it with: ssi-lab down"
	note "$N nodes up, every ssid answers; state in $LAB${untrusted:+; node$untrusted is trusted by nobody}${LINK_RATE:+; $(links_said)}"
}

# ---- crash / restart / down ------------------------------------------------------------------

# Kill node K: SIGKILL to its init makes the kernel kill every process of its PID namespace at
# once; host-side helpers (unshare, the nsenter of an exec) then exit by themselves and reap
# their children, so the namespace is torn down without waiting for the host's pid 1. After 1 s,
# whatever is still in the node's cgroup is killed too. Waits until the cgroup is empty.
kill_node() {
	local k=$1 pid i upid="" cg=$CG2/$NAME/node$1
	if pid=$(node_pid "$k"); then
		read -r _ _ _ upid _ <"/proc/$pid/stat"
		kill -KILL "$pid" 2>/dev/null
	fi
	for ((i = 0; i < 100; i++)); do
		[ -z "$(node_procs "$k")" ] && break
		if [ $i -ge 20 ]; then
			[ -e "$cg/cgroup.kill" ] && echo 1 >"$cg/cgroup.kill" 2>/dev/null
			for pid in $(node_procs "$k"); do kill -KILL "$pid" 2>/dev/null; done
		fi
		sleep 0.05
	done
	if [ -n "$(node_procs "$k")" ]; then
		warn "node$k: processes left in $cg: $(node_procs "$k" | tr '\n' ' ')"
		return 1
	fi
	# The init's parent, unshare, exits as soon as the init is gone; wait for that too.
	for ((i = 0; i < 40; i++)); do
		[ -n "$upid" ] && tr '\0' ' ' 2>/dev/null <"/proc/$upid/cmdline" | grep -q " _init $k $LAB/" || return 0
		[ $i -eq 20 ] && kill -KILL "$upid" 2>/dev/null
		sleep 0.05
	done
	return 0
}

# SIGTERM to node K's ssid (clean shutdown, database consistent), up to 5 s; then kill all.
stop_node() {
	local k=$1 p i
	if p=$(node_ssid "$k"); then
		kill -TERM "$p" 2>/dev/null
		for ((i = 0; i < 100; i++)); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.05
		done
	fi
	kill_node "$k"
}

cmd_crash() {
	[ $# -eq 1 ] || die "usage: ssi-lab crash NODE"
	need_root
	load_env
	local k
	k=$(node_num "$1") || exit 1
	node_pid "$k" >/dev/null || { note "node$k is not running"; return 0; }
	kill_node "$k" || exit 1
	note "node$k crashed (all its processes killed)"
}

cmd_restart() {
	[ $# -eq 1 ] || die "usage: ssi-lab restart NODE"
	need_root
	load_env
	local k
	k=$(node_num "$1") || exit 1
	if node_pid "$k" >/dev/null; then
		note "node$k is running: stopping it first"
		stop_node "$k" || exit 1
	fi
	start_node "$k" || exit 1
	if [ -n "$NO_DAEMON" ]; then
		note "node$k restarted (no daemon)"
		return 0
	fi
	start_daemon "$k" && wait_daemons "$k" || exit 1
	note "node$k restarted; ssid answers"
}

cmd_down() {
	local keep="" k cg cs d
	while [ $# -gt 0 ]; do
		case $1 in
		--keep) keep=1; shift ;;
		*) die "down: unknown option '$1'" ;;
		esac
	done
	need_root
	LAB=$(lab_dir)
	CG2=$(cg2_root) || CG2=/nonexistent
	if ! lab_exists && [ ! -e "$LAB/lab.env" ]; then
		note "no lab '$NAME' is up"
		rm -f "$RUNREC/$NAME.dir"
		rmdir $RUNREC 2>/dev/null
		return 0
	fi
	N=0
	[ -f "$LAB/lab.env" ] && . "$LAB/lab.env"
	# Nodes: by the recorded count and by whatever cgroups exist.
	for cg in "$CG2/$NAME"/node*; do
		[ -d "$cg" ] || continue
		k=${cg##*node}
		[ "$k" -gt "$N" ] && N=$k
	done
	for ((k = 1; k <= N; k++)); do
		[ -d "$CG2/$NAME/node$k" ] || continue
		if node_ssid "$k" >/dev/null; then kill -TERM "$(node_ssid "$k")" 2>/dev/null; fi
	done
	for ((k = 1; k <= N; k++)); do
		[ -d "$CG2/$NAME/node$k" ] || continue
		for ((i = 0; i < 60; i++)); do node_ssid "$k" >/dev/null || break; sleep 0.05; done
		kill_node "$k"
		rmdir "$CG2/$NAME/node$k" || warn "cannot remove cgroup $CG2/$NAME/node$k"
	done
	[ -d "$CG2/$NAME" ] && { rmdir "$CG2/$NAME" || warn "cannot remove cgroup $CG2/$NAME"; }
	if cs=$(cs1_root) && [ -d "$cs/$NAME" ]; then
		for d in "$cs/$NAME"/node*; do [ -d "$d" ] && rmdir "$d"; done
		rmdir "$cs/$NAME" || warn "cannot remove cgroup $cs/$NAME"
	fi
	if [ -e /run/netns/$NETNS ]; then
		ip netns del $NETNS || warn "cannot delete network namespace $NETNS"
	fi
	rm -f "$RUNREC/$NAME.dir"
	# The last lab down removes the mount points and the user the labs made. Never while another
	# lab runs: removing a directory detaches what is mounted on it in every namespace.
	if ! other_labs; then
		if [ -f $RUNREC/made-dirs ]; then
			tac $RUNREC/made-dirs | while read -r d; do rmdir "$d" 2>/dev/null; done
			rm -f $RUNREC/made-dirs
		fi
		if [ -f $RUNREC/made-user ] && [ -z "$keep" ]; then
			! id -u $LAB_USER >/dev/null 2>&1 || userdel $LAB_USER || warn "cannot remove user $LAB_USER"
			rm -f $RUNREC/made-user
		fi
		rmdir $RUNREC 2>/dev/null
	fi
	if [ -z "$keep" ] && [ -e "$LAB/.ssi-lab" ]; then
		rm -rf --one-file-system "$LAB" || warn "cannot remove $LAB"
		note "lab removed"
	else
		rm -f "$LAB/lab.env"
		note "lab removed; state kept in $LAB"
	fi
}

# ---- status / log ----------------------------------------------------------------------------

cmd_status() {
	need_root
	LAB=$(lab_dir)
	if ! lab_exists; then note "no lab '$NAME' is up"; exit 1; fi
	load_env
	local k pid sd cpus cuts a b
	echo "lab $NAME: $N nodes, state $LAB, netns $NETNS, cgroup $CG2/$NAME${UNTRUSTED:+, node$UNTRUSTED untrusted}${NO_DAEMON:+, no daemons}${LINK_RATE:+, links: $(links_said)}"
	printf '%-7s %-3s %-8s %-8s %-11s %-6s %-13s %s\n' NODE ID INIT SSID ADDRESS CPUS LINK CUT
	for ((k = 1; k <= N; k++)); do
		pid=$(node_pid "$k") || pid=down
		sd=$(node_ssid "$k") || sd=-
		cpus=all
		[ -n "$CPUS_PER_NODE" ] && cpus=$(node_cpus "$k" "$CPUS_PER_NODE")
		cuts=""
		while read -r a b; do
			[ "$a" = "$k" ] && cuts+="node$b "
			[ "$b" = "$k" ] && cuts+="node$a "
		done <"$LAB/cuts"
		printf '%-7s %-3s %-8s %-8s %-11s %-6s %-13s %s\n' "node$k" "$k" "$pid" "$sd" "127.0.1.$k" "$cpus" "$(link_of "$k")" "${cuts:--}"
	done
}

cmd_log() {
	[ $# -ge 1 ] || die "usage: ssi-lab log NODE [-f]"
	load_env
	local k
	k=$(node_num "$1") || exit 1
	if [ "${2:-}" = -f ]; then exec tail -f "$LAB/node$k/ssid.log"; fi
	cat "$LAB/node$k/ssid.log"
}

main() {
	local verb=${1:-}
	[ $# -gt 0 ] && shift
	case ${1:-} in -h | --help) [ "$verb" = _init ] || { usage; exit 0; } ;; esac
	case $verb in
	up) cmd_up "$@" ;;
	down) cmd_down "$@" ;;
	status) cmd_status "$@" ;;
	exec) cmd_exec "$@" ;;
	shell) cmd_shell "$@" ;;
	cut | heal) cmd_cut "$verb" "$@" ;;
	crash) cmd_crash "$@" ;;
	restart) cmd_restart "$@" ;;
	log) cmd_log "$@" ;;
	_init) node_init "$@" ;;
	-h | --help | help) usage ;;
	"") usage >&2; exit 2 ;;
	*) echo "$PROG: unknown command '$verb' (see ssi-lab --help)" >&2; exit 2 ;;
	esac
}

main "$@"; exit $?
