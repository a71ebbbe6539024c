"""Faults while the generator publishes: the streaming job is killed, Cassandra and Kafka go away and come back.

These tests stop and restart services, so they run their own Kafka and
Cassandra (separate state folder, free ports, small heaps), never the shared
default-port ones. The streaming job runs as the `ratings stream` command in a
subprocess (one SparkContext per process; the shared `spark` fixture may hold
one here), which also makes kill -9 a real crash. One topic, keyspace,
checkpoint and job serve all the scenarios, in order, as in production, so
a new Spark is started only when a fault calls for it.

After each fault, with the generator stopped and the stream drained, every
message the broker acknowledged so far is accounted for exactly: valid events
are rows of `records` (by event_id, none missing, none extra), invalid ones are
dead letters (one per "partition:offset" key, none twice, read committed) with
the right reason and their original bytes.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

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
from ratings_assets_tests.conftest import wait_for
from ratings_assets_tests.streaming.accounting import assert_exactly_once
from ratings_assets_tests.streaming.topics import read_topic

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

HOST = "127.0.0.1"
RATE = 150.0  # events/s from the generator
INVALID_EVERY = 20  # one message in 20 is invalid
RATINGS = Path(sys.executable).with_name("ratings")
MOVIES = list(read_catalog(CATALOG_CSV).values())
DRAIN_TIMEOUT_S = 180


def quiet(message: str) -> None:
    pass


# ---------------------------------------------------------------- the chaos stack

def free_ports(count: int) -> list[int]:
    """Distinct free ports below the ephemeral range (so outgoing connections cannot take them meanwhile)."""
    rng, ports = random.Random(), []
    while len(ports) < count:
        port = rng.randrange(20000, 32000)
        if port not in ports and port_is_free(HOST, port):
            ports.append(port)
    return ports


@pytest.fixture(scope="module")
def chaos_stack(tmp_path_factory) -> StackConfig:
    """A Kafka and a Cassandra of our own: separate state folder, free ports, small heaps."""
    state = tmp_path_factory.mktemp("chaos_stack")
    # Reuse the jars `make setup` resolved instead of running Maven again.
    (state / "jars").symlink_to(StackConfig.from_env().state_dir / "jars", target_is_directory=True)
    kafka_port, controller, cql, storage, jmx = free_ports(5)
    config = StackConfig(
        state_dir=state, bind_host=HOST, kafka_port=kafka_port, kafka_controller_port=controller,
        kafka_heap="256m", cassandra_port=cql, cassandra_storage_port=storage, cassandra_jmx_port=jmx,
        cassandra_heap="768m", start_timeout_s=240,
    )
    try:
        stack.up(config=config, progress=quiet)
        yield config
    finally:
        stack.down(config=config, progress=quiet)


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

    def produce(self, topic, value=None, key=None, on_delivery=None):
        def report(error, message):
            self.reports[value] = repr(error) if error else (message.partition(), message.offset())
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
    def acked_dead_letters(self) -> dict[str, tuple[bytes, str]]:
        """Expected dead letters: "partition:offset" -> (value, reason)."""
        return {f"{p}:{o}": (v, self.invalid[v]) for v, (p, o) in self.acked.items() if v in self.invalid}


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
        for value in self.tracker.sent:
            assert value in self.tracker.reports, "a message has no delivery report after flush"
            report = self.tracker.reports[value]
            if isinstance(report, tuple):
                self.outcome.acked[value] = report
            else:
                self.outcome.failed[value] = report
        assert len(self.outcome.acked) == self.stats.acked
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
            "RATINGS_CASSANDRA_HOSTS": HOST,
            "RATINGS_CASSANDRA_PORT": str(self.config.cassandra_port),
            "RATINGS_TOPIC": self.topic,
            "RATINGS_DLQ_TOPIC": self.dlq_topic,
            "RATINGS_KEYSPACE": self.cassandra.keyspace,
            "RATINGS_SPARK_DRIVER_MEMORY": "1g",
            "SPARK_LOCAL_DIRS": str(self.checkpoint.parent / "spark-local"),
            "PYSPARK_SUBMIT_ARGS": "--conf spark.ui.enabled=false pyspark-shell",
        })
        env.update(overrides)
        return env

    def generator(self, seed: int) -> Generator:
        generator = Generator(self.kafka, self.topic, seed)
        self.generators.append(generator)
        generator.start()
        return generator

    def stop_generator(self, generator: Generator) -> Outcome:
        outcome = generator.stop()
        self.ledger.merge(outcome)
        self.phase(f"generator stopped: {len(outcome.acked):,} acknowledged, {len(outcome.failed)} failed")
        return outcome

    def count_rows(self) -> int | None:
        try:
            with self.cassandra.session(self.cassandra.keyspace) as session:
                return session.execute("SELECT COUNT(*) FROM records", timeout=30).one()[0]
        except Exception:  # noqa: BLE001 - Cassandra may be down on purpose
            return None

    def wait_for_new_rows(self, timeout_s: float = 150) -> int:
        """Until the job stores rows beyond what earlier scenarios left (it is running and keeping up)."""
        before = len(self.ledger.acked_event_ids)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if (rows := self.count_rows() or 0) > before:
                self.phase(f"{rows:,} rows: the job is storing this scenario's events")
                return rows
            self.stream.restart_if_dead()
            time.sleep(0.5)
        raise AssertionError(f"{self.scenario}: no new rows after {timeout_s} s\n{self.stream.tail()}")

    def dead_letter_keys(self) -> set[str] | None:
        try:
            return {letter.key.decode() for letter in read_topic(self.kafka.bootstrap_servers, self.dlq_topic, 30)}
        except Exception:  # noqa: BLE001 - Kafka may be down on purpose
            return None

    def drain(self, timeout_s: float = DRAIN_TIMEOUT_S) -> None:
        """Keep the job running (restarting it if it died) until every acknowledged message is accounted for."""
        want_rows, want_letters = len(self.ledger.acked_event_ids), set(self.ledger.acked_dead_letters)
        deadline = time.monotonic() + timeout_s
        rows = letters = None
        while time.monotonic() < deadline:
            if self.stream.restart_if_dead():
                self.phase(f"the job had died (exit {self.stream.exits[-1]}): started again")
            rows = self.count_rows()
            if rows is not None and rows >= want_rows:
                letters = self.dead_letter_keys()
                if letters is not None and letters >= want_letters:
                    self.phase("drained")
                    return
            time.sleep(1)
        raise AssertionError(f"{self.scenario}: not drained in {timeout_s} s: {rows} rows of {want_rows}, "
                             f"{len(letters or ())} dead letters of {len(want_letters)}\n{self.stream.tail()}")

    def assert_exactly_once(self) -> dict:
        """Rows == acknowledged valid events; dead letters, by key, == acknowledged invalid ones."""
        counts = assert_exactly_once(self.ledger, self.kafka.bootstrap_servers, self.topic, self.dlq_topic,
                                     self.cassandra, self.scenario)
        figures = {"scenario": self.scenario, "seconds": round(time.monotonic() - self.started), **counts,
                   "job_failures": self.stream.exits[self.stream_exits_before:], "job_starts": self.stream.starts}
        self.figures.append(figures)
        print(figures, flush=True)
        return figures


@pytest.fixture(scope="module")
def pipeline(chaos_stack, tmp_path_factory):
    suffix = uuid.uuid4().hex[:8]
    kafka = KafkaResource(bootstrap_servers=f"{HOST}:{chaos_stack.kafka_port}", client_id="ratings-chaos")
    topic = f"chaos_{suffix}"
    kafka.ensure_topic(topic, 4, 1)
    kafka.ensure_topic(f"{topic}.dlq", 1, 1)
    cassandra = CassandraResource(hosts=HOST, port=chaos_stack.cassandra_port, keyspace=f"chaos_{suffix}")
    cassandra.ensure_schema()
    folder = tmp_path_factory.mktemp("chaos_job")
    checkpoint = folder / "checkpoint" / "records"
    made = Pipeline(chaos_stack, kafka, cassandra, topic, f"{topic}.dlq", checkpoint,
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
    return {int(p.name) for p in folder.iterdir() if p.name.isdigit()} if folder.is_dir() else set()


def in_flight_batch(checkpoint: Path) -> int | None:
    """The batch whose offsets are planned but not committed yet, if any."""
    planned, committed = batch_ids(checkpoint / "offsets"), batch_ids(checkpoint / "commits")
    latest = max(planned, default=None)
    return latest if latest is not None and latest not in committed else None


KILL_ATTEMPTS = 8


def kill_after_dead_letters(pipeline, dlq: KafkaConsumer, partition: TopicPartition) -> int:
    """kill -9 the job as soon as a batch in flight has committed dead letters; returns that batch's id."""
    while True:
        wait_for(lambda: in_flight_batch(pipeline.checkpoint) is not None, 300, "a batch in flight", poll_s=0.01)
        watched = in_flight_batch(pipeline.checkpoint)
        if watched is None:
            continue  # committed meanwhile
        letters_before = dlq.end_offsets([partition])[partition]
        while in_flight_batch(pipeline.checkpoint) == watched:
            if dlq.end_offsets([partition])[partition] > letters_before:
                pipeline.stream.kill9()
                return watched
            time.sleep(0.002)


