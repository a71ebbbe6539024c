"""`ratings`: the command line of the pipeline, for use with or without Dagster."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from datetime import datetime
from pathlib import Path

from cassandra.cluster import NoHostAvailable
from kafka.errors import KafkaError

from ratings_assets import settings
from ratings_assets.core.catalog import CatalogError, read_catalog
from ratings_assets.core.hours import hour_of, partition_key
from ratings_assets.core.tables import TABLES
from ratings_assets.localstack.errors import StackError
from ratings_assets.paths import CATALOG_CSV, SOURCE_DATASET


def cmd_catalog(args) -> int:
    from ratings_assets.core.catalog import movies_from_source, write_catalog

    with open(args.source, encoding="utf-8") as src:
        count = write_catalog(movies_from_source(src), args.output)
    print(f"wrote {count:,} movies to {args.output}")
    return 0


def _topic_line(topic: dict) -> str:
    return f"topic {topic['topic']}: {topic['partitions']} partition(s), replication {topic['replication_factor']}"


def cmd_init(args) -> int:
    """Create the topics and the Cassandra schema, idempotently."""
    from ratings_assets.resources import cassandra_resource, ensure_pipeline_storage, kafka_resource

    cassandra = cassandra_resource()
    for topic in ensure_pipeline_storage(kafka_resource(), cassandra):
        print(_topic_line(topic))
    print(f"keyspace {cassandra.keyspace}: tables {', '.join(TABLES)} ready")
    return 0


def cmd_produce(args) -> int:
    from ratings_assets.generator import publisher
    from ratings_assets.generator.publisher import BrokerUnreachable, PublishStats, publish
    from ratings_assets.generator.ratings import EventClock, Pacer, RatingFactory, generate
    from ratings_assets.generator.users import user_pool
    from ratings_assets.resources import kafka_resource

    movies = list(read_catalog(args.catalog).values())
    users = user_pool(args.users, seed=args.seed)
    rate = None if args.rate == 0 else (args.rate or args.users / 60.0)
    clock = EventClock.past_hours(args.past_hours, seed=args.seed) if args.past_hours else EventClock()
    kafka = kafka_resource()
    topic = args.topic or kafka.topic
    bootstrap = kafka.bootstrap_servers
    wait_s = publisher.CONNECT_TIMEOUT_S
    print(f"connecting to Kafka at {bootstrap} (waiting up to {wait_s:g} s)…", flush=True)
    try:
        producer = publisher.connect(kafka, wait_s)  # retries at least every second
    except BrokerUnreachable as exc:
        print(f"error: {exc}. Start it (`ratings stack up`) or set RATINGS_KAFKA_BOOTSTRAP; nothing was sent.",
              file=sys.stderr)
        return 1
    events = generate(RatingFactory(movies, users, seed=args.seed), clock, Pacer(rate), args.count, args.duration)
    pace = "as fast as possible" if rate is None else f"{rate:g} events/s"

    def progress(stats: PublishStats) -> None:
        end = "\r" if sys.stdout.isatty() else "\n"
        print(stats.line(), end=end, flush=True)

    try:
        kafka.ensure_topic(topic, kafka.topic_partitions, kafka.topic_replication)
        print(f"producing to {topic} on {bootstrap}: {len(users)} users, {pace}", flush=True)
        stats = publish(producer, topic, events, progress, progress_every_s=1.0 if sys.stdout.isatty() else 5.0)
    except KeyboardInterrupt:
        print("\nstopped", flush=True)
        return 0
    print(f"\ndone: {stats.line()}")
    return 1 if stats.errors else 0


def cmd_stream(args) -> int:
    """The job's query outside Dagster: the same resources, the same function as the Dagster op."""
    from ratings_assets.localstack.config import StackConfig
    from ratings_assets.localstack.maven import spark_connector_jars
    from ratings_assets.resources import cassandra_resource, kafka_resource, spark_resource
    from ratings_assets.streaming.config import StreamConfig
    from ratings_assets.streaming.job import run_pipeline
    from ratings_assets.streaming.progress import startup_text, steps_text

    spark_connector_jars(StackConfig.from_env())
    kafka, cassandra = kafka_resource(), cassandra_resource()
    given = {"trigger_seconds": args.trigger, "checkpoint_dir": args.checkpoint, "available_now": args.available_now,
             "catch_up": False if args.no_catch_up else None}
    config = StreamConfig(**{name: value for name, value in given.items() if value is not None})
    print(f"streaming {kafka.topic} -> {cassandra.keyspace}.records every {config.trigger_seconds:g} s "
          f"(checkpoint {config.checkpoint_dir})", flush=True)

    def progress(summary: dict) -> None:
        if "startup_seconds" in summary:
            print(f"started: the first batch was stored {startup_text(summary['startup_seconds'])}", flush=True)
        if summary.get("new_batch"):
            print(f"batch {summary['batch_id']}: {summary['input_rows']:,} rows read, {summary['stored']:,} stored, "
                  f"rejected {summary['rejected'] or 'none'}, {summary['processed_rows_per_second']:,.0f} rows/s, "
                  f"{summary['batch_duration_ms']} ms ({steps_text(summary.get('step_seconds') or {})}), "
                  f"lag {summary['consumer_lag']}", flush=True)

    # Ctrl-C asks the loop to stop the query between two py4j calls; interrupting a call
    # in flight (Python's default, and pyspark's own handler) breaks the gateway with a traceback.
    stop = threading.Event()

    def on_interrupt(_signum, _frame) -> None:
        print("stopping after the current call… (Ctrl-C again to quit at once)", file=sys.stderr, flush=True)
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGINT, on_interrupt)
    spark = spark_resource()
    try:
        run_pipeline(spark, kafka, cassandra, config, progress, stop=stop)
    except KafkaError as exc:
        print(f"error: cannot reach Kafka at {kafka.bootstrap_servers}: {exc!r}", file=sys.stderr)
        return 1
    finally:
        spark.stop()
    print("stopped", flush=True)
    return 0


