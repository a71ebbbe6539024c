"""What the fault tests share: a generator of valid and invalid events that remembers what the broker
acknowledged, `ratings stream` as a process that can be killed, and the exact accounting of rows and dead
letters once the stream has drained.

Used by the single-node faults (test_faults_integration.py) and the cluster's node faults
(test_cluster_faults_integration.py), so both prove the same thing the same way.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ratings_assets.core.catalog import read_catalog
from ratings_assets.core.events import Reason
from ratings_assets.generator.publisher import PublishStats, connect, publish
from ratings_assets.generator.ratings import EventClock, Pacer, RatingFactory
from ratings_assets.generator.users import user_pool
from ratings_assets.localstack import stack
from ratings_assets.localstack.config import StackConfig
from ratings_assets.localstack.process import port_is_free
from ratings_assets.paths import CATALOG_CSV
from ratings_assets.resources.cassandra import CassandraResource
from ratings_assets.resources.kafka import KafkaResource
from ratings_assets_tests.streaming.accounting import assert_exactly_once
from ratings_assets_tests.streaming.topics import read_topic

RATE = 150.0  # events/s from the generator
INVALID_EVERY = 20  # one message in 20 is invalid
RATINGS = Path(sys.executable).with_name("ratings")
MOVIES = list(read_catalog(CATALOG_CSV).values())
DRAIN_TIMEOUT_S = 180
# A module's first scenario waits for Spark to start and for its cold first batch, on two cores shared with the
# servers: CI has seen that take over two minutes.
KEEP_UP_TIMEOUT_S = 300
HOST = "127.0.0.1"


def quiet(message: str) -> None:
    pass


def free_ports(count: int, hosts: tuple[str, ...] = (HOST,), width: int = 1) -> list[int]:
    """First ports of `count` blocks of `width` consecutive ports, free on every host and apart from each other,
    below the ephemeral range (so outgoing connections cannot take them meanwhile)."""
    rng, ports, taken = random.Random(), [], set()
    while len(ports) < count:
        port = rng.randrange(20000, 32000 - width)
        block = set(range(port, port + width))
        if not block & taken and all(port_is_free(host, p) for host in hosts for p in block):
            ports.append(port)
            taken |= block
    return ports


# ---------------------------------------------------------------- the generator

@dataclass(frozen=True)
class BadMessage:
    """An invalid message in the generator's stream; `publish` needs only .name and .to_json()."""

    name: str
    value: bytes
    reason: str

    def to_json(self) -> bytes:
        return self.value


def bad_message(i: int, rng: random.Random) -> BadMessage:
    now = datetime.now(timezone.utc)
    good = {"event_id": f"bad-{uuid.uuid4()}", "name": "Mallory", "movie_id": rng.choice(MOVIES).movie_id,
            "movie": "x", "timestamp": now.isoformat(), "rating": 5}
    kind = i % 5
    if kind == 0:
        return BadMessage("Mallory", f'{{"broken": "{uuid.uuid4()}"'.encode(), str(Reason.MALFORMED_JSON))
    if kind == 1:
        return BadMessage("Mallory", json.dumps({**good, "rating": 11}).encode(), str(Reason.RATING_OUT_OF_RANGE))
    if kind == 2:
        return BadMessage("Mallory", json.dumps({**good, "movie_id": 10**9}).encode(), str(Reason.UNKNOWN_MOVIE))
    if kind == 3:
        ahead = (now + timedelta(days=1)).isoformat()
        return BadMessage("Mallory", json.dumps({**good, "timestamp": ahead}).encode(), str(Reason.FUTURE_TIMESTAMP))
    return BadMessage("Mallory", json.dumps({k: v for k, v in good.items() if k != "rating"}).encode(),
                      str(Reason.MISSING_FIELD))


