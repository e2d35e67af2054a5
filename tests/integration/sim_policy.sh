#!/usr/bin/env bash
# sim_policy.sh - ssi-sim as a user runs it (no lab needed, ~6 s of CPU): on 16 simulated 1-core nodes
# at rho 0.7 and 0.9 the daemon's balancing policy ("ours", ssid/policy.c) and the MOSIX-like
# baseline cut the mean slowdown against no balancing (paired over 6 replications with common
# random numbers: the whole 95% interval below 0, by >= 3% at 0.7 and >= 8% at 0.9) and the
# p95 slowdown by >= 10%; ours needs fewer moves than mosix; the pooled ideal is the lowest;
# the same seed prints byte-identical output, another seed a different one; one node without
# balancing matches the M/G/1-PS closed form 1/(1-rho); a burst of 64 jobs on one node is
# spread by ours to under 1/5 of its makespan with under a third of mosix's moves; --help says the
# daemon does not run the policy yet; a bad option exits 2.
# Exit 0 pass, 77 skip (reason on the last line), else fail. Leaves nothing behind (trap).
set -u -o pipefail
top=${SSI_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${SSI_BIN:-$top/bin}
sim=$bin/ssi-sim
[ -x "$sim" ] || { echo "no $sim: run make"; exit 77; }
command -v python3 >/dev/null || { echo "needs python3 (to read --json)"; exit 77; }
work=$(mktemp -d /tmp/sim-policy.XXXXXX) || exit 1
trap 'rm -rf "$work"' EXIT
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }

args=(-n 16 -k 1 --rho 0.7,0.9 -r 6 -d 400 --warmup 100 -p none,mosix,ours,ideal)
t0=$(date +%s)
"$sim" "${args[@]}" -s 1 >"$work/a.txt" || bad "ssi-sim exited $?"
"$sim" "${args[@]}" -s 1 >"$work/b.txt" || bad "ssi-sim exited $? (second run)"
"$sim" "${args[@]}" -s 2 >"$work/c.txt" || bad "ssi-sim exited $? (seed 2)"
"$sim" "${args[@]}" -s 1 --json >"$work/a.json" || bad "ssi-sim --json exited $?"
echo "4 runs in $(($(date +%s) - t0)) s"
cat "$work/a.txt"

if cmp -s "$work/a.txt" "$work/b.txt"; then ok "same seed, identical output"; else
	bad "same seed, different output"; diff "$work/a.txt" "$work/b.txt"; fi
if cmp -s "$work/a.txt" "$work/c.txt"; then bad "seed 2 printed the same as seed 1"; else
	ok "another seed, other numbers"; fi
grep -q "^rho 0.70: " "$work/a.txt" && grep -q "^ours " "$work/a.txt" &&
	ok "table per rho with a row per policy" || bad "no table in the output"

python3 - "$work/a.json" <<'EOF' || fails=$((fails + 1))
import json, sys
d = json.load(open(sys.argv[1]))
r = {(x["rho"], x["policy"]): x for x in d["results"]}
bad = 0
def check(cond, what):
    global bad
    print(("ok   " if cond else "FAIL ") + what)
    bad += not cond
for rho, need in ((0.7, 3.0), (0.9, 8.0)):
    none = r[(rho, "none")]
    for p in ("ours", "mosix"):
        x = r[(rho, p)]
        v, ci = x["mean_slowdown_vs_none_pct"], x["mean_slowdown_vs_none_pct_ci95"]
        check(v <= -need and v + ci < 0,
              f"rho {rho}: {p} mean slowdown {x['mean_slowdown']:.3f} vs none "
              f"{none['mean_slowdown']:.3f}: {v:+.1f} +- {ci:.1f} % (need <= -{need} %, CI below 0)")
        check(x["p95_slowdown"] <= 0.9 * none["p95_slowdown"],
              f"rho {rho}: {p} p95 slowdown {x['p95_slowdown']:.2f} <= 90% of none's "
              f"{none['p95_slowdown']:.2f}")
    ideal = r[(rho, "ideal")]["mean_slowdown"]
    check(all(ideal < r[(rho, p)]["mean_slowdown"] for p in ("none", "mosix", "ours")),
          f"rho {rho}: ideal {ideal:.3f} is the lowest mean slowdown")
    check(r[(rho, "ours")]["moves_per_process"] < r[(rho, "mosix")]["moves_per_process"] / 2,
          f"rho {rho}: ours moves {r[(rho, 'ours')]['moves_per_process']:.4f}/process, "
          f"under half of mosix's {r[(rho, 'mosix')]['moves_per_process']:.4f}")
    check(r[(rho, "none")]["moves_per_process"] == 0, f"rho {rho}: none moves nothing")
