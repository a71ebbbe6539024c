"""The streaming job as a Dagster job, and the sensor that keeps exactly one of it alive.

The job runs the Structured Streaming query inside its run and reports every
batch (and a heartbeat while idle) as an observation of `reviews/records`:
rows, rates, batch time and its steps, offsets and consumer lag plot over time
in the UI.
The supervising sensor launches the job when none runs, and restarts it when
its run failed, its process vanished (kill -9 leaves the run "started"), or it
stalled with data waiting; it backs off between attempts and gives up, with
the reason, after too many failures.
"""


import os
import signal
import socket
import time

import dagster as dg
from dagster_pyspark import LazyPySparkResource

from ratings_assets import settings
from ratings_assets.defs.records import RECORDS_KEY
from ratings_assets.resources import ensure_pipeline_storage
from ratings_assets.resources.cassandra import CassandraResource
from ratings_assets.resources.kafka import KafkaResource
from ratings_assets.streaming.checkpoint_lock import checkpoint_lock
from ratings_assets.streaming.job import StreamConfig, run_stream
from ratings_assets.streaming.supervisor import Policy, StreamHealth, SupervisorState, decide

STREAM_JOB = "ratings_stream_job"
# The run queue admits one run with this tag at a time (dagster.yaml).
STREAM_TAG = {"ratings/stream": "records"}
ACTIVE = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
          dg.DagsterRunStatus.STARTED]


def observation(summary: dict, last_batch_at: float, run_id: str) -> dg.AssetObservation:
    rejected = summary.get("rejected") or {}
    return dg.AssetObservation(
        asset_key=RECORDS_KEY,
        metadata={
            "input_rows": summary.get("input_rows", 0),
            "stored_rows": summary.get("stored", 0),
            "dead_lettered": sum(rejected.values()),
            "unknown_movie": rejected.get("unknown_movie", 0),
            "rows_per_second": summary.get("processed_rows_per_second", 0.0),
            "batch_duration_ms": summary.get("batch_duration_ms") or 0,
            "consumer_lag": summary.get("consumer_lag") if summary.get("consumer_lag") is not None else -1,
            "batch_id": summary.get("batch_id") if summary.get("batch_id") is not None else -1,
            "rejected_by_reason": dg.MetadataValue.json(rejected),
            "end_offsets": dg.MetadataValue.json({str(p): o for p, o in (summary.get("end_offsets") or {}).items()}),
            "hours_written": ",".join(summary.get("hours") or []),
            "last_batch_at": last_batch_at,
            "worker": f"{socket.gethostname()}:{os.getpid()}",
            "run_id": run_id,
            # Where the batches' time went: reading and validating, each table's write, the dead letters.
            **{f"seconds_{step}": seconds for step, seconds in (summary.get("step_seconds") or {}).items()},
        },
    )


@dg.op(description="Runs the Kafka -> Cassandra streaming query until it is stopped or fails.")
def run_ratings_stream(context: dg.OpExecutionContext, spark: LazyPySparkResource, kafka: KafkaResource,
                       cassandra: CassandraResource) -> None:
    config = StreamConfig.from_settings()
    # The query fails on a missing topic or table, whether or not their assets were materialized.
    ensure_pipeline_storage(kafka, cassandra)
    context.log.info(f"streaming {config.topic} -> {config.keyspace}.records, checkpoint {config.checkpoint_dir}")
    last_batch_at = 0.0

    def report(summary: dict) -> None:
        nonlocal last_batch_at
        if summary.get("new_batch"):
            last_batch_at = time.time()
        if summary.get("stored"):
            # New rows in the table: a materialization, so freshness and "last updated" follow the stream.
            context.log_event(dg.AssetMaterialization(
                asset_key=RECORDS_KEY,
                metadata={"stored_rows": summary["stored"], "hours_written": ",".join(summary["hours"])},
            ))
        context.log_event(observation(summary, last_batch_at, context.run_id))

    with checkpoint_lock(config.checkpoint_dir):
        run_stream(spark.spark_session, config, on_progress=report)


@dg.job(
    name=STREAM_JOB,
    description="The never-ending streaming query; launched and supervised by ratings_stream_supervisor.",
    tags={**STREAM_TAG, "dagster/max_retries": "0"},
    # One process per run: the process the supervisor watches is the one holding the query.
    executor_def=dg.in_process_executor,
)
def ratings_stream_job():
    run_ratings_stream()


def _latest_observation(instance: dg.DagsterInstance, run_id: str) -> dict | None:
    records = instance.fetch_observations(RECORDS_KEY, limit=1).records
    if not records:
        return None
    event = records[0]
    metadata = event.asset_observation.metadata
    if "run_id" not in metadata or metadata["run_id"].value != run_id:
        return None
    return {
        "at": event.timestamp,
        "last_batch_at": metadata["last_batch_at"].value,
        "worker": metadata["worker"].value,
        "end_offsets": metadata["end_offsets"].value,
    }


