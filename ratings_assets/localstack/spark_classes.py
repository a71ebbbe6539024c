"""The Spark driver's class archive: recorded once by `make setup`, mapped by every later Spark start.

A fresh Spark driver spends most of its start-up loading and verifying the
classes of Spark, its SQL engine and the connectors, and it does so again in
every process: each `ratings stream`, each restart by the supervisor, each
stream run of Dagster. Java's class data sharing (JDK 17's dynamic archive)
records the classes a JVM loaded into one file at its exit; a later JVM with
the same classpath maps that file instead. So this runs a short Spark session
that touches what the stream touches (the SQL engine, a shuffle, a cache, an
Arrow UDF, a streaming query with a checkpoint and a foreachBatch function,
the Kafka source, the Cassandra writer) with recording on, and
`SparkResource` maps the archive when it is there (resources/spark.py).

No service needs to run: the Kafka source is only built, and the Cassandra
write goes to an address where nothing listens and fails at once, after its
classes are loaded.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import time
from pathlib import Path

from ratings_assets import settings
from ratings_assets.localstack.errors import StackError
from ratings_assets.resources import spark_resource
from ratings_assets.resources.spark import QUIET_CLASS_SHARING, SparkResource

NOWHERE = "127.0.0.1"
WAIT_FOR_ARCHIVE_S = 300
WAIT_FOR_BATCH_S = 60


class RecordingSpark(SparkResource):
    """The project's Spark, with the driver JVM writing its class archive at exit instead of mapping one."""

    def java_options(self) -> str:
        return f"-XX:ArchiveClassesAtExit={self.class_archive} {QUIET_CLASS_SHARING}"


def _closed_port() -> int:
    """A port nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind((NOWHERE, 0))
        return probe.getsockname()[1]


def _touch_what_the_stream_touches(spark, scratch: Path) -> None:
    from py4j.protocol import Py4JJavaError
    from pyspark.sql import functions as F

    frame = spark.range(0, 1000, numPartitions=2).withColumn("hour", F.col("id") % 7).persist()
    frame.groupBy("hour").count().collect()

    def same(batches):
        yield from batches

    frame.mapInArrow(same, frame.schema).where(F.col("id").isNull()).count()
    frame.unpersist()
    closed_port = _closed_port()
    (spark.readStream.format("kafka").option("kafka.bootstrap.servers", f"{NOWHERE}:{closed_port}")
     .option("subscribe", "nothing").load())
    # A streaming query with a checkpoint and a foreachBatch function, as the stream runs; stopped after a batch.
    query = (spark.readStream.format("rate").option("rowsPerSecond", 10).load().writeStream
             .foreachBatch(lambda batch, _: batch.count()).option("checkpointLocation", str(scratch / "checkpoint"))
             .trigger(processingTime="1 second").start())
    deadline = time.monotonic() + WAIT_FOR_BATCH_S
    while query.lastProgress is None and time.monotonic() < deadline:
        query.awaitTermination(0.5)
    query.stop()
    try:
        (frame.limit(1).write.format("org.apache.spark.sql.cassandra")
         .options(keyspace="nothing", table="nothing", **{"spark.cassandra.connection.host": NOWHERE,
                                                         "spark.cassandra.connection.port": str(closed_port)})
         .mode("append").save())
    except Py4JJavaError:
        pass  # nothing listens there: the writer's classes are loaded, which is all this is for


def record(archive: Path) -> Path:
    """Record the archive at `archive` (written beside it, then moved in place, so a JVM never maps half a file)."""
    partial = archive.with_name(archive.name + ".partial")
    partial.unlink(missing_ok=True)
    resource = RecordingSpark(**{**spark_resource().model_dump(), "class_archive": str(partial)})
    spark = resource.spark_session
    logging.getLogger("py4j").setLevel(logging.ERROR)
    gateway = spark.sparkContext._gateway
    with tempfile.TemporaryDirectory() as scratch:
        _touch_what_the_stream_touches(spark, Path(scratch))
    resource.stop()
    # The JVM writes the archive as it exits, which it does when its stdin closes (Spark's gateway server).
    gateway.shutdown()
    gateway.proc.stdin.close()
    gateway.proc.wait(WAIT_FOR_ARCHIVE_S)
    if not partial.is_file():
        raise StackError(f"the Spark driver wrote no class archive at {partial} (exit {gateway.proc.returncode})")
    os.replace(partial, archive)
    return archive


def record_or_warn(archive: Path | None = None) -> str:
    """What `make setup` runs: the archive recorded, or why not (Spark works without it, only starts slower)."""
    archive = archive or Path(settings.spark_class_archive())
    try:
        record(archive)
    except Exception as error:  # noqa: BLE001 - whatever went wrong, the project still works without it
        return f"warning: no Spark class archive ({error}); Spark will start without one, only slower"
    return f"spark class archive: {archive} ({archive.stat().st_size / 2**20:.0f} MiB)"
