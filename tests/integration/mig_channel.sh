#!/usr/bin/env bash
# mig_channel.sh - issue 6, the image channel (migrate/imgchan.h, ssid/mig_imgch.c): a move's
# image on a TCP connection of its own, keyed inside the SSH link, and its fall-backs to the
# SSH link. On a 3-node lab, a process with 48 MiB of dirty memory (dirtymem, which checks
# every page on SIGUSR1) and a ticker printing into a pipe:
#   1. dirtymem 1 -> 2 with the defaults: node2 took the image on the channel; every page
#      intact after the move (dirtymem says "ok");
#   2. node2's source cannot open the channel (SSI_FAULT mig.image_channel): the move 2 -> 3
#      still succeeds, the image over the SSH link (node2 says so in its log); pages intact;
#   3. node2 restarted with `[migrate] image_channel = ssh`: the move 3 -> 2 offers no
#      channel and goes over the SSH link; pages intact;
#   4. a real cut (ssi-lab cut, nft: every packet, the channel's too) of node2 <-> node1 for
#      4 s while the image of the move 2 -> home is in flight (the stream paused by SSI_FAULT
#      mig.mid_stream:pause at node2):
#      the process runs on exactly one node afterwards and every page is intact, whatever
#      the outcome;
#   5. the ticker moved 1 -> 2 -> 3 -> home meanwhile (2 -> 3 after case 2 over the SSH
#      link: node2 does not try node3's channel again within 5 min of that failure): output
#      byte-identical to an unmigrated run, exit status arrives.
# Exit 0 pass, 77 skip (reason on the last line), else fail. Always removes its lab (trap).
set -u -o pipefail
. "$(dirname "$0")/lib.bash"
lab_init mig-chan-$$
ticker=$build/tests/progs/mig_ticker
dirty=$build/tests/progs/dirtymem
need_lab_host
need_bins ssid ssictl grun gmigrate gkill "$ticker" "$dirty"
# shellcheck disable=SC2034 # read by lib.bash's X
X_TIMEOUT=40
# SSI_KEEP_LOGS=PREFIX: on failure keep the nodes' ssid logs as PREFIX.nodeN.log
keep_logs() {
	[ $fails -gt 0 ] && [ -n "${SSI_KEEP_LOGS:-}" ] || return 0
	for k in 1 2 3; do cp "$SSI_LAB_DIR/node$k/ssid.log" "$SSI_KEEP_LOGS.node$k.log"; done
}
lab_before_down keep_logs
lab_trap
lab_work /var/tmp/mig-chan-work-$$

lab_up -n 3
SSI_FAULT="mig.image_channel:fail@1" L restart 2 >/dev/null || { bad "restart node2"; exit 1; }
sleep 3 # links up again

# dirtymem on node1 under grun; its stdout (ready / ok / BAD) in $work/d.out
(X 1 bash -c "GRUN_VERBOSE=1 grun $dirty 48 2>$work/d.err >$work/d.out") &
drunner=$!
dgpid=$(grun_gpid "$work/d.err") || { bad "grun printed no gpid: $(cat "$work/d.err")"; exit 1; }
wait_until 20 0.1 grep -q ready "$work/d.out" || { bad "dirtymem not ready"; exit 1; }
# pages_ok WHAT: SIGUSR1 through gkill, then a new "ok" line (and no BAD) in its output
pages_ok() {
	local n0
	n0=$(grep -c '^ok' "$work/d.out")
	X 1 gkill -USR1 "$dgpid" >/dev/null 2>&1 || { bad "$1: gkill -USR1 $dgpid failed"; return; }
	if wait_until 20 0.1 same $((n0 + 1)) grep -c '^ok' "$work/d.out" &&
		! grep -q BAD "$work/d.out"; then
		ok "$1: every page intact"
	else
		bad "$1: page check: $(tail -3 "$work/d.out" | tr '\n' ' ')"
	fi
}
# dmove NODE N WHAT: gmigrate dirtymem to NODE; it must then run on node N only
dmove() {
	local j w
	j=$(X 1 gmigrate --json "$dgpid" "$1" 2>&1)
	[[ $j == *'"outcome": "moved"'* ]] && ok "$3: moved ($(echo "$j" | tr -d '\n' | cut -c1-200))" ||
		bad "$3: gmigrate $dgpid $1: $j"
	w=$(lab_where dirtymem)
	[ "$w" = "$2" ] && ok "$3: it runs on node$2 only" || bad "$3: it runs on: $w"
}

