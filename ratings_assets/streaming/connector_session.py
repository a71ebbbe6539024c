"""The Cassandra connector's session on the Spark driver, checked before a batch writes.

Every write of the connector begins with a schema lookup through its cached
session, which calls the Java driver's `Session.refreshSchema()` and waits
without a time limit. In the driver (4.18) a schema refresh that starts while
the session's control connection is down (its node just died or restarted)
fails without freeing its slot, and every later refresh of that session then
waits forever (scylladb/java-driver#841; reproduced in
test_connector_session_integration.py): the stream would hang for good. So each
batch, and each retried write, first refreshes the session's schema with a
deadline; a session that fails or misses it is closed, and the write opens a
new one.
"""

from __future__ import annotations

import logging

from py4j.protocol import Py4JJavaError
from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

# Above the driver's bounds for a healthy refresh: its wait for schema agreement (10 s, reached while a node
# restarts) and its schema queries (2 s each).
REFRESH_DEADLINE_S = 30.0


def _connector(spark: SparkSession, options: dict[str, str]):
    """The connector of a write with these options. The connector keys its cached sessions by these settings,
    so this reaches the session the write will use."""
    conf = spark.sparkContext._jsc.sc().getConf()  # a copy of the context's conf
    for key, value in options.items():
        if key.startswith("spark.cassandra."):
            conf.set(key, value)
    return spark.sparkContext._jvm.com.datastax.spark.connector.cql.CassandraConnector.apply(conf)


def _describe(error: Py4JJavaError) -> str:
    java = error.java_exception
    cause = java.getCause() or java
    return f"{cause.getClass().getName()}: {cause.getMessage()}"


def close_idle_sessions(spark: SparkSession) -> None:
    """Close the connector's sessions that no write holds now; the next write opens a new one."""
    spark.sparkContext._jvm.com.datastax.spark.connector.cql.CassandraConnector.evictCache()


class SchemaRefresh:
    """A schema refresh of the session a write with `options` will use: started now, so it runs while the
    batch is read, and judged by `replace_if_stuck` just before the write."""

    def __init__(self, spark: SparkSession, options: dict[str, str]):
        self._spark = spark
        self._session = self._future = self._problem = None
        try:
            self._session = _connector(spark, options).openSession()
            self._future = self._session.refreshSchemaAsync().toCompletableFuture()
        except Py4JJavaError as error:  # no node answers: the write will say so, and be retried
            self._problem = _describe(error)

    def problem(self, deadline_s: float = REFRESH_DEADLINE_S) -> str | None:
        """None when the refresh succeeded within the deadline; otherwise what went wrong."""
        if self._future is None:
            return self._problem
        unit = self._spark.sparkContext._jvm.java.util.concurrent.TimeUnit.MILLISECONDS
        try:
            self._future.get(int(deadline_s * 1000), unit)
            return None
        except Py4JJavaError as error:
            return _describe(error)
        finally:
            self.release()

    def release(self) -> None:
        """Give the session back (the write takes its own); safe to call again."""
        if self._session is not None:
            self._session.close()
            self._session = self._future = None

    def replace_if_stuck(self, deadline_s: float = REFRESH_DEADLINE_S) -> bool:
        """Close the session when its refresh failed or hangs, so the write opens a new one; True when closed."""
        problem = self.problem(deadline_s)
        if problem is None:
            return False
        log.warning("the Cassandra connector's session could not refresh the schema (%s): closing it, the write "
                    "opens a new one", problem)
        close_idle_sessions(self._spark)
        return True


def ensure_responsive_session(spark: SparkSession, options: dict[str, str],
                              deadline_s: float = REFRESH_DEADLINE_S) -> bool:
    """Refresh the write's session now and replace it when it is stuck; True when it was replaced."""
    return SchemaRefresh(spark, options).replace_if_stuck(deadline_s)
