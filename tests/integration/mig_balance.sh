#!/usr/bin/env bash
# mig_balance.sh - automatic balancing (ssid/balance.c running ssid/policy.c) on a 3-node lab,
# one CPU per node (ssi-lab --cpus-per-node 1, round-robin over the host's CPUs: on 2 cores
# node1 and node3 share CPU 0, node2 has CPU 1; each daemon sees 1 CPU, so 5 runnable
# tickers on node1 weigh 5 against 1 there whatever the host's speed; run queues are counted
# in each node's own /proc, so other work on the host does not show in them).
# 1. [balance] off (the default): 5 CPU-bound grun'd tickers on node1 stay there for as long
#    as the policy needs to move one when on; ssictl status says balancing is off.
# 2. [balance] enabled = yes on every node (config written, daemons restarted): 5 new tickers
#    on node1; within 20 s at least one runs on another node by itself (that node's own
#    /proc), `ssictl history` on node1 lists the move as automatic ("auto"), `ssictl status`
#    shows the decision; no process moves more than twice (no ping-pong); every line of
#    output arrives (each says which node computed it) and every exit status (7) arrives.
# Exit 0 pass, 77 skip (reason on the last line), else fail. Always removes its lab (trap).
set -u -o pipefail
. "$(dirname "$0")/lib.bash"
ticker=$build/tests/progs/mig_ticker
lab_init mig-balance-$$

need_lab_host --no-nft
need_bins ssid ssictl grun gps
[ -x "$ticker" ] || skip "no $ticker: run make"
[ -n "${SSI_SANITIZED:-}" ] && skip "sanitizer build: checkpoints of ASan processes outlast the freeze time-out"
lab_trap
lab_work /var/tmp/mig-balance-work-$$
t0=$(now)
NT=5         # tickers
LINES=120    # lines of each ticker, one per 100 ms of busy CPU: >= 12 s each
lab_up -n 3 --cpus-per-node 1

up3() { [ "$(lab_field 1 node2 state)" = up ] && [ "$(lab_field 1 node3 state)" = up ] &&
	[ "$(lab_field 1 node2 age_ms)" != -1 ] && [ "$(lab_field 1 node3 age_ms)" != -1 ]; }
wait_until 15 0.2 up3 || bad "node1 does not see node2 and node3 up with load facts"

# start_tickers TAG [GRUN-OPTS]: NT tickers grun'd on node1 (grun GRUN-OPTS), each with its
# output in $work/TAG.N.out, grun's stderr in .err and exit status in .rc.
pids=()
start_tickers() {
	local i
	pids=()
	for i in $(seq "$NT"); do
		(X_TIMEOUT=120 X 1 bash -c "GRUN_VERBOSE=1 grun ${2:+$2 }$ticker $LINES 100 7 busy 2>$work/$1.$i.err >$work/$1.$i.out; echo \$? >$work/$1.$i.rc") &
		pids+=($!)
	done
}
# wait_tickers: wait for the tickers' runs (pids).
wait_tickers() { local p; for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done; }
# history_verdict GPID... <PYTHON: node1's `ssictl history --json` judged by the PYTHON on stdin,
# which finds the history in h, the GPIDs in mine (collections, json, sys imported).
history_verdict() {
	X 1 ssictl history --json >"$work/hist.json" </dev/null # (stdin: the PYTHON)
	{ printf '%s\n' 'import collections, json, sys' 'h = json.load(open(sys.argv[1]))' \
		'mine = set(int(g) for g in sys.argv[2:])'; cat; } | python3 - "$work/hist.json" "$@"
}
# gpids TAG: the tickers' gpids, one per line.
gpids() { local i; for i in $(seq "$NT"); do grun_gpid "$work/$1.$i.err"; done; }
away() { [ "$(lab_where mig_ticker 2 3)" != none ]; }

# 1. Off by default.
X 1 ssictl status | grep -q '^balancing off' && ok "ssictl status: $(X 1 ssictl status | grep '^balancing')" ||
	bad "ssictl status with the default config: $(X 1 ssictl status | grep '^balancing')"
start_tickers off
g_off=$(gpids off | tr '\n' ' ')
# as long as phase 2 allows for the first move (it takes ~3-6 s there), and a bit more
sleep 10
w=$(lab_where mig_ticker)
n1=$(X 1 pgrep -xc mig_ticker)
[ "$w" = 1 ] && [ "$n1" = "$NT" ] && ok "balancing off: all $NT tickers ($g_off) still run on node1 after 10 s" ||
	bad "balancing off: tickers run on '$w' ($n1 on node1)"
