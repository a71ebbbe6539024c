"""End to end on the real services: 10,000 events through Kafka and Spark into Cassandra,
then the hourly aggregates of those hours, checked against the produced events."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import datetime, timedelta, timezone

import pytest

from ratings_assets.core.catalog import read_catalog
from ratings_assets.core.hours import hour_of
from ratings_assets.generator.publisher import connect, publish
from ratings_assets.generator.ratings import EventClock, Pacer, RatingFactory, generate
from ratings_assets.generator.users import user_pool
from ratings_assets.paths import CATALOG_CSV
from ratings_assets.streaming.job import run_stream

pytestmark = pytest.mark.integration

EVENTS = 10_000
CLOSED_HOUR = hour_of(datetime.now(timezone.utc))  # the events fill the 3 hours before this one
# As the specification writes them; the test swaps in its keyspace, user and hour.
SPEC_QUERIES = [
    "SELECT AVG(rating) AS avg_rating FROM reviews.records WHERE name = 'U' AND hour = '2025-03-15 10:00:00';",
    "SELECT movie FROM reviews.records WHERE name = 'U' AND hour = '2025-03-15 10:00:00';",
    "SELECT AVG(duration) FROM reviews.records WHERE name = 'U' AND hour = '2025-03-15 10:00:00';",
]


GENRE_COLUMNS = ("Action", "Animation", "Comedy", "Drama", "Documentary", "Romance", "Short")


def source_movies(source_dataset) -> dict[int, tuple]:
    """(length, year, sorted genres, mpaa or None) by id, straight from the original dataset, not our catalog code."""
    with source_dataset.open(encoding="utf-8") as src:
        return {int(row[""]): (int(row["length"]), int(row["year"]), sorted(g for g in GENRE_COLUMNS if row[g] == "1"),
                               row["mpaa"] or None)
                for row in csv.DictReader(src)}


def source_durations(source_dataset) -> dict[int, int]:
    return {movie_id: movie[0] for movie_id, movie in source_movies(source_dataset).items()}


@pytest.fixture(scope="module")
def produced(kafka, isolated):
    """10,000 acknowledged events over the last 3 closed hours, from 40 users."""
    kafka.ensure_topic(isolated["topic"], 4, 1)
    factory = RatingFactory(list(read_catalog(CATALOG_CSV).values()), user_pool(40, seed=11), seed=11)
    events = list(generate(factory, EventClock(CLOSED_HOUR - timedelta(hours=3), CLOSED_HOUR, seed=11), Pacer(None), count=EVENTS))
    stats = publish(connect(kafka), isolated["topic"], events)
    assert stats.acked == EVENTS and stats.errors == 0
    return events


@pytest.fixture(scope="module")
def streamed(spark, kafka, cassandra, produced, drain_config):
    """The produced events run through the streaming job until the topic is drained."""
    config = drain_config()
    run_stream(spark, kafka, cassandra, config)
    return produced


def test_every_event_lands_once_with_its_values_and_the_spec_queries_answer(streamed, cassandra, isolated,
                                                                           source_dataset):
    produced = streamed
    movies = source_movies(source_dataset)
    durations = source_durations(source_dataset)
    with cassandra.session(isolated["keyspace"]) as session:
        rows = {row.event_id: row for row in session.execute("SELECT * FROM records", timeout=60)}
        assert len(rows) == EVENTS
        for event in produced:
            row = rows[event.event_id]
            assert (row.name, row.movie_id, row.movie, row.rating) == (event.name, event.movie_id, event.movie, event.rating)
            assert row.time.replace(tzinfo=timezone.utc) == event.time
            assert row.hour.replace(tzinfo=timezone.utc) == event.time.replace(minute=0, second=0, microsecond=0)
            assert (row.duration, row.year, sorted(row.genres or []), row.mpaa) == movies[event.movie_id]

        assert_spec_answers(session, isolated["keyspace"], produced, durations, every=17)


def assert_spec_answers(session, keyspace: str, produced, durations, every: int = 1) -> None:
    """The specification's three queries, as written, for every `every`-th (user, hour) of the produced events."""
    by_user_hour = defaultdict(list)
    for event in produced:
        by_user_hour[(event.name, event.time.replace(minute=0, second=0, microsecond=0))].append(event)
    for (name, hour), events in sorted(by_user_hour.items())[::every]:
        answers = [
            session.execute(query.replace("reviews.", f"{keyspace}.").replace("'U'", "%s").replace(
                "'2025-03-15 10:00:00'", f"'{hour:%Y-%m-%d %H:%M:%S}'"), (name,)).all()
            for query in SPEC_QUERIES
        ]
        avg_rating, movies, avg_duration = answers[0][0][0], [r.movie for r in answers[1]], answers[2][0][0]
        # Cassandra's AVG over an int column is an int: the truncated mean.
        assert avg_rating == sum(e.rating for e in events) // len(events)
        assert sorted(movies) == sorted(e.movie for e in events)
        assert avg_duration == sum(durations[e.movie_id] for e in events) // len(events)


