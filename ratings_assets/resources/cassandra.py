"""Cassandra, wrapped for Dagster and the CLI (cassandra-driver)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy

from ratings_assets.core import tables


class CassandraResource(dg.ConfigurableResource):
    """A Cassandra cluster holding the pipeline's keyspace."""

    hosts: str
    port: int = 9042
    keyspace: str = "reviews"
    replication: str = "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    username: str | None = None
    password: str | None = None

    @contextmanager
    def session(self, keyspace: str | None = None) -> Iterator[Session]:
        auth = PlainTextAuthProvider(self.username, self.password) if self.username else None
        profile = ExecutionProfile(load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy()), request_timeout=30)
        cluster = Cluster(
            [h.strip() for h in self.hosts.split(",")],
            port=self.port,
            auth_provider=auth,
            protocol_version=5,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
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


logging.getLogger("cassandra").setLevel(logging.WARNING)
