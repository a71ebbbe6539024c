"""The Structured Streaming query: Kafka topic -> validate -> enrich -> Cassandra.

The source validates each message with the project's parser and looks its
movie up by `movie_id` in the broadcast catalog, in one Arrow pass (no join).
Each micro-batch (foreachBatch) upserts the valid events into `records` (each
event written in full once) and each user active in an hour into the
`users_by_hour` index. Rejected messages go, unchanged, to
the dead-letter topic with their reason and Kafka coordinates as headers, in
one transaction per batch (`dead_letters.py`). Writes are idempotent (the
primary key holds `event_id`) and offsets are checkpointed, so a restarted
query replays at most one batch and stores each event, and each dead letter,
once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timezone
from pathlib import Path

from pyspark import Broadcast
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from ratings_assets.core.enrichment import read_catalog_table
from ratings_assets.core.hours import partition_key
from ratings_assets.core.tables import RECORDS_COLUMNS, RECORDS_TABLE, USERS_BY_HOUR_COLUMNS, USERS_BY_HOUR_TABLE
from ratings_assets.resources import ensure_pipeline_storage
from ratings_assets.resources.cassandra import CassandraResource
from ratings_assets.resources.kafka import KafkaResource
from ratings_assets.resources.spark import SparkResource
from ratings_assets.streaming.checkpoint_lock import checkpoint_lock
from ratings_assets.streaming.config import StreamConfig
from ratings_assets.streaming.connector_session import SchemaRefresh, responsive_options
from ratings_assets.streaming.dead_letters import DeadLetter, DeadLetterWriter
from ratings_assets.streaming.hour_index import INDEX_SCHEMA, distinct_rows
from ratings_assets.streaming.progress import progress_summary
from ratings_assets.streaming.retry import with_retries, write_attempts
from ratings_assets.streaming.validation import ENRICHED_SCHEMA, ValidateAndEnrich

log = logging.getLogger(__name__)

CASSANDRA_FORMAT = "org.apache.spark.sql.cassandra"
# Consumer settings of the source (Spark hands `kafka.*` options to its tasks' consumers). A task reads a
# known offset range, so a broker holding an empty fetch for the default wait only delays the batch's end, and
# larger polls save round trips (what each bought: docs/benchmarks/tuning.md).
SOURCE_CONSUMER_OPTIONS = {"kafka.fetch.max.wait.ms": "10", "kafka.max.poll.records": "10000"}
# When a broker dies. The driver lists the topic's offsets with Kafka's AdminClient, which (kafka-clients 3.4)
# keeps asking the dead leader until `default.api.timeout.ms` (a minute by default) before Spark asks again
# with fresh metadata: the query would wait that long after every election. Right after an election the new
# leader answers OffsetNotAvailable until its high watermark catches up; Spark's default of 3 quick tries
# failed the query on a loaded cluster, so it asks for longer (a query whose Kafka is gone still fails, later).
SOURCE_FAILOVER_OPTIONS = {"kafka.request.timeout.ms": "10000", "kafka.default.api.timeout.ms": "15000",
                           "fetchOffset.retryIntervalMs": "500", "fetchOffset.numRetries": "30"}


def broadcast_catalog(spark: SparkSession, catalog_path: str) -> Broadcast:
    """The catalog as an Arrow table, sent to each worker once for the query's whole life."""
    return spark.sparkContext.broadcast(read_catalog_table(Path(catalog_path)))


# Valid rows up to which a micro-batch is written by one task per table instead of one per Kafka partition.
SMALL_BATCH_ROWS = 10_000

# Up to this many rejects a batch are brought to the driver in one Spark job; more come a partition at a
# time (one job each), so a batch of garbage cannot exhaust the driver's memory.
REJECTS_AT_ONCE = 50_000


def rejected_messages(enriched: DataFrame, count: int) -> list[DeadLetter]:
    """The batch's `count` rejects, brought to the driver for the transactional write."""
    rejected = enriched.where(F.col("error").isNotNull()).select("partition", "offset", "value", "error", "error_detail")
    rows = rejected.collect() if count <= REJECTS_AT_ONCE else rejected.toLocalIterator()
    return [DeadLetter(row.partition, row.offset, None if row.value is None else bytes(row.value), row.error,
                       row.error_detail)
            for row in rows]


