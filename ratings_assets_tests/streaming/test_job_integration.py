"""End to end on the real services: 10,000 events through Kafka and Spark into Cassandra."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import timezone

import pytest

from ratings_assets.core.catalog import read_catalog
from ratings_assets.generator.publisher import publish
from ratings_assets.generator.ratings import EventClock, Pacer, RatingFactory, generate
from ratings_assets.generator.users import user_pool
from ratings_assets.paths import CATALOG_CSV, SOURCE_DATASET
from ratings_assets.streaming.job import StreamConfig, run_stream

pytestmark = pytest.mark.integration

EVENTS = 10_000
# As the specification writes them; the test swaps in its keyspace, user and hour.
SPEC_QUERIES = [
    "SELECT AVG(rating) AS avg_rating FROM reviews.records WHERE name = 'U' AND hour = '2025-03-15 10:00:00';",
    "SELECT movie FROM reviews.records WHERE name = 'U' AND hour = '2025-03-15 10:00:00';",
    "SELECT AVG(duration) FROM reviews.records WHERE name = 'U' AND hour = '2025-03-15 10:00:00';",
]


def source_durations() -> dict[int, int]:
    """Movie lengths straight from the original dataset, not from our catalog code."""
    with SOURCE_DATASET.open(encoding="utf-8") as src:
        return {int(row[""]): int(row["length"]) for row in csv.DictReader(src)}


@pytest.fixture
def produced(kafka, isolated):
    """10,000 acknowledged events over the last 3 hours, from 40 users."""
    kafka.ensure_topic(isolated["topic"], 4, 1)
    factory = RatingFactory(list(read_catalog(CATALOG_CSV).values()), user_pool(40, seed=11), seed=11)
    events = list(generate(factory, EventClock.past_hours(3, seed=11), Pacer(None), count=EVENTS))
    producer = kafka.producer()
    try:
        stats = publish(producer, isolated["topic"], events)
    finally:
        producer.close()
    assert stats.acked == EVENTS and stats.errors == 0
    return events


def test_every_event_lands_once_with_its_values_and_the_spec_queries_answer(spark, cassandra, isolated, produced, kafka):
    config = StreamConfig(
        kafka_bootstrap=kafka.bootstrap_servers,
        topic=isolated["topic"],
        dlq_topic=isolated["dlq_topic"],
        keyspace=isolated["keyspace"],
        catalog_path=str(CATALOG_CSV),
        checkpoint_dir=isolated["checkpoint_dir"],
        trigger_seconds=1,
        available_now=True,
    )
    run_stream(spark, config)

    durations = source_durations()
    with cassandra.session(isolated["keyspace"]) as session:
        rows = {row.event_id: row for row in session.execute("SELECT * FROM records", timeout=60)}
        assert len(rows) == EVENTS
        for event in produced:
            row = rows[event.event_id]
            assert (row.name, row.movie_id, row.movie, row.rating) == (event.name, event.movie_id, event.movie, event.rating)
            assert row.time.replace(tzinfo=timezone.utc) == event.time
            assert row.hour.replace(tzinfo=timezone.utc) == event.time.replace(minute=0, second=0, microsecond=0)
            assert row.duration == durations[event.movie_id]

        by_user_hour = defaultdict(list)
        for event in produced:
            by_user_hour[(event.name, event.time.replace(minute=0, second=0, microsecond=0))].append(event)
        for (name, hour), events in sorted(by_user_hour.items())[::17]:
            answers = [
                session.execute(query.replace("reviews.", f"{isolated['keyspace']}.").replace("'U'", "%s").replace(
                    "'2025-03-15 10:00:00'", f"'{hour:%Y-%m-%d %H:%M:%S}'"), (name,)).all()
                for query in SPEC_QUERIES
            ]
            avg_rating, movies, avg_duration = answers[0][0][0], [r.movie for r in answers[1]], answers[2][0][0]
            # Cassandra's AVG over an int column is an int: the truncated mean.
            assert avg_rating == sum(e.rating for e in events) // len(events)
            assert sorted(movies) == sorted(e.movie for e in events)
            assert avg_duration == sum(durations[e.movie_id] for e in events) // len(events)
