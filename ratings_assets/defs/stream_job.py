"""The streaming query as a Dagster job, and what it tells Dagster while it runs.

After every micro-batch the run reports a materialization of each hour
partition of `reviews/records` it wrote (rows written), and an observation of
the stream's throughput, batch time and consumer lag; while idle it still
sends a heartbeat observation, so the supervisor can tell idle from dead.
"""


import os
import socket
from datetime import datetime, timezone

import dagster as dg

from ratings_assets.core.hours import HOUR, hour_from_partition_key
from ratings_assets.defs.partitions import LATE_DATA_BOUND, RECORDS_PARTITIONS
from ratings_assets.defs.records import (RECORDS_KEY, consumer_lag_below_threshold, lag_check, no_unknown_movies,
                                         unknown_movies_check)
from ratings_assets.resources.cassandra import CassandraResource
from ratings_assets.resources.kafka import KafkaResource
from ratings_assets.resources.spark import SparkResource
from ratings_assets.streaming.config import StreamConfig
from ratings_assets.streaming.job import run_pipeline
from ratings_assets.streaming.progress import startup_text

STREAM_JOB = "ratings_stream_job"
# The run queue admits one run with this tag at a time (dagster.yaml).
STREAM_TAG = {"ratings/stream": "records"}


def observation(summary: dict, last_batch_at: float | None, run_id: str,
                query_started_at: float | None = None) -> dg.AssetObservation:
    """The stream's state: measures (plotted) after a new batch, identities (text) always."""
    metadata: dict = {
        "worker": dg.MetadataValue.text(f"{socket.gethostname()}:{os.getpid()}"),
        "run_id": dg.MetadataValue.text(run_id),
        "end_offsets": dg.MetadataValue.json({str(p): o for p, o in (summary.get("end_offsets") or {}).items()}),
    }
    if query_started_at:
        # The supervisor's stall clock starts here: Spark's start-up before it is covered by its start grace.
        metadata["query_started_at"] = dg.MetadataValue.timestamp(query_started_at)
    if last_batch_at:
        metadata["last_batch_at"] = dg.MetadataValue.timestamp(last_batch_at)
    if summary.get("consumer_lag") is not None:
        metadata["consumer_lag"] = summary["consumer_lag"]
    if summary.get("new_batch"):
        rejected = summary.get("rejected") or {}
        metadata.update({
            "batch": dg.MetadataValue.text(str(summary.get("batch_id"))),
            "input_rows": summary.get("input_rows", 0),
            "stored_rows": summary.get("stored", 0),
            "dead_lettered": sum(rejected.values()),
            "unknown_movie": rejected.get("unknown_movie", 0),
            "rows_per_second": summary.get("processed_rows_per_second", 0.0),
            "batch_seconds": round((summary.get("batch_duration_ms") or 0) / 1000, 3),
            "rejected_by_reason": dg.MetadataValue.json(rejected),
            # Where the batches' time went: reading and validating, each table's write, the dead letters.
            **{f"seconds_{step}": seconds for step, seconds in (summary.get("step_seconds") or {}).items()},
        })
    return dg.AssetObservation(asset_key=RECORDS_KEY, metadata=metadata)


class HourReports:
    """Rows written per hour partition, held until the hour is a partition of `reviews/records`.

    An event may be up to ten minutes ahead of this clock (validation allows it):
    its hour is reported once it opens. Hours before the first partition are
    stored all the same, but have no partition to report to.
    """

    def __init__(self, first_hour: datetime):
        self.first_hour = first_hour
        self.pending: dict[str, int] = {}

    def add(self, hours: dict[str, int], now: datetime) -> tuple[dict[str, int], list[str]]:
        """Returns the hours to report now (-> rows) and those before the first partition."""
        for key, rows in hours.items():
            self.pending[key] = self.pending.get(key, 0) + rows
        ready, before = {}, []
        for key in sorted(self.pending):
            hour = hour_from_partition_key(key)
            if hour < self.first_hour:
                before.append(key)
                del self.pending[key]
            elif hour <= now:
                ready[key] = self.pending.pop(key)
        return ready, before


def checks_of_batch(summary: dict) -> list[dg.AssetCheckEvaluation]:
    """The records checks, evaluated on a batch the stream just stored."""
    return [
        dg.AssetCheckEvaluation(asset_key=RECORDS_KEY, check_name=consumer_lag_below_threshold.check_key.name,
                                **lag_check(summary.get("consumer_lag"), 0.0)),
        dg.AssetCheckEvaluation(asset_key=RECORDS_KEY, check_name=no_unknown_movies.check_key.name,
                                **unknown_movies_check(summary.get("rejected") or {}, "this batch's dead letters")),
    ]


def _first_partition_hour() -> datetime:
    return hour_from_partition_key(RECORDS_PARTITIONS.get_first_partition_key())


@dg.op(description="Runs the Kafka -> Cassandra streaming query until it is stopped or fails.")
def run_ratings_stream(context: dg.OpExecutionContext, config: StreamConfig, spark: SparkResource,
                       kafka: KafkaResource, cassandra: CassandraResource) -> None:
    context.log.info(f"streaming {kafka.topic} -> {cassandra.keyspace}.records every {config.trigger_seconds:g} s, "
                     f"checkpoint {config.checkpoint_dir}")
    hours = HourReports(_first_partition_hour())
    last_batch_at: float | None = None
    query_started_at: float | None = None

    def report(summary: dict) -> None:
        nonlocal last_batch_at, query_started_at
        now = datetime.now(timezone.utc)
        query_started_at = query_started_at or now.timestamp()  # the first report follows the query's start
        if summary.get("new_batch"):
            last_batch_at = now.timestamp()
        if "startup_seconds" in summary:
            context.log.info(f"started: the first batch was stored {startup_text(summary['startup_seconds'])}")
        ready, before = hours.add(summary.get("hours") or {}, now)
        if before:
            context.log.warning(f"rows for hours before the first partition ({RECORDS_PARTITIONS.start:%Y-%m-%d %H:%M}), "
                                f"stored but not tracked as partitions: {', '.join(before)}")
        too_late = [key for key in ready if now - (hour_from_partition_key(key) + HOUR) > LATE_DATA_BOUND]
        if too_late:
            context.log.warning(f"late rows for hours past the late-data bound ({LATE_DATA_BOUND}), not re-aggregated "
                                f"automatically: {', '.join(too_late)}; materialize those hours of "
                                "reviews/hourly_user_ratings by hand to include them")
        for key, rows in ready.items():
            context.log_event(dg.AssetMaterialization(asset_key=RECORDS_KEY, partition=key,
                                                      metadata={"rows_written": rows}))
        context.log_event(observation(summary, last_batch_at, context.run_id, query_started_at))
        if summary.get("new_batch"):
            for check in checks_of_batch(summary):
                context.log_event(check)

    run_pipeline(spark, kafka, cassandra, config, on_progress=report)


@dg.job(
    name=STREAM_JOB,
    description="The never-ending streaming query; launched and supervised by ratings_stream_supervisor.",
    tags={**STREAM_TAG, "dagster/max_retries": "0"},
    # One process per run: the process the supervisor watches is the one holding the query.
    executor_def=dg.in_process_executor,
)
def ratings_stream_job():
    run_ratings_stream()
