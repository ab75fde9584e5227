# SPDX-License-Identifier: GPL-2.0
# Helpers for guest test cases (sourced).

# Outstanding FOLL_PIN pins, system wide.  vmstat counters are per CPU and
# folded lazily: fold them first, or the difference is off by a threshold.
pin_balance() {
	echo 1 > /proc/sys/vm/stat_refresh 2>/dev/null
	awk '$1 == "nr_foll_pin_acquired" { a = $2 }
	     $1 == "nr_foll_pin_released" { r = $2 }
	     END { print a - r }' /proc/vmstat
}

fail() {
	echo "FAIL: $*"
	exit 1
}

# Run "$@" with a deadline; kill it and fail if it does not finish.
bounded() {
	local secs=$1
	shift
	timeout -k 5 "$secs" "$@"
}

# Start a server in the background, wait for it to listen on a TCP port.
wait_port() {
	local port=$1 i
	for i in $(seq 1 100); do
		ss -ltn 2>/dev/null | grep -q ":$port " && return 0
		sleep 0.2
	done
	return 1
}

# Wait until nothing listens on a TCP port any more (a server has exited).
wait_port_free() {
	local port=$1 i
	for i in $(seq 1 50); do
		ss -ltn 2>/dev/null | grep -q ":$port " || return 0
		sleep 0.2
	done
	return 1
}

# One server and one client of perftest tool $1 with arguments $2 (the
# client adds the server's address), on perftest's port.  While the client
# runs, the command $3 (optional) runs every 50 ms, its output in
# /run/bw-watch.log.  Logs in /run/bw-server.log and /run/bw-client.log;
# /run/bw-status says what failed, empty when nothing did.
perftest_once() {
	local tool=$1 args=$2 watch=${3:-true} srv cli
	: > /run/bw-status
	wait_port_free 18515
	bounded 120 $tool $args > /run/bw-server.log 2>&1 &
	srv=$!
	if ! wait_port 18515; then
		echo "the server did not listen" > /run/bw-status
		wait $srv
		return 1
	fi
	bounded 120 $tool $args 192.0.2.1 > /run/bw-client.log 2>&1 &
	cli=$!
	while kill -0 $cli 2>/dev/null; do
		$watch
		sleep 0.05
	done > /run/bw-watch.log 2>&1
	wait $cli || echo "client failed" >> /run/bw-status
	wait $srv || echo "server failed" >> /run/bw-status
	[ ! -s /run/bw-status ]
}

# perftest_once, tried up to three times while what fails is perftest's
# TSC sampling (r^2 < 0.9 on a busy emulated CPU: "Can't produce a
# report").  Returns 0 when both sides succeeded; 2 when, after the tries,
# the clock sampling failed on a side that got to its report and the only
# other failure is the peer's closing exchange, cut when that side exited
# (the transfers ran, the bandwidth is not measured); 1 otherwise, with
# /run/bw-status saying what failed.  The port is free on return.
perftest_pair() {
	local try side what clock_only=1 clock=0
	for try in 1 2 3; do
		perftest_once "$@" && break
		grep -q "Can't produce a report" /run/bw-*.log || break
		echo "try $try: perftest could not measure the clock"
	done
	wait_port_free 18515
	[ -s /run/bw-status ] || return 0
	grep -q "Can't produce a report" /run/bw-client.log /run/bw-server.log &&
		clock=1
	while read -r side what; do
		case "$side $what" in
		"client failed" | "server failed")
			grep -q "Can't produce a report" /run/bw-$side.log ||
			grep -q "Failed to exchange data" /run/bw-$side.log ||
				clock_only=0 ;;
		*)	clock_only=0 ;;
		esac
	done < /run/bw-status
	[ $clock = 1 ] || clock_only=0
	[ $clock_only = 1 ] || return 1
	echo "bandwidth not measured: perftest could not sample the clock ($(tr '\n' ' ' < /run/bw-status))"
	return 2
}

# GID index of the RoCE v2 IPv4 address on rxe0 (from ibv_devinfo -v).
roce_v2_gid_index() {
	ibv_devinfo -v -d "${1:-rxe0}" |
		sed -n 's/.*GID\[ *\([0-9]*\)\]:.*::ffff:.*RoCE v2.*/\1/p' | head -1
}

# A second host: network namespace "peer" joined to this one by a veth
# pair (198.51.100.1 here, 198.51.100.2 there), with an rxe device on each
# end: rxe_a (here) and rxe_b (in "peer"). Run commands there with
# "on_peer CMD...". RDMA devices are shared between namespaces (rdma system
# netns shared), but each rxe sends through its netdev's namespace.
two_hosts() {
	ip netns add peer || return 1
	ip link add veth_a type veth peer name veth_b || return 1
	ip link set veth_b netns peer
	ip addr add 198.51.100.1/24 dev veth_a
	ip link set veth_a up
	ip -n peer addr add 198.51.100.2/24 dev veth_b
	ip -n peer link set veth_b up
	ip -n peer link set lo up
	rdma link add rxe_a type rxe netdev veth_a || return 1
	ip netns exec peer rdma link add rxe_b type rxe netdev veth_b || return 1
}

two_hosts_down() {
	rdma link delete rxe_a 2>/dev/null
	ip netns exec peer rdma link delete rxe_b 2>/dev/null
	ip link delete veth_a 2>/dev/null
	ip netns delete peer 2>/dev/null
}

on_peer() {
	ip netns exec peer "$@"
}

# chaos's kill rounds on rxe0: $1 rounds within $2 seconds, all of which
# must run (a round took 2 s here, up to 2.3 s on a slow host).
kill_rounds() {
	local rounds=$1 secs=$2 log=/run/chaos-kill.log rc=0
	bounded $((secs + 50)) chaos -d rxe0 -r "$rounds" -D "$secs" \
		kill-rounds > "$log" 2>&1 || rc=1
	cat "$log"
	grep -q "kill-rounds: $rounds of $rounds rounds" "$log" ||
		{ echo "FAIL: fewer than $rounds kill rounds"; rc=1; }
	return $rc
}

# The dma-buf exporter of the tests (tests/kmod), built for this kernel by
# phyrlab, which names its directory on the kernel command line.
load_test_exporter() {
	[ -e /dev/phyr_test_exporter ] && return 0
	[ -n "$phyrlab_kmod" ] || { echo "no phyrlab_kmod: kernel without the test exporter"; return 1; }
	insmod "$phyrlab_kmod/phyr_test_exporter.ko" || return 1
	udevadm settle 2>/dev/null
	[ -e /dev/phyr_test_exporter ]
}
