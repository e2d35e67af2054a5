#!/usr/bin/env bash
# gfs_files.sh - /gfs between two lab nodes, as a user sees it: ssid mounts /gfs on each node;
# from node2, node1's files read right (a file only on node1; a 64 MiB file's sha256), and
# writes, appends, creates, mkdir, rename, unlink, symlink, chmod, truncate, touch -d, mmap
# writes made through /gfs/node1 show up on node1 exactly. Rights are node1's for the calling
# uid: ssiuser (uid 1001) cannot read a root file of mode 600, cannot create in a root 755
# directory, cannot chown to root, and what it creates is owned by 1001 on node1.
# Exit 0 pass, 77 skip (reason on the last line), else fail. Always removes its lab (trap).
set -u -o pipefail
. "$(dirname "$0")/lib.bash"
lab_init ssi-gfs-f$$
need_lab_host sha256sum
[ -c /dev/fuse ] || skip "no /dev/fuse"
[ -x "$bin/ssid" ] && [ -x "$bin/gprocfs" ] || { echo "FAIL: ssid/gprocfs not built in $bin"; exit 1; }

n1() { timeout 60 bash "$lab" exec node1 -- "$@"; }
n2() { timeout 60 bash "$lab" exec node2 -- "$@"; }
u2() { timeout 60 bash "$lab" exec node2 --user ssiuser -- "$@"; }
lab_trap

L up -n 2 >/dev/null || { echo "FAIL: ssi-lab up -n 2"; L log node2 | tail; exit 1; }
wait_until 5 0.1 n2 test -d /gfs/node1/home
check "ssid mounted /gfs on node2 (fuse.gfs)" n2 sh -c 'grep -q " /gfs fuse.gfs " /proc/mounts'
check "/gfs lists node1 and node2" n2 sh -c '[ "$(ls /gfs | tr "\n" " ")" = "node1 node2 " ]'

# -- reading what only node1 has
n1 sh -c 'echo "only on node1 $$" >/home/only1 && head -c 64M /dev/urandom >/home/big &&
	mkdir -m 755 /home/rootdir && echo secret >/home/secret && chmod 600 /home/secret'
want=$(n1 cat /home/only1)
check "cat /gfs/node1/home/only1 from node2 gives node1's bytes" \
	test "$(n2 cat /gfs/node1/home/only1)" = "$want"
check "node2 has no /home/only1 of its own" n2 test ! -e /home/only1
s1=$(n1 sha256sum /home/big | cut -d' ' -f1)
s2=$(n2 sha256sum /gfs/node1/home/big | cut -d' ' -f1)
check "sha256 of a 64 MiB file through /gfs equals node1's ($s1)" test "$s1" = "$s2"

# Many requests in flight on one link: four readers at once, each must get every byte right.
sums=$(n2 sh -c 'for i in 1 2 3 4; do sha256sum /gfs/node1/home/big & done; wait' | cut -d' ' -f1 | sort | uniq -c | awk '{print $1, $2}')
check "4 parallel readers of the 64 MiB file through /gfs all get node1's sha256" test "$sums" = "4 $s1"
# The node's own files through /gfs (served locally) and a node nobody has.
n2 sh -c 'echo self >/gfs/node2/home/self.txt'
check "node2 writes its own /home through /gfs/node2" test "$(n2 cat /home/self.txt)" = self
out=$(n2 ls /gfs/node9 2>&1)
case $out in *"No such file or directory"*) ok "unknown node: ENOENT" ;; *) bad "ls /gfs/node9: $out" ;; esac

