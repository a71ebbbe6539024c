from datetime import datetime, timedelta, timezone

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from ratings_assets.core.tables import hour_bucket
from ratings_assets.core.user_index import distinct_user_hours

HOUR = datetime(2026, 3, 1, 9, tzinfo=timezone.utc)
ratings = st.lists(st.tuples(st.sampled_from(["Ada", "Bob", "Zoë", "東京"]), st.integers(0, 3)), max_size=40)


def batch(rows: list[tuple[str, int]]) -> pa.RecordBatch:
    """Valid rows as a micro-batch has them: hour, bucket, name and other columns the index leaves out."""
    return pa.RecordBatch.from_pydict({
        "name": pa.array([name for name, _ in rows], pa.string()),
        "rating": pa.array([7] * len(rows), pa.int32()),
        "hour": pa.array([HOUR + timedelta(hours=h) for _, h in rows], pa.timestamp("us", tz="UTC")),
        "bucket": pa.array([hour_bucket(name) for name, _ in rows], pa.int32()),
    })


@given(st.lists(ratings, max_size=4))
def test_each_user_hour_of_a_task_comes_out_once(batches):
    out = [row for b in distinct_user_hours(iter(map(batch, batches))) for row in b.to_pylist()]
    expected = {(HOUR + timedelta(hours=h), hour_bucket(name), name) for rows in batches for name, h in rows}
    assert sorted((r["hour"], r["bucket"], r["name"]) for r in out) == sorted(expected)
    assert all(list(r) == ["hour", "bucket", "name"] for r in out)
