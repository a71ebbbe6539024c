"""The sensor that keeps exactly one streaming job alive.

It launches the job when none runs, and restarts it when its run failed, its
process vanished (kill -9 leaves the run "started"), or it stalled with data
waiting; it backs off between attempts and gives up, with the reason, after
too many failures. The rules are pure (`streaming/supervisor.py`); this module
gathers the facts from the Dagster instance and Kafka, and acts.
"""


import logging
import os
import signal
import socket
import time

import dagster as dg
from kafka.errors import KafkaError

from ratings_assets import settings
from ratings_assets.defs.records import RECORDS_KEY
from ratings_assets.defs.stream_job import STREAM_JOB, ratings_stream_job
from ratings_assets.resources.kafka import KafkaResource
from ratings_assets.streaming.supervisor import Policy, StreamHealth, SupervisorState, decide

ACTIVE = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
          dg.DagsterRunStatus.STARTED]
POLICY = Policy(trigger_s=settings.TRIGGER_SECONDS.value())


def _latest_heartbeat(instance: dg.DagsterInstance, run_id: str) -> dict | None:
    """The newest observation of the stream, if the run `run_id` sent it."""
    records = instance.fetch_observations(RECORDS_KEY, limit=1).records
    if not records:
        return None
    metadata = records[0].asset_observation.metadata
    if "run_id" not in metadata or metadata["run_id"].value != run_id:
        return None
    last_batch, query_started = metadata.get("last_batch_at"), metadata.get("query_started_at")
    return {
        "at": records[0].timestamp,
        "last_batch_at": last_batch.value if last_batch else None,
        "query_started_at": query_started.value if query_started else None,
        "worker": metadata["worker"].value,
        "end_offsets": metadata["end_offsets"].value,
    }


def _worker_alive(worker: str) -> bool | None:
    """Whether the process `host:pid` lives; None when it runs on another host."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by another user
    return True


def _backlog(kafka: KafkaResource, beat: dict, log: logging.Logger) -> int | None:
    """Messages in the topic beyond the offsets of the stream's last batch; None while Kafka is unreachable."""
    try:
        latest = kafka.end_offsets()
    except KafkaError as exc:
        log.warning(f"no backlog figure: Kafka unreachable ({exc!r}); heartbeats still tell alive from dead")
        return None
    return sum(max(0, offset - int(beat["end_offsets"].get(str(p), 0))) for p, offset in latest.items())


def _health_of(instance: dg.DagsterInstance, record: dg.RunRecord, now: float, kafka: KafkaResource | None,
               log: logging.Logger) -> tuple[StreamHealth, dict | None]:
    """What the sensor sees of one run of the job (the backlog only when given Kafka), and its latest heartbeat."""
    run = record.dagster_run
    started = record.start_time or record.create_timestamp.timestamp()
    beat = _latest_heartbeat(instance, run.run_id)
    health = StreamHealth(
        run_id=run.run_id,
        run_status=run.status.value,
        run_age_s=now - started,
        query_age_s=now - beat["query_started_at"] if beat and beat["query_started_at"] else None,
        heartbeat_age_s=now - beat["at"] if beat else None,
        last_batch_age_s=(now - beat["last_batch_at"]) if beat and beat["last_batch_at"] else None,
        worker_alive=_worker_alive(beat["worker"]) if beat else None,
        backlog=_backlog(kafka, beat, log) if beat and kafka else None,
    )
    return health, beat


def gather_health(instance: dg.DagsterInstance, kafka: KafkaResource, now: float,
                  log: logging.Logger) -> tuple[StreamHealth, dg.DagsterRun | None, dict | None]:
    records = instance.get_run_records(dg.RunsFilter(job_name=STREAM_JOB, statuses=ACTIVE), limit=1)
    if not records:
        return StreamHealth(), None, None
    health, beat = _health_of(instance, records[0], now, kafka, log)
    return health, records[0].dagster_run, beat


def _ended_run(instance: dg.DagsterInstance, now: float, log: logging.Logger) -> tuple[StreamHealth, float]:
    """What the job's latest run, now ended, had shown of itself, and when it ended. The default run launcher
    marks a killed run failed within seconds, often before any tick saw the batch it stored."""
    records = instance.get_run_records(dg.RunsFilter(job_name=STREAM_JOB), limit=1)
    if not records:
        return StreamHealth(), now
    return _health_of(instance, records[0], now, None, log)[0], min(now, records[0].end_time or now)


def _ended_by_user(instance: dg.DagsterInstance) -> bool:
    """Whether the job's latest run was canceled (from the UI, or by `make run` stopping): not a failure."""
    records = instance.get_run_records(dg.RunsFilter(job_name=STREAM_JOB), limit=1)
    return bool(records) and records[0].dagster_run.status in (dg.DagsterRunStatus.CANCELED,
                                                               dg.DagsterRunStatus.CANCELING)


