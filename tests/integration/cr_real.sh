#!/usr/bin/env bash
# cr_real.sh - programs nobody here wrote, checkpointed mid-run with --kill and restored:
# python3 running a loop, sha256sum of a large file, xz compressing, bc computing digits,
# sort of a large file. Results byte-identical to an unmigrated run, same exit status.
. "$(dirname "$0")/cr_common.bash"
for p in python3 sha256sum xz bc sort; do
	command -v $p >/dev/null || { echo "skip: $p not installed"; exit 77; }
done
py=$(command -v /usr/bin/python3 || command -v python3)
data=$work/data.bin
# 600 MiB of random data for sha256sum, 4 MiB of text for xz (about 3 s), 3 M lines for sort.
head -c 600M /dev/urandom >"$data"
seq 1 3000000 | shuf --random-source=<(yes) >"$work/lines.txt"
head -c 4M "$work/lines.txt" >"$work/text.txt"
printf 'scale=2400\n4*a(1)\nquit\n' >"$work/pi.bc"

cr_roundtrip python 0.4 1.2 "$py" -c '
import hashlib
h = hashlib.sha256()
for i in range(40):
    for j in range(500000):
        h.update(b"%d-%d" % (i, j))
    print(i, h.hexdigest()[:16], flush=True)
'
cr_roundtrip sha256sum 0.2 0.8 sha256sum "$data"
cr_roundtrip xz 0.3 1.5 xz -T1 -6 -c "$work/text.txt"
cr_roundtrip bc 0.3 1.0 bc -l "$work/pi.bc"
cr_roundtrip sort 0.3 1.0 sort -S 1G --parallel=1 "$work/lines.txt"
