"""Spark configuration shared by the Dagster resource and the command line."""

from __future__ import annotations

from pyspark.sql import SparkSession

from ratings_assets import settings
import os
from pathlib import Path


def spark_conf(
    master: str,
    driver_memory: str,
    cassandra_hosts: str,
    cassandra_port: int,
    app_name: str = "ratings-stream",
) -> dict[str, str]:
    """Everything the job needs from Spark: the connector jars, Cassandra's address, UTC.

    The jars are those the local launcher resolved (`make setup`); listing
    the folder, rather than resolving, keeps Maven out of definition loading.
    """
    # An in-process SparkContext takes its workers' Python from this variable only.
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
        # Hours are UTC hours, whatever the machine's zone.
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": "4",
        "spark.sql.execution.arrow.maxRecordsPerBatch": "20000",
        "spark.ui.showConsoleProgress": "false",
        # Measured by `ratings bench`: more rows per batch statement and more writes in
        # flight halve Cassandra's CPU per row (18k -> 40k rows/s on 2 cores).
        "spark.cassandra.output.batch.size.rows": "64",
        "spark.cassandra.output.concurrent.writes": "16",
        "spark.sql.streaming.stopGracefullyOnShutdown": "true",
    }


def spark_conf_from_settings() -> dict[str, str]:
    return spark_conf(
        master=settings.SPARK_MASTER.value(),
        driver_memory=settings.SPARK_DRIVER_MEMORY.value(),
        cassandra_hosts=settings.CASSANDRA_HOSTS.value(),
        cassandra_port=int(settings.CASSANDRA_PORT.value()),
    )


def build_session(conf: dict[str, str]) -> SparkSession:
    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark
