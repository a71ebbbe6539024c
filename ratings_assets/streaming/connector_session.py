"""The Cassandra connector's session on the Spark driver, checked before a batch writes.

Every write of the connector begins with a schema lookup through its cached
session, which calls the Java driver's `Session.refreshSchema()` and waits
without a time limit. In the driver (4.18) a schema refresh that starts while
the session's control connection is down (its node just died or restarted)
fails without freeing its slot, and every later refresh of that session then
waits forever (scylladb/java-driver#841; reproduced in
test_connector_session_integration.py): the stream would hang for good.

So each batch, and each retried write, first refreshes the session's schema
with a deadline. A session that fails or misses it is closed, and the writes
move to a session of their own: the connector keys its cached sessions by its
settings, so options that differ (by one millisecond of keep-alive) reach a
new session even when something still holds the stuck one.
"""

from __future__ import annotations

import logging

from py4j.protocol import Py4JJavaError
from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

# Above the driver's bounds for a healthy refresh: its wait for schema agreement (10 s, reached while a node
# restarts) and its schema queries (2 s each).
REFRESH_DEADLINE_S = 30.0
# New sessions tried in a row when each is stuck at once (made while a node was going down).
NEW_SESSIONS = 3
KEEP_ALIVE = "spark.cassandra.connection.keepAliveMS"
CONNECTOR_KEEP_ALIVE_MS = 3_600_000  # the connector's default


def _connector(spark: SparkSession, options: dict[str, str]):
    """The connector of a write with these options, which reaches the session that write will use."""
    conf = spark.sparkContext._jsc.sc().getConf()  # a copy of the context's conf
    for key, value in options.items():
        if key.startswith("spark.cassandra."):
            conf.set(key, value)
    return spark.sparkContext._jvm.com.datastax.spark.connector.cql.CassandraConnector.apply(conf)


def _describe(error: Py4JJavaError) -> str:
    java = error.java_exception
    cause = java.getCause() or java
    return f"{cause.getClass().getName()}: {cause.getMessage()}"


def with_new_session(options: dict[str, str]) -> dict[str, str]:
    """The same write options, keyed to a session of their own."""
    keep_alive = int(options.get(KEEP_ALIVE, CONNECTOR_KEEP_ALIVE_MS))
    return {**options, KEEP_ALIVE: str(keep_alive + 1)}


class SchemaRefresh:
    """A schema refresh of the session a write with `options` will use: started now, judged by `stuck`
    just before the write."""

    def __init__(self, spark: SparkSession, options: dict[str, str]):
        self._spark = spark
        self._session = self._future = None
        try:
            self._session = _connector(spark, options).openSession()
            self._future = self._session.refreshSchemaAsync().toCompletableFuture()
        except Py4JJavaError as error:  # no node answers: the write will fail, and be retried
            log.info("no Cassandra session to check: %s", _describe(error))

    def problem(self, deadline_s: float = REFRESH_DEADLINE_S) -> str | None:
        """What went wrong with the refresh (failed, or still running at the deadline); None if it succeeded
        or no session could be opened."""
        if self._future is None:
            return None
        unit = self._spark.sparkContext._jvm.java.util.concurrent.TimeUnit.MILLISECONDS
        try:
            self._future.get(int(deadline_s * 1000), unit)
            return None
        except Py4JJavaError as error:
            return _describe(error)

    def stuck(self, deadline_s: float = REFRESH_DEADLINE_S) -> bool:
        """True when the session failed its refresh: it is then closed (which also frees any thread waiting on
        its refresh). The session is given back either way."""
        try:
            problem = self.problem(deadline_s)
            if problem is not None:
                log.warning("the Cassandra connector's session could not refresh the schema (%s): it is closed and "
                            "writes move to a new session", problem)
                self._session.forceCloseAsync()  # the driver's own close; the proxy's close() only gives it back
            return problem is not None
        finally:
            self.release()

    def release(self) -> None:
        """Give the session back (the write takes its own); safe to call again."""
        if self._session is not None:
            self._session.close()
            self._session = self._future = None


def responsive_options(spark: SparkSession, options: dict[str, str], started: SchemaRefresh | None = None,
                       deadline_s: float = REFRESH_DEADLINE_S) -> dict[str, str]:
    """The options to write with: `options` when their session refreshes its schema (`started`, or a refresh
    started now); otherwise options keyed to a new session that does. Fails, rather than let the write hang,
    when NEW_SESSIONS new sessions in a row are stuck too."""
    check = started or SchemaRefresh(spark, options)
    for _ in range(NEW_SESSIONS):
        if not check.stuck(deadline_s):
            return options
        options = with_new_session(options)
        check = SchemaRefresh(spark, options)
    if check.stuck(deadline_s):
        raise RuntimeError(f"{NEW_SESSIONS + 1} Cassandra sessions in a row could not refresh the schema; "
                           "the batch fails instead of waiting on them")
    return options
