"""Late data end to end: an hour aggregated, late rows land, the automation asks for it again, the aggregates
equal an independent recomputation; rows for an hour past the late-data bound are stored, warned about and
left alone by the automation.

The real stream job (in-process, available-now) against the real services, its resources pointed at the
module's topic and keyspace; the automation conditions evaluated on the same instance.
"""

from collections import defaultdict
from datetime import datetime, timezone
from statistics import mean

import dagster as dg
import pytest

from ratings_assets.core.catalog import read_catalog
from ratings_assets.core.hours import HOUR, hour_of, partition_key
from ratings_assets.definitions import defs
from ratings_assets.defs.hourly import HOURLY_KEY, hourly_user_ratings
from ratings_assets.defs.partitions import LATE_DATA_BOUND
from ratings_assets.defs.stream_job import ratings_stream_job
from ratings_assets.generator.publisher import connect, publish
from ratings_assets.generator.ratings import EventClock, Pacer, RatingFactory, generate
from ratings_assets.generator.users import user_pool
from ratings_assets.paths import CATALOG_CSV

pytestmark = pytest.mark.integration

NOW = datetime.now(timezone.utc)
RECENT = hour_of(NOW) - 2 * HOUR  # closed, within the bound
OLD = hour_of(NOW) - LATE_DATA_BOUND - 12 * HOUR  # closed long before the bound


def events_in(hour: datetime, count: int, seed: int) -> list:
    factory = RatingFactory(list(read_catalog(CATALOG_CSV).values()), user_pool(12, seed=3), seed=seed)
    return list(generate(factory, EventClock(hour, hour + HOUR, seed=seed), Pacer(None), count=count))


def requested_hours(instance, cursor) -> tuple[set[str], object, dg.EvaluateAutomationConditionsResult]:
    result = dg.evaluate_automation_conditions(defs=defs(), instance=instance, cursor=cursor,
                                               evaluation_time=datetime.now(timezone.utc))
    return set(result.get_requested_partitions(HOURLY_KEY)), result.cursor, result


def expected_aggregates(events) -> dict[str, tuple]:
    """(ratings, mean, min, max) per user, from the published events themselves."""
    by_user = defaultdict(list)
    for event in events:
        by_user[event.name].append(event.rating)
    return {name: (len(r), pytest.approx(mean(r)), min(r), max(r)) for name, r in by_user.items()}


def test_late_rows_re_aggregate_their_hour_within_the_bound_and_not_beyond(kafka, cassandra, spark_resource,
                                                                          isolated):
    kafka.ensure_rating_topics()
    producer = connect(kafka)
    resources = {"kafka": kafka, "cassandra": cassandra, "spark": spark_resource}
    run_config = {"ops": {"run_ratings_stream": {"config": {
        "available_now": True, "trigger_seconds": 1, "checkpoint_dir": isolated["checkpoint_dir"]}}}}
    first = events_in(RECENT, 300, seed=1) + events_in(OLD, 40, seed=2)
    late = events_in(RECENT, 120, seed=3) + events_in(OLD, 25, seed=4)

    with dg.instance_for_test() as instance:
        assert publish(producer, kafka.topic, first).acked == len(first)
        assert ratings_stream_job.execute_in_process(instance=instance, resources=resources,
                                                     run_config=run_config).success
        requested, cursor, _ = requested_hours(instance, None)
        assert requested == {partition_key(RECENT)}  # the old hour is past the bound from the start
        dg.materialize([hourly_user_ratings], partition_key=partition_key(RECENT), instance=instance,
                       resources={"cassandra": cassandra})
        requested, cursor, _ = requested_hours(instance, cursor)
        assert requested == set()

        assert publish(producer, kafka.topic, late).acked == len(late)
        stream = ratings_stream_job.execute_in_process(instance=instance, resources=resources, run_config=run_config)
        assert stream.success
        warnings = [entry.user_message for entry in instance.all_logs(stream.run_id)
                    if "late-data bound" in (entry.user_message or "")]
        assert len(warnings) == 1 and partition_key(OLD) in warnings[0] and partition_key(RECENT) not in warnings[0]

        requested, cursor, result = requested_hours(instance, cursor)
        assert requested == {partition_key(RECENT)}
        bound = next(r for r in result.results if r.key == HOURLY_KEY).child_results[0]
        assert "late-data bound" in bound.condition.get_label()
        assert partition_key(OLD) not in bound.true_subset.expensively_compute_partition_keys()
        dg.materialize([hourly_user_ratings], partition_key=partition_key(RECENT), instance=instance,
                       resources={"cassandra": cassandra})
        assert set(instance.get_materialized_partitions(HOURLY_KEY)) == {partition_key(RECENT)}

    with cassandra.session() as session:
        stored = {row["name"]: (row["ratings"], row["avg_rating"], row["min_rating"], row["max_rating"])
                  for row in cassandra.read_hour_users(session, RECENT)}
        assert stored == expected_aggregates([e for e in first + late if hour_of(e.time) == RECENT])
        assert cassandra.read_hour_users(session, OLD) == []  # never aggregated by itself
        assert cassandra.count_hour(session, OLD) == 65  # but every late row is stored