def _failure_message(instance: dg.DagsterInstance) -> str:
    """Why the job's latest run ended, for the sensor's messages."""
    runs = [record.dagster_run for record in instance.get_run_records(dg.RunsFilter(job_name=STREAM_JOB), limit=1)]
    if not runs:
        return "the launched run is gone"
    run_id = runs[0].run_id
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_FAILURE, limit=1, ascending=False).records
    if not records:
        return f"run {run_id} ended ({runs[0].status.value})"
    error = records[0].event_log_entry.dagster_event.step_failure_data.error
    text = (error.message if error else "").strip().splitlines()
    return f"run {run_id} failed: {' '.join(text[-3:])[:500]}"


def stop_run(instance: dg.DagsterInstance, run: dg.DagsterRun, beat: dict | None, reason: str,
             log: logging.Logger) -> None:
    """Terminate a run for good: ask the launcher, kill a leftover local worker, mark the run failed."""
    try:
        if not instance.run_launcher.terminate(run.run_id):
            log.info(f"the run launcher had nothing to terminate for run {run.run_id}")
    except Exception as exc:  # any launcher's failure: the worker is killed below all the same
        log.warning(f"the run launcher could not terminate run {run.run_id}: {exc!r}")
    deadline = time.monotonic() + 10
    while beat and _worker_alive(beat["worker"]) and time.monotonic() < deadline:
        time.sleep(0.5)
    if beat and _worker_alive(beat["worker"]):
        # A stalled query can ignore termination; its process must not outlive the run.
        log.warning(f"killing the process {beat['worker']} of run {run.run_id}: it ignored termination")
        try:
            os.kill(int(beat["worker"].rpartition(":")[2]), signal.SIGKILL)
        except ProcessLookupError:
            log.info(f"the process {beat['worker']} ended by itself")
    current = instance.get_run_by_id(run.run_id)
    if current and not current.is_finished:
        instance.report_run_failed(current, f"ratings_stream_supervisor: {reason}")


def supervise(context: dg.SensorEvaluationContext, kafka: KafkaResource, policy: Policy,
              now: float | None = None) -> dg.SensorResult:
    """One tick: gather, decide, act. `now` (epoch seconds) is the sensor's clock; tests pass their own."""
    now = time.time() if now is None else now
    state = SupervisorState.from_cursor(context.cursor)
    if state.afresh(now, policy):
        context.log.info(f"supervising afresh: the last tick was {now - state.last_tick:.0f} s ago")
    state.last_tick = now
    health, run, beat = gather_health(context.instance, kafka, now, context.log)
    if health.run_id is None and state.watched_run_id:
        if _ended_by_user(context.instance):
            context.log.info("the stream's run was canceled by a user: not counted as a failure")
        else:
            # The back-off counts from the run's end, not from this tick: it may be over already.
            ended, ended_at = _ended_run(context.instance, now, context.log)
            state.record_failure(ended_at, _failure_message(context.instance), policy.failure_window_s,
                                 ended.had_proven(policy))
        state.watched_run_id = None
    decision = decide(health, state, policy, now)
    context.log.info(f"{decision.action}: {decision.reason}")
    run_requests = []
    if decision.action == "ok" and health.run_id:
        if state.gave_up:
            state.gave_up, state.failures = None, []
        if state.failures and health.proven(policy):
            context.log.info(f"run {health.run_id} is healthy: back-off reset after {len(state.failures)} failure(s)")
            state.failures = []
        state.watched_run_id = health.run_id
    elif decision.action == "restart":
        stop_run(context.instance, run, beat, decision.reason, context.log)
        state.record_failure(now, decision.reason, policy.failure_window_s, health.had_proven(policy))
        state.watched_run_id = None
    elif decision.action == "launch":
        state.launches += 1
        run_key = f"stream-{state.launches}-{int(now)}"
        # Watched from now on: if it dies before the next tick, that still counts as a failure.
        state.watched_run_id = run_key
        run_requests.append(dg.RunRequest(
            run_key=run_key,
            tags={"ratings/launched_by": "supervisor", "ratings/reason": decision.reason[:200]},
        ))
    elif decision.action == "give_up":
        state.gave_up = decision.reason
    if not run_requests:
        return dg.SensorResult(skip_reason=f"{decision.action}: {decision.reason}", cursor=state.to_cursor())
    return dg.SensorResult(run_requests=run_requests, cursor=state.to_cursor())


@dg.sensor(
    job=ratings_stream_job,
    minimum_interval_seconds=20,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Keeps exactly one streaming job alive: launches, detects dead or stalled runs, restarts with back-off.",
)
def ratings_stream_supervisor(context: dg.SensorEvaluationContext, kafka: KafkaResource) -> dg.SensorResult:
    return supervise(context, kafka, POLICY)
