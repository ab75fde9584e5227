# Two hosts on one guest: rxe over a veth pair between network namespaces.
# RC ping-pong and ib_write_bw cross the veth in both directions.
. "$(dirname "$0")/../lib.sh"
trap two_hosts_down EXIT
two_hosts || fail "could not set up the second host"
ga=$(roce_v2_gid_index rxe_a)
gb=$(roce_v2_gid_index rxe_b)
[ -n "$ga" ] && [ -n "$gb" ] || fail "no RoCE v2 GIDs: a='$ga' b='$gb'"
on_peer timeout 60 ibv_rc_pingpong -d rxe_b -g "$gb" -n 50 > /run/peer.log 2>&1 &
srv=$!
for i in $(seq 1 100); do
	on_peer ss -ltn | grep -q ":18515 " && break
	sleep 0.2
done
timeout 60 ibv_rc_pingpong -d rxe_a -g "$ga" -n 50 198.51.100.2 ||
	fail "ibv_rc_pingpong across namespaces"
wait $srv || { cat /run/peer.log; fail "peer server"; }
grep -q "50 iters" /run/peer.log || fail "peer: $(cat /run/peer.log)"
# the other way round, with perftest
timeout 60 ib_write_bw -d rxe_a -x "$ga" -s 65536 -n 100 > /run/bw.log 2>&1 &
srv=$!
for i in $(seq 1 100); do
	ss -ltn | grep -q ":18515 " && break
	sleep 0.2
done
out=$(on_peer timeout 60 ib_write_bw -d rxe_b -x "$gb" -s 65536 -n 100 198.51.100.1) ||
	{ echo "$out"; cat /run/bw.log; fail "ib_write_bw from the peer"; }
wait $srv || { cat /run/bw.log; fail "ib_write_bw server"; }
echo "$out" | awk '$1 == 65536 { found = 1; if ($4 <= 0) exit 1 } END { exit !found }' ||
	fail "no bandwidth from the peer: $out"
