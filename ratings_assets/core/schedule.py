"""Which hours to aggregate now: closed hours that received rows since their last aggregation.

An hour becomes due once it has closed plus a grace period (events in flight
still land). An hour that gets rows after it was aggregated (late data) is due
again, until it is older than the late-data bound: beyond that, late rows are
stored in reviews.records but no longer re-aggregate their hour on their own
(a manual or backfill materialization still picks them up).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ratings_assets.core.hours import HOUR, hour_from_partition_key


@dataclass(frozen=True)
class Due:
    requests: dict[str, int]  # partition key -> storage id of the newest write it covers
    waiting: dict[str, int]  # still open (or in grace): check again later
    too_late: list[str]  # past the late-data bound: dropped


def due_hours(
    written: dict[str, int],
    aggregated: dict[str, int],
    now: datetime,
    grace: timedelta,
    late_bound: timedelta,
) -> Due:
    """`written`: hour -> newest storage id that wrote to it; `aggregated`: hour -> storage id of its latest aggregation."""
    requests, waiting, too_late = {}, {}, []
    for key, write_id in sorted(written.items()):
        end = hour_from_partition_key(key) + HOUR
        if now < end + grace:
            waiting[key] = write_id
        elif now - end > late_bound:
            too_late.append(key)
        elif aggregated.get(key, -1) < write_id:
            requests[key] = write_id
    return Due(requests, waiting, too_late)
