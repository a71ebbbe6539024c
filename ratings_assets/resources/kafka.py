"""Kafka, wrapped for Dagster and the CLI (kafka-python)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaTimeoutError, TopicAlreadyExistsError

from ratings_assets import settings
from ratings_assets.localstack.topology import min_insync_replicas

# kafka-python spells a librdkafka option with `_` for `.`, except these.
_KAFKA_PYTHON_NAMES = {"sasl.username": "sasl_plain_username", "sasl.password": "sasl_plain_password"}
# The dead-letter writer's marks: one compacted record per source partition (streaming/dead_letters.py).
MARKS_TOPIC_CONFIG = {"cleanup.policy": "compact"}


def marks_topic(dead_letter_topic: str) -> str:
    return f"{dead_letter_topic}.marks"


class KafkaResource(dg.ConfigurableResource):
    """A Kafka cluster and the pipeline's topics: administration, dead-letter counts, offsets for lag."""

    bootstrap_servers: str = settings.KAFKA_BOOTSTRAP.default
    topic: str = settings.TOPIC.default
    dead_letter_topic: str = settings.DLQ_TOPIC.default
    topic_partitions: int = int(settings.TOPIC_PARTITIONS.default)
    topic_replication: int = int(settings.TOPIC_REPLICATION.default)
    client_id: str = "ratings-assets"
    # How long administration waits for a first broker: a closed port fails in seconds, not half a minute.
    bootstrap_timeout_s: float = 10.0
    security_protocol: str = settings.KAFKA_SECURITY_PROTOCOL.default
    sasl_mechanism: str = settings.KAFKA_SASL_MECHANISM.default
    sasl_username: str = ""
    sasl_password: str = ""

    @property
    def sasl(self) -> bool:
        return self.security_protocol.upper().startswith("SASL")

    def librdkafka_options(self) -> dict:
        """Address, client id and SASL for confluent-kafka clients (the generator, the dead-letter writer). Holds secrets."""
        options = {"bootstrap.servers": self.bootstrap_servers, "client.id": self.client_id,
                   "security.protocol": self.security_protocol}
        if self.sasl:
            options.update({"sasl.mechanism": self.sasl_mechanism, "sasl.username": self.sasl_username,
                            "sasl.password": self.sasl_password})
        return options

    def client_options(self) -> dict:
        """The same connection under kafka-python's names (admin, consumers)."""
        return {_KAFKA_PYTHON_NAMES.get(name, name.replace(".", "_")): value
                for name, value in self.librdkafka_options().items()}

    def spark_source_options(self) -> dict[str, str]:
        """The same connection as Spark's Kafka source (and sink) options. Holds secrets: never log them."""
        options = {"kafka.bootstrap.servers": self.bootstrap_servers}
        if self.sasl:
            jaas = ("org.apache.kafka.common.security.plain.PlainLoginModule required "
                    f'username="{self.sasl_username}" password="{self.sasl_password}";')
            options.update({"kafka.security.protocol": self.security_protocol,
                            "kafka.sasl.mechanism": self.sasl_mechanism, "kafka.sasl.jaas.config": jaas})
        return options

    @contextmanager
    def admin(self) -> Iterator[KafkaAdminClient]:
        client = KafkaAdminClient(**self.client_options(), bootstrap_timeout_ms=int(self.bootstrap_timeout_s * 1000))
        try:
            yield client
        finally:
            client.close()

    def ensure_topic(self, name: str, partitions: int, replication: int, config: dict[str, str] | None = None) -> dict:
        """Create the topic if missing; returns its actual partition count and config.

        With three copies or more, acks=all waits for two in sync, so one broker may fail without a loss or a stop.
        """
        config = {"min.insync.replicas": str(min_insync_replicas(replication)), **(config or {})}
        with self.admin() as admin:
            try:
                admin.create_topics([NewTopic(name, partitions, replication, topic_configs=config)])
            except TopicAlreadyExistsError:
                pass
            described = admin.describe_topics([name])[0]
            # Just after creation the broker may not know the topic's partitions yet (UNKNOWN_TOPIC_OR_PARTITION).
            deadline = time.monotonic() + 30
            while not described["partitions"] and time.monotonic() < deadline:
                time.sleep(0.1)
                described = admin.describe_topics([name])[0]
        if not described["partitions"]:
            raise KafkaTimeoutError(f"topic {name} has no partitions 30 s after it was created (error {described['error_code']})")
        return {
            "topic": name,
            "partitions": len(described["partitions"]),
            "replication_factor": len(described["partitions"][0]["replica_nodes"]),
        }

    def ensure_rating_topics(self) -> list[dict]:
        """The rating topic, its dead-letter topic and the latter's compacted marks, created if missing."""
        return [self.ensure_topic(self.topic, self.topic_partitions, self.topic_replication),
                self.ensure_topic(self.dead_letter_topic, 1, self.topic_replication),
                self.ensure_topic(marks_topic(self.dead_letter_topic), 1, self.topic_replication, MARKS_TOPIC_CONFIG)]

    def dead_letter_counts(self, topic: str | None = None, timeout_ms: int = 5000) -> dict[str, int]:
        """Messages of a dead-letter topic (default: the pipeline's) by their `reason` header, read from the start."""
        consumer = KafkaConsumer(
            topic or self.dead_letter_topic,
            **self.client_options(),
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            isolation_level="read_committed",  # dead letters are written in transactions
            consumer_timeout_ms=timeout_ms,
        )
        counts: dict[str, int] = {}
        try:
            for message in consumer:
                reason = dict(message.headers or []).get("reason", b"unknown").decode()
                counts[reason] = counts.get(reason, 0) + 1
        finally:
            consumer.close()
        return counts

    def end_offsets(self, topic: str | None = None) -> dict[int, int]:
        """Latest offset of each partition of a topic (default: the ratings topic): what a caught-up consumer has read."""
        topic = topic or self.topic
        consumer = KafkaConsumer(**self.client_options())
        try:
            partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
            return {tp.partition: offset for tp, offset in consumer.end_offsets(partitions).items()}
        finally:
            consumer.close()
