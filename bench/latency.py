"""End-to-end latency at a steady arrival rate: event time to the moment Cassandra stored the row.

The event's own timestamp (set by the generator as it makes the event) is
the start; WRITETIME(rating) of its `records` row is the end. Both clocks are this machine's.
Events of the first `warmup_s` seconds (query start-up, first batch) are left out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from pyspark.sql import SparkSession

from bench.env import Stream
from bench.generator import PacedFeed, Workload
from bench.sparkmon import ProgressRecorder, batch_table, phase_totals
from bench.stats import percentiles
from ratings_assets.core.hours import hours_in
from ratings_assets.resources.cassandra import CassandraResource
from ratings_assets.streaming.job import start_query, stop_between_triggers


@dataclass
class LatencyResult:
    rate: float
    achieved: float
    events: int
    measured: int  # rows after warm-up
    latencies_ms: list[float] = field(repr=False)
    batches: list[dict] = field(default_factory=list, repr=False)
    phases_ms: dict[str, int] = field(default_factory=dict)

    @property
    def percentiles(self) -> dict[str, float]:
        return percentiles(self.latencies_ms) if self.latencies_ms else {}


def stored_latencies(cassandra: CassandraResource, since: datetime, until: datetime) -> list[float]:
    """WRITETIME - event time (ms) of the rows whose event time is within [since, until]."""
    latencies = []
    with cassandra.session() as session:
        for hour in hours_in(since, until + timedelta(microseconds=1)):
            for row in cassandra.read_hour(session, hour, columns="time, WRITETIME(rating) AS written"):
                event = row.time.replace(tzinfo=timezone.utc)
                if since <= event <= until:
                    latencies.append(row.written / 1000 - event.timestamp() * 1000)
    return latencies


def steady_latency(spark: SparkSession, stream: Stream, recorder: ProgressRecorder, workload: Workload, rate: float,
                   seconds: float, warmup_s: float, salt: int, drain_timeout_s: float = 180.0) -> LatencyResult:
    """Run the query on a processing-time trigger, feed it `rate` events/s for `seconds`, read the latencies back."""
    kafka, cassandra, config = stream.kafka, stream.cassandra, stream.config
    query, writer = start_query(spark, kafka, cassandra, config)
    stored = 0
    try:
        time.sleep(min(3.0, config.trigger_seconds * 2))  # the query plans its first (empty) trigger
        feed = PacedFeed(kafka, kafka.topic, workload, salt, rate, seconds).start()
        published = feed.join(timeout=seconds + 120)
        deadline = time.monotonic() + drain_timeout_s
        while stored < published.acked and time.monotonic() < deadline:
            if query.exception() is not None:
                raise RuntimeError(f"latency query failed: {query.exception()}")
            time.sleep(0.5)
            stored += writer.drain()["stored"]
        if stored < published.acked:
            raise RuntimeError(f"only {stored:,} of {published.acked:,} events stored {drain_timeout_s:g} s after the feed ended")
    finally:
        stop_between_triggers(query)
        writer.close()
    since = datetime.fromtimestamp(feed.started_at + warmup_s, timezone.utc)
    until = datetime.now(timezone.utc)
    latencies = stored_latencies(cassandra, since, until)
    reports = recorder.take(config.query_name, rows=published.acked)
    return LatencyResult(rate, published.rate, published.acked, len(latencies), latencies,
                         batch_table(reports), phase_totals(reports))
