"""Ten kill -9s of a healthy stream in a row: the supervising sensor restarts each, never gives up, loses nothing.

As `make run` runs it: the real Dagster daemon (sensors, run queue, default run launcher) on a temporary
DAGSTER_HOME made like the demo's, the production supervisor policy and sensor interval, the demo's trigger
and publishing rate, the real Kafka, Spark and Cassandra; the UI is left out, the test reads the instance.
Each time the stream's run has stored rows, and at least a minute after the previous kill, the process
running the query (the run worker the run launcher started, which reports its pid with every heartbeat) is
killed with SIGKILL; the sensor must launch a new run that stores rows within two minutes. Invalid messages
are mixed in, so the dead letters are accounted for as exactly as the rows.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import pytest

from ratings_assets.core.hours import hour_of, partition_key
from ratings_assets.dagster_home import prepare_dagster_home
from ratings_assets.defs.records import RECORDS_KEY
from ratings_assets.defs.stream_job import STREAM_JOB
from ratings_assets.demo import DemoOptions, end_session, session_members
from ratings_assets.paths import REPO_ROOT
from ratings_assets.streaming.supervisor import SupervisorState
from ratings_assets_tests.conftest import wait_for
from ratings_assets_tests.streaming.accounting import assert_exactly_once
from ratings_assets_tests.streaming.harness import Generator
from ratings_assets_tests.streaming.topics import read_topic

pytestmark = [pytest.mark.integration, pytest.mark.chaos, pytest.mark.soak]

KILLS = 10
KILL_EVERY_S = 60  # counted from the previous kill
RESTART_LIMIT_S = 120
FIRST_ROWS_TIMEOUT_S = 360  # the daemon, its code server and the first run's Spark start on a loaded machine
DRAIN_TIMEOUT_S = 180
SUPERVISOR = "ratings_stream_supervisor"


@dataclass(frozen=True)
class StreamRun:
    run_id: str
    worker_pid: int


@pytest.fixture
def daemon(services, isolated, kafka, cassandra, tmp_path, monkeypatch):
    """`dagster-daemon` on the project's workspace and a fresh DAGSTER_HOME; yields (instance, its session id).

    Everything it starts (code server, run workers, their Spark) is in its session and is killed at the end.
    """
    home = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.delenv("DAGSTER_POSTGRES_HOST", raising=False)
    prepare_dagster_home()
    env = {key: value for key, value in os.environ.items() if not key.startswith("DAGSTER_")}
    env.update({
        "DAGSTER_HOME": str(home),
        "RATINGS_TOPIC": isolated["topic"], "RATINGS_DLQ_TOPIC": isolated["dlq_topic"],
        "RATINGS_KEYSPACE": isolated["keyspace"], "RATINGS_CHECKPOINT_DIR": isolated["checkpoint_dir"],
        "RATINGS_KAFKA_BOOTSTRAP": kafka.bootstrap_servers,
        "RATINGS_CASSANDRA_HOSTS": services.bind_host, "RATINGS_CASSANDRA_PORT": str(services.cassandra_port),
        "RATINGS_TRIGGER_SECONDS": str(DemoOptions().trigger_seconds),
        # The first hour partition is this one: the test publishes no history for the automation to aggregate.
        "RATINGS_HOURLY_START": partition_key(hour_of(datetime.now(timezone.utc))),
    })
    kafka.ensure_rating_topics()
    # Made before the daemon starts: the daemon and its code server creating the SQLite storage at once stamp its
    # schema version twice, and the code location then fails to load.
    instance = dg.DagsterInstance.from_config(str(home))
    with (tmp_path / "daemon.log").open("wb") as log:
        proc = subprocess.Popen([str(Path(sys.executable).with_name("dagster-daemon")), "run", "-w", "workspace.yaml"],
                                cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield instance, proc.pid
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass  # killed below, with whatever else of its session is left
        end_session(proc.pid, grace_s=30)
        proc.wait(timeout=10)
        instance.dispose()
        assert not (left := session_members(proc.pid)), f"processes of the daemon's session outlived it: {left}"


def storing_run(instance: dg.DagsterInstance, other_than: str | None = None) -> StreamRun | None:
    """The started stream run, once it reported a batch that stored rows (its own heartbeat says so)."""
    runs = instance.get_runs(dg.RunsFilter(job_name=STREAM_JOB, statuses=[dg.DagsterRunStatus.STARTED]), limit=1)
    if not runs or runs[0].run_id == other_than:
        return None
    for record in instance.fetch_observations(RECORDS_KEY, limit=50).records:
        metadata = record.asset_observation.metadata
        stored = metadata.get("stored_rows")
        if metadata["run_id"].value == runs[0].run_id and stored is not None and stored.value > 0:
            return StreamRun(runs[0].run_id, int(metadata["worker"].value.rpartition(":")[2]))
    return None


def supervisor_ticks(instance: dg.DagsterInstance) -> list:
    """Every tick of the supervising sensor, oldest first."""
    state = next(s for s in instance.all_instigator_state() if s.name == SUPERVISOR)
    return sorted(instance.get_ticks(state.instigator_origin_id, state.selector_id), key=lambda t: t.timestamp)


def test_ten_kill_9s_of_a_healthy_stream_are_each_restarted_within_two_minutes_and_lose_nothing(
        daemon, kafka, cassandra, isolated):
    instance, session = daemon
    started = time.monotonic()
    generator = Generator(kafka, isolated["topic"], seed=15, rate=DemoOptions().rate)
    generator.start()
    restarts: list[float] = []
    killed: list[str] = []
    try:
        run = wait_for(lambda: storing_run(instance), FIRST_ROWS_TIMEOUT_S, "the sensor's first run to store rows",
                       poll_s=2)
        print(f"first run storing rows after {time.monotonic() - started:.0f} s", flush=True)
        last_kill = None
        for kill in range(1, KILLS + 1):
            if last_kill is not None:
                time.sleep(max(0.0, last_kill + KILL_EVERY_S - time.monotonic()))
            # Only ever a process of the daemon's own session: the run worker holding the query.
            assert run.worker_pid in session_members(session), f"pid {run.worker_pid} is not the daemon's"
            os.kill(run.worker_pid, signal.SIGKILL)
            last_kill = time.monotonic()
            killed.append(run.run_id)
            # Waits past the limit, so that a slow restart is measured and reported with the others.
            run = wait_for(lambda: storing_run(instance, other_than=killed[-1]), 2 * RESTART_LIMIT_S,
                           f"a new run storing rows after kill {kill} (restarts so far: {restarts})", poll_s=2)
            restarts.append(time.monotonic() - last_kill)
            print(f"kill {kill}: a new run stored rows {restarts[-1]:.0f} s after the kill", flush=True)
    finally:
        outcome = generator.stop()

    bootstrap = kafka.bootstrap_servers
    want_rows, want_letters = len(outcome.acked_event_ids), set(outcome.acked_dead_letters)

    def drained() -> bool:
        with cassandra.session(cassandra.keyspace) as db:
            rows = db.execute("SELECT COUNT(*) FROM records", timeout=60).one()[0]
        return rows >= want_rows and {letter.key.decode() for letter in
                                      read_topic(bootstrap, isolated["dlq_topic"], 30)} >= want_letters

    wait_for(drained, DRAIN_TIMEOUT_S, f"the stream to store {want_rows:,} rows and {len(want_letters):,} dead letters",
             poll_s=3)
    counts = assert_exactly_once(outcome, bootstrap, isolated["topic"], isolated["dlq_topic"], cassandra, "ten kills")

    ticks = supervisor_ticks(instance)
    states = [SupervisorState.from_cursor(tick.cursor) for tick in ticks if tick.cursor]
    said = [tick.skip_reason for tick in ticks if tick.skip_reason]
    print(f"restarts (s): {[round(s) for s in restarts]}, median {statistics.median(restarts):.0f}, "
          f"max {max(restarts):.0f}; {counts}; {len(ticks)} sensor ticks; test {time.monotonic() - started:.0f} s",
          flush=True)
    assert not [reason for reason in said if reason.startswith("give_up")], said
    assert not any(state.gave_up for state in states)
    # Each kill is one failure, forgotten once the next run stored rows: never two in a row.
    assert max(len(state.failures) for state in states) == 1, [(s.failures, s.last_failure) for s in states]
    assert all(seconds < RESTART_LIMIT_S for seconds in restarts), restarts
    runs = instance.get_runs(dg.RunsFilter(job_name=STREAM_JOB))
    assert len(runs) == KILLS + 1, "one new run for each kill, and no other restart"
    assert {instance.get_run_by_id(run_id).status for run_id in killed} == {dg.DagsterRunStatus.FAILURE}
