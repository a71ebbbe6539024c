from datetime import datetime, timedelta, timezone

import pytest

from ratings_assets.core.hours import hour_from_partition_key, hour_of, hours_in, partition_key

UTC = timezone.utc


def test_last_millisecond_stays_in_its_hour_and_the_next_starts_a_new_one():
    assert hour_of(datetime(2025, 3, 15, 10, 59, 59, 999000, tzinfo=UTC)) == datetime(2025, 3, 15, 10, tzinfo=UTC)
    assert hour_of(datetime(2025, 3, 15, 11, 0, 0, 0, tzinfo=UTC)) == datetime(2025, 3, 15, 11, tzinfo=UTC)


@pytest.mark.parametrize("offset_hours, utc_hour", [(2, 8), (-5, 15), (5.5, 5)])
def test_other_offsets_go_to_the_utc_hour(offset_hours, utc_hour):
    zone = timezone(timedelta(hours=offset_hours))
    assert hour_of(datetime(2025, 3, 15, 10, 45, tzinfo=zone)).hour == utc_hour


def test_offset_crossing_midnight_changes_the_day():
    ts = datetime(2025, 3, 15, 0, 30, tzinfo=timezone(timedelta(hours=3)))
    assert hour_of(ts) == datetime(2025, 3, 14, 21, tzinfo=UTC)


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="no UTC offset"):
        hour_of(datetime(2025, 3, 15, 10))


def test_hours_in_a_range():
    start = datetime(2025, 3, 15, 10, 20, tzinfo=UTC)
    assert [h.hour for h in hours_in(start, start + timedelta(hours=2))] == [10, 11, 12]


def test_partition_keys_match_dagster_hourly_format_and_round_trip():
    hour = datetime(2025, 3, 15, 10, tzinfo=UTC)
    assert partition_key(hour) == "2025-03-15-10:00"
    assert hour_from_partition_key("2025-03-15-10:00") == hour
