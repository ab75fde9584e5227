# SPDX-License-Identifier: GPL-2.0
"""The demo and the A/B benchmark: stock Linux 7.2 against ours, same
source, same config; reports, JSON and plots."""

from common import *  # noqa: F401,F403
from sources import *  # noqa: F401,F403
from kbuild import *  # noqa: F401,F403
from userspace import *  # noqa: F401,F403
from boot import *  # noqa: F401,F403


def phyr_footprint(console):
    """Rows of the phyr_bench table the bench kernel prints at boot."""
    rows = []
    for m in re.finditer(r"phyr_bench: (\S+) bytes=(\d+) ranges=(\d+) "
                         r"length=(\d+) per_range=([\d.]+) sg_entry=(\d+) "
                         r"phys_vec=(\d+)", console):
        rows.append({"corpus": m[1], "bytes": int(m[2]),
                     "ranges": int(m[3]), "length": int(m[4]),
                     "per_range": float(m[5]), "sg_entry": int(m[6]),
                     "phys_vec": int(m[7])})
    return rows


HOST_RE = re.compile(
    r"phyr_host: (\S+) host_gib=(\d+) pages=(\d+) ranges=(\d+) "
    r"ours_per_gib=(\d+) sg_per_gib=(\d+) page_info_per_gib=(\d+) "
    r"build_ns_per_gib=(\d+)")
# What users report a registration of 4 KiB pages costs on real NICs today
# (issue 21): the base of the 1 TiB registration-time model.
USER_MS_PER_GIB = (80, 100)


def phyr_hosts(console):
    """The synthetic hosts' lines (phyr_bench, ours only) as samples."""
    return [{"what": "host", "name": m[1], "host_gib": int(m[2]),
             "pages": int(m[3]), "ranges": int(m[4]),
             "ours_per_gib": int(m[5]), "sg_per_gib": int(m[6]),
             "page_info_per_gib": int(m[7]), "build_ns_per_gib": int(m[8])}
            for m in HOST_RE.finditer(console)]


def host_model(rows, samples):
    """Bytes per GiB on the synthetic 1 TiB and 16 TiB hosts, and the
    registration-time model for 1 TiB: the users' stock figure times this
    run's ours/stock registration-time ratio for the largest fragmented
    MR (both kernels pin page by page there)."""
    hosts = {}
    for x in samples:
        if x["what"] == "host":
            hosts.setdefault(x["name"], []).append(x)
    if not hosts:
        return []
    L = ["Synthetic MRs of 4 GiB whose folios lie as on a long-running "
         "host of 1 TiB or 16 TiB (lib/phyr_bench.c: \"scattered\": every "
         "4 KiB page anywhere in the host, mostly beyond a pair word's "
         "reach; \"aged\": 75% of folios within 64 MiB of the previous "
         "one; \"mixed\": 40% of the bytes in 4 KiB pages, 20% in 64 KiB, "
         "15% in 2 MiB and 25% in 1 GiB folios). Bytes per registered GiB: "
         "ours is the list; stock is its scatterlist plus rxe's page_info "
         "(16 B a page). Build time: phyr_append() per GiB in this TCG "
         "guest, n boots.", "",
         "| host model | ranges per GiB | ours B/GiB | stock sg B/GiB | "
         "stock page_info B/GiB | ours / stock | list build ms/GiB "
         "[min, max] | n |", "|---|---|---|---|---|---|---|---|"]
    for name, xs in sorted(hosts.items(), key=lambda kv: (
            kv[1][0]["host_gib"], kv[0])):
        x = xs[0]
        gib = x["pages"] * 4096 / (1 << 30)
        stock = x["sg_per_gib"] + x["page_info_per_gib"]
        st = stats([v["build_ns_per_gib"] for v in xs])
        L.append(f"| {name} | {x['ranges'] / gib:,.0f} | "
                 f"{x['ours_per_gib']:,} | {x['sg_per_gib']:,} | "
                 f"{x['page_info_per_gib']:,} | "
                 f"{x['ours_per_gib'] / stock:.4f} | "
                 f"{st['median'] / 1e6:.1f} [{st['min'] / 1e6:.1f}, "
                 f"{st['max'] / 1e6:.1f}] | {st['n']} |")
    frag = [r for r in rows if r["what"] == "reg" and
            r["name"] == "anon-fragmented" and r["ratio"].get("reg_ns")]
    if frag:
        r = max(frag, key=lambda x: x["bytes"])
        q = r["ratio"]["reg_ns"]
        lo, hi = (v * 1024 / 1000 for v in USER_MS_PER_GIB)
        L += ["", f"Registration time of 1 TiB of 4 KiB pages, modelled: "
              f"users report {USER_MS_PER_GIB[0]}-{USER_MS_PER_GIB[1]} ms "
              f"per GiB on stock with real NICs, {lo:.0f}-{hi:.0f} s per "
              f"TiB. This run's ours/stock registration time for "
              f"{fmt_bytes(r['bytes'])} of fragmented pages is {q:.3f} "
              f"(median, n = {r['stock']['reg_ns']['n']}), so ours "
              f"would take {lo * q:.0f}-{hi * q:.0f} s, if the ratio held "
              f"on a real CPU and NIC (the pinning, the same in both "
              f"kernels, dominates both). The list itself is the build "
              f"column above: times 1,024 per TiB, under TCG."]
    return L


def print_phyr_footprint(console):
    rows = phyr_footprint(console)
    if not rows:
        print("phyr footprint: no phyr_bench output in the console")
        return
    print("\nphyr footprint per range (kernel bytes, measured in the guest; "
          "scatterlist and phys_vec: size of one entry)")
    print(f"| {'corpus':20} | {'ranges':>8} | {'phyr bytes':>10} | "
          f"{'phyr B/range':>12} | {'sg B/entry':>10} | {'phys_vec B':>10} |"
          f" {'phyr/sg':>7} |")
    print("|" + "|".join("-" * w for w in (22, 10, 12, 14, 12, 12, 9)) + "|")
    for r in rows:
        print(f"| {r['corpus']:20} | {r['ranges']:>8} | {r['bytes']:>10} | "
              f"{r['bytes'] / r['ranges']:>12.3f} | {r['sg_entry']:>10} | "
              f"{r['phys_vec']:>10} | "
              f"{r['bytes'] / (r['ranges'] * r['sg_entry']):>7.3f} |")

