# SPDX-License-Identifier: GPL-2.0
"""Real clients over rxe (`phyrlab clients`): libfabric and UCX.

Both are built from Debian's sources against our rdma-core build (the one
with rxe's reg_dmabuf_mr), unpatched:
- libfabric with its verbs and rxm providers, and fabtests;
- UCX from the newest version whose source the archive serves (newer ones
  it lists answer 404: the command says which it skipped).
The debug kernel (KASAN, lockdep, kmemleak) then boots and runs
tests/guest/clients/run: fabtests over verbs;ofi_rxm and verbs, our
FI_MR_DMABUF test (tests/rdma/fi_dmabuf.c), ucx_perftest, and the README's
libfabric and UCX examples.

The pure part (which README examples need which library) is tested on the
host by tests/host/test_lab.py.
"""

import os
import time

from common import *  # noqa: F401,F403
from sources import *  # noqa: F401,F403
from kbuild import *  # noqa: F401,F403
from userspace import *  # noqa: F401,F403
from boot import *  # noqa: F401,F403

def client_build_dir(name, rdma):
    """A pristine copy of a client's source, per rdma-core build."""
    src = userspace_source(name, newest_served=True)
    path, fresh = patched_copy(src, os.path.join(ROOT, "userspace", name),
                               f"{name}-{sha256(rdma.encode())[:8]}")
    return path, fresh


def build_libfabric(rdma):
    """libfabric (verbs and rxm providers only) and fabtests, installed
    into the build directory's inst/."""
    src, fresh = client_build_dir("libfabric", rdma)
    inst = os.path.join(src, "inst")
    if not fresh:       # patched_copy() found it built (.phyrlab-ready)
        return inst
    env = build_env()
    lib = os.path.join(rdma, "lib")
    jobs = f"-j{os.cpu_count()}"
    log("building libfabric (verbs, rxm) against our rdma-core")
    run(["./autogen.sh"], cwd=src, env=env,
        logfile=os.path.join(src, "phyrlab-autogen.log"))
    run(["./configure", f"--prefix={inst}", "--enable-only",
         f"--enable-verbs={rdma}", "--enable-rxm", "--disable-static",
         f"LDFLAGS=-Wl,-rpath,{lib}"], cwd=src, env=env,
        logfile=os.path.join(src, "phyrlab-configure.log"))
    # a verbs provider without dma-buf registration would make the
    # FI_MR_DMABUF test fail later, far from the cause
    if not re.search(r"#define VERBS_HAVE_DMABUF_MR 1",
                     read(os.path.join(src, "config.h"))):
        raise LabError("libfabric's verbs provider was configured without "
                       "ibv_reg_dmabuf_mr (see phyrlab-configure.log)")
    run(["make", jobs, "install"], cwd=src, env=env,
        logfile=os.path.join(src, "phyrlab-build.log"))
    ft = os.path.join(src, "fabtests")
    log("building fabtests")
    run(["./autogen.sh"], cwd=ft, env=env,
        logfile=os.path.join(ft, "phyrlab-autogen.log"))
    run(["./configure", f"--prefix={inst}", f"--with-libfabric={inst}",
         f"LDFLAGS=-Wl,-rpath,{inst}/lib:{lib}"], cwd=ft, env=env,
        logfile=os.path.join(ft, "phyrlab-configure.log"))
    run(["make", jobs, "install"], cwd=ft, env=env,
        logfile=os.path.join(ft, "phyrlab-build.log"))
    write_if_changed(os.path.join(src, ".phyrlab-ready"), "")
    return inst


def build_ucx(rdma):
    """UCX with its verbs transports, installed into inst/."""
    src, fresh = client_build_dir("ucx", rdma)
    inst = os.path.join(src, "inst")
    if not fresh:       # patched_copy() found it built (.phyrlab-ready)
        return inst
    env = build_env()
    lib = os.path.join(rdma, "lib")
    log("building UCX against our rdma-core")
    # the orig tarball leaves out debian/, which configure.ac still lists
    os.makedirs(os.path.join(src, "debian"), exist_ok=True)
    for f in ("rules.in", "control.in", "changelog.in", "compat",
              "copyright", "ucx.prerm"):
        write_if_changed(os.path.join(src, "debian", f), "")
    run(["./autogen.sh"], cwd=src, env=env,
        logfile=os.path.join(src, "phyrlab-autogen.log"))
    run(["./configure", f"--prefix={inst}", f"--with-verbs={rdma}",
         f"--with-rdmacm={rdma}", "--without-cuda", "--without-rocm",
         "--without-java", "--without-go", "--without-knem",
         "--without-xpmem", "--without-fuse3", "--disable-static",
         f"LDFLAGS=-Wl,-rpath,{lib}"], cwd=src, env=env,
        logfile=os.path.join(src, "phyrlab-configure.log"))
    run(["make", f"-j{os.cpu_count()}", "install"], cwd=src, env=env,
        logfile=os.path.join(src, "phyrlab-build.log"))
    write_if_changed(os.path.join(src, ".phyrlab-ready"), "")
    return inst


