"""Settings of the local Kafka and Cassandra nodes (and the opt-in Spark cluster), read from RATINGS_* variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ratings_assets.localstack.errors import StackError

REPO_ROOT = Path(__file__).resolve().parents[2]


def _env_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise StackError(f"{name}={raw!r} is not a whole number; set it to a port/number or unset it.") from None


def _env_positive(env: Mapping[str, str], name: str, default: int) -> int:
    value = _env_int(env, name, default)
    if value < 1:
        raise StackError(f"{name}={value} must be 1 or more; set it to a positive number or unset it.")
    return value


def _env_str(env: Mapping[str, str], name: str, default: str) -> str:
    return env.get(name, "").strip() or default


def _auth_from_env(env: Mapping[str, str]) -> dict:
    """The local services require the same credentials the clients are configured with.

    SASL/PLAIN on Kafka when RATINGS_KAFKA_SECURITY_PROTOCOL is SASL_PLAINTEXT;
    PasswordAuthenticator on Cassandra when RATINGS_CASSANDRA_USERNAME is set.
    """
    auth: dict = {}
    if _env_str(env, "RATINGS_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT").upper() == "SASL_PLAINTEXT":
        auth["kafka_sasl_user"] = _required(env, "RATINGS_KAFKA_USERNAME", "SASL/PLAIN")
        auth["kafka_sasl_password"] = _required(env, "RATINGS_KAFKA_PASSWORD", "SASL/PLAIN")
    if env.get("RATINGS_CASSANDRA_USERNAME", "").strip():
        auth["cassandra_user"] = env["RATINGS_CASSANDRA_USERNAME"].strip()
        auth["cassandra_password"] = _required(env, "RATINGS_CASSANDRA_PASSWORD", "Cassandra authentication")
    return auth


def _required(env: Mapping[str, str], name: str, what: str) -> str:
    value = env.get(name, "")
    if not value:
        raise StackError(f"{what} is configured but {name} is not set; export it (never put it in code).")
    return value


@dataclass(frozen=True)
class StackConfig:
    """Where the services keep their files and which ports they use.

    Everything lives under `state_dir`: jars/<service>/, <service>/data,
    <service>/logs, <service>/conf and <service>/<service>.pid.
    """

    state_dir: Path = REPO_ROOT / ".local"
    bind_host: str = "127.0.0.1"  # also the first Cassandra node's address (topology.py)
    cassandra_nodes: int = 1
    kafka_brokers: int = 1
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    kafka_heap: str = "512m"
    cassandra_port: int = 9042
    cassandra_storage_port: int = 7000
    cassandra_jmx_port: int = 7199
    cassandra_heap: str = "1g"
    # The opt-in Spark standalone cluster (`up --spark`): one master and one worker.
    spark_master_port: int = 7077
    spark_master_ui_port: int = 8080
    spark_worker_port: int = 7078
    spark_worker_ui_port: int = 8081
    spark_worker_cores: int = 2
    spark_worker_memory: str = "1g"  # what the worker offers executors: at least spark.executor.memory (1g)
    spark_daemon_heap: str = "512m"  # heap of the master and of the worker themselves
    java_home: Path | None = None
    start_timeout_s: float = 120.0
    # Authentication, off unless the client settings ask for it (see from_env).
    kafka_sasl_user: str | None = None
    kafka_sasl_password: str | None = field(default=None, repr=False)
    cassandra_user: str | None = None
    cassandra_password: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StackConfig:
        """Read RATINGS_* variables (from `env`, default os.environ), falling back to defaults."""
        env = os.environ if env is None else env
        java_home = env.get("RATINGS_JAVA_HOME", "").strip()
        return cls(
            state_dir=Path(_env_str(env, "RATINGS_STATE_DIR", str(cls.state_dir))).expanduser().resolve(),
            bind_host=_env_str(env, "RATINGS_BIND_HOST", cls.bind_host),
            cassandra_nodes=_env_positive(env, "RATINGS_CASSANDRA_NODES", cls.cassandra_nodes),
            kafka_brokers=_env_positive(env, "RATINGS_KAFKA_BROKERS", cls.kafka_brokers),
            kafka_port=_env_int(env, "RATINGS_KAFKA_PORT", cls.kafka_port),
            kafka_controller_port=_env_int(env, "RATINGS_KAFKA_CONTROLLER_PORT", cls.kafka_controller_port),
            kafka_heap=_env_str(env, "RATINGS_KAFKA_HEAP", cls.kafka_heap),
            cassandra_port=_env_int(env, "RATINGS_CASSANDRA_PORT", cls.cassandra_port),
            cassandra_storage_port=_env_int(env, "RATINGS_CASSANDRA_STORAGE_PORT", cls.cassandra_storage_port),
            cassandra_jmx_port=_env_int(env, "RATINGS_CASSANDRA_JMX_PORT", cls.cassandra_jmx_port),
            cassandra_heap=_env_str(env, "RATINGS_CASSANDRA_HEAP", cls.cassandra_heap),
            spark_master_port=_env_int(env, "RATINGS_SPARK_MASTER_PORT", cls.spark_master_port),
            spark_master_ui_port=_env_int(env, "RATINGS_SPARK_MASTER_UI_PORT", cls.spark_master_ui_port),
            spark_worker_port=_env_int(env, "RATINGS_SPARK_WORKER_PORT", cls.spark_worker_port),
            spark_worker_ui_port=_env_int(env, "RATINGS_SPARK_WORKER_UI_PORT", cls.spark_worker_ui_port),
            spark_worker_cores=_env_positive(env, "RATINGS_SPARK_WORKER_CORES", cls.spark_worker_cores),
            spark_worker_memory=_env_str(env, "RATINGS_SPARK_WORKER_MEMORY", cls.spark_worker_memory),
            spark_daemon_heap=_env_str(env, "RATINGS_SPARK_DAEMON_HEAP", cls.spark_daemon_heap),
            java_home=Path(java_home).expanduser() if java_home else None,
            start_timeout_s=float(_env_int(env, "RATINGS_START_TIMEOUT", int(cls.start_timeout_s))),
            **_auth_from_env(env),
        )

    @property
    def spark_master_url(self) -> str:
        """What RATINGS_SPARK_MASTER takes to run the stream on the local cluster."""
        return f"spark://{self.bind_host}:{self.spark_master_port}"

    def jars_dir(self, service: str) -> Path:
        return self.state_dir / "jars" / service

    def service_dir(self, service: str) -> Path:
        return self.state_dir / service
