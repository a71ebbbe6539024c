"""Validation and enrichment of raw Kafka messages inside Spark, with the project's one parser.

`ValidateAndEnrich` runs on the executors through `DataFrame.mapInArrow`: each
message comes out either as a typed event with its movie (looked up in the
broadcast catalog, `core.enrichment`) or with the reason it was rejected, next
to its Kafka coordinates and, for rejects, its original bytes (for the
dead-letter topic). Messages in the generator's exact form are read a batch at
a time by `core.canonical_events`; all others go through
`core.events.parse_event`, one by one. The results are the same; only the cost
differs.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.compute as pc
from pyspark import Broadcast

from ratings_assets.core.canonical_events import read_canonical
from ratings_assets.core.enrichment import MOVIE_SCHEMA, enrich_batch
from ratings_assets.core.events import InvalidEvent, parse_event
from ratings_assets.core.tables import hour_bucket

VALIDATED_SCHEMA = (
    "event_id string, name string, movie_id int, event_movie string, time timestamp, "
    "hour timestamp, bucket int, rating int, error string, error_detail string, "
    "value binary, partition int, offset long"
)

ENRICHED_SCHEMA = f"{VALIDATED_SCHEMA}, {MOVIE_SCHEMA}"

_EVENT_COLUMNS = ("event_id", "name", "movie_id", "event_movie", "time", "hour", "bucket", "rating")
_ROW_COLUMNS = (*_EVENT_COLUMNS, "error", "error_detail")
_NO_EVENT = (None,) * len(_EVENT_COLUMNS)
_ARROW_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("name", pa.string()),
        ("movie_id", pa.int32()),
        ("event_movie", pa.string()),
        ("time", pa.timestamp("us", tz="UTC")),
        ("hour", pa.timestamp("us", tz="UTC")),
        ("bucket", pa.int32()),
        ("rating", pa.int32()),
        ("error", pa.string()),
        ("error_detail", pa.string()),
        ("value", pa.binary()),
        ("partition", pa.int32()),
        ("offset", pa.int64()),
    ]
)


def validate_rows(values: list[bytes | None], now: datetime) -> dict[str, list]:
    """Column lists for a batch of message values: event fields or an error per row."""
    rows = []
    for raw in values:
        try:
            event = parse_event(raw if raw is not None else b"", now=now)
        except InvalidEvent as exc:
            rows.append((*_NO_EVENT, str(exc.reason), exc.detail))
            continue
        rows.append((event.event_id, event.name, event.movie_id, event.movie, event.time, event.hour,
                     hour_bucket(event.name), event.rating, None, None))
    columns = zip(*rows) if rows else [[]] * len(_ROW_COLUMNS)
    return dict(zip(_ROW_COLUMNS, map(list, columns)))


def validate_batch(batch: pa.RecordBatch, now: datetime) -> Iterator[pa.RecordBatch]:
    """One (value, partition, offset) batch -> VALIDATED_SCHEMA batches: the canonical events, then the others."""
    canonical = read_canonical(batch.column("value"), now)
    if canonical.read.true_count:
        read = batch.filter(canonical.read)
        columns = dict(canonical.columns)
        columns["event_movie"] = columns.pop("movie")
        no_error = pa.nulls(read.num_rows, pa.string())
        yield _with_coordinates({**columns, "error": no_error, "error_detail": no_error}, read)
    if canonical.read.false_count:
        rest = batch.filter(pc.invert(canonical.read))
        yield _with_coordinates(validate_rows(rest.column("value").to_pylist(), now), rest)


def validate_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """mapInArrow function: (value, partition, offset) batches -> VALIDATED_SCHEMA batches."""
    for batch in batches:
        yield from validate_batch(batch, datetime.now(timezone.utc))


class Enrich:
    """mapInArrow function: VALIDATED_SCHEMA batches -> ENRICHED_SCHEMA, the catalog (an Arrow table) broadcast."""

    def __init__(self, catalog: Broadcast):
        self.catalog = catalog  # pickled as its id: each Python worker loads the table once

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            yield enrich_batch(batch, self.catalog.value)


class ValidateAndEnrich(Enrich):
    """mapInArrow function of the stream: (value, partition, offset) batches -> ENRICHED_SCHEMA, in one pass."""

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        return super().__call__(validate_batches(batches))


def _with_coordinates(columns: dict, batch: pa.RecordBatch) -> pa.RecordBatch:
    """Validated columns, next to the messages' own value, partition and offset."""
    coordinates = {key: batch.column(key) for key in ("value", "partition", "offset")}
    return pa.RecordBatch.from_pydict({**columns, **coordinates}, schema=_ARROW_SCHEMA)
