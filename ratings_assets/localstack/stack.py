"""Start, stop and report the local Kafka and Cassandra together."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ratings_assets.localstack.cassandra import CassandraServer
from ratings_assets.localstack.config import StackConfig
from ratings_assets.localstack.errors import StackError
from ratings_assets.localstack.kafka import KafkaServer
from ratings_assets.localstack.maven import SERVICES as JAR_SETS, is_resolved, resolve_jars
from ratings_assets.localstack.process import LocalService, ServiceStatus

Progress = Callable[[str], None]
NAMES = ("kafka", "cassandra")
TITLES = {"kafka": "Kafka", "cassandra": "Cassandra", "spark": "Spark connector"}


def services(config: StackConfig | None = None) -> dict[str, LocalService]:
    config = config or StackConfig.from_env()
    return {"kafka": KafkaServer(config), "cassandra": CassandraServer(config)}


def _select(names: Iterable[str] | None, config: StackConfig | None) -> list[LocalService]:
    """The requested services in a fixed order; unknown names are a user error."""
    wanted = list(names or NAMES)
    unknown = sorted(set(wanted) - set(NAMES))
    if unknown:
        raise StackError(f"unknown service {', '.join(unknown)}; choose from {', '.join(NAMES)}.")
    return [service for name, service in services(config).items() if name in wanted]


def _resolve(name: str, config: StackConfig, progress: Progress) -> Path:
    if not is_resolved(name, config):
        progress(f"resolving {TITLES[name]} jars with Maven (first time only)…")
    return resolve_jars(name, config)


def resolve_all(progress: Progress = print, config: StackConfig | None = None) -> dict[str, Path]:
    """Download every jar set up front (make setup), so later starts never wait on Maven."""
    config = config or StackConfig.from_env()
    return {name: _resolve(name, config, progress) for name in JAR_SETS}


def _start_one(service: LocalService, progress: Progress) -> ServiceStatus:
    pid = service.find_pid()
    if pid is None:
        progress(f"starting {service.name}…")
    result = service.start()
    if result.startup_s is None:
        progress(f"{service.name} already running on {service.address} (pid {result.pid})")
    else:
        progress(f"{service.name} ready on {service.address} in {result.startup_s} s (pid {result.pid})")
    return result


def up(names: Iterable[str] | None = None, progress: Progress = print,
       config: StackConfig | None = None) -> dict[str, ServiceStatus]:
    """Start the services concurrently (Cassandra is the slow one) and wait until they serve."""
    chosen = _select(names, config)
    for service in chosen:
        _resolve(service.name, service.config, progress)
    with ThreadPoolExecutor(max_workers=len(chosen)) as pool:
        futures = {service.name: pool.submit(_start_one, service, progress) for service in chosen}
    results, errors = {}, []
    for name, future in futures.items():
        try:
            results[name] = future.result()
        except StackError as exc:
            errors.append(str(exc))
    if errors:
        raise StackError("\n\n".join(errors))
    return results


def down(names: Iterable[str] | None = None, progress: Progress = print,
         config: StackConfig | None = None) -> dict[str, int | None]:
    """Stop the services (concurrently); return the pid each one had, None if it was not running."""
    chosen = _select(names, config)
    with ThreadPoolExecutor(max_workers=len(chosen)) as pool:
        pids = dict(zip((s.name for s in chosen), pool.map(lambda s: s.stop(), chosen)))
    for name, pid in pids.items():
        progress(f"stopped {name} (pid {pid})" if pid else f"{name} was not running")
    return pids


def status(names: Iterable[str] | None = None, config: StackConfig | None = None) -> dict[str, ServiceStatus]:
    return {service.name: service.status() for service in _select(names, config)}
