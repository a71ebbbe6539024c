"""The per-run choices of the streaming query: the job's run config, and `ratings stream`'s options.

Where the query reads and writes is not here: that is the Kafka and
Cassandra resources' business. Defaults come from the settings, once.
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from ratings_assets import settings


class StreamConfig(dg.Config):
    """How one run of the streaming query behaves (editable in the launchpad)."""

    trigger_seconds: float = Field(
        default=settings.TRIGGER_SECONDS.value(), gt=0, description="micro-batch trigger interval (RATINGS_TRIGGER_SECONDS)")
    checkpoint_dir: str = Field(
        default=settings.checkpoint_dir(),
        description="checkpoint folder: a restarted query resumes from it (RATINGS_CHECKPOINT_DIR)")
    max_offsets_per_trigger: int = Field(
        default=settings.MAX_OFFSETS_PER_TRIGGER.value(), gt=0,
        description="cap on the Kafka records one micro-batch reads (RATINGS_MAX_OFFSETS_PER_TRIGGER)")
    first_batch_max_offsets: int = Field(
        default=settings.FIRST_BATCH_MAX_OFFSETS.value(), ge=0,
        description="cap on the first batch of a catch-up, so the first rows come before a cold Spark works through "
                    "a whole backlog batch; 0 for none (RATINGS_FIRST_BATCH_MAX_OFFSETS)")
    available_now: bool = Field(
        default=False, description="drain what the topic holds, then stop (catch-up runs, tests, benchmarks)")
    catch_up: bool = Field(
        default=True, description="read a backlog in back-to-back batches before switching to the interval's trigger")
    catalog_path: str = Field(default=settings.CATALOG.value(), description="movie catalog CSV (RATINGS_CATALOG)")
    starting_offsets: str = Field(
        default="earliest", description="where a query without a checkpoint starts reading: earliest or latest")
    query_name: str = Field(default="ratings_to_cassandra", description="name of the query in Spark's UI and logs")
