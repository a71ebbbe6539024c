"""The records checks' rules, and the checks executed against a real (temporary) instance."""

import dagster as dg

from ratings_assets.defs.records import (MAX_CONSUMER_LAG, MAX_REPORT_AGE_S, RECORDS_KEY, consumer_lag_below_threshold,
                                         lag_check, no_unknown_movies, unknown_movies_check)
from ratings_assets.defs.stream_job import checks_of_batch, observation
from ratings_assets.resources.kafka import KafkaResource


def test_lag_passes_up_to_the_threshold_and_fails_above_unknown_or_stale():
    assert lag_check(MAX_CONSUMER_LAG, 1.0)["passed"]
    assert not lag_check(MAX_CONSUMER_LAG + 1, 1.0)["passed"]
    assert not lag_check(None, 1.0)["passed"]
    stale = lag_check(0, MAX_REPORT_AGE_S + 1)
    assert not stale["passed"] and "old" in stale["description"]


def test_unknown_movies_warn_and_count():
    clean = unknown_movies_check({"bad_name": 2}, "x")
    assert clean["passed"] and clean["metadata"]["dead_letters"] == 2
    dirty = unknown_movies_check({"unknown_movie": 3, "bad_name": 2}, "x")
    assert not dirty["passed"] and dirty["severity"] == dg.AssetCheckSeverity.WARN
    assert dirty["metadata"]["unknown_movie"] == 3


def test_a_batch_reports_both_checks_by_name():
    evaluations = checks_of_batch({"consumer_lag": MAX_CONSUMER_LAG + 5, "rejected": {"unknown_movie": 1}})
    assert {(e.check_name, e.passed) for e in evaluations} == {("consumer_lag_below_threshold", False),
                                                                ("no_unknown_movies", False)}


class DeadLetters(KafkaResource):
    """The dead-letter counts only (a fake for the check's own logic)."""

    counts: dict = {}

    def dead_letter_counts(self, topic: str | None = None, timeout_ms: int = 5000) -> dict[str, int]:
        return dict(self.counts)


def execute_checks(instance, kafka) -> dict[str, bool]:
    defs = dg.Definitions(assets=[dg.AssetSpec(RECORDS_KEY)], asset_checks=[consumer_lag_below_threshold, no_unknown_movies],
                          resources={"kafka": kafka})
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=instance, asset_selection=[])
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def test_the_checks_executed_from_the_ui_pass_and_fail_on_the_instances_and_kafkas_state():
    with dg.instance_for_test() as instance:
        assert execute_checks(instance, DeadLetters(counts={})) == {"consumer_lag_below_threshold": False,
                                                                    "no_unknown_movies": True}
        instance.report_runless_asset_event(observation({"consumer_lag": 7, "new_batch": True}, None, "r1"))
        assert execute_checks(instance, DeadLetters(counts={"unknown_movie": 2})) == {
            "consumer_lag_below_threshold": True, "no_unknown_movies": False}
        instance.report_runless_asset_event(observation({"consumer_lag": MAX_CONSUMER_LAG + 1}, None, "r1"))
        assert execute_checks(instance, DeadLetters(counts={}))["consumer_lag_below_threshold"] is False