QUERY_HOUR_HELP = (
    "An hour is given as any time inside it: ISO 8601 with an offset (2025-03-15T10:00:00+00:00, 2025-03-15T10:59Z, "
    "2025-03-15T12:00+02:00), or without one, read as UTC (2025-03-15T10:00, or the UI's partition key "
    "2025-03-15-10:00): the pipeline's hours are UTC hours."
)


def _query_hour(text: str, option: str) -> datetime:
    """The UTC hour holding `text`; a time without an offset is UTC, like every hour of the pipeline."""
    from datetime import timezone

    try:
        ts = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{option} {text!r} is not a time such as 2025-03-15T10:00:00+00:00 or 2025-03-15T10:00 (UTC)") from None
    return hour_of(ts if ts.tzinfo is not None else ts.replace(tzinfo=timezone.utc))


def _query_iso(ts: datetime | None) -> str | None:
    """Cassandra hands timestamps back naive, in UTC: ISO with +00:00."""
    from datetime import timezone

    if ts is None:
        return None
    return (ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)).isoformat()


def _query_aggregate(row: dict) -> dict:
    return {
        "name": row["name"],
        "hour": _query_iso(row["hour"]),
        "ratings": row["ratings"],
        "avg_rating": row["avg_rating"],
        "min_rating": row["min_rating"],
        "max_rating": row["max_rating"],
        "avg_duration": row["avg_duration"],
        "movies": list(row["movies"] or []),
        "aggregated_at": _query_iso(row["aggregated_at"]),
    }


def _query_table(columns: list[tuple[str, str]], rows: list[dict]) -> str:
    """Aligned plain-text columns; `columns` is (key, title), numbers right-aligned, None shown as '-'."""

    def cell(value) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:.2f}"
        if isinstance(value, list):
            text = ", ".join(value)
            return text if len(text) <= 60 else text[:59] + "…"
        return str(value)

    cells = [[cell(row[key]) for key, _ in columns] for row in rows]
    numeric = [all(isinstance(row[key], (int, float)) or row[key] is None for row in rows) for key, _ in columns]
    widths = [max([len(title)] + [len(line[i]) for line in cells]) for i, (_, title) in enumerate(columns)]

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    return "\n".join([line([title for _, title in columns]), line(["-" * w for w in widths])] + [line(c) for c in cells])


_QUERY_AGGREGATE_COLUMNS = [
    ("ratings", "ratings"), ("avg_rating", "avg rating"), ("min_rating", "min"), ("max_rating", "max"),
    ("avg_duration", "avg duration"), ("movies", "movies"),
]


def cmd_query(args) -> int:
    """Answers from Cassandra: one user-hour (records), a user's hours, an hour's top users (the aggregates)."""
    from cassandra import DriverException

    from ratings_assets.resources import cassandra_resource

    view = args.view or "user-hour"
    if view == "user-hour" and not (args.user and args.hour):
        raise ValueError("ratings query needs --user and --hour (or a view: ratings query hours|top --help)")
    if view == "hours" and args.hour:
        raise ValueError("--hour does not apply to `ratings query hours`: use --from and --to")
    if view == "top" and args.user:
        raise ValueError("--user does not apply to `ratings query top`")
    if view == "top" and args.limit < 1:
        raise ValueError(f"--limit must be at least 1, not {args.limit}")
    if view == "hours":
        first = _query_hour(args.start, "--from")
        last = _query_hour(args.end, "--to") if args.end else hour_of(datetime.now().astimezone())
        if last < first:
            raise ValueError(f"--to {last.isoformat()} is before --from {first.isoformat()}")
    else:
        hour = _query_hour(args.hour, "--hour")

    cassandra = cassandra_resource()
    try:
        with cassandra.session() as session:
            if cassandra.keyspace not in session.cluster.metadata.keyspaces:
                print(f"error: Cassandra has no keyspace {cassandra.keyspace!r} (RATINGS_KEYSPACE); `ratings init` creates it",
                      file=sys.stderr)
                return 1
            if view == "user-hour":
                answer = {"name": args.user, "hour": hour.isoformat(), **cassandra.read_user_hour(session, args.user, hour)}
                # The original key order: name, hour, avg_rating, avg_duration, movies.
                answer = {key: answer[key] for key in ("name", "hour", "avg_rating", "avg_duration", "movies")}
            elif view == "hours":
                rows = [_query_aggregate(r) for r in cassandra.read_user_hours(session, args.user, first, last)]
                answer = {"name": args.user, "from": first.isoformat(), "to": last.isoformat(), "hours": rows}
            else:
                rows = [_query_aggregate(r) for r in cassandra.read_hour_users(session, hour)]
                top = sorted(rows, key=lambda r: (-r["ratings"], r["name"]))[: args.limit]
                answer = {"hour": hour.isoformat(), "users": len(rows), "top": top}
                if not rows:
                    answer["ratings_stored"] = cassandra.count_hour(session, hour)
    except NoHostAvailable as exc:
        causes = "; ".join(sorted({str(error) for error in (exc.errors or {}).values()})) or str(exc)
        print(f"error: cannot reach Cassandra at {cassandra.hosts} port {cassandra.port}: {causes}", file=sys.stderr)
        return 1
    except DriverException as exc:
        print(f"error: Cassandra ({cassandra.keyspace}): {exc}", file=sys.stderr)
        return 1

    if args.json:
        print(json.dumps(answer, ensure_ascii=False))
    elif view == "user-hour":
        for key, value in answer.items():
            print(f"{key:>13}: {value}")
    elif view == "hours":
        print(f"{args.user}, hours {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC: "
              f"{len(answer['hours'])} hour(s) with ratings")
        if answer["hours"]:
            for row in answer["hours"]:
                row["hour_utc"] = row["hour"][:16].replace("T", " ")
            print(_query_table([("hour_utc", "hour (UTC)"), *_QUERY_AGGREGATE_COLUMNS], answer["hours"]))
    else:
        if answer.get("ratings_stored"):
            print(f"hour {hour:%Y-%m-%d %H:%M} UTC has {answer['ratings_stored']:,} ratings in reviews.records but is not "
                  f"aggregated yet: the automation does it once the hour has closed, or materialize partition "
                  f"{partition_key(hour)} of reviews/hourly_user_ratings in the Dagster UI")
            return 0
        print(f"hour {hour:%Y-%m-%d %H:%M} UTC: {answer['users']} user(s) rated; top {len(answer['top'])} by ratings")
        if answer["top"]:
            for rank, row in enumerate(answer["top"], start=1):
                row["rank"] = rank
            print(_query_table([("rank", "#"), ("name", "user"), *_QUERY_AGGREGATE_COLUMNS], answer["top"]))
    return 0


def cmd_stack(args) -> int:
    from ratings_assets.localstack.__main__ import main as stack_main

    return stack_main(args.stack_args)


def cmd_demo(args) -> int:
    from ratings_assets.demo import DemoOptions, run

    return run(DemoOptions(rate=args.rate, users=args.users, trigger_seconds=args.trigger, ui_port=args.port))


