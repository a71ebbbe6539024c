"""Find a Java runtime of the right major version for each service."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ratings_assets.localstack.errors import StackError

JVM_ROOT = Path("/usr/lib/jvm")
_VERSION_RE = re.compile(r'version "([^"]+)"')


@dataclass(frozen=True)
class JavaInfo:
    executable: Path
    version: str
    major: int


def parse_java_version(output: str) -> tuple[str, int]:
    """Version string and major number from `java -version` output.

    Handles both the old scheme ("1.8.0_392" -> 8) and the new one ("17.0.15", "25").
    """
    match = _VERSION_RE.search(output)
    if not match:
        raise ValueError(f"no version found in java -version output: {output[:200]!r}")
    version = match.group(1)
    parts = re.split(r"[._+-]", version)
    major = int(parts[1]) if parts[0] == "1" and len(parts) > 1 else int(parts[0])
    return version, major


@functools.lru_cache(maxsize=32)
def java_info(executable: Path) -> JavaInfo:
    """Run `java -version` once per executable (cached: it costs ~100 ms)."""
    try:
        proc = subprocess.run([str(executable), "-version"], capture_output=True, text=True, timeout=30)
    except OSError as exc:
        raise StackError(f"cannot run {executable}: {exc}. Check that it is an installed Java.") from None
    version, major = parse_java_version(proc.stderr + proc.stdout)
    return JavaInfo(Path(executable), version, major)


def _candidates(java_home: Path | None) -> list[Path]:
    """Java executables in order of preference: JAVA_HOME, PATH, then /usr/lib/jvm."""
    found: list[Path] = []
    env_home = os.environ.get("JAVA_HOME")
    if env_home:
        found.append(Path(env_home) / "bin" / "java")
    on_path = shutil.which("java")
    if on_path:
        found.append(Path(on_path).resolve())
    if JVM_ROOT.is_dir():
        found.extend(sorted(p / "bin" / "java" for p in JVM_ROOT.iterdir() if not p.is_symlink()))
    unique: dict[Path, None] = {}
    for path in found:
        if path.is_file() and os.access(path, os.X_OK):
            unique.setdefault(path.resolve(), None)
    return list(unique)


def _fits(info: JavaInfo, min_major: int, max_major: int | None) -> bool:
    return info.major >= min_major and (max_major is None or info.major <= max_major)


def _wanted(min_major: int, max_major: int | None) -> str:
    return f"Java {min_major}" + (f" to {max_major}" if max_major and max_major != min_major else "+")


def find_java(min_major: int, max_major: int | None = None, java_home: Path | None = None,
              purpose: str = "this service") -> JavaInfo:
    """The first suitable java; an explicit `java_home` (RATINGS_JAVA_HOME) must fit or we fail."""
    wanted = _wanted(min_major, max_major)
    if java_home is not None:
        info = java_info(java_home / "bin" / "java")
        if not _fits(info, min_major, max_major):
            raise StackError(
                f"RATINGS_JAVA_HOME={java_home} is Java {info.version}, but {purpose} needs {wanted}. "
                f"Point RATINGS_JAVA_HOME at a {wanted} JDK, or unset it to let the launcher search."
            )
        return info
    seen = []
    for exe in _candidates(None):
        try:
            info = java_info(exe)
        except (StackError, ValueError):
            continue
        if _fits(info, min_major, max_major):
            return info
        seen.append(f"{exe} ({info.version})")
    found = "; found only: " + ", ".join(seen) if seen else "; no java was found at all"
    raise StackError(
        f"{purpose} needs {wanted}{found}.\n"
        f"  Install one (Debian/Ubuntu: sudo apt-get install openjdk-17-jdk-headless) "
        f"or point RATINGS_JAVA_HOME at an installed {wanted} JDK."
    )
