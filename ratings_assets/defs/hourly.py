"""Hourly per-user aggregates: one partition per closed UTC hour, backfillable as one run.

Materializing an hour reads only that hour's rows (its users from the
users_by_hour index, then their partitions of records), so its cost follows
the hour's events, not the table's size. Each materialization checks its
counts against Cassandra's own COUNT of those partitions.

Declarative automation requests an hour once it has closed (plus a grace for
the batch in flight), and again whenever the stream writes late rows to it,
as long as the hour is within the late-data bound; the UI's automation
evaluation shows which part of the condition holds an hour back.
"""

import time
from datetime import datetime, timedelta, timezone

import dagster as dg

from ratings_assets.core.aggregation import UserHour, aggregate_hour, summarize
from ratings_assets.core.events import RATING_MAX, RATING_MIN
from ratings_assets.core.hours import hours_in, partition_key
from ratings_assets.defs.partitions import GRACE, HOURLY_PARTITIONS, LATE_DATA_BOUND
from ratings_assets.defs.records import RECORDS_KEY
from ratings_assets.resources.cassandra import CassandraResource

HOURLY_KEY = dg.AssetKey(["reviews", "hourly_user_ratings"])
COUNTS_CHECK = "counts_match_records"
RANGE_CHECK = "ratings_within_range"


class HourClosedFor(dg.AutomationCondition):
    """True for the hours that ended at least `grace` ago.

    The one piece the built-in conditions lack: they know the latest time
    window, not how long ago an hour closed. Put it after a condition that
    narrows the candidates (it looks at each candidate hour).
    """

    def __init__(self, grace: timedelta):
        self.grace = grace

    @property
    def name(self) -> str:
        return "hour_closed_for"

    def get_label(self) -> str:
        return f"closed at least {self.grace} ago"

    def evaluate(self, context: dg.AutomationContext) -> dg.AutomationResult:
        cutoff = context.evaluation_time - self.grace
        partitions = context.partitions_def
        closed = [key for key in context.candidate_subset.expensively_compute_partition_keys()
                  if partitions.time_window_for_partition_key(key).end <= cutoff]
        return dg.AutomationResult(context, context.candidate_subset.compute_intersection_with_partition_keys(closed))


def aggregation_condition(grace: timedelta, late_bound: timedelta) -> dg.AutomationCondition:
    """Aggregate an hour with rows once it has closed, and again after late rows, within the late-data bound."""
    AC = dg.AutomationCondition
    return (
        AC.in_latest_time_window(late_bound).with_label(f"within the late-data bound ({late_bound})")
        & HourClosedFor(grace)
        # since(requested or updated) rather than since_last_handled(): that one also resets on the sensor's
        # first evaluation, and hours that got rows before it would never be aggregated.
        & (AC.missing().newly_true() | AC.any_deps_updated()).since(AC.newly_requested() | AC.newly_updated())
        .with_label("new rows in reviews/records since the last aggregation")
        & ~AC.any_deps_missing().with_label("reviews/records has rows in this hour")
        & ~AC.in_progress()
    )


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
    automation_condition=aggregation_condition(GRACE, LATE_DATA_BOUND),
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
            rows = cassandra.read_hour_ratings(session, hour)
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
