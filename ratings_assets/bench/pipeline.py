"""Pipeline throughput: the streaming job draining a preloaded topic, and the highest sustainable arrival rate.

`drain` is the job as deployed (`run_stream`, available-now) timed from its
start until it returns, i.e. after the last micro-batch stored its rows and
committed its offsets. `sustained_probe` feeds the topic at fixed rates while
the query runs on a processing-time trigger and watches consumer lag.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from pyspark.sql import SparkSession

from ratings_assets.bench.env import stop_when_idle
from ratings_assets.bench.generator import PacedFeed, Workload
from ratings_assets.bench.sparkmon import ProgressRecorder, batch_table, phase_totals
from ratings_assets.bench.stats import lag_is_stable, slope
from ratings_assets.resources.kafka import KafkaResource
from ratings_assets.streaming.job import StreamConfig, run_stream, start_query
from ratings_assets.streaming.progress import consumer_lag


@dataclass(frozen=True)
class DrainResult:
    events: int
    stored: int
    seconds: float
    batches: list[dict]
    phases_ms: dict[str, int]
    step_seconds: dict[str, float] = field(default_factory=dict)  # BatchWriter's steps, summed over the batches

    @property
    def rate(self) -> float:
        return self.stored / self.seconds if self.seconds > 0 else 0.0


def drain(spark: SparkSession, config: StreamConfig, recorder: ProgressRecorder, expected: int) -> DrainResult:
    """run_stream(available_now=True) over a topic holding `expected` events: events/s start to finish."""
    config = replace(config, available_now=True)
    stored = 0
    steps: dict[str, float] = {}

    def on_progress(summary: dict) -> None:
        nonlocal stored
        stored += summary.get("stored", 0)
        for step, seconds in (summary.get("step_seconds") or {}).items():
            steps[step] = steps.get(step, 0.0) + seconds

    started = time.monotonic()
    run_stream(spark, config, on_progress, poll_seconds=1)
    seconds = time.monotonic() - started
    reports = recorder.take(config.query_name, rows=expected)
    if stored != expected:
        raise RuntimeError(f"the stream stored {stored:,} rows of {expected:,} events in {config.topic}")
    return DrainResult(expected, stored, seconds, batch_table(reports), phase_totals(reports), steps)


@dataclass
class ProbeResult:
    rate: float  # target events/s
    achieved: float  # events/s the feed really published
    stable: bool | None  # None: the feed could not reach the rate, so the answer is unknown
    lag_slope: float  # events/s of lag growth (least squares)
    max_lag: int
    catch_up_s: float | None  # after the feed stopped, until every event was processed
    batches: list[dict] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return {True: "sustained", False: "lag grew", None: "feed-limited"}[self.stable]


def _processed_offsets(query) -> dict:
    progress = query.lastProgress
    source = (progress or {}).get("sources") or [{}]
    return source[0].get("endOffset") or {}


def _lag(kafka: KafkaResource, topic: str, query) -> int:
    latest = {topic: {str(p): o for p, o in kafka.end_offsets(topic).items()}}
    return consumer_lag(_processed_offsets(query), latest) if _processed_offsets(query) else sum(latest[topic].values())


def probe_rate(spark: SparkSession, kafka: KafkaResource, config: StreamConfig, recorder: ProgressRecorder,
               workload: Workload, rate: float, seconds: float, warmup_s: float, salt: int) -> ProbeResult:
    """One rate: feed for `seconds`, sample lag every second, then let the query catch up."""
    query, writer = start_query(spark, config)
    samples: list[tuple[float, float]] = []
    catch_up = None
    try:
        feed = PacedFeed(kafka, config.topic, workload, salt, rate, seconds).start()
        began = time.monotonic()
        while feed.running:
            time.sleep(1.0)
            samples.append((time.monotonic() - began, _lag(kafka, config.topic, query)))
        published = feed.join()
        stopped = time.monotonic()
        deadline = stopped + max(120.0, 4 * config.trigger_seconds)
        while time.monotonic() < deadline:
            if _lag(kafka, config.topic, query) == 0:
                catch_up = time.monotonic() - stopped
                break
            if query.exception() is not None:
                raise RuntimeError(f"probe query failed: {query.exception()}")
            time.sleep(0.5)
    finally:
        stop_when_idle(query)
        writer.close()
    steady = [(t, lag) for t, lag in samples if t >= warmup_s]
    stable = lag_is_stable(steady, rate) if steady else False
    if stable and published.rate < 0.95 * rate:
        stable = None  # kept up, but with fewer events than asked for
    return ProbeResult(
        rate=rate,
        achieved=published.rate,
        stable=stable,
        lag_slope=slope(steady),
        max_lag=int(max((lag for _, lag in samples), default=0)),
        catch_up_s=catch_up,
        batches=batch_table(recorder.take(config.query_name, rows=published.acked)),
    )


def sustained_probe(spark: SparkSession, kafka: KafkaResource, base: StreamConfig, recorder: ProgressRecorder,
                    workload: Workload, rates: list[float], seconds: float, warmup_s: float,
                    new_topic, partitions: int, progress=print) -> list[ProbeResult]:
    """Rates in increasing order until one is not sustained (bounded: at most len(rates) windows)."""
    results = []
    for index, rate in enumerate(sorted(rates)):
        topic = new_topic(f"probe{index}")
        kafka.ensure_topic(topic, partitions, 1)
        config = replace(base, topic=topic, checkpoint_dir=f"{base.checkpoint_dir}-{index}",
                         query_name=f"bench_probe_{index}", available_now=False)
        result = probe_rate(spark, kafka, config, recorder, workload, rate, seconds, warmup_s, salt=900 + index)
        progress(f"    {rate:,.0f} ev/s for {seconds:g} s (trigger {config.trigger_seconds:g} s): achieved "
                 f"{result.achieved:,.0f} ev/s, lag slope {result.lag_slope:+,.0f} ev/s, max lag {result.max_lag:,}, "
                 f"caught up in {'-' if result.catch_up_s is None else f'{result.catch_up_s:.1f} s'} -> {result.verdict}")
        results.append(result)
        if result.stable is not True:  # lag grew, or the feed cannot go faster: higher rates would tell nothing
            break
    return results
