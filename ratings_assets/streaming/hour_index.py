"""The rows of the hour index (`users_by_hour`) in a micro-batch, found without a shuffle.

The index gets one row per user, hour and micro-batch. The topic is keyed by
user, so a batch's events of one user are all in one Kafka partition, which
is one Spark task: dropping repeats inside each task finds every repeat, where
`dropDuplicates` would add a shuffle stage to every micro-batch. A user whose
events do sit in two partitions (messages keyed otherwise, partitions added
later) gets the same index row written twice: an upsert, stored once.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from ratings_assets.core.tables import USERS_BY_HOUR_COLUMNS

INDEX_SCHEMA = "hour timestamp, bucket int, name string"


def distinct_rows(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """mapInArrow function: a task's (hour, bucket, name) rows, each once."""
    batches = list(batches)
    if not batches:
        return
    table = pa.Table.from_batches(batches).select(list(USERS_BY_HOUR_COLUMNS))
    yield from table.group_by(list(USERS_BY_HOUR_COLUMNS)).aggregate([]).select(list(USERS_BY_HOUR_COLUMNS)).to_batches()
