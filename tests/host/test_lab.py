# SPDX-License-Identifier: GPL-2.0
"""Host-side unit tests of the lab's pure parts: the series layout and
round trip, guest verdict parsing, KTAP parsing, report statistics.
Run by './phyrlab test' (python3 -m unittest discover tests/host)."""

import functools
import importlib.machinery
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.realpath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "lab"))
import series  # noqa: E402


def load_phyrlab():
    loader = importlib.machinery.SourceFileLoader(
        "phyrlab_script", os.path.join(ROOT, "phyrlab"))
    spec = importlib.util.spec_from_loader("phyrlab_script", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


PATCH = """From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001
From: phyr lab <phyr@localhost>
Subject: [PATCH] RDMA/rxe: a subject that goes on
 over two lines

Body.

Signed-off-by: phyr lab <phyr@localhost>
---
diff --git a/drivers/infiniband/sw/rxe/rxe_mr.c b/drivers/infiniband/sw/rxe/rxe_mr.c
index 1111111..2222222 100644
--- a/drivers/infiniband/sw/rxe/rxe_mr.c
+++ b/drivers/infiniband/sw/rxe/rxe_mr.c
@@ -1,3 +1,4 @@
 a
-b
+c
+d
 e
diff --git a/include/rdma/ib_umem.h b/include/rdma/ib_umem.h
index 3333333..4444444 100644
--- a/include/rdma/ib_umem.h
+++ b/include/rdma/ib_umem.h
@@ -1,1 +1,2 @@
 x
+--- not a header line
"""


class SeriesLayout(unittest.TestCase):
    def test_parse_skips_comments_and_blanks(self):
        self.assertEqual(series.parse_series(
            "# head\nlib/0001-a.patch  # why\n\n  drivers/0002-b.patch\n"),
            ["lib/0001-a.patch", "drivers/0002-b.patch"])

    def test_files_and_counts(self):
        self.assertEqual(series.patch_files(PATCH),
                         ["drivers/infiniband/sw/rxe/rxe_mr.c",
                          "include/rdma/ib_umem.h"])
        self.assertEqual(series.changed_lines(PATCH),
                         {"drivers/infiniband/sw/rxe/rxe_mr.c": 3,
                          "include/rdma/ib_umem.h": 1})

    def test_home_is_folder_of_file_changed_most(self):
        self.assertEqual(series.patch_home(PATCH),
                         "drivers/infiniband/sw/rxe")

    def test_home_tie_goes_to_first_file(self):
        p = PATCH.replace("+--- not a header line\n",
                          "+1\n+2\n+3\n+4\n+5\n")
        # 3 lines in rxe_mr.c against 6 in ib_umem.h now
        self.assertEqual(series.patch_home(p), "include/rdma")
        p = PATCH.replace("+--- not a header line\n", "+1\n+2\n+3\n")
        self.assertEqual(series.patch_home(p), "drivers/infiniband/sw/rxe")

    def test_subject_unfolds(self):
        self.assertEqual(series.subject(PATCH),
                         "RDMA/rxe: a subject that goes on over two lines")

    def test_key_depends_on_order_and_extra(self):
        a, b = b"one", b"two"
        self.assertNotEqual(series.series_key([a, b]),
                            series.series_key([b, a]))
        self.assertNotEqual(series.series_key([a], "x"),
                            series.series_key([a], "y"))
        # no ambiguity from concatenation
        self.assertNotEqual(series.series_key([b"ab", b"c"]),
                            series.series_key([b"a", b"bc"]))

    def test_write_series_round_trip_and_strays(self):
        d = tempfile.mkdtemp()
        try:
            os.makedirs(os.path.join(d, "configs"))
            open(os.path.join(d, "configs", "x.config"), "w").close()
            rels = series.write_series(
                d, [("0001-a.patch", PATCH.encode())])
            self.assertEqual(rels, ["drivers/infiniband/sw/rxe/0001-a.patch"])
            self.assertEqual(series.series_paths(d),
                             [os.path.join(d, rels[0])])
            self.assertEqual(series.stray_files(d), [])
            # a second export replaces the first, and empty folders go
            p2 = PATCH.replace("+c\n+d\n", "+c\n")
            p2 = p2.replace("+--- not a header line\n", "+1\n+2\n+3\n")
            rels = series.write_series(d, [("0001-a.patch", p2.encode())])
            self.assertEqual(rels, ["include/rdma/0001-a.patch"])
            self.assertFalse(os.path.exists(os.path.join(d, "drivers")))
            # a whole file under kernel/ is reported
            os.makedirs(os.path.join(d, "lib"))
            open(os.path.join(d, "lib", "phyr.c"), "w").close()
            self.assertEqual(series.stray_files(d), ["lib/phyr.c"])
        finally:
            shutil.rmtree(d)

    def test_missing_patch_is_an_error(self):
        d = tempfile.mkdtemp()
        try:
            with open(os.path.join(d, "series"), "w") as fh:
                fh.write("lib/0001-gone.patch\n")
            with self.assertRaisesRegex(series.SeriesError, "0001-gone"):
                series.series_paths(d)
        finally:
            shutil.rmtree(d)

    def test_commit_build_targets(self):
        scope = ["drivers/dma-buf/", "drivers/infiniband/"]
        only_c = PATCH.split("diff --git a/include")[0]
        # a C file: its own directory, not the rest of the scope
        self.assertEqual(series.commit_build_targets(only_c, scope),
                         ["drivers/infiniband/sw/rxe/"])
        # a header that was there before: everything
        self.assertEqual(series.commit_build_targets(PATCH, scope), scope)
        # the last commit: everything
        self.assertEqual(series.commit_build_targets(only_c, scope, True),
                         scope)
        # outside the scope: nothing
        self.assertEqual(series.commit_build_targets(
            only_c, ["drivers/vfio/pci/"]), [])
        # a header the commit adds, and a Makefile above the C file: the
        # Makefile's directory, which holds the other
        new = ("diff --git a/drivers/infiniband/sw/rxe/rxe_new.h "
               "b/drivers/infiniband/sw/rxe/rxe_new.h\n"
               "new file mode 100644\nindex 0000000..1111111\n"
               "--- /dev/null\n+++ b/drivers/infiniband/sw/rxe/rxe_new.h\n"
               "@@ -0,0 +1 @@\n+x\n"
               "diff --git a/drivers/infiniband/sw/Makefile "
               "b/drivers/infiniband/sw/Makefile\n"
               "index 1111111..2222222 100644\n"
               "--- a/drivers/infiniband/sw/Makefile\n"
               "+++ b/drivers/infiniband/sw/Makefile\n@@ -1 +1,2 @@\n x\n+y\n")
        self.assertEqual(series.added_files(new),
                         ["drivers/infiniband/sw/rxe/rxe_new.h"])
        self.assertEqual(series.commit_build_targets(only_c + new, scope),
                         ["drivers/infiniband/sw/"])

    def test_repository_series_commits_build_what_they_touch(self):
        """The first commit, an rxe fix, compiles rxe alone; the last one
        changes include/rdma/ib_umem.h, so even not taken as the last it
        compiles every directory."""
        paths = series.series_paths(os.path.join(ROOT, "kernel"))
        scope = ["drivers/dma-buf/", "drivers/infiniband/"]
        with open(paths[0], errors="replace") as fh:
            self.assertEqual(series.commit_build_targets(fh.read(), scope),
                             ["drivers/infiniband/sw/rxe/"])
        with open(paths[-1], errors="replace") as fh:
            text = fh.read()
        self.assertIn("include/rdma/ib_umem.h", series.patch_files(text))
        self.assertEqual(series.commit_build_targets(text, scope), scope)

    def test_repository_series_has_no_strays(self):
        kdir = os.path.join(ROOT, "kernel")
        self.assertEqual(series.stray_files(kdir), [])
        self.assertTrue(series.series_paths(kdir))


class SeriesCheckModes(unittest.TestCase):
    """The test command compiles every commit with the debug config and
    only the last one with allmodconfig; --full adds allmodconfig at the
    other commits to their cached verdicts, and compiles nothing twice."""

    def test_allmodconfig_at_the_last_commit_unless_full(self):
        from unittest import mock
        import checks
        d = tempfile.mkdtemp()
        try:
            only_c = PATCH.split("diff --git a/include")[0]
            paths = []
            for i in range(3):
                paths.append(os.path.join(d, f"000{i + 1}-p.patch"))
                with open(paths[-1], "w") as fh:
                    fh.write(only_c.replace("a subject",
                                            f"subject {i}"))
            builds = []

            def build(tree, variant, targets=None, patches=None):
                builds.append((variant, len(patches), tuple(targets)))

            gcc = mock.Mock(stdout="gcc 12\n")
            with mock.patch.multiple(
                    checks, CACHE=d, series=lambda: paths,
                    kernel_source=lambda: d, build_kernel=build,
                    prepare_tree=lambda *a: None, run=lambda *a, **k: gcc,
                    fragment=lambda *a: "fragment", kernel_rel=str,
                    checkpatch_one=lambda ksrc, p: ""):
                rows = dict(checks.series_check())
                self.assertEqual(
                    [b[:2] for b in builds],
                    [("debug", 1), ("debug", 2), ("debug", 3),
                     ("ibcheck", 3)])
                self.assertEqual(builds[2][2],
                                 tuple(checks.SERIES_DEBUG_DIRS))
                self.assertEqual(builds[0][2],
                                 ("drivers/infiniband/sw/rxe/",))
                self.assertEqual(sorted(n.split(".")[-1] for n in rows),
                                 ["build-allmodconfig"] +
                                 ["build-debug"] * 3 + ["checkpatch"] * 3)
                self.assertTrue(all(v == "SUCCESS" for v in rows.values()))
                builds.clear()
                self.assertEqual(dict(checks.series_check()), rows)
                self.assertEqual(builds, [])
                full = dict(checks.series_check(full=True))
                self.assertEqual([b[:2] for b in builds],
                                 [("ibcheck", 1), ("ibcheck", 2)])
                self.assertEqual(len(full), 9)
                builds.clear()
                self.assertEqual(dict(checks.series_check(full=True)), full)
                self.assertEqual(dict(checks.series_check()), rows)
                self.assertEqual(builds, [])
                # the second commit made last: its verdicts were of a
                # commit that compiled only what it touched
                del paths[2]
                checks.series_check()
                self.assertEqual(builds, [("ibcheck", 2,
                                           tuple(checks.SERIES_DIRS))])
        finally:
            shutil.rmtree(d)


class Verdicts(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lab = load_phyrlab()

    def test_guest_results(self):
        console = ("noise\nPHYRLAB-TEST: umem.reg PASS\n"
                   "PHYRLAB-TEST: p2p.bar FAIL\nPHYRLAB-TEST: x SKIP\n"
                   " PHYRLAB-TEST: indented PASS\n")
        self.assertEqual(self.lab.guest_results(console),
                         [("guest.umem.reg", "SUCCESS"),
                          ("guest.p2p.bar", "FAILURE"),
                          ("guest.x", "SKIPPED")])

    def test_stats(self):
        self.assertIsNone(self.lab.stats([]))
        self.assertEqual(self.lab.stats([3, 1, 2]),
                         {"min": 1, "median": 2, "max": 3, "n": 3})
        self.assertEqual(self.lab.stats([4, 1, 2, 3])["median"], 2.5)

    def test_bench_aggregate_ratios_of_medians(self):
        smp = []
        for tree, vals in (("stock", [100, 300, 200]), ("ours", [50, 70, 60])):
            for v in vals:
                smp.append({"what": "bw", "tree": tree, "tool": "ib_write_bw",
                            "bytes": 65536, "mb_s": v})
        smp.append({"what": "bw-failed", "tree": "ours",
                    "tool": "ib_write_bw", "bytes": 65536})
        smp.append({"what": "memcpy", "tree": "ours", "bytes": 4096,
                    "ns": 10})
        rows = self.lab.bench_aggregate(smp)
        bw = [r for r in rows if r["what"] == "bw"]
        self.assertEqual(len(bw), 1)
        self.assertEqual(bw[0]["stock"]["mb_s"]["median"], 200)
        self.assertEqual(bw[0]["ours"]["mb_s"]["n"], 3)
        self.assertAlmostEqual(bw[0]["ratio"]["mb_s"], 60 / 200)
        mc = [r for r in rows if r["what"] == "memcpy"][0]
        # no stock sample: no ratio rather than a made-up one
        self.assertIsNone(mc["ratio"]["ns"])

    def test_dmabuf_loop_against_plain_same_memory(self):
        """dma-buf loop rows (ours only) are set against the plain loop of
        the memfd they come from; stock's refusal is no row."""
        smp = [{"what": "reg-failed", "tree": "stock", "kind":
                "udmabuf-shmem-huge", "bytes": 16 << 20, "errno": 95,
                "loop": 1}]
        for rnd, (d, p) in enumerate(((20e3, 25e3), (22e3, 24e3),
                                      (30e3, 26e3))):
            for kind, ns in (("udmabuf-shmem-huge", d),
                             ("memfd-shmem-huge", p)):
                smp.append({"what": "reg-loop", "tree": "ours", "kind": kind,
                            "bytes": 16 << 20, "n": 16, "reg_ns": ns,
                            "dereg_ns": ns / 2, "round": rnd + 1})
        rows = self.lab.bench_aggregate(smp)
        self.assertEqual(self.lab.reg_loop_table(rows), [])
        L = self.lab.dmabuf_loop_table(rows)
        self.assertEqual(len(L), 3)
        self.assertEqual(L[2], "| udmabuf-shmem-huge | 16 MiB | "
                         "22.0 [20.0, 30.0] | 25.0 [24.0, 26.0] | 0.880 | "
                         "11.0 [10.0, 15.0] | 12.5 [12.0, 13.0] | 0.880 |")

    def test_bw_table_spread_ceiling_cpu(self):
        """Each cell's spread is (max - min) / median per kernel; ours is
        set against ours' memcpy ceiling; CPU per MiB where recorded."""
        smp = [{"what": "memcpy", "tree": t, "bytes": 64 << 20,
                "ns": 64 * 1048576 / 1000e6 * 1e9} for t in ("stock", "ours")]
        for tree, vals in (("stock", (100, 102, 98)), ("ours", (99, 100, 101))):
            for v in vals:
                smp.append({"what": "bw", "tree": tree, "tool": "ib_write_bw",
                            "bytes": 4096, "mb_s": v,
                            "cpu_ns_per_mib": v * 1000})
        # a run from before CPU time was recorded
        smp.append({"what": "bw", "tree": "ours", "tool": "ib_read_bw",
                    "bytes": 4096, "mb_s": 50})
        smp.append({"what": "bw", "tree": "stock", "tool": "ib_read_bw",
                    "bytes": 4096, "mb_s": 40})
        L = self.lab.bw_table(self.lab.bench_aggregate(smp))
        self.assertEqual(len(L), 4)
        self.assertEqual(L[2], "| ib_read_bw | 4 KiB | 40.00 [40.00, 40.00] "
                         "| 50.00 [50.00, 50.00] | 1.250 | 0.0% | 0.0% | "
                         "5.0% | - | - | - |")
        self.assertEqual(L[3], "| ib_write_bw | 4 KiB | 100.00 [98.00, "
                         "102.00] | 100.00 [99.00, 101.00] | 1.000 | 4.0% | "
                         "2.0% | 10.0% | 100 | 100 | 1.000 |")

    def test_bw_repeat_boot_medians(self):
        """--bw-repeat: a boot's runs of a cell become one sample, their
        median; the spread is then that of the boots."""
        smp = []
        for tree in ("stock", "ours"):
            for rnd, runs in ((1, (40, 70, 71)), (2, (69, 45, 72)),
                              (3, (70, 70, 44))):
                for rep, v in enumerate(runs, 1):
                    smp.append({"what": "bw", "tree": tree, "round": rnd,
                                "rep": rep, "tool": "ib_write_bw",
                                "bytes": 65536, "mb_s": v,
                                "cpu_ns_per_mib": v * 10000})
        med = self.lab.boot_medians(smp)
        self.assertEqual(len(med), 6)
        self.assertEqual(sorted(x["mb_s"] for x in med), [69, 69, 70, 70,
                                                          70, 70])
        self.assertTrue(all(x["runs"] == 3 for x in med))
        L = self.lab.bw_table(self.lab.bench_aggregate(smp))
        self.assertEqual(L[2], "| ib_write_bw | 64 KiB | 70.00 [69.00, "
                         "70.00] | 70.00 [69.00, 70.00] | 1.000 | 1.4% | "
                         "1.4% | - | 700 | 700 | 1.000 |")
        # each boot's fastest run: 71, 72, 70
        self.assertEqual(self.lab.bw_best_table(
            self.lab.bench_aggregate(smp))[2],
            "| ib_write_bw | 64 KiB | 71.00 [70.00, 72.00] | 71.00 [70.00, "
            "72.00] | 1.000 | 2.8% | 2.8% |")
        # runs from before runs were numbered are left as they were
        one = [{k: v for k, v in smp[0].items() if k != "rep"}] * 2
        self.assertEqual(sorted(x["mb_s"] for x in
                                self.lab.boot_medians(one)), [40, 40])

    def test_copy_table_per_mib_per_call_and_control(self):
        """--copy-profile: MR copy and ICRC per MiB, medians over the
        boots, MR copy over ICRC per run before the median; ours alone
        where stock has no row (dma-buf MRs)."""
        smp = []
        for tree, mr, icrc in (("stock", (2000e3, 2200e3, 1800e3),
                                (1000e3, 1100e3, 900e3)),
                               ("ours", (1500e3, 1400e3, 1600e3),
                                (1000e3, 1000e3, 1000e3))):
            for m, i in zip(mr, icrc):
                smp.append({"what": "copyprof", "tree": tree,
                            "tool": "ib_write_bw", "bytes": 65536,
                            "mr_copy_ns_per_mib": m, "mr_copy_calls": 2048,
                            "mr_copy_ns_per_call": m / 2048,
                            "icrc_ns_per_mib": i, "icrc_calls": 2048})
        smp.append({"what": "copyprof", "tree": "ours",
                    "tool": "ib_write_bw+udmabuf", "bytes": 65536,
                    "mr_copy_ns_per_mib": 1200e3, "mr_copy_calls": 1000,
                    "mr_copy_ns_per_call": 1200e3 / 1024,
                    "icrc_ns_per_mib": 1000e3, "icrc_calls": 1000})
        L = self.lab.copy_table(self.lab.bench_aggregate(smp))
        self.assertEqual(len(L), 4)
        self.assertEqual(L[2], "| ib_write_bw | 64 KiB | 2,000 [1,800, "
                         "2,200] | 1,500 [1,400, 1,600] | 0.750 | 977 [879, "
                         "1,074] | 732 [684, 781] | 1,000 [900, 1,100] | "
                         "1,000 [1,000, 1,000] | 1.000 | 0.750 | "
                         "2,048 (2,048) / 2,048 (2,048) |")
        self.assertEqual(L[3], "| ib_write_bw+udmabuf | 64 KiB | - | "
                         "1,200 [1,200, 1,200] | - | - | 1,172 [1,172, "
                         "1,172] | - | 1,000 [1,000, 1,000] | - | - | "
                         "- / 1,000 (1,000) |")

    def test_bw_for_the_runs_own_speed(self):
        """--copy-profile: each profile sample is paired, in order, with
        the bw run that follows it in the same boot and cell; MB/s times
        that run's ICRC ms per MiB, each boot's median of its runs, then
        medians over the boots."""
        smp = []
        for rnd, (sm, si, om, oi) in enumerate(((40, 12e6, 60, 8e6),
                                                (60, 8e6, 45, 10e6),
                                                (50, 9e6, 70, 7e6)), 1):
            for tree, mb, icrc in (("stock", sm, si), ("ours", om, oi)):
                # the third run of each boot is 10% off: the boot's
                # median leaves it out
                for rep, k, f in ((1, 1.0, 1.0), (2, 0.5, 1.0),
                                  (3, 1.0, 1.1)):
                    smp.append({"what": "copyprof", "tree": tree,
                                "round": rnd, "tool": "ib_write_bw",
                                "bytes": 65536, "mr_copy_ns_per_mib": 1e6,
                                "mr_copy_calls": 64,
                                "mr_copy_ns_per_call": 1e6 / 64,
                                "icrc_ns_per_mib": icrc / k,
                                "icrc_calls": 64})
                    smp.append({"what": "bw", "tree": tree, "round": rnd,
                                "tool": "ib_write_bw", "bytes": 65536,
                                "rep": rep, "mb_s": mb * k * f})
        rows = self.lab.bench_aggregate(smp)
        L = self.lab.bw_icrc_table(rows)
        # boots: stock 480, 480, 450; ours 480, 450, 490
        self.assertEqual(L[2], "| ib_write_bw | 64 KiB | 480 [450, 480] | "
                         "480 [450, 490] | 1.000 | 6.2% | 8.3% |")
        # a profile without its bw run (stock's dma-buf cell) has none
        one = [dict(smp[0], round=9)]
        self.assertNotIn("bw_icrc", self.lab.copyprof_with_bw(one)[0])

    @unittest.skipUnless(shutil.which("gnuplot"), "no gnuplot")
    def test_plots_legible(self):
        """Names print as written, each kind its own colour, every size
        on the axis labelled, the memcpy ceiling drawn."""
        smp = [{"what": "memcpy", "tree": t, "bytes": 64 << 20,
                "ns": 64e6} for t in ("stock", "ours")]
        for tree in ("stock", "ours"):
            for kind in ("anon-thp", "anon-fragmented"):
                for b in (4096, 1 << 30):
                    smp.append({"what": "reg", "tree": tree, "kind": kind,
                                "bytes": b, "pages": 1, "runs": 1,
                                "kernel_bytes": 100, "memfree_delta": 0,
                                "reg_ns": 1000, "dereg_ns": 500,
                                "exporter_bytes": 0})
            smp.append({"what": "bw", "tree": tree, "tool": "ib_write_bw",
                        "bytes": 65536, "mb_s": 50})
        with tempfile.TemporaryDirectory() as d:
            self.lab.bench_plots(self.lab.bench_aggregate(smp), d)
            with open(os.path.join(d, "plots.gp")) as f:
                gp = f.read()
            self.assertTrue(os.path.exists(os.path.join(d, "bandwidth.png")))
        self.assertIn("noenhanced", gp)
        self.assertIn("'4 KiB' 4096, '1 GiB' 1073741824)", gp)
        self.assertIn("title 'stock ib_write_bw'", gp)
        self.assertIn("1049 with lines", gp)
        colours = re.findall(r"title 'ours anon-[a-z]*'", gp)
        self.assertEqual(len(colours), 4)
        self.assertEqual(len(set(re.findall(r"rgb '(#[0-9a-f]+)'", gp))), 2)

    def test_bench_provenance_and_no_overwrite(self):
        prov = self.lab.bench_provenance(["phyrlab", "bench", "--rounds",
                                          "3", "--out", "a b"])
        self.assertEqual(prov["command"],
                         "phyrlab bench --rounds 3 --out 'a b'")
        self.assertEqual(len(prov["series_sha256"]), 16)
        self.assertRegex(prov["date"], r"^\d{4}-\d\d-\d\d ")
        self.assertTrue(prov["cpu"])
        self.assertTrue(self.lab.provenance_lines(prov)[0].startswith(
            "- series: " + prov["series_sha256"]))
        out = tempfile.mkdtemp()
        try:
            self.assertEqual(self.lab.bench_out_dir(out), out)
            with open(os.path.join(out, "results.json"), "w") as f:
                f.write("{}")
            with self.assertRaises(self.lab.LabError):
                self.lab.bench_out_dir(out)
        finally:
            shutil.rmtree(out)

    def test_bench_pool(self):
        """Runs of the same kernels pool into one: rounds renumbered so
        that every boot stays its own, medians over all boots; other
        kernels, or too few runs, refused."""
        tmp = tempfile.mkdtemp()

        def run(name, rounds, vals, series="0123456789abcdef",
                command="phyrlab bench --no-bw", icount=None):
            d = os.path.join(tmp, name)
            os.makedirs(d)
            smp = [{"what": "reg-loop", "tree": tree,
                    "kind": "anon-fragmented", "bytes": 1 << 20, "n": 16, "reg_ns": 1e3,
                    "dereg_ns": v, "round": rnd + 1}
                   for rnd in range(rounds)
                   for tree, v in (("stock", vals[0][rnd]),
                                   ("ours", vals[1][rnd]))]
            prov = {"series_sha256": series, "commit": "c" * 40,
                    "date": "2026-12-02 00:00:00 +0000", "host": "h",
                    "cpu": "cpu", "cpus": 2, "command": command,
                    "icount": icount}
            with open(os.path.join(d, "results.json"), "w") as f:
                json.dump({"provenance": prov, "rounds": rounds,
                           "samples": smp}, f)
            return d

        try:
            a = run("a", 2, ([100, 110], [90, 130]))
            b = run("b", 1, ([120], [80]))
            series, rounds, smp, src = self.lab.bench_pool([a, b])
            self.assertEqual((series, rounds), ("0123456789abcdef", 3))
            self.assertEqual(sorted({x["round"] for x in smp}), [1, 2, 3])
            self.assertEqual([s["folder"] for s in src], ["a", "b"])
            rows = self.lab.bench_aggregate(smp)
            loop = [r for r in rows if r["what"] == "reg-loop"][0]
            self.assertEqual(loop["stock"]["dereg_ns"]["n"], 3)
            self.assertEqual(loop["stock"]["dereg_ns"]["median"], 110)
            self.assertEqual(loop["ours"]["dereg_ns"]["median"], 90)
            prov = dict(src[0], series_sha256=series, pooled=src,
                        command="phyrlab bench --pool a b --out c")
            L = self.lab.provenance_lines(prov)
            self.assertIn("0123456789abcdef", L[0])
            self.assertEqual(len(L), 5)
            c = run("c", 1, ([1], [1]), series="fedcba9876543210")
            with self.assertRaises(self.lab.LabError):
                self.lab.bench_pool([a, c])
            d = run("d", 1, ([1], [1]),
                    command="phyrlab bench --copy-profile")
            with self.assertRaises(self.lab.LabError):
                self.lab.bench_pool([a, d])
            e = run("e", 1, ([1], [1]), icount=0)
            with self.assertRaises(self.lab.LabError):
                self.lab.bench_pool([a, e])
            f = run("f", 1, ([1], [1]), icount=0)
            self.assertEqual(self.lab.bench_pool([e, f])[3][0]["icount"], 0)
            with self.assertRaises(self.lab.LabError):
                self.lab.bench_pool([a])
            with self.assertRaises(self.lab.LabError):
                self.lab.bench_pool([a, os.path.join(tmp, "none")])
        finally:
            shutil.rmtree(tmp)

    def test_ktap(self):
        ksrc = self.lab.kernel_source_if_present()
        if not ksrc:
            self.skipTest("no kernel source unpacked yet")
        console = ("[    1.0] KTAP version 1\n[    1.0] 1..1\n"
                   "[    1.0]     KTAP version 1\n"
                   "[    1.0]     # Subtest: phyr\n"
                   "[    1.0]     1..2\n"
                   "[    1.0]     ok 1 phyr_test_a\n"
                   "[    1.0]     not ok 2 phyr_test_b\n"
                   "[    1.0] not ok 1 phyr\n")
        out = tempfile.mkdtemp()
        try:
            got = self.lab.ktap_results(console, ksrc, out)
        finally:
            shutil.rmtree(out)
        self.assertEqual(got, [("phyr.phyr_test_a", "SUCCESS"),
                               ("phyr.phyr_test_b", "FAILURE")])


class Extended(unittest.TestCase):
    """phyrlab extended: rdma-core's suite compared, KCSAN reports sorted."""

    @classmethod
    def setUpClass(cls):
        cls.lab = load_phyrlab()

    LOG = ("test_reg_mr (tests.test_mr.MRTest.test_reg_mr) ... ok\n"
           "test_dmabuf (tests.test_mr.DmaBufMRTest.test_dmabuf)\n"
           "Test a dma-buf MR ... ok\n"
           "test_odp (tests.test_odp.OdpTestCase.test_odp) ... "
           "skipped 'no ODP'\n"
           "test_qp (tests.test_qp.QPTest.test_qp) ... FAIL\n"
           "test_cq (tests.test_cq.CQTest.test_cq) ... ERROR\n"
           "test_mc (tests.test_cm.CMTest.test_mc) ... printed = 2\n"
           "ok\n")

    def test_suite_results(self):
        got = self.lab.suite_results(self.LOG)
        self.assertEqual(got, {
            "tests.test_mr.MRTest.test_reg_mr": "pass",
            "tests.test_mr.DmaBufMRTest.test_dmabuf": "pass",
            "tests.test_odp.OdpTestCase.test_odp": "skip",
            "tests.test_qp.QPTest.test_qp": "fail",
            "tests.test_cq.CQTest.test_cq": "fail",
            "tests.test_cm.CMTest.test_mc": "pass"})

    def test_suite_compare(self):
        stock = {"a": "pass", "b": "pass", "c": "skip", "d": "fail"}
        ours = {"a": "pass", "b": "fail", "c": "pass"}
        reg, counts = self.lab.suite_compare(stock, ours)
        self.assertEqual(reg, ["b"])
        self.assertEqual(counts["stock"], {"pass": 2, "skip": 1, "fail": 1})
        self.assertEqual(counts["ours"], {"pass": 2, "skip": 0, "fail": 1})

    def test_kcsan_reports_sorted(self):
        console = ("[ 1.0] BUG: KCSAN: data-race in rxe_mr_copy / "
                   "rxe_mr_dmabuf_invalidate\n[ 1.0] \n[ 1.0] \n"
                   "[ 1.0] \n[ 1.0] \n"
                   "[ 2.0] BUG: KCSAN: data-race in tick_sched_do_timer / "
                   "tick_nohz_next_event\n")
        ours, other = self.lab.kcsan_reports(console)
        self.assertEqual(len(ours), 1)
        self.assertIn("rxe_mr_copy", ours[0])
        self.assertEqual(len(other), 1)
        self.assertIn("tick_sched", other[0])


class Wire(unittest.TestCase):
    """phyrlab wire: the two guests point at each other."""

    @classmethod
    def setUpClass(cls):
        cls.lab = load_phyrlab()

    def test_pair_is_crossed(self):
        g = self.lab.wire_guests(("ours", "stock"), (4001, 4002))
        self.assertEqual(g["a"]["append"], "phyrlab_wire=a,192.0.2.1,"
                         "192.0.2.2,ours,stock")
        self.assertEqual(g["b"]["append"], "phyrlab_wire=b,192.0.2.2,"
                         "192.0.2.1,stock,ours")
        self.assertEqual(g["a"]["tree"], "ours")
        self.assertEqual(g["b"]["tree"], "stock")
        # a sends to b's port and listens on its own, and the other way
        self.assertIn("socket,id=wire,udp=127.0.0.1:4002,"
                      "localaddr=127.0.0.1:4001", g["a"]["nic"])
        self.assertIn("socket,id=wire,udp=127.0.0.1:4001,"
                      "localaddr=127.0.0.1:4002", g["b"]["nic"])
        macs = [o for side in "ab" for o in g[side]["nic"]
                if o.startswith("virtio-net-pci")]
        self.assertEqual(len(set(macs)), 2)

    def test_free_ports_differ(self):
        p = self.lab.free_udp_ports(2)
        self.assertEqual(len(set(p)), 2)
        self.assertTrue(all(0 < x < 65536 for x in p))


class ReadmeExamples(unittest.TestCase):
    """The README's examples are found whole, as the test command builds
    them."""

    @classmethod
    def setUpClass(cls):
        cls.lab = load_phyrlab()

    def test_extract(self):
        text = ("x\n<!-- example: a-b -->\n```c\nint main(void)\n"
                "{\n}\n```\n\n```c\nnot an example\n```\n")
        self.assertEqual(self.lab.readme_examples(text),
                         {"a-b": "int main(void)\n{\n}\n"})

    def test_readme_has_the_memfd_example(self):
        with open(os.path.join(ROOT, "README.md")) as fh:
            ex = self.lab.readme_examples(fh.read())
        self.assertIn("reg-memfd", ex)
        self.assertIn("ibv_reg_dmabuf_mr(", ex["reg-memfd"])
        self.assertIn("int main(", ex["reg-memfd"])

    def test_client_examples_go_to_the_clients_command(self):
        """The test command builds the libibverbs examples; the libfabric
        and UCX ones need `phyrlab clients`' builds."""
        with open(os.path.join(ROOT, "README.md")) as fh:
            ex = self.lab.readme_examples(fh.read())
        libs = {n: self.lab.example_library(c) for n, c in ex.items()}
        self.assertIsNone(libs["reg-memfd"])
        self.assertEqual(libs["reg-fabric-dmabuf"], "libfabric")
        self.assertEqual(libs["reg-ucx-memfd"], "ucx")
        self.assertIn("FI_MR_DMABUF", ex["reg-fabric-dmabuf"])
        self.assertIn("ucp_mem_map(", ex["reg-ucx-memfd"])


class HostModel(unittest.TestCase):
    """phyr_bench's synthetic hosts: parsed from ours' consoles, kept out
    of the A/B rows, reported per GiB with n per model."""

    @classmethod
    def setUpClass(cls):
        cls.lab = load_phyrlab()

    def test_parse_and_report(self):
        line = ("phyr_host: 1t-4k-scattered host_gib=1024 pages=4194304 "
                "ranges=4194304 ours_per_gib=2097152 sg_per_gib=8454144 "
                "page_info_per_gib=4194304 build_ns_per_gib=%d\n")
        samples = []
        for rnd, ns in enumerate((30e6, 10e6, 20e6)):
            for x in self.lab.phyr_hosts("[ 1.0] " + line % ns):
                x.update(tree="ours", round=rnd + 1)
                samples.append(x)
        self.assertEqual(len(samples), 3)
        self.assertEqual(samples[0]["ours_per_gib"], 2097152)
        rows = self.lab.bench_aggregate(samples)
        self.assertEqual(rows, [])
        text = "\n".join(self.lab.host_model(rows, samples))
        # 2 MiB against 8 MiB of sg plus 4 MiB of page_info
        self.assertIn("| 1t-4k-scattered | 262,144 | 2,097,152 | 8,454,144 "
                      "| 4,194,304 | 0.1658 | 20.0 [10.0, 30.0] | 3 |", text)


def print_nothing(*args, **kwargs):
    pass


class Sources(unittest.TestCase):
    """Which Debian source version the lab takes."""

    @classmethod
    def setUpClass(cls):
        cls.lab = load_phyrlab()

    def test_debian_version_order(self):
        vers = ["1.13.1-1", "1.23.0~rc1-1", "1.18.1+ds-2", "1.23.0-1"]
        got = sorted(vers, key=functools.cmp_to_key(
            self.lab.debian_version_cmp), reverse=True)
        self.assertEqual(got, ["1.23.0-1", "1.23.0~rc1-1", "1.18.1+ds-2",
                               "1.13.1-1"])

    def test_newest_served_skips_missing_tarballs(self):
        """A 404 on the newest orig tarball moves on to the next version
        only when asked to; without, it is an error."""
        apt = self.lab.Apt.__new__(self.lab.Apt)
        apt.opts = []
        apt.source_versions = lambda pkg: ["2.0-1", "1.5-1", "1.0-1"]
        served = {"x_1.5.orig.tar.xz"}

        def fake_run(cmd, **kw):
            ver = cmd[-1].split("=")[1].split("-")[0]
            return subprocess.CompletedProcess(
                cmd, 0, stdout=f"'http://a/x_{ver}.orig.tar.xz' "
                f"x_{ver}.orig.tar.xz 1 SHA256:{'0' * 64}\n")

        def fake_fetch(url, path, sha):
            if os.path.basename(path) not in served:
                raise self.lab.LabError("download failed: HTTP Error 404")
            return path

        mod = sys.modules[self.lab.Apt.__module__]
        saved = mod.run, mod.fetch_url, mod.log
        # the skipped version's log line would read as a real 404 in the
        # test command's output
        mod.run, mod.fetch_url, mod.log = fake_run, fake_fetch, print_nothing
        try:
            path = apt.download_orig("x", "/d", newest_served=True)
            self.assertEqual(path, "/d/x_1.5.orig.tar.xz")
            self.assertEqual([v for v, _ in apt.skipped], ["2.0-1"])
            with self.assertRaises(self.lab.LabError):
                apt.download_orig("x", "/d")
        finally:
            mod.run, mod.fetch_url, mod.log = saved


class KernelConfig(unittest.TestCase):
    """The build directory's .config follows what it is built for."""

    def test_series_after_prefix_reconfigures(self):
        lab = load_phyrlab()
        mod = sys.modules[lab.build_kernel.__module__]
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp)
        made = []

        def fake_run(cmd, **kw):
            if cmd[-1] == "allnoconfig":
                made.append(cmd)
                lab.write_if_changed(os.path.join(tmp, ".config"), "x\n")

        saved = (mod.run, mod.prepare_tree, mod.build_dir, mod.fragment,
                 mod.verify_config, mod.has_modules, mod.log)
        mod.run, mod.log = fake_run, print_nothing
        mod.prepare_tree = lambda tree, patches=None: tmp
        mod.build_dir = lambda tree, variant: tmp
        mod.fragment = lambda variant, tree="ours": "CONFIG_X=y\n"
        mod.verify_config = lambda frag, path: None
        mod.has_modules = lambda tree, variant: False
        try:
            mod.build_kernel("ours", "debug")
            self.assertEqual(len(made), 1)
            mod.build_kernel("ours", "debug")
            self.assertEqual(len(made), 1)     # nothing changed
            # the per-commit check configures for a prefix of the series
            mod.build_kernel("ours", "debug", targets=["lib/"],
                             patches=["p1"])
            self.assertEqual(len(made), 2)
            # the whole series must not build on the prefix's .config
            mod.build_kernel("ours", "debug")
            self.assertEqual(len(made), 3)
            mod.build_kernel("ours", "debug")
            self.assertEqual(len(made), 3)
            # a run stopped while configuring leaves no record: again
            os.unlink(os.path.join(tmp, "phyrlab.config-for"))
            mod.build_kernel("ours", "debug")
            self.assertEqual(len(made), 4)
        finally:
            (mod.run, mod.prepare_tree, mod.build_dir, mod.fragment,
             mod.verify_config, mod.has_modules, mod.log) = saved


if __name__ == "__main__":
    unittest.main()
