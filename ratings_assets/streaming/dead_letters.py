"""Dead letters, exactly once: each micro-batch's rejects go out in one Kafka transaction.

The transaction carries the rejected messages and a mark of how far they go:
the next source offset of each partition, committed as the offsets of a
consumer group. Both become visible together or not at all. A batch that Spark
replays (the job died after the transaction but before the checkpoint) finds
the mark and skips the letters it already wrote; a transaction cut short by a
crash is aborted when the next writer starts, so readers using
`isolation.level=read_committed` never see its letters.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from kafka import KafkaAdminClient, KafkaProducer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

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


def writer_id(source_topic: str, dlq_topic: str) -> str:
    """Transactional id and consumer group of the one writer from `source_topic` to `dlq_topic`."""
    return f"ratings-dead-letters.{source_topic}.{dlq_topic}"


class DeadLetterWriter:
    """Writes a batch's dead letters to `dlq_topic` in one transaction; a replayed batch writes nothing twice."""

    def __init__(self, client_options: dict, source_topic: str, dlq_topic: str):
        self.client_options = client_options
        self.source_topic, self.dlq_topic = source_topic, dlq_topic
        self.id = writer_id(source_topic, dlq_topic)
        self._producer: KafkaProducer | None = None
        self._marks: dict[int, int] | None = None  # read from Kafka once, then kept in step

    def write(self, letters: list[DeadLetter]) -> int:
        """Send the letters not written yet; returns how many were sent."""
        if not letters:
            return 0
        producer = self._transactional_producer()  # first: an earlier writer's transaction is settled by now
        marks = self._committed_marks()
        todo = not_yet_written(letters, marks)
        try:
            producer.begin_transaction()
            for letter in todo:
                producer.send(self.dlq_topic, key=letter.key, value=letter.value,
                              headers=letter.headers(self.source_topic))
            after = marks_after(letters, marks)
            producer.send_offsets_to_transaction(
                {TopicPartition(self.source_topic, p): OffsetAndMetadata(o, "", -1) for p, o in after.items()}, self.id)
            producer.commit_transaction()
        except Exception:
            self.close()  # the next attempt starts a fresh producer, which aborts what this one left open
            raise
        self._marks = after
        if len(todo) < len(letters):
            log.info("%d dead letters were already written by an earlier attempt at this batch", len(letters) - len(todo))
        return len(todo)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=10)
        self._producer, self._marks = None, None

    def _transactional_producer(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = KafkaProducer(
                **self.client_options,
                transactional_id=self.id,
                acks="all",
                enable_idempotence=True,
                linger_ms=20,
                max_request_size=16 * 1024 * 1024,  # a rejected message may be as large as the topic allows
            )
            self._producer.init_transactions()  # fences any earlier writer and aborts its open transaction
        return self._producer

    def _committed_marks(self, retry_s: float = 60.0) -> dict[int, int]:
        if self._marks is None:
            self._marks = {tp.partition: meta.offset for tp, meta in self._group_offsets(retry_s).items()
                           if tp.topic == self.source_topic and meta.offset >= 0}
        return self._marks

    def _group_offsets(self, retry_s: float) -> dict:
        """The group's committed offsets; retries while the group coordinator is starting or moving."""
        deadline = time.monotonic() + retry_s
        while True:
            admin = KafkaAdminClient(**self.client_options)
            try:
                return admin.list_group_offsets(self.id).get(self.id, {})
            except KafkaError as exc:
                if not exc.retriable or time.monotonic() > deadline:
                    raise
                log.warning("dead-letter marks not readable yet (%r); retrying", exc)
            finally:
                admin.close()
            time.sleep(1)
