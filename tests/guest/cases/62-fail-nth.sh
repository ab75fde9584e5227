# Systematic fault injection (/proc/thread-self/fail-nth): ibv_reg_mr on
# anonymous, THP, hugetlbfs, memfd and ODP memory, ibv_rereg_mr,
# ibv_reg_dmabuf_mr on udmabuf, the system dma-heap and the tests' own
# exporter, ibv_dereg_mr and QP teardown, each failing at its 1st, 2nd, ...
# fault-injection point until it runs through: clean errors, pins and
# dma-buf importers back where they were, MRs that registered anyway
# working; each sub-test reports its own PHYRLAB-TEST line as
# failnth.<name>.
# phyrlab-timeout: 900
. "$(dirname "$0")/../lib.sh"
[ -e /proc/thread-self/fail-nth ] || {
	echo "no /proc/thread-self/fail-nth: kernel without fault injection"
	exit 77
}
load_test_exporter || fail "cannot load the test exporter"
# udmabuf refuses buffers above 64 MiB unless told otherwise
echo 2048 > /sys/module/udmabuf/parameters/size_limit_mb
# 2 MiB hugetlb pages: up to four for a private mapping, two for a memfd
huge=/proc/sys/vm/nr_hugepages
was=$(cat $huge)
[ "$was" -ge 8 ] || echo 8 > $huge
rc=0
log=/run/fail-nth.log
bounded 800 fail_nth -d rxe0 > "$log" 2>&1 || rc=$?
cat "$log"
echo "$was" > $huge
rmmod phyr_test_exporter || fail "the test exporter is still in use"
[ "$rc" -eq 77 ] && exit 77
[ "$rc" -eq 0 ] || fail "fail_nth (exit $rc)"
# the issue's floor: at least 500 injections in all, every one clean
total=$(sed -n 's/^failnth: injections.*, total \([0-9]*\);.*/\1/p' "$log")
[ "${total:-0}" -ge 500 ] || fail "only ${total:-no} injections in all"
