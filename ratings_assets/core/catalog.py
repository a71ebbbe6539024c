"""The movie catalog: real IMDB movies (ggplot2movies) keyed by a stable `movie_id`.

Titles repeat in the source (remakes, same-name films), so everything joins on
`movie_id`, which is the source's row number and therefore stable as long as
the source file is the same.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import astuple, dataclass, fields
from pathlib import Path

GENRE_COLUMNS = ("Action", "Animation", "Comedy", "Drama", "Documentary", "Romance", "Short")
GENRE_SEPARATOR = "|"


@dataclass(frozen=True)
class Movie:
    movie_id: int
    title: str
    year: int
    duration: int  # minutes
    mpaa: str  # "" when unrated
    genres: str  # GENRE_SEPARATOR-joined, "" when none
    imdb_rating: float
    votes: int

    @property
    def genre_list(self) -> list[str]:
        return self.genres.split(GENRE_SEPARATOR) if self.genres else []


CATALOG_COLUMNS = tuple(f.name for f in fields(Movie))


class CatalogError(ValueError):
    """A catalog or source row that cannot be read; the message names the row."""


def movie_from_source_row(row: dict[str, str]) -> Movie:
    """Map one ggplot2movies.csv row (csv.DictReader) to a Movie."""
    try:
        return Movie(
            movie_id=int(row[""]),
            title=row["title"],
            year=int(row["year"]),
            duration=int(row["length"]),
            mpaa=row["mpaa"],
            genres=GENRE_SEPARATOR.join(g for g in GENRE_COLUMNS if row[g] == "1"),
            imdb_rating=float(row["rating"]),
            votes=int(row["votes"]),
        )
    except (KeyError, ValueError) as exc:
        raise CatalogError(f"bad source row {row.get('', '?')!r}: {exc}") from exc


def movies_from_source(lines: Iterable[str]) -> Iterator[Movie]:
    for row in csv.DictReader(lines):
        yield movie_from_source_row(row)


def movie_from_catalog_row(row: dict[str, str]) -> Movie:
    try:
        return Movie(
            movie_id=int(row["movie_id"]),
            title=row["title"],
            year=int(row["year"]),
            duration=int(row["duration"]),
            mpaa=row["mpaa"],
            genres=row["genres"],
            imdb_rating=float(row["imdb_rating"]),
            votes=int(row["votes"]),
        )
    except (KeyError, ValueError) as exc:
        raise CatalogError(f"bad catalog row {row!r}: {exc}") from exc


def write_catalog(movies: Iterable[Movie], path: Path) -> int:
    """Write movies as data/movies.csv; returns the number written."""
    count = 0
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(CATALOG_COLUMNS)
        for movie in movies:
            writer.writerow(astuple(movie))
            count += 1
    return count


def read_catalog(path: Path) -> dict[int, Movie]:
    """Load data/movies.csv into a dict by movie_id; duplicate ids are an error."""
    catalog: dict[int, Movie] = {}
    with path.open(newline="", encoding="utf-8") as src:
        for row in csv.DictReader(src):
            movie = movie_from_catalog_row(row)
            if movie.movie_id in catalog:
                raise CatalogError(f"duplicate movie_id {movie.movie_id} in {path}")
            catalog[movie.movie_id] = movie
    if not catalog:
        raise CatalogError(f"{path} holds no movies")
    return catalog