def build_client_programs(rdma, fabric, ucx):
    """Our programs with the clients' ones (fi_dmabuf), and the README's
    libfabric and UCX examples; the build directory."""
    bdir = os.path.join(CACHE, "build",
                        "clients-" + sha256(ROOT.encode())[:12])
    os.makedirs(bdir, exist_ok=True)
    env = build_env()
    run(["cmake", "-GNinja", f"-DRDMA_CORE_BUILD={rdma}",
         f"-DKERNEL_HEADERS={kernel_uapi_headers()}",
         f"-DLIBFABRIC_DIR={fabric}", f"-DUCX_DIR={ucx}",
         "-DCMAKE_BUILD_TYPE=RelWithDebInfo", ROOT], cwd=bdir, env=env,
        quiet=True)
    run(["ninja", "fi_dmabuf"], cwd=bdir, env=env, quiet=True)
    prefix = {"libfabric": fabric, "ucx": ucx}
    libs = {"libfabric": ["-lfabric"], "ucx": ["-lucp", "-lucs"]}
    names = []
    for name, code in readme_examples(
            read(os.path.join(ROOT, "README.md"))).items():
        lib = example_library(code)
        if not lib:
            continue
        p = prefix[lib]
        src = os.path.join(bdir, f"example-{name}.c")
        write_if_changed(src, code)
        run(["cc", "-O2", "-Wall", "-Wextra", "-Werror", src, "-o",
             os.path.join(bdir, f"example-{name}"), f"-I{p}/include",
             f"-L{p}/lib", f"-Wl,-rpath,{p}/lib:{rdma}/lib"] + libs[lib],
            quiet=True)
        names.append(name)
    write_if_changed(os.path.join(bdir, "readme-examples"),
                     "".join(n + "\n" for n in names))
    return bdir


def client_versions():
    """{client: version built} from the unpacked sources' names, and the
    newer versions skipped because the archive did not serve them."""
    out = {}
    for name in ("libfabric", "ucx"):
        src = userspace_source(name, newest_served=True)
        out[name] = os.path.basename(src)[len(name) + 1:]
        skipped = os.path.join(CACHE, "dl", f"{name}.skipped")
        if os.path.exists(skipped) and read(skipped).strip():
            out[name + "_skipped"] = read(skipped).strip().splitlines()
    return out


def cmd_clients(args):
    t0 = time.time()
    ensure_host_packages()
    paths = build_userspace()
    rdma = paths["rdma_core"]
    fabric = build_libfabric(rdma)
    ucx = build_ucx(rdma)
    progs = build_client_programs(rdma, fabric, ucx)
    versions = client_versions()
    for name, v in versions.items():
        log(f"{name}: {v}")
    envfile = os.path.join(CACHE, "clients.env")
    write_if_changed(envfile, "".join(
        f"export {k}={shlex.quote(v)}\n" for k, v in (
            ("CLIENTS_FABRIC", fabric), ("CLIENTS_UCX", ucx),
            ("CLIENTS_PROGRAMS", progs),
            ("CLIENTS_VERSIONS", " ".join(
                f"{k}={v}" for k, v in versions.items()
                if not k.endswith("_skipped"))))))
    image = build_kernel("ours", "debug")
    kmod = build_test_module("ours", "debug")
    outroot = os.path.join(CACHE, "runs",
                           "clients-" + time.strftime("%Y%m%d-%H%M%S"))
    status, console = boot(image, tests_dir("guest", "clients", "run"),
                           outroot, timeout=args.timeout,
                           verbose=args.verbose, kmod=kmod,
                           extra_append=f"phyrlab_clients={envfile}")
    bad = splats(console)
    for s in bad:
        print("\n=== kernel report (clients) ===\n" + s)
    results = [(n.replace("guest.", "clients.", 1), s)
               for n, s in guest_results(console)]
    results.append(("clients.guest-exit-status",
                    "SUCCESS" if status == 0 else "FAILURE"))
    results.append(("clients.no-splats", "FAILURE" if bad else "SUCCESS"))
    with open(os.path.join(outroot, "results.json"), "w") as fh:
        json.dump(dict(run_identity(), command="./phyrlab clients",
                       versions=versions, results=results), fh, indent=1)
    return report_results(results, outroot, t0)
