#!/usr/bin/env bash
# cr_misc.sh - process state carried by checkpoint --kill + restore, one case per run of
# tests/progs/crmisc: rlimits (RLIMIT_NOFILE 123/456, RLIMIT_CORE), the working directory
# (getcwd and a relative open after restore), umask 027, /dev/urandom at fd 9 (still char
# device 1:9 and readable), two blocked SIGRTMIN+3 queued with values (delivered after restore
# in order, same values). Each: output byte-identical to an unmigrated run, same exit status,
# and the expected value itself in the output. The terminal case is cr_tty.sh.
. "$(dirname "$0")/cr_common.bash"
prog=$PROGS/crmisc
[ -x "$prog" ] || { echo "skip: $prog is not built"; exit 77; }

# expect NAME LINE: the exact LINE must be in the migrated run's output.
expect() {
	grep -qxF -- "$2" "$work/$1.out" || { cat "$work/$1.out"; fail "$1: no line '$2' after restore"; }
}

cr_roundtrip rlimit 0.2 0.7 "$prog" rlimit
expect rlimit "after nofile soft 123 hard 456"
expect rlimit "after core soft 12641280 hard 69519360"

mkdir -p "$work/cwd.d"
echo "found by a relative path" >"$work/cwd.d/marker.txt"
cr_roundtrip cwd 0.2 0.7 "$prog" cwd "$work/cwd.d"
expect cwd "after cwd $work/cwd.d"
expect cwd "after marker.txt: found by a relative path"

cr_roundtrip umask 0.2 0.7 "$prog" umask
expect umask "after umask 0027"

cr_roundtrip urandom 0.2 0.7 "$prog" urandom
expect urandom "after fd 9 chr 1 dev 1:9 flags rdonly read 4096 nonzero 1"

cr_roundtrip sigqueue 0.2 0.7 "$prog" sigqueue
expect sigqueue "after rt pending 1 delivered 0"
expect sigqueue "delivered 2: value 4711 code SI_QUEUE pid-self 1; value -42 code SI_QUEUE pid-self 1;"
