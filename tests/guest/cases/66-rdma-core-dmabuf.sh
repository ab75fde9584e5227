# rdma-core's own dma-buf MR tests (tests/test_mr.py: DmaBufMRTest and
# DmaBufTestCase) on rxe, with pyverbs allocating host dma-bufs (udmabuf)
# instead of GPU ones: every one of them must run and pass, none skip.
# phyrlab-timeout: 900
. "$(dirname "$0")/../lib.sh"
echo 2048 > /sys/module/udmabuf/parameters/size_limit_mb
log=/run/rdma-core-dmabuf.log
bounded 800 "$PHYRLAB_RDMA_CORE/bin/run_tests.py" --dev rxe0 -v \
	-k DmaBufMRTest -k DmaBufTestCase > "$log" 2>&1
rc=$?
cat "$log"
# -k keeps only DmaBufMRTest and DmaBufTestCase; -v ends each with
# "... ok" or "... skipped '<why>'"
ran=$(grep -c '\.\.\. ok$' "$log")
skipped=$(grep -c '\.\.\. skipped' "$log")
echo "rdma-core dma-buf tests: $ran passed, $skipped skipped, exit $rc"
[ "$rc" -eq 0 ] || fail "run_tests.py exited $rc"
[ "$skipped" -eq 0 ] || fail "$skipped dma-buf tests skipped"
[ "$ran" -ge 10 ] || fail "only $ran dma-buf tests ran"
grep -q '^OK$' "$log" || fail "unittest did not report OK"
