"""Spark, wrapped for Dagster (dagster-pyspark's lazy session) and the CLI.

Only Spark's own settings live here. Where the query reads and writes (Kafka,
Cassandra) comes from those resources as read/write options, so one Spark
session can serve any topic and keyspace it is handed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import dagster as dg
from dagster_pyspark import LazyPySparkResource
from pydantic import PrivateAttr
from pyspark.sql import SparkSession

from ratings_assets import settings


def local_cores(master: str) -> int | None:
    """The cores of a local master (`local`, `local[4]`, `local[*]`, `local[4,2]`); None for a cluster."""
    match = re.fullmatch(r"local(?:\[(\d+|\*)(?:,\s*\d+)?\])?", master.strip())
    if not match:
        return None
    threads = match.group(1) or "1"
    return (os.cpu_count() or 1) if threads == "*" else int(threads)


# JVM options that keep class-data-sharing messages (an archive that does not fit, skipped) off the output.
QUIET_CLASS_SHARING = "-Xlog:cds=off -Xlog:cds+dynamic=off"

# Loggers held to a higher level than the session's. Spark 3.5 feeds a Python UDF (the validation's
# mapInArrow) from a thread of its own, and the Kafka source's consumer then warns, on every message it
# reads, that it is not running in a task's uninterruptible thread: a line per event on the terminal and in
# the Dagster run's logs, and the CPU to format and print it.
QUIET_LOGGERS = {"org.apache.spark.sql.kafka010.consumer.KafkaDataConsumer": "ERROR"}


def quiet_loggers(session: SparkSession) -> None:
    """Apply QUIET_LOGGERS to the driver JVM, where a local master also runs the tasks. (Executors of a
    cluster log with their own log4j2 configuration: `localstack/spark.py` sets it for the local cluster.)"""
    log4j = session.sparkContext._jvm.org.apache.logging.log4j
    for name, level in QUIET_LOGGERS.items():
        log4j.core.config.Configurator.setLevel(name, log4j.Level.toLevel(level))


class SparkResource(dg.ConfigurableResource):
    """A Spark master and the driver's settings; dagster-pyspark's lazy session starts Spark on first use.

    The connector jars are those the local launcher resolved (`make setup`).
    The same conf serves a Spark standalone cluster (`spark://…`): the driver
    serves the `spark.jars` files to the executors, which fetch them at start.
    """

    master: str = settings.SPARK_MASTER.default
    driver_host: str = settings.SPARK_DRIVER_HOST.default
    driver_memory: str = settings.SPARK_DRIVER_MEMORY.default
    # Executors run the validator in Python: the same interpreter and packages as the driver.
    python: str = settings.SPARK_PYTHON.default
    jars_dir: str  # the Spark connectors' jars: settings.spark_jars_dir()
    # The driver JVM's class archive (settings.spark_class_archive(), recorded by `make setup`), if any.
    class_archive: str = ""
    app_name: str = "ratings-stream"

    def java_options(self) -> str:
        """The driver JVM maps the class archive when there is one: it then loads Spark's classes from one
        file instead of parsing thousands, and starts faster (docs/benchmarks/tuning.md). An archive that no
        longer matches the JVM or the classpath is skipped by the JVM, without a warning on our output."""
        if not self.class_archive or not os.path.isfile(self.class_archive):
            return ""
        return f"-XX:SharedArchiveFile={self.class_archive} {QUIET_CLASS_SHARING}"

    def conf(self) -> dict[str, str]:
        jars = sorted(Path(self.jars_dir).glob("*.jar"))
        cores = local_cores(self.master)
        return {
            "spark.master": self.master,
            "spark.app.name": self.app_name,
            "spark.driver.memory": self.driver_memory,
            "spark.pyspark.python": self.python,
            "spark.driver.host": self.driver_host,
            "spark.driver.bindAddress": self.driver_host,
            "spark.jars": ",".join(str(jar) for jar in jars),
            "spark.sql.extensions": "com.datastax.spark.connector.CassandraSparkExtensions",
            "spark.log.level": "WARN",
            # Hours are UTC hours, whatever the machine's zone.
            "spark.sql.session.timeZone": "UTC",
            "spark.sql.execution.arrow.maxRecordsPerBatch": "20000",
            # A micro-batch is cached for one batch only: compressing it costs more than it saves
            # (`python -m bench --ab`, docs/benchmarks/tuning.md).
            "spark.sql.inMemoryColumnarStorage.compressed": "false",
            "spark.ui.showConsoleProgress": "false",
            # More rows per batch statement and more writes in flight halve Cassandra's CPU per row (tuning.md).
            "spark.cassandra.output.batch.size.rows": "64",
            "spark.cassandra.output.concurrent.writes": "16",
            # A null column (an unrated movie's mpaa) is left unset instead of written as a tombstone,
            # which every later read of the partition would have to skip.
            "spark.cassandra.output.ignoreNulls": "true",
            "spark.sql.streaming.stopGracefullyOnShutdown": "true",
            # Locally one shuffle partition per core; on a cluster Spark's default, which AQE coalesces,
            # so a big hour's aggregate spreads out.
            **({"spark.sql.shuffle.partitions": str(cores)} if cores else {}),
            **({"spark.driver.extraJavaOptions": options} if (options := self.java_options()) else {}),
        }

    _lazy: LazyPySparkResource | None = PrivateAttr(default=None)

    @property
    def spark_session(self) -> SparkSession:
        """The session: built on first use, in a run, in `ratings stream`, in tests and in the benchmark alike."""
        if self._lazy is None:
            # An in-process SparkContext takes its Python workers' interpreter from this variable only
            # (spark.pyspark.python is read by spark-submit alone).
            os.environ["PYSPARK_PYTHON"] = self.python
            self._lazy = LazyPySparkResource(spark_config=self.conf())
            quiet_loggers(self._lazy.spark_session)
        return self._lazy.spark_session

    def stop(self) -> None:
        """Stop the session if one was started (outside Dagster: `ratings stream`, the benchmark)."""
        if self._lazy is not None:
            self._lazy.spark_session.stop()
            self._lazy = None
