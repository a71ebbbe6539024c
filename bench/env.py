"""What every measurement shares: the running services, isolated names, the one Spark session, the hours.

Each run of the benchmark gets topic and keyspace names nobody else uses,
and drops them at the end, so it can share the services other people run
tests against.
"""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ratings_assets import settings
from ratings_assets.core.catalog import Movie, read_catalog
from ratings_assets.core.hours import HOUR, hour_of
from ratings_assets.localstack import stack
from ratings_assets.localstack.config import StackConfig
from ratings_assets.resources.cassandra import CassandraResource
from ratings_assets.resources.kafka import KafkaResource

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Services:
    """Kafka and Cassandra as the project's settings describe them (the launcher's nodes by default)."""

    stack_config: StackConfig
    kafka: KafkaResource
    cassandra_hosts: str
    cassandra_port: int
    pids: dict[str, int | None]

    @classmethod
    def up(cls, progress=print) -> Services:
        """Reuse the running nodes (start them if needed; never stopped here: others use them)."""
        config = StackConfig.from_env()
        statuses = stack.up(config=config, progress=lambda message: progress(f"  {message}"))
        from ratings_assets.resources import kafka_resource

        return cls(
            stack_config=config,
            kafka=kafka_resource(),
            cassandra_hosts=settings.CASSANDRA_HOSTS.value(),
            cassandra_port=int(settings.CASSANDRA_PORT.value()),
            pids={name: status.pid for name, status in statuses.items()},
        )

    def cassandra(self, keyspace: str) -> CassandraResource:
        return CassandraResource(
            hosts=self.cassandra_hosts,
            port=self.cassandra_port,
            keyspace=keyspace,
            username=settings.CASSANDRA_USERNAME.value() or None,
            password=settings.CASSANDRA_PASSWORD.value() or None,
        )


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
    cassandra = services.cassandra(names.keyspace)
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
    """The benchmark's one SparkSession (one SparkContext per process), configured as the job's."""
    from ratings_assets.localstack.maven import spark_connector_jars
    from ratings_assets.streaming.session import build_session, spark_conf

    spark_connector_jars(services.stack_config)
    conf = spark_conf(
        master=settings.SPARK_MASTER.value(),
        driver_memory=settings.SPARK_DRIVER_MEMORY.value(),
        cassandra_hosts=services.cassandra_hosts,
        cassandra_port=services.cassandra_port,
        app_name="ratings-bench",
    )
    conf.update(conf_overrides)
    spark = build_session(conf)
    quiet_spark_logs(spark)
    return spark, conf


def quiet_spark_logs(spark) -> None:
    """Batch reads of Kafka warn once per record batch that they do not run in an UninterruptibleThread."""
    jvm = spark._jvm
    jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(
        "org.apache.spark.sql.kafka010.consumer.KafkaDataConsumer", jvm.org.apache.logging.log4j.Level.ERROR
    )


def stop_when_idle(query, timeout_s: float = 15.0) -> None:
    """Stop a processing-time query between triggers: stopping it mid-trigger interrupts the checkpoint
    write and Spark logs an InterruptedException (harmless, but noise in the report)."""
    deadline = time.monotonic() + timeout_s
    while query.isActive and query.status.get("isTriggerActive") and time.monotonic() < deadline:
        time.sleep(0.05)
    query.stop()


def stream_config(services: Services, names: Names, topic: str, purpose: str, **changes):
    """The job's StreamConfig for a benchmark query: its own dead-letter topic, keyspace and checkpoint."""
    from ratings_assets.streaming.job import StreamConfig, cassandra_auth_options, kafka_security_options

    dlq = names.new_topic("dlq")
    services.kafka.ensure_topic(dlq, 1, 1)
    return StreamConfig(
        kafka_bootstrap=services.kafka.bootstrap_servers, topic=topic, dlq_topic=dlq, keyspace=names.keyspace,
        catalog_path=settings.CATALOG.value(), checkpoint_dir=names.checkpoint(purpose), query_name=f"bench_{purpose}",
        kafka_options=kafka_security_options(), cassandra_options=cassandra_auth_options(), **changes,
    )
