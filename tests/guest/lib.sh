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

# The dma-buf exporter of the tests (tests/kmod), built for this kernel by
# phyrlab, which names its directory on the kernel command line.
load_test_exporter() {
	[ -e /dev/phyr_test_exporter ] && return 0
	[ -n "$phyrlab_kmod" ] || { echo "no phyrlab_kmod: kernel without the test exporter"; return 1; }
	insmod "$phyrlab_kmod/phyr_test_exporter.ko" || return 1
	udevadm settle 2>/dev/null
	[ -e /dev/phyr_test_exporter ]
}
