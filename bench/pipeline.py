"""Pipeline throughput: the streaming job draining a preloaded topic, and the highest sustainable arrival rate.

`drain` is the job as deployed (`run_stream`, available-now) timed from its
start until it returns, i.e. after the last micro-batch stored its rows and
committed its offsets. `sustained_probe` feeds the topic at fixed rates while
the query runs on a processing-time trigger and watches consumer lag.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field, replace

from pyspark.sql import SparkSession

from bench.env import Stream
from bench.generator import PacedFeed, Workload
from bench.sparkmon import ProgressRecorder, batch_table, phase_totals
from bench.stats import lag_is_stable, slope
from ratings_assets.resources.kafka import KafkaResource
from ratings_assets.streaming.job import run_stream, start_query, stop_between_triggers
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


def drain(spark: SparkSession, stream: Stream, recorder: ProgressRecorder, expected: int) -> DrainResult:
    """run_stream(available_now=True) over a topic holding `expected` events: events/s start to finish."""
    stream = stream.changed(available_now=True)
    stored = 0
    steps: dict[str, float] = {}

    def on_progress(summary: dict) -> None:
        nonlocal stored
        stored += summary.get("stored", 0)
        for step, seconds in (summary.get("step_seconds") or {}).items():
            steps[step] = steps.get(step, 0.0) + seconds

    started = time.monotonic()
    run_stream(spark, stream.kafka, stream.cassandra, stream.config, on_progress, poll_seconds=1)
    seconds = time.monotonic() - started
    reports = recorder.take(stream.config.query_name, rows=expected)
    if stored != expected:
        raise RuntimeError(f"the stream stored {stored:,} rows of {expected:,} events in {stream.topic}")
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
    seconds: float = 0.0  # how long the rate was fed
    phase: str = ""  # screen, refine or confirm (search_sustained_rate)

    @property
    def verdict(self) -> str:
        return {True: "sustained", False: "lag grew", None: "feed-limited"}[self.stable]


def search_sustained_rate(try_rate, rates: list[float], screen_s: float, confirm_s: float,
                          refine_steps: int = 2) -> list:
    """The windows that find the highest rate whose lag does not grow for `confirm_s` seconds.

    `try_rate(rate, seconds, phase)` feeds one window and returns its result (with `.stable`).
    Screen: `rates` upwards, `screen_s` each, until one is not sustained. Refine: bisect
    between the last sustained and the first not, `refine_steps` times. Confirm: the best
    sustained rate for `confirm_s`; if its lag grows there, the next best gets its turn (at
    most two confirmations, so the search stays bounded).
    """
    results = []

    def window(rate: float, seconds: float, phase: str):
        result = try_rate(rate, seconds, phase)
        results.append(result)
        return result.stable is True

    held, failed = None, None
    for rate in sorted(rates):
        if not window(rate, screen_s, "screen"):
            failed = rate
            break
        held = rate
    if held is not None and failed is not None:
        for _ in range(refine_steps):
            middle = round((held + failed) / 2, -1)
            if middle in (held, failed):
                break
            if window(middle, screen_s, "refine"):
                held = middle
            else:
                failed = middle
    candidates = sorted({r.rate for r in results if r.stable is True}, reverse=True)[:2]
    for rate in candidates:
        if window(rate, confirm_s, "confirm"):
            break
    return results


def _processed_offsets(query) -> dict:
    progress = query.lastProgress
    source = (progress or {}).get("sources") or [{}]
    return source[0].get("endOffset") or {}


def _lag(kafka: KafkaResource, topic: str, query) -> int:
    latest = {topic: {str(p): o for p, o in kafka.end_offsets(topic).items()}}
    return consumer_lag(_processed_offsets(query), latest) if _processed_offsets(query) else sum(latest[topic].values())


def probe_rate(spark: SparkSession, stream: Stream, recorder: ProgressRecorder, workload: Workload, rate: float,
               seconds: float, warmup_s: float, salt: int) -> ProbeResult:
    """One rate: feed for `seconds`, sample lag every second, then let the query catch up."""
    kafka, config = stream.kafka, stream.config
    query, writer = start_query(spark, kafka, stream.cassandra, config)
    samples: list[tuple[float, float]] = []
    catch_up = None
    try:
        feed = PacedFeed(kafka, kafka.topic, workload, salt, rate, seconds).start()
        began = time.monotonic()
        while feed.running:
            time.sleep(1.0)
            samples.append((time.monotonic() - began, _lag(kafka, kafka.topic, query)))
        published = feed.join()
        stopped = time.monotonic()
        deadline = stopped + max(120.0, 4 * config.trigger_seconds)
        while time.monotonic() < deadline:
            if _lag(kafka, kafka.topic, query) == 0:
                catch_up = time.monotonic() - stopped
                break
            if query.exception() is not None:
                raise RuntimeError(f"probe query failed: {query.exception()}")
            time.sleep(0.5)
    finally:
        stop_between_triggers(query)
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


def sustained_probe(spark: SparkSession, base: Stream, recorder: ProgressRecorder, workload: Workload,
                    rates: list[float], seconds: float, confirm_seconds: float, warmup_s: float,
                    new_topic, partitions: int, refine_steps: int = 2, progress=print) -> list[ProbeResult]:
    """search_sustained_rate on the running query: each window a fresh topic and query, fed at one rate."""
    def try_rate(rate: float, window_s: float, phase: str) -> ProbeResult:
        index = next(counter)
        topic = new_topic(f"probe{index}")
        base.kafka.ensure_topic(topic, partitions, 1)
        stream = base.changed(topic=topic, checkpoint_dir=f"{base.config.checkpoint_dir}-{index}",
                              query_name=f"bench_probe_{index}", available_now=False)
        result = probe_rate(spark, stream, recorder, workload, rate, window_s, warmup_s, salt=900 + index)
        result = replace(result, seconds=window_s, phase=phase)
        progress(f"    {phase} {rate:,.0f} ev/s for {window_s:g} s (trigger {stream.config.trigger_seconds:g} s): achieved "
                 f"{result.achieved:,.0f} ev/s, lag slope {result.lag_slope:+,.0f} ev/s, max lag {result.max_lag:,}, "
                 f"caught up in {'-' if result.catch_up_s is None else f'{result.catch_up_s:.1f} s'} -> {result.verdict}")
        return result

    counter = itertools.count()
    return search_sustained_rate(try_rate, rates, seconds, confirm_seconds, refine_steps)
