"""`python -m bench --ab`: interleaved A/B of Spark SQL settings on the pipeline.

N events are preloaded once; then the streaming job drains them again and
again (available-now, each time into a fresh keyspace), the baseline (the
job's own settings) and each variant taking turns after one unmeasured
warm-up drain, each round starting with the next one. Turns share the
machine's noise and drift alike, which a comparison of two separate
`make bench` runs cannot promise. Each drain prints where its
time went (the batch steps of `BatchWriter`); the summary gives per variant
the median events/s and the median seconds of each step.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median

from bench import pipeline
from bench.env import (Hours, Names, Services, catalog_movies, isolated, new_run_id, spark_session,
                       stream_config)
from bench.generator import Workload, preload
from bench.stats import parse_settings
from ratings_assets.paths import REPO_ROOT
from ratings_assets.streaming.progress import steps_text

BASELINE = "baseline"


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    """`NAME:KEY=VALUE[,KEY=VALUE…]` -> (NAME, settings)."""
    name, sep, body = text.partition(":")
    if not sep or not name.strip() or name.strip() == BASELINE:
        raise ValueError(f"--ab {text!r} is not NAME:KEY=VALUE[,KEY=VALUE...] (NAME other than {BASELINE!r})")
    return name.strip(), parse_settings(body.split(","), flag=f"--ab {name.strip()}:")


def rotated(turns: list, round_index: int) -> list:
    """The turns of one round, each round starting one further along, so none always drains first or last."""
    start = round_index % len(turns)
    return turns[start:] + turns[:start]


@dataclass
class Drain:
    variant: str
    events_per_s: float
    steps: dict[str, float] = field(default_factory=dict)  # seconds of each batch step, summed over the drain


def summarize(drains: list[Drain]) -> dict[str, dict[str, float]]:
    """Medians per variant, in the order the variants first ran."""
    by_variant: dict[str, list[Drain]] = {}
    for drain in drains:
        by_variant.setdefault(drain.variant, []).append(drain)
    return {
        variant: {
            "drains": len(runs),
            "events_per_s": median(d.events_per_s for d in runs),
            **{f"{step}_s": median(d.steps.get(step, 0.0) for d in runs) for step in runs[0].steps},
        }
        for variant, runs in by_variant.items()
    }


def run_ab(variants: list[tuple[str, dict[str, str]]], events: int, rounds: int, partitions: int = 4,
           users: int = 1000, seed: int = 7, output: Path | None = None) -> int:
    from bench.sparkmon import ProgressRecorder
    from ratings_assets.generator.users import user_pool

    turns = [(BASELINE, {}), *variants]
    services = Services.up()
    spark, _ = spark_session({}, services)
    # What the job sets (or leaves unset) for every key a variant changes, restored for the baseline's turns:
    # `conf.unset` would fall back to Spark's default, not to the job's setting.
    job_settings = {key: spark.conf.get(key, None) for _, conf in turns for key in conf}
    recorder = ProgressRecorder.attach(spark)
    run_id, scratch = new_run_id(), REPO_ROOT / ".local" / "bench" / "tmp"
    source = Names.fresh(run_id, "ab", scratch)
    drains: list[Drain] = []
    try:
        with isolated(services, source):
            topic = source.new_topic("events")
            services.kafka.ensure_topic(topic, partitions, 1)
            workload = Workload(catalog_movies(), user_pool(users, seed=seed), seed)
            published = preload(services.kafka, topic, workload, salt=1, count=events,
                                window=Hours.window(Hours.before().pipeline))
            print(f"preloaded {published.acked:,} events into {topic} ({published.rate:,.0f} ev/s)", flush=True)
            schedule = [("warm-up", {})] + [turn for r in range(rounds) for turn in rotated(turns, r)]
            for index, (variant, conf) in enumerate(schedule):
                for key, value in {**job_settings, **conf}.items():
                    if value is None:
                        spark.conf.unset(key)
                    else:
                        spark.conf.set(key, value)
                names = Names.fresh(run_id, f"ab{index}", scratch)
                with isolated(services, names):
                    result = pipeline.drain(spark, stream_config(services, names, topic, f"ab{index}"), recorder,
                                            published.acked)
                drain = Drain(variant, result.rate, result.step_seconds)
                print(f"drain {index} {variant}: {drain.events_per_s:,.0f} ev/s in {result.seconds:.1f} s, "
                      f"{steps_text(drain.steps)} (load average {os.getloadavg()[0]:.1f})", flush=True)
                if variant != "warm-up":
                    drains.append(drain)
    finally:
        spark.stop()
    summary = summarize(drains)
    for variant, figures in summary.items():
        steps = {key.removesuffix("_s"): value for key, value in figures.items() if key.endswith("_s")}
        print(f"{variant:>16}: median {figures['events_per_s']:,.0f} ev/s, {steps_text(steps)} "
              f"over {figures['drains']} drains")
    output = output or REPO_ROOT / ".local" / "bench" / "ab.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({"events": events, "variants": dict(turns), "summary": summary,
                                  "drains": [vars(d) for d in drains]}, indent=2))
    print(f"wrote {output}")
    return 0
