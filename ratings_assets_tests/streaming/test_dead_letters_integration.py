"""The dead-letter writer on the real broker: replays write nothing twice, a crashed transaction stays invisible."""

from __future__ import annotations

import pytest
from kafka import KafkaProducer

from ratings_assets.streaming.dead_letters import DeadLetter, DeadLetterWriter, writer_id
from ratings_assets_tests.streaming.topics import read_topic

pytestmark = pytest.mark.integration


@pytest.fixture()
def topics(kafka, isolated, request):
    source, dlq = f"{isolated['topic']}_{request.node.name[-20:]}", f"{isolated['dlq_topic']}_{request.node.name[-20:]}"
    kafka.ensure_topic(source, 4, 1)  # the marks are committed offsets of the source topic: it must exist
    kafka.ensure_topic(dlq, 1, 1)
    return source, dlq


def writer(kafka, source: str, dlq: str) -> DeadLetterWriter:
    return DeadLetterWriter(kafka.librdkafka_options(), source, dlq)


def letters(partition: int, offsets: range) -> list[DeadLetter]:
    return [DeadLetter(partition, o, f"bad {partition}:{o}".encode(), "BAD_JSON", "not JSON") for o in offsets]


def keys(kafka, topic: str) -> list[str]:
    return [record.key.decode() for record in read_topic(kafka.bootstrap_servers, topic)]


def test_a_replayed_batch_after_its_commit_writes_nothing_even_from_a_new_process(kafka, topics):
    source, dlq = topics
    batch1, batch2 = letters(0, range(0, 50)) + letters(3, range(7, 20)), letters(0, range(60, 70))
    first = writer(kafka, source, dlq)
    assert first.write(batch1) == len(batch1)
    assert first.write(batch1) == 0  # the same process replays
    first.close()

    restarted = writer(kafka, source, dlq)  # a new job: it learns the marks from Kafka
    assert restarted.write(batch1) == 0
    assert restarted.write(batch2) == len(batch2)
    restarted.close()
    assert keys(kafka, dlq) == [d.key.decode() for d in batch1 + batch2]
    assert sum(kafka.dead_letter_counts(dlq).values()) == len(batch1 + batch2)


def test_a_transaction_cut_short_by_a_crash_is_aborted_and_its_letters_written_once(kafka, topics):
    source, dlq = topics
    batch = letters(1, range(100, 140))
    # The job died mid-transaction: its letters reached the log, uncommitted.
    crashed = KafkaProducer(**kafka.client_options(), transactional_id=writer_id(source, dlq), enable_idempotence=True)
    crashed.init_transactions()
    crashed.begin_transaction()
    for dead in batch[:25]:
        crashed.send(dlq, key=dead.key, value=dead.value)
    crashed.flush()

    restarted = writer(kafka, source, dlq)
    assert restarted.write(batch) == len(batch)  # nothing was committed: all of them, once
    restarted.close()
    crashed.close(timeout=1)

    assert keys(kafka, dlq) == [d.key.decode() for d in batch]  # read_committed: the aborted 25 are invisible
    assert kafka.end_offsets(dlq)[0] > len(batch) + 25  # they are in the log all the same (and the markers)
