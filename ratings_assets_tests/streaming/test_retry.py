"""A batch write is tried again only for errors a Cassandra node going away explains, with growing pauses."""

import pytest

from ratings_assets.streaming.retry import ATTEMPTS, is_transient, with_retries, write_attempts

SHUTTING_DOWN = ("An error occurred while calling o2654.save.\n: com.datastax.oss.driver.api.core.DriverExecutionException\n"
                 "Caused by: com.datastax.oss.driver.internal.core.adminrequest.UnexpectedResponseException: query "
                 "'SELECT * FROM system_schema.keyspaces' got unexpected response ERROR(Server is shutting down)")
GAVE_UP = "java.io.IOException: Failed to write statements to ks.records. The\nlatest exception was"
NOT_THE_RING = "org.apache.spark.sql.AnalysisException: [TABLE_OR_VIEW_NOT_FOUND] The table ks.nope cannot be found."


@pytest.mark.parametrize("text, transient", [(SHUTTING_DOWN, True), (GAVE_UP, True), (NOT_THE_RING, False),
                                             ("", False)])
def test_which_errors_are_transient(text, transient):
    assert is_transient(RuntimeError(text)) is transient


def test_a_transient_error_is_retried_with_doubling_pauses():
    pauses, calls = [], []

    def action():
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError(SHUTTING_DOWN)
        return "stored"

    assert with_retries(action, "writing records", sleep=pauses.append) == "stored"
    assert len(calls) == 3 and pauses == [2.0, 4.0]


def test_each_retry_is_prepared_after_its_pause():
    """The write's session is checked between a failure and the next attempt (connector_session.py)."""
    steps = []

    def action():
        steps.append("attempt")
        if steps.count("attempt") < 3:
            raise RuntimeError(SHUTTING_DOWN)

    with_retries(action, "writing records", sleep=lambda s: steps.append(f"pause {s:g}"),
                 before_retry=lambda: steps.append("fresh sessions"))
    assert steps == ["attempt", "pause 2", "fresh sessions", "attempt", "pause 4", "fresh sessions", "attempt"]


def test_it_gives_up_after_the_last_attempt():
    pauses = []
    with pytest.raises(RuntimeError, match="Server is shutting down"):
        with_retries(lambda: (_ for _ in ()).throw(RuntimeError(SHUTTING_DOWN)), "writing records", attempts=4,
                     sleep=pauses.append)
    assert pauses == [2.0, 4.0, 8.0]


def test_any_other_error_fails_at_once():
    pauses = []
    with pytest.raises(RuntimeError, match="TABLE_OR_VIEW_NOT_FOUND"):
        with_retries(lambda: (_ for _ in ()).throw(RuntimeError(NOT_THE_RING)), "writing records", sleep=pauses.append)
    assert pauses == []


@pytest.mark.parametrize("hosts, attempts", [("127.0.0.1", 1), ("127.0.0.1,127.0.0.2,127.0.0.3", ATTEMPTS),
                                             ("c1, c2", ATTEMPTS), ("c1,", 1)])
def test_retries_only_with_several_hosts(hosts, attempts):
    assert write_attempts(hosts) == attempts


def test_one_attempt_raises_the_first_error():
    pauses = []
    with pytest.raises(RuntimeError, match="Server is shutting down"):
        with_retries(lambda: (_ for _ in ()).throw(RuntimeError(SHUTTING_DOWN)), "writing records", attempts=1,
                     sleep=pauses.append)
    assert pauses == []
