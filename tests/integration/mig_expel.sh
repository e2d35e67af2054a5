#!/usr/bin/env bash
# mig_expel.sh - `ssictl expel` and `ssictl bring` on a 3-node lab. On node1 three printing
# programs (mig_ticker) start with grun: one of root's and one of ssiuser's with -n node2, one of
# root's at home. On node2, `ssictl expel` as ssiuser is refused (exit 1, must be root) and moves
# nothing; as root it sends both guests home (node1's own /proc shows all three, node2's none),
# one line per process, exit 0. Moved to node3 again with gmigrate, `ssictl bring` on node1 as
# ssiuser brings only ssiuser's; ssiuser naming root's gpid is refused by the daemon (exit 1);
# `bring --all` as ssiuser is refused; as root it brings the rest; then "nothing to bring home",
# exit 0. Finally the three are stopped with gkill: each pipe holds the unmigrated output up to
# the line where SIGTERM came ("sigterm at line N"), and exit status 42 arrives at each grun.
# Exit 0 pass, 77 skip (reason on the last line), else fail. Always removes its lab (trap).
set -u -o pipefail
. "$(dirname "$0")/lib.bash"
lab_init mig-expel-$$
ticker=$build/tests/progs/mig_ticker
need_lab_host --no-nft su
need_bins ssid ssictl grun gmigrate gkill "$ticker"
lab_trap
lab_work /var/tmp/mig-expel-work-$$

# count NODE [PGREP-ARGS...]: how many mig_ticker processes NODE's own /proc shows
count() {
	local n=$1
	shift
	X "$n" pgrep -c "$@" -x mig_ticker 2>/dev/null || true
}
# placement: "node1 node2 node3" counts as one string, e.g. "1 2 0"
placement() { echo "$(count 1) $(count 2) $(count 3)"; }
# listed FROM NODE: how many tickers gps on FROM lists on NODE
listed() { X "$1" gps -e --node "$2" -o comm --no-headers 2>/dev/null | grep -c mig_ticker; }
# settle FROM NODE N: wait (3 s at most) until gps on FROM lists N tickers on NODE (the daemons
# cache the cluster table for a few hundred ms)
settle() { wait_until 3 0.2 same "$3" listed "$1" "$2"; }
# expect WHAT RC-WANTED OUTPUT-PATTERN RC OUTPUT: one check of a command's exit status and output
expect() {
	if [ "$4" -eq "$2" ] && [[ $5 == $3 ]]; then
		ok "$1: exit $4"
	else
		bad "$1: exit $4 (wanted $2), output: $5"
	fi
}

t0=$(now)
lab_up -n 3
wait_sees 1 2 3
wait_sees 2 1 3
wait_sees 3 1

lines=400 # 40 s at most; stopped with gkill once the checks are done
"$ticker" $lines 0 >"$work/ref.txt"
# start NAME WHO GRUN-ARGS: a ticker via grun on node1 (WHO root or ssiuser) into $work/NAME.*
# (the redirections by root: ssiuser may not write in $work)
start() {
	local g="GRUN_VERBOSE=1 grun $3 $ticker $lines 100"
	[ "$2" = root ] || g="su ssiuser -s /bin/sh -c '$g'"
	(X_TIMEOUT=60 X 1 bash -c "$g 2>$work/$1.err | cat >$work/$1.out; \
		echo \${PIPESTATUS[0]} >$work/$1.rc" >/dev/null 2>&1) &
}
# one after another, each seen on node2 before the next starts: expel lists what the cluster
# table shows, which lags a move by a few hundred ms (concurrent moves: mig_concurrent.sh)
# Under `make san` grun's pre-exec child carries ASan's sparse shadow mappings, too big to
# checkpoint within the freeze time-out: the two start at home and the exec'd tickers are moved
# to node2 with gmigrate (san_place) instead of grun -n node2.
place="-n node2"
san_place() { :; }
if [ -n "${SSI_SANITIZED:-}" ]; then
	echo "note: sanitizer build: started at home by grun and moved by gmigrate instead of grun -n node2"
	place=""
	san_place() {
		wait_until 5 0.05 exec_done "$1" && X_TIMEOUT=30 X 1 gmigrate "$1" node2 >/dev/null 2>&1 ||
			bad "sanitizer build: gmigrate $1 node2"
	}
fi
start r root "$place"
gr=$(grun_gpid "$work/r.err") && san_place "$gr" && wait_until 10 0.2 same 1 count 2
start u ssiuser "$place"
gu=$(grun_gpid "$work/u.err") && san_place "$gu" && wait_until 10 0.2 same 2 count 2
start h root ""
gh=$(grun_gpid "$work/h.err")
[ -n "$gr" ] && [ -n "$gu" ] && [ -n "$gh" ] || {
	bad "grun printed no gpid: $(cat "$work"/*.err 2>/dev/null)"
	exit 1
}
ok "grun started gpids $gr (root, ${place:-gmigrate node2}), $gu (ssiuser, ${place:-gmigrate node2}), $gh (root, home)"
wait_until 10 0.2 same "1 2 0" placement
p=$(placement)
[ "$p" = "1 2 0" ] && ok "two run on node2, one on node1" || bad "tickers per node1/2/3: $p (wanted 1 2 0)"

