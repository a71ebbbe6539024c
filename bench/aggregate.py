"""Hourly aggregate: wall time of materializing one hour partition of `hourly_user_ratings` with Dagster.

Exactly what a run of the asset does (read the hour's users from users_by_hour, their rows from records,
aggregate in Python, write both aggregate tables, run the count check
against `records`), in process, on a throw-away Dagster instance.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from ratings_assets.core.hours import partition_key
from ratings_assets.resources.cassandra import CassandraResource


# The run's events would otherwise be printed at DEBUG level, in the middle of the benchmark's report.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass(frozen=True)
class AggregateResult:
    hour: str
    ratings: int
    users: int
    seconds: float  # dagster.materialize, start to finish
    asset_seconds: float  # the asset body's own timer (metadata "seconds")


def materialize_hour(cassandra: CassandraResource, hour: datetime) -> AggregateResult:
    import dagster as dg

    from ratings_assets.defs.hourly import hourly_user_ratings

    key = partition_key(hour)
    # Disposed here, in this thread: left to the garbage collector, its in-memory SQLite would be
    # closed from whichever thread collects it (py4j's, the feed's) and log errors.
    with dg.DagsterInstance.ephemeral() as instance:
        started = time.monotonic()
        result = dg.materialize([hourly_user_ratings], partition_key=key, resources={"cassandra": cassandra},
                                instance=instance, raise_on_error=True, run_config=QUIET)
        seconds = time.monotonic() - started
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    return AggregateResult(key, metadata["ratings"].value, metadata["users"].value, seconds, metadata["seconds"].value)


def warm_up() -> None:
    """Import Dagster and the definitions before the clock starts (seconds the first time)."""
    import dagster  # noqa: F401

    from ratings_assets.defs import hourly  # noqa: F401
