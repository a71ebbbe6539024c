"""The micro-batch bookkeeping of the streaming job (pure parts; the query itself is in the integration tests)."""

from datetime import datetime

from ratings_assets.streaming.job import BatchSummary, BatchWriter, StreamConfig

HOUR = datetime(2025, 3, 15, 10)  # Spark hands back naive UTC timestamps


def writer() -> BatchWriter:
    config = StreamConfig(kafka_bootstrap="localhost:1", topic="t", dlq_topic="t-dlq", keyspace="k",
                          catalog_path="-", checkpoint_dir="-")
    return BatchWriter(config, catalog=None)  # the dead-letter producer connects on first use only


def test_summary_counts_stored_rows_rejects_and_hours():
    rows = [(None, HOUR, 5), (None, HOUR.replace(hour=11), 2), ("bad_name", None, 1), ("bad_name", None, 2)]
    summary = BatchSummary.from_counts(3, rows)
    assert (summary.stored, summary.rejected) == (7, {"bad_name": 3})
    assert summary.hours == ["2025-03-15-10:00", "2025-03-15-11:00"]


def test_drain_adds_up_the_batches_since_the_last_call_then_starts_over():
    batch_writer = writer()
    batch_writer._pending = [
        BatchSummary(1, 10, {"bad_name": 1}, ["2025-03-15-10:00"], {"read_validate": 1.5, "records": 2.0}),
        BatchSummary(2, 5, {"bad_name": 2, "malformed_json": 1}, ["2025-03-15-11:00"], {"read_validate": 0.5}),
    ]
    assert batch_writer.drain() == {
        "stored": 15,
        "rejected": {"bad_name": 3, "malformed_json": 1},
        "hours": ["2025-03-15-10:00", "2025-03-15-11:00"],
        "step_seconds": {"read_validate": 2.0, "records": 2.0},
    }
    assert batch_writer.drain() == {"stored": 0, "rejected": {}, "hours": [], "step_seconds": {}}
