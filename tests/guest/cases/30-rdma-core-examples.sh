# rdma-core's own examples over rxe: RC and UD ping-pong and rping (RDMA CM).
. "$(dirname "$0")/../lib.sh"
gid=$(roce_v2_gid_index)
[ -n "$gid" ] || fail "no RoCE v2 IPv4 GID: $(ibv_devinfo -v -d rxe0)"
for prog in ibv_rc_pingpong ibv_ud_pingpong; do
	extra=
	[ $prog = ibv_ud_pingpong ] && extra="-s 1024"
	bounded 60 $prog -d rxe0 -g $gid -n 100 $extra > /run/srv.log 2>&1 &
	srv=$!
	wait_port 18515 || fail "$prog server did not listen"
	bounded 60 $prog -d rxe0 -g $gid -n 100 $extra 127.0.0.1 || fail "$prog client"
	wait $srv || { cat /run/srv.log; fail "$prog server"; }
	grep -q "100 iters" /run/srv.log || fail "$prog: $(cat /run/srv.log)"
done
bounded 60 rping -s -a 192.0.2.1 -C 20 -V -S 4096 > /run/rping.log 2>&1 &
srv=$!
# rping listens through the RDMA CM, not a TCP socket: retry until it answers
ok=
for i in $(seq 1 20); do
	if bounded 60 rping -c -a 192.0.2.1 -C 20 -V -S 4096; then
		ok=1
		break
	fi
	sleep 1
done
[ -n "$ok" ] || fail "rping client"
wait $srv || { cat /run/rping.log; fail "rping server"; }
