#!/usr/bin/env bash
# demo.sh - what `make demo` runs (after building; SSI_BIN is set): starts a 3-node lab with
# `ssi-lab up -n 3`, shows `ssictl nodes` as node1 sees it, says how to go on and what is not
# there yet. Leaves the lab running for the user to explore. If a lab already runs, shows it.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
# The lab shows the project tree inside every node at its own path (the demo runs build/tests/progs).
export SSI_TOP=$top
bin=${SSI_BIN:-$top/bin}
lab=$bin/ssi-lab
# How to call ssi-lab from where the user stands (bin/ssi-lab after `make demo`).
show=$lab
case $lab in "$PWD"/*) show=${lab#"$PWD"/} ;; esac

if [ "$(id -u)" != 0 ]; then
	echo "make demo starts namespaces and cgroups: run it as root (sudo make demo)" >&2
	exit 1
fi
[ -x "$lab" ] || { echo "no $lab: run make" >&2; exit 1; }

go_on() {
	local w=$((${#show} + 22))
	echo
	echo "The lab keeps running. Go on with:"
	printf "  %-${w}s %s\n" \
		"$show shell 1" "a shell on node1 (try: hostname, ssictl nodes, ps -ef)" \
		"$show exec 2 -- ssictl nodes" "one command on node2" \
		"$show cut 1 3" "cut the link node1 <-> node3: ssictl nodes shows it suspect, then down" \
		"$show heal 1 3" "and back up" \
		"$show crash 2" "kill every process of node2 at once" \
		"$show restart 2" "node2 comes back with its keys and database" \
		"$show status" "nodes, pids of their init and ssid, cut links" \
		"$show log 2" "node2's ssid log" \
		"$show down" "remove the lab (nothing is left behind)"
	local missing=()
	[ -x "$bin/gprocfs" ] || missing+=("/gproc and /gfs (the global process view and file access: gprocfs) are empty directories in each node")
	[ -x "$bin/grun" ] && [ -x "$bin/gmigrate" ] || missing+=("process migration (grun, gmigrate) and load balancing")
	[ -x "$bin/gps" ] && [ -x "$bin/gkill" ] || missing+=("cluster-wide ps/kill (gps, gkill)")
	if [ ${#missing[@]} -gt 0 ]; then
		echo "Not there yet:"
		printf '  - %s\n' "${missing[@]}"
	fi
}

if [ -e /run/netns/ssi-lab ]; then
	echo "A lab is already running (left by an earlier 'make demo' or 'ssi-lab up'):"
	"$lab" status
	go_on
	exit 0
fi

echo "\$ $show up -n 3"
"$lab" up -n 3 || { echo "ssi-lab up failed (see above); remove what is left with: $show down" >&2; exit 1; }

# The daemons find each other within a few seconds; wait up to 6 s for node1 to see all three
# up and to have load information from each (cpus known).
for ((i = 0; i < 30; i++)); do
	json=$("$lab" exec 1 -- ssictl nodes --json 2>/dev/null)
	n=$(grep -o '"state" *: *"up"' <<<"$json" | wc -l)
	[ "$n" -ge 3 ] && ! grep -q '"cpus" *: *0[,}]' <<<"$json" && break
	sleep 0.2
done
echo
echo "\$ $show exec 1 -- ssictl nodes"
"$lab" exec 1 -- ssictl nodes
[ "${n:-0}" -ge 3 ] || echo "(node1 did not see all 3 nodes up within 6 s; see: $show log 1)"

# Run a command on a node, showing it first.
say() {
	local node=$1
	shift
	echo
	echo "\$ $show exec $node -- $*"
	"$lab" exec "$node" -- "$@"
}

if [ -x "$bin/gprocfs" ] && [ -x "$bin/gps" ]; then
	echo
	echo "# One process table for the cluster: a sleep on node2 and node3, seen from node1."
	"$lab" exec 2 -- sh -c 'sleep 3600 >/dev/null 2>&1 &'
	"$lab" exec 3 -- sh -c 'sleep 3601 >/dev/null 2>&1 &'
	sleep 0.5
	say 1 gps -o gpid,node,home,user,cmd
	echo
	echo "# Stock procps over /gproc (bound over /proc in a private mount namespace):"
	say 1 sh -c 'unshare -m sh -c "mount --bind /gproc /proc && ps -ef | grep -e UID -e \"slee[p] 36\""'
	if [ -x "$bin/gkill" ]; then
		gpid=$("$lab" exec 1 -- gps -o gpid,cmd --no-headers 2>/dev/null | awk '$2 == "sleep" && $3 == "3601" {print $1; exit}')
		if [ -n "$gpid" ]; then
			echo
			echo "# gkill from node1 ends the sleep running on node3:"
			say 1 gkill "$gpid"
			sleep 0.5
			say 1 gps -o gpid,node,cmd
		fi
	fi
	echo
	echo "# Every node's files under /gfs/<node>, with the caller's rights there:"
	"$lab" exec 2 -- sh -c 'echo "written on $(hostname)" > /home/demo.txt'
	say 1 cat /gfs/node2/home/demo.txt
fi

ticker=${SSI_BUILD:-$top/build}/tests/progs/mig_ticker
case $ticker in /*) ;; *) ticker=$top/$ticker ;; esac
if [ -x "$bin/grun" ] && [ -x "$bin/gmigrate" ] && [ -x "$ticker" ]; then
	echo
	echo "# Process migration: a CPU-bound job started with grun on node1 prints a line a second"
	echo "# with the name of the node it runs on (uname, read for every line); gmigrate moves it"
	echo "# to node2, then to node3, while it prints here. grun stays on node1 as its deputy."
	echo "\$ $show exec 1 -- grun $ticker 12 1000 0 busy &"
	gerr=$(mktemp)
	"$lab" exec 1 -- env GRUN_VERBOSE=1 grun "$ticker" 12 1000 0 busy 2>"$gerr" &
	job=$!
	gpid=""
	for ((i = 0; i < 50; i++)); do
		gpid=$(sed -n 's/^grun: gpid \([0-9]*\)$/\1/p' "$gerr")
		[ -n "$gpid" ] && break
		sleep 0.1
	done
	if [ -n "$gpid" ]; then
		sleep 2.5
		say 1 gmigrate "$gpid" node2
		sleep 3
		say 1 gmigrate "$gpid" node3
		sleep 1.5
		say 1 sh -c "gps -o gpid,node,home,time,cmd | grep -e GPID -e mig_ticker"
		wait $job
		echo "(grun on node1 exited with the job's status: $?)"
		say 1 ssictl history -n 2
	else
		wait $job
		echo "grun printed no gpid: $(cat "$gerr")"
	fi
	rm -f "$gerr"
fi
go_on
