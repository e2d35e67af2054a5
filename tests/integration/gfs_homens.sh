#!/usr/bin/env bash
# gfs_homens.sh - the mount namespace of a process away from home (ssid/homens.c), through the
# test tool homens_run on node2 with home node1: the root is node1's /gfs view (node1's files
# read, files created land on node1 only), /usr is node2's own (a bind of the local /usr, the
# /lib /bin ... symlinks resolve into it), a listed directory that differs (/tmp) comes from
# node1, /proc is node2's, the cwd is honoured, ssiuser cannot read node1's root-only file,
# the exit status passes through, remembered answers (--cache) are used, an unknown home fails
# (125).
# Exit 0 pass, 77 skip (reason on the last line), else fail. Always removes its lab (trap).
set -u -o pipefail
. "$(dirname "$0")/lib.bash"
lab_init ssi-gfs-h$$
need_lab_host
[ -c /dev/fuse ] || skip "no /dev/fuse"
[ -x "$bin/ssid" ] && [ -x "$bin/gprocfs" ] || { echo "FAIL: ssid/gprocfs not built in $bin"; exit 1; }
build=${SSI_BUILD:-$top/build}
case $build in /*) ;; *) build=$top/$build ;; esac
H=$build/tests/tools/homens_run
[ -x "$H" ] || { echo "FAIL: $H not built"; exit 1; }

n1() { timeout 60 bash "$lab" exec node1 -- "$@"; }
n2() { timeout 60 bash "$lab" exec node2 -- "$@"; }
hr() { timeout 60 bash "$lab" exec node2 -- "$H" --home node1 "$@"; }
lab_trap

L up -n 2 >/dev/null || { echo "FAIL: ssi-lab up -n 2"; L log node2 | tail; exit 1; }
wait_until 10 0.1 n2 test -d /gfs/node1/home
n1 sh -c 'echo "x of node1 $$" >/home/x && mkdir /home/d && echo in-d >/home/d/f &&
	echo secret >/home/secret && chmod 600 /home/secret && echo tmp1 >/tmp/t1'

want=$(n1 cat /home/x)
check "cat /home/x inside (home node1) prints node1's file" test "$(hr -- cat /home/x)" = "$want"
check "node2 has no /home/x of its own" n2 test ! -e /home/x
hr -- sh -c 'echo made-away >/home/created'
check "a file created inside appears on node1" test "$(n1 cat /home/created 2>&1)" = made-away
check "... and not on node2" n2 test ! -e /home/created

out=$(hr -v -- sh -c 'ls /usr/bin/sha256sum && cat /proc/self/mountinfo' 2>&1)
check "ls /usr/bin/sha256sum works inside" grep -qx /usr/bin/sha256sum <<<"$out"
check "the summary says /usr local, /lib /lib64 /bin /sbin links" \
	grep -q "local: /usr; home:; link: /lib /lib64 /bin /sbin" <<<"$out"
# mountinfo: field 5 is the mount point, the field after " - " the fs type.
mi() { awk -v m="$1" '$5 == m { for (i = 6; $i != "-"; i++); print $4, $(i + 1) }' <<<"$out"; }
check "inside, / is the /gfs view (fuse.gfs, root /node1)" test "$(mi /)" = "/node1 fuse.gfs"
u=$(mi /usr)
check "inside, /usr is a bind of the local /usr (root /usr, not fuse: '$u')" \
	test "$u" = "/usr $(awk '$5 == "/" { for (i = 6; $i != "-"; i++); print $(i + 1) }' /proc/self/mountinfo)"
check "inside, /gfs is reachable (node2's own files through it)" \
	test "$(hr -- cat /gfs/node2/etc/hostname)" = "$(n2 cat /etc/hostname)"

p2=$(n2 readlink /proc/self/ns/pid)
p1=$(n1 readlink /proc/self/ns/pid)
pin=$(hr -- readlink /proc/self/ns/pid)
check "/proc inside is node2's (pid namespace $pin = node2's, not node1's $p1)" \
	test "$pin" = "$p2" -a "$pin" != "$p1"

check "--cwd /home/d (only on node1) is honoured" test "$(hr --cwd /home/d -- sh -c 'pwd; cat f' | tr '\n' ' ')" = "/home/d in-d "
check "root inside reads node1's root-only file" test "$(hr -- cat /home/secret)" = secret
uout=$(hr -- setpriv --reuid 1001 --regid 1001 --clear-groups cat /home/secret 2>&1)
urc=$?
check "ssiuser (1001) inside cannot read node1's 600 root file (rc $urc: $uout)" \
	test "$urc" != 0 -a -n "$(grep -i 'permission denied' <<<"$uout")"
hr -- sh -c 'exit 7'
check "exit status passes through (7)" test $? = 7
hr -- sh -c 'kill -TERM $$'
check "death by signal passes as 128+15" test $? = 143

# A listed directory that differs between the nodes (/tmp: each node has its own) is node1's.
tout=$(hr -v --local-dirs "/usr /tmp" -- cat /tmp/t1 2>&1)
check "a differing listed dir (/tmp) comes from home: $tout" grep -q "local: /usr; home: /tmp;" <<<"$tout"
check "... and shows node1's /tmp/t1" grep -qx tmp1 <<<"$tout"

# The answers remembered (homens_cache): the second run reads them, and takes far less time.
c1=$(hr -v --cache /run/ssid/test-homens.cache -- true 2>&1)
c2=$(hr -v --cache /run/ssid/test-homens.cache -- true 2>&1)
check "with --cache the first run walks (${c1##*;})" grep -q "cached 0/5" <<<"$c1"
check "... the second reads the file (${c2##*;})" grep -q "cached 5/5" <<<"$c2"
check "... and decides the same" test "${c1%%; cached*}" = "${c2%%; cached*}"
n2 rm -f /run/ssid/test-homens.cache
# --cache-only (what ssid's restore worker does): nothing remembered = home's copy, no walk.
c3=$(hr -v --cache /run/ssid/test-homens.cache --cache-only -- true 2>&1)
check "--cache-only with nothing remembered takes /usr from home (${c3#*; })" \
	grep -q "local:; home: /usr /lib /lib64 /bin /sbin; link:; cached 0/5" <<<"$c3"
hr --cache /run/ssid/test-homens.cache -- true
c4=$(hr -v --cache /run/ssid/test-homens.cache --cache-only -- true 2>&1)
check "... and the remembered answers once there are (${c4#*; })" \
	grep -q "local: /usr; home:; link: /lib /lib64 /bin /sbin; cached 5/5" <<<"$c4"
n2 rm -f /run/ssid/test-homens.cache

n2 "$H" --home nosuch -- true 2>/dev/null
check "an unknown home node fails with 125" test $? = 125
n2 "$H" --home node1 -- /no/such/prog 2>/dev/null
check "a missing program fails with 127" test $? = 127
finish gfs_homens