class TrackingProducer:
    """The project's producer, remembering the delivery report of every message (acknowledged where, or why not)."""

    def __init__(self, producer):
        self.producer = producer
        self.sent: list[bytes] = []
        self.reports: dict[bytes, tuple[int, int] | str] = {}  # value -> (partition, offset), or the error
        self.acked = 0  # so far: what a watcher samples

    def produce(self, topic, value=None, key=None, on_delivery=None):
        def report(error, message):
            self.reports[value] = repr(error) if error else (message.partition(), message.offset())
            self.acked += 0 if error else 1
            on_delivery(error, message)

        self.producer.produce(topic, value, key, on_delivery=report)
        self.sent.append(value)

    def poll(self, *timeout):
        return self.producer.poll(*timeout)

    def flush(self, *timeout):
        return self.producer.flush(*timeout)


@dataclass
class Outcome:
    """What was published, and what the broker acknowledged; merged across scenarios into a ledger."""

    valid: dict[bytes, str] = field(default_factory=dict)  # value -> event_id, of every valid message made
    invalid: dict[bytes, str] = field(default_factory=dict)  # value -> reason
    acked: dict[bytes, tuple[int, int]] = field(default_factory=dict)  # value -> (partition, offset)
    failed: dict[bytes, str] = field(default_factory=dict)  # value -> error

    def merge(self, other: Outcome) -> None:
        for mine, theirs in ((self.valid, other.valid), (self.invalid, other.invalid),
                             (self.acked, other.acked), (self.failed, other.failed)):
            mine.update(theirs)

    @property
    def acked_event_ids(self) -> set[str]:
        return {self.valid[v] for v in self.acked if v in self.valid}

    @property
    def acked_invalid(self) -> int:
        return sum(value in self.invalid for value in self.acked)

    def dead_letters_at(self, positions: dict[bytes, tuple[int, int]]) -> dict[str, tuple[bytes, str]]:
        """Expected dead letters: "partition:offset" -> (value, reason), of the invalid messages at `positions`."""
        return {f"{p}:{o}": (v, self.invalid[v]) for v, (p, o) in positions.items() if v in self.invalid}

    @property
    def acked_dead_letters(self) -> dict[str, tuple[bytes, str]]:
        """At the offsets the delivery reports gave (on a cluster, accounting.py reads them from the topic)."""
        return self.dead_letters_at(self.acked)


