"""kill -9 the streaming job while events flow: the daemon's sensor restarts it, and nothing is lost or doubled.

Runs the real Dagster daemon (sensors, run queue, run launcher) on a temporary
DAGSTER_HOME, against the real Kafka, Spark and Cassandra.
"""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import pytest

from ratings_assets.core.catalog import read_catalog
from ratings_assets.defs.records import RECORDS_KEY
from ratings_assets.defs.stream_job import STREAM_JOB
from ratings_assets.generator.publisher import connect, publish
from ratings_assets.generator.ratings import EventClock, Pacer, RatingFactory, generate
from ratings_assets.generator.users import user_pool
from ratings_assets.paths import CATALOG_CSV, REPO_ROOT
from ratings_assets_tests.conftest import wait_for

pytestmark = pytest.mark.integration

EVENTS, RATE = 6000, 100.0


def heartbeat_of(instance, run_id: str) -> dict | None:
    for record in instance.fetch_observations(RECORDS_KEY, limit=20).records:
        metadata = record.asset_observation.metadata
        if metadata.get("run_id") and metadata["run_id"].value == run_id:
            return {"worker_pid": int(metadata["worker"].value.rpartition(":")[2]), "at": record.timestamp}
    return None


def live_stream_run(instance) -> tuple[str, dict] | None:
    runs = instance.get_runs(dg.RunsFilter(job_name=STREAM_JOB, statuses=[dg.DagsterRunStatus.STARTED]), limit=1)
    if runs and (beat := heartbeat_of(instance, runs[0].run_id)):
        return runs[0].run_id, beat
    return None


@pytest.fixture
def daemon(tmp_path, services, isolated, cassandra):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "RATINGS_TOPIC": isolated["topic"],
        "RATINGS_DLQ_TOPIC": isolated["dlq_topic"],
        "RATINGS_KEYSPACE": isolated["keyspace"],
        "RATINGS_CHECKPOINT_DIR": isolated["checkpoint_dir"],
        "RATINGS_TRIGGER_SECONDS": "2",
    }
    log = (tmp_path / "daemon.log").open("wb")
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster-daemon")), "run", "-w", "workspace.yaml"],
        cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    instance = dg.DagsterInstance.from_config(str(home))
    yield instance
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=60)
    if live := live_stream_run(instance):
        try:
            os.kill(live[1]["worker_pid"], signal.SIGKILL)
        except ProcessLookupError:
            pass
    instance.dispose()


def test_killed_stream_is_restarted_within_two_minutes_and_stores_each_event_once(daemon, kafka, isolated, cassandra):
    instance = daemon
    kafka.ensure_topic(isolated["topic"], 4, 1)
    first_run, first_beat = wait_for(lambda: live_stream_run(instance), 360, "the sensor to launch the stream")

    factory = RatingFactory(list(read_catalog(CATALOG_CSV).values()), user_pool(30, seed=5), seed=5)
    events = list(generate(factory, EventClock(), Pacer(None), count=EVENTS))
    acked = {}

    def paced():
        pacer = Pacer(RATE)
        for event in events:
            pacer.wait()
            yield event

    def produce():
        acked["stats"] = publish(connect(kafka), isolated["topic"], paced())

    producer_thread = threading.Thread(target=produce)
    producer_thread.start()

    with cassandra.session(isolated["keyspace"]) as session:
        count = lambda: session.execute("SELECT COUNT(*) FROM records", timeout=60).one()[0]  # noqa: E731
        wait_for(lambda: count() > 0, 120, "the first rows")
        os.kill(first_beat["worker_pid"], signal.SIGKILL)
        killed_at = time.monotonic()
        second_run, _ = wait_for(
            lambda: (live := live_stream_run(instance)) and live[0] != first_run and live, 120, "a restarted stream"
        )
        restart_s = time.monotonic() - killed_at
        producer_thread.join(timeout=180)
        assert acked["stats"].acked == EVENTS and acked["stats"].errors == 0
        wait_for(lambda: count() >= EVENTS, 180, "the stream to drain", poll_s=3)
        stored = [row.event_id for row in session.execute("SELECT event_id FROM records", timeout=60)]

    assert restart_s < 120
    assert instance.get_run_by_id(first_run).status == dg.DagsterRunStatus.FAILURE
    assert len(stored) == EVENTS and set(stored) == {e.event_id for e in events}
