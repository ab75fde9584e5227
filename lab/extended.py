# SPDX-License-Identifier: GPL-2.0
"""The extended checks (`phyrlab extended`): what does not fit the test
command's time.

- Every commit of the series compiled with allmodconfig -Werror, on what
  it touches (the test command does so at the last commit only).
- A KCSAN kernel (KCSAN and KASAN exclude each other) boots and runs the
  tests that race the rxe look-up fast path and the dma-buf publish
  protocol.  Every KCSAN report naming our code fails the check; reports
  elsewhere in the kernel are listed, not judged.
- The whole chaos run on the debug kernel: 100 rounds of killing the
  processes of RDMA traffic, then the whole churn (8 threads x 10,000
  registrations, no deadline); the test command runs a shorter one.
- rdma-core's whole test suite runs on stock 7.2 and on ours (the bench
  kernels: same source, same config), and the two are compared per test:
  ours must pass every test that stock passes.

The pure parts (reading the suite's log, sorting KCSAN reports) are
tested on the host by tests/host/test_lab.py.
"""

import json
import os
import re
import time

from common import *  # noqa: F401,F403
from kbuild import *  # noqa: F401,F403
from userspace import *  # noqa: F401,F403
from boot import *  # noqa: F401,F403
from checks import series_check

# Functions of the code the series adds or changes, and of the tests'
# exporter: a KCSAN report whose race names one of them is ours.
OUR_CODE = re.compile(r"\b(rxe_\w+|ib_umem\w*|phyr_\w+|dma_buf_\w*phyr\w*|"
                      r"udmabuf\w*|system_heap\w*|pte_\w+|"
                      r"ib_uverbs\w*dmabuf\w*|vfio_pci\w*dma_buf\w*)")

# "test_x (tests.test_mr.MRTest.test_x) ... ok", possibly with the first
# line of the test's docstring between the name and the verdict, or with
# a line the test printed between "..." and the verdict.
SUITE_LINE = re.compile(
    r"^(test\w*) \(([\w.]+)\)(?:\n(?:(?!test\w* \()[^\n])*)?"
    r" \.\.\. (?:[^\n]*\n)?"
    r"(ok|skipped|FAIL|ERROR|expected failure|unexpected success)",
    re.M)


def suite_results(log_text):
    """Per-test verdicts of a unittest -v log: {test id: verdict}, verdict
    one of pass, skip, fail."""
    out = {}
    for m in SUITE_LINE.finditer(log_text):
        name, where, word = m.groups()
        tid = where if where.endswith("." + name) else f"{where}.{name}"
        out[tid] = {"ok": "pass", "expected failure": "pass",
                    "skipped": "skip"}.get(word, "fail")
    return out


def suite_compare(stock, ours):
    """Tests that pass on stock and not on ours, and a count table."""
    regressions = sorted(t for t, v in stock.items()
                         if v == "pass" and ours.get(t) != "pass")
    counts = {}
    for name, res in (("stock", stock), ("ours", ours)):
        counts[name] = {v: sum(1 for x in res.values() if x == v)
                        for v in ("pass", "skip", "fail")}
    return regressions, counts


def kcsan_reports(console):
    """KCSAN reports in the console, each from its "BUG: KCSAN:" line to
    the rule that closes it, split: (ours, elsewhere)."""
    ours, other = [], []
    lines = console.splitlines()
    for i, line in enumerate(lines):
        if "BUG: KCSAN:" not in line:
            continue
        j = i + 1
        while j < len(lines) and j - i < 200 and "=====" not in lines[j] \
                and "BUG: KCSAN:" not in lines[j]:
            j += 1
        rep = "\n".join(lines[i:j])
        (ours if OUR_CODE.search(line) else other).append(rep)
    return ours, other


def run_suite(tree, outroot):
    image = build_kernel(tree, "bench")
    out = os.path.join(outroot, f"rdma-core-{tree}")
    os.makedirs(out, exist_ok=True)
    status, console = boot(image, tests_dir("guest", "extended",
                                            "rdma-core-suite"), out,
                           timeout=3600, verbose=False)
    logf = os.path.join(out, "rdma-core-suite.log")
    text = read(logf, errors="replace") if os.path.exists(logf) else ""
    return suite_results(text), splats(console), status