class Generator(threading.Thread):
    """Paced events through `publish` and the resource's idempotent acks=all producer, with invalid ones mixed in."""

    def __init__(self, kafka: KafkaResource, topic: str, seed: int, rate: float = RATE):
        super().__init__(name=f"generator-{seed}", daemon=True)
        self.kafka, self.topic, self.rate = kafka, topic, rate
        self.rng = random.Random(seed)
        self.factory = RatingFactory(MOVIES, user_pool(50, seed=seed), seed=seed)
        self.halt = threading.Event()
        self.outcome = Outcome()
        self.stats: PublishStats | None = None
        self.error: BaseException | None = None
        self.tracker: TrackingProducer | None = None

    def messages(self):
        pacer, clock, i = Pacer(self.rate), EventClock(), 0
        while not self.halt.is_set():
            pacer.wait()
            i += 1
            if i % INVALID_EVERY == 0:
                bad = bad_message(i // INVALID_EVERY, self.rng)
                self.outcome.invalid[bad.value] = bad.reason
                yield bad
            else:
                event = self.factory.make(clock())
                self.outcome.valid[event.to_json()] = event.event_id
                yield event

    def run(self) -> None:
        try:
            # The generator may start before its broker: `connect` waits for it as `ratings produce` does.
            self.tracker = TrackingProducer(connect(self.kafka))
            self.stats = publish(self.tracker, self.topic, self.messages())
        except BaseException as exc:  # noqa: BLE001 - reported by stop()
            self.error = exc

    def stop(self, timeout_s: float = 180) -> Outcome:
        self.halt.set()
        self.join(timeout_s)
        assert not self.is_alive(), "the generator did not stop"
        assert self.error is None, f"the generator failed: {self.error!r}"
        assert all(value in self.tracker.reports for value in self.tracker.sent), \
            "a message has no delivery report after flush"
        self.collect()
        assert len(self.outcome.acked) == self.stats.acked
        return self.outcome

    def collect(self) -> Outcome:
        """Sort what was sent into acknowledged and failed by its delivery report (reported ones only)."""
        for value in self.tracker.sent if self.tracker else ():
            report = self.tracker.reports.get(value)
            if isinstance(report, tuple):
                self.outcome.acked[value] = report
            elif report is not None:
                self.outcome.failed[value] = report
        return self.outcome


# ---------------------------------------------------------------- the streaming job, as a process

class StreamProcess:
    """`ratings stream` in its own process group: kill -9 takes the Python driver, its JVM and workers at once."""

    def __init__(self, env: dict[str, str], checkpoint: Path, log: Path):
        self.env, self.checkpoint, self.log = env, checkpoint, log
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.exits: list[int] = []  # exit codes of runs that ended on their own (failures)

    def start(self, *extra: str) -> None:
        with self.log.open("ab") as out:
            out.write(f"\n=== start {self.starts + 1} {time.strftime('%H:%M:%S')} {' '.join(extra)}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                [str(RATINGS), "stream", "--trigger", "2", "--checkpoint", str(self.checkpoint), *extra],
                env=self.env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        self.starts += 1

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def restart_if_dead(self) -> bool:
        """What a supervisor does; True when the job had died and was started again."""
        if self.alive():
            return False
        self.exits.append(self.proc.returncode)
        self.start()
        return True

    def kill9(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.alive():
            self.proc.send_signal(signal.SIGINT)  # the CLI stops the query and Spark
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                pass
        self.kill9()  # and whatever is left of its process group

    def thread_dump(self) -> str:
        """Where the stream's JVM is stuck: its threads' stacks (jstack), saved next to the log; the file's path,
        for a failure message."""
        if not self.alive():
            return "no thread dump: the stream is not running"
        java = subprocess.run(["pgrep", "-s", str(self.proc.pid), "java"], capture_output=True, text=True).stdout.split()
        if not java:
            return "no thread dump: the stream has no JVM"
        dump = self.log.with_name(f"{self.log.stem}.threads-{time.strftime('%H%M%S')}.txt")
        with dump.open("wb") as out:
            subprocess.run(["jstack", java[0]], stdout=out, stderr=subprocess.STDOUT, timeout=60, check=False)
        return f"the stream's threads: {dump}"

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        keep = [line for line in text.splitlines() if not line.startswith(("\t", " "))]
        return "\n".join(keep[-lines:])


# ---------------------------------------------------------------- the pipeline all scenarios share

@dataclass
class Pipeline:
    config: StackConfig
    kafka: KafkaResource
    cassandra: CassandraResource
    topic: str
    dlq_topic: str
    checkpoint: Path
    stream: StreamProcess
    ledger: Outcome = field(default_factory=Outcome)  # everything published so far, by every scenario
    generators: list[Generator] = field(default_factory=list)
    figures: list[dict] = field(default_factory=list)
    scenario: str = ""
    started: float = field(default_factory=time.monotonic)

    def begin(self, scenario: str) -> None:
        self.scenario, self.started = scenario, time.monotonic()
        self.stream_exits_before = len(self.stream.exits)
        self.stream.restart_if_dead()

    def phase(self, what: str) -> None:
        print(f"[{self.scenario} +{time.monotonic() - self.started:5.1f} s] {what}", flush=True)

    def env(self, **overrides: str) -> dict[str, str]:
        # The chaos stack runs without authentication, whatever this session exports.
        env = {k: v for k, v in os.environ.items()
               if k not in ("RATINGS_KAFKA_USERNAME", "RATINGS_KAFKA_PASSWORD",
                            "RATINGS_CASSANDRA_USERNAME", "RATINGS_CASSANDRA_PASSWORD")}
        env.update({
            "RATINGS_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",
            "RATINGS_KAFKA_BOOTSTRAP": self.kafka.bootstrap_servers,
            "RATINGS_CASSANDRA_HOSTS": self.cassandra.hosts,
            "RATINGS_CASSANDRA_PORT": str(self.cassandra.port),
            "RATINGS_TOPIC": self.topic,
            "RATINGS_DLQ_TOPIC": self.dlq_topic,
            "RATINGS_KEYSPACE": self.cassandra.keyspace,
            "RATINGS_SPARK_DRIVER_MEMORY": "1g",
            "SPARK_LOCAL_DIRS": str(self.checkpoint.parent / "spark-local"),
            "PYSPARK_SUBMIT_ARGS": "--conf spark.ui.enabled=false pyspark-shell",
        })
        env.update(overrides)
        return env

    def generator(self, seed: int, rate: float = RATE) -> Generator:
        generator = Generator(self.kafka, self.topic, seed, rate)
        self.generators.append(generator)
        generator.start()
        return generator

    def stop_generator(self, generator: Generator) -> Outcome:
        outcome = generator.stop()
        self.ledger.merge(outcome)
        self.generators.remove(generator)
        self.phase(f"generator stopped: {len(outcome.acked):,} acknowledged, {len(outcome.failed)} failed")
        return outcome

    def count_rows(self) -> int | None:
        try:
            with self.cassandra.session(self.cassandra.keyspace) as session:
                return session.execute("SELECT COUNT(*) FROM records", timeout=30).one()[0]
        except Exception:  # noqa: BLE001 - Cassandra may be down on purpose
            return None

    def wait_for_new_rows(self, timeout_s: float = KEEP_UP_TIMEOUT_S) -> int:
        """Until the job stores rows beyond what earlier scenarios left, and then has committed the batch that stored
        them and one more: it is past its start-up (a cold first batch, the catch-up query) and keeping up, so a fault
        lands on a stream in its steady state."""
        before = len(self.ledger.acked_event_ids)
        deadline = time.monotonic() + timeout_s
        rows, committed = 0, None
        while time.monotonic() < deadline:
            if committed is None and (rows := self.count_rows() or 0) > before:
                committed = self.last_committed_batch()
                self.phase(f"{rows:,} rows: the job is storing this scenario's events")
            if committed is not None and self.last_committed_batch() >= committed + 2:
                self.phase("two more batches committed: the job is keeping up")
                return rows
            self.stream.restart_if_dead()
            time.sleep(0.5)
        raise AssertionError(f"{self.scenario}: not storing and keeping up after {timeout_s} s\n{self.stream.tail()}")

    def last_committed_batch(self) -> int:
        return max(batch_ids(self.checkpoint / "commits"), default=-1)

    def mend(self) -> None:
        """After a failed scenario (its generator still running): stop the generator and still record what the
        brokers acknowledged, and start any server the fault left down, so the next scenario starts from a true
        ledger and a whole stack instead of failing in turn."""
        if not self.generators:
            return
        for generator in list(self.generators):
            generator.halt.set()
            generator.join(180)
            self.ledger.merge(generator.collect())
            self.generators.remove(generator)
        stack.up(config=self.config, progress=quiet)

    def dead_letter_keys(self) -> set[str] | None:
        try:
            return {letter.key.decode() for letter in read_topic(self.kafka.bootstrap_servers, self.dlq_topic, 30)}
        except Exception:  # noqa: BLE001 - Kafka may be down on purpose
            return None

    def drain(self, timeout_s: float = DRAIN_TIMEOUT_S) -> None:
        """Keep the job running (restarting it if it died) until every acknowledged message is accounted for."""
        want_rows, want_letters = len(self.ledger.acked_event_ids), self.ledger.acked_invalid
        deadline = time.monotonic() + timeout_s
        rows = letters = None
        while time.monotonic() < deadline:
            if self.stream.restart_if_dead():
                self.phase(f"the job had died (exit {self.stream.exits[-1]}): started again")
            rows = self.count_rows()
            if rows is not None and rows >= want_rows:
                letters = self.dead_letter_keys()
                if letters is not None and len(letters) >= want_letters:
                    self.phase("drained")
                    return
            time.sleep(1)
        raise AssertionError(f"{self.scenario}: not drained in {timeout_s} s: {rows} rows of {want_rows}, "
                             f"{len(letters or ())} dead letters of {want_letters}; {self.stream.thread_dump()}"
                             f"\n{self.stream.tail()}")

    def assert_exactly_once(self, **extra) -> dict:
        """Rows == acknowledged valid events; dead letters, by key, == acknowledged invalid ones (accounting.py).

        Returns the scenario's figures (with `extra`): rows, lost, duplicated, dead letters, job restarts.
        """
        counts = assert_exactly_once(self.ledger, self.kafka.bootstrap_servers, self.topic, self.dlq_topic,
                                     self.cassandra, self.scenario)
        figures = {"scenario": self.scenario, "seconds": round(time.monotonic() - self.started), **counts, **extra,
                   "job_failures": self.stream.exits[self.stream_exits_before:], "job_starts": self.stream.starts}
        self.figures.append(figures)
        return figures


@contextmanager
def running_pipeline(config: StackConfig, kafka: KafkaResource, cassandra: CassandraResource, folder: Path, prefix: str,
                     partitions: int = 4, replication: int = 1) -> Iterator[Pipeline]:
    """A fresh topic, dead-letter topic and keyspace on the given services, and `ratings stream` running on them;
    stopped (with any generator left) on the way out, the figures printed."""
    suffix = uuid.uuid4().hex[:8]
    topic = f"{prefix}_{suffix}"
    # As `ratings init` makes them: the topic, its dead-letter topic and the latter's marks, all replicated.
    kafka.model_copy(update={"topic": topic, "dead_letter_topic": f"{topic}.dlq", "topic_partitions": partitions,
                             "topic_replication": replication}).ensure_rating_topics()
    cassandra = cassandra.model_copy(update={"keyspace": f"{prefix}_{suffix}"})
    cassandra.ensure_schema()
    checkpoint = folder / "checkpoint" / "records"
    made = Pipeline(config, kafka, cassandra, topic, f"{topic}.dlq", checkpoint,
                    StreamProcess({}, checkpoint, folder / "stream.log"))
    made.stream.env = made.env()
    made.stream.start()
    try:
        yield made
    finally:
        for generator in made.generators:
            generator.halt.set()
        made.stream.stop()
        for generator in made.generators:
            generator.join(60)
        for figures in made.figures:
            print(figures)


def batch_ids(folder: Path) -> set[int]:
    """The batch ids a checkpoint's `offsets` or `commits` folder holds."""
    return {int(p.name) for p in folder.iterdir() if p.name.isdigit()} if folder.is_dir() else set()


class ProgressWatch(threading.Thread):
    """Samples, about every half second, the rows stored and the events acknowledged, to tell how long the
    pipeline went without progress (a count that does not grow) while a fault lasted."""

    def __init__(self, pipeline: Pipeline, generator: Generator, interval_s: float = 0.5):
        super().__init__(name="progress-watch", daemon=True)
        self.pipeline, self.generator, self.interval_s = pipeline, generator, interval_s
        self.samples: list[tuple[float, int | None, int]] = []  # (monotonic time, rows or None, acked)
        self.halt = threading.Event()

    def run(self) -> None:
        cassandra = self.pipeline.cassandra
        with cassandra.session(cassandra.keyspace) as session:
            while not self.halt.is_set():
                try:
                    rows = session.execute("SELECT COUNT(*) FROM records", timeout=20).one()[0]
                except Exception:  # noqa: BLE001 - a coordinator may be down on purpose: no sample, no progress
                    rows = None
                acked = self.generator.tracker.acked if self.generator.tracker else 0
                self.samples.append((time.monotonic(), rows, acked))
                self.halt.wait(self.interval_s)

    def stop(self) -> dict:
        self.halt.set()
        self.join(60)
        return {"longest_stall_rows_s": longest_stall([(t, rows) for t, rows, _ in self.samples]),
                "longest_stall_acks_s": longest_stall([(t, acked) for t, _, acked in self.samples])}

    def rows_at(self, moment: float) -> int:
        """The last row count sampled before `moment` (monotonic)."""
        return max((rows for t, rows, _ in self.samples if t <= moment and rows is not None), default=0)


def longest_stall(samples: list[tuple[float, int | None]]) -> float:
    """Longest time between a count's increases (unanswered samples count as none), from the first sample
    to the last: the longest time without progress."""
    if not samples:
        return 0.0
    longest, since, best = 0.0, samples[0][0], None
    for moment, count in samples:
        if count is not None and (best is None or count > best):
            longest, since, best = max(longest, moment - since), moment, count
    return round(max(longest, samples[-1][0] - since), 1)
