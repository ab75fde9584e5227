# SPDX-License-Identifier: GPL-2.0
# Helpers for guest test cases (sourced).

# Outstanding FOLL_PIN pins, system wide.
pin_balance() {
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

# GID index of the RoCE v2 IPv4 address on rxe0 (from ibv_devinfo -v).
roce_v2_gid_index() {
	ibv_devinfo -v -d "${1:-rxe0}" |
		sed -n 's/.*GID\[ *\([0-9]*\)\]:.*::ffff:.*RoCE v2.*/\1/p' | head -1
}
