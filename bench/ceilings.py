"""Ceilings: how fast each end of the pipeline goes on its own, to judge the pipeline against.

(a) the sink: the same enriched rows, built by a Spark batch job, written to
    `records` alone (the single-table write) through BatchWriter's own write call;
(b) the source: the topic read by a Spark batch job through the job's
    validation and catalog lookup (mapInArrow), counted;
(c) the broker: Kafka's ProducerPerformance tool, acks=all.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime

from pyspark import Broadcast
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from bench.env import Stream
from ratings_assets.core.tables import HOUR_BUCKETS
from ratings_assets.resources.kafka import KafkaResource
from ratings_assets.streaming.job import SOURCE_CONSUMER_OPTIONS, BatchWriter
from ratings_assets.streaming.validation import ENRICHED_SCHEMA, Enrich, ValidateAndEnrich


@dataclass(frozen=True)
class Timed:
    rows: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def enriched_rows(spark: SparkSession, catalog: Broadcast, users: list[str], movie_ids: list[int],
                  hour: datetime, count: int, partitions: int, salt: int) -> DataFrame:
    """`count` valid, enriched rows inside `hour`, built in Spark and cached (so the write alone is timed).

    Users and movies are drawn uniformly like the generator's; the columns
    go through the job's own catalog lookup (`Enrich`), as a micro-batch's would, and the
    frame has as many partitions as the topic (one Spark task per partition).
    """
    users_df = spark.createDataFrame(list(enumerate(users)), "u int, name string")
    movies_df = spark.createDataFrame(list(enumerate(movie_ids)), "m int, movie_id int")
    draw = lambda k, n: F.pmod(F.xxhash64(F.col("id"), F.lit(salt * 10 + k)), F.lit(n))  # noqa: E731
    hour_ms = int(hour.timestamp() * 1000)
    validated = (
        spark.range(count, numPartitions=partitions)
        .withColumn("u", draw(1, len(users)).cast("int"))
        .withColumn("m", draw(2, len(movie_ids)).cast("int"))
        .join(F.broadcast(users_df), "u")
        .join(F.broadcast(movies_df), "m")
        .select(
            F.expr("uuid()").alias("event_id"),
            "name",
            "movie_id",
            F.lit(None).cast("string").alias("event_movie"),
            F.timestamp_millis(F.lit(hour_ms) + draw(3, 3_600_000)).alias("time"),
            F.timestamp_millis(F.lit(hour_ms)).alias("hour"),
            F.pmod(F.crc32(F.col("name").cast("binary")), F.lit(HOUR_BUCKETS)).cast("int").alias("bucket"),
            (draw(4, 10) + 1).cast("int").alias("rating"),
            F.lit(None).cast("string").alias("error"),
            F.lit(None).cast("string").alias("error_detail"),
            F.lit(None).cast("binary").alias("value"),
            F.spark_partition_id().alias("partition"),
            F.col("id").alias("offset"),
        )
    )
    enriched = validated.mapInArrow(Enrich(catalog), ENRICHED_SCHEMA)
    valid = enriched.where(F.col("error").isNull()).withColumnRenamed("title", "movie")
    valid = valid.persist()
    made = valid.count()
    if made != count:
        raise RuntimeError(f"built {made:,} enriched rows, expected {count:,}")
    return valid


def sink_ceiling(spark: SparkSession, stream: Stream, catalog: Broadcast, users: list[str],
                 movie_ids: list[int], hour: datetime, count: int, partitions: int, salt: int) -> Timed:
    """Ceiling (a): rows/s of the write to `records` alone (building the rows is not timed)."""
    frame = enriched_rows(spark, catalog, users, movie_ids, hour, count, partitions, salt)
    try:
        started = time.monotonic()
        BatchWriter(stream.kafka, stream.cassandra, catalog).write_records(frame)
        return Timed(count, time.monotonic() - started)
    finally:
        frame.unpersist()


def write_hour(spark: SparkSession, stream: Stream, catalog: Broadcast, users: list[str],
               movie_ids: list[int], hour: datetime, count: int, partitions: int, salt: int) -> None:
    """`count` rows in `hour`, stored as a micro-batch stores them (records and the hour index): an hour to aggregate."""
    frame = enriched_rows(spark, catalog, users, movie_ids, hour, count, partitions, salt)
    try:
        writer = BatchWriter(stream.kafka, stream.cassandra, catalog)
        writer.write_records(frame)
        writer.write_index(frame)  # after the rows it points to, as a micro-batch writes them
    finally:
        frame.unpersist()


def source_ceiling(spark: SparkSession, kafka: KafkaResource, catalog: Broadcast) -> Timed:
    """Ceiling (b): rows/s of a batch read of the whole of `kafka.topic` through the job's validation and lookup."""
    started = time.monotonic()
    raw = (
        spark.read.format("kafka")
        .options(**kafka.spark_source_options(), **SOURCE_CONSUMER_OPTIONS)
        .option("subscribe", kafka.topic)
        .option("startingOffsets", "earliest")
        .option("endingOffsets", "latest")
        .load()
    )
    enriched = raw.select("value", "partition", "offset").mapInArrow(ValidateAndEnrich(catalog), ENRICHED_SCHEMA)
    valid = enriched.where(F.col("error").isNull()).count()
    return Timed(valid, time.monotonic() - started)


_SUMMARY = re.compile(
    r"(?P<records>\d+) records sent, (?P<rate>[\d.]+) records/sec \((?P<mb>[\d.]+) MB/sec\), "
    r"(?P<avg>[\d.]+) ms avg latency, (?P<max>[\d.]+) ms max latency"
    r"(?:, (?P<p50>\d+) ms 50th, (?P<p95>\d+) ms 95th, (?P<p99>\d+) ms 99th)?"
)


def parse_producer_performance(output: str) -> dict:
    """The final summary line of ProducerPerformance (the periodic lines lack the percentiles)."""
    matches = list(_SUMMARY.finditer(output))
    if not matches:
        raise ValueError(f"no ProducerPerformance summary in its output:\n{output[-2000:]}")
    last = matches[-1]
    figures = {
        "records": int(last["records"]),
        "records_per_s": float(last["rate"]),
        "mb_per_s": float(last["mb"]),
        "avg_latency_ms": float(last["avg"]),
        "max_latency_ms": float(last["max"]),
    }
    for key in ("p50", "p95", "p99"):
        if last[key] is not None:
            figures[f"{key}_ms"] = float(last[key])
    return figures


def producer_performance_command(java: str, jars_dir: str, topic: str, count: int, bootstrap: str,
                                 record_size: int = 160, extra_props: dict[str, str] | None = None) -> list[str]:
    props = [f"bootstrap.servers={bootstrap}", "acks=all", *(f"{k}={v}" for k, v in (extra_props or {}).items())]
    return [java, "-Xmx512m", "-cp", f"{jars_dir}/*", "org.apache.kafka.tools.ProducerPerformance",
            "--topic", topic, "--num-records", str(count), "--record-size", str(record_size),
            "--throughput", "-1", "--producer-props", *props]


def broker_ceiling(command: list[str], timeout_s: float = 600) -> dict:
    """Ceiling (c): Kafka's own producer benchmark; records/s as it reports them."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0:
        raise RuntimeError(f"ProducerPerformance exited with {done.returncode}:\n{done.stderr[-2000:]}")
    return parse_producer_performance(done.stdout)
