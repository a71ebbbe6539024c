from ratings_assets.streaming.progress import consumer_lag, progress_summary, startup_text, steps_text

PROGRESS = {
    "batchId": 7,
    "numInputRows": 1500,
    "inputRowsPerSecond": 50.04,
    "processedRowsPerSecond": 750.0,
    "durationMs": {"triggerExecution": 2000},
    "sources": [
        {
            "endOffset": {"ratings": {"0": 500, "1": 1000}},
            "latestOffset": '{"ratings": {"0": 520, "1": 1000}}',
        }
    ],
    "timestamp": "2025-03-15T10:00:00.000Z",
}


def test_summary_carries_rates_duration_offsets_and_lag():
    summary = progress_summary(PROGRESS)
    assert summary["batch_id"] == 7 and summary["input_rows"] == 1500
    assert summary["input_rows_per_second"] == 50.0
    assert summary["batch_duration_ms"] == 2000
    assert summary["end_offsets"] == {0: 500, 1: 1000}
    assert summary["consumer_lag"] == 20


def test_lag_is_unknown_before_spark_knows_the_latest_offsets():
    assert consumer_lag({"t": {"0": 5}}, None) is None
    assert consumer_lag(None, {"t": {"0": 5, "1": 2}}) == 7


def test_steps_text_lists_each_step_in_order():
    assert steps_text({"records": 4.14, "counts": 0.5}) == "records 4.1 s, counts 0.5 s"
    assert steps_text({}) == "no steps timed"


def test_startup_text_names_the_total_then_each_step():
    startup = {"storage": 0.0, "spark_session": 6.25, "catalog": 1.5, "total": 7.75}
    assert startup_text(startup) == "7.8 s after the start (storage 0.0 s, spark_session 6.2 s, catalog 1.5 s)"