def cmd_demo(args):
    t0 = time.time()
    ensure_host_packages()
    image = build_kernel("ours", args.variant)
    build_userspace()
    out = os.path.join(CACHE, "runs", "demo-" + time.strftime("%Y%m%d-%H%M%S"))
    status, console = boot(image, os.path.join(ROOT, "lab", "demo"), out,
                           timeout=900, verbose=True,
                           extra_append="phyr_bench.run=1")
    bad = splats(console)
    for s in bad:
        print("\n=== kernel report in the guest console ===\n" + s)
    print_phyr_footprint(console)
    ok = status == 0 and not bad
    # one quick A/B round: registration only, up to 1 GiB
    ab = out + "-ab"
    try:
        samples = run_ab(ab, 1, 3, 1 << 30, 0, "4G", 900,
                         kinds="anon-fragmented anon-thp memfd-hugetlb "
                         "udmabuf-hugetlb",
                         bw_sizes="none")
        print_headline(bench_aggregate(samples))
        log(f"A/B consoles in {ab}; the full comparison is phyrlab bench")
    except LabError as e:
        print(f"A/B round failed: {e}")
        ok = False
    print(f"\nphyrlab demo: guest exit {status}, {len(bad)} kernel "
          f"report(s), {time.time() - t0:.0f} s")
    return 0 if ok else 1


# --------------------------------------------------------------------------
# A/B benchmark: stock Linux 7.2 against ours, same source, same config


BENCH_RE = re.compile(r"^PHYRLAB-BENCH (\{.*\})\s*$", re.M)


def kmalloc_bytes(n):
    """What kmalloc (SLUB, x86-64) really takes for n bytes."""
    if n <= 0:
        return 0
    if n <= 8192:
        size = 8
        while size < n:
            size *= 2
        if 64 < n <= 96:
            return 96
        if 128 < n <= 192:
            return 192
        return size
    pages = (n + 4095) // 4096
    order = (pages - 1).bit_length()
    return 4096 << order


