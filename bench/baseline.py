"""The straightforward consumer a user would write instead of this project: the benchmark's baseline.

The Spark listing of the original report (../shared/seeds/assignment-report.txt),
pointed at this machine's services and the project's catalog: parse each
message with a JSON schema, join the movie CSV by title, write every micro-batch
to one table with the Cassandra connector's defaults (`foreachBatch`), 30 s
trigger. It reads the topic from the start (the report read "latest": here the
events are already in the topic). No validation, no dead letters, no tuning.
Run as its own process (`python -m bench.baseline ...`), like a user's script.
"""

from __future__ import annotations

import argparse

TABLE = "movie_ratings"
# The report's table (its Listing 3) with the project's catalog columns in place of Netflix's.
TABLE_CQL = f"""CREATE TABLE IF NOT EXISTS {{keyspace}}.{TABLE} (
    name text, hour_bucket text, timestamp timestamp, movie text, rating int,
    movie_id int, year int, duration int, mpaa text, genres text,
    PRIMARY KEY ((name, hour_bucket), timestamp, movie))"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline")
    for option in ("--bootstrap", "--topic", "--cassandra-host", "--cassandra-port", "--keyspace", "--catalog",
                   "--checkpoint", "--jars"):
        parser.add_argument(option, required=True)
    args = parser.parse_args(argv)

    from pyspark.sql import SparkSession
    from pyspark.sql.functions import col, date_format, from_json, to_timestamp
    from pyspark.sql.types import IntegerType, StringType, StructField, StructType

    rating_schema = StructType([
        StructField("name", StringType(), False),
        StructField("movie", StringType(), False),
        StructField("timestamp", StringType(), False),
        StructField("rating", IntegerType(), False),
    ])
    spark = (
        SparkSession.builder.appName("MovieRatingStreamer")
        .config("spark.jars", args.jars)
        .config("spark.cassandra.connection.host", args.cassandra_host)
        .config("spark.cassandra.connection.port", args.cassandra_port)
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    movies = spark.read.option("header", True).option("inferSchema", True).csv(args.catalog).cache()
    ratings = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", args.bootstrap)
        .option("subscribe", args.topic)
        .option("startingOffsets", "earliest")
        .load()
        .selectExpr("CAST(value AS STRING)")
        .select(from_json(col("value"), rating_schema).alias("data"))
        .select("data.*")
        .withColumn("timestamp", to_timestamp("timestamp"))
        .withColumn("hour_bucket", date_format("timestamp", "yyyy-MM-dd HH:00"))
    )
    enriched = ratings.join(movies, ratings.movie == movies.title, "left").drop("title")

    def write_to_cassandra(batch, _batch_id):
        (
            batch.select("name", "hour_bucket", "timestamp", "movie", "rating", "movie_id", "year", "duration",
                         "mpaa", "genres")
            .write.format("org.apache.spark.sql.cassandra")
            .mode("append")
            .options(table=TABLE, keyspace=args.keyspace)
            .save()
        )

    (
        enriched.writeStream.foreachBatch(write_to_cassandra)
        .outputMode("update")
        .option("checkpointLocation", args.checkpoint)
        .trigger(processingTime="30 seconds")
        .start()
        .awaitTermination()
    )


if __name__ == "__main__":
    main()
