"""Rows as the stream stores them, for tests that put an hour in place by hand or check what the stream wrote."""

from __future__ import annotations

from datetime import datetime, timezone

from ratings_assets.core import tables
from ratings_assets.core.hours import hour_of


def insert_ratings(session, keyspace: str, ratings: list[dict]) -> None:
    """Each rating (name, time, event_id, rating; optional movie, duration) into records, and its user into the index."""
    insert_record = session.prepare(
        f"INSERT INTO {keyspace}.{tables.RECORDS_TABLE} (name, hour, time, event_id, movie, rating, duration) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)")
    insert_user = session.prepare(
        f"INSERT INTO {keyspace}.{tables.USERS_BY_HOUR_TABLE} (hour, bucket, name) VALUES (?, ?, ?)")
    for r in ratings:
        hour = hour_of(r["time"])
        session.execute(insert_record, (r["name"], hour, r["time"], r["event_id"], r.get("movie"), r["rating"],
                                        r.get("duration")))
        session.execute(insert_user, (hour, tables.hour_bucket(r["name"]), r["name"]))


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc)


def user_hours_of_records(session, keyspace: str) -> set[tuple[str, datetime]]:
    """(name, hour) of every partition of records, by a full scan (small test keyspaces only)."""
    rows = session.execute(f"SELECT DISTINCT name, hour FROM {keyspace}.{tables.RECORDS_TABLE}", timeout=120)
    return {(row.name, _utc(row.hour)) for row in rows}


def user_hours_of_index(session, keyspace: str) -> set[tuple[str, datetime]]:
    """(name, hour) of every row of the users_by_hour index, checked to sit in its name's bucket."""
    rows = session.execute(f"SELECT hour, bucket, name FROM {keyspace}.{tables.USERS_BY_HOUR_TABLE}", timeout=120).all()
    misplaced = [row for row in rows if row.bucket != tables.hour_bucket(row.name)]
    assert not misplaced, f"index rows in the wrong bucket: {misplaced[:3]}"
    return {(row.name, _utc(row.hour)) for row in rows}
