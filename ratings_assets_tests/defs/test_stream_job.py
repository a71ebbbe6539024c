"""What the stream job reports to Dagster: pure parts (the job itself is in test_stream_job_integration.py)."""

from datetime import datetime, timezone

from ratings_assets.defs.stream_job import HourReports, observation

FIRST = datetime(2026, 3, 10, 8, tzinfo=timezone.utc)
NOW = datetime(2026, 3, 10, 10, 55, tzinfo=timezone.utc)


def test_hours_are_reported_when_open_held_while_ahead_and_named_when_before_the_first_partition():
    reports = HourReports(FIRST)
    ready, before = reports.add({"2026-03-10-10:00": 5, "2026-03-10-11:00": 2, "2026-03-10-07:00": 1}, NOW)
    assert (ready, before) == ({"2026-03-10-10:00": 5}, ["2026-03-10-07:00"])
    # The 11:00 rows (an event a few minutes ahead of this clock) wait for their hour, and add up.
    ready, before = reports.add({"2026-03-10-11:00": 3}, NOW)
    assert (ready, before) == ({}, [])
    ready, _ = reports.add({}, NOW.replace(hour=11, minute=0))
    assert ready == {"2026-03-10-11:00": 5}


def test_the_observation_plots_measures_only_after_a_batch_and_no_sentinels():
    idle = observation({"consumer_lag": None, "end_offsets": {0: 7}}, None, "run-1").metadata
    assert "consumer_lag" not in idle and "last_batch_at" not in idle and "input_rows" not in idle
    batch = observation({"new_batch": True, "batch_id": 4, "input_rows": 10, "stored": 9, "consumer_lag": 3,
                         "rejected": {"bad_name": 1}, "batch_duration_ms": 1500,
                         "step_seconds": {"counts": 0.5}}, 1_700_000_000.0, "run-1").metadata
    numbers = {key for key, value in batch.items() if isinstance(value.value, (int, float))
               and type(value).__name__ in ("IntMetadataValue", "FloatMetadataValue")}
    assert numbers == {"input_rows", "stored_rows", "dead_lettered", "unknown_movie", "rows_per_second",
                       "batch_seconds", "consumer_lag", "seconds_counts"}
    assert batch["batch"].value == "4" and batch["batch_seconds"].value == 1.5


def test_the_observation_says_when_the_query_started_for_the_supervisors_stall_clock():
    beat = observation({"end_offsets": {0: 7}}, None, "run-1", query_started_at=1_700_000_000.0).metadata
    assert beat["query_started_at"].value == 1_700_000_000.0
