#!/usr/bin/env bash
# cr_creds.sh - a non-root process restored by root keeps its uids, gids and groups and has
# no capabilities (checked in /proc/PID/status), keeps its nice value and CPU affinity, and
# its output
# continues unchanged.
. "$(dirname "$0")/cr_common.bash"
command -v setpriv >/dev/null || { echo "skip: setpriv (util-linux) missing"; exit 77; }
chmod 755 "$work"
cr_roundtrip nobody 0.3 1.0 setpriv --reuid=65534 --regid=65534 --groups=65534,100 \
	"$PROGS/counter" 40 40000000
# Once more without --wait, to look at the restored process from outside.
(cd "$work" && cr_exec_clean taskset -c 0 nice -n 7 setpriv --reuid=65534 --regid=65534 --groups=65534,100 \
	"$PROGS/counter" 40 40000000) </dev/null >"$work/c.out" &
pid=$!
cr_pids+=("$pid")
sleep 0.4
"$SSICTL" checkpoint "$pid" -o "$work/c.img" --kill || fail "checkpoint"
wait "$pid" 2>/dev/null
"$SSICTL" restore "$work/c.img" --pid-file "$work/c.pid" </dev/null >/dev/null 2>&1 || fail "restore"
rpid=$(cat "$work/c.pid")
cr_pids+=("$rpid")
st=/proc/$rpid/status
grep -q "^Uid:[[:space:]]*65534[[:space:]]*65534[[:space:]]*65534[[:space:]]*65534$" "$st" ||
	fail "uid not kept: $(grep ^Uid "$st")"
grep -q "^Gid:[[:space:]]*65534[[:space:]]*65534[[:space:]]*65534[[:space:]]*65534$" "$st" ||
	fail "gid not kept: $(grep ^Gid "$st")"
grep -q "^Groups:[[:space:]]*100 65534 *$" "$st" || fail "groups not kept: $(grep ^Groups "$st")"
for c in CapEff CapPrm CapInh CapAmb; do
	grep -q "^$c:[[:space:]]*0000000000000000$" "$st" || fail "$c not empty: $(grep ^$c "$st")"
done
ni=$(awk '{print $19}' "/proc/$rpid/stat")
[ "$ni" = 7 ] || fail "nice $ni after restore, was 7"
grep -q "^Cpus_allowed_list:[[:space:]]*0$" "/proc/$rpid/status" ||
	fail "CPU affinity not kept: $(grep Cpus_allowed_list "/proc/$rpid/status")"
echo "ok pid $rpid: uid/gid 65534, groups 100 65534, no capabilities, nice 7, CPU 0 only"
kill "$rpid"