start_piped_run "$ticker" 150 60

# 1. the channel
p2=$(lab_logpos 2)
dmove node2 2 "1 -> 2 on the image channel"
lab_seen 2 "$p2" "comes from node 1 on the image channel" &&
	ok "node2's log: the image came on the image channel" ||
	bad "node2 did not take the image on the channel: $(tail -5 "$LAB_DIR/node2/ssid.log")"
pages_ok "after 1 -> 2"

# the ticker to node2 on the channel (it goes on to node3 after case 2)
j=$(X 1 gmigrate --json "$gpid" node2 2>&1)
[[ $j == *'"outcome": "moved"'* ]] && ok "ticker 1 -> 2" || bad "ticker 1 -> 2: $j"

# 2. the source cannot open it: over the SSH link
p2=$(lab_logpos 2) p3=$(lab_logpos 3)
dmove node3 3 "2 -> 3, no channel at the source"
lab_seen 2 "$p2" "image channel to node 3: fault injected at mig.image_channel; the image goes over the SSH link" &&
	ok "node2's log: the image went over the SSH link" ||
	bad "node2's log does not say it fell back: $(tail -5 "$LAB_DIR/node2/ssid.log")"
lab_seen 3 "$p3" "on the image channel" && bad "node3 took an image on the channel" ||
	ok "node3 took the image from the SSH link"
pages_ok "after 2 -> 3"
# node2 -> node3 again within 5 min of that failure: not tried again, over the SSH link
p2=$(lab_logpos 2)
j=$(X 1 gmigrate --json "$gpid" node3 2>&1)
[[ $j == *'"outcome": "moved"'* ]] && ok "ticker 2 -> 3" || bad "ticker 2 -> 3: $j"
lab_seen 2 "$p2" "image channel to node 3: not tried: connecting failed" &&
	ok "node2 did not try node3's channel again after its failure" ||
	bad "node2 tried node3's channel again: $(grep 'image channel' "$LAB_DIR/node2/ssid.log" | tail -2)"

# 3. the destination offers none (node2 restarted with image_channel = ssh, and a pause in
# its 3rd chunk as a source for case 4)
printf '[migrate]\nimage_channel = ssh\n' >>"$LAB_DIR/node2/etc/ssid.conf"
SSI_FAULT="mig.mid_stream:pause@3" SSI_FAULT_PAUSE_MS=2500 L restart 2 >/dev/null ||
	{ bad "restart node2"; exit 1; }
wait_until 15 0.2 lab_links_up || bad "node2's links did not come back"
p2=$(lab_logpos 2) p3=$(lab_logpos 3)
dmove node2 2 "3 -> 2, image_channel = ssh at node2"
lab_seen 2 "$p2" "on the image channel" && bad "node2 took an image on the channel" ||
	ok "node2 (image_channel = ssh) took the image from the SSH link"
lab_seen 3 "$p3" "image channel to node 2" && bad "node3 tried a channel node2 never offered" ||
	ok "node3 did not try a channel"
pages_ok "after 3 -> 2"

# the ticker (its stdout a pipe on node1) back home, over the SSH link from node3
j=$(X 1 gmigrate --json "$gpid" home 2>&1)
[[ $j == *'"outcome": "moved"'* ]] && ok "ticker 3 -> home" || bad "ticker 3 -> home: $j"

# 4. a real cut while the image is in flight (2 -> home): the 3rd chunk pauses 2.5 s at
# node2, the link (and the channel: nft drops every packet between the two) is cut meanwhile
(X 1 gmigrate --json "$dgpid" home >"$work/cut.json" 2>&1; echo $? >"$work/cut.rc") &
mover=$!
wait_until 10 0.05 grep -q "fault mig.mid_stream: pause" "$LAB_DIR/node2/ssid.log" ||
	bad "node2's stream did not pause"
cut_closes 2 1 4 "a 4 s cut mid-image"
wait "$mover"
w=$(lab_where dirtymem)
case $w in
1 | 2) ok "after the cut mid-image it runs on node$w only ($(tr -d '\n' <"$work/cut.json" | cut -c1-160))" ;;
*) bad "after the cut mid-image it runs on: $w ($(cat "$work/cut.json"))" ;;
esac
wait_until 15 0.2 lab_links_up || bad "the links did not come back after the cut"
pages_ok "after the cut"

check_piped_run "$runner"
X 1 gkill -TERM "$dgpid" >/dev/null 2>&1
wait "$drunner" 2>/dev/null
finish "image channel"
