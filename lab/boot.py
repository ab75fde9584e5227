# SPDX-License-Identifier: GPL-2.0
"""Booting a kernel under QEMU and reading its console: splats, KTAP,
guest verdicts."""

from common import *  # noqa: F401,F403
from kbuild import *  # noqa: F401,F403


# --------------------------------------------------------------------------
# Booting


# A PCI peer-to-peer playground: a RAM-backed BAR (ivshmem) behind a PCIe
# switch as the P2P source, one device beside it behind the same switch
# (P2P by bus address) and one on the root bus (through the host bridge,
# or refused), both pci-testdev, which no driver takes.
P2P_DEVICES = [
    "-device", "pcie-root-port,id=p2p_rp,bus=pcie.0,chassis=1,slot=1",
    "-device", "x3130-upstream,id=p2p_up,bus=p2p_rp",
    "-device", "xio3130-downstream,id=p2p_dn1,bus=p2p_up,chassis=2,slot=0",
    "-device", "xio3130-downstream,id=p2p_dn2,bus=p2p_up,chassis=3,slot=0",
    "-object", "memory-backend-ram,id=p2p_mem,size=64M",
    "-device", "ivshmem-plain,memdev=p2p_mem,bus=p2p_dn1",
    "-device", "pci-testdev,bus=p2p_dn2",
    "-device", "pci-testdev,bus=pcie.0",
]


def wire_nic(local_port, peer_port, mac):
    """QEMU options for a virtio NIC whose frames go, as UDP datagrams on
    the loopback address, to the QEMU listening on peer_port, and come from
    it to local_port: a virtual wire between two guests."""
    return ["-netdev", f"socket,id=wire,udp=127.0.0.1:{peer_port},"
            f"localaddr=127.0.0.1:{local_port}",
            "-device", f"virtio-net-pci,netdev=wire,mac={mac}"]


def icount_options(shift):
    """QEMU options for a guest whose clock counts its own instructions.

    With -icount shift=N, virtual time (and so the TSC, jiffies and every
    clock the guest reads) advances 2**N ns per guest instruction executed,
    whatever the host is doing; sleep=off skips idle time to the next
    timer at once. A time measured in such a guest is an instruction count
    in disguise: the same code path gives the same time in every boot, so
    two kernels' paths can be ranked to well under 1%. It is not a
    machine's speed: every instruction costs the same, whatever it does,
    and caches, branches and TLBs cost nothing."""
    return ["-icount", f"shift={shift},align=off,sleep=off"]


