"""The automation conditions of the definitions, evaluated on a real (temporary) instance at fixed times."""

from datetime import datetime, timedelta, timezone

import dagster as dg
import pytest

from ratings_assets.definitions import defs
from ratings_assets.defs.hourly import GRACE, HOURLY_KEY, LATE_DATA_BOUND
from ratings_assets.defs.records import RECORDS_KEY

DEFS = defs()
T0 = datetime(2026, 3, 10, 10, 20, tzinfo=timezone.utc)  # hour 10:00 is open


def key(hour: datetime) -> str:
    return hour.strftime("%Y-%m-%d-%H:%M")


class Clock:
    """Evaluates the automation sensor's conditions at chosen times, carrying its cursor."""

    def __init__(self, instance):
        self.instance, self.cursor = instance, None

    def tick(self, at: datetime) -> dg.EvaluateAutomationConditionsResult:
        result = dg.evaluate_automation_conditions(defs=DEFS, instance=self.instance, cursor=self.cursor,
                                                   evaluation_time=at)
        self.cursor = result.cursor
        return result

    def hours_requested(self, at: datetime) -> list[str]:
        return sorted(self.tick(at).get_requested_partitions(HOURLY_KEY))


def stream_wrote(instance, *hours: datetime) -> None:
    for hour in hours:
        instance.report_runless_asset_event(dg.AssetMaterialization(RECORDS_KEY, partition=key(hour)))


def aggregated(instance, *hours: datetime) -> None:
    for hour in hours:
        instance.report_runless_asset_event(dg.AssetMaterialization(HOURLY_KEY, partition=key(hour)))


@pytest.fixture
def clock():
    with dg.instance_for_test() as instance:
        yield Clock(instance)


def test_closed_hours_with_rows_are_requested_and_the_open_hour_is_not(clock):
    hour = T0.replace(minute=0)
    assert clock.hours_requested(T0) == []
    stream_wrote(clock.instance, hour - timedelta(hours=2), hour - timedelta(hours=1), hour)
    assert clock.hours_requested(T0 + timedelta(minutes=1)) == [key(hour - timedelta(hours=2)),
                                                                 key(hour - timedelta(hours=1))]


def test_an_hour_is_requested_once_its_grace_has_passed_and_not_again_without_new_rows(clock):
    hour = T0.replace(minute=0)
    stream_wrote(clock.instance, hour)
    assert clock.hours_requested(T0) == []
    closed = hour + timedelta(hours=1)
    assert clock.hours_requested(closed + GRACE / 2) == []
    assert clock.hours_requested(closed + GRACE + timedelta(seconds=30)) == [key(hour)]
    aggregated(clock.instance, hour)
    assert clock.hours_requested(closed + GRACE + timedelta(minutes=1)) == []


def test_late_rows_re_request_their_hour_within_the_bound_and_not_beyond(clock):
    recent, old = T0.replace(minute=0) - timedelta(hours=3), T0.replace(minute=0) - LATE_DATA_BOUND - timedelta(hours=2)
    stream_wrote(clock.instance, recent)
    assert clock.hours_requested(T0) == [key(recent)]
    aggregated(clock.instance, recent, old)
    clock.tick(T0 + timedelta(minutes=1))
    stream_wrote(clock.instance, recent, old)
    result = clock.tick(T0 + timedelta(minutes=2))
    assert sorted(result.get_requested_partitions(HOURLY_KEY)) == [key(recent)]
    # The evaluation says why the old hour waits: it is outside the late-data bound.
    evaluation = next(r for r in result.results if r.key == HOURLY_KEY)
    bound = evaluation.child_results[0]
    assert "late-data bound" in bound.condition.get_label()
    assert key(old) not in bound.true_subset.expensively_compute_partition_keys()


def test_the_catalog_and_the_topic_are_made_on_the_first_evaluation_and_not_again(clock):
    first = clock.tick(T0)
    assert first.get_num_requested(dg.AssetKey("movie_catalog")) == first.get_num_requested(dg.AssetKey("ratings_topic")) == 1
    second = clock.tick(T0 + timedelta(minutes=1))
    assert second.get_num_requested(dg.AssetKey("movie_catalog")) == second.get_num_requested(dg.AssetKey("ratings_topic")) == 0
