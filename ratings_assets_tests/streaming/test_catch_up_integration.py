"""A run started on a backlog reads a small first batch, then the rest in back-to-back batches, then keeps
running on its interval.

The interval here is ten minutes: without the catch-up, the second of the
backlog's batches would wait for it and the test would time out.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from ratings_assets.core.catalog import read_catalog
from ratings_assets.core.hours import hour_of
from ratings_assets.generator.publisher import connect, publish
from ratings_assets.generator.ratings import EventClock, Pacer, RatingFactory, generate
from ratings_assets.generator.users import user_pool
from ratings_assets.paths import CATALOG_CSV
from ratings_assets.streaming.job import run_stream
from ratings_assets_tests.conftest import wait_for

pytestmark = pytest.mark.integration

EVENTS = 3_000
PER_BATCH = 1_000
FIRST_BATCH = 100
INTERVAL_S = 600


def test_a_backlog_is_caught_up_after_a_small_first_batch_then_the_interval_query_runs(
        spark, kafka, cassandra, isolated, drain_config):
    kafka.ensure_topic(isolated["topic"], 4, 1)
    hour = hour_of(datetime.now(timezone.utc)) - timedelta(hours=1)
    factory = RatingFactory(list(read_catalog(CATALOG_CSV).values()), user_pool(30, seed=5), seed=5)
    events = list(generate(factory, EventClock(hour, hour + timedelta(hours=1), seed=5), Pacer(None), count=EVENTS))
    assert publish(connect(kafka), isolated["topic"], events).acked == EVENTS

    reports: list[dict] = []
    stop = threading.Event()
    config = drain_config(available_now=False, trigger_seconds=INTERVAL_S, max_offsets_per_trigger=PER_BATCH,
                          first_batch_max_offsets=FIRST_BATCH)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            run_stream(spark, kafka, cassandra, config, on_progress=reports.append, poll_seconds=1, stop=stop)
        except BaseException as error:  # the test thread reports it
            failure.append(error)

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    try:
        wait_for(lambda: failure or sum(r.get("stored", 0) for r in reports) >= EVENTS, 180, "the backlog stored")
        assert not failure, failure
        batches = [r for r in reports if r.get("new_batch")]
        assert 0 < batches[0]["input_rows"] <= FIRST_BATCH
        assert all(0 < b["input_rows"] <= PER_BATCH for b in batches[1:])
        assert len(batches) >= 1 + (EVENTS - FIRST_BATCH) // PER_BATCH  # the cap cut the rest into several batches
        assert runner.is_alive(), "the run must go on with the interval's query after the catch-up"
        with cassandra.session(isolated["keyspace"]) as session:
            stored = {row.event_id for row in session.execute("SELECT event_id FROM records", timeout=60)}
        assert stored == {event.event_id for event in events}
    finally:
        stop.set()
        runner.join(timeout=120)
    assert not runner.is_alive(), "the interval's query did not stop when asked"
    assert not failure, failure