# ---------------------------------------------------------------- the scenarios, in order

def test_kill_9_mid_batch_then_restart_on_the_same_checkpoint(pipeline):
    pipeline.begin("kill -9")
    generator = pipeline.generator(seed=1)
    pipeline.wait_for_new_rows()

    # Kill right after a batch's dead-letter transaction committed and before Spark recorded the batch: the
    # worst moment, when the replay has those dead letters again. Read committed, the topic's end moves when
    # the transaction commits. The batch commits milliseconds after its dead letters, so a kill can miss that
    # window: then the job is started again and the next batch tried (every try is a kill -9 on the same
    # checkpoint, which the exactly-once check below covers as well).
    dlq = KafkaConsumer(bootstrap_servers=pipeline.kafka.bootstrap_servers, client_id="chaos-probe",
                        isolation_level="read_committed")
    dlq_partition = TopicPartition(pipeline.dlq_topic, 0)
    killed_in = None
    try:
        for attempt in range(1, KILL_ATTEMPTS + 1):
            watched = kill_after_dead_letters(pipeline, dlq, dlq_partition)
            killed_in = in_flight_batch(pipeline.checkpoint)
            if killed_in == watched:
                break
            pipeline.phase(f"try {attempt}: batch {watched} committed before the kill landed; starting again")
            killed_in = None
            pipeline.stream.start()
    finally:
        dlq.close()
    assert killed_in is not None, f"no kill landed between a batch's dead letters and its commit in {KILL_ATTEMPTS} tries"
    pipeline.phase(f"killed -9 inside batch {killed_in}, after its dead letters, before its commit")

    time.sleep(3)  # events keep coming while the job is down
    pipeline.stream.start()
    time.sleep(5)
    pipeline.stop_generator(generator)
    pipeline.drain()
    assert killed_in in batch_ids(pipeline.checkpoint / "commits"), "the killed batch was never completed"
    pipeline.assert_exactly_once()


