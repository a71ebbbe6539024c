"""The supervising sensor against a real (temporary) Dagster instance; Kafka is faked (offsets only)."""

import multiprocessing
import os
import socket
import subprocess
import time
import uuid

import dagster as dg
import pytest

from ratings_assets.defs.stream_job import STREAM_JOB, observation
from ratings_assets.defs.stream_supervisor import supervise
from ratings_assets.resources.kafka import KafkaResource
from ratings_assets.streaming.supervisor import Policy, SupervisorState

POLICY = Policy(trigger_s=1, start_grace_s=60, heartbeat_timeout_s=30, backoff_base_s=1.0, backoff_max_s=4,
                max_failures=3, failure_window_s=600)


class FakeKafka(KafkaResource):
    """End offsets only: what the sensor asks Kafka for."""

    def end_offsets(self, topic: str | None = None) -> dict[int, int]:
        return {0: 100, 1: 100}


KAFKA = FakeKafka(bootstrap_servers="unused:9092")


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def evaluate(instance, cursor=None, now=None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    return supervise(context, KAFKA, POLICY, now=now)


def started_run(instance) -> dg.DagsterRun:
    run = dg.DagsterRun(job_name=STREAM_JOB, run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.STARTED)
    instance.add_run(run)
    return run


def heartbeat(instance, run, pid: int, last_batch_age_s: float = 1.0, offsets=(100, 100)):
    summary = {"new_batch": True, "batch_id": 3, "end_offsets": dict(enumerate(offsets)), "consumer_lag": 0}
    event = observation(summary, time.time() - last_batch_age_s, run.run_id)
    event.metadata["worker"] = dg.MetadataValue.text(f"{socket.gethostname()}:{pid}")
    instance.report_runless_asset_event(event)


def dead_pid() -> int:
    proc = multiprocessing.Process(target=int)
    proc.start()
    proc.join()
    return proc.pid


def test_launches_when_no_stream_runs(instance):
    result = evaluate(instance)
    assert len(result.run_requests) == 1
    assert SupervisorState.from_cursor(result.cursor).watched_run_id == result.run_requests[0].run_key


def test_skips_when_the_stream_is_healthy(instance):
    run = started_run(instance)
    heartbeat(instance, run, os.getpid())
    result = evaluate(instance)
    assert not result.run_requests
    assert "healthy" in result.skip_reason.skip_message
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED


def test_a_killed_worker_is_failed_then_relaunched_after_back_off(instance):
    run = started_run(instance)
    heartbeat(instance, run, dead_pid())
    now = time.time()
    result = evaluate(instance, now=now)
    assert not result.run_requests and "gone" in result.skip_reason.skip_message
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
    waiting = evaluate(instance, result.cursor, now=now + POLICY.backoff_base_s / 2)
    assert not waiting.run_requests and "backing off" in waiting.skip_reason.skip_message
    relaunch = evaluate(instance, waiting.cursor, now=now + POLICY.backoff_base_s + 0.1)
    assert len(relaunch.run_requests) == 1


def test_a_stalled_stream_with_waiting_data_is_restarted_and_its_process_killed(instance):
    run = started_run(instance)
    stuck = subprocess.Popen(["sleep", "600"])
    heartbeat(instance, run, stuck.pid, last_batch_age_s=POLICY.stall_after_s + 5, offsets=(40, 100))
    result = evaluate(instance)
    assert "stalled: 60 messages waiting" in result.skip_reason.skip_message
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
    assert stuck.wait(timeout=30) == -9


def test_backs_off_longer_each_time_and_gives_up_after_the_cap_with_the_reason(instance):
    cursor = None
    for attempt in range(POLICY.max_failures):
        run = started_run(instance)
        instance.report_run_failed(run, "Cassandra unreachable")
        state = SupervisorState.from_cursor(cursor)
        state.watched_run_id = run.run_id
        # The tick that notices the failure at once: the back-off counts from the run's end.
        result = evaluate(instance, state.to_cursor(), now=instance.get_run_record_by_id(run.run_id).end_time)
        cursor = result.cursor
        state = SupervisorState.from_cursor(cursor)
        assert len(state.failures) == attempt + 1
        if attempt < POLICY.max_failures - 1:
            assert "backing off" in result.skip_reason.skip_message
    assert "gave up after 3 failures" in result.skip_reason.skip_message
    assert not evaluate(instance, cursor).run_requests


def test_a_run_started_by_hand_after_giving_up_clears_it(instance):
    state = SupervisorState(gave_up="gave up after 3 failures")
    run = started_run(instance)
    heartbeat(instance, run, os.getpid())
    result = evaluate(instance, state.to_cursor())
    assert SupervisorState.from_cursor(result.cursor).gave_up is None


def test_a_healthy_run_resets_the_back_off(instance):
    state = SupervisorState(failures=[time.time() - 100, time.time() - 50], last_failure="killed")
    run = started_run(instance)
    heartbeat(instance, run, os.getpid())  # a batch stored a second ago
    state.watched_run_id = run.run_id
    result = evaluate(instance, state.to_cursor())
    after = SupervisorState.from_cursor(result.cursor)
    assert after.failures == [] and after.watched_run_id == run.run_id


def test_a_run_canceled_by_a_user_is_not_a_failure(instance):
    run = dg.DagsterRun(job_name=STREAM_JOB, run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.CANCELED)
    instance.add_run(run)
    result = evaluate(instance, SupervisorState(watched_run_id=run.run_id).to_cursor())
    assert SupervisorState.from_cursor(result.cursor).failures == []
    assert len(result.run_requests) == 1  # relaunched at once, no back-off


def test_giving_up_does_not_outlive_a_stop_of_dagster(instance):
    now = time.time()
    state = SupervisorState(gave_up="gave up after 3 failures", failures=[now - 400] * 3,
                            last_tick=now - POLICY.fresh_after_s - 60)
    result = evaluate(instance, state.to_cursor(), now=now)
    assert len(result.run_requests) == 1
    assert SupervisorState.from_cursor(result.cursor).gave_up is None


@pytest.mark.parametrize("found", ["still marked started", "marked failed by the run launcher"])
def test_a_run_killed_before_any_tick_saw_its_batch_still_resets_the_back_off(instance, found):
    """Two kills in a row, each after the run stored rows: one failure, not two (else ten kills give up)."""
    state = SupervisorState(failures=[time.time() - 90], last_failure="killed")
    run = started_run(instance)
    state.watched_run_id = run.run_id
    heartbeat(instance, run, dead_pid())  # it stored a batch a second ago, then was killed
    if found == "marked failed by the run launcher":
        instance.report_run_failed(run, "Run execution process was terminated by signal 9 (SIGKILL).")
    after = SupervisorState.from_cursor(evaluate(instance, state.to_cursor()).cursor)
    assert len(after.failures) == 1


def test_the_back_off_counts_from_the_end_of_the_run_not_from_the_tick_that_noticed_it(instance):
    run = started_run(instance)
    instance.report_run_failed(run, "Run execution process was terminated by signal 9 (SIGKILL).")
    ended_at = instance.get_run_record_by_id(run.run_id).end_time
    state = SupervisorState(watched_run_id=run.run_id)
    result = evaluate(instance, state.to_cursor(), now=ended_at + POLICY.backoff_base_s + 0.5)
    assert len(result.run_requests) == 1
    assert SupervisorState.from_cursor(result.cursor).failures == [ended_at]
