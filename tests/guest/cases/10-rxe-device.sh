# rxe0 exists on dummy0 and its port is active.
. "$(dirname "$0")/../lib.sh"
rdma link show | grep -q "rxe0/1 state ACTIVE.*netdev dummy0" ||
	fail "rdma link show: $(rdma link show)"
out=$(ibv_devinfo -d rxe0) || fail "ibv_devinfo failed"
echo "$out"
echo "$out" | grep -q "state:.*PORT_ACTIVE" || fail "rxe0 port not active"
echo "$out" | grep -q "transport:.*InfiniBand" || fail "unexpected transport"
