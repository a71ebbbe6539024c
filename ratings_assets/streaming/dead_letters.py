"""Dead letters, exactly once: each micro-batch's rejects go out in one Kafka transaction.

The transaction carries the rejected messages and a mark of how far they go:
for each source partition, the offset after its last reject, as a record of a
small compacted topic next to the dead-letter topic (`<dlq>.marks`). Both
become visible together or not at all. A batch that Spark replays (the job
died after the transaction but before the checkpoint) finds the mark and skips
the letters it already wrote; a transaction cut short by a crash is aborted
when the next writer starts, so readers using `isolation.level=read_committed`
never see its letters.

librdkafka (confluent-kafka) runs the transactions: every step has a timeout,
so a broker that goes away never hangs the batch. A transaction cut short
while the cluster elects new leaders is written again by a new producer; past
that, the batch fails (and the query restarts). (Committing the marks as consumer-group offsets instead was
tried: after a broker restart the group coordinator fenced every new writer.)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from ratings_assets.resources.kafka import MARKS_TOPIC_CONFIG, marks_topic

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeadLetter:
    """A rejected message, its original bytes unchanged, and why and where it came from."""

    partition: int
    offset: int
    value: bytes | None
    reason: str
    detail: str | None

    @property
    def key(self) -> bytes:
        return f"{self.partition}:{self.offset}".encode()

    def headers(self, source_topic: str) -> list[tuple[str, bytes]]:
        return [
            ("reason", self.reason.encode()),
            ("detail", (self.detail or "").encode()),
            ("source_topic", source_topic.encode()),
            ("source_partition", str(self.partition).encode()),
            ("source_offset", str(self.offset).encode()),
        ]


def marks_after(letters: Iterable[DeadLetter], marks: dict[int, int]) -> dict[int, int]:
    """The marks once `letters` are written: per partition, the offset after the last letter."""
    after = dict(marks)
    for letter in letters:
        after[letter.partition] = max(after.get(letter.partition, 0), letter.offset + 1)
    return after


def not_yet_written(letters: Iterable[DeadLetter], marks: dict[int, int]) -> list[DeadLetter]:
    """Letters at or past their partition's mark: those an earlier transaction did not write."""
    return [letter for letter in letters if letter.offset >= marks.get(letter.partition, 0)]


# What a broker's death looks like to a client until the new leaders are known: worth asking again.
FAILOVER_ERRORS = frozenset({KafkaError._UNKNOWN_PARTITION, KafkaError._TIMED_OUT, KafkaError._TRANSPORT,
                             KafkaError._ALL_BROKERS_DOWN, KafkaError.LEADER_NOT_AVAILABLE,
                             KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.REQUEST_TIMED_OUT})


def during_failover(action, timeout_s: float, what: str, pause_s: float = 1.0, clock=time.monotonic,
                    sleep=time.sleep):
    """`action()`, asked again while Kafka answers as it does during a leader election, for up to `timeout_s`."""
    deadline = clock() + timeout_s
    while True:
        try:
            return action()
        except KafkaException as exc:
            error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
            if error is None or error.code() not in FAILOVER_ERRORS or clock() + pause_s > deadline:
                raise
            log.warning("%s: %s; asking again in %.0f s", what, error.str(), pause_s)
            sleep(pause_s)


def writer_id(source_topic: str, dlq_topic: str) -> str:
    """Transactional id of the one writer from `source_topic` to `dlq_topic`."""
    return f"ratings-dead-letters.{source_topic}.{dlq_topic}"


