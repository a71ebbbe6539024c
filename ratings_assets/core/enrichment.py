"""Events enriched with their movie, in Arrow: the catalog lookup of the stream's validation pass.

The catalog is one small Arrow table, shipped to each Spark worker once (a
broadcast variable) and looked up by `movie_id` inside the same `mapInArrow`
pass that validates the messages, so a micro-batch needs no join, no
broadcast exchange and no shuffle. A valid event whose id is not in the
catalog becomes an UNKNOWN_MOVIE reject; a message's raw bytes are kept only
for rejects (their dead letters need them).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv

from ratings_assets.core.catalog import GENRE_SEPARATOR, CatalogError
from ratings_assets.core.events import Reason

MOVIE_FIELDS = [
    ("title", pa.string()),
    ("duration", pa.int32()),
    ("year", pa.int32()),
    ("genres", pa.list_(pa.string())),
    ("mpaa", pa.string()),
]
MOVIE_SCHEMA = "title string, duration int, year int, genres array<string>, mpaa string"


_CSV_TYPES = {"movie_id": pa.int32(), "title": pa.string(), "year": pa.int32(), "duration": pa.int32(),
              "mpaa": pa.string(), "genres": pa.string()}


def read_catalog_table(path: Path) -> pa.Table:
    """data/movies.csv as the lookup table: movie_id and the movie columns records stores.

    Read by Arrow's CSV reader (the start-up of every stream pays it); the same
    rules as `read_catalog`: typed columns, unique ids, at least one movie.
    """
    try:
        raw = csv.read_csv(path, convert_options=csv.ConvertOptions(
            column_types=_CSV_TYPES, include_columns=list(_CSV_TYPES), strings_can_be_null=False))
    except (pa.ArrowInvalid, KeyError, FileNotFoundError) as exc:
        raise CatalogError(f"cannot read the movie catalog {path}: {exc}") from exc
    if raw.num_rows == 0:
        raise CatalogError(f"{path} holds no movies")
    if pc.count_distinct(raw.column("movie_id")).as_py() != raw.num_rows:
        raise CatalogError(f"duplicate movie_id in {path}")
    genres = raw.column("genres")
    no_genre = pa.scalar([], pa.list_(pa.string()))
    return pa.table({
        "movie_id": raw.column("movie_id"),
        "title": raw.column("title"),
        "duration": raw.column("duration"),
        "year": raw.column("year"),
        "genres": pc.if_else(pc.equal(genres, ""), no_genre, pc.split_pattern(genres, GENRE_SEPARATOR)),
        "mpaa": pc.if_else(pc.equal(raw.column("mpaa"), ""), pa.scalar(None, pa.string()), raw.column("mpaa")),
    }).combine_chunks()


def enrich_batch(batch: pa.RecordBatch, catalog: pa.Table) -> pa.RecordBatch:
    """A validated batch (movie_id, error, error_detail, value, ...) with the movie columns appended."""
    found = pc.index_in(batch.column("movie_id"), value_set=catalog.column("movie_id"))
    error = batch.column("error")
    unknown = pc.and_(pc.is_null(error), pc.is_null(found))
    if pc.any(unknown).as_py():
        detail = pc.binary_join_element_wise(
            "movie_id ", pc.cast(batch.column("movie_id"), pa.string()), " is not in the catalog", "")
        error = pc.if_else(unknown, pa.scalar(str(Reason.UNKNOWN_MOVIE)), error)
        batch = _replace(batch, "error_detail", pc.if_else(unknown, detail, batch.column("error_detail")))
        batch = _replace(batch, "error", error)
    batch = _replace(batch, "value", pc.if_else(pc.is_null(error), pa.scalar(None, pa.binary()), batch.column("value")))
    movies = catalog.take(found)
    columns = [*batch.columns, *(movies.column(name).combine_chunks() for name, _ in MOVIE_FIELDS)]
    return pa.RecordBatch.from_arrays(columns, schema=pa.schema([*batch.schema, *MOVIE_FIELDS]))


def _replace(batch: pa.RecordBatch, name: str, column: pa.Array) -> pa.RecordBatch:
    index = batch.schema.get_field_index(name)
    return pa.RecordBatch.from_arrays(
        [column if i == index else batch.column(i) for i in range(batch.num_columns)], schema=batch.schema)
