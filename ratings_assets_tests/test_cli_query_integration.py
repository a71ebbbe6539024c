"""`ratings query` against the real Cassandra: known rows in an isolated keyspace, the CLI run as a process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ratings_assets.core import tables
from ratings_assets.resources.cassandra import CassandraResource
from ratings_assets_tests.stored_rows import insert_ratings

pytestmark = pytest.mark.integration

HOUR = datetime(2025, 3, 15, 10, tzinfo=timezone.utc)
ADA = "Ada Lovelace"
# (time offset in minutes, movie, rating, duration): Ada's ratings in HOUR, in time order.
ADA_RECORDS = [(5, "Alien", 4, 117), (20, "Brazil", 5, 142), (55, "Cube", 2, 90)]
# Ada's hourly aggregates, keyed by hour offset from HOUR: (ratings, avg, min, max, avg duration, movies).
ADA_HOURS = {
    -2: (1, 3.0, 3, 3, 100.0, ["Dune"]),
    -1: (2, 4.5, 4, 5, None, ["Eraserhead", "Fargo"]),
    0: (3, 11 / 3, 2, 5, 349 / 3, ["Alien", "Brazil", "Cube"]),
    1: (1, 1.0, 1, 1, 88.0, ["Gattaca"]),
    3: (1, 5.0, 5, 5, 130.0, ["Heat"]),
}
# HOUR's users in hourly_user_ratings: name -> (ratings, avg, min, max, avg duration, movies).
HOUR_USERS = {
    ADA: ADA_HOURS[0],
    "Bob Bobson": (7, 3.0, 1, 5, 101.5, ["M1", "M2", "M3", "M4", "M5", "M6", "M7"]),
    "Alan Turing": (7, 4.0, 3, 5, 99.0, ["N1", "N2", "N3", "N4", "N5", "N6", "N7"]),
    "Zed Zee": (1, 2.0, 2, 2, 75.0, ["Ran"]),
}
AGGREGATED_AT = datetime(2025, 3, 15, 11, 5, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def keyspace(services) -> str:
    name = f"it_cli_{uuid.uuid4().hex[:10]}"
    resource = CassandraResource(hosts=services.bind_host, port=services.cassandra_port, keyspace=name)
    resource.ensure_schema()
    try:
        with resource.session() as session:
            insert_ratings(session, name, [
                *({"name": ADA, "time": HOUR + timedelta(minutes=minutes), "event_id": uuid.uuid4().hex, "movie": movie,
                   "rating": rating, "duration": duration} for minutes, movie, rating, duration in ADA_RECORDS),
                # Same user, next hour; another user, same hour: neither may leak into Ada's answer for HOUR.
                {"name": ADA, "time": HOUR + timedelta(minutes=61), "event_id": "e-next", "movie": "Gattaca",
                 "rating": 1, "duration": 88},
                {"name": "Zed Zee", "time": HOUR + timedelta(minutes=7), "event_id": "e-zed", "movie": "Ran",
                 "rating": 2, "duration": 75},
            ])

            columns = ", ".join(tables.USER_HOUR_COLUMNS)
            marks = ", ".join("?" for _ in tables.USER_HOUR_COLUMNS)
            by_user = session.prepare(f"INSERT INTO {name}.{tables.USER_HOURS_BY_USER_TABLE} ({columns}) VALUES ({marks})")
            by_hour = session.prepare(f"INSERT INTO {name}.{tables.USER_HOURS_BY_HOUR_TABLE} ({columns}) VALUES ({marks})")
            for offset, values in ADA_HOURS.items():
                session.execute(by_user, (ADA, HOUR + timedelta(hours=offset), *values, AGGREGATED_AT))
            session.execute(by_user, ("Bob Bobson", HOUR, *HOUR_USERS["Bob Bobson"], AGGREGATED_AT))
            for user, values in HOUR_USERS.items():
                session.execute(by_hour, (user, HOUR, *values, AGGREGATED_AT))
            # A user of the next hour must not show in HOUR's top.
            session.execute(by_hour, (ADA, HOUR + timedelta(hours=1), *ADA_HOURS[1], AGGREGATED_AT))
        yield name
    finally:
        with resource.session() as session:
            session.execute(f"DROP KEYSPACE IF EXISTS {name}", timeout=120)


def ratings(services, keyspace: str, *args: str) -> subprocess.CompletedProcess:
    script = Path(sys.executable).with_name("ratings")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "ratings_assets.cli"]
    env = {
        **os.environ,
        "RATINGS_KEYSPACE": keyspace,
        "RATINGS_CASSANDRA_HOSTS": services.bind_host,
        "RATINGS_CASSANDRA_PORT": str(services.cassandra_port),
    }
    return subprocess.run([*command, "query", *args], env=env, capture_output=True, text=True, timeout=120)


def ratings_json(services, keyspace: str, *args: str) -> dict:
    result = ratings(services, keyspace, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def aggregate(name: str, hour: datetime, values: tuple) -> dict:
    ratings_, avg, low, high, duration, movies = values
    return {
        "name": name, "hour": hour.isoformat(), "ratings": ratings_, "avg_rating": pytest.approx(avg),
        "min_rating": low, "max_rating": high, "avg_duration": None if duration is None else pytest.approx(duration),
        "movies": movies, "aggregated_at": AGGREGATED_AT.isoformat(),
    }


def test_user_hour_from_records(services, keyspace):
    answer = ratings_json(services, keyspace, "--user", ADA, "--hour", "2025-03-15T10:00:00+00:00")
    assert answer == {
        "name": ADA,
        "hour": HOUR.isoformat(),
        "avg_rating": pytest.approx(11 / 3),
        "avg_duration": pytest.approx(349 / 3),
        "movies": ["Alien", "Brazil", "Cube"],
    }


@pytest.mark.parametrize("hour", ["2025-03-15T12:59:59+02:00", "2025-03-15T10:30Z", "2025-03-15T10:00", "2025-03-15-10:00"])
def test_any_time_inside_the_hour_and_naive_times_are_utc(services, keyspace, hour):
    answer = ratings_json(services, keyspace, "--user", ADA, "--hour", hour)
    assert (answer["hour"], answer["movies"]) == (HOUR.isoformat(), ["Alien", "Brazil", "Cube"])


def test_user_hour_without_ratings(services, keyspace):
    answer = ratings_json(services, keyspace, "--user", "Nobody", "--hour", "2025-03-15T10:00Z")
    assert answer == {"name": "Nobody", "hour": HOUR.isoformat(), "avg_rating": None, "avg_duration": None, "movies": []}


def test_user_hour_text_output_is_unchanged(services, keyspace):
    result = ratings(services, keyspace, "--user", ADA, "--hour", "2025-03-15T10:00:00+00:00")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"         name: {ADA}",
        "         hour: 2025-03-15T10:00:00+00:00",
        f"   avg_rating: {11 / 3}",
        f" avg_duration: {349 / 3}",
        "       movies: ['Alien', 'Brazil', 'Cube']",
    ]


def test_hours_is_a_clustering_range_oldest_first(services, keyspace):
    answer = ratings_json(services, keyspace, "hours", "--user", ADA, "--from", "2025-03-15T09:00Z", "--to", "2025-03-15T13:59Z")
    assert answer == {
        "name": ADA,
        "from": (HOUR - timedelta(hours=1)).isoformat(),
        "to": (HOUR + timedelta(hours=3)).isoformat(),
        "hours": [aggregate(ADA, HOUR + timedelta(hours=h), ADA_HOURS[h]) for h in (-1, 0, 1, 3)],
    }


def test_hours_json_flag_before_the_view(services, keyspace):
    result = ratings(services, keyspace, "--json", "hours", "--user", ADA, "--from", "2025-03-15T08:00", "--to", "2025-03-15T08:00")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["hours"] == [aggregate(ADA, HOUR - timedelta(hours=2), ADA_HOURS[-2])]


def test_hours_table(services, keyspace):
    result = ratings(services, keyspace, "hours", "--user", ADA, "--from", "2025-03-15T09:00Z", "--to", "2025-03-15T10:00Z")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"{ADA}, hours 2025-03-15 09:00 to 2025-03-15 10:00 UTC: 2 hour(s) with ratings"
    assert lines[1].split() == ["hour", "(UTC)", "ratings", "avg", "rating", "min", "max", "avg", "duration", "movies"]
    assert set(lines[2]) <= {"-", " "}
    assert lines[3].split()[:7] == ["2025-03-15", "09:00", "2", "4.50", "4", "5", "-"]
    assert lines[4].split()[:7] == ["2025-03-15", "10:00", "3", "3.67", "2", "5", "116.33"]
    assert lines[4].endswith("Alien, Brazil, Cube")
    # Aligned: every column starts at the same place on every line.
    assert lines[3].index("09:00") == lines[4].index("10:00")
    assert lines[1].index("movies") == lines[3].index("Eraserhead") == lines[4].index("Alien")


def test_top_users_of_an_hour(services, keyspace):
    answer = ratings_json(services, keyspace, "top", "--hour", "2025-03-15T10:15Z", "--limit", "3")
    assert answer == {
        "hour": HOUR.isoformat(),
        "users": 4,
        "top": [aggregate(name, HOUR, HOUR_USERS[name]) for name in ("Alan Turing", "Bob Bobson", ADA)],
    }


def test_top_table(services, keyspace):
    result = ratings(services, keyspace, "top", "--hour", "2025-03-15T10:00")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "hour 2025-03-15 10:00 UTC: 4 user(s) rated; top 4 by ratings"
    assert [line.split()[:4] for line in lines[3:]] == [
        ["1", "Alan", "Turing", "7"], ["2", "Bob", "Bobson", "7"], ["3", "Ada", "Lovelace", "3"], ["4", "Zed", "Zee", "1"],
    ]
    # Numbers are right-aligned under their title.
    end = lines[1].index("ratings") + len("ratings")
    assert [line[end - 1] for line in lines[3:]] == ["7", "7", "3", "1"]
    assert [line[:end].split()[-1] for line in lines[3:]] == ["7", "7", "3", "1"]


def test_empty_hour(services, keyspace):
    assert ratings_json(services, keyspace, "top", "--hour", "2024-01-01T00:00Z") == {
        "hour": "2024-01-01T00:00:00+00:00", "users": 0, "top": [], "ratings_stored": 0,
    }


def test_an_hour_with_ratings_but_no_aggregate_says_so_and_how_to_get_it(services, keyspace):
    unaggregated = HOUR + timedelta(hours=5)
    with CassandraResource(hosts=services.bind_host, port=services.cassandra_port, keyspace=keyspace).session() as session:
        insert_ratings(session, keyspace, [{"name": f"user {n}", "time": unaggregated + timedelta(minutes=n),
                                            "event_id": f"e{n}", "rating": 5} for n in range(3)])
    assert ratings_json(services, keyspace, "top", "--hour", "2025-03-15T15:00Z")["ratings_stored"] == 3
    result = ratings(services, keyspace, "top", "--hour", "2025-03-15T15:00Z")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "hour 2025-03-15 15:00 UTC has 3 ratings in reviews.records but is not aggregated yet: the automation does it "
        "once the hour has closed, or materialize partition 2025-03-15-15:00 of reviews/hourly_user_ratings in the "
        "Dagster UI")


def test_missing_keyspace_is_an_error_not_a_traceback(services):
    result = ratings(services, "it_cli_missing_keyspace", "top", "--hour", "2025-03-15T10:00Z")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.strip() == (
        "error: Cassandra has no keyspace 'it_cli_missing_keyspace' (RATINGS_KEYSPACE); `ratings init` creates it"
    )
