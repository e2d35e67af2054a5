#!/usr/bin/env bash
# gfs_restart.sh - a process away from home keeps its home's files across a restart of the
# home's ssid (kill -9, start again): its open /gfs handles are reopened by path (fuse/gfs_fh.c,
# ESTALE from the new server, fsrv.c). 2-node lab: `grun -n node2 python3 t.py` on node1, as
# root and as ssiuser at the same time; each opens node1 files for reading (reads 100
# bytes), appending (5 lines) and writing (4 KiB), maps a fourth (touches its first page
# only), says ready; node1's ssid is killed -9 and started; then each reads the rest of the
# first file (sha256 right), appends 5 more lines (node1's file holds lines 1-10 once, in
# order), writes 4 KiB more (a write-behind WRITE, sent again after the reopen), touches
# every page of the mapping (sha256 right, no SIGBUS) and exits 0 through grun.
# Exit 0 pass, 77 skip (reason on the last line), else fail. Removes its lab (trap).
set -u -o pipefail
. "$(dirname "$0")/lib.bash"
lab_init ssi-gfs-r$$
need_lab_host --no-nft
need_bins ssid ssictl grun
[ -c /dev/fuse ] || skip "no /dev/fuse"
lab_trap

L up -n 2 >/dev/null || { echo "FAIL: ssi-lab up -n 2"; exit 1; }
t_all=$(now)
home1=$LAB_DIR/node1/home/gr
mkdir -p "$home1" && chmod 755 "$home1"
cat >"$home1/t.py" <<'EOF'
import hashlib, mmap, os, sys, time
tag, want_a, want_m = sys.argv[1:4]
d = "/home/gr/" + tag
while len(sys.argv) > 4 and not os.path.exists(d + "/moved"):  # sanitizer build: wait for gmigrate
    time.sleep(0.1)
print(tag, "runs on", os.uname().nodename, flush=True)
fa = os.open(d + "/a", os.O_RDONLY)
os.posix_fadvise(fa, 0, 0, os.POSIX_FADV_RANDOM)  # no read-ahead: the rest is read later
h = hashlib.sha256(os.read(fa, 100))
fl = os.open(d + "/log", os.O_WRONLY | os.O_APPEND)
for i in range(1, 6):
    os.write(fl, b"line %d\n" % i)
fw = os.open(d + "/w", os.O_WRONLY)  # plain writes go out behind (write-behind)
os.pwrite(fw, b"A" * 4096, 0)
os.fsync(fw)
fm = os.open(d + "/m", os.O_RDONLY)
mm = mmap.mmap(fm, 0, prot=mmap.PROT_READ)
mm.madvise(mmap.MADV_RANDOM)  # no read-around: only page 0 is read now
mm[0]
open(d + "/ready", "w").close()
while not os.path.exists(d + "/go"):
    time.sleep(0.1)
bad = 0
try:
    while True:
        b = os.read(fa, 1 << 16)
        if not b:
            break
        h.update(b)
    if h.hexdigest() != want_a:
        print(tag, "read: wrong bytes after the restart", flush=True)
        bad = 1
except OSError as e:
    print(tag, "read after the restart:", os.strerror(e.errno), flush=True)
    bad = 1
try:
    for i in range(6, 11):
        os.write(fl, b"line %d\n" % i)
    os.close(fl)
except OSError as e:
    print(tag, "append after the restart:", os.strerror(e.errno), flush=True)
    bad = 1
try:
    os.pwrite(fw, b"B" * 4096, 4096)
    os.fsync(fw)
    os.close(fw)
except OSError as e:
    print(tag, "write after the restart:", os.strerror(e.errno), flush=True)
    bad = 1
if hashlib.sha256(mm[:]).hexdigest() != want_m:  # a page that cannot be read: SIGBUS
    print(tag, "mapping: wrong bytes after the restart", flush=True)
    bad = 1
print(tag, "done", flush=True)
sys.exit(bad)
EOF
for t in root user; do
	mkdir -p "$home1/$t"
	head -c $((6 << 20)) /dev/urandom >"$home1/$t/a"
	head -c $((8 << 20)) /dev/urandom >"$home1/$t/m"
	: >"$home1/$t/log"
	: >"$home1/$t/w"
done
chown -R ssiuser: "$home1/user" && chmod 600 "$home1/user/"*

links_up() { [ "$(lab_state 2 node1)" = up ] && [ "$(lab_state 1 node2)" = up ]; }
gfs_ready() { links_up && X 2 test -f /gfs/node1/home/gr/t.py; }
wait_until 15 0.2 gfs_ready || bad "links and /gfs up after ssi-lab up"

