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
the right reason and their original bytes. The generator, the stream process
and that accounting live in harness.py, shared with the cluster's node faults.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from ratings_assets.localstack import stack
from ratings_assets.localstack.config import StackConfig
from ratings_assets.resources.cassandra import CassandraResource
from ratings_assets.resources.kafka import KafkaResource
from ratings_assets_tests.conftest import own_stack, wait_for
from ratings_assets_tests.streaming.harness import HOST, RATINGS, batch_ids, free_ports, quiet, running_pipeline
from ratings_assets_tests.streaming.topics import read_topic

pytestmark = [pytest.mark.integration, pytest.mark.chaos]


# ---------------------------------------------------------------- the chaos stack

@pytest.fixture(scope="module")
def chaos_stack(tmp_path_factory) -> StackConfig:
    """A Kafka and a Cassandra of our own: separate state folder, free ports, small heaps."""
    kafka_port, controller, cql, storage, jmx = free_ports(5)
    with own_stack(tmp_path_factory, "chaos_stack", bind_host=HOST, kafka_port=kafka_port,
                   kafka_controller_port=controller, kafka_heap="256m", cassandra_port=cql,
                   cassandra_storage_port=storage, cassandra_jmx_port=jmx, cassandra_heap="768m",
                   start_timeout_s=240) as config:
        yield config


@pytest.fixture(scope="module")
def pipeline(chaos_stack, tmp_path_factory):
    kafka = KafkaResource(bootstrap_servers=f"{HOST}:{chaos_stack.kafka_port}", client_id="ratings-chaos")
    cassandra = CassandraResource(hosts=HOST, port=chaos_stack.cassandra_port)
    with running_pipeline(chaos_stack, kafka, cassandra, tmp_path_factory.mktemp("chaos_job"), "chaos") as made:
        yield made


@pytest.fixture(autouse=True)
def mended(pipeline):
    """A failed scenario leaves no generator running and no server down for the next one."""
    yield
    pipeline.mend()


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
