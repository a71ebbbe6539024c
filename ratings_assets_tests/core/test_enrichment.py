import pyarrow as pa
import pytest

from ratings_assets.core.catalog import CatalogError, read_catalog
from ratings_assets.core.enrichment import enrich_batch, read_catalog_table
from ratings_assets.paths import CATALOG_CSV

HEADER = "movie_id,title,year,duration,mpaa,genres,imdb_rating,votes\n"


def test_the_arrow_catalog_holds_what_the_python_reader_reads():
    movies = read_catalog(CATALOG_CSV)
    table = read_catalog_table(CATALOG_CSV).to_pylist()
    assert len(table) == len(movies)
    for row in table:
        movie = movies[row["movie_id"]]
        assert (row["title"], row["duration"], row["year"], row["genres"], row["mpaa"]) == (
            movie.title, movie.duration, movie.year, movie.genre_list, movie.mpaa or None)


@pytest.mark.parametrize("body, message", [
    ("", "holds no movies"),
    ("1,A,1999,90,,Drama,7.0,10\n1,B,2000,95,R,,6.0,3\n", "duplicate movie_id"),
    ("1,A,nineteen,90,,Drama,7.0,10\n", "cannot read the movie catalog"),
])
def test_a_bad_catalog_is_refused_with_the_reason(tmp_path, body, message):
    path = tmp_path / "movies.csv"
    path.write_text(HEADER + body)
    with pytest.raises(CatalogError, match=message):
        read_catalog_table(path)


def test_lookup_appends_the_movie_and_rejects_unknown_ids(tmp_path):
    path = tmp_path / "movies.csv"
    path.write_text(HEADER + '7,"Alien, the",1979,117,R,Horror|Sci-Fi,8.5,1000\n8,Cube,1997,90,,,7.2,50\n')
    batch = pa.RecordBatch.from_pydict({
        "movie_id": pa.array([7, 99, None, 8], pa.int32()),
        "error": pa.array([None, None, "not_json", None], pa.string()),
        "error_detail": pa.array([None, None, "line 1", None], pa.string()),
        "value": pa.array([b"a", b"b", b"c", b"d"], pa.binary()),
    })
    rows = enrich_batch(batch, read_catalog_table(path)).to_pylist()
    assert rows == [
        {"movie_id": 7, "error": None, "error_detail": None, "value": None, "title": "Alien, the", "duration": 117,
         "year": 1979, "genres": ["Horror", "Sci-Fi"], "mpaa": "R"},
        {"movie_id": 99, "error": "unknown_movie", "error_detail": "movie_id 99 is not in the catalog", "value": b"b",
         "title": None, "duration": None, "year": None, "genres": None, "mpaa": None},
        {"movie_id": None, "error": "not_json", "error_detail": "line 1", "value": b"c", "title": None,
         "duration": None, "year": None, "genres": None, "mpaa": None},
        {"movie_id": 8, "error": None, "error_detail": None, "value": None, "title": "Cube", "duration": 90,
         "year": 1997, "genres": [], "mpaa": None},
    ]
