"""Fixtures for the integration layer: the real services, an isolated topic and keyspace, one Spark session."""

from __future__ import annotations

import uuid

import pytest

from ratings_assets import settings
from ratings_assets.localstack import stack
from ratings_assets.localstack.config import StackConfig
from ratings_assets.localstack.maven import spark_connector_jars
from ratings_assets.resources.cassandra import CassandraResource
from ratings_assets.resources.kafka import KafkaResource


@pytest.fixture(scope="session")
def services() -> StackConfig:
    """Kafka and Cassandra, started once per session (healthy running ones are reused)."""
    config = StackConfig.from_env()
    stack.up(config=config, progress=lambda message: None)
    return config


@pytest.fixture(scope="session")
def kafka(services) -> KafkaResource:
    return KafkaResource(bootstrap_servers=f"{services.bind_host}:{services.kafka_port}")


@pytest.fixture(scope="module")
def isolated(tmp_path_factory) -> dict[str, str]:
    """Names no other test module uses: a topic, a dead-letter topic, a keyspace and a checkpoint folder."""
    suffix = uuid.uuid4().hex[:10]
    return {
        "topic": f"it_ratings_{suffix}",
        "dlq_topic": f"it_ratings_{suffix}.dlq",
        "keyspace": f"it_{suffix}",
        "checkpoint_dir": str(tmp_path_factory.mktemp("checkpoint") / "records"),
    }


@pytest.fixture(scope="module")
def drain_config(kafka, isolated):
    """Makes a StreamConfig that drains the isolated topic into the isolated keyspace, then stops."""
    from ratings_assets.paths import CATALOG_CSV
    from ratings_assets.streaming.job import StreamConfig

    def make(**overrides) -> StreamConfig:
        options = dict(
            kafka_bootstrap=kafka.bootstrap_servers,
            topic=isolated["topic"],
            dlq_topic=isolated["dlq_topic"],
            keyspace=isolated["keyspace"],
            catalog_path=str(CATALOG_CSV),
            checkpoint_dir=isolated["checkpoint_dir"],
            trigger_seconds=1,
            available_now=True,
        )
        return StreamConfig(**{**options, **overrides})

    return make


@pytest.fixture(scope="module")
def cassandra(services, isolated) -> CassandraResource:
    resource = CassandraResource(
        hosts=services.bind_host, port=services.cassandra_port, keyspace=isolated["keyspace"]
    )
    resource.ensure_schema()
    yield resource
    with resource.session() as session:
        session.execute(f"DROP KEYSPACE IF EXISTS {isolated['keyspace']}", timeout=120)


@pytest.fixture(scope="session")
def spark(services):
    from ratings_assets.streaming.session import build_session, spark_conf

    spark_connector_jars(services)
    session = build_session(
        spark_conf(
            master="local[2]",
            driver_memory=settings.SPARK_DRIVER_MEMORY.value(),
            cassandra_hosts=services.bind_host,
            cassandra_port=services.cassandra_port,
            app_name="ratings-tests",
        )
    )
    yield session
    session.stop()
