"""The Dagster job itself, with its resources overridden: the query goes where the resources point."""

from collections import Counter
from datetime import datetime, timedelta, timezone

import dagster as dg
import pytest

from ratings_assets.core.catalog import read_catalog
from ratings_assets.core.hours import partition_key
from ratings_assets.defs.records import RECORDS_KEY
from ratings_assets.defs.stream_job import ratings_stream_job
from ratings_assets.generator.publisher import connect, publish
from ratings_assets.generator.ratings import EventClock, Pacer, RatingFactory, generate
from ratings_assets.generator.users import user_pool
from ratings_assets.paths import CATALOG_CSV

pytestmark = pytest.mark.integration

EVENTS = 1500


def test_the_job_writes_to_the_overridden_topic_and_keyspace_and_reports_each_hour(
        kafka, cassandra, spark_resource, isolated):
    kafka.ensure_rating_topics()
    end = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    factory = RatingFactory(list(read_catalog(CATALOG_CSV).values()), user_pool(30, seed=5), seed=5)
    events = list(generate(factory, EventClock(end - timedelta(hours=3), end, seed=5), Pacer(None), count=EVENTS))
    assert publish(connect(kafka), kafka.topic, events).acked == EVENTS

    with dg.instance_for_test() as instance:
        result = ratings_stream_job.execute_in_process(
            instance=instance,
            resources={"kafka": kafka, "cassandra": cassandra, "spark": spark_resource},
            run_config={"ops": {"run_ratings_stream": {"config": {
                "available_now": True, "trigger_seconds": 1, "checkpoint_dir": isolated["checkpoint_dir"]}}}},
        )
        assert result.success
        reported = Counter()
        for event in result.get_asset_materialization_events():
            materialization = event.step_materialization_data.materialization
            assert materialization.asset_key == RECORDS_KEY
            reported[materialization.partition] += materialization.metadata["rows_written"].value
        observed = instance.fetch_observations(RECORDS_KEY, limit=1).records
        assert observed and observed[0].asset_observation.metadata["run_id"].value == result.run_id
        # Both records checks are reported after the batches, and pass: nothing unknown, nothing left to read.
        checks = {e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
                  for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}
        assert checks == {"consumer_lag_below_threshold": True, "no_unknown_movies": True}

    expected = Counter(partition_key(event.time) for event in events)
    assert reported == expected  # each hour partition, with exactly the rows written to it
    with cassandra.session(isolated["keyspace"]) as session:
        stored = session.execute("SELECT COUNT(*) FROM records").one()[0]
    assert stored == EVENTS
