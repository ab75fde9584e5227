# SPDX-License-Identifier: GPL-2.0
"""The kernel series: patches kept in the kernel/ folder of the subsystem
they change, in the order kernel/series lists them.

kernel/series is the single source of truth for our kernel work.  Each
line names one patch by its path under kernel/ (a '#' starts a comment).
A patch lives in the folder of the file it changes most (by lines
added and removed), so the rxe work is under drivers/infiniband/sw/rxe/
and phyr under lib/.  Nothing under kernel/ but patches, the series file
and the config fragments (kernel/configs/).

The pure parts (parsing, where a patch lives, the cache key) are tested
on the host by tests/host/test_lab.py.
"""

import hashlib
import os
import re

SERIES_FILE = "series"


class SeriesError(Exception):
    pass


def parse_series(text):
    """Patch paths of a series file, in order."""
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(line)
    return out


def series_paths(kernel_dir):
    """Absolute paths of the series' patches, in order; [] without one."""
    sfile = os.path.join(kernel_dir, SERIES_FILE)
    if not os.path.exists(sfile):
        return []
    with open(sfile) as fh:
        names = parse_series(fh.read())
    out = []
    for n in names:
        path = os.path.join(kernel_dir, n)
        if not os.path.exists(path):
            raise SeriesError(f"kernel/{SERIES_FILE} names {n}, which does "
                              "not exist")
        out.append(path)
    return out


def patch_files(text):
    """Files a git patch touches, relative to the tree (-p1)."""
    paths = []
    for m in re.finditer(r"^diff --git a/(\S+) b/(\S+)$", text, re.M):
        if m[2] not in paths:
            paths.append(m[2])
    if not paths:
        for m in re.finditer(r"^(?:\+\+\+ b|--- a)/(\S+)", text, re.M):
            if m[1] not in paths:
                paths.append(m[1])
    return paths


def added_files(text):
    """Files a git patch creates."""
    return [m[1] for m in re.finditer(
        r"^diff --git a/\S+ b/(\S+)\nnew file mode ", text, re.M)]


def commit_build_targets(text, scope, whole=False):
    """What the per-commit check compiles of one commit (its git patch),
    in a config whose directories are scope: the directory of each file the
    commit adds or changes there, everything under it included (a C file,
    a Makefile, a Kconfig).  All of scope when the commit changes a header
    that existed before it, since its includers may be anywhere (a header
    the commit adds can only be included by files the commit changes too),
    and when whole: the series' last commit, built whole once.  Files
    outside scope compile nothing here.  The list is sorted; a directory
    under another one in it is left out."""
    if whole:
        return list(scope)
    added = set(added_files(text))
    dirs = set()
    for f in patch_files(text):
        if f.endswith(".h") and f not in added:
            return list(scope)
        if f.endswith(".h") or not any(f.startswith(d) for d in scope):
            continue
        dirs.add(os.path.dirname(f) + "/")
    return sorted(d for d in dirs
                  if not any(d != e and d.startswith(e) for e in dirs))


def changed_lines(text):
    """Lines added plus removed, per file, of a git patch."""
    counts = {}
    cur = None
    in_hunk = False
    for line in text.splitlines():
        m = re.match(r"^diff --git a/\S+ b/(\S+)$", line)
        if m:
            cur = m[1]
            counts.setdefault(cur, 0)
            in_hunk = False
            continue
        if line.startswith("@@"):
            in_hunk = True
            continue
        if in_hunk and cur and line[:1] in "+-" and \
                not line.startswith(("+++ ", "--- ")):
            counts[cur] += 1
    return counts


def patch_home(text):
    """Folder (relative to the tree) a patch lives in: that of the file
    it changes most; ties go to the first such file in the patch."""
    counts = changed_lines(text)
    if not counts:
        raise SeriesError("patch changes no file")
    order = list(counts)
    best = max(order, key=lambda f: (counts[f], -order.index(f)))
    return os.path.dirname(best) or "."


def patch_rel(name, data):
    """Path under kernel/ of a patch file named name holding data."""
    return os.path.normpath(os.path.join(
        patch_home(data.decode("utf-8", "replace")), name))


def subject(text):
    m = re.search(r"^Subject: (?:\[PATCH[^\]]*\] )?(.*(?:\n [^\n]*)*)",
                  text, re.M)
    return re.sub(r"\n ", " ", m[1]).strip() if m else ""


def series_key(patches, *extra):
    """Content key of a series prefix: the patches' bytes in order, plus
    whatever else decides a verdict (config, compiler)."""
    h = hashlib.sha256()
    for p in patches:
        h.update(len(p).to_bytes(8, "little"))
        h.update(p)
    for e in extra:
        e = e.encode() if isinstance(e, str) else e
        h.update(len(e).to_bytes(8, "little"))
        h.update(e)
    return h.hexdigest()


def write_series(kernel_dir, patches):
    """Replace the series under kernel_dir with patches, a list of
    (file name, bytes).  Returns the relative paths written."""
    for old in series_paths(kernel_dir):
        os.unlink(old)
    rels = []
    for name, data in patches:
        rel = patch_rel(name, data)
        path = os.path.join(kernel_dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(data)
        rels.append(rel)
    with open(os.path.join(kernel_dir, SERIES_FILE), "w") as fh:
        fh.write("# The kernel series on Debian's Linux 7.2.13, in order.\n"
                 "# Each patch lives in the folder of the file it changes "
                 "most.\n")
        fh.write("".join(r + "\n" for r in rels))
    # folders left empty by a moved patch
    for dirpath, dirs, files in os.walk(kernel_dir, topdown=False):
        if dirpath != kernel_dir and not os.listdir(dirpath):
            os.rmdir(dirpath)
    return rels


def stray_files(kernel_dir):
    """Files under kernel_dir that are neither the series file, one of its
    patches, nor a config fragment: whole files are not allowed."""
    listed = set(os.path.realpath(p) for p in series_paths(kernel_dir))
    out = []
    for dirpath, dirs, files in os.walk(kernel_dir):
        rel = os.path.relpath(dirpath, kernel_dir)
        if rel == "configs":
            dirs[:] = []
            continue
        for f in files:
            p = os.path.join(dirpath, f)
            if rel == "." and f in (SERIES_FILE, "cover-letter.txt"):
                continue
            if os.path.realpath(p) not in listed:
                out.append(os.path.relpath(p, kernel_dir))
    return sorted(out)
