"""A server run as a detached background process, tracked by a pid file.

Subclasses say how to prepare and launch the server and how to ask it whether
it is ready; this base handles reuse of a running server, stale pid files,
ports taken by strangers, start-up polling and stopping.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import shlex
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from ratings_assets.localstack.config import StackConfig
from ratings_assets.localstack.errors import StackError, port_taken, tail_text

POLL_INTERVAL_S = 0.5
STOP_TIMEOUT_S = 30.0
PORT_RELEASE_S = 5.0  # the kernel closes a dead process's sockets shortly after it exits
LOG_TAIL_LINES = 30
LAUNCH_MARK = "=== "


@dataclass(frozen=True)
class PortSpec:
    label: str
    port: int
    env_var: str


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    running: bool
    healthy: bool
    pid: int | None
    ports: dict[str, int]
    detail: str
    startup_s: float | None = None  # how long start() waited; None when it reused a ready server
    service: str = ""  # kafka, cassandra, spark-master, spark-worker
    node: int = 1  # the node's number within its service
    address: str = ""  # host:main port

    @property
    def state(self) -> str:
        return "up" if self.healthy else "starting" if self.running else "down"

    def to_dict(self) -> dict:
        return {**asdict(self), "state": self.state}


# ---------------------------------------------------------------- process helpers

def process_cmdline(pid: int) -> list[str] | None:
    """argv of a live process, or None when it is gone (zombies count as gone)."""
    try:
        os.waitpid(pid, os.WNOHANG)  # reap our own dead child so it does not linger as a zombie
    except ChildProcessError:
        pass
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    args = [a.decode(errors="replace") for a in raw.split(b"\0") if a]
    return args or None


def process_alive(pid: int) -> bool:
    """True until the process is fully gone or a zombie.

    /proc/PID/cmdline empties early in exit, before its sockets close, so it
    cannot tell "stopped"; the state letter in /proc/PID/stat can.
    """
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def describe_pid(pid: int) -> str:
    args = process_cmdline(pid) or ["?"]
    text = " ".join(" ".join(args).split())  # one line, even for `python -c '<script>'`
    return f"pid {pid} ({text[:120]}{'…' if len(text) > 120 else ''})"


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def port_is_free(host: str, port: int) -> bool:
    """True when we could bind host:port now (TIME_WAIT leftovers do not count as taken)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise StackError(
                f"cannot bind {host}:{port}: {exc.strerror}. "
                "Set RATINGS_BIND_HOST to an address of this machine (default 127.0.0.1)."
            ) from None
    return True


def port_open(host: str, port: int, timeout_s: float = 1.0) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _proc_net_address(host: str) -> str:
    """An IPv4 address as /proc/net/tcp spells it (hex, little-endian)."""
    return socket.inet_aton(host)[::-1].hex().upper()


