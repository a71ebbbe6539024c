"""reviews.records: the Cassandra table the streaming job fills, one partition per UTC hour, and its checks.

The stream is its only producer: after each micro-batch it reports a
materialization of every hour partition it wrote (`defs/stream_job.py`). The
checks run by automation: first once the stream has reported, then every few
minutes while it keeps reporting.
"""

import time
from datetime import timedelta

import dagster as dg

from ratings_assets import settings
from ratings_assets.defs.partitions import RECORDS_PARTITIONS
from ratings_assets.resources.kafka import KafkaResource

RECORDS_KEY = dg.AssetKey(["reviews", "records"])
MAX_CONSUMER_LAG = settings.MAX_CONSUMER_LAG.value()
# A heartbeat comes at least every 15 s; older than this, the stream is not reporting.
MAX_REPORT_AGE_S = 120
CHECKS_CRON = "*/5 * * * *"

records = dg.AssetSpec(
    key=RECORDS_KEY,
    deps=["ratings_topic", "movie_catalog"],
    partitions_def=RECORDS_PARTITIONS,
    group_name="ratings",
    kinds={"cassandra", "spark"},
    owners=["team:data-platform"],
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(minutes=15), warn_window=timedelta(minutes=5)),
    description=(
        "Every valid rating, enriched with its movie, partitioned by (name, hour) and clustered by "
        "time: 'what did user U rate during hour H'. Filled continuously by ratings_stream_job, which "
        "creates the keyspace and tables when missing and reports each hour it writes to."
    ),
)

# Run a check once the stream has reported since the check's last run, then at most every five minutes.
# Both flags reset when the check is requested or runs (not on the sensor's first evaluation, as
# since_last_handled() would: a check that never ran must run).
_since_last_run = dg.AutomationCondition.newly_requested() | dg.AutomationCondition.newly_updated()
CHECKS_CONDITION = (
    dg.AutomationCondition.any_deps_updated().since(_since_last_run).with_label("the stream reported since the last check")
    & (dg.AutomationCondition.missing().newly_true() | dg.AutomationCondition.cron_tick_passed(CHECKS_CRON))
    .since(_since_last_run).with_label(f"never run, or a tick of {CHECKS_CRON} passed since")
    & ~dg.AutomationCondition.in_progress()
)


@dg.asset_check(asset=RECORDS_KEY, automation_condition=CHECKS_CONDITION,
                description=f"the streaming job reports, and its consumer lag is at most {MAX_CONSUMER_LAG:,} "
                            "(RATINGS_MAX_CONSUMER_LAG)")
def consumer_lag_below_threshold(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    records = context.instance.fetch_observations(RECORDS_KEY, limit=1).records
    if not records:
        return dg.AssetCheckResult(passed=False, description="the streaming job has not reported yet")
    observed = records[0]
    lag = observed.asset_observation.metadata.get("consumer_lag")
    age = time.time() - observed.timestamp
    metadata = {"threshold": MAX_CONSUMER_LAG, "report_age_s": round(age, 1)}
    if lag is None:
        return dg.AssetCheckResult(passed=False, metadata=metadata,
                                   description="the stream has not measured its lag yet (no batch since it started)")
    stale = age > MAX_REPORT_AGE_S
    return dg.AssetCheckResult(
        passed=lag.value <= MAX_CONSUMER_LAG and not stale,
        metadata={"consumer_lag": lag.value, **metadata},
        description=f"last report from the stream is {age:.0f} s old" if stale else None,
    )


@dg.asset_check(asset=RECORDS_KEY, automation_condition=CHECKS_CONDITION,
                description="events whose movie is unknown are counted in the dead-letter topic, not dropped")
def no_unknown_movies(kafka: KafkaResource) -> dg.AssetCheckResult:
    counts = kafka.dead_letter_counts()
    unknown = counts.get("unknown_movie", 0)
    return dg.AssetCheckResult(
        passed=unknown == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"unknown_movie": unknown, "dead_letters_total": sum(counts.values()),
                  "dead_letters_by_reason": dg.MetadataValue.json(counts)},
    )
