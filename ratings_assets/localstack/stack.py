"""Start, stop and report the local Kafka and Cassandra together (and, opt-in, a Spark cluster).

With RATINGS_KAFKA_BROKERS / RATINGS_CASSANDRA_NODES above 1, "kafka" and
"cassandra" stand for all their nodes, and each node has a name of its own
(kafka-2, cassandra-3: topology.py) to start, stop or kill it alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from ratings_assets.localstack import topology
from ratings_assets.localstack.cassandra import CassandraServer
from ratings_assets.localstack.config import StackConfig
from ratings_assets.localstack.errors import StackError
from ratings_assets.localstack.kafka import KafkaServer
from ratings_assets.localstack.maven import SERVICES as JAR_SETS, is_resolved, resolve_jars
from ratings_assets.localstack.process import LocalService, ServiceStatus
from ratings_assets.localstack.spark import SparkMaster, SparkWorker

Progress = Callable[[str], None]
NAMES = ("kafka", "cassandra")  # the default stack
SPARK_NAMES = ("spark-master", "spark-worker")  # opt-in (`up --spark`): the default Spark master stays local[2]
ALL_NAMES = NAMES + SPARK_NAMES
TITLES = {"kafka": "Kafka", "cassandra": "Cassandra", "spark": "Spark connector"}


def services(config: StackConfig | None = None) -> dict[str, LocalService]:
    """Every server by name: the Kafka brokers, the Cassandra nodes, the Spark master and worker."""
    config = config or StackConfig.from_env()
    topology.check(config)
    made: dict[str, LocalService] = {}
    for node in topology.nodes(config, "kafka"):
        made[node.name] = KafkaServer(config, node.number)
    for node in topology.nodes(config, "cassandra"):
        made[node.name] = CassandraServer(config, node.number)
    made.update({"spark-master": SparkMaster(config), "spark-worker": SparkWorker(config)})
    return made


def _select(names: Iterable[str] | None, config: StackConfig | None,
            default: Iterable[str] = NAMES) -> list[LocalService]:
    """The requested servers in a fixed order (a server after those it requires); unknown names are a user error.

    A service's name ("kafka") stands for all its nodes; a node's name ("kafka-2") for that node.
    """
    config = config or StackConfig.from_env()
    known = services(config)
    wanted = set()
    for name in names or default:
        if name not in ALL_NAMES and name not in known and name.partition("-")[0] in topology.SERVICES:
            name = topology.parse_node(name, config).name  # a clear error for a node that does not exist
        wanted.add(name)
    unknown = sorted(name for name in wanted if name not in ALL_NAMES and name not in known)
    if unknown:
        choices = ", ".join(dict.fromkeys([*ALL_NAMES, *known]))
        raise StackError(f"unknown service {', '.join(unknown)}; choose from {', '.join(ALL_NAMES)} "
                         f"or a node: {choices}.")
    return [service for name, service in known.items() if name in wanted or service.service in wanted]


def node(name: str, config: StackConfig | None = None) -> LocalService:
    """One Kafka broker or Cassandra node, by the name `status` gives it."""
    config = config or StackConfig.from_env()
    return services(config)[topology.parse_node(name, config).name]


def kill(name: str, progress: Progress = print, config: StackConfig | None = None) -> int | None:
    """kill -9 one node, as a crash would; return its pid (None if it was not running)."""
    server = node(name, config)
    pid = server.kill()
    progress(f"killed {server.name} (pid {pid})" if pid else f"{server.name} was not running")
    return pid


def _resolve(name: str, config: StackConfig, progress: Progress) -> Path:
    if not is_resolved(name, config):
        progress(f"resolving {TITLES[name]} jars with Maven (first time only)…")
    return resolve_jars(name, config)


def resolve_all(progress: Progress = print, config: StackConfig | None = None) -> dict[str, Path]:
    """Download every jar set up front (make setup), so later starts never wait on Maven."""
    config = config or StackConfig.from_env()
    return {name: _resolve(name, config, progress) for name in JAR_SETS}


def _start_one(service: LocalService, progress: Progress, needs: Mapping[str, Future]) -> ServiceStatus:
    for name, future in needs.items():
        if future.exception() is not None:
            raise StackError(f"{service.name} was not started: it needs {name}, which did not start.")
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
    """Start the services concurrently (Cassandra is the slow one) and wait until they serve.

    A service that requires another one chosen too (the Spark worker, the
    master) starts once that one is ready.
    """
    chosen = _select(names, config)
    for service in chosen:
        if service.service in JAR_SETS:
            _resolve(service.service, service.config, progress)
    with ThreadPoolExecutor(max_workers=len(chosen)) as pool:
        futures: dict[str, Future] = {}
        for service in chosen:  # one thread each, so waiting on a requirement cannot starve it
            needs = {name: futures[name] for name in service.requires if name in futures}
            futures[service.name] = pool.submit(_start_one, service, progress, needs)
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
    """Stop the services (concurrently); return the pid each one had, None if it was not running.

    By default every service, the Spark cluster included; that one is named
    only when it was running (or asked for).
    """
    chosen = _select(names, config, default=ALL_NAMES)
    with ThreadPoolExecutor(max_workers=len(chosen)) as pool:
        pids = dict(zip((s.name for s in chosen), pool.map(lambda s: s.stop(), chosen)))
    kinds = {s.name: s.service for s in chosen}
    for name, pid in pids.items():
        if pid:
            progress(f"stopped {name} (pid {pid})")
        elif names or kinds[name] in NAMES:
            progress(f"{name} was not running")
    return pids


def status(names: Iterable[str] | None = None, config: StackConfig | None = None) -> dict[str, ServiceStatus]:
    """Report the services; by default the stack, plus the Spark cluster's daemons that are running."""
    if not names:
        optional = services(config)
        names = [*NAMES, *(name for name in SPARK_NAMES if optional[name].find_pid(clean=False) is not None)]

    return {service.name: service.status() for service in _select(names, config)}