def boot(image, script, out, mem="4G", smp=2, timeout=900, extra_append="",
         verbose=False, iommu=False, kmod=None, p2p=False, nic=None,
         icount=None):
    """Boot image, run script in the guest, return (status, console).
    nic: QEMU options of a network card (wire_nic); none by default.
    icount: run the guest on QEMU's instruction-count clock, 2**icount ns
    a guest instruction (see icount_options()); None: the host's clock."""
    os.makedirs(out, exist_ok=True)
    console = os.path.join(out, "console.log")
    init = os.path.join(ROOT, "lab", "guest-init")
    # no5lvl: "-cpu max" offers LA57, and a KASAN kernel with 5-level
    # paging can report a false wild-memory-access from an interrupt that
    # lands while identify_cpu() has the boot CPU's feature bits cleared
    # (KASAN's shadow range follows X86_FEATURE_LA57); seen once in about
    # 50 boots, at 0.003 s, in handle_edge_irq().  Nothing tested here
    # depends on the paging depth.
    # tsc=reliable: TCG's TSC follows the host clock, but under load the
    # clocksource watchdog saw it skew against the emulated HPET and
    # switched to the HPET (at 99 s and at 138 s of two guests); every
    # gettimeofday() then traps, and perftest's clock sampling failed in
    # almost every run after that (r^2 < 0.9, "Can't produce a report").
    append = ("console=ttyS0,115200 root=rootfs rootfstype=9p "
              "rootflags=trans=virtio,version=9p2000.L,msize=524288,cache=loose ro "
              f"init={init} panic=-1 no5lvl tsc=reliable "
              "loglevel=7 "
              f"phyrlab_script={script} phyrlab_out={out} "
              f"phyrlab_userspace={os.path.join(CACHE, 'userspace.env')} "
              + (f"phyrlab_kmod={kmod} " if kmod else "")
              + extra_append)
    if iommu:
        append += " intel_iommu=on"
        if p2p:
            # QEMU's Intel IOMMU has no interrupt remapping here; VFIO
            # refuses type1 without it unless told
            append += " vfio_iommu_type1.allow_unsafe_interrupts=1"
    elif p2p:
        # VFIO without an IOMMU, for the P2P source's dma-buf
        append += " vfio.enable_unsafe_noiommu_mode=1"
    cmd = ["qemu-system-x86_64", "-machine", "q35", "-accel", QEMU_ACCEL,
           "-cpu", "max", "-smp", str(smp), "-m", mem, "-nographic",
           "-no-reboot", "-nic", "none", "-kernel", image,
           "-append", append]
    if iommu:
        # before any PCI device, so that all of them sit behind it
        cmd += ["-device", "intel-iommu"]
    if p2p:
        cmd += P2P_DEVICES
    if nic:
        cmd += nic
    if icount is not None:
        cmd += icount_options(icount)
    cmd += [
           "-virtfs", "local,path=/,mount_tag=rootfs,security_model=none,"
           "readonly=on,multidevs=remap",
           "-virtfs", f"local,path={out},mount_tag=phyrlab_out,"
           "security_model=none,multidevs=remap"]
    t0 = time.time()
    timed_out = False
    with open(console, "wb") as fh:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = t0 + timeout
        os.set_blocking(p.stdout.fileno(), False)
        while True:
            chunk = p.stdout.read()
            if chunk:
                fh.write(chunk)
                fh.flush()
                if verbose:
                    sys.stdout.buffer.write(chunk)
                    sys.stdout.flush()
            if p.poll() is not None:
                rest = p.stdout.read()
                if rest:
                    fh.write(rest)
                break
            if time.time() > deadline:
                timed_out = True
                p.kill()
                p.wait()
                break
            time.sleep(0.05)
    text = read(console, errors="replace")
    m = re.findall(r"^PHYRLAB-EXIT: (\d+)", text, re.M)
    if timed_out:
        status = None
        log(f"guest timed out after {timeout} s (hard limit); console "
            f"{console}")
    elif not m:
        status = None
        log(f"guest stopped without reporting a status; console {console}")
    else:
        status = int(m[-1])
    log(f"guest ran {time.time() - t0:.0f} s")
    return status, text


def splats(console):
    """Kernel reports in the console, each printed whole."""
    lines = console.splitlines()
    found = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if SPLAT.search(line) and not line.startswith("PHYRLAB"):
            j = i + 1
            while j < len(lines) and j - i < 120 and \
                    "---[ end trace" not in lines[j - 1] and \
                    "PHYRLAB" not in lines[j] and \
                    not (lines[j].strip() == "" and j - i > 3):
                j += 1
            found.append("\n".join(lines[i:j]))
            i = j
        else:
            i += 1
    return found


def ktap_results(console, ksrc, out):
    """Per-test KUnit results from the console, parsed by the kernel's own
    KTAP parser (tools/testing/kunit): list of (name, status)."""
    sys.path.insert(0, os.path.join(ksrc, "tools", "testing", "kunit"))
    import kunit_parser
    from kunit_printer import null_printer
    lines = [l + "\n" for l in console.splitlines()
             if not l.startswith("PHYRLAB")]
    tree = kunit_parser.parse_run_tests(lines, null_printer)
    results = []

    def walk(test, prefix):
        name = f"{prefix}.{test.name}" if prefix else test.name
        if test.subtests:
            for t in test.subtests:
                walk(t, name if prefix or test.name != "main" else "")
        else:
            results.append((name, test.status.name))
    if tree.status.name == "FAILURE_TO_PARSE_TESTS":
        return [("kunit.ktap-output", "FAILURE_TO_PARSE_TESTS")]
    walk(tree, "")
    with open(os.path.join(out, "kunit.json"), "w") as fh:
        json.dump(results, fh, indent=1)
    return results


def guest_results(console):
    return [(f"guest.{m[0]}", "SUCCESS" if m[1] == "PASS" else
             "SKIPPED" if m[1] == "SKIP" else "FAILURE")
            for m in re.findall(r"^PHYRLAB-TEST: (\S+) (PASS|FAIL|SKIP)",
                                console, re.M)]