h=$(X 1 ssictl history --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$h" = 0 ] && ok "balancing off: no migration in node1's history" || bad "balancing off: $h migrations in the history"
for g in $g_off; do X 1 gkill -s KILL "$g" >/dev/null 2>&1; done
wait_tickers

# 2. On: config, restart every daemon.
for k in 1 2 3; do
	printf '[balance]\nenabled = yes\ninterval_ms = 1000\n' >>"$LAB_DIR/node$k/etc/ssid.conf"
	L restart "node$k" >/dev/null || bad "ssi-lab restart node$k"
done
wait_until 15 0.2 up3 || bad "after the restarts node1 does not see node2 and node3 up with load facts"
X 1 ssictl status | grep -q '^balancing on' && ok "ssictl status: $(X 1 ssictl status | grep '^balancing')" ||
	bad "ssictl status with [balance] enabled = yes: $(X 1 ssictl status | grep '^balancing')"
start_tickers on
g_on=$(gpids on | tr '\n' ' ')
t1=$(now)
if wait_until 20 0.2 away; then
	ok "balancing on: a ticker moved by itself after $(($(ms "$t1") / 100))00 ms; tickers on nodes $(lab_where mig_ticker); node1: $(X 1 ssictl status | grep '^balancing')"
else
	bad "balancing on: no ticker left node1 within 20 s; node1: $(X 1 ssictl status | grep '^balancing')"
fi
wait_tickers

# History at home: automatic moves, at most 2 per process.
verdict=$(history_verdict $g_on <<'EOF'
moves = [m for m in h if m["gpid"] in mine]
per = collections.Counter(m["gpid"] for m in moves)
bad = []
if not any(m["outcome"] == "ok" for m in moves):
    bad.append("no successful move")
if not all(m["auto"] and m["reason"].startswith("auto: ") for m in moves):
    bad.append("a move not marked automatic")
if per and max(per.values()) > 2:
    bad.append("ping-pong: %s" % dict(per))

print("%s|%d moves (%s), per gpid %s; first reason: %s" % (
    ",".join(bad) or "ok", len(moves), " ".join("%d>%d %s" % (m["from"], m["to"], m["outcome"]) for m in moves),
    sorted(per.values()), moves[-1]["reason"] if moves else "-"))
EOF
)
[ "${verdict%%|*}" = ok ] && ok "ssictl history on node1: ${verdict#*|}" || bad "ssictl history on node1: $verdict"
X 1 ssictl history | grep -q ' auto ' && ok "ssictl history (table) shows 'auto'" || bad "ssictl history table: $(X 1 ssictl history | head -3)"

# Output and exit statuses: every line, computed somewhere, identical to a local run.
"$ticker" "$LINES" 0 7 >"$work/ref.out"
elsewhere=0
for i in $(seq "$NT"); do
	if cmp -s <(sed 's/ on node[0-9]*$//' "$work/on.$i.out") "$work/ref.out" &&
		[ "$(grep -c ' on node[123]$' "$work/on.$i.out")" = "$LINES" ]; then
		ok "ticker $i: its $LINES lines arrived intact ($(sed -n 's/.* on \(node[0-9]\)$/\1/p' "$work/on.$i.out" | uniq -c | tr -s ' ' | tr '\n' ','))"
	else
		bad "ticker $i output: $(head -2 "$work/on.$i.out") ... $(wc -l <"$work/on.$i.out") lines"
	fi
	grep -qv ' on node1$' "$work/on.$i.out" && elsewhere=$((elsewhere + 1))
done
rcs=$(cat "$work"/on.*.rc 2>/dev/null | tr '\n' ' ')
[ "$rcs" = "$(printf '7 %.0s' $(seq "$NT"))" ] && ok "every exit status (7) arrived at grun on node1" || bad "exit statuses: '$rcs'"
[ "$elsewhere" -ge 1 ] && ok "$elsewhere of $NT tickers computed lines away from node1" ||
	bad "no ticker computed any line away from node1"

n=$(grep -c 'balance: automatic move of gpid' "$LAB_DIR/node1/ssid.log")
[ "$n" -ge 1 ] && ok "node1's log: $n automatic moves, e.g. '$(grep -m1 'balance: automatic move of gpid' "$LAB_DIR/node1/ssid.log" | cut -c1-160)...'" ||
	bad "node1's log has no 'balance: automatic move' line"

# 3. Guests: 5 tickers of node1 placed on node2 (grun -n node2): node2's balancer asks their
#    home, node1, to move one; node1's history says so.
LINES=60
start_tickers guest "-n node2"
g_guest=$(gpids guest | tr '\n' ' ')
from2() { [ "$(lab_where mig_ticker 1 3)" != none ]; }
if wait_until 15 0.2 from2; then
	ok "guests on node2: one moved by itself to node $(lab_where mig_ticker 1 3); node2: $(X 2 ssictl status | grep '^balancing')"
else
	bad "guests on node2: none left node2 within 15 s; node2: $(X 2 ssictl status | grep '^balancing')"
fi
wait_tickers
verdict=$(history_verdict $g_guest <<'EOF'
auto = [m for m in h if m["gpid"] in mine and m["auto"]]
per = collections.Counter(m["gpid"] for m in auto)
bad = []
if not any(m["outcome"] == "ok" and m["from"] == 2 and m["reason"].startswith("auto: node 2: move ")
           for m in auto):
    bad.append("no automatic move from node2 with node 2's balancer's reason")
if per and max(per.values()) > 2:
    bad.append("ping-pong: %s" % dict(per))
print("%s|%d automatic moves (%s); reason: %s" % (",".join(bad) or "ok", len(auto),
    " ".join("%d>%d %s" % (m["from"], m["to"], m["outcome"]) for m in auto), auto[-1]["reason"] if auto else "-"))
EOF
)
[ "${verdict%%|*}" = ok ] && ok "ssictl history on node1 (home): ${verdict#*|}" || bad "guests: ssictl history on node1: $verdict"
rcs=$(cat "$work"/guest.*.rc 2>/dev/null | tr '\n' ' ')
[ "$rcs" = "$(printf '7 %.0s' $(seq "$NT"))" ] && ok "guests: every exit status (7) arrived" || bad "guests: exit statuses '$rcs'"

echo "took $(($(ms "$t0") / 1000)) s"
diag() {
	local k
	for k in 1 2 3; do
		echo "--- node$k"
		grep -h 'balance' "$LAB_DIR/node$k/ssid.log" | tail -8
	done
}
finish mig_balance diag
