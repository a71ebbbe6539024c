"""Peak resident memory (VmHWM) of the stack's processes, from /proc.

VmHWM is a process's high-water mark of resident memory over its whole
life, so it is read once, at the end: Kafka and Cassandra (long-running,
shared: their peak includes whatever else they served), the Spark driver JVM
the benchmark started and its Python workers, and a Dagster webserver
(with its code server) started for the purpose.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.env import stop_group
from ratings_assets.paths import REPO_ROOT

KIB = 1024


def status_field(pid: int, name: str) -> int | None:
    """A 'kB' field of /proc/PID/status (VmHWM, VmRSS) in bytes; None when the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{name}:"):
                return int(line.split()[1]) * KIB
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return None


def peak_bytes(pid: int) -> int | None:
    return status_field(pid, "VmHWM")


def _comm_and_ppid(pid: int) -> tuple[str, int] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    comm = stat[stat.index("(") + 1: stat.rindex(")")]
    return comm, int(stat.rsplit(")", 1)[1].split()[1])


def descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, command name) of every live descendant of `pid`."""
    children: dict[int, list[tuple[int, str]]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            info = _comm_and_ppid(int(entry.name))
            if info:
                children.setdefault(info[1], []).append((int(entry.name), info[0]))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child[0])
    return found


def spark_processes(bench_pid: int | None = None) -> dict[str, list[int]]:
    """The Spark driver JVM(s) under this process, and the Python workers under them."""
    jvms = [pid for pid, comm in descendants(bench_pid or os.getpid()) if comm == "java"]
    workers = [pid for jvm in jvms for pid, comm in descendants(jvm) if comm.startswith("python")]
    return {"jvm": jvms, "python_workers": workers}


def total_peak(pids: list[int]) -> int:
    return sum(peak_bytes(pid) or 0 for pid in pids)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dagster_webserver_peak(seconds: float = 20.0, start_timeout_s: float = 180.0) -> dict:
    """Start `dagster-webserver -w workspace.yaml` on a free port, let it load the code location, read its peaks.

    Returns bytes for the webserver and for its code-server children, and the
    seconds until it answered. The webserver runs in its own session and is
    stopped (its process group, which only it and its children are in) here.
    """
    port = _free_port()
    executable = Path(sys.executable).with_name("dagster-webserver")
    with tempfile.TemporaryDirectory(prefix="bench-dagster-") as home:
        env = {**os.environ, "DAGSTER_HOME": home}
        log = open(Path(home) / "webserver.log", "wb")
        started = time.monotonic()
        proc = subprocess.Popen(
            [str(executable), "-w", str(REPO_ROOT / "workspace.yaml"), "-p", str(port), "-h", "127.0.0.1"],
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            ready = _wait_http(f"http://127.0.0.1:{port}/server_info", proc, start_timeout_s)
            answered = time.monotonic() - started
            # Ask for the code location, so the code server has loaded the definitions.
            _get(f"http://127.0.0.1:{port}/graphql?query=%7BworkspaceOrError%7B__typename%7D%7D")
            time.sleep(seconds)
            children = [pid for pid, _ in descendants(proc.pid)]
            figures = {"webserver": peak_bytes(proc.pid) or 0, "code_servers": total_peak(children),
                       "processes": 1 + len(children), "answered_s": round(answered, 1) if ready else None}
        finally:
            stop_group(proc)
            log.close()
    return figures


def _get(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status == 200
    except OSError:
        return False


def _wait_http(url: str, proc: subprocess.Popen, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dagster-webserver exited with {proc.returncode} during start")
        if _get(url):
            return True
        time.sleep(1.0)
    return False


