"""Resolve the official Apache jars from Maven Central into state_dir/jars/<service>."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from ratings_assets.localstack.config import StackConfig
from ratings_assets.localstack.errors import StackError, tail_text
from ratings_assets.localstack.process import file_lock

POM_DIR = Path(__file__).resolve().parent / "maven"
SERVICES = ("kafka", "cassandra", "spark")
MARKER = ".resolved"


def pom_path(service: str) -> Path:
    pom = POM_DIR / f"{service}.xml"
    if not pom.is_file():
        raise StackError(f"no Maven pom for {service!r} at {pom}; choose one of {', '.join(SERVICES)}.")
    return pom


def pom_digest(service: str) -> str:
    """Hash of the pom: an edited pom means the jars must be resolved again."""
    return hashlib.sha256(pom_path(service).read_bytes()).hexdigest()


def is_resolved(service: str, config: StackConfig) -> bool:
    dest = config.jars_dir(service)
    marker = dest / MARKER
    return marker.is_file() and marker.read_text().strip() == pom_digest(service) and any(dest.glob("*.jar"))


def _run_maven(service: str, out_dir: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError(
            "Maven (mvn) is not on PATH; it is needed once to download the Kafka/Cassandra/Spark jars.\n"
            "  Install it (Debian/Ubuntu: sudo apt-get install maven) and run again."
        )
    cmd = [mvn, "-q", "-B", "-Dstyle.color=never", "-f", str(pom_path(service)),
           "dependency:copy-dependencies", f"-DoutputDirectory={out_dir}", "-DincludeScope=runtime"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise StackError(
            f"Maven could not resolve the {service} jars (exit {proc.returncode}).\n"
            f"  Command: {' '.join(cmd)}\n"
            f"  Last lines of its output:\n{tail_text(proc.stdout + proc.stderr)}\n"
            "  Check that Maven Central is reachable (proxy settings in ~/.m2/settings.xml) and run again."
        )


def resolve_jars(service: str, config: StackConfig) -> Path:
    """Return state_dir/jars/<service>, running Maven first unless the marker matches the pom."""
    dest = config.jars_dir(service)
    if is_resolved(service, config):
        return dest
    with file_lock(dest.parent / f".{service}.lock"):
        if is_resolved(service, config):
            return dest
        staging = dest.with_name(f".{service}.staging")
        shutil.rmtree(staging, ignore_errors=True)
        _run_maven(service, staging)
        shutil.rmtree(dest, ignore_errors=True)
        staging.rename(dest)
        (dest / MARKER).write_text(pom_digest(service) + "\n")
    return dest


def spark_connector_jars(config: StackConfig) -> list[Path]:
    """Sorted connector jars for `spark.jars` (Kafka source and Cassandra connector)."""
    return sorted(resolve_jars("spark", config).glob("*.jar"))
