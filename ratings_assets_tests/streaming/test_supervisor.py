from ratings_assets.streaming.supervisor import Policy, StreamHealth, SupervisorState, decide

POLICY = Policy(trigger_s=30, start_grace_s=180, heartbeat_timeout_s=60, backoff_base_s=10, backoff_max_s=300,
                max_failures=3, failure_window_s=1800)
NOW = 10_000.0
HEALTHY = StreamHealth(run_id="r1", run_status="STARTED", run_age_s=600, heartbeat_age_s=5, last_batch_age_s=20,
                       worker_alive=True, backlog=100)


def test_launches_when_nothing_runs():
    assert decide(StreamHealth(), SupervisorState(), POLICY, NOW).action == "launch"


def test_healthy_run_is_left_alone():
    assert decide(HEALTHY, SupervisorState(), POLICY, NOW).action == "ok"


def test_killed_worker_is_restarted_at_once():
    health = StreamHealth(**{**HEALTHY.__dict__, "worker_alive": False})
    decision = decide(health, SupervisorState(), POLICY, NOW)
    assert decision.action == "restart" and "gone" in decision.reason


def test_silent_run_is_restarted_after_the_heartbeat_timeout():
    health = StreamHealth(**{**HEALTHY.__dict__, "heartbeat_age_s": 61, "worker_alive": None})
    assert decide(health, SupervisorState(), POLICY, NOW).action == "restart"


def test_stall_needs_waiting_data():
    stalled = StreamHealth(**{**HEALTHY.__dict__, "last_batch_age_s": 121, "backlog": 50})
    idle = StreamHealth(**{**HEALTHY.__dict__, "last_batch_age_s": 3600, "backlog": 0})
    assert decide(stalled, SupervisorState(), POLICY, NOW).action == "restart"
    assert decide(idle, SupervisorState(), POLICY, NOW).action == "ok"


def test_starting_run_gets_a_grace_period():
    starting = StreamHealth(run_id="r1", run_status="STARTED", run_age_s=100)
    assert decide(starting, SupervisorState(), POLICY, NOW).action == "ok"
    late = StreamHealth(run_id="r1", run_status="STARTED", run_age_s=200)
    assert decide(late, SupervisorState(), POLICY, NOW).action == "restart"
    queued = StreamHealth(run_id="r1", run_status="QUEUED", run_age_s=200)
    assert decide(queued, SupervisorState(), POLICY, NOW).action == "restart"


def test_backs_off_exponentially_between_relaunches():
    state = SupervisorState()
    state.record_failure(NOW - 5, "boom", POLICY.failure_window_s)
    assert decide(StreamHealth(), state, POLICY, NOW).action == "wait"
    assert decide(StreamHealth(), state, POLICY, NOW + 6).action == "launch"
    state.record_failure(NOW, "boom again", POLICY.failure_window_s)
    # second failure: 20 s back-off
    assert decide(StreamHealth(), state, POLICY, NOW + 19).action == "wait"
    assert decide(StreamHealth(), state, POLICY, NOW + 21).action == "launch"


def test_gives_up_after_too_many_failures_in_the_window_and_says_why():
    state = SupervisorState()
    for t in (NOW - 300, NOW - 200, NOW - 100):
        state.record_failure(t, "Cassandra unreachable", POLICY.failure_window_s)
    decision = decide(StreamHealth(), state, POLICY, NOW)
    assert decision.action == "give_up" and "Cassandra unreachable" in decision.reason
    # old failures fall out of the window
    assert decide(StreamHealth(), state, POLICY, NOW + 2000).action == "launch"


def test_cursor_round_trip():
    state = SupervisorState(failures=[1.0], last_failure="x", watched_run_id="r", launches=2, gave_up=None,
                            last_tick=5.0)
    assert SupervisorState.from_cursor(state.to_cursor()) == state
    assert SupervisorState.from_cursor(None) == SupervisorState()