def expected_user_hours(events, durations):
    """Independent aggregation of the produced events: (hour key, name) -> figures."""
    groups = defaultdict(list)
    for event in events:
        groups[(event.time.strftime("%Y-%m-%d-%H:00"), event.name)].append(event)
    return {
        key: {
            "ratings": len(evs),
            "avg_rating": sum(e.rating for e in evs) / len(evs),
            "min_rating": min(e.rating for e in evs),
            "max_rating": max(e.rating for e in evs),
            "avg_duration": sum(durations[e.movie_id] for e in evs) / len(evs),
            "movies": sorted(e.movie for e in evs),
        }
        for key, evs in groups.items()
    }


def stored_user_hours(cassandra, keyspace, hour_key):
    hour = datetime.strptime(hour_key, "%Y-%m-%d-%H:%M").replace(tzinfo=timezone.utc)
    with cassandra.session(keyspace) as session:
        rows = session.execute("SELECT * FROM hourly_user_ratings WHERE hour = %s", (hour,)).all()
        by_user = {
            row.name: session.execute("SELECT * FROM user_hourly_ratings WHERE name = %s AND hour = %s", (row.name, hour)).one()
            for row in rows
        }
    for row in rows:  # both query tables hold the same figures
        assert (by_user[row.name].ratings, by_user[row.name].movies) == (row.ratings, row.movies)
    return {
        (hour_key, row.name): {
            "ratings": row.ratings,
            "avg_rating": row.avg_rating,
            "min_rating": row.min_rating,
            "max_rating": row.max_rating,
            "avg_duration": row.avg_duration,
            "movies": sorted(row.movies),
        }
        for row in rows
    }


def assert_same(stored, expected):
    assert stored.keys() == expected.keys()
    for key, figures in expected.items():
        got = stored[key]
        assert got["avg_rating"] == pytest.approx(figures["avg_rating"])
        assert got["avg_duration"] == pytest.approx(figures["avg_duration"])
        assert {k: got[k] for k in ("ratings", "min_rating", "max_rating", "movies")} == {
            k: figures[k] for k in ("ratings", "min_rating", "max_rating", "movies")}


@pytest.fixture(scope="module")
def hours_of_data(streamed):
    return sorted({e.time.strftime("%Y-%m-%d-%H:00") for e in streamed})


def test_materializing_one_hour_matches_an_independent_computation(streamed, cassandra, isolated, hours_of_data,
                                                                   source_dataset):
    import dagster as dg

    from ratings_assets.defs.hourly import COUNTS_CHECK, HOURLY_KEY, hourly_user_ratings

    hour_key = hours_of_data[1]
    with dg.instance_for_test() as instance:
        result = dg.materialize([hourly_user_ratings], partition_key=hour_key, resources={"cassandra": cassandra}, instance=instance)
        assert result.success
        checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
        assert checks[COUNTS_CHECK] is True and all(checks.values())
        metadata = result.asset_materializations_for_node("reviews__hourly_user_ratings")[0].metadata
    expected = {k: v for k, v in expected_user_hours(streamed, source_durations(source_dataset)).items() if k[0] == hour_key}
    assert metadata["ratings"].value == sum(v["ratings"] for v in expected.values())
    assert metadata["users"].value == len(expected)
    assert_same(stored_user_hours(cassandra, isolated["keyspace"], hour_key), expected)
    assert HOURLY_KEY.path == ["reviews", "hourly_user_ratings"]


def test_backfilling_three_hours_is_one_run(streamed, cassandra, isolated, hours_of_data, source_dataset):
    import dagster as dg

    from ratings_assets.defs.hourly import hourly_user_ratings

    first, last = hours_of_data[0], hours_of_data[-1]
    assert len(hours_of_data) == 3
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [hourly_user_ratings],
            resources={"cassandra": cassandra},
            instance=instance,
            tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
        )
        assert result.success
        assert len(instance.get_runs()) == 1
        materialized = instance.get_materialized_partitions(dg.AssetKey(["reviews", "hourly_user_ratings"]))
    assert materialized == set(hours_of_data)
    expected = expected_user_hours(streamed, source_durations(source_dataset))
    stored = {}
    for hour_key in hours_of_data:
        stored.update(stored_user_hours(cassandra, isolated["keyspace"], hour_key))
    assert_same(stored, expected)