def model_bytes(tree, pages, runs, words=None):
    """Analytic registration footprint of one rxe MR, without the umem.

    words: the phyr words the runs take (lone pages close together share
    one); samples from kernels before pairs have none: a word per run."""
    if tree == "stock":
        # sg_append_table: one allocation up to 128 32-byte entries, else
        # a page per 127 entries and a chain link; rxe: a 16-byte
        # page_info per 4 KiB page
        sg = kmalloc_bytes(32 * runs) if runs <= 128 else \
            4096 * -(-runs // 127)
        return sg + kmalloc_bytes(16 * pages)
    # phyr: a first chunk of 8 words, then 509 words per 4 KiB chunk; from
    # the second chunk on, a directory of chunk pointers (4, then doubling);
    # CPU memory needs no meta table
    words = runs if words is None else words
    chunks = 1 + (-(-(words - 8) // 509) if words > 8 else 0)
    cap = 4
    while cap < chunks:
        cap *= 2
    first = kmalloc_bytes(24 + 8 * 8)
    return first + 4096 * (chunks - 1) + \
        (kmalloc_bytes(8 * cap) if chunks > 1 else 0)


def stats(vals):
    v = sorted(vals)
    if not v:
        return None
    n = len(v)
    med = v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
    return {"min": v[0], "median": med, "max": v[-1], "n": n}


PROFILE_METRICS = ["cpu_ns_per_mib", "busy_ns_per_mib", "mr_copy_ns_per_mib",
                   "icrc_ns_per_mib", "busy_per_icrc", "mr_copy_per_icrc",
                   "mr_copy_samples"]


def profile_normalise(x):
    """A boot's own speed cancels out against the ICRC, code both kernels
    share: x with busy and MR copy time (those it has: --copy-profile
    gives no busy time) as multiples of the ICRC's."""
    icrc = x.get("icrc_ns_per_mib")
    return dict(x, **{f"{m}_per_icrc": x[f"{m}_ns_per_mib"] / icrc
                      for m in ("busy", "mr_copy")
                      if icrc and f"{m}_ns_per_mib" in x})


def run_counts(r, m):
    """How many samples a run's figure rests on, both kernels: median over
    the runs (and the fewest)."""
    return " / ".join(f"{x['median']:,.0f} ({x['min']:,.0f})" if x else "-"
                      for x in (r[t][m] for t in ("stock", "ours")))


def profile_table(rows):
    """CPU time per MiB moved during the perftest runs, from perf samples."""
    L = ["| tool | message | busy stock | busy ours | ratio | MR copy stock "
         "| MR copy ours | ratio | ICRC stock | ICRC ours | ratio | "
         "busy/ICRC ratio | MR copy/ICRC ratio | MR copy samples a run, "
         "stock / ours (min) |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["what"] != "profile" or not r["stock"]["busy_ns_per_mib"] or \
                not r["ours"]["busy_ns_per_mib"]:
            continue
        c = []
        for m in PROFILE_METRICS[1:-1]:
            if not m.endswith("_per_icrc"):
                c += [f"{r[t][m]['median'] / 1e3:,.0f}"
                      for t in ("stock", "ours")]
            q = r["ratio"][m]
            c.append(f"{q:.3f}" if q is not None else "-")
        c.append(run_counts(r, "mr_copy_samples"))
        L.append(f"| {r['name']} | {fmt_bytes(r['bytes'])} | " +
                 " | ".join(c) + " |")
    return L if len(L) > 2 else []


COPY_METRICS = ["mr_copy_ns_per_mib", "mr_copy_ns_per_call",
                "icrc_ns_per_mib", "mr_copy_per_icrc", "mr_copy_calls",
                "bw_icrc"]


def copyprof_with_bw(samples):
    """--copy-profile: each copy profile sample gets the MB/s of its own
    perftest run (the round prints the profile line just before the bw
    line of the same run: paired in order, per boot and cell), and
    bw_icrc, that MB/s times the run's ICRC ms per MiB: the bandwidth in
    units of the speed the host gave that very run."""
    bws = {}
    for x in samples:
        if x["what"] == "bw":
            bws.setdefault((x["tree"], x.get("round"), x["tool"],
                            x["bytes"]), []).append(x)
    seen, out = {}, []
    for x in samples:
        if x["what"] == "copyprof":
            k = (x["tree"], x.get("round"), x["tool"], x["bytes"])
            i = seen[k] = seen.get(k, -1) + 1
            runs = bws.get(k, [])
            if i < len(runs) and x.get("icrc_ns_per_mib"):
                x = dict(x, bw_icrc=runs[i]["mb_s"] *
                         x["icrc_ns_per_mib"] / 1e6)
            x = profile_normalise(x)
        out.append(x)
    return out


def copy_table(rows):
    """The MR copy path per MiB moved, every call timed (--copy-profile):
    ours against stock, and ours alone where stock has no MRs (dma-buf)."""
    L = ["| tool | message | MR copy stock | MR copy ours | ratio | "
         "ns a call stock | ours | ICRC stock | ICRC ours | ratio "
         "(control) | MR copy/ICRC ratio | calls a run, stock / ours "
         "(fewest) |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["what"] != "copyprof" or not r["ours"]["mr_copy_ns_per_mib"]:
            continue
        c = []
        for m in ("mr_copy_ns_per_mib", "mr_copy_ns_per_call",
                  "icrc_ns_per_mib"):
            for t in ("stock", "ours"):
                x = r[t][m]
                c.append("-" if not x else
                         f"{x['median']:,.0f} [{x['min']:,.0f}, "
                         f"{x['max']:,.0f}]" if m.endswith("call") else
                         f"{x['median'] / 1e3:,.0f} [{x['min'] / 1e3:,.0f}, "
                         f"{x['max'] / 1e3:,.0f}]")
            if not m.endswith("call"):
                q = r["ratio"][m]
                c.append(f"{q:.3f}" if q else "-")
        q = r["ratio"]["mr_copy_per_icrc"]
        c.append(f"{q:.3f}" if q else "-")
        c.append(run_counts(r, "mr_copy_calls"))
        L.append(f"| {r['name']} | {fmt_bytes(r['bytes'])} | " +
                 " | ".join(c) + " |")
    return L if len(L) > 2 else []


def boot_medians(samples):
    """perftest cells run several times in a boot (--bw-repeat): one
    sample per cell and boot, the median of its runs, with how many runs
    it rests on; the same for their copy profiles, metric by metric, after
    each run's own divisions (copyprof_with_bw()). Other samples (and runs
    from before runs were numbered, or without a boot) pass as they are."""
    cells, profs, out = {}, {}, []
    for x in samples:
        if x["what"] == "bw" and "rep" in x:
            cells.setdefault((x["tree"], x.get("round"), x["tool"],
                              x["bytes"]), []).append(x)
        elif x["what"] == "copyprof" and x.get("round") is not None:
            profs.setdefault((x["tree"], x.get("round"), x["tool"],
                              x["bytes"]), []).append(x)
        else:
            out.append(x)
    for xs in profs.values():
        out.append(dict(xs[0], **{
            k: stats([x[k] for x in xs])["median"] for k in COPY_METRICS
            if all(k in x for x in xs)}))
    for xs in cells.values():
        m = dict(xs[0], runs=len(xs))
        for k in ("mb_s", "cpu_ns_per_mib"):
            st = stats([x[k] for x in xs if k in x])
            if st:
                m[k] = st["median"]
        if len(xs) > 1:
            m["mb_s_best"] = max(x["mb_s"] for x in xs)
        out.append(m)
    return out


def bench_aggregate(samples):
    """samples: dicts with tree added. Returns rows keyed for the report."""
    groups = {}
    for smp in boot_medians(copyprof_with_bw(samples)):
        w = smp["what"]
        if w in ("reg-failed", "reg-skipped", "bw-failed", "report",
                 "host"):
            continue
        if w in ("reg", "reg-loop"):
            key = (w, smp["kind"], smp["bytes"])
        elif w == "bw":
            key = (w, smp["tool"], smp["bytes"])
        elif w in ("profile", "copyprof"):
            # a copy profile is divided run by run in copyprof_with_bw()
            if w == "profile":
                smp = profile_normalise(smp)
            key = (w, smp["tool"], smp["bytes"])
        else:
            key = ("memcpy", "", smp["bytes"])
        groups.setdefault(key, {}).setdefault(smp["tree"], []).append(smp)
    rows = []
    for key in sorted(groups, key=lambda k: (k[0], k[1], k[2])):
        g = groups[key]
        row = {"what": key[0], "name": key[1], "bytes": key[2]}
        metrics = {"reg": ["kernel_bytes", "memfree_delta", "reg_ns",
                           "dereg_ns", "exporter_bytes"],
                   "reg-loop": ["reg_ns", "dereg_ns"],
                   "bw": ["mb_s", "cpu_ns_per_mib", "mb_s_best"],
                   "memcpy": ["ns"],
                   "profile": PROFILE_METRICS,
                   "copyprof": COPY_METRICS}[key[0]]
        # a metric only from the samples that have it (older runs' bw
        # samples have no CPU time)
        for tree in ("stock", "ours"):
            row[tree] = {m: stats([x.get(m, 0) for x in g.get(tree, [])
                                   if m in x or key[0] not in
                                   ("profile", "bw", "copyprof")])
                         for m in metrics}
            if key[0] == "reg" and g.get(tree):
                x = g[tree][0]
                # a dma-buf MR has no per-range cost of its own to model
                row[tree]["model_bytes"] = None if \
                    key[1].startswith("udmabuf-") else \
                    model_bytes(tree, x["pages"], x["runs"], x.get("words"))
                row["pages"], row["runs"] = x["pages"], x["runs"]
        for m in metrics:
            a, b = row["stock"][m], row["ours"][m]
            row.setdefault("ratio", {})[m] = (
                b["median"] / a["median"] if a and b and a["median"] else None)
        rows.append(row)
    return rows


def fmt_bytes(n):
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div:
            return f"{n / div:g} {unit}"
    return f"{n:g} B"


LATENCY_HEAD = ["| memory | MR size | stock reg | ours reg | ratio | "
                "stock dereg | ours dereg | ratio |",
                "|---|---|---|---|---|---|---|---|"]


def latency_line(r, missing=lambda tree, r: "-"):
    """A row's reg and dereg times (µs); missing(tree, r) fills a tree's
    empty cells."""
    c = []
    for m in ("reg_ns", "dereg_ns"):
        for t in ("stock", "ours"):
            x = r[t][m]
            c.append(f"{x['median'] / 1e3:,.1f} [{x['min'] / 1e3:,.1f}, "
                     f"{x['max'] / 1e3:,.1f}]" if x else missing(t, r))
        c.append(f"{r['ratio'][m]:.3f}" if r["ratio"][m] else "-")
    return f"| {r['name']} | {fmt_bytes(r['bytes'])} | " + " | ".join(c) + " |"


def reg_loop_table(rows, names=None):
    """Back-to-back registration medians, per kind (of names) and size."""
    L = [latency_line(r) for r in rows
         if r["what"] == "reg-loop" and r["stock"]["reg_ns"] and
         r["ours"]["reg_ns"] and (names is None or r["name"] in names)]
    return LATENCY_HEAD + L if L else []


def dmabuf_table(rows):
    """dma-buf MRs (udmabuf over a memfd) against ibv_reg_mr of the same
    memory, both on our kernel: stock rxe has no dma-buf MRs."""
    plain = {(r["name"], r["bytes"]): r for r in rows if r["what"] == "reg"}
    L = ["| memory | MR size | folios | reg kernel B | B per folio | "
         "ibv_reg_dmabuf_mr ms | ibv_reg_mr same memory ms | time ratio | "
         "udmabuf's own B per folio |",
         "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        o = r["ours"] if r["what"] == "reg" else None
        if not o or not r["name"].startswith("udmabuf-") or not o["reg_ns"]:
            continue
        folios = max(1, r["bytes"] // (2 << 20))
        base = plain.get(("memfd-" + r["name"][len("udmabuf-"):],
                          r["bytes"]))
        b = base["ours"]["reg_ns"] if base else None
        L.append(f"| {r['name']} | {fmt_bytes(r['bytes'])} | {folios} | "
                 f"{o['kernel_bytes']['median']:,.0f} | "
                 f"{o['kernel_bytes']['median'] / folios:,.1f} | "
                 f"{o['reg_ns']['median'] / 1e6:,.3f} | " +
                 (f"{b['median'] / 1e6:,.3f} | "
                  f"{o['reg_ns']['median'] / b['median']:.3f}"
                  if b else "- | -") +
                 f" | {o['exporter_bytes']['median'] / folios:,.0f} |")
    return L if len(L) > 2 else []


def dmabuf_loop_table(rows):
    """Back-to-back dma-buf registrations against ibv_reg_mr of the same
    memory, both on our kernel: the loop's medians over the boots."""
    plain = {(r["name"], r["bytes"]): r for r in rows
             if r["what"] == "reg-loop"}
    L = ["| memory | MR size | ibv_reg_dmabuf_mr | ibv_reg_mr same memory | "
         "ratio | dma-buf dereg | plain dereg | ratio |",
         "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["what"] != "reg-loop" or not r["name"].startswith("udmabuf-") \
                or not r["ours"]["reg_ns"]:
            continue
        base = plain.get(("memfd-" + r["name"][len("udmabuf-"):],
                          r["bytes"]))
        c = []
        for m in ("reg_ns", "dereg_ns"):
            for x in (r["ours"][m], base["ours"][m] if base else None):
                c.append(f"{x['median'] / 1e3:,.1f} [{x['min'] / 1e3:,.1f}, "
                         f"{x['max'] / 1e3:,.1f}]" if x else "-")
            b = base["ours"][m] if base else None
            c.append(f"{r['ours'][m]['median'] / b['median']:.3f}"
                     if b and b["median"] else "-")
        L.append(f"| {r['name']} | {fmt_bytes(r['bytes'])} | " +
                 " | ".join(c) + " |")
    return L if len(L) > 2 else []


def dmabuf_bw_table(rows):
    """perftest over dma-buf MRs (--use_udmabuf) against plain MRs, both
    on our kernel."""
    plain = {(r["name"], r["bytes"]): r for r in rows if r["what"] == "bw"}
    L = ["| tool | message | plain MR MB/s | udmabuf MR MB/s | ratio |",
         "|---|---|---|---|---|"]
    for r in rows:
        if r["what"] != "bw" or not r["name"].endswith("+udmabuf") or \
                not r["ours"]["mb_s"]:
            continue
        base = plain.get((r["name"][:-len("+udmabuf")], r["bytes"]))
        b = base["ours"]["mb_s"] if base else None
        o = r["ours"]["mb_s"]
        L.append(f"| {r['name'][:-len('+udmabuf')]} | "
                 f"{fmt_bytes(r['bytes'])} | " +
                 (f"{b['median']:.2f} [{b['min']:.2f}, {b['max']:.2f}] | "
                  if b else "- | ") +
                 f"{o['median']:.2f} [{o['min']:.2f}, {o['max']:.2f}] | " +
                 (f"{o['median'] / b['median']:.3f} |" if b else "- |"))
    return L if len(L) > 2 else []


def spread(x):
    """Boot-to-boot spread of a metric: (max - min) / median."""
    return (x["max"] - x["min"]) / x["median"] if x and x["median"] else None


def memcpy_ceiling(rows):
    """The in-guest memcpy's MB/s per kernel (median): the ceiling for
    rxe's copies."""
    return {t: r["bytes"] / (r[t]["ns"]["median"] / 1e9) / 1e6
            for r in rows if r["what"] == "memcpy"
            for t in ("stock", "ours") if r[t]["ns"]}


def bw_table(rows):
    """perftest bandwidth per cell: median [min, max] over the boots, the
    ratio, each kernel's spread, ours as a fraction of the in-guest memcpy
    ceiling and the guest's CPU time per MiB moved."""
    ceil = memcpy_ceiling(rows)
    L = ["| tool | message | stock | ours | ratio | spread stock | "
         "spread ours | ours / memcpy | CPU µs/MiB stock | ours | ratio |",
         "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["what"] != "bw" or not r["stock"]["mb_s"] or \
                not r["ours"]["mb_s"]:
            continue
        c = [f"{r[t]['mb_s']['median']:.2f} [{r[t]['mb_s']['min']:.2f}, "
             f"{r[t]['mb_s']['max']:.2f}]" for t in ("stock", "ours")]
        c.append(f"{r['ratio']['mb_s']:.3f}")
        c += [f"{spread(r[t]['mb_s']):.1%}" for t in ("stock", "ours")]
        c.append(f"{r['ours']['mb_s']['median'] / ceil['ours']:.1%}"
                 if "ours" in ceil else "-")
        cpu = [r[t].get("cpu_ns_per_mib") for t in ("stock", "ours")]
        c += [f"{x['median'] / 1e3:,.0f}" if x else "-" for x in cpu]
        q = r["ratio"].get("cpu_ns_per_mib")
        c.append(f"{q:.3f}" if q else "-")
        L.append(f"| {r['name']} | {fmt_bytes(r['bytes'])} | " +
                 " | ".join(c) + " |")
    return L if len(L) > 2 else []


def spread_table(rows, what, metric, fmt):
    """One metric per cell: median [min, max] over the boots (fmt: how a
    value prints), the ratio and each kernel's spread."""
    L = ["| tool | message | stock | ours | ratio | spread stock | "
         "spread ours |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["what"] != what or not r["stock"].get(metric) or \
                not r["ours"].get(metric):
            continue
        c = [f"{r[t][metric]['median']:{fmt}} [{r[t][metric]['min']:{fmt}}, "
             f"{r[t][metric]['max']:{fmt}}]" for t in ("stock", "ours")]
        c.append(f"{r['ratio'][metric]:.3f}")
        c += [f"{spread(r[t][metric]):.1%}" for t in ("stock", "ours")]
        L.append(f"| {r['name']} | {fmt_bytes(r['bytes'])} | " +
                 " | ".join(c) + " |")
    return L if len(L) > 2 else []


def bw_best_table(rows):
    """Cells run several times a boot: each boot's fastest run, as the
    host's interference only ever slows a run down."""
    return spread_table(rows, "bw", "mb_s_best", ".2f")


def bw_icrc_table(rows):
    """--copy-profile: perftest's MB/s times the same run's ICRC ms per
    MiB, so that a run the host slowed down counts as fast as it was for
    its own speed."""
    return spread_table(rows, "copyprof", "bw_icrc", ",.0f")


def clock_lines(prov):
    """The report line saying that a run's guests kept time by counting
    their instructions (--icount), or none."""
    if prov.get("icount") is None:
        return []
    return [f"- clock: instruction counts (-icount shift={prov['icount']}): "
            f"every time below counts guest instructions, "
            f"{1 << prov['icount']} ns each"]


def provenance_lines(prov):
    """The report's first lines: what was measured, when, where, how."""
    if not prov:
        return ["(no provenance recorded: a run from before it was kept)",
                ""]
    if prov.get("pooled"):
        return [f"- series: {prov['series_sha256']}, the kernels of every "
                "run pooled here",
                f"- pooled on {prov['date']} by `{prov['command']}` from:"
                ] + [f"  - `{r['folder']}`: project commit "
                     f"{(r['commit'] or 'unknown')[:12]}, {r['date']}, "
                     f"{r['host']}, {r['cpu']}, {r['cpus']} CPUs, "
                     f"{r['rounds']} rounds, `{r['command']}`"
                     for r in prov["pooled"]] + clock_lines(prov) + [""]
    dirty = ", with uncommitted changes" if prov["uncommitted_changes"] \
        else ""
    return [f"- series: {prov['series_sha256']} (project commit "
            f"{(prov['commit'] or 'unknown')[:12]}{dirty})",
            f"- date: {prov['date']}",
            f"- host: {prov['host']}, {prov['cpu']}, {prov['cpus']} CPUs; "
            f"guests under QEMU with {prov['qemu_accel']}",
            f"- command: `{prov['command']}`"] + clock_lines(prov) + [""]


def bench_report(rows, rounds, out, samples=(), prov=None):
    L = ["# A/B: stock Linux 7.2 against ours (rxe, same source and config)",
         ""] + provenance_lines(prov) + [
        f"{rounds} rounds, stock and ours booted alternately with the "
        "same memory and CPUs (since 2026-12-01: stock first in odd rounds, "
        "ours first in even ones); each figure is median [min, max] over all "
         "rounds and repetitions; ratio = median ours / median stock.", "",
         "## Kernel bytes per registered GiB (/proc/allocinfo)", "",
         "Cross-check: the MemFree drop while registered (page "
         "granular, and moved by per-CPU page lists: a sanity check of the "
         "order of magnitude, not a measurement of bytes; shown from 256 MiB "
         "MRs up).", "",
         "| memory | MR size | runs | stock B/GiB | ours B/GiB | ratio | "
         "model stock | model ours | MemFree drop stock | MemFree drop ours "
         "|", "|---|---|---|---|---|---|---|---|---|---|"]
    failed = {}
    for x in samples:
        if x["what"] == "reg-failed":
            k = (x["tree"], x["kind"], x["bytes"], x["errno"])
            failed[k] = failed.get(k, 0) + 1

    def refused(tree, r):
        """A tree's cell when every registration of the row failed."""
        e = sorted({k[3] for k in failed if k[:3] == (tree, r["name"],
                                                      r["bytes"])})
        return "failed (errno " + ", ".join(map(str, e)) + ")" if e else "-"

    for r in rows:
        if r["what"] != "reg" or r["name"].startswith("udmabuf-") or \
                not r["ours"]["kernel_bytes"]:
            continue
        per = (1 << 30) / r["bytes"]
        s, o = r["stock"]["kernel_bytes"], r["ours"]["kernel_bytes"]
        ratio = r["ratio"]["kernel_bytes"]
        L.append(f"| {r['name']} | {fmt_bytes(r['bytes'])} | {r['runs']} | " +
                 (f"{s['median'] * per:,.0f} [{s['min'] * per:,.0f}, "
                  f"{s['max'] * per:,.0f}]" if s else refused("stock", r)) +
                 f" | {o['median'] * per:,.0f} "
                 f"[{o['min'] * per:,.0f}, {o['max'] * per:,.0f}] | " +
                 (f"{ratio:.4f}" if ratio is not None else "-") +
                 f" | {model_bytes('stock', r['pages'], r['runs']) * per:,.0f}"
                 f" | {r['ours']['model_bytes'] * per:,.0f} | " +
                 " | ".join(f"{r[t]['memfree_delta']['median'] * per:,.0f}"
                            if r[t]["memfree_delta"] and
                            r["bytes"] >= 256 << 20 else "-"
                            for t in ("stock", "ours")) + " |")
    L += ["", "## ibv_reg_mr and ibv_dereg_mr latency (µs)", ""] + \
        LATENCY_HEAD
    for r in rows:
        if r["what"] != "reg" or r["name"].startswith("udmabuf-") or \
                not r["ours"]["reg_ns"]:
            continue
        L.append(latency_line(r, refused))
    loop = reg_loop_table(rows)
    if loop:
        L += ["", "## Back-to-back ibv_reg_mr and ibv_dereg_mr (µs)", "",
              "The same MR registered and deregistered in a loop with "
              "nothing in between (256 MiB in all, but at least 8 and at "
              "most 200 times); each boot gives the loop's median, and the "
              "table shows the "
              "median [min, max] of those over the rounds.", ""] + loop
    dm = dmabuf_table(rows)
    if dm:
        L += ["", "## dma-buf MRs (ours; stock rxe has none)", "",
              "udmabuf over a memfd of 2 MiB folios, registered with "
              "ibv_reg_dmabuf_mr, against ibv_reg_mr of the same kind of "
              "memory in the same boot; the udmabuf's own memory (made "
              "before registering) is the last column.", ""] + dm
    dml = dmabuf_loop_table(rows)
    if dml:
        L += ["", "The same, registered and deregistered back to back "
              "(µs; each boot's loop median, median [min, max] over the "
              "boots):", ""] + dml
    dbw = dmabuf_bw_table(rows)
    if dbw:
        L += ["", "perftest over dma-buf MRs (`--use_udmabuf`, ours only) "
              "against plain MRs in the same boots:", ""] + dbw
    L += ["", "## perftest bandwidth over rxe (MB/s)", ""]
    runs = max((x.get("runs", 1) for x in boot_medians(samples)
                if x["what"] == "bw"), default=1)
    if runs > 1:
        L += [f"Each cell ran {runs} times in every boot (`--bw-repeat`); "
              "a boot's figure is the median of its runs, and the spread "
              "is that of the boots' figures.", ""]
    L += bw_table(rows)
    best = bw_best_table(rows)
    if best:
        L += ["", "Each boot's fastest run of a cell instead of its median "
              "(the host's interference only ever slows a run down): "
              "median [min, max] over the boots, and the spread of those.",
              ""] + best
    prof = profile_table(rows)
    if prof:
        L += ["", "### Where the CPU time of those runs went (µs per MiB "
              "moved)", "",
              "perf samples of every guest CPU while the client ran "
              "(`--profile`, at `--profile-hz` a CPU: 1 kHz unless the "
              "command above says otherwise; plain MRs): busy is "
              "everything but the "
              "halted idle loop; MR copy is every sample with rxe_mr_copy() "
              "or rxe_mr_copy_mapped() in its call chain (look-up and "
              "memcpy); ICRC is the same for rxe_icrc_generate() and "
              "rxe_icrc_check(), code both kernels share, a control for the "
              "method. Medians over the rounds. The guest's clock is the "
              "host's, so slow phases of the host move all columns alike; "
              "the two columns before the last divide each run's busy and "
              "MR copy time by its ICRC time first, which cancels a boot's "
              "speed. The last is how many samples the MR copy figure of a "
              "run rests on (median over the runs, and the fewest).",
              ""] + prof
    cp = copy_table(rows)
    if cp:
        L += ["", "### The MR copy path, every call timed (µs per MiB "
              "moved)", "",
              "`--copy-profile`: both kernels with ftrace's function "
              "profiler (kernel/configs/trace.config), which times every "
              "call of rxe_mr_copy(), where each copy between an MR and a "
              "packet starts in both kernels (look-up and memcpy, callees "
              "included, time scheduled out left out), and of "
              "rxe_icrc_generate() and rxe_icrc_check(), code both kernels "
              "share: the control. Every call is a sample; the last column "
              "is how many calls a run's figure rests on (median over the "
              "runs, and the fewest). The profiler's own cost is in every "
              "call of both kernels alike; perftest's MB/s above are of "
              "these profiled kernels. The MR copy/ICRC column divides each "
              "run's MR copy time by its ICRC time first, which cancels a "
              "boot's speed. Median [min, max] over the boots.",
              ""] + cp
    bi = bw_icrc_table(rows)
    if bi:
        L += ["", "### Bandwidth for the run's own speed", "",
              "The host runs the guests in slow and fast phases: the "
              "ICRC, the same code in both kernels, takes up to twice as "
              "long a MiB in some runs as in others (the ICRC columns "
              "above), and perftest's MB/s follows. Here each "
              "run's MB/s is multiplied by the same run's ICRC ms per MiB "
              "(MB/s x ms/MiB): the bandwidth in units of that run's speed. "
              "Median [min, max] over the boots; spread = (max - min) / "
              "median.", ""] + bi
    mbs = memcpy_ceiling(rows)
    if "ours" in mbs:
        L += ["", "In-guest memcpy of 64 MiB, the ceiling for rxe's "
              "copies: " + ", ".join(f"{t} {v:,.0f} MB/s"
                                     for t, v in mbs.items()) + "."]
    if failed:
        L += ["", "## Registrations that failed", "",
              "| kernel | memory | MR size | errno | times |",
              "|---|---|---|---|---|"]
        L += [f"| {t} | {k} | {fmt_bytes(b)} | {e} | {n} |"
              for (t, k, b, e), n in sorted(failed.items())]
    skipped = sorted({(x["tree"], x["kind"], x["bytes"], x["why"])
                      for x in samples if x["what"] == "reg-skipped"})
    if skipped:
        L += ["", "Not measured: " + "; ".join(
            f"{t} {k} {fmt_bytes(b)} ({why})" for t, k, b, why in skipped)]
    bwfail = {}
    for x in samples:
        if x["what"] == "bw-failed" or (x["what"] == "bw" and
                                         x.get("exit")):
            k = (x["tree"], x["tool"], x["bytes"], x["what"])
            bwfail[k] = bwfail.get(k, 0) + 1
    if bwfail:
        L += ["", "perftest runs that exited non-zero (\"bw\": the result "
              "was printed and is counted above; \"bw-failed\": no result): "
              + "; ".join(f"{t} {tool} {fmt_bytes(b)} {w} x{n}"
                          for (t, tool, b, w), n in sorted(bwfail.items()))]
    reports = [x for x in samples if x["what"] == "report"]
    if reports:
        L += ["", "Kernel reports in the consoles (benchmarks do not stop "
              "on stock's): " + "; ".join(
                  sorted({f"{x['tree']}: {x['first_line']}"
                          for x in reports}))]
    L += ["", "## Scale model", ""] + scale_model(rows)
    hosts = host_model(rows, samples)
    if hosts:
        L += ["", "## Hosts past this machine", ""] + hosts
    text = "\n".join(l for l in L if l is not None) + "\n"
    write_if_changed(os.path.join(out, "report.md"), text)
    return text


def scale_model(rows):
    """From measured bytes per page and per run: 1 TiB, 100 000 MRs."""
    L = []
    for name in ("anon-fragmented", "anon-thp"):
        big = [r for r in rows if r["what"] == "reg" and r["name"] == name
               and r["stock"]["kernel_bytes"] and r["ours"]["kernel_bytes"]]
        if not big:
            continue
        r = max(big, key=lambda x: x["bytes"])
        per_gib = {t: r[t]["kernel_bytes"]["median"] * (1 << 30) / r["bytes"]
                   for t in ("stock", "ours")}
        small = min(big, key=lambda x: x["bytes"])
        per_mr = {t: small[t]["kernel_bytes"]["median"]
                  for t in ("stock", "ours")}
        L.append(f"- {name}: 1 TiB registered costs stock "
                 f"{fmt_bytes(per_gib['stock'] * 1024)}, ours "
                 f"{fmt_bytes(per_gib['ours'] * 1024)} (from the "
                 f"{fmt_bytes(r['bytes'])} MRs); 100 000 MRs of "
                 f"{fmt_bytes(small['bytes'])} cost stock "
                 f"{fmt_bytes(per_mr['stock'] * 1e5)}, ours "
                 f"{fmt_bytes(per_mr['ours'] * 1e5)}.")
    return L or ["(no registration rows)"]


# one colour per memory kind or tool; stock dashed with open points, ours
# solid with filled ones
PLOT_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
                "#000000", "#0b3d91"]


def bench_plots(rows, out):
    """PNG plots with gnuplot: footprint, latency, bandwidth."""
    if not shutil.which("gnuplot"):
        log("gnuplot not found: no plots")
        return
    # a kernel without a figure (stock refusing 4 GiB or dma-buf MRs) is a
    # gap in its line, not a reason to drop ours
    kinds = sorted({r["name"] for r in rows if r["what"] == "reg" and
                    r["ours"]["kernel_bytes"]})
    tools = sorted({r["name"] for r in rows if r["what"] == "bw"})

    def dat(name, sel, val):
        lines = []
        for r in rows:
            if sel(r) and (r["stock"].get(val) or r["ours"].get(val)):
                v = [r["bytes"]]
                for t in ("stock", "ours"):
                    x = r[t].get(val)
                    scale = (1 << 30) / r["bytes"] \
                        if val == "kernel_bytes" else 1
                    # a sample <= 0 (memory freed by others between the
                    # two reads of allocinfo) has no place on a log axis:
                    # no bar below the median then
                    lo = x and (x["min"] if x["min"] > 0 else x["median"])
                    v += [a * scale if x else float("nan")
                          for a in (x and x["median"], lo, x and x["max"])]
                lines.append(" ".join(f"{a:g}" for a in v))
        write_if_changed(os.path.join(out, name), "\n".join(lines) + "\n")

    def lines(f, i, title):
        c = PLOT_COLOURS[i % len(PLOT_COLOURS)]
        return [f"'{f}' using 1:2:3:4 with yerrorlines dashtype 2 "
                f"linecolor rgb '{c}' pointtype {4 + 2 * (i // 12)} "
                f"title 'stock {title}'",
                f"'{f}' using 1:5:6:7 with yerrorlines dashtype 1 "
                f"linecolor rgb '{c}' pointtype {5 + 2 * (i // 12)} "
                f"title 'ours {title}'"]

    def xtics(sel):
        sizes = sorted({r["bytes"] for r in rows if sel(r)})
        return "set xtics rotate by -35 (" + ", ".join(
            f"'{fmt_bytes(b)}' {b}" for b in sizes) + ")"

    # names as written: no gnuplot markup (ibv_reg_mr, anon-hugetlb-1g)
    gp = ["set terminal pngcairo size 1100,700 noenhanced",
          "set logscale x 2", "set key outside right top", "set grid",
          "set datafile missing NaN"]
    for what, val, ylabel in (
            ("footprint", "kernel_bytes", "kernel bytes per registered GiB"),
            ("reg-latency", "reg_ns", "ibv_reg_mr time (ns)")):
        plots = []
        for i, k in enumerate(kinds):
            f = f"{what}-{k}.dat"
            dat(f, lambda r, k=k: r["what"] == "reg" and r["name"] == k, val)
            plots += lines(f, i, k)
        if plots:
            gp += [f"set output '{what}.png'",
                   xtics(lambda r: r["what"] == "reg"),
                   "set xlabel 'MR size'", f"set ylabel '{ylabel}'",
                   "set logscale y 10", "plot " + ", ".join(plots)]
    plots = []
    for i, t in enumerate(tools):
        f = f"bw-{t}.dat"
        dat(f, lambda r, t=t: r["what"] == "bw" and r["name"] == t, "mb_s")
        plots += lines(f, i, t)
    if plots:
        # the ceiling of rxe's copies: the guest's memcpy, as measured
        mbs = memcpy_ceiling(rows).get("ours")
        if mbs:
            plots.append(f"{mbs:.0f} with lines dashtype 3 linewidth 2 "
                         f"linecolor rgb 'black' title 'in-guest memcpy "
                         f"(ours), {mbs:,.0f} MB/s'")
        gp += ["set output 'bandwidth.png'",
               xtics(lambda r: r["what"] == "bw"),
               "set xlabel 'message size'", "set ylabel 'MB/s'",
               "set logscale y 10", "plot " + ", ".join(plots)]
    write_if_changed(os.path.join(out, "plots.gp"), "\n".join(gp) + "\n")
    run(["gnuplot", "plots.gp"], cwd=out, quiet=True)


def run_ab(out, rounds, reps, max_bytes, bw_bytes, mem, timeout,
           kinds="", bw_sizes="", reg=True, profile=False, bw_mem="", smp=2,
           profile_hz=1000, bw_nice=None, copy_profile=False,
           bw_repeat=1, icount=None, bw_events=False):
    """Boot stock and ours alternately, stock first in odd rounds and ours
    first in even ones; return the samples."""
    variant = "trace" if copy_profile else "bench"
    images = {t: build_kernel(t, variant) for t in ("stock", "ours")}
    build_userspace()
    os.makedirs(out, exist_ok=True)
    env = (f"BENCH_REPS={reps}\nBENCH_MAX_BYTES={max_bytes}\n"
           f"BENCH_BW_BYTES={bw_bytes}\nBENCH_KINDS='{kinds}'\n" +
           (f"BENCH_BW_SIZES='{bw_sizes}'\n" if bw_sizes else "") +
           ("" if reg else "BENCH_REG=none\n") +
           (f"BENCH_PROFILE=1\nBENCH_PROFILE_HZ={profile_hz}\n"
            if profile else "") +
           ("BENCH_COPY_PROFILE=1\n" if copy_profile else "") +
           f"BENCH_BW_REPEAT={bw_repeat}\n" +
           (f"BENCH_BW_NICE={bw_nice}\n" if bw_nice is not None else "") +
           ("BENCH_BW_EVENTS=1\n" if bw_events else "") +
           (f"BENCH_BW_MEM='{bw_mem}'\n" if bw_mem else ""))
    # 1 GiB pages for the anon-hugetlb-1g rows: reserved at boot, the only
    # time they can be had without CONTIG_ALLOC (the minimal config has none)
    gigantic = (f"hugepagesz=1G hugepages={min(max_bytes >> 30, 4)}"
                if max_bytes >= 1 << 30 and (
                    not kinds or "anon-hugetlb-1g" in kinds.split())
                else "")
    samples = []
    for rnd in range(rounds):
        for tree in ("stock", "ours") if rnd % 2 == 0 else ("ours", "stock"):
            rdir = os.path.join(out, f"round{rnd + 1}-{tree}")
            os.makedirs(rdir, exist_ok=True)
            write_if_changed(os.path.join(rdir, "bench.env"), env)
            log(f"round {rnd + 1}/{rounds}: {tree}")
            # ours also prints phyr_bench's tables (synthetic hosts) at boot
            append = " ".join(a for a in (
                gigantic if reg else "",
                "phyr_bench.run=1" if tree == "ours" else "") if a)
            status, console = boot(images[tree], os.path.join(
                ROOT, "benchmarks", "guest", "round"), rdir, mem=mem,
                smp=smp, timeout=timeout, verbose=False, extra_append=append,
                icount=icount)
            bad = splats(console)
            # stock's own warnings (rxe's page_info beyond the largest
            # kmalloc, say) are results; ours must have none
            if status != 0 or (bad and tree == "ours"):
                raise LabError(f"benchmark guest {tree} round {rnd + 1} "
                               f"failed (status {status}, {len(bad)} kernel "
                               f"reports): {rdir}/console.log")
            for b in bad:
                samples.append({"what": "report", "tree": tree,
                                "round": rnd + 1,
                                "first_line": b.strip().splitlines()[0]})
            for m in BENCH_RE.finditer(console):
                x = json.loads(m[1])
                x.update(tree=tree, round=rnd + 1)
                samples.append(x)
            for x in phyr_hosts(console) if tree == "ours" else []:
                x.update(tree=tree, round=rnd + 1)
                samples.append(x)
    return samples


def print_headline(rows):
    """Footprint and registration ratios at each kind's largest MR."""
    best = {}
    for r in rows:
        if r["what"] == "reg" and r["stock"]["kernel_bytes"] and \
                r["ours"]["kernel_bytes"]:
            if r["bytes"] >= best.get(r["name"], {"bytes": 0})["bytes"]:
                best[r["name"]] = r
    print("\nA/B against stock Linux 7.2 (median; ratio = ours / stock)")
    print("| memory | MR | stock B/GiB | ours B/GiB | bytes ratio | "
          "stock reg ms | ours reg ms | reg time ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in sorted(best.items()):
        per = (1 << 30) / r["bytes"]
        print(f"| {name} | {fmt_bytes(r['bytes'])} | "
              f"{r['stock']['kernel_bytes']['median'] * per:,.0f} | "
              f"{r['ours']['kernel_bytes']['median'] * per:,.0f} | "
              f"{r['ratio']['kernel_bytes']:.4f} | "
              f"{r['stock']['reg_ns']['median'] / 1e6:,.2f} | "
              f"{r['ours']['reg_ns']['median'] / 1e6:,.2f} | "
              f"{r['ratio']['reg_ns']:.3f} |")
    loop = reg_loop_table(rows, ("anon-fragmented", "anon-contiguous"))
    if loop:
        print("\nSmall MRs of 4 KiB pages registered back to back "
              "(µs, median of the boots' medians)")
        print("\n".join(loop))
    dm = dmabuf_table(rows)
    if dm:
        print("\ndma-buf MRs on our kernel (stock rxe has none): udmabuf "
              "over a memfd, against ibv_reg_mr of the same memory")
        print("\n".join(dm))
    dml = dmabuf_loop_table(rows)
    if dml:
        print("\nThe same back to back (µs, median of the boots' medians)")
        print("\n".join(dml))


def bench_write(out, rounds, samples, prov=None):
    """Report, plots and headline of a run's samples, written into out."""
    rows = bench_aggregate(samples)
    print(bench_report(rows, rounds, out, samples, prov))
    bench_plots(rows, out)
    print_headline(rows)
    return rows


def bench_save(out, rounds, samples, prov):
    """A new results folder: report, plots and headline (bench_write()),
    and results.json with everything they came from."""
    rows = bench_write(out, rounds, samples, prov)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"provenance": prov, "rounds": rounds,
                   "samples": samples, "rows": rows}, f, indent=1)


def bench_provenance(argv):
    """What every results folder records beside its samples: the series,
    the date, the host it ran on (run_identity()) and the exact command."""
    return dict(run_identity(),
                command=" ".join(shlex.quote(a) for a in argv))


def bench_pool(dirs):
    """Several runs of the same kernels as one: each run's rounds numbered
    after the runs before it, so that every boot stays a boot of its own
    and a cell's median is over all of them. Runs of different series
    (other kernels), or profiled and unprofiled kernels together, are
    refused. Returns (series, rounds, samples, what each run was)."""
    runs = []
    for d in dirs:
        try:
            with open(os.path.join(d, "results.json")) as f:
                runs.append((os.path.basename(os.path.normpath(d)),
                             json.load(f)))
        except (OSError, ValueError) as e:
            raise LabError(f"--pool {d}: no results to read ({e})")
    if len(runs) < 2:
        raise LabError("--pool needs at least two results folders")
    provs = [r.get("provenance") or {} for _, r in runs]
    if len({p.get("series_sha256") for p in provs}) != 1 or \
            not provs[0].get("series_sha256"):
        raise LabError("--pool: these runs are of different kernel series "
                       "(or record none): " + ", ".join(
                           f"{name} {p.get('series_sha256')}"
                           for (name, _), p in zip(runs, provs)))
    if len({"--copy-profile" in p.get("command", "").split()
            for p in provs}) != 1:
        raise LabError("--pool: profiled (--copy-profile) and unprofiled "
                       "kernels are not the same kernels")
    if len({"--bw-events" in p.get("command", "").split()
            for p in provs}) != 1:
        raise LabError("--pool: ib_send_bw sleeping on its CQ (--bw-events) "
                       "and polling it are two methods")
    if len({p.get("icount") for p in provs}) != 1:
        raise LabError("--pool: runs on the instruction-count clock "
                       "(--icount) and on the host's clock, or on two "
                       "shifts, measure different things")
    rounds, samples, sources = 0, [], []
    for (name, r), p in zip(runs, provs):
        for x in r["samples"]:
            y = dict(x)
            if y.get("round") is not None:
                y["round"] += rounds
            samples.append(y)
        rounds += r["rounds"]
        sources.append({k: p.get(k) for k in ("commit", "date", "host",
                                              "cpu", "cpus", "command",
                                              "icount")}
                       | {"folder": name, "rounds": r["rounds"]})
    return provs[0]["series_sha256"], rounds, samples, sources


def bench_out_dir(path):
    """A results folder is never overwritten: refuse one that has files."""
    if os.path.isdir(path) and os.listdir(path):
        raise LabError(f"{path} already holds results; give --out a new "
                       "folder (results are never overwritten)")
    return path


def cmd_bench(args):
    t0 = time.time()
    if args.report:
        with open(os.path.join(args.report, "results.json")) as f:
            res = json.load(f)
        bench_write(args.report, res["rounds"], res["samples"],
                    res.get("provenance"))
        return 0
    if args.pool:
        if not args.out:
            raise LabError("--pool writes a new results folder: give --out")
        series, rounds, samples, sources = bench_pool(args.pool)
        out = bench_out_dir(os.path.realpath(args.out))
        os.makedirs(out, exist_ok=True)
        provenance = dict(bench_provenance(sys.argv), pooled=sources,
                          series_sha256=series,
                          icount=sources[0]["icount"])
        bench_save(out, rounds, samples, provenance)
        log(f"{rounds} rounds pooled: report, results.json and plots in "
            f"{out}")
        return 0
    ensure_host_packages()
    if args.profile and args.copy_profile:
        raise LabError("--profile and --copy-profile exclude each other: "
                       "each would count the other's cost")
    if args.profile and not shutil.which("perf"):
        raise LabError("--profile runs perf in the guest, which shares the "
                       "host's root: install linux-perf")
    out = bench_out_dir(os.path.realpath(args.out or os.path.join(
        CACHE, "bench", time.strftime("%Y%m%d-%H%M%S"))))
    provenance = dict(bench_provenance(sys.argv), icount=args.icount)
    samples = run_ab(out, args.rounds, args.reps, args.max_bytes,
                     args.bw_bytes, args.mem, args.timeout,
                     kinds=" ".join(args.kinds or []),
                     bw_sizes="none" if args.no_bw else "",
                     reg=not args.no_reg, profile=args.profile,
                     bw_mem=" ".join(args.bw_mem or []), smp=args.smp,
                     profile_hz=args.profile_hz, bw_nice=args.bw_nice,
                     copy_profile=args.copy_profile,
                     bw_repeat=args.bw_repeat, icount=args.icount,
                     bw_events=args.bw_events)
    bench_save(out, args.rounds, samples, provenance)
    log(f"report, results.json and plots in {out} "
        f"({time.time() - t0:.0f} s)")
    return 0