@dataclass(frozen=True)
class BatchSummary:
    batch_id: int
    stored: int
    rejected: dict[str, int]  # reason -> count
    hours: dict[str, int]  # partition key of each hour the batch wrote to -> rows stored in it
    step_seconds: dict[str, float] = field(default_factory=dict)  # where the batch's time went

    @classmethod
    def from_counts(cls, batch_id: int, rows) -> BatchSummary:
        """From (error, hour, count) rows of one batch."""
        rejected: dict[str, int] = {}
        hours: dict[str, int] = {}
        for error, hour, count in rows:
            if error is None:
                key = partition_key(hour.replace(tzinfo=timezone.utc))
                hours[key] = hours.get(key, 0) + count
            else:
                rejected[error] = rejected.get(error, 0) + count
        return cls(batch_id, sum(hours.values()), rejected, dict(sorted(hours.items())))


class StepTimer:
    """Wall seconds of each named step (of a micro-batch, or of the start-up), in order."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._last = time.monotonic()

    @property
    def total(self) -> float:
        return round(sum(self.seconds.values()), 3)

    def done(self, step: str) -> None:
        now = time.monotonic()
        self.seconds[step] = round(now - self._last, 3)
        self._last = now


class BatchWriter:
    """The foreachBatch function: one micro-batch to Cassandra and the dead-letter topic."""

    def __init__(self, kafka: KafkaResource, cassandra: CassandraResource, catalog: Broadcast | None = None):
        self.catalog = catalog  # the query's broadcast catalog, released with the writer
        self.dead_letters = DeadLetterWriter(
            {**kafka.librdkafka_options(), "client.id": "ratings-dead-letters"}, kafka.topic, kafka.dead_letter_topic)
        # Moved to a new connector session when the current one gets stuck (connector_session.py).
        self.table_options = {"keyspace": cassandra.keyspace, **cassandra.spark_options()}
        self.write_attempts = write_attempts(cassandra.hosts)
        # What batches stored since the last drain(); foreachBatch runs on another thread.
        self._pending: list[BatchSummary] = []
        self._lock = threading.Lock()

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        timer = StepTimer()
        session_check = SchemaRefresh(batch.sparkSession, self.table_options)
        enriched = batch.persist()
        try:
            # One pass reads, validates, caches the batch and writes its rows (Spark caches a whole partition
            # before the write sees it). The counts, the index and the rejects then read the cache.
            self.table_options = responsive_options(batch.sparkSession, self.table_options, session_check)
            valid = enriched.where(F.col("error").isNull()).withColumnRenamed("title", "movie")
            self.write_records(valid)
            timer.done(RECORDS_TABLE)
            summary = BatchSummary.from_counts(batch_id, enriched.groupBy("error", "hour").count().collect())
            timer.done("counts")
            if summary.stored <= SMALL_BATCH_ROWS:
                valid = valid.coalesce(1)  # a small batch's writes cost per task, not per row: one task
            self.write_index(valid)
            timer.done(USERS_BY_HOUR_TABLE)
            # Dead letters go last, after every row of the batch is stored.
            if summary.rejected:
                self.dead_letters.write(rejected_messages(enriched, sum(summary.rejected.values())))
            timer.done("dead_letters")
        finally:
            session_check.release()
            enriched.unpersist()
        summary = replace(summary, step_seconds=timer.seconds)
        log.info("batch %s: %s rows stored, rejected %s, seconds %s", batch_id, summary.stored, summary.rejected,
                 summary.step_seconds)
        with self._lock:
            self._pending.append(summary)

    def drain(self) -> dict:
        """Rows stored, rejections by reason, hours touched and step seconds of the batches since the last call."""
        with self._lock:
            pending, self._pending = self._pending, []
        rejected: dict[str, int] = {}
        hours: dict[str, int] = {}
        step_seconds: dict[str, float] = {}
        for summary in pending:
            for reason, count in summary.rejected.items():
                rejected[reason] = rejected.get(reason, 0) + count
            for hour, count in summary.hours.items():
                hours[hour] = hours.get(hour, 0) + count
            for step, seconds in summary.step_seconds.items():
                step_seconds[step] = round(step_seconds.get(step, 0.0) + seconds, 3)
        return {
            "stored": sum(s.stored for s in pending),
            "rejected": rejected,
            "hours": dict(sorted(hours.items())),
            "step_seconds": step_seconds,
        }

    def close(self) -> None:
        """After the query stopped: the dead-letter producer, and the catalog broadcast for this query."""
        self.dead_letters.close()
        if self.catalog is not None:
            self.catalog.destroy()

    def write_records(self, valid: DataFrame) -> None:
        """Valid, enriched rows to `records`: each event written in full once."""
        self._save(valid.select(*RECORDS_COLUMNS), RECORDS_TABLE)

    def write_index(self, valid: DataFrame) -> None:
        """The users of each hour in `valid`, whose rows are stored already: one write per user, hour and batch,
        each task dropping its own repeats (hour_index.py)."""
        self._save(valid.select(*USERS_BY_HOUR_COLUMNS).mapInArrow(distinct_rows, INDEX_SCHEMA), USERS_BY_HOUR_TABLE)

    def _save(self, frame: DataFrame, table: str) -> None:
        """Append (upsert) the rows; written again if a Cassandra node went away meanwhile (retry.py).
        Its Spark jobs are named after the table (Spark UI, the benchmark)."""
        spark = frame.sparkSession
        context = spark.sparkContext
        description = context.getLocalProperty("spark.job.description")
        context.setJobDescription(f"save {table}")

        def save() -> None:
            frame.write.format(CASSANDRA_FORMAT).options(table=table, **self.table_options).mode("append").save()

        def check_session() -> None:
            self.table_options = responsive_options(spark, self.table_options)

        try:
            with_retries(save, f"writing {table}", attempts=self.write_attempts, before_retry=check_session)
        finally:
            context.setJobDescription(description)


def start_query(spark: SparkSession, kafka: KafkaResource, cassandra: CassandraResource,
                config: StreamConfig, timer: StepTimer | None = None) -> tuple[StreamingQuery, BatchWriter]:
    """Start the query from the resources' topic to their keyspace; it resumes from the checkpoint when one exists."""
    timer = timer or StepTimer()
    writer = _writer(spark, kafka, cassandra, config, timer)
    query = _start(spark, kafka, config, writer, phases(config)[-1])
    timer.done("query_start")
    return query, writer


