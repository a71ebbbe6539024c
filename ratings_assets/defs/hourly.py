"""Hourly per-user aggregates: one partition per UTC hour, backfillable as one run.

Materializing an hour reads only that hour's rows (records_by_hour), so its
cost follows the hour's events, not the table's size. Each materialization
checks itself against reviews.records, read through the other table.
"""

import json
import time
from datetime import datetime, timedelta, timezone

import dagster as dg

from ratings_assets import settings
from ratings_assets.core.aggregation import UserHour, aggregate_hour, summarize
from ratings_assets.core.events import RATING_MAX, RATING_MIN
from ratings_assets.core.hours import hours_in, partition_key
from ratings_assets.core.schedule import due_hours
from ratings_assets.defs.records import RECORDS_KEY
from ratings_assets.resources.cassandra import CassandraResource

HOURLY_KEY = dg.AssetKey(["reviews", "hourly_user_ratings"])
HOURLY_PARTITIONS = dg.HourlyPartitionsDefinition(start_date=settings.HOURLY_START.value(), timezone="UTC")
COUNTS_CHECK = "counts_match_records"
RANGE_CHECK = "ratings_within_range"


def _preview(user_hours: list[UserHour], limit: int = 10) -> str:
    busiest = sorted(user_hours, key=lambda u: (-u.ratings, u.name))[:limit]
    lines = ["| user | ratings | avg | min | max | avg duration |", "|---|---|---|---|---|---|"]
    lines += [
        f"| {u.name} | {u.ratings} | {u.avg_rating:.2f} | {u.min_rating} | {u.max_rating} | "
        f"{'' if u.avg_duration is None else f'{u.avg_duration:.1f}'} |"
        for u in busiest
    ]
    return "\n".join(lines)


def _mismatches(cassandra: CassandraResource, session, user_hours: list[UserHour]) -> list[str]:
    """Users whose aggregated count differs from their rows in reviews.records."""
    found = cassandra.count_records(session, [(u.name, u.hour) for u in user_hours])
    return [
        f"{u.name} @ {partition_key(u.hour)}: {u.ratings} aggregated, {n} in records"
        for u, n in zip(user_hours, found)
        if n != u.ratings
    ]


@dg.asset(
    key=HOURLY_KEY,
    deps=[RECORDS_KEY],
    partitions_def=HOURLY_PARTITIONS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="ratings",
    kinds={"cassandra", "python"},
    owners=["team:data-platform"],
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=2), warn_window=timedelta(minutes=75)),
    check_specs=[
        dg.AssetCheckSpec(COUNTS_CHECK, asset=HOURLY_KEY, description="ratings per user and hour equal the rows in reviews.records"),
        dg.AssetCheckSpec(RANGE_CHECK, asset=HOURLY_KEY, description=f"every rating is within {RATING_MIN}..{RATING_MAX}"),
    ],
    description=(
        "Per user and UTC hour: number of ratings, mean, min and max rating, mean duration of the rated "
        "movies, and the movies. Stored in reviews.user_hourly_ratings (a user's hours) and "
        "reviews.hourly_user_ratings (an hour's users)."
    ),
)
def hourly_user_ratings(context: dg.AssetExecutionContext, cassandra: CassandraResource) -> dg.MaterializeResult:
    window = context.partition_time_window
    hours = list(hours_in(window.start, window.end))
    started = time.monotonic()
    aggregated_at = datetime.now(timezone.utc)
    all_user_hours: list[UserHour] = []
    mismatches: list[str] = []
    with cassandra.session() as session:
        for done, hour in enumerate(hours, start=1):
            rows = cassandra.read_hour(session, hour)
            user_hours = aggregate_hour(hour, rows)
            cassandra.write_user_hours(session, user_hours, aggregated_at)
            mismatches += _mismatches(cassandra, session, user_hours)
            all_user_hours += user_hours
            context.log.info(f"{partition_key(hour)}: {len(rows):,} ratings by {len(user_hours):,} users ({done}/{len(hours)} hours)")
    summary = summarize(all_user_hours)
    mean = {"mean_rating": round(summary.mean_rating, 4)} if summary.mean_rating is not None else {}
    out_of_range = [u.name for u in all_user_hours if u.min_rating < RATING_MIN or u.max_rating > RATING_MAX]
    return dg.MaterializeResult(
        metadata={
            "hours": len(hours),
            "ratings": summary.ratings,
            "users": summary.users,
            **mean,
            "seconds": round(time.monotonic() - started, 2),
            "preview": dg.MetadataValue.md(_preview(all_user_hours)),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=COUNTS_CHECK,
                passed=not mismatches,
                metadata={"user_hours_checked": len(all_user_hours), "mismatches": "\n".join(mismatches[:20]) or "none"},
            ),
            dg.AssetCheckResult(
                check_name=RANGE_CHECK,
                passed=not out_of_range,
                metadata={"users_out_of_range": ", ".join(out_of_range[:20]) or "none"},
            ),
        ],
    )


def _hours_written(instance: dg.DagsterInstance, after_storage_id: int, written: dict[str, int]) -> int:
    """Fold the stream's reports since `after_storage_id` into hour -> newest storage id; returns the new cursor."""
    while True:
        result = instance.fetch_observations(
            dg.AssetRecordsFilter(asset_key=RECORDS_KEY, after_storage_id=after_storage_id), limit=500, ascending=True
        )
        for record in result.records:
            after_storage_id = record.storage_id
            hours = record.asset_observation.metadata.get("hours_written")
            for key in filter(None, (hours.value if hours else "").split(",")):
                written[key] = max(written.get(key, -1), record.storage_id)
        if not result.has_more:
            return after_storage_id


@dg.sensor(
    target=[hourly_user_ratings],
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Aggregates each hour shortly after it closes, and again when late events land in an hour "
        "already aggregated (within RATINGS_LATE_DATA_HOURS)."
    ),
)
def hourly_aggregates_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    cursor = json.loads(context.cursor) if context.cursor else {"after": 0, "written": {}}
    written = dict(cursor["written"])
    after = _hours_written(context.instance, cursor["after"], written)
    # Partition keys sort as times; hours before the first partition have nothing to aggregate into.
    written = {k: v for k, v in written.items() if k >= settings.HOURLY_START.value()}
    aggregated = context.instance.get_latest_storage_id_by_partition(
        HOURLY_KEY, dg.DagsterEventType.ASSET_MATERIALIZATION, set(written)
    )
    due = due_hours(
        written,
        dict(aggregated),
        datetime.now(timezone.utc),
        grace=timedelta(minutes=float(settings.AGGREGATE_GRACE_MINUTES.value())),
        late_bound=timedelta(hours=float(settings.LATE_DATA_HOURS.value())),
    )
    if due.too_late:
        context.log.warning(f"late rows for hours past the late-data bound, not re-aggregated: {', '.join(due.too_late)}")
    requests = [dg.RunRequest(partition_key=key, run_key=f"{key}@{write_id}") for key, write_id in due.requests.items()]
    return dg.SensorResult(
        run_requests=requests,
        cursor=json.dumps({"after": after, "written": due.waiting}),
        skip_reason=None if requests else f"no closed hour with new rows ({len(due.waiting)} hours still open)",
    )
