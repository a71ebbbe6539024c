"""`python -m bench --validator`: the streaming validator's CPU per event, in-process (no Spark, no services).

It times, over the same N generator events, best of several passes:
`validate_batch` (the work of `mapInArrow` on the executors, in Arrow batches
of the job's size, minus the transfer), `validate_rows` (the per-message path
that events not in the generator's exact form take) and `parse_event` alone:
the figures tuning.md quotes for validation changes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone

import pyarrow as pa

from bench.env import Hours, catalog_movies
from bench.generator import Workload
from ratings_assets.core.events import parse_event
from ratings_assets.generator.ratings import EventClock
from ratings_assets.generator.users import user_pool
from ratings_assets.streaming.validation import validate_batch, validate_rows

ARROW_BATCH_ROWS = 20_000  # spark.sql.execution.arrow.maxRecordsPerBatch (resources/spark.py)


def cpu_us_per_item(func: Callable[[], object], items: int, passes: int,
                    clock: Callable[[], float] = time.process_time) -> float:
    """Best-of-`passes` process CPU time of `func()` (seconds by `clock`), per item, in µs."""
    best = float("inf")
    for _ in range(passes):
        started = clock()
        func()
        best = min(best, clock() - started)
    return best / items * 1e6


class ValidatorWorkload:
    """N generator events as message values, and as the (value, partition, offset) Arrow batches of the job."""

    def __init__(self, events: int, seed: int = 7):
        factory = Workload(catalog_movies(), user_pool(1000, seed=seed), seed).factory(salt=1)
        clock = EventClock(*Hours.window(Hours.before().pipeline), seed=seed)
        self.values = [factory.make(clock()).to_json() for _ in range(events)]
        self.now = datetime.now(timezone.utc)
        self.batches = pa.table({
            "value": pa.array(self.values, pa.binary()), "partition": pa.array([0] * events, pa.int32()),
            "offset": pa.array(range(events), pa.int64())}).to_batches(max_chunksize=ARROW_BATCH_ROWS)

    def validate_batches(self) -> list[pa.RecordBatch]:
        return [out for batch in self.batches for out in validate_batch(batch, self.now)]


def host_speed_us(events: int = 20_000, passes: int = 3) -> float:
    """`validate_batch`'s CPU per event: how fast this machine's cores are during a run. No other process moves
    it much, so it tells a slow day from a slow change when runs of different days are compared."""
    workload = ValidatorWorkload(events)
    return round(cpu_us_per_item(workload.validate_batches, events, passes), 3)


def run_validator_bench(events: int, passes: int = 5, seed: int = 7) -> int:
    workload = ValidatorWorkload(events, seed)
    values, now = workload.values, workload.now
    print(f"{events:,} generator events, best of {passes} passes, CPU time per event:")
    print(f"  parse_event    {cpu_us_per_item(lambda: [parse_event(v, now=now) for v in values], events, passes):6.2f} µs")
    print(f"  validate_batch {cpu_us_per_item(workload.validate_batches, events, passes):6.2f} µs")
    print(f"  validate_rows  {cpu_us_per_item(lambda: validate_rows(values, now), events, passes):6.2f} µs")
    return 0