def _worker_alive(worker: str) -> bool | None:
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def gather_health(instance: dg.DagsterInstance, kafka: KafkaResource, now: float) -> tuple[StreamHealth, dg.DagsterRun | None, dict | None]:
    runs = instance.get_runs(dg.RunsFilter(job_name=STREAM_JOB, statuses=ACTIVE), limit=1)
    if not runs:
        return StreamHealth(), None, None
    run = runs[0]
    record = instance.get_run_record_by_id(run.run_id)
    started = record.start_time or record.create_timestamp.timestamp()
    beat = _latest_observation(instance, run.run_id)
    backlog = None
    if beat:
        try:
            latest = kafka.end_offsets(settings.TOPIC.value())
            backlog = sum(max(0, o - int(beat["end_offsets"].get(str(p), 0))) for p, o in latest.items())
        except Exception:  # Kafka down: no backlog figure; heartbeats still tell alive from dead.
            backlog = None
    health = StreamHealth(
        run_id=run.run_id,
        run_status=run.status.value,
        run_age_s=now - started,
        heartbeat_age_s=now - beat["at"] if beat else None,
        last_batch_age_s=(now - beat["last_batch_at"]) if beat and beat["last_batch_at"] else None,
        worker_alive=_worker_alive(beat["worker"]) if beat else None,
        backlog=backlog,
    )
    return health, run, beat


def _failure_message(instance: dg.DagsterInstance) -> str:
    """Why the job's latest run ended, for the sensor's messages."""
    runs = instance.get_runs(dg.RunsFilter(job_name=STREAM_JOB), limit=1)
    if not runs:
        return "the launched run is gone"
    run_id = runs[0].run_id
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_FAILURE, limit=1, ascending=False).records
    if not records:
        return f"run {run_id} ended ({runs[0].status.value})"
    error = records[0].event_log_entry.dagster_event.step_failure_data.error
    text = (error.message if error else "").strip().splitlines()
    return f"run {run_id} failed: {' '.join(text[-3:])[:500]}"


def stop_run(instance: dg.DagsterInstance, run: dg.DagsterRun, beat: dict | None, reason: str) -> None:
    """Terminate a run for good: ask the launcher, kill a leftover local worker, mark the run failed."""
    try:
        instance.run_launcher.terminate(run.run_id)
    except Exception:
        pass
    deadline = time.monotonic() + 10
    while beat and _worker_alive(beat["worker"]) and time.monotonic() < deadline:
        time.sleep(0.5)
    if beat and _worker_alive(beat["worker"]):
        # A stalled query can ignore termination; its process must not outlive the run.
        try:
            os.kill(int(beat["worker"].rpartition(":")[2]), signal.SIGKILL)
        except ProcessLookupError:
            pass
    current = instance.get_run_by_id(run.run_id)
    if current and not current.is_finished:
        instance.report_run_failed(current, f"ratings_stream_supervisor: {reason}")


def supervise(context: dg.SensorEvaluationContext, kafka: KafkaResource, policy: Policy) -> dg.SensorResult | dg.SkipReason:
    now = time.time()
    state = SupervisorState.from_cursor(context.cursor)
    health, run, beat = gather_health(context.instance, kafka, now)
    if health.run_id is None and state.watched_run_id:
        state.record_failure(now, _failure_message(context.instance), policy.failure_window_s)
        state.watched_run_id = None
    decision = decide(health, state, policy, now)
    context.log.info(f"{decision.action}: {decision.reason}")
    run_requests = []
    if decision.action == "ok" and health.run_id:
        if state.gave_up:
            state.gave_up, state.failures = None, []
        state.watched_run_id = health.run_id
    elif decision.action == "restart":
        stop_run(context.instance, run, beat, decision.reason)
        state.record_failure(now, decision.reason, policy.failure_window_s)
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
def ratings_stream_supervisor(context: dg.SensorEvaluationContext, kafka: KafkaResource):
    return supervise(context, kafka, Policy(trigger_s=float(settings.TRIGGER_SECONDS.value())))



@dg.asset_check(asset=RECORDS_KEY, description="the streaming job reports, and its consumer lag is under RATINGS_MAX_CONSUMER_LAG")
def consumer_lag_below_threshold(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    threshold = int(settings.MAX_CONSUMER_LAG.value())
    records = context.instance.fetch_observations(RECORDS_KEY, limit=1).records
    if not records:
        return dg.AssetCheckResult(passed=False, description="the streaming job has not reported yet")
    lag = records[0].asset_observation.metadata["consumer_lag"].value
    age = time.time() - records[0].timestamp
    return dg.AssetCheckResult(
        passed=0 <= lag <= threshold and age < 120,
        metadata={"consumer_lag": lag, "threshold": threshold, "report_age_s": round(age, 1)},
        description=None if age < 120 else f"last report from the stream is {age:.0f} s old",
    )


@dg.asset_check(asset=RECORDS_KEY, description="events whose movie is unknown are counted in the dead-letter topic, not dropped")
def no_unknown_movies(kafka: KafkaResource) -> dg.AssetCheckResult:
    counts = kafka.dead_letter_counts(settings.DLQ_TOPIC.value())
    unknown = counts.get("unknown_movie", 0)
    return dg.AssetCheckResult(
        passed=unknown == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"unknown_movie": unknown, "dead_letters_total": sum(counts.values()),
                  "dead_letters_by_reason": dg.MetadataValue.json(counts)},
    )


records_checks_schedule = dg.ScheduleDefinition(
    name="records_checks_every_10_minutes",
    target=dg.AssetSelection.checks_for_assets(RECORDS_KEY),
    cron_schedule="*/10 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
