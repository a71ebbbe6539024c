"""The streaming job on a real Spark standalone cluster: a master and a worker started by the
launcher (`stack up --spark`), a 4-partition topic, a keyspace replicated as on a ring
(NetworkTopologyStrategy), and `ratings init`, `produce`, `stream` run as a user runs them.

The stream runs as a subprocess anyway: the in-process test session is local[2], and a
JVM holds one SparkContext. Everything runs on free ports and in an isolated topic,
keyspace and checkpoint, so it leaves the user's stack (and Spark cluster) alone.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ratings_assets.localstack import stack
from ratings_assets.localstack.config import StackConfig
from ratings_assets.localstack.spark import SparkWorker, master_state
from ratings_assets_tests.stored_rows import user_hours_of_index, user_hours_of_records
from ratings_assets_tests.localstack.conftest import free_port
from ratings_assets_tests.streaming.topics import read_topic

pytestmark = pytest.mark.integration

EVENTS = 3_000
PARTITIONS = 4
STREAM_TIMEOUT_S = 240
COMMAND_TIMEOUT_S = 180
RATINGS = Path(sys.executable).with_name("ratings")


def quiet(message: str) -> None:
    pass


def distinct_free_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        if (port := free_port()) not in ports:
            ports.append(port)
    return ports


@pytest.fixture(scope="module")
def spark_cluster(services, tmp_path_factory) -> StackConfig:
    """A Spark master and one worker (2 cores, 1g) on free ports, stopped even when the test fails."""
    master, master_ui, worker, worker_ui = distinct_free_ports(4)
    config = dataclasses.replace(
        services, state_dir=tmp_path_factory.mktemp("spark-cluster"), spark_master_port=master,
        spark_master_ui_port=master_ui, spark_worker_port=worker, spark_worker_ui_port=worker_ui,
        spark_worker_cores=2, spark_worker_memory="1g",
    )
    try:
        stack.up(stack.SPARK_NAMES, config=config, progress=quiet)
        yield config
    finally:
        stack.down(stack.SPARK_NAMES, config=config, progress=quiet)


@pytest.fixture(scope="module")
def cql(services):
    """A session of the Cassandra driver itself, independent of the project's code."""
    from cassandra.cluster import Cluster

    cluster = Cluster([services.bind_host], port=services.cassandra_port)
    try:
        yield cluster.connect()
    finally:
        cluster.shutdown()


@pytest.fixture(scope="module")
def data_center(cql) -> str:
    return cql.execute("SELECT data_center FROM system.local").one().data_center


@pytest.fixture(scope="module")
def ring_replication(data_center) -> str:
    """The replication of a ring, NetworkTopologyStrategy by data center, with this node's one (factor 1)."""
    return f"{{'class': 'NetworkTopologyStrategy', '{data_center}': 1}}"


@pytest.fixture(scope="module")
def user_env(kafka, isolated, services, ring_replication) -> dict[str, str]:
    """What a user exports to point `ratings` at the isolated topic and keyspace."""
    return {
        **os.environ,
        "RATINGS_KAFKA_BOOTSTRAP": kafka.bootstrap_servers,
        "RATINGS_TOPIC": isolated["topic"],
        "RATINGS_DLQ_TOPIC": isolated["dlq_topic"],
        "RATINGS_TOPIC_PARTITIONS": str(PARTITIONS),
        "RATINGS_KEYSPACE": isolated["keyspace"],
        "RATINGS_CASSANDRA_REPLICATION": ring_replication,
        "RATINGS_CASSANDRA_HOSTS": services.bind_host,
        "RATINGS_CASSANDRA_PORT": str(services.cassandra_port),
        "RATINGS_CHECKPOINT_DIR": isolated["checkpoint_dir"],
    }


def run_ratings(args: list[str], env: dict[str, str], log_dir: Path, timeout_s: float = COMMAND_TIMEOUT_S) -> str:
    """`ratings ARGS` as a user runs it; its output, also kept in log_dir. Its process group dies on timeout."""
    log_path = log_dir / f"ratings-{args[0]}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([str(RATINGS), *args], env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the command and its children (the Spark driver's JVM): our group
            proc.wait()
            code = None
    output = log_path.read_text(errors="replace")
    assert code == 0, f"`ratings {shlex.join(args)}` exited with {code} (timeout {timeout_s:.0f} s):\n{output[-4000:]}"
    return output


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("ratings-logs")


