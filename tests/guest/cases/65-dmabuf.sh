# ibv_reg_dmabuf_mr on rxe: udmabuf over memfds, the system dma-heap and the
# tests' own exporter (moves and revokes during traffic), many MRs on one
# buffer, closed fds, process exit and bad input; each sub-test reports its
# own PHYRLAB-TEST line as dmabuf.<name>.
# phyrlab-timeout: 900
. "$(dirname "$0")/../lib.sh"
load_test_exporter || fail "cannot load the test exporter"
# udmabuf refuses buffers above 64 MiB unless told otherwise
echo 2048 > /sys/module/udmabuf/parameters/size_limit_mb
bounded 900 dmabuf_reg -d rxe0 || fail "dmabuf_reg"
rmmod phyr_test_exporter || fail "the test exporter is still in use"
