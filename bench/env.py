"""What every measurement shares: the running services, isolated names, the one Spark session, the hours.

Each run of the benchmark gets topic and keyspace names nobody else uses,
and drops them at the end, so it can share the services other people run
tests against.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from ratings_assets import settings
from ratings_assets.core.catalog import Movie, read_catalog
from ratings_assets.core.hours import HOUR, hour_of
from ratings_assets.localstack import stack
from ratings_assets.localstack.config import StackConfig
from ratings_assets.resources import cassandra_resource, kafka_resource, spark_resource
from ratings_assets.resources.cassandra import CassandraResource
from ratings_assets.resources.kafka import KafkaResource
from ratings_assets.resources.spark import SparkResource
from ratings_assets.streaming.config import StreamConfig

log = logging.getLogger(__name__)

Model = TypeVar("Model", bound=BaseModel)


def rebuilt(model: Model, **changes) -> Model:
    """A resource (or run config) with some fields changed, constructed anew, so validated.

    Not `model_copy(update=...)`: Dagster runs a ConfigurableResource from the
    config it was constructed with, which a copy keeps, so the aggregate's
    `dg.materialize` would see the project's keyspace instead of the benchmark's.
    """
    return type(model)(**{**model.model_dump(), **changes})


@dataclass(frozen=True)
class Services:
    """Kafka, Cassandra and Spark as the project's settings describe them (the launcher's nodes by default).

    The resources here point at the project's own topic and keyspace: the
    benchmark only uses them through `stream_config`, `cassandra_for` and explicit
    topic names, never as they are.
    """

    stack_config: StackConfig
    kafka: KafkaResource
    cassandra: CassandraResource
    spark: SparkResource
    pids: dict[str, int | None]

    @classmethod
    def up(cls, progress=print) -> Services:
        """Reuse the running nodes (start them if needed; never stopped here: others use them)."""
        config = StackConfig.from_env()
        statuses = stack.up(config=config, progress=lambda message: progress(f"  {message}"))
        return cls(
            stack_config=config,
            kafka=kafka_resource(),
            cassandra=cassandra_resource(),
            spark=rebuilt(spark_resource(), app_name="ratings-bench"),
            pids={name: status.pid for name, status in statuses.items()},
        )

    def cassandra_for(self, keyspace: str) -> CassandraResource:
        """The same cluster, the benchmark's own keyspace."""
        return rebuilt(self.cassandra, keyspace=keyspace)


@dataclass
class Names:
    """Topics, keyspace and checkpoint folders of one repetition; `new_topic` hands out more."""

    tag: str
    scratch: Path
    topics: list[str] = field(default_factory=list)

    @classmethod
    def fresh(cls, run_id: str, label: str, scratch_root: Path) -> Names:
        """`label`: r1, r2... for the runs, w for the warm-up, p for the probe."""
        tag = f"bench_{run_id}_{label}"
        return cls(tag, scratch_root / tag)

    @property
    def keyspace(self) -> str:
        return self.tag

    def new_topic(self, purpose: str) -> str:
        """A topic name for `purpose`, remembered so that `drop` deletes it."""
        name = f"{self.tag}.{purpose}"
        if name not in self.topics:
            self.topics.append(name)
        return name

    def checkpoint(self, purpose: str) -> str:
        return str(self.scratch / "checkpoints" / purpose)


def new_run_id() -> str:
    return time.strftime("%m%d%H%M") + uuid.uuid4().hex[:4]


@dataclass(frozen=True)
class Hours:
    """Closed past hours a repetition writes into; the newest is two hours back, safely closed.

    `pipeline` receives the streamed events (and is aggregated), `ceiling`
    the Spark batch write's rows, `small` the rows of the small-hour aggregate.
    """

    pipeline: datetime
    ceiling: datetime
    small: datetime

    @classmethod
    def before(cls, now: datetime | None = None) -> Hours:
        top = hour_of(now or datetime.now(timezone.utc)) - 2 * HOUR
        return cls(pipeline=top, ceiling=top - HOUR, small=top - 2 * HOUR)

    @staticmethod
    def window(hour: datetime) -> tuple[datetime, datetime]:
        return hour, hour + HOUR - timedelta(milliseconds=1)