# start TAG: grun -n node2 the script on node1 in the background, as root or as ssiuser (user).
# Under `make san` grun's pre-exec child carries ASan's sparse shadow mappings, too big to
# checkpoint within the freeze time-out: grun starts it at home, where it waits for a file
# "moved" before it opens anything, and the exec'd python3 is moved with gmigrate.
start() {
	local t=$1 a m cmd
	a=$(sha256sum <"$home1/$t/a" | cut -d' ' -f1)
	m=$(sha256sum <"$home1/$t/m" | cut -d' ' -f1)
	cmd="grun -n node2 python3 /home/gr/t.py $t $a $m"
	[ -n "${SSI_SANITIZED:-}" ] && cmd="GRUN_VERBOSE=1 grun python3 /home/gr/t.py $t $a $m wait"
	[ "$t" = user ] && cmd="su ssiuser -s /bin/sh -c '$cmd'"
	(X_TIMEOUT=90 X 1 sh -c "$cmd" >"$home1/$t.out" 2>"$home1/$t.err"
	echo $? >"$home1/$t.rc") &
}
start root
start user
if [ -n "${SSI_SANITIZED:-}" ]; then
	echo "note: sanitizer build: started at home by grun and moved by gmigrate instead of grun -n node2"
	for t in root user; do
		g=$(grun_gpid "$home1/$t.err") && wait_until 5 0.05 exec_done "$g" && X 1 gmigrate "$g" node2 >/dev/null ||
			bad "sanitizer build: $t: gmigrate ${g:-(no gpid)} node2"
		touch "$home1/$t/moved"
	done
fi
for t in root user; do
	wait_until 20 0.1 test -e "$home1/$t/ready" ||
		bad "$t: not ready: $(cat "$home1/$t.out" "$home1/$t.err" 2>/dev/null | tr '\n' ' ')"
done
for t in root user; do
	grep -q "^$t runs on node2" "$home1/$t.out" && ok "$t: runs on node2, files of node1 open and mapped" ||
		bad "$t: does not run on node2: $(cat "$home1/$t.out" "$home1/$t.err" | tr '\n' ' ')"
done

# kill -9 node1's ssid alone and start it again (as mig_restart.sh does)
p=$(X 1 pgrep -o -x ssid)
t0=$(now)
X 1 kill -KILL "$p" || bad "kill -9 node1's ssid"
wait_until 5 0.05 sh -c "! timeout 5 bash $lab exec 1 -- kill -0 $p 2>/dev/null" || bad "node1's ssid does not die"
echo "== $(date '+%F %T') gfs_restart: ssid killed (-9) and started again" >>"$LAB_DIR/node1/ssid.log"
X 1 /bin/sh -c "setsid ssid -f -c /etc/ssid/ssid.conf </dev/null >>/run/ssi-lab/node/ssid.log 2>&1 &" ||
	bad "start node1's ssid again"
wait_until 15 0.1 links_up && ok "node1's ssid restarted, link up again ($(ms "$t0") ms)" ||
	bad "link node1-node2 not up again after the restart"
touch "$home1/root/go" "$home1/user/go"

for t in root user; do
	if ! wait_until 30 0.2 test -e "$home1/$t.rc"; then
		bad "$t: grun still running 30 s after the restart"
		continue
	fi
	rc=$(cat "$home1/$t.rc")
	out=$(tr '\n' ' ' <"$home1/$t.out")
	if [ "$rc" = 0 ] && grep -q "^$t done" "$home1/$t.out"; then
		ok "$t: read the rest of its file, appended, read the unread pages of its mapping: all right; grun exited 0"
	else
		bad "$t: grun exited $rc: $out $(tail -3 "$home1/$t.err" | tr '\n' ' ')"
	fi
	want=$(seq -f 'line %g' 1 10 | tr '\n' ,)
	got=$(tr '\n' , <"$home1/$t/log")
	[ "$got" = "$want" ] && ok "$t: node1's appended file holds lines 1-10 once, in order" ||
		bad "$t: node1's appended file: $got"
	got=$(python3 -c 'import sys; d = open(sys.argv[1], "rb").read(); print(d == b"A" * 4096 + b"B" * 4096, len(d))' "$home1/$t/w")
	[ "$got" = "True 8192" ] && ok "$t: its write after the restart (write-behind) reached node1's file" ||
		bad "$t: node1's written file: $got"
done
echo "total $(ms "$t_all") ms after ssi-lab up"
diag() {
	echo "== node2"
	grep -v "^$" "$LAB_DIR/node2/ssid.log" | tail -15
	echo "== node1"
	tail -15 "$LAB_DIR/node1/ssid.log"
}
finish "gfs restart" diag