# Write-behind keeps overlapping writes in order: 3000 writes of 1..20000 bytes at random,
# often overlapping offsets (and pwrite after lseek), the same to node2's /tmp and through /gfs.
n2 python3 -c '
import os, random
random.seed(7)
a = os.open("/tmp/ref.bin", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
b = os.open("/gfs/node1/home/wb.bin", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
for i in range(3000):
    off = random.randrange(0, 200000)
    data = bytes([i % 251]) * random.randrange(1, 20000)
    os.pwrite(a, data, off)
    os.pwrite(b, data, off)
os.ftruncate(a, 150000)
os.ftruncate(b, 150000)
os.pwrite(a, b"end", 149997)
os.pwrite(b, b"end", 149997)
os.close(a)
os.close(b)' || bad "random writes through /gfs failed"
check "3000 random overlapping writes through /gfs give node1 the same bytes as locally" \
	test "$(n2 sha256sum /tmp/ref.bin | cut -d' ' -f1)" = "$(n1 sha256sum /home/wb.bin | cut -d' ' -f1)"

# A directory listing of several pages (cookies across opens on node1's file system).
n1 sh -c 'mkdir /home/many && cd /home/many && for i in $(seq 3000); do : >"file-with-a-long-name-$i"; done'
check "ls of a 3000-entry directory through /gfs gives node1's names exactly" \
	test "$(n2 ls /gfs/node1/home/many | sort | sha256sum)" = "$(n1 ls /home/many | sort | sha256sum)"

# -- writes from node2 land on node1 exactly
n2 sh -c 'set -e; cd /gfs/node1/home
	printf "line1\n" >w.txt; printf "line2\n" >>w.txt; printf "line3\n" >>w.txt
	mkdir d1; mv w.txt d1/w2.txt; echo gone >tmp.txt; rm tmp.txt
	ln -s d1/w2.txt link; echo 0123456789 >t.txt; truncate -s 4 t.txt
	echo x >m.txt; chmod 640 m.txt; touch -d "2001-02-03 04:05:06" m.txt
	head -c 3000000 /dev/urandom >rand.bin; mkdir gone.d; rmdir gone.d' ||
	bad "write operations through /gfs/node1 failed"
check "write+append+rename: node1 has d1/w2.txt with exactly 3 lines" \
	test "$(n1 cat /home/d1/w2.txt | tr '\n' ,)" = "line1,line2,line3,"
check "unlink: node1 has no tmp.txt" n1 test ! -e /home/tmp.txt
check "rmdir: node1 has no gone.d" n1 test ! -e /home/gone.d
check "symlink: node1's link points to d1/w2.txt" test "$(n1 readlink /home/link)" = d1/w2.txt
check "readlink through /gfs" test "$(n2 readlink /gfs/node1/home/link)" = d1/w2.txt
check "truncate: node1's t.txt is 0123" test "$(n1 cat /home/t.txt)" = 0123
check "chmod + utimens: node1's m.txt is 640 with mtime 2001-02-03" \
	test "$(n1 stat -c '%a %y' /home/m.txt | cut -c1-23)" = "640 2001-02-03 04:05:06"
check "3 MB written through /gfs equals node1's bytes" \
	test "$(n1 sh -c 'sha256sum </home/rand.bin')" = "$(n2 sh -c 'sha256sum </gfs/node1/home/rand.bin')"
check "stat through /gfs agrees with node1 (size, mode, owner)" \
	test "$(n1 stat -c '%s %a %u %g' /home/rand.bin)" = "$(n2 stat -c '%s %a %u %g' /gfs/node1/home/rand.bin)"
check "df (statfs) through /gfs gives node1's block count" \
	test "$(n1 stat -f -c %b /home)" = "$(n2 stat -f -c %b /gfs/node1/home)"
check "fsync through /gfs (dd conv=fsync)" n2 dd if=/dev/zero of=/gfs/node1/home/f.bin bs=64k count=4 conv=fsync status=none
# A shared writable mapping through /gfs: its bytes reach node1 at msync.
n2 python3 -c '
import mmap
with open("/gfs/node1/home/t.txt", "r+b") as f:
    m = mmap.mmap(f.fileno(), 0)
    m[0:4] = b"MMAP"
    m.flush()
    m.close()' || bad "mmap through /gfs"
check "mmap write through /gfs shows on node1" test "$(n1 cat /home/t.txt)" = MMAP
# A change made on node1 shows through /gfs after the attribute time-out (1 s).
n1 sh -c 'echo changed-on-node1 >/home/only1'
sleep 1.5
check "a change on node1 shows through /gfs within the cache time-out" \
	test "$(n2 cat /gfs/node1/home/only1)" = changed-on-node1
# O_APPEND from two writers lands at the end each time.
n1 sh -c 'printf a >/home/app.txt'
n2 sh -c 'printf b >>/gfs/node1/home/app.txt'
n1 sh -c 'printf c >>/home/app.txt'
n2 sh -c 'printf d >>/gfs/node1/home/app.txt'
check "O_APPEND through /gfs interleaves with node1's own appends (abcd)" \
	test "$(n1 cat /home/app.txt)" = abcd

# An open file that is unlinked stays usable (read, fstat, write) until its close, then is gone.
out=$(n2 python3 -c '
import os
fd = os.open("/gfs/node1/home/tmpx", os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, b"hello")
os.unlink("/gfs/node1/home/tmpx")
os.write(fd, b" world")
print(os.pread(fd, 11, 0).decode(), os.fstat(fd).st_size, os.path.exists("/gfs/node1/home/tmpx"))
os.close(fd)')
check "unlinked open file: readable, fstat works, name gone ($out)" test "$out" = "hello world 11 False"
check "unlinked open file: nothing left on node1 after close" \
	test -z "$(n1 sh -c 'ls -A /home | grep -e tmpx -e fuse_hidden')"

# -- node1's rights for the calling uid
out=$(u2 cat /gfs/node1/home/secret 2>&1)
case $out in *"Permission denied"*) ok "ssiuser cannot read node1's root file of mode 600: $out" ;; *) bad "ssiuser read the secret: $out" ;; esac
out=$(u2 touch /gfs/node1/home/rootdir/x 2>&1)
case $out in *"Permission denied"*) ok "ssiuser cannot create in a root 755 dir" ;; *) bad "create in rootdir: $out" ;; esac
check "nothing was created in rootdir on node1" n1 test ! -e /home/rootdir/x
n1 sh -c 'mkdir -p /home/ssiuser && chown ssiuser:ssiuser /home/ssiuser'
u2 sh -c 'echo mine >/gfs/node1/home/ssiuser/mine && mkdir /gfs/node1/home/ssiuser/dir' ||
	bad "ssiuser could not write its own directory through /gfs"
