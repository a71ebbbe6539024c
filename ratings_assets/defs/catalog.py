"""The movie catalog asset: data/movies.csv, the enrichment source of the stream."""

from collections import Counter
from pathlib import Path

import dagster as dg

from ratings_assets import settings
from ratings_assets.core.catalog import read_catalog


@dg.asset(
    key="movie_catalog",
    group_name="ratings",
    kinds={"csv"},
    owners=["team:data-platform"],
    description="58,788 IMDB movies (ggplot2movies) keyed by movie_id; the stream joins on this id.",
)
def movie_catalog() -> dg.MaterializeResult:
    """Validates data/movies.csv and records its shape; the stream broadcasts it to every batch."""
    path = Path(settings.CATALOG.value())
    catalog = read_catalog(path)
    titles = Counter(movie.title for movie in catalog.values())
    sample = list(catalog.values())[:: max(1, len(catalog) // 10)][:10]
    preview = "\n".join(
        ["| movie_id | title | year | duration | genres |", "|---|---|---|---|---|"]
        + [f"| {m.movie_id} | {m.title} | {m.year} | {m.duration} | {m.genres} |" for m in sample]
    )
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "movies": len(catalog),
            "repeated_titles": sum(1 for n in titles.values() if n > 1),
            "preview": dg.MetadataValue.md(preview),
        }
    )
