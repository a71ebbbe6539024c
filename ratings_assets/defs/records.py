"""reviews.records: the Cassandra table the streaming job fills, one partition per UTC hour, and its checks.

The stream is its only producer: after each micro-batch it reports a
materialization of every hour partition it wrote (`defs/stream_job.py`). The
stream also reports both checks after each batch, right after its
materializations, so their results are those of the latest data; executing
a check from the UI evaluates it from Dagster's and Kafka's state instead.
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

def lag_check(lag: int | None, report_age_s: float) -> dict:
    """The rule of consumer_lag_below_threshold: what AssetCheckResult and AssetCheckEvaluation both take."""
    metadata = {"report_age_s": round(report_age_s, 1), "threshold": dg.MetadataValue.text(f"{MAX_CONSUMER_LAG:,}")}
    if lag is None:
        return {"passed": False, "metadata": metadata,
                "description": "the stream has not measured its lag yet (no batch since it started)"}
    if report_age_s > MAX_REPORT_AGE_S:
        return {"passed": False, "metadata": {"consumer_lag": lag, **metadata},
                "description": f"last report from the stream is {report_age_s:.0f} s old"}
    return {"passed": lag <= MAX_CONSUMER_LAG, "metadata": {"consumer_lag": lag, **metadata}}


def unknown_movies_check(dead_letters: dict[str, int], scope: str) -> dict:
    """The rule of no_unknown_movies; `scope` says which dead letters were counted."""
    unknown = dead_letters.get("unknown_movie", 0)
    return {"passed": unknown == 0, "severity": dg.AssetCheckSeverity.WARN,
            "metadata": {"unknown_movie": unknown, "dead_letters": sum(dead_letters.values()),
                         "dead_letters_by_reason": dg.MetadataValue.json(dead_letters),
                         "counted": dg.MetadataValue.text(scope)}}


@dg.asset_check(asset=RECORDS_KEY, description=f"the streaming job reports, and its consumer lag is at most "
                                               f"{MAX_CONSUMER_LAG:,} (RATINGS_MAX_CONSUMER_LAG)")
def consumer_lag_below_threshold(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    records = context.instance.fetch_observations(RECORDS_KEY, limit=1).records
    if not records:
        return dg.AssetCheckResult(passed=False, description="the streaming job has not reported yet")
    lag = records[0].asset_observation.metadata.get("consumer_lag")
    return dg.AssetCheckResult(**lag_check(lag.value if lag else None, time.time() - records[0].timestamp))


@dg.asset_check(asset=RECORDS_KEY,
                description="events whose movie is unknown are counted in the dead-letter topic, not dropped")
def no_unknown_movies(kafka: KafkaResource) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(**unknown_movies_check(kafka.dead_letter_counts(), "the whole dead-letter topic"))
