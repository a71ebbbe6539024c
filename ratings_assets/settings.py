"""Every setting of the pipeline: its environment variable, type, default and meaning.

Defaults run everything on this machine; pointing the same code at a Kafka
cluster, a Cassandra ring or a Spark cluster is a matter of environment
variables. This registry and the resources are the only readers of the
environment: Dagster's resources take a setting as `dg.EnvVar` when its
variable is set (so the UI shows where a value comes from), the command line
takes its plain value.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import dagster as dg

from ratings_assets.localstack import topology
from ratings_assets.localstack.config import StackConfig
from ratings_assets.localstack.errors import StackError
from ratings_assets.paths import CATALOG_CSV, REPO_ROOT


@dataclass(frozen=True)
class Setting:
    env: str
    default: str
    help: str
    kind: type = str  # str, int or float

    def value(self):
        raw = os.environ.get(self.env) or self.default
        try:
            return self.kind(raw)
        except ValueError:
            raise ValueError(f"{self.env}={raw!r} is not a valid {self.kind.__name__}") from None

    def is_set(self) -> bool:
        return bool(os.environ.get(self.env))

    def for_dagster(self):
        """What a resource field takes: an EnvVar when the variable is set, else the typed default."""
        if not self.is_set():
            return self.kind(self.default)
        return dg.EnvVar.int(self.env) if self.kind is int else dg.EnvVar(self.env)


def _stack_defaults() -> dict[str, str]:
    """Where the local stack puts the services (RATINGS_CASSANDRA_NODES, RATINGS_KAFKA_BROKERS, ports, bind host):
    the client defaults, so one set of variables points `ratings stack up`, `make run` and the tests at the
    same cluster. A bad value is left for `ratings stack` to report."""
    try:
        return topology.client_settings(StackConfig.from_env())
    except StackError:
        return topology.client_settings(StackConfig())


_STACK = _stack_defaults()

STATE_DIR = Setting("RATINGS_STATE_DIR", str(REPO_ROOT / ".local"), "git-ignored folder for service data, logs, checkpoints")
KAFKA_BOOTSTRAP = Setting("RATINGS_KAFKA_BOOTSTRAP", _STACK["RATINGS_KAFKA_BOOTSTRAP"], "Kafka bootstrap servers, comma-separated")
TOPIC = Setting("RATINGS_TOPIC", "ratings", "topic the generator publishes rating events to")
DLQ_TOPIC = Setting("RATINGS_DLQ_TOPIC", "ratings.dlq", "dead-letter topic for invalid events")
TOPIC_PARTITIONS = Setting("RATINGS_TOPIC_PARTITIONS", "4", "partitions of the ratings topic when it is created", int)
TOPIC_REPLICATION = Setting("RATINGS_TOPIC_REPLICATION", _STACK["RATINGS_TOPIC_REPLICATION"],
                            "replication factor of the topics when created (min.insync.replicas 2 from 3 on)", int)
KAFKA_SECURITY_PROTOCOL = Setting("RATINGS_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT", "PLAINTEXT, or SASL_PLAINTEXT / SASL_SSL for SASL")
KAFKA_SASL_MECHANISM = Setting("RATINGS_KAFKA_SASL_MECHANISM", "PLAIN", "SASL mechanism when SASL is on")
KAFKA_USERNAME = Setting("RATINGS_KAFKA_USERNAME", "", "SASL user (secret: environment only)")
KAFKA_PASSWORD = Setting("RATINGS_KAFKA_PASSWORD", "", "SASL password (secret: environment only)")
CASSANDRA_HOSTS = Setting("RATINGS_CASSANDRA_HOSTS", _STACK["RATINGS_CASSANDRA_HOSTS"], "Cassandra contact points, comma-separated")
CASSANDRA_PORT = Setting("RATINGS_CASSANDRA_PORT", _STACK["RATINGS_CASSANDRA_PORT"], "Cassandra native protocol port", int)
CASSANDRA_USERNAME = Setting("RATINGS_CASSANDRA_USERNAME", "", "Cassandra login; set it to turn authentication on (secret)")
CASSANDRA_PASSWORD = Setting("RATINGS_CASSANDRA_PASSWORD", "", "Cassandra password (secret: environment only)")
KEYSPACE = Setting("RATINGS_KEYSPACE", "reviews", "Cassandra keyspace of the pipeline's tables")
REPLICATION = Setting(
    "RATINGS_CASSANDRA_REPLICATION",
    _STACK["RATINGS_CASSANDRA_REPLICATION"],
    "keyspace replication map, e.g. {'class': 'NetworkTopologyStrategy', 'dc1': 3}",
)
CONSISTENCY = Setting(
    "RATINGS_CASSANDRA_CONSISTENCY",
    "LOCAL_QUORUM",
    "consistency level of every Cassandra read and write (Python driver and Spark connector)",
)
CATALOG = Setting("RATINGS_CATALOG", str(CATALOG_CSV), "movie catalog CSV (data/movies.csv)")
SPARK_MASTER = Setting("RATINGS_SPARK_MASTER", "local[2,4]",
                       "Spark master URL, e.g. spark://host:7077; locally 2 cores, a failed task tried 4 times as on a cluster")
SPARK_DRIVER_HOST = Setting("RATINGS_SPARK_DRIVER_HOST", "127.0.0.1", "address the Spark driver binds to and advertises")
SPARK_PYTHON = Setting("RATINGS_SPARK_PYTHON", sys.executable, "Python of the Spark executors (needs this project installed)")
SPARK_DRIVER_MEMORY = Setting("RATINGS_SPARK_DRIVER_MEMORY", "1g", "Spark driver heap")
TRIGGER_SECONDS = Setting("RATINGS_TRIGGER_SECONDS", "30", "streaming micro-batch trigger interval, seconds", float)
CHECKPOINT_DIR = Setting("RATINGS_CHECKPOINT_DIR", "", "streaming checkpoint folder (default: STATE_DIR/checkpoints/records)")
MAX_OFFSETS_PER_TRIGGER = Setting("RATINGS_MAX_OFFSETS_PER_TRIGGER", "500000", "cap on Kafka records read by one micro-batch", int)
FIRST_BATCH_MAX_OFFSETS = Setting("RATINGS_FIRST_BATCH_MAX_OFFSETS", "10000",
                                  "cap on the first micro-batch of a run that catches up (0: no smaller first batch)", int)

UI_PORT = Setting("RATINGS_UI_PORT", "3000", "port of the Dagster UI that `make run` starts", int)
HOURLY_START = Setting("RATINGS_HOURLY_START", "2025-01-01-00:00", "first hour partition of the hourly aggregates (UTC)")
LATE_DATA_HOURS = Setting("RATINGS_LATE_DATA_HOURS", "48", "hours after which late events no longer re-aggregate their hour", float)
AGGREGATE_GRACE_MINUTES = Setting("RATINGS_AGGREGATE_GRACE_MINUTES", "2", "wait after an hour closes before aggregating it", float)
MAX_CONSUMER_LAG = Setting("RATINGS_MAX_CONSUMER_LAG", "100000", "consumer lag above which the lag check fails", int)

ALL = [value for value in dict(globals()).values() if isinstance(value, Setting)]


def checkpoint_dir() -> str:
    return CHECKPOINT_DIR.value() or os.path.join(STATE_DIR.value(), "checkpoints", "records")


def spark_jars_dir() -> str:
    """Where the local launcher puts the Spark connectors' jars (`make setup`)."""
    return os.path.join(STATE_DIR.value(), "jars", "spark")


def spark_class_archive() -> str:
    """Where `make setup` records the Spark driver's class archive (localstack/spark_classes.py)."""
    return os.path.join(STATE_DIR.value(), "jars", "spark-classes.jsa")