def cmd_extended(args):
    t0 = time.time()
    ensure_host_packages()
    build_userspace()
    outroot = os.path.join(CACHE, "runs",
                           "extended-" + time.strftime("%Y%m%d-%H%M%S"))
    os.makedirs(outroot, exist_ok=True)
    results = []
    summary = dict(run_identity(), command="./phyrlab extended" +
                   (" --no-series" if args.no_series else "") +
                   (" --no-kcsan" if args.no_kcsan else "") +
                   (" --no-churn" if args.no_churn else "") +
                   (" --no-suite" if args.no_suite else ""))

    if not args.no_series:
        results += series_check(full=True)

    if not args.no_kcsan:
        image = build_kernel("ours", "kcsan")
        kmod = build_test_module("ours", "kcsan")
        out = os.path.join(outroot, "kcsan")
        status, console = boot(image, tests_dir("guest", "extended",
                                                "kcsan-races"), out,
                               timeout=2400, verbose=args.verbose,
                               kmod=kmod, p2p=True)
        # a KCSAN that never switched on finds nothing: that is no pass
        results.append(("kcsan.enabled", "SUCCESS" if
                        re.search(r"kcsan: enabled early", console)
                        else "FAILURE"))
        ours, other = kcsan_reports(console)
        for rep in ours:
            print("\n=== KCSAN report in our code ===\n" + rep)
        for rep in other:
            print("\n--- KCSAN report elsewhere (not judged) ---\n" +
                  rep.splitlines()[0])
        results += [(f"kcsan.{n}", s) for n, s in
                    guest_results(console)]
        results.append(("kcsan.guest-exit-status",
                        "SUCCESS" if status == 0 else "FAILURE"))
        results.append(("kcsan.no-reports-in-our-code",
                        "FAILURE" if ours else "SUCCESS"))
        summary["kcsan"] = {"ours": [r.splitlines()[0] for r in ours],
                            "elsewhere": [r.splitlines()[0]
                                          for r in other]}

    if not args.no_churn:
        image = build_kernel("ours", "debug")
        kmod = build_test_module("ours", "debug")
        out = os.path.join(outroot, "churn")
        status, console = boot(image, tests_dir("guest", "extended",
                                                "churn"), out,
                               timeout=3300, verbose=args.verbose,
                               kmod=kmod, p2p=True)
        bad = splats(console)
        for s in bad:
            print("\n=== kernel report (churn) ===\n" + s)
        results += [(n.replace("guest.", "churn.", 1), s)
                    for n, s in guest_results(console)]
        results.append(("churn.guest-exit-status",
                        "SUCCESS" if status == 0 else "FAILURE"))
        results.append(("churn.no-splats",
                        "FAILURE" if bad else "SUCCESS"))
        m = re.search(r"churn: (\d+) registrations of (\d+) .* in "
                      r"([\d.]+) s", console)
        summary["churn"] = {"registrations": int(m[1]), "target": int(m[2]),
                            "seconds": float(m[3])} if m else None

    if not args.no_suite:
        res = {}
        for tree in ("stock", "ours"):
            res[tree], bad, status = run_suite(tree, outroot)
            results.append((f"rdma-core-suite.{tree}-ran",
                            "SUCCESS" if res[tree] else "FAILURE"))
            results.append((f"rdma-core-suite.{tree}-no-splats",
                            "FAILURE" if bad else "SUCCESS"))
            for s in bad:
                print(f"\n=== kernel report ({tree}) ===\n" + s)
        regressions, counts = suite_compare(res["stock"], res["ours"])
        for t in regressions:
            print(f"passes on stock, not on ours: {t} "
                  f"({res['ours'].get(t, 'missing')})")
        for tree in ("stock", "ours"):
            c = counts[tree]
            print(f"rdma-core suite on {tree}: {c['pass']} passed, "
                  f"{c['skip']} skipped, {c['fail']} failed")
        gained = sorted(t for t, v in res["ours"].items()
                        if v == "pass" and res["stock"].get(t) != "pass")
        print(f"passing on ours only: {len(gained)}")
        results.append(("rdma-core-suite.ours-passes-all-stock-passes",
                         "FAILURE" if regressions else "SUCCESS"))
        summary["rdma_core_suite"] = {"counts": counts,
                                      "regressions": regressions,
                                      "ours_only": gained,
                                      "per_test": res}

    with open(os.path.join(outroot, "results.json"), "w") as fh:
        json.dump(summary, fh, indent=1)
    return report_results(results, outroot, t0)
