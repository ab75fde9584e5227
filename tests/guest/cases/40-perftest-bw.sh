# perftest ib_write_bw, ib_read_bw and ib_send_bw over rxe each report a
# non-zero bandwidth: the guest knows its TSC frequency. Functional checks
# of registration and data movement, not timing assertions.
. "$(dirname "$0")/../lib.sh"
gid=$(roce_v2_gid_index)
grep -q "^cpu MHz" /proc/cpuinfo || fail "no cpu MHz in /proc/cpuinfo"
for tool in ib_write_bw ib_read_bw ib_send_bw; do
	bounded 120 $tool -d rxe0 -x $gid -s 65536 -n 200 \
		> /run/bw-server.log 2>&1 &
	srv=$!
	wait_port 18515 || fail "$tool server did not listen"
	out=$(bounded 120 $tool -d rxe0 -x $gid -s 65536 -n 200 192.0.2.1) ||
		{ echo "$out"; cat /run/bw-server.log; fail "$tool client"; }
	wait $srv || { cat /run/bw-server.log; fail "$tool server"; }
	echo "$out"
	line=$(echo "$out" | awk '$1 == 65536 && NF >= 5')
	[ -n "$line" ] || fail "$tool: no result line"
	echo "$line" | awk '{ exit !($4 > 0 && $5 > 0) }' ||
		fail "$tool: zero bandwidth: $line"
	# the server's port must be free before the next tool listens on it
	wait_port_free 18515
done
