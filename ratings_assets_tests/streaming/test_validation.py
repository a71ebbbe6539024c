import json
from datetime import datetime, timezone

import pyarrow as pa

from ratings_assets.core.catalog import Movie
from ratings_assets.generator.ratings import RatingFactory
from ratings_assets.streaming.validation import validate_batches

NOW = datetime.now(timezone.utc)


def validated_rows(batch: pa.RecordBatch) -> list[dict]:
    """Every output row, in offset order (canonical events and the others come out in separate batches)."""
    rows = [row for out in validate_batches(iter([batch])) for row in out.to_pylist()]
    return sorted(rows, key=lambda row: row["offset"])


def test_batches_keep_valid_events_and_explain_the_rest():
    event = RatingFactory([Movie(5, "Heat", 1995, 170, "R", "Action", 8.0, 100)], ["Ada"], seed=1).make(NOW)
    values = [event.to_json(), b"{oops", None, b'{"rating": 3}']
    batch = pa.RecordBatch.from_pydict(
        {"value": values, "partition": pa.array([0, 0, 1, 1], pa.int32()), "offset": pa.array([10, 11, 12, 13], pa.int64())}
    )
    rows = validated_rows(batch)
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
    assert [r["error"] for r in validated_rows(batch)] == [
        "malformed_json", "bad_name", "unexpected_field", "bad_timestamp", None]


def test_canonical_and_other_events_come_out_alike():
    """The same event, once as the generator writes it (read by Arrow) and once re-spaced (read by parse_event)."""
    event = RatingFactory([Movie(5, "Heat", 1995, 170, "R", "Action", 8.0, 100)], ["Ada"], seed=1).make(NOW)
    spaced = json.dumps(json.loads(event.to_json())).encode()
    batch = pa.RecordBatch.from_pydict(
        {"value": [event.to_json(), spaced], "partition": pa.array([0, 0], pa.int32()),
         "offset": pa.array([1, 2], pa.int64())}
    )
    assert len(list(validate_batches(iter([batch])))) == 2
    fast, slow = validated_rows(batch)
    assert fast["value"] == event.to_json() and slow["value"] == spaced
    assert {**fast, "value": None, "offset": None} == {**slow, "value": None, "offset": None}
    assert fast["event_id"] == event.event_id and fast["time"] == event.time and fast["error"] is None
