# Chaos: a server, a client and the owner of their dma-bufs killed at random
# moments during RDMA traffic over plain and dma-buf MRs (nothing of the
# dead left behind), and threads churning registrations of every kind of
# memory while the tests' exporter moves, revokes and restores the buffers
# under them; each sub-test reports its own PHYRLAB-TEST line as
# chaos.<name>.  Here 30 kill rounds run and churn runs for 45 seconds (the
# test command's time); 100 rounds and the whole 8 x 10,000 are in
# `phyrlab extended`.
# phyrlab-timeout: 600
. "$(dirname "$0")/../lib.sh"
load_test_exporter || fail "cannot load the test exporter"
# udmabuf refuses buffers above 64 MiB unless told otherwise
echo 2048 > /sys/module/udmabuf/parameters/size_limit_mb
rc=0
kill_rounds 30 200 || rc=1
bounded 200 chaos -d rxe0 -D 45 churn || rc=1
rmmod phyr_test_exporter || fail "the test exporter is still in use"
[ "$rc" -eq 0 ] || fail "chaos"