def _writer(spark: SparkSession, kafka: KafkaResource, cassandra: CassandraResource, config: StreamConfig,
            timer: StepTimer) -> BatchWriter:
    """The foreachBatch writer, with the catalog broadcast for the run's queries."""
    writer = BatchWriter(kafka, cassandra, broadcast_catalog(spark, config.catalog_path))
    timer.done("catalog")
    return writer


@dataclass(frozen=True)
class QueryPhase:
    """One of the queries a run starts on its checkpoint: its trigger, its cap on a batch, and whether it stops
    after its first trigger."""

    trigger: dict
    max_offsets_per_trigger: int
    one_trigger: bool = False


# The trigger of a one-trigger phase: its first trigger fires at once, and the query is stopped before a second.
ONE_TRIGGER = {"processingTime": "1 day"}


def phases(config: StreamConfig) -> list[QueryPhase]:
    """The queries a run starts, one after the other, on the same checkpoint.

    A small first batch: a fresh Spark runs its first batch much slower than
    the next ones, whatever its size, so the first rows of a backlog come from
    a batch of `first_batch_max_offsets` rather than a whole backlog batch.
    Catching up: an available-now query reads what the topic holds in
    back-to-back batches, where the interval's trigger would start each one on
    the next interval mark (a backlog of three batches would wait two
    intervals). Then the interval's query takes what arrives after.
    """
    cap = config.max_offsets_per_trigger
    catch_up = QueryPhase({"availableNow": True}, cap)
    if config.available_now:
        return [catch_up]
    interval = QueryPhase({"processingTime": f"{config.trigger_seconds} seconds"}, cap)
    if not config.catch_up:
        return [interval]
    if 0 < config.first_batch_max_offsets < cap:
        return [QueryPhase(ONE_TRIGGER, config.first_batch_max_offsets, one_trigger=True), catch_up, interval]
    return [catch_up, interval]


def _start(spark: SparkSession, kafka: KafkaResource, config: StreamConfig, writer: BatchWriter,
           phase: QueryPhase) -> StreamingQuery:
    source = (
        spark.readStream.format("kafka")
        .options(**kafka.spark_source_options(), **SOURCE_CONSUMER_OPTIONS, **SOURCE_FAILOVER_OPTIONS)
        .option("subscribe", kafka.topic)
        .option("startingOffsets", config.starting_offsets)
        .option("maxOffsetsPerTrigger", str(phase.max_offsets_per_trigger))
        .load()
    )
    enriched = source.select("value", "partition", "offset").mapInArrow(ValidateAndEnrich(writer.catalog),
                                                                        ENRICHED_SCHEMA)
    return (
        enriched.writeStream.queryName(config.query_name)
        .foreachBatch(writer)
        .option("checkpointLocation", config.checkpoint_dir)
        .trigger(**phase.trigger)
        .start()
    )


