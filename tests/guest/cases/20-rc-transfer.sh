# RDMA WRITE, READ, SEND and atomics between two RC QPs, data verified.
. "$(dirname "$0")/../lib.sh"
bounded 300 rc_transfer -d rxe0 -s $((4 << 20)) || fail "rc_transfer"
