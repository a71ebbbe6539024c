"""The hour index's rows of a task: every (hour, bucket, name) once, checked against a Python set."""

import random
from datetime import datetime, timedelta, timezone

import pyarrow as pa

from ratings_assets.core.tables import USERS_BY_HOUR_COLUMNS
from ratings_assets.streaming.hour_index import INDEX_SCHEMA, distinct_rows

ARROW = pa.schema([("hour", pa.timestamp("us", tz="UTC")), ("bucket", pa.int32()), ("name", pa.string())])


def _batches(rows: list[tuple], size: int) -> list[pa.RecordBatch]:
    return [pa.RecordBatch.from_pylist([dict(zip(USERS_BY_HOUR_COLUMNS, row)) for row in rows[i:i + size]],
                                       schema=ARROW) for i in range(0, len(rows), size)]


def test_each_row_comes_out_once_whatever_batch_it_repeats_in():
    rng = random.Random(3)
    start = datetime(2026, 12, 1, tzinfo=timezone.utc)
    rows = [(start + timedelta(hours=rng.randrange(3)), rng.randrange(8), f"user {rng.randrange(40)}")
            for _ in range(2_000)]
    out = pa.Table.from_batches(list(distinct_rows(iter(_batches(rows, 300)))))
    got = [tuple(row.values()) for row in out.to_pylist()]
    assert len(got) == len(set(got)) == len(set(rows))
    assert set(got) == set(rows)


def test_the_output_columns_are_the_index_table_s_in_its_schema_order():
    rows = [(datetime(2026, 12, 1, tzinfo=timezone.utc), 1, "Ann")] * 3
    out = list(distinct_rows(iter(_batches(rows, 2))))
    assert [out[0].schema.field(i).name for i in range(3)] == list(USERS_BY_HOUR_COLUMNS)
    assert [part.split()[0] for part in INDEX_SCHEMA.split(", ")] == list(USERS_BY_HOUR_COLUMNS)


def test_an_empty_task_yields_nothing():
    assert list(distinct_rows(iter([]))) == []
