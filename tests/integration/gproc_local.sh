#!/usr/bin/env bash
# gproc_local.sh - gprocfs in local mode: stock procps over it, gpids, self lookup, exits.
#
# Mounts bin/gprocfs (node id 5) on a temp dir; in a private mount namespace binds it over
# /proc and runs the stock ps -ef, ps aux, top -b -n 1, pgrep -f, free, uptime: each must exit
# 0 with no error output and (ps, pgrep) show a distinct sleep under gpid 5<<22|pid with its
# command. Then: the caller's own local pid and `self` resolve but are not listed, Pid in
# status equals the directory name, another user can read (allow_other), a process that exits
# leaves /gproc within 1 s. Unmounts and kills everything it started in a trap.
set -u
bin=${SSI_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/bin}
node=5
[ "$(id -u)" = 0 ] || { echo "needs root (mount namespaces, allow_other)"; exit 77; }
[ -c /dev/fuse ] || { echo "no /dev/fuse"; exit 77; }
command -v fusermount3 >/dev/null || { echo "no fusermount3 (apt-get install fuse3)"; exit 77; }
for t in ps top pgrep free uptime unshare setpriv; do
	command -v $t >/dev/null || { echo "no $t (procps/util-linux)"; exit 77; }
done
[ -x "$bin/gprocfs" ] || { echo "FAIL: $bin/gprocfs not built"; exit 1; }
# Our own mount namespace: mount namespaces made meanwhile by others (ssi-lab nodes) must not
# get a copy of the test mount, which would keep gprocfs alive after the unmount.
if [ -z "${GPROC_TEST_NS:-}" ]; then
	GPROC_TEST_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi

tmp=$(mktemp -d /tmp/gproc_local.XXXXXX)
mnt=$tmp/mnt
mkdir -p "$mnt"
chmod 755 "$tmp"
sleep_pid= fs_pid=
cleanup() {
	[ -n "${tog:-}" ] && kill "$tog" 2>/dev/null
	[ -n "$sleep_pid" ] && kill -CONT "$sleep_pid" 2>/dev/null && kill "$sleep_pid" 2>/dev/null
	fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null
	if [ -n "$fs_pid" ]; then
		for i in $(seq 20); do kill -0 "$fs_pid" 2>/dev/null || break; sleep 0.1; done
		kill "$fs_pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*"
	exit 1
}

"$bin/gprocfs" "$mnt" -f -o node_id=$node,node_name=gtest 2>"$tmp/gprocfs.err" &
fs_pid=$!
for i in $(seq 50); do [ -e "$mnt/uptime" ] && break; sleep 0.1; done
[ -e "$mnt/uptime" ] || fail "gprocfs did not mount: $(cat "$tmp/gprocfs.err")"

tag=$((RANDOM % 9000 + 1000))
sleep 4$tag.5 &
sleep_pid=$!
gpid=$((node << 22 | sleep_pid))
echo "sleep pid $sleep_pid gpid $gpid"
sleep 0.3

# Stock procps inside a private mount namespace with /gproc over /proc.
unshare -m bash -c '
	set -u
	mount --bind "$1" /proc || exit 99
	out=$2
	ps -ef >"$out/ps_ef" 2>"$out/ps_ef.err"; echo $? >"$out/ps_ef.rc"
	ps aux >"$out/ps_aux" 2>"$out/ps_aux.err"; echo $? >"$out/ps_aux.rc"
	top -b -n 1 -w 200 >"$out/top" 2>"$out/top.err"; echo $? >"$out/top.rc"
	pgrep -f "slee[p] 4$3" >"$out/pgrep" 2>"$out/pgrep.err"; echo $? >"$out/pgrep.rc"
	free >"$out/free" 2>"$out/free.err"; echo $? >"$out/free.rc"
	uptime >"$out/uptime" 2>"$out/uptime.err"; echo $? >"$out/uptime.rc"
