"""Kafka, wrapped for Dagster and the CLI (kafka-python)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaTimeoutError, TopicAlreadyExistsError

# kafka-python spells a librdkafka option with `_` for `.`, except these.
_KAFKA_PYTHON_NAMES = {"sasl.username": "sasl_plain_username", "sasl.password": "sasl_plain_password"}


class KafkaResource(dg.ConfigurableResource):
    """A Kafka cluster: topic administration, dead-letter counts, offsets for lag."""

    bootstrap_servers: str
    client_id: str = "ratings-assets"
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "PLAIN"
    sasl_username: str = ""
    sasl_password: str = ""

    def librdkafka_options(self) -> dict:
        """Address, client id and SASL for confluent-kafka clients (the generator, the dead-letter writer). Holds secrets."""
        options = {"bootstrap.servers": self.bootstrap_servers, "client.id": self.client_id,
                   "security.protocol": self.security_protocol}
        if self.security_protocol.upper().startswith("SASL"):
            options.update({"sasl.mechanism": self.sasl_mechanism, "sasl.username": self.sasl_username,
                            "sasl.password": self.sasl_password})
        return options

    def client_options(self) -> dict:
        """The same connection under kafka-python's names (admin, consumers)."""
        return {_KAFKA_PYTHON_NAMES.get(name, name.replace(".", "_")): value
                for name, value in self.librdkafka_options().items()}

    @contextmanager
    def admin(self) -> Iterator[KafkaAdminClient]:
        client = KafkaAdminClient(**self.client_options())
        try:
            yield client
        finally:
            client.close()

    def ensure_topic(self, name: str, partitions: int, replication: int, config: dict[str, str] | None = None) -> dict:
        """Create the topic if missing; returns its actual partition count and config."""
        with self.admin() as admin:
            try:
                admin.create_topics([NewTopic(name, partitions, replication, topic_configs=config or {})])
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

    def dead_letter_counts(self, topic: str, timeout_ms: int = 5000) -> dict[str, int]:
        """Messages of a dead-letter topic by their `reason` header, read from the start."""
        consumer = KafkaConsumer(
            topic,
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

    def end_offsets(self, topic: str) -> dict[int, int]:
        """Latest offset of each partition (what a caught-up consumer has read)."""
        consumer = KafkaConsumer(**self.client_options())
        try:
            partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
            return {tp.partition: offset for tp, offset in consumer.end_offsets(partitions).items()}
        finally:
            consumer.close()
