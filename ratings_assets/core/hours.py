"""Hour bucketing: every rating belongs to the UTC hour of its event time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

HOUR = timedelta(hours=1)
# Dagster's HourlyPartitionsDefinition key format.
PARTITION_KEY_FORMAT = "%Y-%m-%d-%H:%M"


def to_utc(ts: datetime) -> datetime:
    """An aware datetime in UTC; naive datetimes are refused, never guessed."""
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"timestamp {ts.isoformat()} has no UTC offset")
    return ts.astimezone(timezone.utc)


def hour_of(ts: datetime) -> datetime:
    """The start of the UTC hour holding `ts` (13:59:59.999+00:00 -> 13:00, 14:00:00.000 -> 14:00)."""
    utc = to_utc(ts)
    return datetime(utc.year, utc.month, utc.day, utc.hour, tzinfo=timezone.utc)


def hours_in(start: datetime, end: datetime) -> Iterator[datetime]:
    """The UTC hour starts h with start <= h < end (start is rounded down to its hour)."""
    hour = hour_of(start)
    end = to_utc(end)
    while hour < end:
        yield hour
        hour += HOUR


def partition_key(hour: datetime) -> str:
    return hour_of(hour).strftime(PARTITION_KEY_FORMAT)


def hour_from_partition_key(key: str) -> datetime:
    return datetime.strptime(key, PARTITION_KEY_FORMAT).replace(tzinfo=timezone.utc)
