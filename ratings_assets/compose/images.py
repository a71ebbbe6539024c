"""The project's images (docker/Dockerfile's stages), built only when missing or out of date.

An image is up to date when its label holds the digest of everything its build
reads: the base image, the Dockerfile and docker/ files, the poms, pyproject.toml,
the package and the catalog. Before a build, the context gets the host's extra
CA certificates (docker/ca-certificates/) and the host's pyspark wheel
(docker/wheels/), so that pip does not build pyspark's sdist again in the image.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ratings_assets.compose.errors import DockerError
from ratings_assets.paths import REPO_ROOT

DOCKER_DIR = REPO_ROOT / "docker"
# Each stage's image, in the Dockerfile's order (the classic builder builds every stage before its target).
TARGETS = ("kafka", "cassandra", "postgres", "ratings")
LABEL = "org.ratings.inputs"
HOST_CAS = Path("/usr/local/share/ca-certificates")
CA_DIR = DOCKER_DIR / "ca-certificates"
WHEEL_DIR = DOCKER_DIR / "wheels"
INPUTS = ("docker", "pyproject.toml", "ratings_assets", "data")
# What .dockerignore keeps out of the build, and the build's own git-ignored inputs.
IGNORED_PARTS = {"__pycache__", "wheels", "ca-certificates", "compose.yaml", "README.md"}


def image_name(target: str) -> str:
    return f"ratings/{target}:local"


def _input_files() -> list[Path]:
    files = []
    for name in INPUTS:
        path = REPO_ROOT / name
        files += [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sorted(p for p in files if not IGNORED_PARTS & set(p.relative_to(REPO_ROOT).parts[1:]) and p.suffix != ".pyc")


def inputs_digest(base: str) -> str:
    digest = hashlib.sha256(base.encode())
    for path in _input_files():
        digest.update(str(path.relative_to(REPO_ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def built_digest(target: str) -> str | None:
    proc = subprocess.run(["docker", "image", "inspect", "-f", f'{{{{index .Config.Labels "{LABEL}"}}}}',
                           image_name(target)], capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else None


def out_of_date(base: str) -> list[str]:
    digest = inputs_digest(base)
    return [t for t in TARGETS if built_digest(t) != digest]


def copy_host_cas() -> list[str]:
    """The host's extra CAs into the build context (git-ignored), so that the images trust them too."""
    copied = []
    for cert in sorted(HOST_CAS.glob("*.crt")) if HOST_CAS.is_dir() else []:
        target = CA_DIR / cert.name
        if not target.is_file() or target.read_bytes() != cert.read_bytes():
            shutil.copyfile(cert, target)
        copied.append(cert.name)
    return copied


def pyspark_wheel() -> None:
    """pyspark's wheel as the host's pip has it (cached since `make setup` built it)."""
    from importlib.metadata import version

    pinned = f"pyspark=={version('pyspark')}"
    if any(WHEEL_DIR.glob(f"pyspark-{version('pyspark')}-*.whl")):
        return
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", pinned, "-w", str(WHEEL_DIR)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"no pyspark wheel from the host's pip ({proc.stderr.strip()[-200:]}); the image builds it", flush=True)


def build(base: str, targets: list[str] | None = None) -> dict[str, float]:
    """Build the targets that are out of date; seconds each took."""
    targets = out_of_date(base) if targets is None else targets
    if not targets:
        return {}
    copy_host_cas()
    pyspark_wheel()
    digest = inputs_digest(base)
    took = {}
    for target in TARGETS:
        if target not in targets:
            continue
        print(f"building {image_name(target)} from {base}…", flush=True)
        started = time.monotonic()
        cmd = ["docker", "build", "-f", str(DOCKER_DIR / "Dockerfile"), "--target", target,
               "--build-arg", f"BASE={base}", "--build-arg", f"INPUTS={digest}", "-t", image_name(target), str(REPO_ROOT)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise DockerError(f"building {image_name(target)} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
        took[target] = time.monotonic() - started
        print(f"  built in {took[target]:.0f} s", flush=True)
    return took
