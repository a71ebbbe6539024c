"""The Compose deployment (docker/) built and run for real: events published from the host land once in
Cassandra, through the streaming job the Dagster sensor launches, also after the container running the stream
is killed; the specification's queries and one hour's aggregates match an independent computation.

From nothing it installs and starts the engine and makes the base image (as `make docker-up` does); the stack
runs as its own Compose project on free host ports, beside whatever holds the default ones.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ratings_assets import dagster_api
from ratings_assets.compose import base_image, engine, images
from ratings_assets.compose.stack import Stack
from ratings_assets.core.catalog import read_catalog
from ratings_assets.core.tables import HOUR_BUCKETS
from ratings_assets.core.hours import hour_of, partition_key
from ratings_assets.defs.hourly import HOURLY_KEY
from ratings_assets.generator.publisher import connect, publish
from ratings_assets.generator.ratings import EventClock, Pacer, RatingFactory, generate
from ratings_assets.generator.users import user_pool
from ratings_assets.paths import CATALOG_CSV
from ratings_assets.resources import cassandra_resource, kafka_resource
from ratings_assets_tests.conftest import wait_for
from ratings_assets_tests.localstack.test_spark_classes_integration import assert_spark_maps
from ratings_assets_tests.streaming.test_pipeline_integration import (
    assert_same,
    assert_spec_answers,
    expected_user_hours,
    source_durations,
    stored_user_hours,
)

pytestmark = [pytest.mark.integration, pytest.mark.docker]

PROJECT = "ratings-docker-test"
IMAGE_PROJECT_DIR = "/opt/ratings"  # the ratings image's WORKDIR (docker/Dockerfile)
EVENTS_BEFORE, EVENTS_AFTER = 1500, 1500
# An hour the stack's own generator (live events, now) never writes to.
TEST_HOUR = hour_of(datetime.now(timezone.utc)) - timedelta(hours=5)


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.fixture(scope="module")
def built_images() -> None:
    if reason := engine.why_no_engine():
        pytest.skip(reason)
    engine.ensure_engine()
    images.build(base_image.ensure_base_image(os.environ.get("DOCKER_BASE_IMAGE", "").strip() or None))


@pytest.fixture(scope="module")
def stack(built_images):
    the_stack = Stack(PROJECT, *free_ports(3))
    saved = dict(os.environ)
    # The test's hour is the first partition; a short trigger keeps the test quick.
    os.environ.update({**the_stack.client_env(), "RATINGS_HOURLY_START": partition_key(TEST_HOUR),
                       "RATINGS_TRIGGER_SECONDS": "2"})
    the_stack.down(volumes=True)  # what an interrupted run may have left
    try:
        the_stack.up()
        yield the_stack
    finally:
        logs = the_stack.compose("logs", "--no-color", "--tail", "200", check=False).stdout
        Path(os.environ.get("PYTEST_DOCKER_LOG", "/tmp/ratings-docker-test.log")).write_text(logs or "")
        the_stack.down(volumes=True)
        os.environ.clear()
        os.environ.update(saved)


def test_the_image_spark_maps_the_class_archive_the_build_recorded(built_images):
    # The image's own Python, in a container of its own: the archive the build recorded fits its Spark.
    image = images.image_name("ratings")
    assert_spark_maps(f"{IMAGE_PROJECT_DIR}/.local/jars/spark-classes.jsa",
                      ("docker", "run", "--rm", "-e", "PYSPARK_SUBMIT_ARGS", "--entrypoint", "python", image))


def live_stream_run(ui_url: str) -> str | None:
    try:
        runs = dagster_api.active_stream_runs(ui_url)
    except (OSError, RuntimeError):
        return None  # the webserver restarts with the code server's container
    return runs[0] if runs else None


def stored_event_ids(session) -> list[str]:
    """The test hour's rows: its users from the users_by_hour index, then their partitions of records."""
    names = [row.name for bucket in range(HOUR_BUCKETS) for row in session.execute(
        "SELECT name FROM users_by_hour WHERE hour = %s AND bucket = %s", (TEST_HOUR, bucket), timeout=30)]
    return [row.event_id for name in names for row in session.execute(
        "SELECT event_id FROM records WHERE name = %s AND hour = %s", (name, TEST_HOUR), timeout=30)]


def test_the_compose_stack_streams_survives_a_killed_stream_and_aggregates_an_hour(stack, source_dataset):
    stack.wait_healthy(420)
    wait_for(lambda: live_stream_run(stack.ui_url), 240, "the sensor to launch the stream")

    factory = RatingFactory(list(read_catalog(CATALOG_CSV).values()), user_pool(25, seed=14), seed=14)
    events = list(generate(factory, EventClock(TEST_HOUR, TEST_HOUR + timedelta(hours=1), seed=14), Pacer(None),
                           count=EVENTS_BEFORE + EVENTS_AFTER))
    kafka, cassandra = kafka_resource(), cassandra_resource()
    producer = connect(kafka)
    stats = publish(producer, kafka.topic, events[:EVENTS_BEFORE])
    assert (stats.acked, stats.errors) == (EVENTS_BEFORE, 0)

    with cassandra.session(cassandra.keyspace) as session:
        wait_for(lambda: len(stored_event_ids(session)) >= EVENTS_BEFORE, 240, "the first events in Cassandra", 3)

        first_run = live_stream_run(stack.ui_url)
        assert first_run, "no stream run stored the first events"
        stack.kill_abruptly("code")
        stats = publish(producer, kafka.topic, events[EVENTS_BEFORE:])
        assert (stats.acked, stats.errors) == (EVENTS_AFTER, 0)
        # The code server's container restarts, run monitoring (every 30 s) fails the dead run, the sensor
        # launches a new one and it starts: each step is slower on a loaded host (one CI run needed over 300 s).
        second_run = wait_for(lambda: (run := live_stream_run(stack.ui_url)) != first_run and run, 480,
                              "a new stream run after the kill", 3)
        wait_for(lambda: len(stored_event_ids(session)) >= len(events), 240, "every event in Cassandra", 3)
        stored = stored_event_ids(session)
        assert len(stored) == len(events) and set(stored) == {e.event_id for e in events}
        assert dagster_api.run_status(stack.ui_url, first_run) in ("FAILURE", "CANCELED")
        assert second_run != first_run

        durations = source_durations(source_dataset)
        assert_spec_answers(session, cassandra.keyspace, events, durations)

    name = events[0].name
    answer = json.loads(subprocess.run(
        [str(Path(sys.executable).with_name("ratings")), "query", "--user", name, "--hour", TEST_HOUR.isoformat(),
         "--json"], capture_output=True, text=True, check=True).stdout)
    assert sorted(answer["movies"]) == sorted(e.movie for e in events if e.name == name)

    hour_key = partition_key(TEST_HOUR)
    run_id = dagster_api.launch_partition_run(stack.ui_url, HOURLY_KEY.path, hour_key)
    status = wait_for(lambda: (s := dagster_api.run_status(stack.ui_url, run_id)) in
                      ("SUCCESS", "FAILURE", "CANCELED") and s, 300, "the hourly run to end", 3)
    assert status == "SUCCESS"
    assert_same(stored_user_hours(cassandra, cassandra.keyspace, hour_key),
                expected_user_hours(events, source_durations(source_dataset)))
