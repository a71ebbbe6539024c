"""When to launch, restart, wait or give up on the streaming job: pure decisions.

The supervising sensor gathers the facts (`StreamHealth`) from Dagster and
Kafka, keeps its memory (`SupervisorState`) in its cursor, and acts on the
`Decision`. Keeping the rules here makes every branch testable without a
Dagster instance.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Policy:
    trigger_s: float = 30.0
    start_grace_s: float = 180.0  # a new run's first heartbeat may take this long (Spark start-up)
    heartbeat_timeout_s: float = 60.0  # the job reports at least every 15 s, even when idle
    stall_triggers: int = 4  # no batch for this many triggers while data waits = stalled
    backoff_base_s: float = 10.0
    backoff_max_s: float = 300.0
    max_failures: int = 5
    failure_window_s: float = 1800.0
    # A run that stored a batch, or kept its heartbeat this long, is healthy: the back-off starts over
    # (crash-loop protection is for a job that cannot start, not for one that runs well between failures).
    healthy_after_s: float = 120.0
    # A sensor that has not ticked for this long (Dagster was stopped) supervises afresh when it comes back.
    fresh_after_s: float = 300.0

    @property
    def stall_after_s(self) -> float:
        return max(120.0, self.stall_triggers * self.trigger_s)


@dataclass(frozen=True)
class StreamHealth:
    """What the sensor sees of the stream right now; ages are seconds, None when unknown."""

    run_id: str | None = None
    run_status: str | None = None  # QUEUED, NOT_STARTED, STARTING, STARTED
    run_age_s: float | None = None
    query_age_s: float | None = None  # since the query started (the run's start-up before it is not a stall)
    heartbeat_age_s: float | None = None
    last_batch_age_s: float | None = None
    worker_alive: bool | None = None  # None when the worker is on another host
    backlog: int | None = None  # messages in the topic beyond the job's last committed offsets

    @property
    def beating_since_s(self) -> float | None:
        """Age of the query, whose heartbeats prove it alive; of the run for heartbeats that do not say it."""
        return self.query_age_s if self.query_age_s is not None else self.run_age_s

    def proven(self, policy: Policy) -> bool:
        """Healthy enough to forget earlier failures: it stored a batch, or kept its heartbeat a while."""
        if self.run_status != "STARTED" or self.heartbeat_age_s is None or self.worker_alive is False:
            return False
        return self.last_batch_age_s is not None or (self.beating_since_s or 0) >= policy.healthy_after_s

    def had_proven(self, policy: Policy) -> bool:
        """Whether a run, dead or ended now, had been healthy: it stored a batch, or its heartbeats went on
        `healthy_after_s` past its query's start. A run can die between two ticks, before any saw it healthy."""
        if self.last_batch_age_s is not None:
            return True
        if self.heartbeat_age_s is None or self.beating_since_s is None:
            return False
        return self.beating_since_s - self.heartbeat_age_s >= policy.healthy_after_s


@dataclass
class SupervisorState:
    """The sensor's cursor: recent failures, the run it launched, and why it gave up."""

    failures: list[float] = field(default_factory=list)
    last_failure: str | None = None
    watched_run_id: str | None = None
    launches: int = 0
    gave_up: str | None = None
    last_tick: float | None = None

    def to_cursor(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_cursor(cls, cursor: str | None) -> SupervisorState:
        return cls(**json.loads(cursor)) if cursor else cls()

    def record_failure(self, now: float, reason: str, window_s: float, after_healthy_run: bool = False) -> None:
        """One more failure in the window; the end of a run that had proven healthy is the first of a new series."""
        earlier = [] if after_healthy_run else [t for t in self.failures if now - t < window_s]
        self.failures = earlier + [now]
        self.last_failure = reason

    def afresh(self, now: float, policy: Policy) -> bool:
        """Forget failures and giving up when the sensor comes back after a gap; True if it did."""
        if self.last_tick is None or now - self.last_tick <= policy.fresh_after_s:
            return False
        self.failures, self.gave_up, self.watched_run_id = [], None, None
        return True


@dataclass(frozen=True)
class Decision:
    action: str  # "ok", "launch", "restart", "wait", "give_up"
    reason: str


def _check_active_run(health: StreamHealth, policy: Policy) -> Decision:
    if health.run_status != "STARTED":
        if (health.run_age_s or 0) > policy.start_grace_s:
            return Decision("restart", f"run {health.run_id} stuck {health.run_status} for {health.run_age_s:.0f} s")
        return Decision("ok", f"run {health.run_id} is {health.run_status}")
    if health.worker_alive is False:
        return Decision("restart", f"the process of run {health.run_id} is gone (killed?) but the run is marked started")
    if health.heartbeat_age_s is None:
        if (health.run_age_s or 0) > policy.start_grace_s:
            return Decision("restart", f"run {health.run_id} sent no heartbeat in {health.run_age_s:.0f} s")
        return Decision("ok", f"run {health.run_id} is starting its query")
    if health.heartbeat_age_s > policy.heartbeat_timeout_s:
        return Decision("restart", f"no heartbeat from run {health.run_id} for {health.heartbeat_age_s:.0f} s")
    # Since the last batch, else since the query started: Spark's start-up before it is the start grace's business.
    stalled_for = health.last_batch_age_s if health.last_batch_age_s is not None else health.beating_since_s
    if health.backlog and stalled_for is not None and stalled_for > policy.stall_after_s:
        return Decision("restart", f"stalled: {health.backlog:,} messages waiting and no batch for {stalled_for:.0f} s")
    return Decision("ok", f"run {health.run_id} healthy (backlog {health.backlog})")


def decide(health: StreamHealth, state: SupervisorState, policy: Policy, now: float) -> Decision:
    """The one rule book. The caller records failures on restart and when a watched run has ended."""
    if health.run_id is not None:
        decision = _check_active_run(health, policy)
        if state.gave_up and decision.action == "ok":
            return Decision("ok", f"a run was started by hand after giving up; supervising again ({decision.reason})")
        return decision
    if state.gave_up:
        return Decision("give_up", state.gave_up)
    recent = [t for t in state.failures if now - t < policy.failure_window_s]
    if len(recent) >= policy.max_failures:
        return Decision(
            "give_up",
            f"gave up after {len(recent)} failures in {policy.failure_window_s / 60:.0f} min; "
            f"last: {state.last_failure}. Fix the cause, then launch the job by hand or reset this sensor's cursor.",
        )
    if recent:
        backoff = min(policy.backoff_max_s, policy.backoff_base_s * 2 ** (len(recent) - 1))
        remaining = recent[-1] + backoff - now
        if remaining > 0:
            return Decision("wait", f"backing off {remaining:.0f} s more after failure {len(recent)}: {state.last_failure}")
        return Decision("launch", f"relaunching after failure {len(recent)}: {state.last_failure}")
    return Decision("launch", "no streaming job is running")
