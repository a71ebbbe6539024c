"""Launch to last row: `ratings stream` against the straightforward consumer (`bench/baseline.py`).

Both read the same preloaded topic as new processes, in turns (the order
alternates between rounds), each into its own keyspace whose tables exist
already (as on any run after the first). A round times each from its launch
to the first row in Cassandra and to the last one: the last message of every
partition, found by its primary key. Ours also reports where its start-up went
(`ratings stream` prints it after the first batch).

For an A/B of code, `ours_from` adds a third contender: `ratings stream` run
from another checkout (`git worktree add DIR REV`; its code first on
PYTHONPATH, for the driver and the Spark workers alike), in the same rounds.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition

from bench.baseline import TABLE, TABLE_CQL
from bench.env import Hours, Names, Services, isolated, stop_group
from bench.generator import Workload, preload
from bench.stats import Spread, paired_ratios
from ratings_assets import settings
from ratings_assets.core.hours import hour_of
from ratings_assets.localstack.maven import spark_connector_jars
from ratings_assets.resources.kafka import KafkaResource

OURS, BASELINE, OTHER = "ours", "baseline", "ours_from"
RATINGS = Path(sys.executable).with_name("ratings")
_STARTUP = re.compile(r"started: the first batch was stored ([\d.]+) s after the start \((.*)\)")


@dataclass(frozen=True)
class LastEvent:
    """The last message of one partition, as the generator wrote it."""

    name: str
    movie: str
    event_id: str
    time: datetime

    @property
    def hour(self) -> datetime:
        return hour_of(self.time)


@dataclass
class Launch:
    contender: str
    first_row_s: float
    last_row_s: float
    output: list[str] = field(default_factory=list, repr=False)

    @property
    def startup(self) -> dict[str, float]:
        """Ours only: the start-up steps `ratings stream` printed."""
        for line in self.output:
            if match := _STARTUP.search(line):
                steps = dict(part.rsplit(" ", 2)[:2] for part in match[2].split(", "))
                return {step: float(seconds) for step, seconds in steps.items()} | {"total": float(match[1])}
        return {}


def last_events(kafka: KafkaResource, topic: str) -> list[LastEvent]:
    """The last message of each partition of `topic`."""
    consumer = KafkaConsumer(**kafka.client_options(), enable_auto_commit=False, consumer_timeout_ms=10_000)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        ends = consumer.end_offsets(partitions)
        for tp in partitions:
            consumer.seek(tp, ends[tp] - 1)
        found: dict[int, LastEvent] = {}
        for message in consumer:
            doc = json.loads(message.value)
            found[message.partition] = LastEvent(doc["name"], doc["movie"], doc["event_id"],
                                                 datetime.fromisoformat(doc["timestamp"]).astimezone(timezone.utc))
            if len(found) == len(partitions):
                break
        return list(found.values())
    finally:
        consumer.close()


def launch(contender: str, command: list[str], env: dict[str, str], has_first: Callable[[], bool],
           has_last: Callable[[], bool], timeout_s: float, progress=print, report: re.Pattern | None = None,
           settled: Callable[[], bool] | None = None) -> Launch:
    """Start `command`, poll until the first and then the last row are stored, stop the process.

    With `report`, the process is stopped only once it printed a line matching it, and with `settled`, once
    that holds too (the last row can be stored before the rest of its batch): or 60 s after the last row.
    """
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)
    reader.start()
    first = None
    try:
        while time.monotonic() - started < timeout_s:
            if process.poll() is not None:
                raise RuntimeError(f"{contender} exited with {process.returncode}:\n{''.join(output[-30:])}")
            if first is None and has_first():
                first = time.monotonic() - started
                progress(f"    {contender}: first row after {first:.1f} s")
            if first is not None and has_last():
                last = time.monotonic() - started
                waited = time.monotonic() + 60
                while report and not any(report.search(line) for line in output) and time.monotonic() < waited:
                    time.sleep(0.25)
                while settled and not settled() and time.monotonic() < waited:
                    time.sleep(1)
                return Launch(contender, first, last, output)
            time.sleep(0.25)
        raise RuntimeError(f"{contender} did not store the last row within {timeout_s:g} s:\n{''.join(output[-30:])}")
    finally:
        stop_group(process, signal.SIGINT)  # Ctrl-C, as a user stops it
        reader.join(timeout=10)


class HeadToHead:
    """Rounds of both contenders on one preloaded topic; each launch gets a fresh keyspace and checkpoint."""

    def __init__(self, services: Services, names: Names, topic: str, events: int, progress=print,
                 ours_from: Path | None = None):
        self.services, self.names, self.topic, self.events, self.progress = services, names, topic, events, progress
        self.ours_from = ours_from
        self.contenders = (OURS, BASELINE, *((OTHER,) if ours_from else ()))
        self.markers = last_events(services.kafka, topic)
        self.jars = ",".join(str(jar) for jar in spark_connector_jars(services.stack_config))

    def round(self, index: int, timeout_s: float) -> dict[str, Launch]:
        """Each contender once; the order rotates from round to round."""
        shift = (index - 1) % len(self.contenders)
        order = self.contenders[shift:] + self.contenders[:shift]
        return {contender: self._launch(contender, f"{index}{contender[-1]}", timeout_s) for contender in order}

    def _launch(self, contender: str, label: str, timeout_s: float) -> Launch:
        names = Names(f"{self.names.tag}_{label}", self.names.scratch / label)
        with isolated(self.services, names) as cassandra, cassandra.session() as session:
            if contender == BASELINE:
                command, env, first, last = self._baseline(names, cassandra.keyspace, session)
            else:
                command, env, first, last = self._ours(names, cassandra.keyspace, session)
                if contender == OTHER:  # the other code, this checkout's services and jars
                    env.update(PYTHONPATH=str(self.ours_from), RATINGS_STATE_DIR=str(self.services.stack_config.state_dir))
            hours = {m.hour for m in self.markers}
            stored = lambda: sum(cassandra.count_hour(session, hour) for hour in hours)  # noqa: E731
            result = launch(contender, command, env, first, last, timeout_s, self.progress,
                            None if contender == BASELINE else _STARTUP,
                            None if contender == BASELINE else lambda: stored() == self.events)
            if contender == OURS and (count := stored()) != self.events:
                raise RuntimeError(f"ours stored {count:,} rows of {self.events:,} events")
            self.progress(f"    {contender}: last row after {result.last_row_s:.1f} s")
            return result

    def _probes(self, session, first_cql: str, last_cql: str, keys: list[tuple]):
        select_first, select_last = session.prepare(first_cql), session.prepare(last_cql)
        has_first = lambda: session.execute(select_first).one() is not None  # noqa: E731
        has_last = lambda: all(session.execute(select_last, key).one() is not None for key in keys)  # noqa: E731
        return has_first, has_last

    def _ours(self, names: Names, keyspace: str, session):
        dlq = names.new_topic("dlq")
        env = {**os.environ, "RATINGS_TOPIC": self.topic, "RATINGS_DLQ_TOPIC": dlq, "RATINGS_KEYSPACE": keyspace,
               "RATINGS_CHECKPOINT_DIR": names.checkpoint("stream")}
        first, last = self._probes(
            session, f"SELECT name FROM {keyspace}.records LIMIT 1",
            f"SELECT event_id FROM {keyspace}.records WHERE name = ? AND hour = ? AND time = ? AND event_id = ?",
            [(m.name, m.hour, m.time, m.event_id) for m in self.markers])
        return [str(RATINGS), "stream"], env, first, last

    def _baseline(self, names: Names, keyspace: str, session):
        session.execute(TABLE_CQL.format(keyspace=keyspace), timeout=60)
        cassandra = self.services.cassandra
        command = [sys.executable, "-m", "bench.baseline", "--bootstrap", self.services.kafka.bootstrap_servers,
                   "--topic", self.topic, "--cassandra-host", cassandra.hosts.split(",")[0],
                   "--cassandra-port", str(cassandra.port), "--keyspace", keyspace,
                   "--catalog", settings.CATALOG.value(), "--checkpoint", names.checkpoint("baseline"),
                   "--jars", self.jars]
        first, last = self._probes(
            session, f"SELECT name FROM {keyspace}.{TABLE} LIMIT 1",
            f"SELECT rating FROM {keyspace}.{TABLE} WHERE name = ? AND hour_bucket = ? AND timestamp = ? AND movie = ?",
            [(m.name, f"{m.hour:%Y-%m-%d %H}:00", m.time, m.movie) for m in self.markers])
        return command, dict(os.environ), first, last


def measure(services: Services, names: Names, workload: Workload, events: int, rounds: int, partitions: int,
            timeout_s: float, progress=print, ours_from: Path | None = None) -> dict:
    """Preload `events` into a fresh topic, then `rounds` rounds of the contenders: medians and paired ratios."""
    topic = names.new_topic("head_to_head")
    services.kafka.ensure_topic(topic, partitions, 1)
    published = preload(services.kafka, topic, workload, salt=500, count=events,
                        window=Hours.window(Hours.before().pipeline))
    progress(f"  head to head: {published.acked:,} events preloaded in {topic}; {rounds} round(s), order alternating")
    match = HeadToHead(services, names, topic, published.acked, progress, ours_from)
    launches: dict[str, list[Launch]] = {contender: [] for contender in match.contenders}
    for index in range(1, rounds + 1):
        for contender, result in match.round(index, timeout_s).items():
            launches[contender].append(result)
    ours, base = launches[OURS], launches[BASELINE]
    speedups = paired_ratios([b.last_row_s for b in base], [o.last_row_s for o in ours])
    startups = [o.startup for o in ours if o.startup]
    figures = {
        "events": published.acked,
        "rounds": rounds,
        **{f"{who}_{what}_s": [getattr(x, f"{what}_s") for x in runs]
           for who, runs in launches.items() for what in ("first_row", "last_row")},
        "speedup": speedups,
        "speedup_median": Spread.of(speedups).median if Spread.of(speedups) else None,
        "ours_startup_s": {step: Spread.of(s.get(step) for s in startups).median for step in (startups[0] if startups else {})},
    }
    if ours_from:
        figures["ours_from"] = str(ours_from)
        figures["ours_from_speedup"] = paired_ratios([b.last_row_s for b in base], [o.last_row_s for o in launches[OTHER]])
    return figures


def report_lines(figures: dict) -> list[str]:
    """The figures as the benchmark prints them."""
    med = lambda key: Spread.of(figures[key]).fmt(1, " s")  # noqa: E731
    lines = [f"head to head on {figures['events']:,} preloaded events, {figures['rounds']} round(s), launch to row:",
             f"  ours     first row {med('ours_first_row_s')}, last row {med('ours_last_row_s')}",
             f"  baseline first row {med('baseline_first_row_s')}, last row {med('baseline_last_row_s')}"]
    if figures["speedup_median"]:
        lines.append(f"  ours is {figures['speedup_median']:.2f}x the baseline (median of the rounds' paired ratios "
                     f"{', '.join(f'{r:.2f}' for r in figures['speedup'] if r)})")
    if figures.get("ours_from"):
        lines.append(f"  ours from {figures['ours_from']}: first row {med('ours_from_first_row_s')}, last row "
                     f"{med('ours_from_last_row_s')}; x the baseline per round "
                     f"{', '.join(f'{r:.2f}' for r in figures['ours_from_speedup'] if r)}")
    if figures["ours_startup_s"]:
        lines.append("  ours' start-up to its first batch stored: " + ", ".join(
            f"{step} {seconds:.1f} s" for step, seconds in figures["ours_startup_s"].items()))
    return lines


def run_head_to_head(events: int, rounds: int, partitions: int = 4, users: int = 1000, output: Path | None = None,
                     ours_from: Path | None = None) -> int:
    """`python -m bench --head-to-head`: this measurement alone (.local/bench/head_to_head.json)."""
    from bench.env import catalog_movies, new_run_id
    from ratings_assets.generator.users import user_pool
    from ratings_assets.paths import REPO_ROOT

    services = Services.up()
    names = Names.fresh(new_run_id(), "h2h", REPO_ROOT / ".local" / "bench" / "tmp")
    with isolated(services, names):
        figures = measure(services, names, Workload(catalog_movies(), user_pool(users, seed=7), 7), events, rounds,
                          partitions, timeout_s=900,
                          ours_from=ours_from.resolve() if ours_from else None)
    print("\n".join(report_lines(figures)))
    output = output or REPO_ROOT / ".local" / "bench" / "head_to_head.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(figures, indent=2))
    print(f"wrote {output}")
    return 0
