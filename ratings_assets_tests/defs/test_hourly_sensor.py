"""The hourly automation sensor against a real (temporary) Dagster instance."""

from datetime import datetime, timedelta, timezone

import dagster as dg
import pytest

from ratings_assets.core.hours import hour_of, partition_key
from ratings_assets.defs.hourly import HOURLY_KEY, hourly_aggregates_sensor
from ratings_assets.defs.records import RECORDS_KEY

NOW_HOUR = hour_of(datetime.now(timezone.utc))
CLOSED = partition_key(NOW_HOUR - timedelta(hours=2))
OPEN = partition_key(NOW_HOUR)


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def stream_wrote(instance, *hours):
    instance.report_runless_asset_event(
        dg.AssetObservation(asset_key=RECORDS_KEY, metadata={"hours_written": ",".join(hours)})
    )


def evaluate(instance, cursor=None):
    return hourly_aggregates_sensor(dg.build_sensor_context(instance=instance, cursor=cursor))


def test_closed_hours_with_rows_are_aggregated_open_ones_wait(instance):
    stream_wrote(instance, CLOSED, OPEN)
    result = evaluate(instance)
    assert [r.partition_key for r in result.run_requests] == [CLOSED]
    again = evaluate(instance, result.cursor)
    assert not again.run_requests


def test_late_rows_for_an_aggregated_hour_re_aggregate_it(instance):
    stream_wrote(instance, CLOSED)
    first = evaluate(instance)
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=HOURLY_KEY, partition=CLOSED))
    assert not evaluate(instance, first.cursor).run_requests
    stream_wrote(instance, CLOSED)  # late events for that hour
    late = evaluate(instance, first.cursor)
    assert [r.partition_key for r in late.run_requests] == [CLOSED]
    assert late.run_requests[0].run_key != first.run_requests[0].run_key


def test_hours_past_the_late_bound_are_left_alone(instance):
    stream_wrote(instance, partition_key(NOW_HOUR - timedelta(days=5)))
    assert not evaluate(instance).run_requests