def test_cassandra_down_for_20_seconds(pipeline):
    pipeline.begin("cassandra down")
    generator = pipeline.generator(seed=2)
    pipeline.wait_for_new_rows()
    stack.down(["cassandra"], config=pipeline.config, progress=quiet)
    pipeline.phase("cassandra stopped")
    time.sleep(20)
    stack.up(["cassandra"], config=pipeline.config, progress=quiet)
    pipeline.phase("cassandra started again")
    time.sleep(5)  # a few more events with Cassandra back
    pipeline.stop_generator(generator)
    pipeline.drain()
    pipeline.assert_exactly_once()


def test_kafka_broker_restart_while_producing_and_streaming(pipeline):
    pipeline.begin("kafka restart")
    generator = pipeline.generator(seed=3)
    pipeline.wait_for_new_rows()
    stack.down(["kafka"], config=pipeline.config, progress=quiet)
    pipeline.phase("kafka stopped")
    time.sleep(5)
    stack.up(["kafka"], config=pipeline.config, progress=quiet)
    pipeline.phase("kafka started again")
    time.sleep(10)  # the generator goes on with the broker back
    outcome = pipeline.stop_generator(generator)
    assert outcome.acked and not outcome.failed
    pipeline.drain()
    pipeline.assert_exactly_once()


DONE_LINE = re.compile(r"done: sent ([\d,]+)\s+acked ([\d,]+) .* errors ([\d,]+)")
BROKER_DOWN_S = 12  # longer than a client's own reconnection back-off would hide


def test_generator_started_while_the_broker_is_down(pipeline):
    pipeline.begin("generator before broker")
    stack.down(["kafka"], config=pipeline.config, progress=quiet)
    pipeline.phase("kafka stopped")
    count, cli_topic = 1500, f"{pipeline.topic}_cli"
    produce = [str(RATINGS), "produce", "--count", str(count), "--rate", "300", "--seed", "4", "--topic", cli_topic]
    # `ratings produce` twice, and the project's publisher in a thread, all before the broker is back; one
    # of the commands is pointed at an address where no broker will ever answer.
    comes_back = subprocess.Popen(produce, env=pipeline.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with socket.socket() as nowhere:  # bound, not listening: connections are refused, and nobody else gets it
        nowhere.bind((HOST, 0))
        address = f"{HOST}:{nowhere.getsockname()[1]}"
        never = subprocess.Popen(produce, env=pipeline.env(RATINGS_KAFKA_BOOTSTRAP=address),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        launched = time.monotonic()
        generator = pipeline.generator(seed=4)
        time.sleep(BROKER_DOWN_S)
        stack.up(["kafka"], config=pipeline.config, progress=quiet)
        pipeline.phase("kafka started again")

        out, err = comes_back.communicate(timeout=120)
        assert comes_back.returncode == 0, f"{out}\n{err}"
        assert "Traceback" not in err
        sent, acked, errors = (int(g.replace(",", "")) for g in DONE_LINE.search(out).groups())
        assert (sent, acked, errors) == (count, count, 0), out
        # Nothing it reported as acknowledged is missing, and nothing is there twice.
        events = [json.loads(r.value) for r in read_topic(pipeline.kafka.bootstrap_servers, cli_topic)]
        assert len(events) == acked and len({e["event_id"] for e in events}) == acked
        pipeline.phase(f"`ratings produce` waited for the broker, then sent and acked {acked:,} events")

        # The other one gave up within a bounded time, with a clear message and no traceback.
        out, err = never.communicate(timeout=60)
        gave_up_after = time.monotonic() - launched
    assert never.returncode == 1, f"{out}\n{err}"
    assert err.startswith(f"error: no Kafka broker answered at {address} within 30 s"), err
    assert "Traceback" not in err and len(err.splitlines()) == 1
    pipeline.phase(f"`ratings produce` without a broker gave up after {gave_up_after:.0f} s: {err.strip()}")

    while len(generator.outcome.invalid) < 10:
        assert generator.is_alive(), generator.error
        time.sleep(0.2)
    pipeline.stop_generator(generator)
    pipeline.drain()
    pipeline.assert_exactly_once()