check "a file ssiuser creates is owned by 1001:1001 on node1" \
	test "$(n1 stat -c '%u:%g' /home/ssiuser/mine /home/ssiuser/dir | sort -u)" = 1001:1001
out=$(u2 chown 0:0 /gfs/node1/home/ssiuser/mine 2>&1)
case $out in *"not permitted"*) ok "ssiuser cannot chown to root" ;; *) bad "chown to root: $out" ;; esac
out=$(u2 sh -c 'echo x >>/gfs/node1/home/only1' 2>&1)
case $out in *"Permission denied"*) ok "ssiuser cannot append to root's 644 file" ;; *) bad "append: $out" ;; esac
out=$(u2 cat /gfs/node1/proc/self/environ 2>&1)
case $out in *"Permission denied"*) ok "ssiuser cannot read the serving daemon's /proc/self through /gfs" ;; *) bad "/proc/self: $out" ;; esac
out=$(n2 timeout 10 cat /gfs/node1/gfs/node1/etc/hostname 2>&1)
case $out in *"Too many levels"*) ok "/gfs through /gfs on the serving node is refused at once (ELOOP)" ;; *) bad "/gfs/node1/gfs/node1: $out" ;; esac
check "root keeps root: root on node2 reads the 600 file" test "$(n2 cat /gfs/node1/home/secret)" = secret
check "root-created file through /gfs is root's on node1" test "$(n1 stat -c %u /home/rand.bin)" = 0

gfs_log() { L log node1 | grep -i gfs | tail -5; }
finish "gfs file" gfs_log
