"""The resources every asset, job and sensor shares, configured from the RATINGS_* variables."""

import dagster as dg

from ratings_assets.resources import cassandra_resource, kafka_resource, spark_resource
from ratings_assets.settings import Setting


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(
        resources={
            "kafka": kafka_resource(Setting.for_dagster),
            "cassandra": cassandra_resource(Setting.for_dagster),
            "spark": spark_resource(Setting.for_dagster),
        }
    )
