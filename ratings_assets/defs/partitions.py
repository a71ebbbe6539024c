"""Hour partitions, UTC: `reviews/records` fills its hours as the stream writes them, the aggregates follow.

Dagster's hourly partitions end at the last complete hour; the records also
have the open hour (end_offset=1), where the stream is writing now. The first
hour is RATINGS_HOURLY_START (`make run` pins it to the start of its history),
so the partitions view shows hours that can hold data.
"""

from datetime import timedelta

import dagster as dg

from ratings_assets import settings

RECORDS_PARTITIONS = dg.HourlyPartitionsDefinition(
    start_date=settings.HOURLY_START.value(), timezone="UTC", end_offset=1)
HOURLY_PARTITIONS = dg.HourlyPartitionsDefinition(start_date=settings.HOURLY_START.value(), timezone="UTC")
# An hour is aggregated this long after it closed (the batch in flight lands first), and re-aggregated after
# late rows until this long after it closed.
GRACE = timedelta(minutes=settings.AGGREGATE_GRACE_MINUTES.value())
LATE_DATA_BOUND = timedelta(hours=settings.LATE_DATA_HOURS.value())
