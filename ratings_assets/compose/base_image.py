"""The one base image every image is built from (the Dockerfile's BASE argument).

A public Debian bookworm image when a registry gives one; otherwise (no registry
reachable, as on our machines) one made here from Debian's own packages:
debootstrap --variant=minbase, from the mirror apt already uses, then `docker import`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from ratings_assets.compose.engine import apt_install
from ratings_assets.compose.errors import DockerError

PUBLIC_BASE = "debian:bookworm-slim"
LOCAL_BASE = "local/debian:bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
APT_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))


def image_exists(name: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", name], capture_output=True).returncode == 0


def debian_mirror(sources: tuple[Path, ...] = APT_SOURCES) -> str:
    """The Debian archive (not security, not third-party) apt uses here; deb.debian.org when none is found."""
    files = []
    for source in sources:
        files += sorted(source.glob("*.list")) + sorted(source.glob("*.sources")) if source.is_dir() else [source]
    for path in files:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        # One-line form: deb URL SUITE ...; deb822 form: URIs: URL, then Suites: ...
        for url, suites in re.findall(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+(\S+)", text, re.M) + [
                (m.group(1), m.group(2)) for m in re.finditer(r"^URIs:\s*(\S+)\s*\nSuites:\s*([^\n]+)", text, re.M)]:
            if url.rstrip("/").endswith("/debian") and "bookworm" in suites.split()[0]:
                return url.rstrip("/")
    return DEFAULT_MIRROR


def make_local_base(name: str = LOCAL_BASE) -> None:
    if shutil.which("debootstrap") is None:
        apt_install(["debootstrap"])
    mirror = debian_mirror()
    print(f"making the base image {name}: debootstrap --variant=minbase bookworm from {mirror}…", flush=True)
    with tempfile.TemporaryDirectory(prefix="ratings-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        proc = subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(rootfs), mirror],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise DockerError(f"debootstrap failed: {(proc.stdout + proc.stderr).strip()[-400:]}")
        # What debootstrap downloaded and apt's caches are not part of the image (builds run apt-get update).
        for cache in ("var/cache/apt", "var/lib/apt/lists"):
            shutil.rmtree(rootfs / cache, ignore_errors=True)
        for folder in ("var/cache/apt/archives/partial", "var/lib/apt/lists/partial"):
            (rootfs / folder).mkdir(parents=True)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(["docker", "import", "-", name], stdin=tar.stdout, capture_output=True, text=True)
        tar.stdout.close()
        if tar.wait() != 0 or imported.returncode != 0:
            raise DockerError(f"docker import of the base image failed: {imported.stderr.strip()[-400:]}")


def ensure_base_image(wanted: str | None) -> str:
    """The base image to build from, present in the engine: `wanted` (pulled when missing), else the
    public one when it can be pulled, else the local one (made when missing)."""
    if wanted:
        if not image_exists(wanted) and subprocess.run(["docker", "pull", "-q", wanted]).returncode != 0:
            raise DockerError(f"the base image {wanted} is neither here nor pullable: pull or build it, or unset "
                              "DOCKER_BASE_IMAGE to build from a Debian image made here")
        return wanted
    for name in (PUBLIC_BASE, LOCAL_BASE):
        if image_exists(name):
            return name
    if subprocess.run(["docker", "pull", "-q", PUBLIC_BASE], capture_output=True).returncode == 0:
        return PUBLIC_BASE
    print(f"{PUBLIC_BASE} cannot be pulled here (no registry reachable)", flush=True)
    make_local_base(LOCAL_BASE)
    return LOCAL_BASE