def _at_least(kind: type, low: float):
    """An argparse type: a number of `kind` no smaller than `low`, refused at once (before any connection)."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {'whole ' if kind is int else ''}number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{text} is below {low}")
        return value

    return parse


class UsageError(ValueError):
    pass


class _Parser(argparse.ArgumentParser):
    """Usage errors as one `error: …` line and exit code 1, like every other error of the command."""

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ratings", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    stack = sub.add_parser(
        "stack", help="local Kafka and Cassandra (--spark: and a Spark cluster): up|down|status|logs|resolve",
        add_help=False)
    stack.add_argument("stack_args", nargs=argparse.REMAINDER)
    stack.set_defaults(func=cmd_stack)

    catalog = sub.add_parser("catalog", help="build data/movies.csv from the ggplot2movies dataset")
    catalog.add_argument("--source", type=Path, default=SOURCE_DATASET)
    catalog.add_argument("--output", type=Path, default=CATALOG_CSV)
    catalog.set_defaults(func=cmd_catalog)

    sub.add_parser("init", help="create the topics and the Cassandra schema").set_defaults(func=cmd_init)

    produce = sub.add_parser("produce", help="publish fake ratings to Kafka")
    produce.add_argument("--rate", type=_at_least(float, 0), help="events/s in all (0: as fast as possible; default: each user once a minute)")
    produce.add_argument("--users", type=_at_least(int, 1), default=100, help="size of the user pool (default 100)")
    produce.add_argument("--seed", type=int, help="seed for users, movies, ratings and ids")
    produce.add_argument("--count", type=_at_least(int, 1), help="stop after this many events")
    produce.add_argument("--duration", type=_at_least(float, 0), help="stop after this many seconds")
    produce.add_argument("--past-hours", type=_at_least(float, 0), help="event times spread over the last H hours (backfills, late data)")
    produce.add_argument("--topic", help="topic to publish to (default RATINGS_TOPIC or ratings)")
    produce.add_argument("--catalog", type=Path, default=settings.CATALOG.value())
    produce.set_defaults(func=cmd_produce)

    stream = sub.add_parser("stream", help="run the streaming job (outside Dagster)")
    stream.add_argument("--trigger", type=float, help="trigger interval in seconds (default RATINGS_TRIGGER_SECONDS or 30)")
    stream.add_argument("--checkpoint", help="checkpoint folder")
    stream.add_argument("--available-now", action="store_true", help="process what the topic holds, then stop")
    stream.add_argument("--no-catch-up", action="store_true",
                        help="run every batch on the trigger, a backlog's too (by default a backlog is read first, "
                             "in back-to-back batches)")
    stream.set_defaults(func=cmd_stream)

    query = sub.add_parser(
        "query",
        help="answers from Cassandra: a user's hour, a user's hours, an hour's top users",
        description=(
            "Without a view: the specification's three answers for one user and hour (average rating, movies rated, "
            "average duration), from the records table. Views: `hours`, one user's hourly aggregates over a range "
            "(user_hourly_ratings); `top`, an hour's users with the most ratings (hourly_user_ratings). The aggregates "
            "exist for hours the hourly_user_ratings asset has materialized. " + QUERY_HOUR_HELP
        ),
        epilog=(
            "examples:\n"
            "  ratings query --user 'Lori Rivers MD' --hour 2025-03-15T10:00:00+00:00\n"
            "  ratings query hours --user 'Lori Rivers MD' --from 2025-03-15T08:00Z --to 2025-03-15T12:00Z --json\n"
            "  ratings query top --hour 2025-03-15-10:00 --limit 5\n"
            "Output is an aligned table unless --json; errors go to stderr with exit code 1."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    query.add_argument("--user", help="user name (without a view)")
    query.add_argument("--hour", help="a time inside the hour (without a view); UTC when it has no offset")
    query.add_argument("--json", action="store_true", help="one JSON object on stdout instead of text")
    query.set_defaults(func=cmd_query, view=None)
    views = query.add_subparsers(dest="view", title="views", metavar="{hours,top}")
    hours = views.add_parser(
        "hours", help="one user's hourly aggregates, oldest first",
        description="One user's hourly aggregates (ratings, mean/min/max rating, mean duration, movies) for the hours "
                    "--from..--to, both included, oldest first. " + QUERY_HOUR_HELP,
    )
    hours.add_argument("--user", required=True, help="user name")
    hours.add_argument("--from", dest="start", required=True, metavar="H1", help="first hour (included)")
    hours.add_argument("--to", dest="end", metavar="H2", help="last hour (included; default: the current hour)")
    # SUPPRESS: `ratings query --json hours ...` keeps the --json given before the view.
    hours.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="one JSON object instead of a table")
    top = views.add_parser(
        "top", help="an hour's users with the most ratings",
        description="The users with the most ratings in one hour (ties by name), from its hourly aggregates. "
                    + QUERY_HOUR_HELP,
    )
    top.add_argument("--hour", required=True, help="a time inside the hour")
    top.add_argument("--limit", type=int, default=10, help="how many users (default 10)")
    top.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="one JSON object instead of a table")
    demo = sub.add_parser("demo", help="run everything locally (make run): services, generator, stream, Dagster UI")
    demo.add_argument("--rate", type=float, default=50.0, help="events/s from the generator (default 50)")
    demo.add_argument("--users", type=int, default=200)
    demo.add_argument("--trigger", type=float, default=10.0, help="stream trigger interval, seconds (default 10)")
    demo.add_argument("--port", type=int, default=settings.UI_PORT.value(), help="Dagster UI port")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # The clients' own retry chatter and tracebacks: the command says what failed, in one line.
    for client in ("kafka", "cassandra"):
        logging.getLogger(client).setLevel(logging.CRITICAL)
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["stack"]:
        # The launcher has its own parser (with --help); hand it the rest as is.
        return cmd_stack(argparse.Namespace(stack_args=argv[1:]))
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except (StackError, CatalogError, ValueError, KafkaError, NoHostAvailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
