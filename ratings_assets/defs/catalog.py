"""The movie catalog asset: data/movies.csv, the enrichment source of the stream."""

from collections import Counter
from pathlib import Path

import dagster as dg
from pydantic import Field

from ratings_assets import settings
from ratings_assets.core.catalog import read_catalog
from ratings_assets.defs.automation import once_when_missing


class CatalogConfig(dg.Config):
    path: str = Field(default=settings.CATALOG.value(), description="movie catalog CSV (RATINGS_CATALOG)")


@dg.asset(
    key="movie_catalog",
    automation_condition=once_when_missing(),
    group_name="ratings",
    kinds={"csv"},
    owners=["team:data-platform"],
    description="58,788 IMDB movies (ggplot2movies) keyed by movie_id; the stream joins on this id.",
)
def movie_catalog(config: CatalogConfig) -> dg.MaterializeResult:
    """Validates data/movies.csv and records its shape; the stream broadcasts it to every batch."""
    path = Path(config.path)
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