class DeadLetterWriter:
    """Writes a batch's dead letters to `dlq_topic` in one transaction; a replayed batch writes nothing twice."""

    def __init__(self, options: dict, source_topic: str, dlq_topic: str, timeout_s: float = 60.0):
        self.options = options  # librdkafka connection settings (address, SASL)
        self.source_topic, self.dlq_topic, self.timeout_s = source_topic, dlq_topic, timeout_s
        self.marks_topic = marks_topic(dlq_topic)
        self._mark_prefix = f"{source_topic}:".encode()  # marks are keyed "<source topic>:<partition>"
        self.id = writer_id(source_topic, dlq_topic)
        self._producer: Producer | None = None
        self._marks: dict[int, int] | None = None  # read from Kafka once, then kept in step

    def write(self, letters: list[DeadLetter]) -> int:
        """Send the letters not written yet; returns how many were sent. A transaction that a broker's death
        cuts short (its coordinator or a leader gone) is written again by a new producer, which fences the old
        one and aborts what it left open: readers never see those letters twice."""
        if not letters:
            return 0
        return during_failover(lambda: self._write_once(letters), 2 * self.timeout_s, "writing dead letters")

    def _write_once(self, letters: list[DeadLetter]) -> int:
        try:
            producer = self._transactional_producer()  # first: an earlier writer's transaction is settled by now
            marks = self._committed_marks()
            todo = not_yet_written(letters, marks)
            after = marks_after(letters, marks)
            producer.begin_transaction()
            for letter in todo:
                self._produce(producer, self.dlq_topic, letter.value, letter.key, letter.headers(self.source_topic))
            for partition, offset in sorted(after.items()):
                if offset != marks.get(partition):
                    self._produce(producer, self.marks_topic, str(offset).encode(), self._mark_key(partition))
            producer.commit_transaction(self.timeout_s / 2)
        except KafkaException:
            self.close()  # the next attempt starts a fresh producer, which aborts what this one left open
            raise
        self._marks = after
        if len(todo) < len(letters):
            log.info("%d dead letters were already written by an earlier attempt at this batch", len(letters) - len(todo))
        return len(todo)

    def close(self) -> None:
        self._producer, self._marks = None, None

    def _mark_key(self, partition: int) -> bytes:
        return self._mark_prefix + str(partition).encode()

    @staticmethod
    def _produce(producer: Producer, topic: str, value: bytes | None, key: bytes, headers=None) -> None:
        while True:
            try:
                producer.produce(topic, value, key, headers=headers)
                return
            except BufferError:  # the local queue is full: let deliveries make room
                producer.poll(0.1)

    def _transactional_producer(self) -> Producer:
        if self._producer is None:
            self._ensure_marks_topic()
            producer = Producer({**self.options, "transactional.id": self.id, "enable.idempotence": True,
                                 "linger.ms": 20, "message.max.bytes": 16 * 1024 * 1024, "log_level": 2})
            producer.init_transactions(self.timeout_s)  # fences any earlier writer and aborts its open transaction
            self._producer = producer
        return self._producer

    def _ensure_marks_topic(self) -> None:
        """For a dead-letter topic made elsewhere than `ensure_rating_topics` (which gives the marks its replication)."""
        admin = AdminClient({**self.options, "log_level": 2})
        futures = admin.create_topics([NewTopic(self.marks_topic, 1, -1, config=MARKS_TOPIC_CONFIG)],
                                      request_timeout=self.timeout_s)
        try:
            futures[self.marks_topic].result(self.timeout_s)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise

    def _committed_marks(self) -> dict[int, int]:
        """The marks topic read to its end, committed records only; the last mark of each partition wins.
        Each read has a consumer of its own: one that asked while the partition had no leader can keep calling
        it unknown, and `write` asks again after such an error."""
        if self._marks is None:
            self._marks = self._read_marks()
        return self._marks

    def _read_marks(self) -> dict[int, int]:
        consumer = Consumer({**self.options, "group.id": self.id, "isolation.level": "read_committed",
                             "enable.auto.commit": False, "log_level": 2})
        try:
            partition = TopicPartition(self.marks_topic, 0)
            low, high = consumer.get_watermark_offsets(partition, timeout=10)
            marks: dict[int, int] = {}
            consumer.assign([TopicPartition(self.marks_topic, 0, low)])
            deadline = time.monotonic() + self.timeout_s
            while high > low and consumer.position([partition])[0].offset < high:  # negative until the first fetch
                if time.monotonic() > deadline:
                    raise KafkaException(KafkaError(KafkaError._TIMED_OUT, f"{self.marks_topic} not read to {high}"))
                for message in consumer.consume(1000, timeout=1.0):
                    if message.error() is None and message.key().startswith(self._mark_prefix):
                        marks[int(message.key().removeprefix(self._mark_prefix))] = int(message.value())
            return marks
        finally:
            consumer.close()
