"""The rows of the `users_by_hour` index a micro-batch writes: each (hour, bucket, name) once.

Runs inside Spark (`mapInArrow`) over one task's valid rows, so the index
costs one write per user and hour per task instead of one per event, and no
shuffle is needed to find them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from ratings_assets.core.tables import USERS_BY_HOUR_COLUMNS

INDEX_SCHEMA = "hour timestamp, bucket int, name string"


def distinct_user_hours(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """(hour, bucket, name, ...) batches -> one batch of their distinct (hour, bucket, name) rows."""
    tables = [pa.Table.from_batches([batch]).select(list(USERS_BY_HOUR_COLUMNS)) for batch in batches]
    if not tables:
        return
    rows = pa.concat_tables(tables).group_by(list(USERS_BY_HOUR_COLUMNS), use_threads=False).aggregate([])
    yield from rows.select(list(USERS_BY_HOUR_COLUMNS)).combine_chunks().to_batches()
