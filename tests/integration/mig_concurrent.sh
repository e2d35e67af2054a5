#!/usr/bin/env bash
# mig_concurrent.sh - two `grun -n node2` started on node1 at the same moment, one by root and
# one by ssiuser, ROUNDS times (default 6; SSI_CONC_ROUNDS). Each round runs a fresh copy of
# mig_ticker, and each process its own fresh copy of libc (LD_LIBRARY_PATH): new files under
# /var/tmp, which node2 maps through /gfs/node1 with none of their pages cached, so both restored
# processes fault pages in through /gfs after their restore, each with its own uid, from files
# the restore (root) opened. Every grun must exit with its program's own status (root's 3,
# ssiuser's 4; a SIGBUS shows as 135) and pass on output identical to an unmigrated run.
# Exit 0 pass, 77 skip (reason on the last line), else fail. Always removes its lab (trap).
set -u -o pipefail
. "$(dirname "$0")/lib.bash"
lab_init mig-conc-$$
ticker=$build/tests/progs/mig_ticker
need_lab_host --no-nft su
need_bins ssid ssictl grun "$ticker"
lab_trap
lab_work /var/tmp/mig-conc-work-$$
rounds=${SSI_CONC_ROUNDS:-6}
lines=8

t0=$(now)
lab_up -n 3
wait_sees 1 2 3
wait_sees 2 1

"$ticker" $lines 20 3 >"$work/ref.txt"
libc=$(ldd "$ticker" | awk '$1 ~ /^libc\.so/ {print $3}')
[ -f "$libc" ] || skip "no libc.so found in ldd $ticker"
# run R WHO EXIT: grun -n node2 of ticker copy $work/t$R, with libc copy $work/R-WHO/, as WHO
# into $work/R-WHO.{out,err,rc} (the redirections by root: ssiuser may not write in $work)
# Under `make san` grun's pre-exec child carries ASan's sparse shadow mappings, too big to
# checkpoint within the freeze time-out: grun starts the ticker at home (500 ms a line; the
# output does not depend on it) and both exec'd tickers are moved with gmigrate at once (san_move).
run() {
	local f=$work/$1-$2 g="LD_LIBRARY_PATH=$work/$1-$2 grun -n node2 $work/t$1 $lines 20 $3"
	[ -n "${SSI_SANITIZED:-}" ] && g="LD_LIBRARY_PATH=$work/$1-$2 GRUN_VERBOSE=1 grun $work/t$1 $lines 500 $3"
	[ "$2" = root ] || g="su ssiuser -s /bin/sh -c '$g'"
	X_TIMEOUT=30 X 1 bash -c "$g >$f.out 2>$f.err; echo \$? >$f.rc" >/dev/null 2>&1
}
# san_move R: gmigrate the tickers of round R (root's and ssiuser's) to node2 at the same time
san_move() {
	local who g m=()
	for who in root ssiuser; do
		(g=$(grun_gpid "$work/$1-$who.err") && wait_until 5 0.05 exec_done "$g" &&
			X 1 gmigrate "$g" node2 >/dev/null 2>&1 ||
			echo "FAIL round $1, $who: sanitizer build: gmigrate ${g:-(no gpid)} node2") &
		m+=($!)
	done
	wait "${m[@]}"
}
[ -n "${SSI_SANITIZED:-}" ] && echo "note: sanitizer build: started at home by grun and moved by gmigrate instead of grun -n node2"
sigbus=0
for ((r = 1; r <= rounds; r++)); do
	cp "$ticker" "$work/t$r" && chmod 755 "$work/t$r"
	mkdir -p "$work/$r-root" "$work/$r-ssiuser"
	cp "$libc" "$work/$r-root/" && cp "$libc" "$work/$r-ssiuser/"
	run $r root 3 &
	p1=$!
	run $r ssiuser 4 &
	p2=$!
	[ -n "${SSI_SANITIZED:-}" ] && san_move $r | grep FAIL && fails=$((fails + 1))
	wait $p1 $p2
	for w in root:3 ssiuser:4; do
		who=${w%:*} want=${w#*:} f=$work/$r-${w%:*}
		rc=$(cat "$f.rc" 2>/dev/null)
		[ "$rc" = 135 ] && sigbus=$((sigbus + 1))
		if [ "$rc" = "$want" ] && cmp -s "$f.out" "$work/ref.txt"; then
			ok "round $r, $who: exit $rc, $lines lines as unmigrated"
		else
			bad "round $r, $who: exit '$rc' (wanted $want), output: $(diff "$work/ref.txt" \
				"$f.out" | head -3 | tr '\n' ' ') $(tr '\n' ' ' <"$f.err" | head -c 300)"
		fi
	done
done
[ $sigbus = 0 ] && ok "no grun ended by SIGBUS in $rounds rounds" ||
	bad "$sigbus of $((2 * rounds)) grun ended by SIGBUS (135)"
echo "($(ms "$t0") ms)"

finish "mig_concurrent" grep -h 'ended here\|FAIL\|error' "$LAB_DIR/node2/ssid.log"
