"""Cassandra, wrapped for Dagster and the CLI (cassandra-driver)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import dagster as dg
from cassandra import ConsistencyLevel
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy

from ratings_assets import settings
from ratings_assets.core import tables
from ratings_assets.core.aggregation import RatedRow, UserHour


class CassandraResource(dg.ConfigurableResource):
    """A Cassandra cluster holding the pipeline's keyspace."""

    hosts: str = settings.CASSANDRA_HOSTS.default
    port: int = int(settings.CASSANDRA_PORT.default)
    keyspace: str = settings.KEYSPACE.default
    replication: str = settings.REPLICATION.default
    username: str | None = None
    password: str | None = None
    # Quorum reads after quorum writes see every acknowledged row, whatever the replication.
    consistency: str = settings.CONSISTENCY.default

    def consistency_level(self) -> int:
        try:
            return ConsistencyLevel.name_to_value[self.consistency.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown Cassandra consistency level {self.consistency!r}; one of "
                             f"{', '.join(ConsistencyLevel.name_to_value)}") from None

    def spark_options(self) -> dict[str, str]:
        """The same cluster as options of the Spark Cassandra connector's reads and writes. Holds secrets."""
        options = {
            "spark.cassandra.connection.host": self.hosts,
            "spark.cassandra.connection.port": str(self.port),
            "spark.cassandra.output.consistency.level": self.consistency,
            "spark.cassandra.input.consistency.level": self.consistency,
            # A node back from a restart is used again within seconds, not after the connector's reconnection
            # back-off has grown towards its default minute: until then every write finds no node to take it.
            "spark.cassandra.connection.reconnectionDelayMS.min": "500",
            "spark.cassandra.connection.reconnectionDelayMS.max": "4000",
            # A write to a node that went away fails (and is tried again) well before the default two minutes.
            "spark.cassandra.read.timeoutMS": "30000",
        }
        if self.username:
            options.update({"spark.cassandra.auth.username": self.username,
                            "spark.cassandra.auth.password": self.password or ""})
        return options

    @contextmanager
    def session(self, keyspace: str | None = None) -> Iterator[Session]:
        driver_log = logging.getLogger("cassandra")
        if driver_log.level == logging.NOTSET:
            driver_log.setLevel(logging.WARNING)  # the driver's INFO lines are per connection
        auth = PlainTextAuthProvider(self.username, self.password) if self.username else None
        profile = ExecutionProfile(load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy()), request_timeout=30,
                                   consistency_level=self.consistency_level())
        cluster = Cluster(
            [h.strip() for h in self.hosts.split(",")],
            port=self.port,
            auth_provider=auth,
            protocol_version=5,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
            connect_timeout=15,  # the driver's 5 s fails against a node busy with compactions or a loaded host
        )
        try:
            yield cluster.connect(keyspace)
        finally:
            cluster.shutdown()

    def ensure_schema(self) -> list[str]:
        """Create the keyspace and tables if missing (idempotent); returns the CQL it ran."""
        statements = [tables.create_keyspace(self.keyspace, self.replication), *tables.create_tables(self.keyspace)]
        with self.session() as session:
            for statement in statements:
                session.execute(statement, timeout=60)
        return statements


    def hour_users(self, session: Session, hour: datetime) -> list[str]:
        """The users with rows in one UTC hour, from its HOUR_BUCKETS partitions of the users_by_hour index."""
        select = session.prepare(
            f"SELECT name FROM {self.keyspace}.{tables.USERS_BY_HOUR_TABLE} WHERE hour = ? AND bucket = ?")
        select.fetch_size = 5000
        results = execute_concurrent_with_args(
            session, select, [(hour, bucket) for bucket in range(tables.HOUR_BUCKETS)], raise_on_first_error=True)
        return [row.name for result in results for row in result.result_or_exc]

    def read_hour(self, session: Session, hour: datetime, columns: str = "name, rating, duration, movie") -> list:
        """Every row of one UTC hour (the given columns of records), one partition per user of the index."""
        select = session.prepare(
            f"SELECT {columns} FROM {self.keyspace}.{tables.RECORDS_TABLE} WHERE name = ? AND hour = ?")
        select.fetch_size = 5000
        partitions = [(name, hour) for name in self.hour_users(session, hour)]
        results = execute_concurrent_with_args(session, select, partitions, concurrency=64, raise_on_first_error=True)
        return [row for result in results for row in result.result_or_exc]

    def read_hour_ratings(self, session: Session, hour: datetime) -> list[RatedRow]:
        """What the hour's aggregates need of each of its ratings."""
        return [RatedRow(r.name, r.rating, r.duration, r.movie) for r in self.read_hour(session, hour)]

    def count_hour(self, session: Session, hour: datetime) -> int:
        """Ratings stored for one UTC hour: the rows of its users' partitions of records."""
        return sum(self.count_records(session, [(name, hour) for name in self.hour_users(session, hour)]))

    def write_user_hours(self, session: Session, user_hours: list[UserHour], aggregated_at: datetime) -> None:
        """Upsert the aggregates into both query tables; re-running an hour overwrites it."""
        columns = ", ".join(tables.USER_HOUR_COLUMNS)
        marks = ", ".join("?" for _ in tables.USER_HOUR_COLUMNS)
        rows = [
            (u.name, u.hour, u.ratings, u.avg_rating, u.min_rating, u.max_rating, u.avg_duration, u.movies, aggregated_at)
            for u in user_hours
        ]
        for table in (tables.USER_HOURS_BY_USER_TABLE, tables.USER_HOURS_BY_HOUR_TABLE):
            insert = session.prepare(f"INSERT INTO {self.keyspace}.{table} ({columns}) VALUES ({marks})")
            execute_concurrent_with_args(session, insert, rows, concurrency=64, raise_on_first_error=True)

    def count_records(self, session: Session, partitions: list[tuple[str, datetime]]) -> list[int]:
        """Rows of each (user, hour) partition of reviews.records: the check's independent count."""
        select = session.prepare(f"SELECT COUNT(*) FROM {self.keyspace}.{tables.RECORDS_TABLE} WHERE name = ? AND hour = ?")
        results = execute_concurrent_with_args(session, select, partitions, concurrency=64, raise_on_first_error=True)
        return [result.result_or_exc.one()[0] for result in results]

    def read_user_hour(self, session: Session, name: str, hour: datetime) -> dict:
        """The specification's three answers for one (user, hour) partition of records:
        average rating, the movies rated (in time order) and their average duration; None when nothing was rated."""
        table = f"{tables.check_identifier(self.keyspace)}.{tables.RECORDS_TABLE}"
        # AVG over an int column is an int in CQL; the casts keep the fraction.
        averages = session.prepare(
            "SELECT AVG(CAST(rating AS double)) AS avg_rating, AVG(CAST(duration AS double)) AS avg_duration "
            f"FROM {table} WHERE name = ? AND hour = ?"
        )
        select_movies = session.prepare(f"SELECT movie FROM {table} WHERE name = ? AND hour = ?")
        movies = [row.movie for row in session.execute(select_movies, (name, hour))]
        avg = session.execute(averages, (name, hour)).one()
        return {
            "avg_rating": avg.avg_rating if movies else None,
            "avg_duration": avg.avg_duration if movies else None,
            "movies": movies,
        }

    def read_user_hours(self, session: Session, name: str, first: datetime, last: datetime) -> list[dict]:
        """One user's hourly aggregates for the hours first..last, both included, oldest first:
        a clustering range of one user_hourly_ratings partition. Timestamps come back naive, in UTC."""
        select = session.prepare(
            f"SELECT {', '.join(tables.USER_HOUR_COLUMNS)} "
            f"FROM {tables.check_identifier(self.keyspace)}.{tables.USER_HOURS_BY_USER_TABLE} "
            "WHERE name = ? AND hour >= ? AND hour <= ? ORDER BY hour ASC"
        )
        select.fetch_size = 1000
        return [row._asdict() for row in session.execute(select, (name, first, last))]

    def read_hour_users(self, session: Session, hour: datetime) -> list[dict]:
        """Every user's aggregate of one hour, by name: one hourly_user_ratings partition. Timestamps naive, in UTC."""
        select = session.prepare(
            f"SELECT {', '.join(tables.USER_HOUR_COLUMNS)} "
            f"FROM {tables.check_identifier(self.keyspace)}.{tables.USER_HOURS_BY_HOUR_TABLE} WHERE hour = ?"
        )
        select.fetch_size = 5000
        return [row._asdict() for row in session.execute(select, (hour,))]

