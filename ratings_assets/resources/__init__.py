"""The one place that builds the Kafka, Cassandra and Spark resources from the settings.

`resolve` decides how a setting becomes a value: `Setting.for_dagster` in the
Dagster definitions (an EnvVar when the variable is set, so the UI shows where
a value comes from), `Setting.value` on the command line, in tests and in the
benchmark.
"""

from __future__ import annotations

from collections.abc import Callable

from ratings_assets import settings
from ratings_assets.resources.cassandra import CassandraResource
from ratings_assets.resources.kafka import KafkaResource
from ratings_assets.resources.spark import SparkResource
from ratings_assets.settings import Setting

Resolve = Callable[[Setting], object]


def kafka_resource(resolve: Resolve = Setting.value) -> KafkaResource:
    return KafkaResource(
        bootstrap_servers=resolve(settings.KAFKA_BOOTSTRAP),
        topic=resolve(settings.TOPIC),
        dead_letter_topic=resolve(settings.DLQ_TOPIC),
        topic_partitions=resolve(settings.TOPIC_PARTITIONS),
        topic_replication=resolve(settings.TOPIC_REPLICATION),
        security_protocol=resolve(settings.KAFKA_SECURITY_PROTOCOL),
        sasl_mechanism=resolve(settings.KAFKA_SASL_MECHANISM),
        sasl_username=resolve(settings.KAFKA_USERNAME),
        sasl_password=resolve(settings.KAFKA_PASSWORD),
    )


def cassandra_resource(resolve: Resolve = Setting.value) -> CassandraResource:
    return CassandraResource(
        hosts=resolve(settings.CASSANDRA_HOSTS),
        port=resolve(settings.CASSANDRA_PORT),
        keyspace=resolve(settings.KEYSPACE),
        replication=resolve(settings.REPLICATION),
        username=resolve(settings.CASSANDRA_USERNAME) or None,
        password=resolve(settings.CASSANDRA_PASSWORD) or None,
        consistency=resolve(settings.CONSISTENCY),
    )


def spark_resource(resolve: Resolve = Setting.value) -> SparkResource:
    return SparkResource(
        master=resolve(settings.SPARK_MASTER),
        driver_host=resolve(settings.SPARK_DRIVER_HOST),
        driver_memory=resolve(settings.SPARK_DRIVER_MEMORY),
        python=resolve(settings.SPARK_PYTHON),
        jars_dir=settings.spark_jars_dir(),
        class_archive=settings.spark_class_archive(),
    )


def ensure_pipeline_storage(kafka: KafkaResource, cassandra: CassandraResource) -> list[dict]:
    """What the streaming query reads and writes: the topics, the keyspace and tables (idempotent)."""
    topics = kafka.ensure_rating_topics()
    cassandra.ensure_schema()
    return topics
