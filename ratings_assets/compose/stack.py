"""One Compose project of docker/compose.yaml: its ports, its containers, up and down.

Host ports default to those of `make run` (UI 3000, Kafka 9092, Cassandra 9042)
and are overridable (DOCKER_UI_PORT, DOCKER_KAFKA_PORT, DOCKER_CASSANDRA_PORT), so
that a test or a second stack can run beside a `make run`.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from dataclasses import dataclass

from ratings_assets.compose.errors import DockerError
from ratings_assets.compose.images import DOCKER_DIR

COMPOSE_FILE = DOCKER_DIR / "compose.yaml"
SERVICES = ("kafka", "cassandra", "postgres", "code", "webserver", "daemon", "generator")
PORT_VARIABLES = {"ui_port": "DOCKER_UI_PORT", "kafka_port": "DOCKER_KAFKA_PORT",
                  "cassandra_port": "DOCKER_CASSANDRA_PORT"}


def _port(variable: str, default: int) -> int:
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise DockerError(f"{variable}={raw!r} is not a port number: set it to one (1-65535) or unset it")
    return int(raw)


def port_is_free(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:port (connections of the past in TIME_WAIT do not count)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass(frozen=True)
class Stack:
    project: str = "ratings"
    ui_port: int = 3000
    kafka_port: int = 9092
    cassandra_port: int = 9042

    @classmethod
    def from_env(cls, project: str = "ratings") -> Stack:
        return cls(project, _port("DOCKER_UI_PORT", 3000), _port("DOCKER_KAFKA_PORT", 9092),
                   _port("DOCKER_CASSANDRA_PORT", 9042))

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"

    def compose_env(self) -> dict[str, str]:
        return {**os.environ, **{variable: str(getattr(self, field)) for field, variable in PORT_VARIABLES.items()}}

    def client_env(self) -> dict[str, str]:
        """The settings that point the project's code on the host at this stack's published ports."""
        return {"RATINGS_KAFKA_BOOTSTRAP": f"127.0.0.1:{self.kafka_port}", "RATINGS_CASSANDRA_HOSTS": "127.0.0.1",
                "RATINGS_CASSANDRA_PORT": str(self.cassandra_port)}

    def compose(self, *args: str, check: bool = True, capture: bool = True) -> subprocess.CompletedProcess:
        cmd = ["docker-compose", "-f", str(COMPOSE_FILE), "-p", self.project, *args]
        proc = subprocess.run(cmd, env=self.compose_env(), capture_output=capture, text=True)
        if check and proc.returncode != 0:
            raise DockerError(f"`{' '.join(cmd[3:])}` failed: {((proc.stdout or '') + (proc.stderr or '')).strip()[-1500:]}")
        return proc

    def containers(self) -> dict[str, str]:
        """Service -> id of its container, for the containers that exist (running or not)."""
        ids = self.compose("ps", "-a", "-q").stdout.split()
        if not ids:
            return {}
        proc = subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True, check=True)
        return {c["Config"]["Labels"]["com.docker.compose.service"]: c["Id"] for c in json.loads(proc.stdout)}

    def health(self) -> dict[str, str]:
        """Service -> health (healthy, starting, unhealthy) or state when not running."""
        ids = self.containers()
        if not ids:
            return {}
        proc = subprocess.run(["docker", "inspect", *ids.values()], capture_output=True, text=True, check=True)
        states = {}
        for container in json.loads(proc.stdout):
            state = container["State"]
            states[container["Config"]["Labels"]["com.docker.compose.service"]] = (
                (state.get("Health") or {}).get("Status", state["Status"]) if state["Running"] else state["Status"])
        return states

    def busy_ports(self) -> list[str]:
        """Host ports this stack needs that something else holds (its own running containers excepted)."""
        if self.health():
            return []
        return [f"{port} ({variable})" for field, variable in PORT_VARIABLES.items()
                if not port_is_free(port := getattr(self, field))]

    def up(self, services: tuple[str, ...] = SERVICES) -> None:
        if busy := self.busy_ports():
            raise DockerError(f"host port(s) in use: {', '.join(busy)}; stop what holds them (`make stop` for "
                              "`make run`'s services) or choose others, e.g. make docker-up DOCKER_UI_PORT=13000 "
                              "DOCKER_KAFKA_PORT=19092 DOCKER_CASSANDRA_PORT=19042")
        self.compose("up", "-d", "--no-build", *services, capture=False)

    def wait_healthy(self, timeout_s: float, services: tuple[str, ...] = SERVICES) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            health = self.health()
            if all(health.get(s) == "healthy" for s in services):
                return
            time.sleep(2)
        raise DockerError(f"not healthy after {timeout_s:.0f} s: {self.health()}; "
                          f"see docker-compose -p {self.project} logs")

    def down(self, volumes: bool = False) -> None:
        self.compose("down", "--remove-orphans", *(["--volumes"] if volumes else []), capture=False)

    def kill_abruptly(self, service: str) -> None:
        """SIGKILL the container's first process from the host, as a crash would: its restart policy applies
        (`docker kill` counts as a deliberate stop and would not restart it)."""
        pid = subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}}", self.containers()[service]],
                             capture_output=True, text=True, check=True).stdout.strip()
        os.kill(int(pid), 9)
