"""The generator's publisher against the real Kafka: what it counts as acked is what the topic holds."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

import pytest
from kafka.partitioner.default import murmur2

from ratings_assets.core.catalog import read_catalog
from ratings_assets.core.events import parse_event
from ratings_assets.generator.publisher import connect, publish
from ratings_assets.generator.ratings import EventClock, Pacer, RatingFactory, generate
from ratings_assets.generator.users import user_pool
from ratings_assets.paths import CATALOG_CSV
from ratings_assets_tests.streaming.topics import read_topic

pytestmark = pytest.mark.integration

MOVIES = list(read_catalog(CATALOG_CSV).values())
PARTITIONS = 4


@dataclass(frozen=True)
class Oversized:
    """A message larger than the topic accepts; `publish` needs only .name and .to_json()."""

    name: str = "Mallory"

    def to_json(self) -> bytes:
        return b'{"x":"' + b"x" * 300_000 + b'"}'


@pytest.fixture
def new_topic(kafka):
    made = []

    def make(**config: str) -> str:
        name = f"it_publish_{uuid.uuid4().hex[:10]}"
        kafka.ensure_topic(name, PARTITIONS, 1, config)
        made.append(name)
        return name

    yield make
    with kafka.admin() as admin:
        admin.delete_topics(made)


def events(count: int, seed: int, rate: float | None = None, users: int = 50):
    factory = RatingFactory(MOVIES, user_pool(users, seed=seed), seed=seed)
    return generate(factory, EventClock(), Pacer(rate), count=count)


def test_every_acked_event_is_in_the_topic_once_keyed_by_user_on_the_java_clients_partition(kafka, new_topic):
    topic, count = new_topic(), 20_000
    sent = list(events(count, seed=21))
    stats = publish(connect(kafka), topic, sent)
    assert (stats.sent, stats.acked, stats.errors, stats.first_error) == (count, count, 0, None)

    records = read_topic(kafka.bootstrap_servers, topic)
    assert sorted(r.value for r in records) == sorted(e.to_json() for e in sent)
    now = datetime.now(timezone.utc)
    for record in records:
        event = parse_event(record.value, now=now)
        assert record.key == event.name.encode()
        # murmur2, as the Java client and kafka-python partition keys: a user stays on one partition, always the same.
        assert record.partition == (murmur2(record.key) & 0x7FFFFFFF) % PARTITIONS


def test_acked_counts_only_what_the_broker_confirmed(kafka, new_topic, caplog):
    # The broker refuses Oversized; the limit is on a whole batch, which a few hundred events stay well below.
    topic = new_topic(**{"max.message.bytes": str(256 * 1024)})
    producer = connect(kafka)
    before = publish(producer, topic, events(300, seed=22))
    refused = publish(producer, topic, [Oversized()])
    after = publish(producer, topic, events(300, seed=23))  # the producer goes on after a refusal
    mixed = publish(producer, topic, [*events(200, seed=24), Oversized(), *events(200, seed=25)])

    assert (before.acked, before.errors) == (300, 0) and (after.acked, after.errors) == (300, 0)
    assert (refused.sent, refused.acked, refused.errors) == (1, 0, 1)
    assert refused.first_error.startswith("MSG_SIZE_TOO_LARGE")
    assert mixed.errors >= 1 and mixed.acked + mixed.errors == mixed.sent == 401
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
        f"Kafka did not accept an event: {refused.first_error}"] * 2  # the first error of each publish, once
    # Exactly the acknowledged messages are there (a refused batch takes its neighbours with it).
    assert len(read_topic(kafka.bootstrap_servers, topic)) == before.acked + after.acked + mixed.acked


def test_progress_while_publishing_and_once_at_the_end(kafka, new_topic):
    # The timing rule is unit-tested on a fake clock (test_publisher.py); here, against the real broker,
    # a 3.5 s publish reports on its way and ends with the whole count.
    reports: list[int] = []
    stats = publish(connect(kafka), new_topic(), events(700, seed=26, rate=200.0),
                    progress=lambda s: reports.append(s.sent))
    assert stats.acked == 700
    assert len(reports) >= 2 and reports == sorted(reports) and reports[-1] == 700, reports
