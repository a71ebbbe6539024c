"""Local Kafka 4 and Cassandra 5 nodes run from the official Maven Central jars,
and an opt-in Spark standalone master and worker from the pyspark package (spark.py).

Entry points: `stack.up/down/status/resolve_all`, `maven.spark_connector_jars`,
and the CLI `python -m ratings_assets.localstack`.
"""

from ratings_assets.localstack.config import StackConfig
from ratings_assets.localstack.errors import StackError

__all__ = ["StackConfig", "StackError"]
