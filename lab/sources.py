# SPDX-License-Identifier: GPL-2.0
"""Host packages and sources: the Debian archive reached through a private
apt configuration, the pristine kernel tree, rdma-core and perftest."""

import functools

from common import *  # noqa: F401,F403


# --------------------------------------------------------------------------
# Host packages


def ensure_host_packages():
    missing = sorted({pkg for tool, pkg in APT_NEEDS.items()
                      if not shutil.which(tool)} |
                     {pkg for hdr, pkg in APT_HEADERS.items()
                      if not os.path.exists(hdr)})
    if not missing:
        return
    if os.geteuid() != 0:
        raise LabError("missing host packages (run as root or install): " +
                       " ".join(missing))
    log("installing host packages: " + " ".join(missing))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["apt-get", "update", "-qq"], env=env, quiet=True)
    run(["apt-get", "install", "-y", "-qq", "--no-install-recommends"] +
        missing, env=env, quiet=True)


# --------------------------------------------------------------------------
# The Debian archive, reached through a private apt configuration


def archive_source():
    """Return (uri, keyring) of the Debian archive the machine already uses."""
    entries = []
    srcdir = "/etc/apt/sources.list.d"
    files = [os.path.join(srcdir, f) for f in sorted(os.listdir(srcdir))
             if f.endswith(".sources")] if os.path.isdir(srcdir) else []
    for path in files:
        for stanza in read(path).split("\n\n"):
            fields = {}
            for line in stanza.splitlines():
                m = re.match(r"^([A-Za-z-]+):\s*(.*)$", line)
                if m:
                    fields[m[1].lower()] = m[2].strip()
            if fields.get("enabled", "yes") == "no":
                continue
            if "deb" not in fields.get("types", "").split():
                continue
            for uri in fields.get("uris", "").split():
                entries.append((uri, fields.get("suites", "").split(),
                                fields.get("signed-by")))
    for path in ["/etc/apt/sources.list"] + [
            os.path.join(srcdir, f) for f in sorted(os.listdir(srcdir))
            if f.endswith(".list")]:
        if not os.path.exists(path):
            continue
        for line in read(path).splitlines():
            m = re.match(r"^deb\s+(\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
            if m:
                key = re.search(r"signed-by=(\S+?)[\]\s]", m[1] or "")
                entries.append((m[2], [m[3]], key[1] if key else None))
    for uri, suites, key in entries:
        if any(s.split("-")[0] in ("bookworm", "trixie", "forky", "sid",
                                   "stable", "testing", "unstable")
               and not s.endswith("security") for s in suites):
            return uri, key or "/usr/share/keyrings/debian-archive-keyring.gpg"
    raise LabError("no Debian archive found in the machine's apt sources")


class Apt:
    def __init__(self):
        self.dir = os.path.join(CACHE, "apt")
        self.uri, self.key = archive_source()
        for d in ("lists/partial", "archives/partial", "etc"):
            os.makedirs(os.path.join(self.dir, d), exist_ok=True)
        lines = []
        for s in SUITES:
            for t in ("deb", "deb-src"):
                lines.append(f"{t} [signed-by={self.key}] {self.uri} {s} main")
        # new suites need new lists, whatever the age of the last update
        self.changed = write_if_changed(
            os.path.join(self.dir, "etc/sources.list"),
            "\n".join(lines) + "\n")
        self.opts = [
            "-o", f"Dir::Etc::sourcelist={self.dir}/etc/sources.list",
            "-o", "Dir::Etc::sourceparts=-",
            "-o", f"Dir::State::Lists={self.dir}/lists",
            "-o", f"Dir::Cache={self.dir}",
            "-o", f"Dir::Cache::archives={self.dir}/archives",
            "-o", "APT::Sandbox::User=root",
            "-o", "Acquire::Retries=3",
        ]
        self.updated = False

    def update(self):
        if self.updated:
            return
        stamp = os.path.join(self.dir, "updated")
        if self.changed or not os.path.exists(stamp) or \
                time.time() - os.path.getmtime(stamp) > 86400:
            log(f"reading package lists of suites {', '.join(SUITES)}")
            p = run(["apt-get"] + self.opts + ["update"], quiet=True,
                    check=False)
            if p.returncode:
                log("apt-get update reported errors (continuing with the "
                    "suites that answered):\n" + p.stdout[-1500:])
            write_if_changed(stamp, "")
            os.utime(stamp)
        self.updated = True

    def not_found(self, what):
        return LabError(f"package {what} not found in suites "
                        f"{', '.join(SUITES)} of the machine's Debian archive "
                        f"({self.uri})")

    def download_binary(self, pkg, dest):
        self.update()
        p = run(["apt-get"] + self.opts + ["--print-uris", "download", pkg],
                quiet=True, check=False)
        m = re.search(r"'(\S+)'\s+(\S+)\s+(\d+)\s+SHA256:([0-9a-f]+)",
                      p.stdout)
        if p.returncode or not m:
            raise self.not_found(pkg)
        return fetch_url(m[1], os.path.join(dest, m[2]), m[4])

    def source_versions(self, srcpkg):
        """Versions of a source package in the suites, newest first."""
        self.update()
        p = run(["apt-cache"] + self.opts + ["showsrc", srcpkg], quiet=True,
                check=False)
        vers = sorted(set(re.findall(r"^Version: (\S+)$", p.stdout, re.M)),
                      key=functools.cmp_to_key(debian_version_cmp),
                      reverse=True)
        if not vers:
            raise self.not_found(f"{srcpkg} (source)")
        return vers

    def download_orig(self, srcpkg, dest, newest_served=False):
        """Fetch the upstream .orig tarball of a source package: of its
        newest version, or with newest_served of the newest version whose
        tarball the archive serves (some answer 404).  Returns the path;
        self.skipped lists (version, why) of the newer ones skipped."""
        self.skipped = []
        for ver in self.source_versions(srcpkg):
            p = run(["apt-get"] + self.opts +
                    ["source", "--print-uris", f"{srcpkg}={ver}"],
                    quiet=True, check=False)
            for m in re.finditer(
                    r"'(\S+)'\s+(\S+)\s+(\d+)\s+SHA256:([0-9a-f]+)",
                    p.stdout):
                if ".orig.tar." not in m[2]:
                    continue
                try:
                    return fetch_url(m[1], os.path.join(dest, m[2]), m[4])
                except LabError as e:
                    if not newest_served:
                        raise
                    log(f"{srcpkg} {ver}: {e}; trying an older version")
                    self.skipped.append((ver, str(e)))
            if not newest_served:
                break
        raise self.not_found(f"{srcpkg} (source)")


def debian_version_cmp(a, b):
    """Compare two Debian versions as dpkg does (-1, 0, 1)."""
    if a == b:
        return 0
    gt = subprocess.run(["dpkg", "--compare-versions", a, "gt", b]).returncode
    return 1 if gt == 0 else -1


def fetch_url(url, path, want_sha):
    if os.path.exists(path) and sha256(read(path, "rb")) == want_sha:
        return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    log(f"downloading {os.path.basename(path)}")
    last = None
    for attempt in range(3):
        try:
            with urllib.request.urlopen(url, timeout=120) as r:
                data = r.read()
            if sha256(data) != want_sha:
                raise LabError(f"checksum mismatch for {os.path.basename(path)}")
            with open(path + ".part", "wb") as fh:
                fh.write(data)
            os.replace(path + ".part", path)
            return path
        except Exception as e:  # network hiccups: retry, then report
            last = e
            time.sleep(2 * (attempt + 1))
    raise LabError(f"download of {os.path.basename(path)} failed: {last}")


# --------------------------------------------------------------------------
# Sources


def kernel_source_if_present():
    """The unpacked pristine tree, or None (no download)."""
    src = os.path.join(CACHE, "src")
    for d in sorted(os.listdir(src)) if os.path.isdir(src) else []:
        path = os.path.join(src, d)
        if d.startswith("linux-7.2.") and \
                os.path.exists(os.path.join(path, ".phyrlab-unpacked")):
            return path
    return None


def kernel_source():
    """Pristine Linux 7.2 tree, unpacked once from Debian's linux-source."""
    have = kernel_source_if_present()
    if have:
        return have
    src = os.path.join(CACHE, "src")
    deb = Apt().download_binary(KERNEL_PKG, os.path.join(CACHE, "dl"))
    tmp = os.path.join(src, "unpack.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    log(f"unpacking {os.path.basename(deb)}")
    run(["sh", "-c", "dpkg-deb --fsys-tarfile \"$1\" | "
         "tar -xO ./usr/src/linux-source-7.2.tar.xz | tar -xJf - -C \"$2\"",
         "sh", deb, tmp])
    top = os.path.join(tmp, "linux-source-7.2")
    mk = read(os.path.join(top, "Makefile"))
    ver = dict(re.findall(r"^(VERSION|PATCHLEVEL|SUBLEVEL) = (\d+)", mk, re.M))
    if (ver.get("VERSION"), ver.get("PATCHLEVEL")) != ("7", "2"):
        raise LabError(f"{KERNEL_PKG} holds Linux {ver.get('VERSION')}."
                       f"{ver.get('PATCHLEVEL')}, not 7.2")
    path = os.path.join(src, f"linux-7.2.{ver['SUBLEVEL']}")
    shutil.rmtree(path, ignore_errors=True)
    os.rename(top, path)
    shutil.rmtree(tmp)
    write_if_changed(os.path.join(path, ".phyrlab-unpacked"), "")
    return path


def userspace_source(pkg, newest_served=False):
    """Pristine upstream tree of a Debian source package (orig tarball);
    newest_served: of the newest version the archive serves (see
    Apt.download_orig)."""
    src = os.path.join(CACHE, "src")
    os.makedirs(src, exist_ok=True)
    for d in sorted(os.listdir(src)):
        if d.startswith(pkg + "-") and os.path.exists(
                os.path.join(src, d, ".phyrlab-unpacked")):
            return os.path.join(src, d)
    apt = Apt()
    tarball = apt.download_orig(pkg, os.path.join(CACHE, "dl"),
                                newest_served)
    if newest_served:
        write_if_changed(os.path.join(CACHE, "dl", f"{pkg}.skipped"),
                         "".join(f"{v}: {why}\n" for v, why in apt.skipped))
    ver = os.path.basename(tarball).split("_")[1].split(".orig")[0]
    tmp = os.path.join(src, "unpack.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    run(["tar", "-xf", tarball, "-C", tmp])
    (top,) = os.listdir(tmp)
    path = os.path.join(src, f"{pkg}-{ver}")
    shutil.rmtree(path, ignore_errors=True)
    os.rename(os.path.join(tmp, top), path)
    shutil.rmtree(tmp)
    write_if_changed(os.path.join(path, ".phyrlab-unpacked"), "")
    return path
