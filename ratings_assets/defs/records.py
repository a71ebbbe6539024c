"""The Cassandra table the streaming job fills: reviews.records (+ records_by_hour)."""

from datetime import timedelta

import dagster as dg

from ratings_assets.resources.cassandra import CassandraResource

RECORDS_KEY = dg.AssetKey(["reviews", "records"])


@dg.asset(
    key=RECORDS_KEY,
    deps=["ratings_topic", "movie_catalog"],
    group_name="ratings",
    kinds={"cassandra", "spark"},
    owners=["team:data-platform"],
    # The stream reports a materialization for every batch that stored rows.
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(minutes=15), warn_window=timedelta(minutes=5)),
    description=(
        "Every valid rating, enriched with its movie, partitioned by (name, hour) and clustered by "
        "time: 'what did user U rate during hour H'. Filled continuously by the streaming job; "
        "materializing creates the keyspace and tables."
    ),
)
def records_table(cassandra: CassandraResource) -> dg.MaterializeResult:
    """Creates the keyspace and tables if missing (idempotent); the stream writes the rows."""
    statements = cassandra.ensure_schema()
    return dg.MaterializeResult(
        metadata={
            "keyspace": cassandra.keyspace,
            "replication": cassandra.replication,
            "schema": dg.MetadataValue.md("\n\n".join(f"```sql\n{s.strip()}\n```" for s in statements)),
        }
    )
