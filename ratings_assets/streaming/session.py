"""Spark configuration shared by the Dagster resource and the command line."""

from __future__ import annotations

import os
import re
from pathlib import Path

from pyspark.sql import SparkSession

from ratings_assets import settings


def spark_conf(
    master: str,
    driver_memory: str,
    cassandra_hosts: str,
    cassandra_port: int,
    app_name: str = "ratings-stream",
    cassandra_consistency: str = "LOCAL_QUORUM",
) -> dict[str, str]:
    """Everything the job needs from Spark: the connector jars, Cassandra's address, UTC.

    The jars are those the local launcher resolved (`make setup`); listing
    the folder, rather than resolving, keeps Maven out of definition loading.
    The same conf serves a Spark standalone cluster (`spark://…`): the driver
    serves the `spark.jars` files to the executors, which fetch them at start
    (tested by ratings_assets_tests/streaming/test_cluster_integration.py).
    """
    # An in-process SparkContext takes its workers' Python from this variable only
    # (spark.pyspark.python below is read by spark-submit alone). On a cluster that is
    # the executors' interpreter, on the worker hosts: an explicit RATINGS_SPARK_PYTHON
    # wins over an inherited PYSPARK_PYTHON, else the latter is kept.
    if os.environ.get(settings.SPARK_PYTHON.env):
        os.environ["PYSPARK_PYTHON"] = settings.SPARK_PYTHON.value()
    else:
        os.environ.setdefault("PYSPARK_PYTHON", settings.SPARK_PYTHON.value())
    jars = sorted((Path(settings.STATE_DIR.value()) / "jars" / "spark").glob("*.jar"))
    return {
        "spark.master": master,
        "spark.app.name": app_name,
        "spark.driver.memory": driver_memory,
        # Executors run the validator in Python: the same interpreter and packages as the driver.
        "spark.pyspark.python": settings.SPARK_PYTHON.value(),
        "spark.driver.host": settings.SPARK_DRIVER_HOST.value(),
        "spark.driver.bindAddress": settings.SPARK_DRIVER_HOST.value(),
        "spark.jars": ",".join(str(jar) for jar in jars),
        "spark.sql.extensions": "com.datastax.spark.connector.CassandraSparkExtensions",
        "spark.cassandra.connection.host": cassandra_hosts,
        "spark.cassandra.connection.port": str(cassandra_port),
        # Quorum reads after quorum writes see every acknowledged row, whatever the replication.
        "spark.cassandra.output.consistency.level": cassandra_consistency,
        "spark.cassandra.input.consistency.level": cassandra_consistency,
        # Hours are UTC hours, whatever the machine's zone.
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.maxRecordsPerBatch": "20000",
        # A micro-batch is cached for one batch only: compressing it cost a fifth of the read-and-validate
        # step (4.3 vs 5.3 s per 400k events; `ratings bench --ab`, docs/benchmarks/tuning.md).
        "spark.sql.inMemoryColumnarStorage.compressed": "false",
        "spark.ui.showConsoleProgress": "false",
        # Measured by `ratings bench`: more rows per batch statement and more writes in
        # flight halve Cassandra's CPU per row (18k -> 40k rows/s on 2 cores).
        "spark.cassandra.output.batch.size.rows": "64",
        "spark.cassandra.output.concurrent.writes": "16",
        "spark.sql.streaming.stopGracefullyOnShutdown": "true",
        # Locally one shuffle partition per core (2 or 4 made no difference to the stream: tuning.md);
        # on a cluster Spark's default, which AQE coalesces, so a big hour's aggregate spreads out.
        **({"spark.sql.shuffle.partitions": str(cores)} if (cores := local_cores(master)) else {}),
    }


def local_cores(master: str) -> int | None:
    """The cores of a local master (`local`, `local[4]`, `local[*]`, `local[4,2]`); None for a cluster."""
    match = re.fullmatch(r"local(?:\[(\d+|\*)(?:,\s*\d+)?\])?", master.strip())
    if not match:
        return None
    threads = match.group(1) or "1"
    return (os.cpu_count() or 1) if threads == "*" else int(threads)


def spark_conf_from_settings() -> dict[str, str]:
    return spark_conf(
        master=settings.SPARK_MASTER.value(),
        driver_memory=settings.SPARK_DRIVER_MEMORY.value(),
        cassandra_hosts=settings.CASSANDRA_HOSTS.value(),
        cassandra_port=int(settings.CASSANDRA_PORT.value()),
        cassandra_consistency=settings.CONSISTENCY.value(),
    )


def build_session(conf: dict[str, str]) -> SparkSession:
    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark
