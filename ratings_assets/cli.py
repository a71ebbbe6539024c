"""`ratings`: the command line of the pipeline, for use with or without Dagster."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from datetime import datetime
from pathlib import Path

from cassandra.cluster import NoHostAvailable
from kafka.errors import KafkaError

from ratings_assets import settings
from ratings_assets.core.catalog import CatalogError, read_catalog
from ratings_assets.core.hours import hour_of
from ratings_assets.localstack.errors import StackError
from ratings_assets.paths import CATALOG_CSV, SOURCE_DATASET


def cmd_catalog(args) -> int:
    from ratings_assets.core.catalog import movies_from_source, write_catalog

    with open(args.source, encoding="utf-8") as src:
        count = write_catalog(movies_from_source(src), args.output)
    print(f"wrote {count:,} movies to {args.output}")
    return 0


def cmd_init(args) -> int:
    """Create the topics and the Cassandra schema, idempotently."""
    from ratings_assets.resources import cassandra_resource, kafka_resource

    kafka = kafka_resource()
    replication = int(settings.TOPIC_REPLICATION.value())
    for topic, partitions in ((settings.TOPIC.value(), int(settings.TOPIC_PARTITIONS.value())),
                              (settings.DLQ_TOPIC.value(), 1)):
        print(f"topic {kafka.ensure_topic(topic, partitions, replication)}")
    cassandra_resource().ensure_schema()
    print(f"keyspace {settings.KEYSPACE.value()} with tables records, records_by_hour ready")
    return 0


def cmd_produce(args) -> int:
    from ratings_assets.generator.publisher import PublishStats, publish
    from ratings_assets.generator.ratings import EventClock, Pacer, RatingFactory, generate
    from ratings_assets.generator.users import user_pool
    from ratings_assets.resources import kafka_resource

    movies = list(read_catalog(args.catalog).values())
    users = user_pool(args.users, seed=args.seed)
    rate = None if args.rate == 0 else (args.rate or args.users / 60.0)
    clock = EventClock.past_hours(args.past_hours, seed=args.seed) if args.past_hours else EventClock()
    events = generate(RatingFactory(movies, users, seed=args.seed), clock, Pacer(rate), args.count, args.duration)
    kafka = kafka_resource()
    kafka.ensure_topic(args.topic, int(settings.TOPIC_PARTITIONS.value()), int(settings.TOPIC_REPLICATION.value()))
    pace = "as fast as possible" if rate is None else f"{rate:g} events/s"
    print(f"producing to {args.topic} on {settings.KAFKA_BOOTSTRAP.value()}: {len(users)} users, {pace}", flush=True)

    def progress(stats: PublishStats) -> None:
        end = "\r" if sys.stdout.isatty() else "\n"
        print(stats.line(), end=end, flush=True)

    producer = kafka.producer()
    try:
        stats = publish(producer, args.topic, events, progress, progress_every_s=1.0 if sys.stdout.isatty() else 5.0)
    except KeyboardInterrupt:
        print("\nstopped", flush=True)
        return 0
    finally:
        producer.close()
    print(f"\ndone: {stats.line()}")
    return 1 if stats.errors else 0


def cmd_stream(args) -> int:
    from ratings_assets.localstack.config import StackConfig
    from ratings_assets.localstack.maven import spark_connector_jars
    from ratings_assets.streaming.job import StreamConfig, run_stream
    from ratings_assets.streaming.session import build_session, spark_conf_from_settings

    spark_connector_jars(StackConfig.from_env())
    overrides = {"available_now": args.available_now}
    if args.trigger is not None:
        overrides["trigger_seconds"] = args.trigger
    if args.checkpoint:
        overrides["checkpoint_dir"] = args.checkpoint
    config = StreamConfig.from_settings(**overrides)
    print(f"streaming {config.topic} -> {config.keyspace}.records every {config.trigger_seconds:g} s "
          f"(checkpoint {config.checkpoint_dir})", flush=True)
    spark = build_session(spark_conf_from_settings())

    def progress(summary: dict) -> None:
        if summary.get("new_batch"):
            print(f"batch {summary['batch_id']}: {summary['input_rows']:,} rows read, {summary['stored']:,} stored, "
                  f"rejected {summary['rejected'] or 'none'}, {summary['processed_rows_per_second']:,.0f} rows/s, "
                  f"{summary['batch_duration_ms']} ms, lag {summary['consumer_lag']}", flush=True)

    try:
        run_stream(spark, config, progress)
    except KeyboardInterrupt:
        print("stopped", flush=True)
    finally:
        spark.stop()
    return 0


def cmd_query(args) -> int:
    """The specification's three questions for one user and hour."""
    from ratings_assets.resources import cassandra_resource

    hour = hour_of(datetime.fromisoformat(args.hour))
    keyspace = cassandra_resource().keyspace
    with cassandra_resource().session(keyspace) as session:
        where = "WHERE name = %s AND hour = %s"
        # AVG over an int column is an int in CQL; the casts keep the fraction.
        avg_rating = session.execute(f"SELECT AVG(CAST(rating AS double)) AS avg_rating FROM records {where}", (args.user, hour)).one()
        movies = [row.movie for row in session.execute(f"SELECT movie FROM records {where}", (args.user, hour))]
        avg_duration = session.execute(f"SELECT AVG(CAST(duration AS double)) AS avg_duration FROM records {where}", (args.user, hour)).one()
    answer = {
        "name": args.user,
        "hour": hour.isoformat(),
        "avg_rating": avg_rating.avg_rating if movies else None,
        "avg_duration": avg_duration.avg_duration if movies else None,
        "movies": movies,
    }
    if args.json:
        print(json.dumps(answer, ensure_ascii=False))
    else:
        for key, value in answer.items():
            print(f"{key:>13}: {value}")
    return 0


