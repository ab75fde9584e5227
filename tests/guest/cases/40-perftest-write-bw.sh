# perftest ib_write_bw over rxe reports a non-zero bandwidth: the guest
# knows its TSC frequency. A functional check, not a timing assertion.
. "$(dirname "$0")/../lib.sh"
gid=$(roce_v2_gid_index)
grep -q "^cpu MHz" /proc/cpuinfo || fail "no cpu MHz in /proc/cpuinfo"
bounded 120 ib_write_bw -d rxe0 -x $gid -s 65536 -n 200 > /run/bw-server.log 2>&1 &
srv=$!
wait_port 18515 || fail "ib_write_bw server did not listen"
out=$(bounded 120 ib_write_bw -d rxe0 -x $gid -s 65536 -n 200 192.0.2.1) ||
	{ echo "$out"; cat /run/bw-server.log; fail "ib_write_bw client"; }
wait $srv || { cat /run/bw-server.log; fail "ib_write_bw server"; }
echo "$out"
line=$(echo "$out" | awk '$1 == 65536 && NF >= 5')
[ -n "$line" ] || fail "no result line"
echo "$line" | awk '{ exit !($4 > 0 && $5 > 0) }' ||
	fail "zero bandwidth: $line"
