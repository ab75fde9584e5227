# SPDX-License-Identifier: GPL-2.0
"""What every part of the lab shares: paths, constants, errors, logging,
running commands, files, git."""

import argparse
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import time
import urllib.request

import series as kseries  # noqa: F401 (lab/series.py)


ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
CACHE = os.path.realpath(os.environ.get(
    "PHYRLAB_CACHE", os.path.expanduser("~/.cache/rdma-phyr-lab")))
KERNEL_DIR = os.path.realpath(os.environ.get(
    "PHYRLAB_KERNEL_DIR", os.path.join(ROOT, "kernel")))
# Newest first.  trixie and bookworm only for sources the newer suites list
# but the archive does not serve (UCX's orig tarballs: see download_orig).
SUITES = ["sid", "forky", "trixie-backports", "trixie", "bookworm"]
KERNEL_PKG = "linux-source-7.2"
VARIANTS = ("base", "debug", "bench", "ibcheck", "kcsan", "wire", "trace")
# ibcheck is not a bootable kernel: allmodconfig, only drivers/infiniband/
# compiled, to check that every in-tree user of ib_umem still builds.
IBCHECK_TARGET = "drivers/infiniband/"
TREES = ("ours", "stock")
APT_NEEDS = {
    "qemu-system-x86_64": "qemu-system-x86",
    "ccache": "ccache",
    "flex": "flex",
    "bison": "bison",
    "bc": "bc",
    "ninja": "ninja-build",
    "cmake": "cmake",
    "pkg-config": "pkg-config",
    "cython3": "cython3",
    "autoreconf": "autoconf",
    "automake": "automake",
    "libtoolize": "libtool",
    "rdma": "iproute2",
    "insmod": "kmod",
    "gnuplot": "gnuplot-nox",
}
APT_HEADERS = {
    "/usr/include/libelf.h": "libelf-dev",
    "/usr/include/openssl/ssl.h": "libssl-dev",
    "/usr/include/libnl3/netlink/netlink.h": "libnl-3-dev",
    "/usr/include/libnl3/netlink/route/link.h": "libnl-route-3-dev",
    "/usr/include/libudev.h": "libudev-dev",
    "/usr/include/python3.11/Python.h": "python3-dev",
    "/usr/include/x86_64-linux-gnu/pci/pci.h": "libpci-dev",
}

SPLAT = re.compile(
    r"(BUG: |WARNING: |KASAN|UBSAN|Oops|general protection fault|"
    r"Kernel panic|possible circular locking|possible recursive locking|"
    r"inconsistent lock state|suspicious RCU usage|unreferenced object|"
    r"INFO: task .* blocked|list_(add|del) corruption|"
    r"kernel BUG at|Unable to handle|refcount_t: )")


class LabError(Exception):
    pass


def log(msg):
    print(f"phyrlab: {msg}", file=sys.stderr, flush=True)


def run(cmd, cwd=None, env=None, quiet=False, logfile=None, check=True):
    """Run a command; on failure raise with the command and the log tail."""
    if logfile:
        with open(logfile, "w") as fh:
            p = subprocess.run(cmd, cwd=cwd, env=env, stdout=fh,
                               stderr=subprocess.STDOUT)
    elif quiet:
        p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    else:
        p = subprocess.run(cmd, cwd=cwd, env=env)
    if check and p.returncode:
        tail = ""
        if logfile:
            with open(logfile, errors="replace") as fh:
                tail = "".join(fh.readlines()[-40:])
        elif quiet:
            tail = p.stdout[-4000:]
        raise LabError(f"command failed ({p.returncode}): "
                       f"{' '.join(map(str, cmd))}\n{tail}")
    return p


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def read(path, mode="r", errors=None):
    with open(path, mode, errors=errors) as fh:
        return fh.read()


def write_if_changed(path, data):
    """Replace path with data unless it already holds it (keeps mtimes)."""
    if isinstance(data, str):
        data = data.encode()
    try:
        if read(path, "rb") == data:
            return False
    except OSError:
        pass
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".phyrlab-tmp"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)  # new inode: never writes through a hard link
    return True



def git(args, cwd, quiet=True):
    return run(["git", "-c", "user.name=phyrlab", "-c",
                "user.email=phyrlab@localhost"] + args, cwd=cwd, quiet=quiet)


GIT_ID = ["-c", "user.name=phyr lab", "-c", "user.email=phyr@localhost"]


def tests_dir(*p):
    return os.path.join(ROOT, "tests", *p)


# Guests run under TCG everywhere, also where /dev/kvm exists: the same
# emulation on every machine the lab runs on.
QEMU_ACCEL = "tcg"


def run_identity():
    """What a results file must say of its run: the series (a digest of
    its patches, and the repository commit), the date and the host."""
    h = hashlib.sha256()
    for p in kseries.series_paths(KERNEL_DIR):
        h.update(read(p, "rb"))
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    cpu = next((l.split(":", 1)[1].strip() for l in
                read("/proc/cpuinfo").splitlines()
                if l.startswith("model name")), platform.machine())
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--",
                            "kernel", "lab", "benchmarks", "tests"],
                           capture_output=True, text=True).stdout.strip()
    return {"series_sha256": h.hexdigest()[:16], "commit": commit or None,
            "uncommitted_changes": bool(dirty) if commit else None,
            "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            "host": platform.node(), "cpu": cpu,
            "cpus": os.cpu_count(), "qemu_accel": QEMU_ACCEL}


def report_results(results, outroot, t0):
    """Print a command's [(name, status)] verdicts, where its output went
    and how long it took; the command's exit status."""
    print()
    for name, st in results:
        word = {"SUCCESS": "PASS", "SKIPPED": "SKIP"}.get(st, "FAIL")
        print(f"{word:4} {name}")
    failed = sum(1 for _, s in results if s not in ("SUCCESS", "SKIPPED"))
    print(f"\nresults: {outroot}; took {time.time() - t0:.0f} s")
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0