def catalog_movies() -> list[Movie]:
    return list(read_catalog(Path(settings.CATALOG.value())).values())


@contextmanager
def isolated(services: Services, names: Names) -> Iterator[CassandraResource]:
    """The repetition's keyspace with the project's tables; topics and keyspace dropped on the way out."""
    cassandra = services.cassandra_for(names.keyspace)
    cassandra.ensure_schema()
    try:
        yield cassandra
    finally:
        drop(services, names, cassandra)


def drop(services: Services, names: Names, cassandra: CassandraResource) -> None:
    """Best effort: a failed drop is reported, and must not hide the benchmark's own error."""
    try:
        with cassandra.session() as session:
            session.execute(f"DROP KEYSPACE IF EXISTS {names.keyspace}", timeout=180)
    except Exception as exc:  # noqa: BLE001
        log.warning("could not drop keyspace %s: %r", names.keyspace, exc)
    try:
        with services.kafka.admin() as admin:
            existing = set(admin.list_topics())
            doomed = [t for t in names.topics if t in existing]
            if doomed:
                admin.delete_topics(doomed)
    except Exception as exc:  # noqa: BLE001
        log.warning("could not delete topics %s: %r", names.topics, exc)
    shutil.rmtree(names.scratch, ignore_errors=True)


def spark_session(conf_overrides: dict[str, str], services: Services):
    """The benchmark's one SparkSession (one SparkContext per process): the job's Spark conf
    (`SparkResource.conf`) with the benchmark's `--conf` overrides on top.

    Built here rather than by `SparkResource.spark_session`, which takes no
    extra settings. Cassandra's address, consistency and login are not in it:
    they travel as options of each read and write (`CassandraResource.spark_options`).
    """
    from pyspark.sql import SparkSession

    from ratings_assets.localstack.maven import spark_connector_jars

    spark_connector_jars(services.stack_config)  # resolved into SparkResource.jars_dir if missing
    conf = {**services.spark.conf(), **conf_overrides}
    # As SparkResource does: an in-process SparkContext takes its Python workers' interpreter from this variable only.
    os.environ["PYSPARK_PYTHON"] = services.spark.python
    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    quiet_spark_logs(spark)
    return spark, conf


def quiet_spark_logs(spark) -> None:
    """Batch reads of Kafka warn once per record batch that they do not run in an UninterruptibleThread."""
    jvm = spark._jvm
    jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(
        "org.apache.spark.sql.kafka010.consumer.KafkaDataConsumer", jvm.org.apache.logging.log4j.Level.ERROR
    )


@dataclass(frozen=True)
class Stream:
    """One benchmark query as the job takes it: where it reads and writes (the resources) and how it runs."""

    kafka: KafkaResource  # the query's topic and its own dead-letter topic
    cassandra: CassandraResource  # the repetition's keyspace
    config: StreamConfig

    @property
    def topic(self) -> str:
        return self.kafka.topic

    def changed(self, topic: str | None = None, **config_changes) -> Stream:
        """The same query reading another topic and/or with other run settings."""
        kafka = self.kafka if topic is None else rebuilt(self.kafka, topic=topic)
        return Stream(kafka, self.cassandra, rebuilt(self.config, **config_changes))


def stream_config(services: Services, names: Names, topic: str, purpose: str, **changes) -> Stream:
    """The job's resources and StreamConfig for a benchmark query: its own dead-letter topic, keyspace and checkpoint."""
    dlq = names.new_topic("dlq")
    services.kafka.ensure_topic(dlq, 1, 1)
    return Stream(
        kafka=rebuilt(services.kafka, topic=topic, dead_letter_topic=dlq),
        cassandra=services.cassandra_for(names.keyspace),
        config=StreamConfig(checkpoint_dir=names.checkpoint(purpose), query_name=f"bench_{purpose}", **changes),
    )


def stop_group(process, first: int = signal.SIGTERM, timeout_s: float = 30) -> None:
    """Stop a child started in its own session: `first` to its whole group, then SIGKILL if it lingers."""
    if process.poll() is None:
        os.killpg(process.pid, first)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
