# SPDX-License-Identifier: GPL-2.0
"""Userspace: rdma-core, perftest and our programs, built against the
built kernel's headers."""

from common import *  # noqa: F401,F403
from sources import *  # noqa: F401,F403
from kbuild import *  # noqa: F401,F403


# --------------------------------------------------------------------------
# Userspace: rdma-core, perftest and our programs


def patched_copy(pristine, patch_dir, name):
    """A build copy of pristine with our patches, rebuilt when they change."""
    patches = sorted(os.path.join(patch_dir, f) for f in os.listdir(patch_dir)
                     if f.endswith(".patch")) if os.path.isdir(patch_dir) \
        else []
    key = sha256(("\n".join([pristine] + [read(p) for p in patches]))
                 .encode())[:12]
    path = os.path.join(CACHE, "build", f"{name}-{key}")
    if os.path.exists(os.path.join(path, ".phyrlab-ready")):
        return path, False
    shutil.rmtree(path, ignore_errors=True)
    shutil.copytree(pristine, path, symlinks=True)
    for p in patches:
        r = subprocess.run(["patch", "-p1", "--batch", "--forward", "-s",
                            "-i", p], cwd=path, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        if r.returncode:
            raise LabError(f"patch {os.path.relpath(p, ROOT)} does not "
                           f"apply to {os.path.basename(pristine)}:\n"
                           f"{r.stdout}")
    return path, True


def build_rdma_core():
    src, fresh = patched_copy(userspace_source("rdma-core"),
                              os.path.join(ROOT, "userspace", "providers"),
                              "rdma-core")
    env = build_env()
    bdir = os.path.join(src, "build")
    if fresh or not os.path.exists(os.path.join(bdir, "build.ninja")):
        os.makedirs(bdir, exist_ok=True)
        log("configuring rdma-core (in place, with pyverbs)")
        run(["cmake", "-GNinja", "-DIN_PLACE=1", "-DNO_MAN_PAGES=1",
             "-DPYTHON_EXECUTABLE=/usr/bin/python3", ".."], cwd=bdir,
            env=env, logfile=os.path.join(src, "phyrlab-cmake.log"))
    log("building rdma-core")
    run(["ninja"], cwd=bdir, env=env,
        logfile=os.path.join(src, "phyrlab-build.log"))
    write_if_changed(os.path.join(src, ".phyrlab-ready"), "")
    return bdir


def build_perftest(rdma):
    src, fresh = patched_copy(userspace_source("perftest"),
                              os.path.join(ROOT, "userspace", "perftest"),
                              "perftest")
    if os.path.exists(os.path.join(src, "ib_write_bw")) and not fresh:
        return src
    env = build_env()
    log("building perftest")
    # our patches change Makefile.am: regenerate what the tarball ships
    if fresh or not os.path.exists(os.path.join(src, "configure")):
        run(["./autogen.sh"], cwd=src, env=env,
            logfile=os.path.join(src, "phyrlab-autogen.log"))
    inc, lib = os.path.join(rdma, "include"), os.path.join(rdma, "lib")
    run(["./configure", f"CPPFLAGS=-I{inc}",
         f"LDFLAGS=-L{lib} -Wl,-rpath,{lib}"], cwd=src, env=env,
        logfile=os.path.join(src, "phyrlab-configure.log"))
    run(["make", f"-j{os.cpu_count()}"], cwd=src, env=env,
        logfile=os.path.join(src, "phyrlab-build.log"))
    write_if_changed(os.path.join(src, ".phyrlab-ready"), "")
    return src


def kernel_uapi_headers():
    """Linux 7.2's user-space headers (VFIO's dma-buf feature is newer
    than the distribution's), installed from our tree."""
    src = prepare_tree("ours")
    out = os.path.join(CACHE, "build", "uapi-ours")
    # "make headers" leaves them in $O/usr/include (headers_install would
    # want rsync)
    run(["make", "-C", src, f"O={out}", "headers"], env=build_env(),
        quiet=True)
    return os.path.join(out, "usr", "include")


def build_ours(rdma):
    bdir = os.path.join(CACHE, "build",
                        "programs-" + sha256(ROOT.encode())[:12])
    os.makedirs(bdir, exist_ok=True)
    env = build_env()
    run(["cmake", "-GNinja", f"-DRDMA_CORE_BUILD={rdma}",
         f"-DKERNEL_HEADERS={kernel_uapi_headers()}",
         "-DCMAKE_BUILD_TYPE=RelWithDebInfo", ROOT], cwd=bdir, env=env,
        quiet=True)
    run(["ninja"], cwd=bdir, env=env, quiet=True)
    return bdir


# A C example of the README, built and run by the test command as a user
# would build it: "<!-- example: NAME -->" on the line before its block.
README_EXAMPLE = re.compile(r"^<!-- example: ([\w-]+) -->\n```c\n(.*?)^```",
                            re.M | re.S)


def readme_examples(text):
    """{name: C source} of the README's examples."""
    return {m[1]: m[2] for m in README_EXAMPLE.finditer(text)}


# What a README example links against besides libibverbs, by a header it
# includes: `phyrlab clients` builds and runs those.
EXAMPLE_LIBS = (("<rdma/fabric.h>", "libfabric"), ("<ucp/api/ucp.h>", "ucx"))


def example_library(code):
    """The client library a README example uses (libfabric, ucx), or None
    for a libibverbs example."""
    for header, lib in EXAMPLE_LIBS:
        if f"#include {header}" in code:
            return lib
    return None


def build_examples(rdma, bdir):
    """The README's libibverbs examples, compiled like "cc NAME.c
    -libverbs", into bdir as example-NAME; their names."""
    inc, lib = os.path.join(rdma, "include"), os.path.join(rdma, "lib")
    names = []
    for name, code in readme_examples(
            read(os.path.join(ROOT, "README.md"))).items():
        if example_library(code):
            continue
        src = os.path.join(bdir, f"example-{name}.c")
        write_if_changed(src, code)
        run(["cc", "-O2", "-Wall", "-Wextra", "-Werror", src, "-o",
             os.path.join(bdir, f"example-{name}"), f"-I{inc}", f"-L{lib}",
             f"-Wl,-rpath,{lib}", "-libverbs"], quiet=True)
        names.append(name)
    # what the guest runs: this list, not whatever example-* a renamed
    # example left behind
    write_if_changed(os.path.join(bdir, "readme-examples"),
                     "".join(n + "\n" for n in names))
    return names


def build_userspace():
    ensure_host_packages()
    rdma = build_rdma_core()
    perf = build_perftest(rdma)
    progs = build_ours(rdma)
    build_examples(rdma, progs)
    paths = {"rdma_core": rdma, "perftest": perf, "programs": progs,
             "repo": ROOT}
    lib = os.path.join(rdma, "lib")
    env = [f"export PHYRLAB_REPO={shlex.quote(ROOT)}",
           f"export PHYRLAB_RDMA_CORE={shlex.quote(rdma)}",
           f"export PHYRLAB_PERFTEST={shlex.quote(perf)}",
           f"export PHYRLAB_PROGRAMS={shlex.quote(progs)}",
           f"export PATH={shlex.quote(perf)}:{shlex.quote(progs)}:"
           f"{shlex.quote(os.path.join(rdma, 'bin'))}:$PATH",
           f"export LD_LIBRARY_PATH={shlex.quote(lib)}",
           f"export PYTHONPATH={shlex.quote(os.path.join(rdma, 'python'))}"]
    write_if_changed(os.path.join(CACHE, "userspace.env"),
                     "\n".join(env) + "\n")
    return paths
