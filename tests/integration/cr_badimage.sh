#!/usr/bin/env bash
# cr_badimage.sh - bad images are refused with a clear message before any process is
# created: truncated, a flipped bit in page data, a newer format version, another CPU
# (features this one lacks), another kernel build (vdso bytes differ), and an executable
# that changed on disk since the checkpoint.
. "$(dirname "$0")/cr_common.bash"
(cd "$work" && cr_exec_clean "$PROGS/counter" 40 40000000) </dev/null >/dev/null &
pid=$!
cr_pids+=("$pid")
sleep 0.3
"$SSICTL" checkpoint "$pid" -o "$work/good.img" --kill || fail "checkpoint"
wait "$pid" 2>/dev/null
"$SSICTL" image verify "$work/good.img" >/dev/null || fail "good image not verified"
size=$(stat -c %s "$work/good.img")

# patch IMG OUT KIND: rewrite one field and fix that section's CRC32C (so only the
# semantic check can catch it).
patch() {
	python3 - "$@" <<'PY'
import struct, sys
src, dst, kind = sys.argv[1:4]
b = bytearray(open(src, 'rb').read())
def crc32c(data, crc=0):
    crc ^= 0xffffffff
    for x in data:
        crc ^= x
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82f63b78 if crc & 1 else 0)
    return crc ^ 0xffffffff
off = 12
while off < len(b):
    t, fl, ln = struct.unpack('>IIQ', b[off:off + 16])
    if t == 2:  # cpu section
        p = off + 16
        if kind == 'cpu':
            b[p + 8:p + 12] = b'\xff\xff\xff\xff'          # cpuid.7.ebx: every feature
        else:
            b[p + 52 + 200] ^= 0x01                          # a vdso byte
        b[off + 16 + ln:off + 20 + ln] = struct.pack('>I', crc32c(bytes(b[off:off + 16 + ln])))
        break
    off += 20 + ln
open(dst, 'wb').write(b)
PY
}

try() { # NAME IMG EXPECTED-MESSAGE
	if "$SSICTL" restore "$2" --wait </dev/null >/dev/null 2>"$work/$1.err"; then
		fail "$1 image restored"
	fi
	grep -q "$3" "$work/$1.err" || { cat "$work/$1.err"; fail "$1: message lacks '$3'"; }
	[ -e "/proc/${pid}" ] && fail "$1: a process with pid $pid exists"
	grep -q "restored pid" "$work/$1.err" && fail "$1: a process was created"
	echo "ok $1 refused: $(head -1 "$work/$1.err" | cut -c1-110)"
}
head -c $((size / 2)) "$work/good.img" >"$work/trunc.img"
try truncated "$work/trunc.img" "truncated"
cp "$work/good.img" "$work/flip.img"
printf '\x55' | dd of="$work/flip.img" bs=1 seek=$((size - 3000)) conv=notrunc status=none
try bitflip "$work/flip.img" "checksum"
cp "$work/good.img" "$work/ver.img"
printf '\x00\x00\x00\x09' | dd of="$work/ver.img" bs=1 seek=8 conv=notrunc status=none
try version "$work/ver.img" "unsupported version"
patch "$work/good.img" "$work/cpu.img" cpu
try cpu "$work/cpu.img" "lacks features"
patch "$work/good.img" "$work/vdso.img" vdso
try vdso "$work/vdso.img" "another kernel build"
# The executable changed after the checkpoint (here: touched): refused.
cp "$PROGS/counter" "$work/counter-copy"
(cd "$work" && cr_exec_clean "$work/counter-copy" 40 40000000) </dev/null >/dev/null &
cpid=$!
cr_pids+=("$cpid")
sleep 0.3
"$SSICTL" checkpoint "$cpid" -o "$work/exe.img" --kill || fail "checkpoint of the copy"
wait "$cpid" 2>/dev/null
touch -d '2001-01-01' "$work/counter-copy"
pid=$cpid try changed-exe "$work/exe.img" "differs from the checkpointed one"
# The good image still restores.
"$SSICTL" restore "$work/good.img" --wait </dev/null >/dev/null 2>&1
[ $? = 3 ] || fail "good image did not restore"
echo "ok good image restores"