def cmd_stack(args) -> int:
    from ratings_assets.localstack.__main__ import main as stack_main

    return stack_main(args.stack_args)


def cmd_demo(args) -> int:
    from ratings_assets.demo import DemoOptions, run

    return run(DemoOptions(rate=args.rate, users=args.users, trigger_seconds=args.trigger, ui_port=args.port))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ratings", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    stack = sub.add_parser("stack", help="local Kafka and Cassandra: up|down|status|logs|resolve", add_help=False)
    stack.add_argument("stack_args", nargs=argparse.REMAINDER)
    stack.set_defaults(func=cmd_stack)

    catalog = sub.add_parser("catalog", help="build data/movies.csv from the ggplot2movies dataset")
    catalog.add_argument("--source", type=Path, default=SOURCE_DATASET)
    catalog.add_argument("--output", type=Path, default=CATALOG_CSV)
    catalog.set_defaults(func=cmd_catalog)

    sub.add_parser("init", help="create the topics and the Cassandra schema").set_defaults(func=cmd_init)

    produce = sub.add_parser("produce", help="publish fake ratings to Kafka")
    produce.add_argument("--rate", type=float, help="events/s in all (0: as fast as possible; default: each user once a minute)")
    produce.add_argument("--users", type=int, default=100, help="size of the user pool (default 100)")
    produce.add_argument("--seed", type=int, help="seed for users, movies, ratings and ids")
    produce.add_argument("--count", type=int, help="stop after this many events")
    produce.add_argument("--duration", type=float, help="stop after this many seconds")
    produce.add_argument("--past-hours", type=float, help="event times spread over the last H hours (backfills, late data)")
    produce.add_argument("--topic", default=settings.TOPIC.value())
    produce.add_argument("--catalog", type=Path, default=settings.CATALOG.value())
    produce.set_defaults(func=cmd_produce)

    stream = sub.add_parser("stream", help="run the streaming job (outside Dagster)")
    stream.add_argument("--trigger", type=float, help="trigger interval in seconds (default RATINGS_TRIGGER_SECONDS or 30)")
    stream.add_argument("--checkpoint", help="checkpoint folder")
    stream.add_argument("--available-now", action="store_true", help="process what the topic holds, then stop")
    stream.set_defaults(func=cmd_stream)

    query = sub.add_parser("query", help="average rating, movies and average duration of a user in an hour")
    query.add_argument("--user", required=True)
    query.add_argument("--hour", required=True, help="ISO time with offset inside the hour, e.g. 2025-03-15T10:00:00+00:00")
    query.add_argument("--json", action="store_true")
    query.set_defaults(func=cmd_query)
    demo = sub.add_parser("demo", help="run everything locally (make run): services, generator, stream, Dagster UI")
    demo.add_argument("--rate", type=float, default=50.0, help="events/s from the generator (default 50)")
    demo.add_argument("--users", type=int, default=200)
    demo.add_argument("--trigger", type=float, default=10.0, help="stream trigger interval, seconds (default 10)")
    demo.add_argument("--port", type=int, default=int(os.environ.get("RATINGS_UI_PORT", "3000")), help="Dagster UI port")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (StackError, CatalogError, ValueError, KafkaError, NoHostAvailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
