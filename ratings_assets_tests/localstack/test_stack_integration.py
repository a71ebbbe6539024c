"""The real Kafka and Cassandra, started (or reused) with the default configuration.

The services are left running for the other integration modules; `make` stops them.
"""

from __future__ import annotations

import pytest

from ratings_assets.localstack import stack
from ratings_assets.localstack.config import StackConfig

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def local_stack():
    """Start both services once per session (a healthy running stack is reused)."""
    config = StackConfig.from_env()
    return config, stack.up(config=config, progress=lambda message: None)


def test_kafka_cluster_has_one_broker(local_stack):
    from kafka import KafkaAdminClient

    config, _ = local_stack
    admin = KafkaAdminClient(bootstrap_servers=f"{config.bind_host}:{config.kafka_port}")
    try:
        cluster = admin.describe_cluster()
    finally:
        admin.close()
    assert len(cluster["brokers"]) == 1
    assert cluster["brokers"][0]["port"] == config.kafka_port


def test_cassandra_is_5_0(local_stack):
    from cassandra.cluster import Cluster

    config, _ = local_stack
    cluster = Cluster([config.bind_host], port=config.cassandra_port)
    try:
        row = cluster.connect().execute("SELECT release_version FROM system.local").one()
    finally:
        cluster.shutdown()
    assert row.release_version.startswith("5.0.")


def test_second_up_reuses_the_running_servers(local_stack):
    config, first = local_stack
    again = stack.up(config=config, progress=lambda message: None)
    assert {name: s.pid for name, s in again.items()} == {name: s.pid for name, s in first.items()}
    assert all(s.startup_s is None for s in again.values())


def test_status_reports_both_healthy(local_stack):
    config, first = local_stack
    report = stack.status(config=config)
    assert all(s.healthy and s.running for s in report.values())
    assert report["cassandra"].pid == first["cassandra"].pid
