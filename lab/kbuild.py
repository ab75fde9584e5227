# SPDX-License-Identifier: GPL-2.0
"""The kernel: our series applied to a tree, config fragments, builds,
and git work trees of the series."""

from common import *  # noqa: F401,F403
from sources import *  # noqa: F401,F403


# --------------------------------------------------------------------------
# Our kernel series (kernel/series and the patches it lists; lab/series.py)


def series():
    try:
        return kseries.series_paths(KERNEL_DIR)
    except kseries.SeriesError as e:
        raise LabError(str(e)) from e


def patch_paths(patch):
    """Files a patch touches, relative to the tree (-p1)."""
    return set(kseries.patch_files(read(patch, errors="replace")))


def kernel_rel(path):
    return "kernel/" + os.path.relpath(path, KERNEL_DIR)


def desired_tree_state(pristine, patches=None):
    """Contents of every file the series (or the given prefix of it)
    changes: path -> bytes or None."""
    state = {}
    patches = series() if patches is None else patches
    if patches:
        scratch = os.path.join(CACHE, "patch-scratch")
        shutil.rmtree(scratch, ignore_errors=True)
        os.makedirs(scratch)
        touched = set()
        for p in patches:
            touched |= patch_paths(p)
        for rel in touched:
            s = os.path.join(pristine, rel)
            if os.path.exists(s):
                os.makedirs(os.path.dirname(os.path.join(scratch, rel)),
                            exist_ok=True)
                shutil.copy2(s, os.path.join(scratch, rel))
        for p in patches:
            r = subprocess.run(["patch", "-p1", "--batch", "--forward",
                                "--no-backup-if-mismatch", "-s", "-i", p],
                               cwd=scratch, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
            if r.returncode:
                raise LabError(f"patch {kernel_rel(p)} "
                               f"does not apply to Linux "
                               f"{os.path.basename(pristine)}:\n{r.stdout}")
        for rel in touched:
            s = os.path.join(scratch, rel)
            state[rel] = read(s, "rb") if os.path.exists(s) else None
        shutil.rmtree(scratch)
    return state


def prepare_tree(tree, patches=None):
    """Source directory for 'ours' or 'stock'; ours is synced in place,
    to the whole series or to the given prefix of it."""
    pristine = kernel_source()
    if tree == "stock":
        return pristine
    path = os.path.join(CACHE, "trees", "ours")
    manifest = os.path.join(path, ".phyrlab-manifest")
    if os.path.isdir(path) and read(os.path.join(path, "Makefile")) != \
            read(os.path.join(pristine, "Makefile")):
        shutil.rmtree(path)  # a different base version: start over
    if not os.path.isdir(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        run(["cp", "-al", pristine, path + ".tmp"])
        os.rename(path + ".tmp", path)
    state = desired_tree_state(pristine, patches)
    previous = json.loads(read(manifest)) if os.path.exists(manifest) else []
    changed = 0
    for rel in previous:
        if rel in state:
            continue
        dst, src = os.path.join(path, rel), os.path.join(pristine, rel)
        if os.path.exists(dst):
            os.unlink(dst)
        if os.path.exists(src):
            # a copy, not a link: the pristine file's mtime is older than
            # the objects built from the patched one, and make would keep
            # them
            shutil.copyfile(src, dst)
        changed += 1
    for rel, data in sorted(state.items()):
        dst = os.path.join(path, rel)
        if data is None:
            if os.path.exists(dst):
                os.unlink(dst)
                changed += 1
        elif write_if_changed(dst, data):
            changed += 1
    write_if_changed(manifest, json.dumps(sorted(state)))
    if changed:
        log(f"tree 'ours': {changed} file(s) updated from kernel/")
    return path


# --------------------------------------------------------------------------
# Kernel configuration and build


# Options that only exist with our series: left out of the stock tree's
# config, so that stock and ours differ in nothing else.
OURS_ONLY = re.compile(r"^(# )?CONFIG_(PHYR\w*|INFINIBAND_UMEM_KUNIT_TEST|"
                       r"DMABUF_PHYR_KUNIT_TEST)\b")


def fragment(variant, tree="ours"):
    cdir = os.path.join(KERNEL_DIR, "configs")
    if variant == "ibcheck":
        parts = ["ibcheck.config"]
    elif variant == "trace":
        # the bench kernel, timed by ftrace's function profiler
        parts = ["base.config", "bench.config", "trace.config"]
    else:
        parts = ["base.config"] + ([f"{variant}.config"]
                                   if variant != "base" else [])
    text = ""
    for p in parts:
        path = os.path.join(cdir, p)
        if not os.path.exists(path):
            raise LabError(f"no config fragment kernel/configs/{p}")
        body = read(path)
        if tree == "stock":
            body = "".join(l for l in body.splitlines(True)
                           if not OURS_ONLY.match(l))
        text += f"# --- kernel/configs/{p}\n" + body
    return text


def build_env():
    env = dict(os.environ)
    ccbin = os.path.join(CACHE, "ccache-bin")
    os.makedirs(ccbin, exist_ok=True)
    cc = shutil.which("ccache")
    if cc:
        for name in ("gcc", "cc"):
            link = os.path.join(ccbin, name)
            if not os.path.islink(link):
                os.symlink(cc, link)
        env["PATH"] = ccbin + os.pathsep + env["PATH"]
    env["CCACHE_DIR"] = os.path.join(CACHE, "ccache")
    env.setdefault("CCACHE_MAXSIZE", "8G")
    env["KBUILD_BUILD_USER"] = "phyrlab"
    env["KBUILD_BUILD_HOST"] = "lab"
    return env


def verify_config(frag, config_path):
    got = {}
    for line in read(config_path).splitlines():
        m = re.match(r"^(CONFIG_\w+)=(.*)$", line)
        if m:
            got[m[1]] = m[2]
    bad = []
    for line in frag.splitlines():
        line = line.strip()
        m = re.match(r"^(CONFIG_\w+)=(.*)$", line) or \
            re.match(r"^# (CONFIG_\w+) is not set$", line)
        if not m:
            continue
        want = m[2] if m.lastindex == 2 else "n"
        have = got.get(m[1], "n")
        if want != have:
            bad.append(f"{m[1]}: asked {want}, got {have}")
    if bad:
        raise LabError("config options dropped or changed by Kconfig "
                       "(fix their dependencies in kernel/configs/):\n  " +
                       "\n  ".join(bad))


def build_dir(tree, variant):
    return os.path.join(CACHE, "build", f"{tree}-{variant}")


def build_kernel(tree="ours", variant="debug", targets=None, patches=None):
    """Build a kernel; targets and patches (a prefix of the series) serve
    the per-commit check, which builds only some directories."""
    if tree not in TREES or variant not in VARIANTS:
        raise LabError(f"unknown kernel {tree}-{variant}")
    target = IBCHECK_TARGET if variant == "ibcheck" else "bzImage"
    src = prepare_tree(tree, patches)
    out = build_dir(tree, variant)
    os.makedirs(out, exist_ok=True)
    frag = fragment(variant, tree)
    fpath = os.path.join(out, "phyrlab.fragment")
    # what the .config was made from: the whole series, or a prefix of it
    # for the per-commit check; absent while it is being made, so that a
    # run stopped there (or in a prefix) leaves no config for the series
    mpath = os.path.join(out, "phyrlab.config-for")
    made_for = "series" if patches is None else "prefix"
    env = build_env()
    fresh = write_if_changed(fpath, frag)
    if fresh or patches is not None or \
            not os.path.exists(os.path.join(out, ".config")) or \
            not os.path.exists(mpath) or read(mpath) != made_for:
        if os.path.exists(mpath):
            os.unlink(mpath)
        base = "allmodconfig" if variant == "ibcheck" else "allnoconfig"
        run(["make", "-C", src, f"O={out}", f"KCONFIG_ALLCONFIG={fpath}",
             base], env=env, quiet=True)
        write_if_changed(mpath, made_for)
    if patches is None:
        # a prefix of the series lacks options that later patches add
        verify_config(frag, os.path.join(out, ".config"))
    logfile = os.path.join(out, "phyrlab-build.log")
    if targets:
        target = " ".join(targets)
    else:
        targets = [target]
        if variant != "ibcheck" and has_modules(tree, variant):
            targets.append("modules")   # Module.symvers, for tests/kmod
    log(f"building {tree}-{variant} kernel ({target}), log {logfile}")
    t0 = time.time()
    try:
        run(["make", "-C", src, f"O={out}", f"-j{os.cpu_count()}"] +
            targets, env=env, logfile=logfile)
    except LabError as e:
        errs = [l for l in read(logfile, errors="replace").splitlines()
                if "error" in l.lower()][:20]
        raise LabError(f"kernel build {tree}-{variant} failed:\n" +
                       "\n".join(errs) + f"\n(full log: {logfile})") from e
    log(f"{tree}-{variant} kernel ready in {time.time() - t0:.0f} s")
    if variant == "ibcheck":
        return os.path.join(out, IBCHECK_TARGET)
    return os.path.join(out, "arch/x86/boot/bzImage")


def has_modules(tree, variant):
    cfg = os.path.join(build_dir(tree, variant), ".config")
    return os.path.exists(cfg) and \
        re.search(r"^CONFIG_MODULES=y$", read(cfg), re.M) is not None


def test_module_dir(tree, variant):
    return os.path.join(CACHE, "build", f"kmod-{tree}-{variant}")


def build_test_module(tree="ours", variant="debug"):
    """tests/kmod (the tests' dma-buf exporter) against a built kernel:
    the directory holding the .ko, or None for a kernel without modules."""
    if not has_modules(tree, variant):
        return None
    src = prepare_tree(tree)
    out = build_dir(tree, variant)
    mdir = test_module_dir(tree, variant)
    os.makedirs(mdir, exist_ok=True)
    kdir = os.path.join(ROOT, "tests", "kmod")
    for f in sorted(os.listdir(kdir)):
        write_if_changed(os.path.join(mdir, f),
                         read(os.path.join(kdir, f), "rb"))
    run(["make", "-C", src, f"O={out}", f"M={mdir}", "modules"],
        env=build_env(), logfile=os.path.join(mdir, "phyrlab-build.log"))
    return mdir


def kernel_image(tree, variant):
    img = os.path.join(build_dir(tree, variant), "arch/x86/boot/bzImage")
    if not os.path.exists(img):
        raise LabError(f"no kernel image for {tree}-{variant} at {img}: "
                       f"run 'phyrlab kernel --tree {tree} --variant "
                       f"{variant}' first")
    return img


def make_worktree(path, patches=None):
    """Git tree of the pristine source (tag phyrlab-base) with one commit
    per patch of the series on branch phyr."""
    pristine = kernel_source()
    log(f"copying {os.path.basename(pristine)} to {path}")
    shutil.copytree(pristine, path, symlinks=True)
    os.unlink(os.path.join(path, ".phyrlab-unpacked"))
    git(["init", "-q", "-b", "phyr"], path)
    # Debian's top-level .gitignore ignores everything ("/*"): add by force.
    git(["add", "-A", "-f"], path)
    git(["commit", "-q", "-m", f"Linux {os.path.basename(pristine)[6:]} "
         f"(Debian {KERNEL_PKG})"], path)
    git(["tag", "phyrlab-base"], path)
    for p in series() if patches is None else patches:
        r = subprocess.run(["git"] + GIT_ID + ["am", "-q", "--keep-cr", p],
                           cwd=path, text=True, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        if r.returncode:
            raise LabError(f"patch {kernel_rel(p)} does not apply:\n"
                           f"{r.stdout}")
    return path


def format_series(path):
    """The work tree's commits since phyrlab-base as (name, bytes)."""
    if git(["status", "--porcelain", "--untracked-files=no"],
           path).stdout.strip():
        raise LabError(f"{path} has uncommitted changes: commit them first")
    out = os.path.join(CACHE, "export.tmp")
    shutil.rmtree(out, ignore_errors=True)
    # --abbrev: index lines must not depend on how many objects a
    # repository holds, or a round trip through a fresh tree would differ
    names = git(["format-patch", "-N", "--no-signature", "--zero-commit",
                 "--no-numbered", "--abbrev=12", "-o", out,
                 "phyrlab-base..HEAD"],
                path).stdout.split()
    patches = [(os.path.basename(n), read(n, "rb")) for n in names]
    shutil.rmtree(out)
    return patches