def stop_between_triggers(query: StreamingQuery, timeout_s: float = 15.0) -> None:
    """Stop a processing-time query between triggers: stopping it mid-trigger interrupts the checkpoint
    write and Spark logs an InterruptedException (harmless, but noise in the log)."""
    deadline = time.monotonic() + timeout_s
    while query.isActive and query.status.get("isTriggerActive") and time.monotonic() < deadline:
        time.sleep(0.05)
    query.stop()


# How often a one-trigger phase looks for its trigger's end: the next phase waits for it.
ONE_TRIGGER_POLL_SECONDS = 0.1


class ProgressReports:
    """Feeds `on_progress` from the running query: after each batch, and a heartbeat while idle.

    The first report after the first batch (of the run, whichever query ran it) also holds where the start-up went.
    """

    def __init__(self, writer: BatchWriter, on_progress: Callable[[dict], None] | None, startup: StepTimer,
                 heartbeat_seconds: float):
        self.writer, self.on_progress, self.startup, self.heartbeat_seconds = writer, on_progress, startup, heartbeat_seconds
        self.last_batch: int | None = None
        self.last_report = 0.0

    def after_poll(self, query: StreamingQuery, done: bool) -> None:
        progress = query.lastProgress
        batch_id = progress.get("batchId") if progress else None
        new_batch = batch_id is not None and batch_id != self.last_batch
        if self.on_progress and (new_batch or done or time.monotonic() - self.last_report >= self.heartbeat_seconds):
            summary = progress_summary(progress) if progress else {}
            summary.update(self.writer.drain(), new_batch=new_batch)
            if new_batch and "first_batch" not in self.startup.seconds:
                self.startup.done("first_batch")
                summary["startup_seconds"] = {**self.startup.seconds, "total": self.startup.total}
                log.info("started: first batch done %.1f s after the start (%s)", self.startup.total, self.startup.seconds)
            self.on_progress(summary)
            self.last_report = time.monotonic()
        if batch_id is not None:
            self.last_batch = batch_id


def run_stream(
    spark: SparkSession,
    kafka: KafkaResource,
    cassandra: CassandraResource,
    config: StreamConfig,
    on_progress: Callable[[dict], None] | None = None,
    poll_seconds: int = 2,
    heartbeat_seconds: float = 15.0,
    stop: threading.Event | None = None,
    startup: StepTimer | None = None,
) -> None:
    """Run the query until it stops (drained in available-now mode, `stop` set, or failed: then raise).

    A backlog is caught up first (`phases`). `on_progress` gets a summary
    after every batch, and at least every `heartbeat_seconds` while idle, so a
    supervisor can tell idle from dead. The first summary after the first
    batch also holds `startup_seconds`: where the start-up went, up to the end
    of that batch.
    """
    startup = startup or StepTimer()
    writer = _writer(spark, kafka, cassandra, config, startup)
    reports = ProgressReports(writer, on_progress, startup, heartbeat_seconds)
    try:
        for phase in phases(config):
            if stop is not None and stop.is_set():
                return
            query = _start(spark, kafka, config, writer, phase)
            if "query_start" not in startup.seconds:
                startup.done("query_start")
            try:
                done = False
                while not done:
                    if stop is not None and stop.is_set():
                        query.stop()  # between py4j calls: the checkpoint resumes where this left off
                    done = query.awaitTermination(ONE_TRIGGER_POLL_SECONDS if phase.one_trigger else poll_seconds)
                    if phase.one_trigger and not done and query.lastProgress is not None:
                        stop_between_triggers(query)  # its trigger reported: a batch, or no data to read
                        done = True
                    reports.after_poll(query, done)
            finally:
                if query.isActive:
                    query.stop()
    finally:
        writer.close()


def run_pipeline(
    spark: SparkResource,
    kafka: KafkaResource,
    cassandra: CassandraResource,
    config: StreamConfig,
    on_progress: Callable[[dict], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """What the Dagster job and `ratings stream` run: make the topics and tables the query needs
    (whether or not their assets were materialized), hold the checkpoint, run the query.

    Storage comes first: an unreachable Kafka or Cassandra is then one clear error, before Spark starts.
    """
    startup = StepTimer()
    ensure_pipeline_storage(kafka, cassandra)
    startup.done("storage")
    session = spark.spark_session
    startup.done("spark_session")
    with checkpoint_lock(config.checkpoint_dir):
        run_stream(session, kafka, cassandra, config, on_progress=on_progress, stop=stop, startup=startup)
