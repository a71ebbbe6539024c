"""The Java driver's stuck schema refresh, reproduced on a Cassandra node of the test's own, and its remedy.

A schema refresh that starts while the session's control connection is down
fails, and every later refresh of that session waits forever
(scylladb/java-driver#841). Every connector write begins with one, so a
stream whose session got there would hang. connector_session.py replaces such
a session before the write.
"""

from __future__ import annotations

import contextlib
import random
import threading
import uuid

import pytest
from py4j.protocol import Py4JJavaError

from ratings_assets.core.tables import RECORDS_TABLE
from ratings_assets.localstack import stack
from ratings_assets.localstack.config import StackConfig
from ratings_assets.resources.cassandra import CassandraResource
from ratings_assets.streaming.connector_session import (
    CONNECTOR_KEEP_ALIVE_MS,
    KEEP_ALIVE,
    NEW_SESSIONS,
    SchemaRefresh,
    _connector,
    responsive_options,
)
from ratings_assets.streaming.job import CASSANDRA_FORMAT
from ratings_assets_tests.conftest import own_stack, wait_for
from ratings_assets_tests.streaming.harness import free_ports, quiet

pytestmark = pytest.mark.integration

# A healthy refresh of a lone local node takes well under a second; a stuck one never ends.
DEADLINE_S = 15.0
WRITE_TIMEOUT_S = 120.0


@pytest.fixture(scope="module")
def lone_node(tmp_path_factory, services) -> StackConfig:
    """One Cassandra node that this module may kill: its own folder, loopback address and ports."""
    host = f"127.43.{random.randrange(1, 250)}.1"
    cql, storage = free_ports(2, (host,))
    (jmx,) = free_ports(1, ("127.0.0.1",))
    with own_stack(tmp_path_factory, "lone_node", ["cassandra"], bind_host=host, cassandra_port=cql,
                   cassandra_storage_port=storage, cassandra_jmx_port=jmx, cassandra_heap="512m",
                   start_timeout_s=300) as config:
        yield config


def write_with_timeout(frame, options: dict[str, str]) -> None:
    """The connector's append, failing the test instead of hanging it."""
    outcome: list = []

    def save():
        try:
            frame.write.format(CASSANDRA_FORMAT).options(table=RECORDS_TABLE, **options).mode("append").save()
            outcome.append(None)
        except Exception as error:  # noqa: BLE001 - reported by the test
            outcome.append(error)

    thread = threading.Thread(target=save, daemon=True)
    thread.start()
    thread.join(WRITE_TIMEOUT_S)
    assert outcome, f"the write did not finish within {WRITE_TIMEOUT_S:.0f} s"
    assert outcome[0] is None, outcome[0]


def close_sessions(spark, options: dict[str, str], new_sessions: int) -> None:
    """Close the sessions the test made (`options` and up to `new_sessions` replacements): the connector keeps an
    unused session for its keep-alive (an hour), and its reconnection attempts to the node, gone after this
    module, would fill the log of the test run."""
    first = int(options.get(KEEP_ALIVE, CONNECTOR_KEEP_ALIVE_MS))
    for keep_alive in range(first, first + new_sessions + 1):
        with contextlib.suppress(Py4JJavaError):  # no node to open one with: nothing to close either
            _connector(spark, {**options, KEEP_ALIVE: str(keep_alive)}).openSession().forceCloseAsync()


def test_writes_move_from_a_session_stuck_in_its_schema_refresh_to_a_new_one(spark, lone_node):
    cassandra = CassandraResource(hosts=lone_node.bind_host, port=lone_node.cassandra_port,
                                  keyspace=f"it_{uuid.uuid4().hex[:10]}")
    cassandra.ensure_schema()
    options = {"keyspace": cassandra.keyspace, **cassandra.spark_options()}
    assert SchemaRefresh(spark, options).problem(DEADLINE_S) is None
    held = _connector(spark, options).openSession()  # as a write in flight holds the session
    try:
        stack.kill("cassandra", config=lone_node, progress=quiet)
        # The refresh that starts while the control connection is down fails at once...
        while_down = wait_for(lambda: SchemaRefresh(spark, options).problem(DEADLINE_S), 30, "a failed refresh")
        assert "Control channel not available" in while_down or "closed" in while_down.lower(), while_down
        stack.up(["cassandra"], config=lone_node, progress=quiet)
        # ...and leaves the session stuck: with its node back, the next refresh never ends.
        after = SchemaRefresh(spark, options).problem(DEADLINE_S)
        assert after is not None and "TimeoutException" in after, after

        moved = responsive_options(spark, options, deadline_s=DEADLINE_S)
        assert moved != options and moved[KEEP_ALIVE] != options.get(KEEP_ALIVE)
        assert SchemaRefresh(spark, moved).problem(DEADLINE_S) is None
        frame = spark.sql("SELECT 'Ada' AS name, TIMESTAMP'2026-12-02 07:00:00' AS hour, "
                          "TIMESTAMP'2026-12-02 07:10:00' AS time, 'e-1' AS event_id, 7 AS rating")
        write_with_timeout(frame, moved)
        with cassandra.session() as session:
            stored = session.execute(f"SELECT name, event_id FROM {cassandra.keyspace}.{RECORDS_TABLE}").all()
        assert [(r.name, r.event_id) for r in stored] == [("Ada", "e-1")]
    finally:
        held.close()
        close_sessions(spark, options, NEW_SESSIONS)
