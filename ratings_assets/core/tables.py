"""The Cassandra tables, as CQL. Pure text: the Cassandra resource executes it.

`records` answers the specification's question, "what did user U rate during
hour H", with one partition per (name, hour). It carries `event_id` in the
primary key: two ratings in the same millisecond are two rows, and a replayed
event overwrites itself. Each event is written in full once, there.

`users_by_hour` is the index that finds an hour's partitions of `records`:
one small row per user and hour (written once per micro-batch, not per
event), spread over HOUR_BUCKETS partitions so that one busy hour is not one
huge partition. Reading an hour is then one read of the index and one read
per user partition, so its cost follows the hour's events.
"""

from __future__ import annotations

import re
import zlib

HOUR_BUCKETS = 8

_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,47}$")
_REPLICATION_MAP = re.compile(r"^\{[A-Za-z0-9_'\".:, -]+\}$")


def check_identifier(name: str) -> str:
    """Keyspace and table names cannot be bound parameters in CQL, so they are checked instead."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"{name!r} is not a valid Cassandra identifier (letters, digits, _; starts with a letter)")
    return name


def check_replication(replication: str) -> str:
    if not _REPLICATION_MAP.match(replication) or "class" not in replication:
        raise ValueError(
            f"replication {replication!r} is not a CQL replication map such as "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
    return replication


def hour_bucket(name: str) -> int:
    """Stable bucket of a user within an hour (CRC32, the same in every process)."""
    return zlib.crc32(name.encode()) % HOUR_BUCKETS


def create_keyspace(keyspace: str, replication: str) -> str:
    return (
        f"CREATE KEYSPACE IF NOT EXISTS {check_identifier(keyspace)} "
        f"WITH replication = {check_replication(replication)}"
    )


RECORDS_TABLE = "records"
USERS_BY_HOUR_TABLE = "users_by_hour"
# Hourly per-user aggregates, written twice for Cassandra's query-first modelling:
# one user's hours over a range, and all users of one hour.
USER_HOURS_BY_USER_TABLE = "user_hourly_ratings"
USER_HOURS_BY_HOUR_TABLE = "hourly_user_ratings"
_AGGREGATE_COLUMNS = """
        ratings int, avg_rating double, min_rating int, max_rating int,
        avg_duration double, movies frozen<list<text>>, aggregated_at timestamp,"""

_TABLES = {
    RECORDS_TABLE: """
        name text, hour timestamp, time timestamp, event_id text,
        movie text, rating int, movie_id int, duration int, year int,
        genres frozen<list<text>>, mpaa text,
        PRIMARY KEY ((name, hour), time, event_id)
    ) WITH CLUSTERING ORDER BY (time ASC, event_id ASC)""",
    USERS_BY_HOUR_TABLE: """
        hour timestamp, bucket int, name text,
        PRIMARY KEY ((hour, bucket), name)
    )""",
    USER_HOURS_BY_USER_TABLE: f"""
        name text, hour timestamp,{_AGGREGATE_COLUMNS}
        PRIMARY KEY ((name), hour)
    ) WITH CLUSTERING ORDER BY (hour DESC)""",
    USER_HOURS_BY_HOUR_TABLE: f"""
        hour timestamp, name text,{_AGGREGATE_COLUMNS}
        PRIMARY KEY ((hour), name)
    )""",
}

# Columns the streaming job writes to each table.
RECORDS_COLUMNS = ("name", "hour", "time", "event_id", "movie", "rating", "movie_id", "duration", "year", "genres", "mpaa")
USERS_BY_HOUR_COLUMNS = ("hour", "bucket", "name")
USER_HOUR_COLUMNS = ("name", "hour", "ratings", "avg_rating", "min_rating", "max_rating", "avg_duration", "movies", "aggregated_at")


TABLES = tuple(_TABLES)


def create_tables(keyspace: str) -> list[str]:
    keyspace = check_identifier(keyspace)
    return [f"CREATE TABLE IF NOT EXISTS {keyspace}.{table} ({body}" for table, body in _TABLES.items()]
