"""Test helpers: read a whole Kafka topic, exactly up to its end offsets (no time-based guessing)."""

from __future__ import annotations

import time

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord


def read_topic(bootstrap_servers: str, topic: str, timeout_s: float = 60.0) -> list[ConsumerRecord]:
    """Every message of `topic`, from the beginning to the end offsets seen when called."""
    # read_committed: dead letters are written in transactions, and an aborted one must stay invisible.
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False, group_id=None,
                             client_id="ratings-tests-reader", isolation_level="read_committed")
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        if not partitions:
            raise AssertionError(f"topic {topic} does not exist")
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        # By coordinates: after a fetch error the consumer may fetch some records again.
        records: dict[tuple[int, int], ConsumerRecord] = {}
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < end[tp] for tp in partitions):
            if time.monotonic() > deadline:
                raise AssertionError(f"could not read {topic} to its end offsets {end} within {timeout_s:.0f} s")
            for batch in consumer.poll(timeout_ms=1000, max_records=10_000).values():
                records.update(((r.partition, r.offset), r) for r in batch
                               if r.offset < end[TopicPartition(r.topic, r.partition)])
        return [records[coords] for coords in sorted(records)]
    finally:
        consumer.close()


def headers_of(record: ConsumerRecord) -> dict[str, bytes]:
    return dict(record.headers or [])
