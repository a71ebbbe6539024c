"""Resources for Kafka, Cassandra and Spark, built from the settings.

`resolve` decides how a setting becomes a value: `Setting.for_dagster` in
Dagster definitions (an EnvVar when the variable is set), `Setting.value` in
the command line.
"""

from __future__ import annotations

from collections.abc import Callable

from dagster_pyspark import LazyPySparkResource

from ratings_assets import settings
from ratings_assets.resources.cassandra import CassandraResource
from ratings_assets.resources.kafka import KafkaResource
from ratings_assets.settings import Setting
from ratings_assets.streaming.dead_letters import MARKS_TOPIC_CONFIG, marks_topic
from ratings_assets.streaming.session import spark_conf_from_settings

Resolve = Callable[[Setting], object]


def kafka_resource(resolve: Resolve = Setting.value) -> KafkaResource:
    return KafkaResource(
        bootstrap_servers=resolve(settings.KAFKA_BOOTSTRAP),
        security_protocol=resolve(settings.KAFKA_SECURITY_PROTOCOL),
        sasl_mechanism=resolve(settings.KAFKA_SASL_MECHANISM),
        sasl_username=resolve(settings.KAFKA_USERNAME),
        sasl_password=resolve(settings.KAFKA_PASSWORD),
    )


def ensure_rating_topics(kafka: KafkaResource) -> list[dict]:
    """The rating topic, its dead-letter topic and the latter's compacted marks, created if missing."""
    replication = int(settings.TOPIC_REPLICATION.value())
    dlq = settings.DLQ_TOPIC.value()
    return [kafka.ensure_topic(settings.TOPIC.value(), int(settings.TOPIC_PARTITIONS.value()), replication),
            kafka.ensure_topic(dlq, 1, replication),
            kafka.ensure_topic(marks_topic(dlq), 1, replication, MARKS_TOPIC_CONFIG)]


def ensure_pipeline_storage(kafka: KafkaResource, cassandra: CassandraResource) -> list[dict]:
    """What the streaming query reads and writes: the topics, the keyspace and tables (idempotent)."""
    topics = ensure_rating_topics(kafka)
    cassandra.ensure_schema()
    return topics


def cassandra_resource(resolve: Resolve = Setting.value) -> CassandraResource:
    return CassandraResource(
        hosts=resolve(settings.CASSANDRA_HOSTS),
        port=int(settings.CASSANDRA_PORT.value()),
        keyspace=resolve(settings.KEYSPACE),
        replication=resolve(settings.REPLICATION),
        username=resolve(settings.CASSANDRA_USERNAME) or None,
        password=resolve(settings.CASSANDRA_PASSWORD) or None,
        consistency=resolve(settings.CONSISTENCY),
    )


def spark_resource() -> LazyPySparkResource:
    """dagster-pyspark's lazy session: Spark starts only in runs that use it."""
    return LazyPySparkResource(spark_config=spark_conf_from_settings())
