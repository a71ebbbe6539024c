"""Command line: python -m ratings_assets.localstack up|down|status|start|kill|logs|resolve."""

from __future__ import annotations

import argparse
import json
import os
import sys

from ratings_assets.localstack import stack, topology
from ratings_assets.localstack.config import StackConfig
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


def apply_cluster_options(args: argparse.Namespace) -> None:
    """--cassandra-nodes/--kafka-brokers are the RATINGS_* variables for this command (and what it starts)."""
    for option, variable in (("cassandra_nodes", "RATINGS_CASSANDRA_NODES"), ("kafka_brokers", "RATINGS_KAFKA_BROKERS")):
        value = getattr(args, option, None)
        if value is None:
            continue
        if value < 1:
            raise StackError(f"--{option.replace('_', '-')} must be 1 or more, not {value}.")
        os.environ[variable] = str(value)


def cmd_up(args: argparse.Namespace) -> int:
    report = stack.up(requested(args))
    config = StackConfig.from_env()
    if config.cassandra_nodes > 1 or config.kafka_brokers > 1:
        print("clients take the cluster from the same variables "
              f"(RATINGS_CASSANDRA_NODES={config.cassandra_nodes} RATINGS_KAFKA_BROKERS={config.kafka_brokers}); "
              "that is, by default:")
        for variable, value in topology.client_settings(config).items():
            print(f"  {variable}=\"{value}\"")
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


def cmd_start(args: argparse.Namespace) -> int:
    stack.up([stack.node(args.node).name])
    return 0


def cmd_kill(args: argparse.Namespace) -> int:
    stack.kill(args.node)
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    services = stack.services()
    service = services[args.service] if args.service in services else stack.node(args.service)
    print(service.log_tail(args.lines))
    return 0


def cmd_resolve(args: argparse.Namespace) -> int:
    for name, path in stack.resolve_all().items():
        print(f"{name}: {path}")
    return 0


def cmd_spark_classes(args: argparse.Namespace) -> int:
    from ratings_assets.localstack.spark_classes import record_or_warn  # imports Spark's resource

    print(record_or_warn())
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
        add_cluster_options(p)
        p.set_defaults(func=func)
    p.add_argument("--json", action="store_true",
                   help="machine-readable: an object per node (service, node, address, ports, pid, state)")
    for name, func, text in (
        ("start", cmd_start, "start one node (e.g. cassandra-2, kafka-3) and wait until it serves"),
        ("kill", cmd_kill, "kill -9 one node (e.g. cassandra-2, kafka-3), as a crash would"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("node", metavar="NODE", help="a node as `status` names it")
        add_cluster_options(p)
        p.set_defaults(func=func)
    p = sub.add_parser("logs", help="print the end of a service's log")
    p.add_argument("service", metavar="SERVICE", help=f"{', '.join(stack.ALL_NAMES)} or a node (kafka-2, cassandra-3)")
    add_cluster_options(p)
    p.add_argument("-n", "--lines", type=int, default=50)
    p.set_defaults(func=cmd_logs)
    p = sub.add_parser("resolve", help="download the Kafka, Cassandra and Spark connector jars")
    p.set_defaults(func=cmd_resolve)
    p = sub.add_parser("spark-classes", help="record the Spark driver's class archive, which makes Spark start faster")
    p.set_defaults(func=cmd_spark_classes)
    return parser


def add_cluster_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cassandra-nodes", type=int, metavar="N",
                        help="Cassandra nodes on 127.0.0.1 … 127.0.0.N (RATINGS_CASSANDRA_NODES, default 1)")
    parser.add_argument("--kafka-brokers", type=int, metavar="M",
                        help="Kafka brokers in one KRaft cluster (RATINGS_KAFKA_BROKERS, default 1)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        apply_cluster_options(args)
        return args.func(args)
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
