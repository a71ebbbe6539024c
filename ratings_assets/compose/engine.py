"""A Docker engine and a Compose to drive it: found, or installed and started when we may.

Debian's packages: docker.io (the engine, 20.10) and docker-compose (Compose 1.29,
which reads the Compose file format with health-checked dependencies). As root
without systemd, dockerd is started here in the background.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from ratings_assets.compose.errors import DockerError

DOCKERD_LOG = Path("/var/log/dockerd.log")
PACKAGES = {"docker": "docker.io", "dockerd": "docker.io", "docker-compose": "docker-compose"}


def _is_root() -> bool:
    return os.geteuid() == 0


def engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def apt_install(packages: list[str]) -> None:
    if not (_is_root() and shutil.which("apt-get")):
        raise DockerError(f"{', '.join(packages)} missing: install them (Debian: sudo apt-get install -y "
                          f"{' '.join(packages)}) and run again")
    print(f"installing {' '.join(packages)} with apt-get…", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *packages]):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise DockerError(f"`{' '.join(cmd)}` failed: {proc.stderr.strip()[-400:]}")


def _missing_packages(commands: list[str]) -> list[str]:
    return sorted({PACKAGES[c] for c in commands if shutil.which(c) is None})


def start_dockerd(timeout_s: float = 60) -> None:
    """dockerd in the background, its own session, so it outlives this command (as a service would)."""
    print(f"starting dockerd (log: {DOCKERD_LOG})…", flush=True)
    with DOCKERD_LOG.open("ab") as log:
        subprocess.Popen(["dockerd"], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if engine_answers():
            return
        time.sleep(1)
    raise DockerError(f"dockerd did not answer within {timeout_s:.0f} s: see {DOCKERD_LOG}")


def ensure_engine(install: bool = True) -> None:
    """A Docker engine that answers and docker-compose, installing and starting them as root when missing."""
    if not engine_answers():
        missing = _missing_packages(["docker", "dockerd"])
        if missing and install:
            apt_install(missing)
        if shutil.which("dockerd") and _is_root() and install:
            start_dockerd()
        elif shutil.which("docker") is None:
            raise DockerError("no Docker engine: install one (Debian: sudo apt-get install -y docker.io) "
                              "and start it (sudo dockerd &), then run again")
        elif not engine_answers():
            raise DockerError("the Docker engine does not answer (`docker info` fails): start it (as root: "
                              "dockerd &, or your service manager) or add yourself to the docker group")
    if shutil.which("docker-compose") is None:
        if not install:
            raise DockerError("docker-compose is missing: install it (Debian: sudo apt-get install -y "
                              "docker-compose) and run again")
        apt_install(["docker-compose"])


def why_no_engine() -> str | None:
    """The reason no engine can run here at all, or None when one runs or can be installed and started."""
    if engine_answers():
        return None
    if not _is_root():
        return "no Docker engine answers and, not being root, the test cannot install or start one"
    if shutil.which("dockerd") is None and shutil.which("apt-get") is None:
        return "no Docker engine and no apt-get to install Debian's docker.io"
    return None