def test_a_run_is_proven_by_a_stored_batch_or_a_long_heartbeat_not_by_merely_starting():
    assert HEALTHY.proven(POLICY)  # it stored a batch 20 s ago
    idle_long = StreamHealth(**{**HEALTHY.__dict__, "last_batch_age_s": None, "run_age_s": POLICY.healthy_after_s})
    assert idle_long.proven(POLICY)
    young = StreamHealth(**{**HEALTHY.__dict__, "last_batch_age_s": None, "run_age_s": POLICY.healthy_after_s - 1})
    assert not young.proven(POLICY)
    silent = StreamHealth(**{**HEALTHY.__dict__, "heartbeat_age_s": None})
    gone = StreamHealth(**{**HEALTHY.__dict__, "worker_alive": False})
    assert not silent.proven(POLICY) and not gone.proven(POLICY)


def test_after_a_gap_without_ticks_the_state_starts_afresh_and_not_before():
    state = SupervisorState(failures=[NOW - 10], last_failure="x", gave_up="gave up", last_tick=NOW - 60)
    assert not state.afresh(NOW, POLICY) and state.gave_up == "gave up"
    state.last_tick = NOW - POLICY.fresh_after_s - 1
    assert state.afresh(NOW, POLICY)
    assert (state.failures, state.gave_up) == ([], None)
    assert decide(StreamHealth(), state, POLICY, NOW).action == "launch"


def test_a_run_that_died_after_storing_a_batch_or_beating_long_enough_had_proven_itself():
    stored_then_killed = StreamHealth(**{**HEALTHY.__dict__, "worker_alive": False})
    assert stored_then_killed.had_proven(POLICY) and not stored_then_killed.proven(POLICY)
    beat_long = StreamHealth(run_id="r1", run_status="FAILURE", run_age_s=POLICY.healthy_after_s + 30,
                             heartbeat_age_s=20)
    assert beat_long.had_proven(POLICY)
    beat_briefly = StreamHealth(run_id="r1", run_status="FAILURE", run_age_s=POLICY.healthy_after_s + 30,
                                heartbeat_age_s=40)
    never_beat = StreamHealth(run_id="r1", run_status="FAILURE", run_age_s=POLICY.healthy_after_s * 3)
    assert not beat_briefly.had_proven(POLICY) and not never_beat.had_proven(POLICY)


def test_the_end_of_a_proven_run_starts_a_new_series_and_a_crash_loop_still_gives_up():
    """A kill can land between two ticks, before any saw the run healthy: its death must not add to the last ones."""
    state = SupervisorState()
    for t in (NOW - 300, NOW - 200):
        state.record_failure(t, "killed", POLICY.failure_window_s)
    state.record_failure(NOW, "killed again", POLICY.failure_window_s, after_healthy_run=True)
    assert state.failures == [NOW]
    assert decide(StreamHealth(), state, POLICY, NOW + POLICY.backoff_base_s + 1).action == "launch"
    state.record_failure(NOW + 20, "cannot start", POLICY.failure_window_s)
    state.record_failure(NOW + 60, "cannot start", POLICY.failure_window_s)
    assert decide(StreamHealth(), state, POLICY, NOW + 100).action == "give_up"


def test_the_stall_clock_starts_with_the_query_not_with_the_run():
    """Spark's start-up on a loaded machine is the start grace's business: a query that started a moment ago,
    with its first batch still running, is not stalled however long the run took to get there."""
    starting = StreamHealth(run_id="r1", run_status="STARTED", run_age_s=POLICY.start_grace_s - 10, query_age_s=30,
                            heartbeat_age_s=2, worker_alive=True, backlog=10_000)
    assert decide(starting, SupervisorState(), POLICY, NOW).action == "ok"
    stuck = StreamHealth(**{**starting.__dict__, "run_age_s": 400, "query_age_s": POLICY.stall_after_s + 1})
    assert decide(stuck, SupervisorState(), POLICY, NOW).action == "restart"


def test_a_slow_start_is_not_a_healthy_run_only_heartbeats_or_a_batch_are():
    """A job that takes long to start and then fails at once is a crash loop, however old its runs get."""
    slow_start = StreamHealth(run_id="r1", run_status="STARTED", run_age_s=POLICY.start_grace_s - 10, query_age_s=20,
                              heartbeat_age_s=5, worker_alive=True)
    assert not slow_start.proven(POLICY)
    crashed_after_it = StreamHealth(**{**slow_start.__dict__, "run_status": "FAILURE", "worker_alive": False})
    assert not crashed_after_it.had_proven(POLICY)
    beating = StreamHealth(**{**slow_start.__dict__, "query_age_s": POLICY.healthy_after_s})
    assert beating.proven(POLICY)
