"""The micro-batch bookkeeping of the streaming job (pure parts; the query itself is in the integration tests)."""

from datetime import datetime

from ratings_assets.resources.cassandra import CassandraResource
from ratings_assets.resources.kafka import KafkaResource
from ratings_assets.streaming.config import StreamConfig
from ratings_assets.streaming.job import ONE_TRIGGER, BatchSummary, BatchWriter, phases

HOUR = datetime(2025, 3, 15, 10)  # Spark hands back naive UTC timestamps


def writer() -> BatchWriter:
    # The dead-letter producer connects on first use only.
    return BatchWriter(KafkaResource(bootstrap_servers="localhost:1"), CassandraResource(hosts="h"), catalog=None)


def test_summary_counts_stored_rows_per_hour_and_rejects():
    rows = [(None, HOUR, 5), (None, HOUR.replace(hour=11), 2), ("bad_name", None, 1), ("bad_name", None, 2),
            (None, HOUR, 1)]
    summary = BatchSummary.from_counts(3, rows)
    assert (summary.stored, summary.rejected) == (8, {"bad_name": 3})
    assert summary.hours == {"2025-03-15-10:00": 6, "2025-03-15-11:00": 2}


def test_drain_adds_up_the_batches_since_the_last_call_then_starts_over():
    batch_writer = writer()
    batch_writer._pending = [
        BatchSummary(1, 10, {"bad_name": 1}, {"2025-03-15-10:00": 10}, {"counts": 1.5, "records": 2.0}),
        BatchSummary(2, 5, {"bad_name": 2, "malformed_json": 1}, {"2025-03-15-10:00": 1, "2025-03-15-11:00": 4},
                     {"counts": 0.5}),
    ]
    assert batch_writer.drain() == {
        "stored": 15,
        "rejected": {"bad_name": 3, "malformed_json": 1},
        "hours": {"2025-03-15-10:00": 11, "2025-03-15-11:00": 4},
        "step_seconds": {"counts": 2.0, "records": 2.0},
    }
    assert batch_writer.drain() == {"stored": 0, "rejected": {}, "hours": {}, "step_seconds": {}}


def test_the_writer_writes_where_the_resources_point():
    batch_writer = BatchWriter(KafkaResource(bootstrap_servers="k:1", topic="t2", dead_letter_topic="t2.dlq"),
                               CassandraResource(hosts="c9", keyspace="other"), catalog=None)
    assert batch_writer.table_options["keyspace"] == "other"
    assert batch_writer.table_options["spark.cassandra.connection.host"] == "c9"
    assert (batch_writer.dead_letters.source_topic, batch_writer.dead_letters.dlq_topic) == ("t2", "t2.dlq")


def test_a_run_reads_a_small_first_batch_then_catches_up_then_runs_on_its_interval():
    interval = {"processingTime": "30.0 seconds"}
    assert [(p.trigger, p.max_offsets_per_trigger, p.one_trigger)
            for p in phases(StreamConfig(trigger_seconds=30, max_offsets_per_trigger=500, first_batch_max_offsets=20))] == [
        (ONE_TRIGGER, 20, True), ({"availableNow": True}, 500, False), (interval, 500, False)]


def test_a_run_without_a_smaller_first_batch_starts_with_the_catch_up():
    for first in (0, 500, 900):
        config = StreamConfig(trigger_seconds=30, max_offsets_per_trigger=500, first_batch_max_offsets=first)
        assert [p.trigger for p in phases(config)] == [{"availableNow": True}, {"processingTime": "30.0 seconds"}]


def test_without_catch_up_a_run_is_one_query_and_available_now_one_drain():
    assert [p.trigger for p in phases(StreamConfig(trigger_seconds=30, catch_up=False))] == [
        {"processingTime": "30.0 seconds"}]
    assert [p.trigger for p in phases(StreamConfig(available_now=True))] == [{"availableNow": True}]