def listener_pid(port: int, host: str | None = None) -> int | None:
    """Pid of the process listening on TCP `port` (on `host` or any address), found through /proc (None if unknown).

    Cassandra nodes share ports on distinct loopback addresses, so the port alone can name another node.
    """
    wanted = None
    if host is not None:
        try:
            wanted = {_proc_net_address(host), _proc_net_address("0.0.0.0")}
        except OSError:
            wanted = None
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port and (
                    wanted is None or table.endswith("6") or cols[1].rsplit(":", 1)[0] in wanted):
                inodes.add(f"socket:[{cols[9]}]")
    if not inodes:
        return None
    for proc_dir in Path("/proc").iterdir():
        if not proc_dir.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in inodes for fd in (proc_dir / "fd").iterdir()):
                return int(proc_dir.name)
        except OSError:
            continue
    return None


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock shared by every process using the same state dir."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def quiet_loggers(*names: str) -> Iterator[None]:
    """Silence client libraries while polling a server that is still coming up."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


# ---------------------------------------------------------------- the service

class LocalService:
    """One server under state_dir/<name>: conf/, data/, logs/ and <name>.pid."""

    name = "service"
    node = 1  # the number of this server among its service's nodes
    executable_name = "java"  # basename of argv[0] of our server processes
    requires: tuple[str, ...] = ()  # services that must be ready before this one starts (with it in one `up`)

    def __init__(self, config: StackConfig | None = None):
        self.config = config or StackConfig.from_env()
        self._launched_at: float | None = None

    @property
    def service(self) -> str:
        """The kind of server; `name` tells the nodes of a cluster apart."""
        return self.name

    # --- layout
    @property
    def home(self) -> Path:
        return self.config.service_dir(self.name)

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def conf_dir(self) -> Path:
        return self.home / "conf"

    @property
    def pid_file(self) -> Path:
        return self.home / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        """The server's own log; subclasses point their logging config at it."""
        return self.logs_dir / f"{self.name}.log"

    @property
    def out_file(self) -> Path:
        """stdout/stderr of the process: JVM errors that happen before logging starts."""
        return self.logs_dir / f"{self.name}.out"

    # --- hooks for subclasses
    def port_specs(self) -> list[PortSpec]:
        raise NotImplementedError

    def prepare(self) -> None:
        """Create folders and write config files before a launch."""
        for folder in (self.data_dir, self.logs_dir, self.conf_dir):
            folder.mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str] | None:
        """The server's environment; None inherits this process's."""
        return None

    def check_ready(self) -> bool:
        """Ask the server itself (a real client request) whether it serves."""
        raise NotImplementedError

    def cmdline_marker(self) -> str:
        """A string only our own server's command line contains."""
        return str(self.conf_dir)

    # --- derived
    @property
    def ports(self) -> dict[str, int]:
        return {spec.label: spec.port for spec in self.port_specs()}

    @property
    def main_port(self) -> int:
        return self.port_specs()[0].port

    @property
    def host(self) -> str:
        """The address the server binds to."""
        return self.config.bind_host

    @property
    def address(self) -> str:
        return f"{self.host}:{self.main_port}"

    def is_ours(self, pid: int) -> bool:
        args = process_cmdline(pid)
        if not args or os.path.basename(args[0]) != self.executable_name:
            return False
        return any(self.cmdline_marker() in arg for arg in args)

    def healthy(self) -> bool:
        return port_open(self.host, self.main_port) and self.check_ready()

    # --- pid bookkeeping
    def find_pid(self, clean: bool = True) -> int | None:
        """Pid of our live server: from the pid file, else from who listens on our port.

        With `clean`, a stale pid file (process gone, or the pid now belongs to
        another program) is removed, and a server found by its port is adopted.
        """
        pid = read_pid(self.pid_file)
        if pid is not None and self.is_ours(pid):
            return pid
        if clean:
            self.pid_file.unlink(missing_ok=True)
        holder = listener_pid(self.main_port, self.host)
        if holder is not None and self.is_ours(holder):
            if clean:
                self.pid_file.write_text(f"{holder}\n")
            return holder
        return None

    def _taken_ports(self) -> list[PortSpec]:
        return [spec for spec in self.port_specs() if not port_is_free(self.host, spec.port)]

    def _wait_ports_free(self, timeout_s: float) -> list[PortSpec]:
        """Ports still taken after `timeout_s`: a process that just exited frees its sockets a bit later."""
        deadline = time.monotonic() + timeout_s
        while (taken := self._taken_ports()) and time.monotonic() < deadline:
            time.sleep(0.1)
        return taken

    def _check_ports_free(self) -> None:
        for spec in self._taken_ports():
            holder = listener_pid(spec.port, self.host)
            if holder is None and not self._wait_ports_free(PORT_RELEASE_S):
                continue
            raise port_taken(spec.port, spec.env_var, self.name, describe_pid(holder) if holder else "")

    # --- logs
    def log_tail(self, lines: int = LOG_TAIL_LINES, since: float | None = None) -> str:
        """Last lines of the server log and of the latest launch's stdout/stderr.

        With `since` (a time.time()), files not written since then are left out,
        so an error shows this start's output, not an older run's.
        """
        parts = []
        for path in (self.log_file, self.out_file):
            if not path.is_file() or (since is not None and path.stat().st_mtime < since):
                continue
            text = _read_tail(path)
            if path == self.out_file:
                text = LAUNCH_MARK + text.rsplit(LAUNCH_MARK, 1)[-1]
            if text.strip():
                parts.append(f"--- {path} (last {lines} lines)\n{tail_text(text, lines)}")
        return "\n".join(parts) or f"(nothing in {self.logs_dir} yet)"

    # --- lifecycle
    def status(self) -> ServiceStatus:
        pid = self.find_pid(clean=False)
        if pid is None:
            return self._status(False, False, None, self._idle_detail())
        if self.healthy():
            return self._status(True, True, pid, f"ready on {self.address}")
        return self._status(True, False, pid, f"running but not answering on {self.address} (starting, or see {self.log_file})")

    def _status(self, running: bool, healthy: bool, pid: int | None, detail: str,
                startup_s: float | None = None) -> ServiceStatus:
        return ServiceStatus(self.name, running, healthy, pid, self.ports, detail, startup_s,
                             self.service, self.node, self.address)

    def _idle_detail(self) -> str:
        taken = self._taken_ports()
        if not taken:
            return "not running"
        holder = listener_pid(taken[0].port, self.host)
        who = describe_pid(holder) if holder else "another process (or one still shutting down)"
        return f"not running; port {taken[0].port} is held by {who}"

    def start(self) -> ServiceStatus:
        """Start the server unless ours is already up; return once it answers clients.

        A lock makes a second `up` (another terminal, a test session) wait and
        then reuse the server instead of launching a twin.
        """
        with file_lock(self.home / ".start.lock"):
            return self._start()

    def _start(self) -> ServiceStatus:
        began = time.monotonic()
        pid = self.find_pid()
        proc = None
        if pid is not None and self.healthy():
            return self._status(True, True, pid, f"already running on {self.address}")
        if pid is None:
            self._check_ports_free()
            self.prepare()
            proc = self._launch()
            pid = proc.pid
        self._wait_ready(pid, proc, began)
        elapsed = round(time.monotonic() - began, 1)
        detail = f"ready on {self.address} in {elapsed} s"
        return self._status(True, True, pid, detail, startup_s=elapsed)

    def _launch(self) -> subprocess.Popen:
        """Start detached (own session, output to a file) so it outlives this Python process."""
        cmd = self.command()
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        with open(self.out_file, "ab") as out:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            out.write(f"\n{LAUNCH_MARK}{stamp} starting: {shlex.join(cmd)}\n".encode())
            out.flush()
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    cwd=self.home, env=self.environment(), start_new_session=True, close_fds=True)
        self.pid_file.write_text(f"{proc.pid}\n")
        self._launched_at = time.time() - 1
        return proc

    def _alive(self, pid: int, proc: subprocess.Popen | None) -> bool:
        if proc is not None:
            return proc.poll() is None
        return self.is_ours(pid)

    def _wait_ready(self, pid: int, proc: subprocess.Popen | None, began: float) -> None:
        deadline = began + self.config.start_timeout_s
        while True:
            if not self._alive(pid, proc):
                self.pid_file.unlink(missing_ok=True)
                raise self._exited_error(proc)
            if self.healthy():
                return
            if time.monotonic() > deadline:
                raise self._timeout_error(pid)
            time.sleep(POLL_INTERVAL_S)

    def _exited_error(self, proc: subprocess.Popen | None) -> StackError:
        code = f" with exit code {proc.returncode}" if proc is not None else ""
        return StackError(
            f"{self.name} exited during start{code}.\n{self.log_tail(since=self._launched_at)}\n"
            f"Fix the cause shown above (logs in {self.logs_dir}) and run `up` again."
        )

    def _timeout_error(self, pid: int) -> StackError:
        return StackError(
            f"{self.name} did not answer on {self.address} within {self.config.start_timeout_s:.0f} s "
            f"(pid {pid} is still running).\n{self.log_tail(since=self._launched_at)}\n"
            f"Run `up` again to keep waiting, raise RATINGS_START_TIMEOUT, "
            f"or stop it with `down {self.name}` and read {self.log_file}."
        )

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM, then SIGKILL after `timeout_s`; return the pid stopped (None if none ran)."""
        pid = self.find_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return None
        _signal(pid, signal.SIGTERM)
        if not _wait_gone(pid, timeout_s):
            _signal(pid, signal.SIGKILL)
            _wait_gone(pid, 10.0)
        self.pid_file.unlink(missing_ok=True)
        self._wait_ports_free(PORT_RELEASE_S)
        return pid

    def kill(self) -> int | None:
        """SIGKILL, as a crash: no shutdown hook runs. Returns the pid killed (None if none ran)."""
        pid = self.find_pid()
        if pid is None:
            return None
        _signal(pid, signal.SIGKILL)
        _wait_gone(pid, 10.0)
        self._wait_ports_free(PORT_RELEASE_S)
        return pid


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not process_alive(pid):
            return True
        time.sleep(0.2)
    return not process_alive(pid)


def _read_tail(path: Path, max_bytes: int = 64_000) -> str:
    with open(path, "rb") as handle:
        handle.seek(max(0, path.stat().st_size - max_bytes))
        return handle.read().decode(errors="replace")
