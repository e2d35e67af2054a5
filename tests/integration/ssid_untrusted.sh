#!/usr/bin/env bash
# ssid_untrusted.sh - issue 3 trust: in a 4-node lab where nobody trusts node4's key, nodes
# 1-3 see each other up, none of them lists node4 as up, node4 sees nobody up, and each of
# nodes 1-3 records the refusal of node4's key in `ssictl events`.
# Exit 0 pass, 77 skip (reason on the last line), else fail. Always removes its lab (trap).
set -u -o pipefail
. "$(dirname "$0")/lib.bash"
lab_init ssid-unt-$$
need_lab_host
need_bins ssid ssictl
lab_trap

L up -n 4 --untrusted 4 >/dev/null || { bad "ssi-lab up -n 4 --untrusted 4"; exit 1; }
L status >/dev/null || { bad "the lab $SSI_LAB_NAME is gone right after up"; exit 1; }
sleep 4
key4=$(timeout 10 bash "$lab" exec 4 -- ssictl keygen | grep -o 'SHA256:[^ ]*')
[ -n "$key4" ] && ok "node4's key is $key4" || bad "cannot read node4's key fingerprint"
for k in 1 2 3; do
	for j in 1 2 3; do
		[ $j = $k ] && continue
		s=$(lab_state $k node$j)
		[ "$s" = up ] && ok "node$k sees node$j up" || bad "node$k sees node$j $s"
	done
	s=$(lab_state $k node4)
	[ "$s" != up ] && ok "node$k does not list node4 as up ($s)" || bad "node$k sees untrusted node4 up"
	ev=$(timeout 10 bash "$lab" exec $k -- ssictl events -n 1000 | grep auth-refused)
	if [ -n "$key4" ] && grep -q -- "$key4" <<<"$ev"; then
		ok "node$k recorded the refusal of node4's key"
	else
		bad "node$k has no auth-refused event naming $key4: $ev"
	fi
done
for j in 1 2 3; do
	s=$(lab_state 4 node$j)
	[ "$s" != up ] && ok "node4 does not see node$j up ($s)" || bad "untrusted node4 sees node$j up"
done
timeout 10 bash "$lab" exec 4 -- ssictl events | grep -q "refused our key" &&
	ok "node4 records that its key was refused" || bad "node4 has no event about its refused key"

finish trust
