import csv
from collections import Counter

import pytest

from ratings_assets.core.catalog import CatalogError, movies_from_source, read_catalog, write_catalog
from ratings_assets.paths import CATALOG_CSV


def test_committed_catalog_holds_every_source_movie_with_unique_ids():
    catalog = read_catalog(CATALOG_CSV)
    assert len(catalog) == 58788
    titles = Counter(movie.title for movie in catalog.values())
    assert sum(1 for n in titles.values() if n > 1) == 2285
    assert titles["Alice in Wonderland"] == 7


def test_catalog_values_match_the_source_rows(source_dataset):
    catalog = read_catalog(CATALOG_CSV)
    with source_dataset.open(encoding="utf-8") as src:
        rows = list(csv.DictReader(src))
    for row in rows[:: 997]:
        movie = catalog[int(row[""])]
        assert (movie.title, movie.year, movie.duration, movie.mpaa) == (
            row["title"], int(row["year"]), int(row["length"]), row["mpaa"])
        assert set(movie.genre_list) == {g for g in ("Action", "Animation", "Comedy", "Drama", "Documentary", "Romance", "Short") if row[g] == "1"}


def test_rebuilding_from_the_source_gives_the_committed_file(tmp_path, source_dataset):
    with source_dataset.open(encoding="utf-8") as src:
        write_catalog(movies_from_source(src), tmp_path / "movies.csv")
    assert (tmp_path / "movies.csv").read_bytes() == CATALOG_CSV.read_bytes()


def test_bad_and_duplicate_rows_are_named(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("movie_id,title,year,duration,mpaa,genres,imdb_rating,votes\n1,A,19x9,90,,,5.0,3\n")
    with pytest.raises(CatalogError, match="19x9"):
        read_catalog(bad)
    dup = tmp_path / "dup.csv"
    dup.write_text("movie_id,title,year,duration,mpaa,genres,imdb_rating,votes\n1,A,1999,90,,,5.0,3\n1,B,1999,90,,,5.0,3\n")
    with pytest.raises(CatalogError, match="duplicate movie_id 1"):
        read_catalog(dup)