# expel on node2: refused for a user, done for root
out=$(as_ssiuser 2 "ssictl expel" 2>&1)
expect "ssiuser: ssictl expel on node2 refused" 1 "*must be root*" $? "$out"
p=$(placement)
[ "$p" = "1 2 0" ] && ok "the refused expel moved nothing" || bad "after the refused expel: $p"
out=$(X_TIMEOUT=40 X 2 ssictl expel 2>&1)
rc=$?
expect "root: ssictl expel on node2" 0 "*gpid $gr *moved*gpid $gu *moved*" $rc "$out"
echo "$out" | sed 's/^/     /'
p=$(placement)
[ "$p" = "3 0 0" ] && ok "all three run on node1 (its own /proc), none on node2" ||
	bad "after the expel, tickers per node1/2/3: $p (wanted 3 0 0)"
settle 2 node2 0 || bad "gps on node2 still lists tickers on node2"
out=$(X 2 ssictl expel 2>&1)
expect "ssictl expel again: nothing to do" 0 "*nothing to expel*" $? "$out"

# to node3 again, then bring on node1
for g in $gr $gu; do
	out=$(X_TIMEOUT=30 X 1 gmigrate "$g" node3 2>&1) || bad "gmigrate $g node3: $out"
done
p=$(placement)
[ "$p" = "1 0 2" ] && ok "gmigrate moved both to node3" || bad "after gmigrate to node3: $p (wanted 1 0 2)"
settle 1 node3 2 || bad "gps on node1 does not list the two tickers on node3"
out=$(as_ssiuser 1 "ssictl bring --all" 2>&1)
expect "ssiuser: ssictl bring --all refused" 1 "*must be root*" $? "$out"
out=$(as_ssiuser 1 "ssictl bring $gr" 2>&1)
expect "ssiuser: ssictl bring $gr (root's) refused by the daemon" 1 \
	"*gpid $gr*FAILED*Operation not permitted*did not go home*" $? "$out"
out=$(X_TIMEOUT=30 as_ssiuser 1 "ssictl bring" 2>&1)
rc=$?
expect "ssiuser: ssictl bring on node1" 0 "*gpid $gu *moved*1 process went home*" $rc "$out"
[[ $out != *"gpid $gr "* ]] && ok "ssiuser's bring did not touch root's gpid $gr" ||
	bad "ssiuser's bring listed root's gpid $gr: $out"
p="$(count 1 -u ssiuser) $(count 3 -u ssiuser) $(count 3 -u root)"
[ "$p" = "1 0 1" ] && ok "ssiuser's runs on node1; root's still on node3" ||
	bad "ssiuser's on node1, node3; root's on node3: $p (wanted 1 0 1)"
out=$(X_TIMEOUT=30 X 1 ssictl bring --all 2>&1)
expect "root: ssictl bring --all on node1" 0 "*gpid $gr *moved*1 process went home*" $? "$out"
p=$(placement)
[ "$p" = "3 0 0" ] && ok "all three run on node1 again" || bad "after bring --all: $p (wanted 3 0 0)"
settle 1 node3 0 || bad "gps on node1 still lists tickers on node3"
out=$(X 1 ssictl bring --all 2>&1)
expect "ssictl bring --all again" 0 "nothing to bring home" $? "$out"

# stop them; the pipes and the exit statuses
X 1 gkill "$gr" "$gu" "$gh" || bad "gkill $gr $gu $gh"
for n in r u h; do
	wait_until 10 0.1 test -s "$work/$n.rc" || bad "grun ($n) did not end"
	k=$(($(wc -l <"$work/$n.out") - 1))
	last=$(tail -n 1 "$work/$n.out")
	if [ $k -gt 0 ] && [ "$last" = "sigterm at line $((k - 1))" ] &&
		cmp -s <(head -n $k "$work/$n.out") <(head -n $k "$work/ref.txt"); then
		ok "ticker $n: $k lines identical to an unmigrated run, then '$last'"
	else
		bad "ticker $n: $k lines, last '$last', differs from an unmigrated run: $(diff <(head -n $k \
			"$work/ref.txt") "$work/$n.out" | head -3)"
	fi
	rc=$(cat "$work/$n.rc" 2>/dev/null)
	[ "$rc" = 42 ] && ok "ticker $n: exit status 42 (SIGTERM handled) arrived at grun" ||
		bad "ticker $n: grun exited '$rc', wanted 42"
done
echo "($(ms "$t0") ms)"

finish "mig_expel" tail -n 30 "$LAB_DIR/node1/ssid.log" "$LAB_DIR/node2/ssid.log"
