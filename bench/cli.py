"""`python -m bench`: measure throughput, latency, aggregation time and memory on this machine (make bench).

Run from the repository root: `.venv/bin/python -m bench [--smoke]` (docs/benchmarks).
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

from cassandra.cluster import NoHostAvailable
from kafka.errors import KafkaError

from ratings_assets.core.catalog import CatalogError
from ratings_assets.localstack.errors import StackError


def build_parser() -> argparse.ArgumentParser:
    bench = argparse.ArgumentParser(
        prog="python -m bench",
        description="measure throughput, latency, aggregation time and memory (make bench)")
    bench.add_argument("--smoke", action="store_true", help="small and quick, for CI: writes .local/bench/smoke.json")
    bench.add_argument("--events", help="events preloaded per run (default 1M; smoke 20k), e.g. 200k")
    bench.add_argument("--runs", type=int, help="repetitions; figures are their median (default 3)")
    bench.add_argument("--preload-runs", type=int, help="runs that do the N-event steps (default: all); the rest "
                       "repeat only the broker ceiling, latency and the small hour")
    bench.add_argument("--partitions", type=int, help="partitions of the benchmark topics (default 4)")
    bench.add_argument("--users", type=int, help="size of the user pool (default 1000)")
    bench.add_argument("--max-offsets", type=int, help="maxOffsetsPerTrigger of the stream (default: the job's)")
    bench.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE", help="Spark/connector setting to try")
    bench.add_argument("--no-probe", action="store_true", help="skip the sustained-rate probe of the full run")
    bench.add_argument("--validator", action="store_true",
                       help="instead: the validator's CPU per event, in-process, over --events (default 100k) "
                            "generator events, best of --runs (default 5)")
    bench.add_argument("--ab", action="append", default=[], metavar="NAME:KEY=VALUE[,KEY=VALUE]",
                       help="instead: drain --events (default 400k) in turns, the job's settings against each such "
                            "variant of Spark SQL settings, --runs (default 4) turns each (.local/bench/ab.json)")
    bench.add_argument("--head-to-head", action="store_true",
                       help="instead: launch to last row of `ratings stream` and of the straightforward consumer "
                            "(bench/baseline.py) on --events (default 1M) preloaded events, --runs (default 2) rounds")
    bench.add_argument("--ours-from", type=Path, metavar="DIR",
                       help="with --head-to-head: also `ratings stream` from another checkout (git worktree add DIR REV)")
    bench.add_argument("--output", type=Path, help="results JSON (default docs/benchmarks/results.json; smoke .local/bench/smoke.json)")
    return bench


def cmd_bench(args: argparse.Namespace, argv: list[str]) -> int:
    """Throughput, latency, aggregation time and memory, measured on this machine (docs/benchmarks)."""
    from bench.ab import parse_variant, run_ab
    from bench.runner import BenchOptions, run
    from bench.stats import parse_settings, parse_size

    if args.validator:
        from bench.validator import run_validator_bench

        return run_validator_bench(parse_size(args.events or "100k"), passes=args.runs or 5)
    if args.head_to_head:
        from bench.head_to_head import run_head_to_head

        return run_head_to_head(parse_size(args.events or "1M"), args.runs or 2, **{
            name: value for name, value in {"partitions": args.partitions, "users": args.users,
                                            "output": args.output, "ours_from": args.ours_from}.items()
            if value is not None})
    if args.ab:
        given = {"partitions": args.partitions, "users": args.users, "output": args.output}
        return run_ab([parse_variant(text) for text in args.ab], parse_size(args.events or "400k"), args.runs or 4,
                      **{name: value for name, value in given.items() if value is not None})
    options = BenchOptions.for_mode(
        "smoke" if args.smoke else "full",
        events=parse_size(args.events) if args.events else None,
        runs=args.runs,
        partitions=args.partitions,
        users=args.users,
        max_offsets_per_trigger=args.max_offsets,
        preload_runs=args.preload_runs,
        probe=False if args.no_probe else None,
        output=args.output,
        conf=parse_settings(args.conf),
        command=shlex.join(["python", "-m", "bench", *argv]),
    )
    return run(options)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    try:
        return cmd_bench(args, argv)
    except (StackError, CatalogError, ValueError, KafkaError, NoHostAvailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
