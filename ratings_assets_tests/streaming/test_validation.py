import json
from datetime import datetime, timezone

import pyarrow as pa

from ratings_assets.core.catalog import Movie
from ratings_assets.generator.ratings import RatingFactory
from ratings_assets.streaming.validation import validate_batches

NOW = datetime.now(timezone.utc)


def test_batches_keep_valid_events_and_explain_the_rest():
    event = RatingFactory([Movie(5, "Heat", 1995, 170, "R", "Action", 8.0, 100)], ["Ada"], seed=1).make(NOW)
    values = [event.to_json(), b"{oops", None, b'{"rating": 3}']
    batch = pa.RecordBatch.from_pydict(
        {"value": values, "partition": pa.array([0, 0, 1, 1], pa.int32()), "offset": pa.array([10, 11, 12, 13], pa.int64())}
    )
    (out,) = list(validate_batches(iter([batch])))
    rows = out.to_pylist()
    assert [r["error"] for r in rows] == [None, "malformed_json", "malformed_json", "missing_field"]
    assert rows[0]["event_id"] == event.event_id and rows[0]["rating"] == event.rating
    assert rows[0]["hour"] == event.hour and rows[0]["time"] == event.time
    assert [r["offset"] for r in rows] == [10, 11, 12, 13]
    assert rows[1]["value"] == b"{oops" and rows[1]["event_id"] is None


def test_inputs_that_used_to_fail_the_whole_batch_are_rejected_one_by_one():
    event = RatingFactory([Movie(5, "Heat", 1995, 170, "R", "Action", 8.0, 100)], ["Ada"], seed=1).make(NOW)
    good = json.loads(event.to_json())
    values = [
        b"[" * 100_000 + b"]" * 100_000,
        json.dumps({**good, "name": "Ada \ud800"}).encode(),
        json.dumps({**good, "x\udfff": 1}).encode(),
        json.dumps({**good, "timestamp": "0001-01-01T00:00:00+14:00"}).encode(),
        event.to_json(),
    ]
    batch = pa.RecordBatch.from_pydict(
        {"value": values, "partition": pa.array([0] * 5, pa.int32()), "offset": pa.array(range(5), pa.int64())}
    )
    (out,) = list(validate_batches(iter([batch])))
    assert [r["error"] for r in out.to_pylist()] == [
        "malformed_json", "bad_name", "unexpected_field", "bad_timestamp", None]
