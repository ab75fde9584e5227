# SPDX-License-Identifier: GPL-2.0
"""The test command: host checks, the series checks, the guest boots and
their verdicts."""

from common import *  # noqa: F401,F403
from sources import *  # noqa: F401,F403
from kbuild import *  # noqa: F401,F403
from userspace import *  # noqa: F401,F403
from boot import *  # noqa: F401,F403


def host_unit_tests():
    """tests/host: unit tests of the lab's pure parts, one verdict each."""
    import unittest
    suite = unittest.TestLoader().discover(tests_dir("host"),
                                           top_level_dir=tests_dir("host"))
    results = []

    class Collect(unittest.TestResult):
        def addSuccess(self, test):
            results.append((f"host.{test.id()}", "SUCCESS"))

        def addFailure(self, test, err):
            super().addFailure(test, err)
            results.append((f"host.{test.id()}", "FAILURE"))

        def addError(self, test, err):
            super().addError(test, err)
            results.append((f"host.{test.id()}", "FAILURE"))

        def addSkip(self, test, reason):
            results.append((f"host.{test.id()}", "SKIPPED"))

    r = Collect()
    suite.run(r)
    for test, tb in r.failures + r.errors:
        print(f"--- {test.id()}:\n{tb}")
    return results or [("host.any-test-ran", "FAILURE")]


