# SPDX-License-Identifier: GPL-2.0
"""Two guests on one virtual wire (`phyrlab wire`).

Two QEMU processes, one vCPU each, joined by a virtual Ethernet link: each
guest's virtio NIC sends its frames as UDP datagrams on the host's loopback
address to the other QEMU, so nothing leaves this machine.  rxe runs on
each guest's NIC.  Pairs: ours with ours, then ours with stock 7.2 (the
same source and config without the series), so that wire compatibility
with stock rxe is tested: a changed header or ICRC makes the receiver drop
the packets and the transfers fail.  tests/guest/wire/run is what each
guest runs; both kernels are the `wire` variant (base plus the virtio NIC).

The pure part (the pairs' kernel command lines and NIC options) is tested
on the host by tests/host/test_lab.py.
"""

import concurrent.futures
import json
import os
import socket
import time

from common import *  # noqa: F401,F403
from kbuild import *  # noqa: F401,F403
from userspace import *  # noqa: F401,F403
from boot import *  # noqa: F401,F403

WIRE_PAIRS = (("ours", "ours"), ("ours", "stock"))
WIRE_ADDR = {"a": "192.0.2.1", "b": "192.0.2.2"}
WIRE_MAC = {"a": "52:54:00:00:02:01", "b": "52:54:00:00:02:02"}


def free_udp_ports(n):
    """n UDP ports on the loopback address that nothing holds now."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wire_guests(trees, ports):
    """For a pair of trees (side a, side b) and UDP ports (a's, b's): per
    side, its tree, the kernel command line words and the NIC options."""
    sides = ("a", "b")
    out = {}
    for i, side in enumerate(sides):
        peer = sides[1 - i]
        out[side] = {
            "tree": trees[i],
            "append": (f"phyrlab_wire={side},{WIRE_ADDR[side]},"
                       f"{WIRE_ADDR[peer]},{trees[i]},{trees[1 - i]}"),
            "nic": wire_nic(ports[i], ports[1 - i], WIRE_MAC[side]),
        }
    return out


def run_pair(trees, images, outroot, timeout):
    """Boot both guests of a pair at once; their results, prefixed."""
    name = "-".join(trees)
    guests = wire_guests(trees, free_udp_ports(2))
    script = tests_dir("guest", "wire", "run")
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        futs = {side: ex.submit(boot, images[g["tree"]], script,
                                os.path.join(outroot, f"{name}-{side}"),
                                mem="2G", smp=1, timeout=timeout,
                                extra_append=g["append"], nic=g["nic"])
                for side, g in guests.items()}
        done = {side: f.result() for side, f in futs.items()}
    results = []
    for side, (status, console) in sorted(done.items()):
        who = f"wire.{name}.{side}-{guests[side]['tree']}"
        bad = splats(console)
        for s in bad:
            print(f"\n=== kernel report ({who}) ===\n" + s)
        results += [(n.replace("guest.wire.", who + ".", 1), s)
                    for n, s in guest_results(console)]
        results.append((f"{who}.guest-exit-status",
                        "SUCCESS" if status == 0 else "FAILURE"))
        results.append((f"{who}.no-splats",
                        "FAILURE" if bad else "SUCCESS"))
        for line in console.splitlines():
            if line.startswith("wire: requester") or \
               "bandwidth not measured" in line or \
               line.startswith(" 65536 "):
                print(f"{who}: {line.strip()}")
    return results


def cmd_wire(args):
    t0 = time.time()
    ensure_host_packages()
    build_userspace()
    images = {t: build_kernel(t, "wire") for t in ("ours", "stock")}
    outroot = os.path.join(CACHE, "runs",
                           "wire-" + time.strftime("%Y%m%d-%H%M%S"))
    os.makedirs(outroot, exist_ok=True)
    results = []
    for trees in WIRE_PAIRS:
        log(f"wire: {trees[0]} (a) and {trees[1]} (b)")
        results += run_pair(trees, images, outroot, args.timeout)
    with open(os.path.join(outroot, "results.json"), "w") as fh:
        json.dump(dict(run_identity(), command="./phyrlab wire",
                       results=results), fh, indent=1)
    return report_results(results, outroot, t0)
