"""Command line: python -m ratings_assets.localstack up|down|status|logs|resolve."""

from __future__ import annotations

import argparse
import json
import sys

from ratings_assets.localstack import stack
from ratings_assets.localstack.errors import StackError

EXIT_ERROR, EXIT_UNHEALTHY = 1, 3


def requested(args: argparse.Namespace) -> list[str] | None:
    """The SERVICE names, plus the Spark cluster with --spark (then the default stack too when none is named).

    None leaves the choice to the command: up starts the stack, down stops
    everything, status reports the stack and the Spark daemons that run.
    """
    if not args.spark:
        return args.services or None
    return [*(args.services or stack.NAMES), *stack.SPARK_NAMES]


def cmd_up(args: argparse.Namespace) -> int:
    report = stack.up(requested(args))
    if "spark-master" in report:
        url = stack.services()["spark-master"].address
        print(f"run the stream on the cluster: RATINGS_SPARK_MASTER={url} ratings stream")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    stack.down(requested(args))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Exit 0 only when every requested service answers clients (3 otherwise)."""
    report = stack.status(requested(args))
    if args.json:
        print(json.dumps({name: s.to_dict() for name, s in report.items()}, indent=2))
    else:
        for name, s in report.items():
            pid = f"pid {s.pid}" if s.pid else "-"
            print(f"{name:<12} {'healthy' if s.healthy else 'DOWN':<8} {pid:<11} {s.detail}")
    return 0 if all(s.healthy for s in report.values()) else EXIT_UNHEALTHY


def cmd_logs(args: argparse.Namespace) -> int:
    service = stack.services()[args.service]
    print(service.log_tail(args.lines))
    return 0


def cmd_resolve(args: argparse.Namespace) -> int:
    for name, path in stack.resolve_all().items():
        print(f"{name}: {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ratings_assets.localstack",
                                     description="Local Kafka 4 and Cassandra 5 nodes from Maven Central jars; "
                                                 "with --spark, a Spark standalone master and worker from pyspark.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func, text in (
        ("up", cmd_up, "start services (default: kafka and cassandra) and wait until ready"),
        ("down", cmd_down, "stop services (default: all, the Spark cluster included)"),
        ("status", cmd_status, "report services (default: kafka, cassandra and any running Spark daemon); "
                               "exit 3 unless all are healthy"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("services", nargs="*", metavar="SERVICE", help=", ".join(stack.ALL_NAMES))
        p.add_argument("--spark", action="store_true",
                       help="also the Spark standalone master and worker (spark-master, spark-worker)")
        p.set_defaults(func=func)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = sub.add_parser("logs", help="print the end of a service's log")
    p.add_argument("service", choices=stack.ALL_NAMES)
    p.add_argument("-n", "--lines", type=int, default=50)
    p.set_defaults(func=cmd_logs)
    p = sub.add_parser("resolve", help="download the Kafka, Cassandra and Spark connector jars")
    p.set_defaults(func=cmd_resolve)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