' _ "$mnt" "$tmp" "$tag.5"
[ $? = 99 ] && fail "mount --bind over /proc failed"
for t in ps_ef ps_aux top pgrep free uptime; do
	[ "$(cat "$tmp/$t.rc")" = 0 ] || fail "$t exited $(cat "$tmp/$t.rc"): $(cat "$tmp/$t.err")"
	[ -s "$tmp/$t.err" ] && fail "$t wrote errors: $(cat "$tmp/$t.err")"
	[ -s "$tmp/$t" ] || fail "$t printed nothing"
	echo "ok: $t runs cleanly over gprocfs"
done
grep -Eq "^root +$gpid +[0-9]+ .* sleep 4$tag\.5\$" "$tmp/ps_ef" ||
	fail "ps -ef does not show gpid $gpid 'sleep 4$tag.5': $(grep sleep "$tmp/ps_ef")"
grep -Eq "^root +$gpid .* S +[0-9:]+ +0:00 sleep 4$tag\.5\$" "$tmp/ps_aux" ||
	fail "ps aux does not show gpid $gpid: $(grep sleep "$tmp/ps_aux")"
grep -Eq "^ *$gpid +root .* sleep *\$" "$tmp/top" ||
	fail "top does not list gpid $gpid: $(grep sleep "$tmp/top")"
[ "$(cat "$tmp/pgrep")" = "$gpid" ] || fail "pgrep -f printed '$(cat "$tmp/pgrep")', want $gpid"
grep -q "^Mem: " "$tmp/free" || fail "free: no Mem line"
grep -q "load average" "$tmp/uptime" || fail "uptime: no load average"
grep -q "^MiB Mem" "$tmp/top" || fail "top: no memory line"
echo "ok: ps -ef, ps aux, top, pgrep show gpid $gpid with its command"

# Pid/Tgid in status equal the directory name; the directory belongs to the process's uid.
grep -qx "Pid:	$gpid" "$mnt/$gpid/status" || fail "status Pid is not $gpid"
grep -qx "Tgid:	$gpid" "$mnt/$gpid/status" || fail "status Tgid is not $gpid"
[ "$(cat "$mnt/$gpid/node")" = gtest ] || fail "node file: $(cat "$mnt/$gpid/node")"
[ "$(cat "$mnt/$gpid/home")" = gtest ] || fail "home file: $(cat "$mnt/$gpid/home")"
[ "$(cat "$mnt/nodes/gtest/state")" = up ] || fail "nodes/gtest/state not up"
[ "$(cat "$mnt/nodes/gtest/cpus")" = "$(nproc --all)" ] || fail "nodes/gtest/cpus wrong"
echo "ok: status Pid/Tgid, node, home, nodes/gtest"

# The caller's own local pid resolves (lookup only); self points at it; neither is listed.
out=$(sh -c 'echo $$; exec cat "$1/self/stat"' _ "$mnt")
me=$(echo "$out" | head -1)
first=$(echo "$out" | tail -1 | cut -d' ' -f1)
[ "$first" = $((node << 22 | me)) ] || fail "self/stat starts with $first, want gpid of $me"
out=$(sh -c 'echo $$; exec cat "$1/$$/status"' _ "$mnt") || fail "own local pid does not resolve"
ls "$mnt" | grep -qx "$me" && fail "a local pid is listed"
ls "$mnt" | grep -qx "$sleep_pid" && fail "the local pid of sleep is listed"
[ -e "$mnt/$sleep_pid" ] && fail "another process's local pid resolves"
echo "ok: own local pid and self resolve, hidden from readdir"

# allow_other: an unprivileged user reads it too.
setpriv --reuid=65534 --regid=65534 --clear-groups cat "$mnt/$gpid/stat" >/dev/null ||
	fail "user nobody cannot read $mnt/$gpid/stat"
echo "ok: readable by another user"