def host_checks():
    """Checks of the lab's own error handling, run on the host."""
    results = host_unit_tests()
    scratch = os.path.join(CACHE, "selftest")
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch)
    me = os.path.join(ROOT, "phyrlab")

    def expect(name, argv, env_extra, pattern):
        env = dict(os.environ, **env_extra)
        p = subprocess.run([me] + argv, env=env, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        ok = p.returncode == 2 and re.search(pattern, p.stdout) is not None
        if not ok:
            print(f"--- {name}: exit {p.returncode}, output:\n{p.stdout}")
        results.append((f"lab.{name}", "SUCCESS" if ok else "FAILURE"))

    empty = os.path.join(scratch, "empty-cache")
    os.makedirs(empty)
    expect("missing-kernel-image", ["run", "--tree", "stock", "--variant",
                                    "bench", tests_dir("guest", "run-all")],
           {"PHYRLAB_CACHE": empty}, r"no kernel image for stock-bench")
    expect("missing-image-file", ["run", "--image", "/nonexistent/bzImage",
                                  tests_dir("guest", "run-all")], {},
           r"kernel image /nonexistent/bzImage does not exist")
    expect("package-not-found", ["locate", "phyrlab-no-such-package"], {},
           r"package phyrlab-no-such-package not found in suites sid, "
           r"forky, trixie-backports")
    bad = os.path.join(scratch, "kernel")
    os.makedirs(os.path.join(bad, "lib"))
    with open(os.path.join(bad, "lib", "0001-bad.patch"), "w") as fh:
        fh.write("--- a/Makefile\n+++ b/Makefile\n@@ -1,1 +1,1 @@\n"
                 "-this line is not in the kernel Makefile\n+x\n")
    with open(os.path.join(bad, "series"), "w") as fh:
        fh.write("lib/0001-bad.patch\n")
    expect("patch-does-not-apply", ["tree"], {"PHYRLAB_KERNEL_DIR": bad},
           r"patch kernel/lib/0001-bad.patch does not apply")
    shutil.rmtree(scratch)
    results.append(checkpatch())
    return results


CHECKPATCH_OPTS = ["--strict", "-q", "--show-types"]
# Directories the series is compiled in, allmodconfig with -Werror: those
# the series touches (lib/ by its objects: the whole of lib/ under
# allmodconfig is mostly tests that the series cannot break).  The test
# command compiles all of them once, at the last commit; `phyrlab series
# --full` (and `phyrlab extended`) also compiles, at each commit, the part
# of them the commit touches (kseries.commit_build_targets()).
SERIES_DIRS = ["drivers/dma-buf/", "drivers/vfio/pci/", "drivers/infiniband/"]
# The same for the debug config, at every commit in the test command: the
# part of them each commit touches, all of them at the last commit and at
# each commit that changes a header (no link: the last commit's build is
# the test kernel, linked and booted).
SERIES_DEBUG_DIRS = ["lib/", "drivers/base/", "drivers/dma-buf/",
                     "drivers/vfio/pci/", "drivers/infiniband/"]
# Still 1 since each commit compiles only what it touches: a verdict made
# when every commit compiled all of the directories is one of a stronger
# check, and holds.  A verdict holds the checks made so far: the test
# command's leaves out the allmodconfig build of all but the last commit,
# which the full check adds to it.
VERDICT_VERSION = "1"


def checkpatch_one(ksrc, path):
    """checkpatch.pl --strict on one patch: '' when clean."""
    p = subprocess.run([os.path.join(ksrc, "scripts", "checkpatch.pl")] +
                       CHECKPATCH_OPTS + [path], text=True, cwd=ksrc,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return p.stdout if p.returncode or p.stdout.strip() else ""


def kernel_doc_one(tree, rel):
    """scripts/kernel-doc -Wall -none on one file: '' when clean."""
    p = subprocess.run([os.path.join(tree, "scripts", "kernel-doc"),
                        "-Wall", "-none", rel], text=True, cwd=tree,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return p.stdout if p.returncode or p.stdout.strip() else ""


def new_kernel_doc_warnings(tree, rel):
    """kernel-doc warnings of a file in tree that the pristine file does
    not have already (upstream's own stay upstream's)."""
    def norm(out):
        return [re.sub(r":\d+\b", ":", l) for l in out.splitlines()
                if l.strip()]
    mine = norm(kernel_doc_one(tree, rel))
    pristine = kernel_source()
    theirs = set(norm(kernel_doc_one(pristine, rel))) \
        if os.path.exists(os.path.join(pristine, rel)) else set()
    return "\n".join(l for l in mine if l not in theirs)


def lib_objects(patches):
    """lib/ objects the given patches add or change."""
    objs = set()
    for p in patches:
        for f in patch_paths(p):
            if f.startswith("lib/") and f.endswith(".c"):
                objs.add(f[:-2] + ".o")
    return sorted(objs)


def series_check(full=False):
    """Each commit of the series: checkpatch --strict, and what it touches
    of the series' directories compiled with the debug config (the last
    commit all of them); all of them compiled with allmodconfig -Werror at
    the last commit, and with full, what each commit touches of them at
    every commit.  A config with none of the commit's files has no verdict.
    Verdicts are cached by the content of the series up to that commit,
    the config fragments and the compiler; a cached verdict that lacks a
    check gets it added.  The last commit's allmodconfig build of all the
    directories is a check of its own ("ibcheck-all"): a commit checked
    when it was not the last one compiled only what it touches, which
    does not stand for it once it is."""
    ksrc = kernel_source()
    patches = series()
    datas = [read(p, "rb") for p in patches]
    gcc = run(["gcc", "--version"], quiet=True).stdout.splitlines()[0]
    extra = (fragment("debug"), fragment("ibcheck"), gcc, VERDICT_VERSION,
             " ".join(SERIES_DIRS + SERIES_DEBUG_DIRS))
    vdir = os.path.join(CACHE, "series-verdicts")
    os.makedirs(vdir, exist_ok=True)
    results = []
    built = False
    for k, p in enumerate(patches):
        name = os.path.basename(p)[:4] + "-" + \
            re.sub(r"[^A-Za-z0-9]+", "-",
                   kseries.subject(datas[k].decode("utf-8", "replace")))[:48]
        key = kseries.series_key(datas[:k + 1], *extra)
        vfile = os.path.join(vdir, key + ".json")
        v = json.loads(read(vfile)) if os.path.exists(vfile) else {}
        text = datas[k].decode("utf-8", "replace")
        last = k == len(patches) - 1
        wanted = ["checkpatch", "debug"] + \
            (["ibcheck-all"] if last else ["ibcheck"] if full else [])
        if "checkpatch" not in v:
            msg = checkpatch_one(ksrc, p)
            v["checkpatch"] = "FAILURE" if msg else "SUCCESS"
            if msg:
                print(f"--- checkpatch {kernel_rel(p)}:\n{msg}")
        for check, variant, dirs in (
                ("debug", "debug", kseries.commit_build_targets(
                    text, SERIES_DEBUG_DIRS, last)),
                ("ibcheck-all" if last else "ibcheck", "ibcheck",
                 kseries.commit_build_targets(text, SERIES_DIRS, last) +
                 lib_objects(patches[:k + 1]))):
            if check not in wanted or check in v:
                continue
            if not dirs:
                # nothing of this commit is in the config's directories
                v[check] = "NONE"
                continue
            try:
                build_kernel("ours", variant, targets=dirs,
                             patches=patches[:k + 1])
                v[check] = "SUCCESS"
            except LabError as e:
                print(f"--- build of {kernel_rel(p)} ({variant}):\n{e}")
                v[check] = "FAILURE"
            built = True
        if all(x in ("SUCCESS", "NONE") for x in v.values()):
            write_if_changed(vfile, json.dumps(v, sort_keys=True))
        results += [(f"series.{name}.{check}", v[key]) for check, key in
                    (("checkpatch", "checkpatch"), ("build-debug", "debug"),
                     ("build-allmodconfig", "ibcheck"),
                     ("build-allmodconfig", "ibcheck-all"))
                    if key in wanted and v[key] != "NONE"]
    if built:
        prepare_tree("ours")   # back to the whole series
    return results


def series_static_checks():
    """The series as a whole: round trip, no whole files, kernel-doc."""
    results = []
    # kernel/ holds the series, its patches and config fragments only
    stray = kseries.stray_files(KERNEL_DIR)
    for f in stray:
        print(f"--- kernel/{f} is not a patch of kernel/series")
    results.append(("series.no-whole-files", "FAILURE" if stray
                    else "SUCCESS"))
    # worktree + export reproduces every patch byte for byte
    wt = os.path.join(CACHE, "roundtrip")
    shutil.rmtree(wt, ignore_errors=True)
    ok = True
    try:
        make_worktree(wt)
        again = format_series(wt)
        mine = [(os.path.basename(p), read(p, "rb")) for p in series()]
        if again != mine:
            ok = False
            for (n1, d1), (n2, d2) in zip(mine, again):
                if n1 != n2 or d1 != d2:
                    print(f"--- round trip: {n1} came back as {n2}"
                          f"{'' if d1 == d2 else ' with other bytes'}")
            if len(again) != len(mine):
                print(f"--- round trip: {len(mine)} patches, "
                      f"{len(again)} back")
        homes = [kseries.patch_rel(n, d) for n, d in again]
        listed = kseries.parse_series(read(os.path.join(KERNEL_DIR,
                                                        "series")))
        if homes != listed:
            ok = False
            print(f"--- round trip: patches would move: {homes} "
                  f"against {listed}")
    except LabError as e:
        ok = False
        print(f"--- round trip: {e}")
    results.append(("series.export-round-trip-identical",
                    "SUCCESS" if ok else "FAILURE"))
    # kernel-doc -Wall on every C file and header the series adds or changes
    bad = []
    if os.path.isdir(wt):
        for p in series():
            for f in sorted(patch_paths(p)):
                if f.endswith((".c", ".h")) and \
                        os.path.exists(os.path.join(wt, f)):
                    msg = new_kernel_doc_warnings(wt, f)
                    if msg:
                        bad.append(f)
                        print(f"--- kernel-doc {f}:\n{msg}")
        results.append(("series.kernel-doc-clean", "FAILURE" if bad
                        else "SUCCESS"))
    shutil.rmtree(wt, ignore_errors=True)
    return results


def checkpatch():
    """scripts/checkpatch.pl --strict over the tests' kernel module (the
    series' patches are checked one by one in series_check())."""
    ksrc = kernel_source()
    cp = [os.path.join(ksrc, "scripts", "checkpatch.pl")] + \
        CHECKPATCH_OPTS + ["--no-tree"]
    bad = []
    kmod = tests_dir("kmod")
    for f in sorted(os.listdir(kmod)):
        if f.endswith((".c", ".h")):
            p = subprocess.run(cp + ["-f", os.path.join(kmod, f)], text=True,
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
            if p.returncode or p.stdout.strip():
                bad.append(p.stdout)
    for b in bad:
        print("--- checkpatch:\n" + b)
    return ("lint.checkpatch-strict-test-module",
            "FAILURE" if bad else "SUCCESS")


def cmd_series(args):
    """The series checks of the test command alone; with --full, every
    commit also compiled with allmodconfig."""
    ensure_host_packages()
    results = series_static_checks() + series_check(full=args.full)
    for name, st in results:
        print(f"{'PASS' if st == 'SUCCESS' else 'FAIL':4} {name}")
    failed = sum(1 for _, s in results if s != "SUCCESS")
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


def cmd_test(args):
    t0 = time.time()
    ensure_host_packages()
    results = host_checks()
    results += series_static_checks()
    results += series_check()
    image = build_kernel("ours", "debug")
    kmod = build_test_module("ours", "debug")
    build_userspace()
    out = os.path.join(CACHE, "runs", "test-" + time.strftime("%Y%m%d-%H%M%S"))
    status, console = boot(image, tests_dir("guest", "run-all"), out,
                           timeout=args.timeout, verbose=args.verbose,
                           kmod=kmod, p2p=True)
    kunit = ktap_results(console, prepare_tree("ours"), out)
    if not kunit:
        kunit = [("kunit.any-suite-ran", "FAILURE")]
    results += [(f"kunit.{n}", s) for n, s in kunit]
    guest = guest_results(console)
    if not guest:
        guest = [("guest.any-test-ran", "FAILURE")]
    results += guest
    results.append(("guest.exit-status", "SUCCESS" if status == 0
                    else "FAILURE"))
    results.append(("dma.fallback-path-without-iommu",
                    "SUCCESS" if "no IOMMU: per-range fallback" in console
                    else "FAILURE"))
    bad = splats(console)

    # Second boot: q35 with an emulated Intel IOMMU, only the DMA suites.
    out2 = out + "-iommu"
    status2, console2 = boot(image, tests_dir("guest", "iommu-p2p"), out2,
                             timeout=600, verbose=args.verbose, iommu=True,
                             extra_append="kunit.filter_glob=phyr.*dma*",
                             kmod=kmod, p2p=True)
    kunit2 = ktap_results(console2, prepare_tree("ours"), out2)
    # a skip here means the IOMMU path did not run: a failure
    results += [(f"kunit-iommu.{n}", "FAILURE" if s == "SKIPPED" else s)
                for n, s in kunit2] or [("kunit-iommu.any-suite-ran",
                                         "FAILURE")]
    results += [(n.replace("guest.", "guest-iommu.", 1), st)
                for n, st in guest_results(console2)] or \
        [("guest-iommu.any-test-ran", "FAILURE")]
    results.append(("dma.one-iova-range-with-iommu",
                    "SUCCESS" if "IOMMU domain: one IOVA range" in console2
                    else "FAILURE"))
    results.append(("guest-iommu.exit-status",
                    "SUCCESS" if status2 == 0 else "FAILURE"))
    bad += splats(console2)
    for s in bad:
        print("\n=== kernel report in the guest console ===\n" + s)
    results.append(("kernel.no-splats", "FAILURE" if bad else "SUCCESS"))

    print()
    for name, st in results:
        word = {"SUCCESS": "PASS", "SKIPPED": "SKIP"}.get(st, "FAIL")
        print(f"{word:4} {name}" + ("" if word != "FAIL" or st == "FAILURE"
                                    else f" ({st})"))
    passed = sum(1 for _, s in results if s == "SUCCESS")
    skipped = sum(1 for _, s in results if s == "SKIPPED")
    failed = len(results) - passed - skipped
    print(f"\nconsole: {os.path.join(out, 'console.log')}; "
          f"took {time.time() - t0:.0f} s")
    print(f"{passed} passed, {failed} failed" +
          (f", {skipped} skipped" if skipped else ""))
    return 1 if failed else 0
