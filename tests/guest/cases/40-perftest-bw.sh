# perftest ib_write_bw, ib_read_bw and ib_send_bw over rxe each report a
# non-zero bandwidth: the guest knows its TSC frequency. Functional checks
# of registration and data movement, not timing assertions.  A tool whose
# clock sampling still fails after three tries is left unmeasured, but at
# least one tool must measure.
. "$(dirname "$0")/../lib.sh"
gid=$(roce_v2_gid_index)
grep -q "^cpu MHz" /proc/cpuinfo || fail "no cpu MHz in /proc/cpuinfo"
measured=0
for tool in ib_write_bw ib_read_bw ib_send_bw; do
	perftest_pair $tool "-d rxe0 -x $gid -s 65536 -n 200"
	case $? in
	0) ;;
	2) continue ;;
	*) cat /run/bw-*.log; fail "$tool: $(cat /run/bw-status)" ;;
	esac
	out=$(cat /run/bw-client.log)
	echo "$out"
	line=$(echo "$out" | awk '$1 == 65536 && NF >= 5')
	[ -n "$line" ] || fail "$tool: no result line"
	echo "$line" | awk '{ exit !($4 > 0 && $5 > 0) }' ||
		fail "$tool: zero bandwidth: $line"
	measured=$((measured + 1))
done
[ $measured -gt 0 ] || fail "no tool could measure the clock"