# Per-process files are kept in the kernel's page cache, one inode per content: a change
# must still show (stopped: T; continued: S), in the files and in ps, as soon as a snapshot
# has it: within 2 s (a snapshot is at most 0.5 s old, plus the time a refresh takes on a
# loaded machine; kernel caches that hid changes would hold them for their 10 s time-outs).
state_is() { # want: ps's STAT, /proc stat's state and status's State all show it
	local a b c
	a=$(unshare -m sh -c 'mount --bind "$1" /proc && ps -o stat= -p "$2"' _ "$mnt" "$gpid")
	b=$(cut -d' ' -f3 "$mnt/$gpid/stat")
	c=$(grep '^State:' "$mnt/$gpid/status" | cut -f2 | cut -c1)
	[ "$a" = "$1" ] && [ "$b" = "$1" ] && [ "$c" = "$1" ]
}
wait_state() { # prints when (ms after the signal) the check that saw it began
	local start t
	start=$(date +%s%N)
	while t=$(($(date +%s%N) - start)) && [ $t -lt 2000000000 ]; do
		state_is "$1" && { echo $((t / 1000000)); return 0; }
		sleep 0.05
	done
	return 1
}
state_is S || fail "sleep not in state S before the stop"
kill -STOP "$sleep_pid"
ms=$(wait_state T) || fail "state T not shown within 2 s of SIGSTOP (stat: $(cat "$mnt/$gpid/stat"))"
kill -CONT "$sleep_pid"
ms2=$(wait_state S) || fail "state S not shown within 2 s of SIGCONT (stat: $(cat "$mnt/$gpid/stat"))"
echo "ok: state change shown after $ms ms (stop) and $ms2 ms (cont)"
# While the content keeps changing, every read is whole: one version's size never meets
# another version's content, and no open fails (an outdated inode is looked up again).
(for _ in $(seq 60); do
	kill -STOP "$sleep_pid"
	sleep 0.02
	kill -CONT "$sleep_pid"
	sleep 0.02
done) &
tog=$!
reads=0 bad='' last_re='^SigCgt:	[0-9a-f]{16}$'
while kill -0 "$tog" 2>/dev/null; do
	s=$(cat "$mnt/$gpid/stat") || { bad="cat stat failed"; break; }
	[[ $s =~ ^$gpid\ \(sleep\)\ [ST]\ .*\ 0$ ]] && [ "$(wc -w <<<"$s")" = 52 ] ||
		{ bad="stat read as '$s'"; break; }
	st=$(cat "$mnt/$gpid/status") || { bad="cat status failed"; break; }
	[ "$(head -1 <<<"$st")" = "Name:	sleep" ] && [[ $(tail -1 <<<"$st") =~ $last_re ]] ||
		{ bad="status read as '$st'"; break; }
	reads=$((reads + 1))
done
wait "$tog"
tog=
[ -z "$bad" ] || fail "$bad"
kill -CONT "$sleep_pid"
echo "ok: $reads whole reads of stat and status while the state changed"

# A process that exits disappears within 1 s (dentry cached by a stat just before).
stat "$mnt/$gpid" >/dev/null || fail "stat $gpid"
kill "$sleep_pid"
wait "$sleep_pid" 2>/dev/null
sleep_pid=
start=$(date +%s%N)
gone=
while [ $(($(date +%s%N) - start)) -lt 1000000000 ]; do
	if [ ! -e "$mnt/$gpid" ] && ! ls "$mnt" | grep -qx "$gpid"; then
		gone=$((($(date +%s%N) - start) / 1000000))
		break
	fi
	sleep 0.05
done
[ -n "$gone" ] || fail "gpid $gpid still in $mnt 1 s after exit"
unshare -m sh -c 'mount --bind "$1" /proc && ps -e' _ "$mnt" | grep -q "^ *$gpid " &&
	fail "ps -e still lists $gpid"
echo "ok: exited process gone after ${gone} ms"

# A clean unmount ends gprocfs with status 0 and nothing on stderr (sanitizer builds report
# there).
fusermount3 -u "$mnt" || fail "unmount failed"
for i in $(seq 50); do kill -0 "$fs_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$fs_pid" 2>/dev/null && fail "gprocfs still runs after the unmount"
wait "$fs_pid"
rc=$?
fs_pid=
[ $rc = 0 ] || fail "gprocfs exited $rc: $(cat "$tmp/gprocfs.err")"
[ -s "$tmp/gprocfs.err" ] && fail "gprocfs wrote: $(head -20 "$tmp/gprocfs.err")"
echo "ok: clean unmount"
echo "PASS"