sys.exit(1 if bad else 0)
EOF

# The engine against a closed form: one 1-core node with no balancing is an M/G/1
# processor-sharing queue, whose mean slowdown is 1/(1-rho) for any demand distribution (with
# a light tail, alpha 2.5, so that a short run sees the nominal load).
"$sim" -n 1 -k 1 --alpha 2.5 --rho 0.5,0.8 -r 3 -d 10000 --warmup 500 -p none --json >"$work/mg1.json" ||
	bad "ssi-sim (M/G/1) exited $?"
python3 - "$work/mg1.json" <<'EOF2' || fails=$((fails + 1))
import json, sys
bad = 0
for x in json.load(open(sys.argv[1]))["results"]:
    want = 1 / (1 - x["rho"])
    good = abs(x["mean_slowdown"] - want) < 0.04 * want
    print(("ok   " if good else "FAIL ") + f"M/G/1-PS at rho {x['rho']}: mean slowdown "
          f"{x['mean_slowdown']:.3f}, theory {want:.3f} (within 4%)")
    bad += not good
sys.exit(1 if bad else 0)
EOF2

# A burst (make -j64 on node 1 over light background load): balancing must spread it.
"$sim" --burst 64 --rho 0.3 -r 4 -d 200 --warmup 50 -p none,mosix,ours --json >"$work/burst.json" ||
	bad "ssi-sim --burst exited $?"
python3 - "$work/burst.json" <<'EOF2' || fails=$((fails + 1))
import json, sys
r = {x["policy"]: x for x in json.load(open(sys.argv[1]))["results"]}
none, mosix, ours = r["none"], r["mosix"], r["ours"]
bad = 0
def check(cond, what):
    global bad
    print(("ok   " if cond else "FAIL ") + what)
    bad += not cond
check(none["burst_makespan_s"] >= 64 * 30,
      f"burst without balancing: makespan {none['burst_makespan_s']:.0f} s >= 1920 s of one core")
check(ours["burst_makespan_s"] < none["burst_makespan_s"] / 5,
      f"burst with ours: makespan {ours['burst_makespan_s']:.0f} s < 1/5 of none's")
check(ours["burst_moves"] < mosix["burst_moves"] / 3,
      f"burst: ours moves {ours['burst_moves'] / 64:.2f} per job, under a third of mosix's "
      f"{mosix['burst_moves'] / 64:.2f} (ping-pong)")
sys.exit(1 if bad else 0)
EOF2

"$sim" --help >"$work/help.txt" || bad "--help exited $?"
grep -q "runs the same policy when \[balance\] enabled = yes" "$work/help.txt" &&
	ok "--help says how the daemon runs the same policy" ||
	bad "--help does not say how the daemon runs the policy ([balance] enabled = yes)"
"$sim" --nodes 0 >/dev/null 2>"$work/err.txt"
rc=$?
[ $rc = 2 ] && grep -q "nodes" "$work/err.txt" && ok "--nodes 0 refused (exit 2: $(cat "$work/err.txt"))" ||
	bad "--nodes 0: exit $rc, $(cat "$work/err.txt")"
"$sim" -p nosuch >/dev/null 2>"$work/err.txt"
rc=$?
[ $rc = 2 ] && grep -q "unknown policy 'nosuch'" "$work/err.txt" && ok "unknown policy refused" ||
	bad "-p nosuch: exit $rc, $(cat "$work/err.txt")"

[ $fails = 0 ] && echo "PASS sim_policy" || echo "FAIL sim_policy: $fails failed"
[ $fails = 0 ]