@pytest.fixture(scope="module")
def initialized(user_env, log_dir, isolated, kafka, cql):
    """`ratings init`: the 4-partition topic, the dead-letter topic, the keyspace; all removed afterwards."""
    try:
        run_ratings(["init"], user_env, log_dir)
        yield
    finally:
        cql.execute(f"DROP KEYSPACE IF EXISTS {isolated['keyspace']}", timeout=120)
        with kafka.admin() as admin:
            existing = set(admin.list_topics())
            admin.delete_topics([t for t in (isolated["topic"], isolated["dlq_topic"]) if t in existing])


@pytest.fixture(scope="module")
def published(initialized, user_env, log_dir, kafka, isolated) -> list[str]:
    """`ratings produce` of EVENTS valid events over the last 3 hours; the event ids the topic then holds."""
    run_ratings(["produce", "--rate", "0", "--users", "60", "--count", str(EVENTS), "--seed", "23",
                 "--past-hours", "3"], user_env, log_dir)
    event_ids = [json.loads(record.value)["event_id"] for record in read_topic(kafka.bootstrap_servers, isolated["topic"])]
    assert len(event_ids) == len(set(event_ids)) == EVENTS
    return event_ids


@pytest.fixture(scope="module")
def streamed(spark_cluster, published, user_env, log_dir) -> str:
    """`ratings stream --available-now` drains the topic on the cluster (RATINGS_SPARK_MASTER=spark://…)."""
    env = {**user_env, "RATINGS_SPARK_MASTER": spark_cluster.spark_master_url}
    began = time.monotonic()
    output = run_ratings(["stream", "--available-now", "--trigger", "1"], env, log_dir, STREAM_TIMEOUT_S)
    print(f"ratings stream on {spark_cluster.spark_master_url}: {EVENTS:,} events in {time.monotonic() - began:.1f} s")
    return output


def test_the_keyspace_has_the_ring_replication(initialized, cql, isolated, data_center):
    row = cql.execute("SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s",
                      (isolated["keyspace"],)).one()
    assert row.replication == {"class": "org.apache.cassandra.locator.NetworkTopologyStrategy", data_center: "1"}


def test_the_topic_has_four_partitions_all_holding_events(published, kafka, isolated):
    ends = kafka.end_offsets(isolated["topic"])
    assert sorted(ends) == list(range(PARTITIONS))
    assert sum(ends.values()) == EVENTS and all(ends.values())


def test_every_published_event_is_stored_once(streamed, published, cql, isolated):
    keyspace = isolated["keyspace"]
    assert cql.execute(f"SELECT COUNT(*) FROM {keyspace}.records", timeout=60).one()[0] == EVENTS
    assert user_hours_of_index(cql, keyspace) == user_hours_of_records(cql, keyspace)
    stored = [row.event_id for row in cql.execute(f"SELECT event_id FROM {keyspace}.records", timeout=60)]
    assert sorted(stored) == sorted(published)


def test_the_work_ran_on_the_worker(streamed, spark_cluster, isolated):
    state = master_state(spark_cluster.bind_host, spark_cluster.spark_master_ui_port)
    assert state is not None and state["activeapps"] == []
    [app] = state["completedapps"]  # a fresh cluster: the stream was its one application
    assert (app["name"], app["state"]) == ("ratings-stream", "FINISHED")
    assert app["cores"] == spark_cluster.spark_worker_cores
    # The worker's folder for that application: one executor, which ran the tasks.
    executors = list((SparkWorker(spark_cluster).work_dir / app["id"]).iterdir())
    assert len(executors) == 1
    executor_log = (executors[0] / "stderr").read_text(errors="replace")
    assert "Successfully registered with driver" in executor_log
    # It read every partition of the topic, all the events between them (a retried task reads a range again).
    ranges = {(int(p), int(start), int(end)) for p, start, end in re.findall(
        rf"topicPartition={re.escape(isolated['topic'])}-(\d+) fromOffset=(\d+) untilOffset=(\d+)", executor_log)}
    assert {p for p, _, _ in ranges} == set(range(PARTITIONS))
    assert sum(end - start for _, start, end in ranges) == EVENTS
    # The connector jars reached the executor from the driver (spark.jars).
    assert any(path.name.startswith("spark-cassandra-connector") for path in executors[0].iterdir())
