"""Node faults under load on a real cluster: three Cassandra nodes in one ring, three Kafka brokers in one
KRaft cluster, started by the launcher as `ratings stack up --cassandra-nodes 3 --kafka-brokers 3` does.

What users trust a cluster for is replication: losing a node loses nothing and stops nothing. Each
scenario runs the generator at a steady rate and `ratings stream` on the cluster (keyspace replicated
three times, topics with three replicas and min.insync.replicas=2, the idempotent acks=all producer,
LOCAL_QUORUM reads and writes), breaks nodes, mends them, then stops the generator, drains the stream and
accounts for every acknowledged message exactly (harness.py): rows == events acknowledged, none twice,
dead letters exact. Each prints its longest time without progress, rows, lost and duplicated.

One cluster and one pipeline serve the four scenarios, in order. The cluster has its own state folder,
loopback addresses (127.42.x.1-3) and free ports, so it never meets the shared default stack.
"""

from __future__ import annotations

import random
import time

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from ratings_assets.localstack import stack, topology
from ratings_assets.localstack.config import StackConfig
from ratings_assets.resources.cassandra import CassandraResource
from ratings_assets.resources.kafka import KafkaResource
from ratings_assets_tests.conftest import own_stack, wait_for
from ratings_assets_tests.streaming.harness import ProgressWatch, free_ports, quiet, running_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

NODES = BROKERS = 3
PARTITIONS = 4
RATE = 100.0  # events/s: steady, and light enough for six servers and Spark on two cores
CASSANDRA_DOWN_S = 60
# Progress must show within it. The batch under way when the broker died waits for its dead-letter
# transaction, whose coordinator (when it was the dead broker) moves only once Kafka has fenced it.
AFTER_ELECTION_S = 60
BOTH_DOWN_S = 60
SETTLE_S = 5  # events with everything back, before the generator stops


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> StackConfig:
    """Three Cassandra nodes and three brokers of our own: small heaps, free ports, addresses nobody else uses."""
    first = f"127.42.{random.randrange(1, 250)}.1"
    base = StackConfig(bind_host=first, cassandra_nodes=NODES)
    cql, storage = free_ports(2, tuple(topology.cassandra_addresses(base)))
    (jmx,) = free_ports(1, ("127.0.0.1",), width=NODES)
    (kafka_port,) = free_ports(1, (first,), width=2 * BROKERS)
    began = time.monotonic()
    with own_stack(tmp_path_factory, "cluster_stack", bind_host=first, cassandra_nodes=NODES,
                   kafka_brokers=BROKERS, kafka_port=kafka_port, kafka_controller_port=kafka_port + 1,
                   kafka_heap="384m", cassandra_port=cql, cassandra_storage_port=storage, cassandra_jmx_port=jmx,
                   cassandra_heap="768m", start_timeout_s=300) as config:
        print(f"cluster of {NODES} Cassandra nodes and {BROKERS} brokers up in {time.monotonic() - began:.0f} s")
        yield config


@pytest.fixture(scope="module")
def pipeline(cluster, tmp_path_factory):
    kafka = KafkaResource(bootstrap_servers=topology.kafka_bootstrap(cluster), client_id="ratings-cluster")
    cassandra = CassandraResource(hosts=",".join(topology.cassandra_addresses(cluster)), port=cluster.cassandra_port,
                                  replication=topology.cassandra_replication(NODES))
    with running_pipeline(cluster, kafka, cassandra, tmp_path_factory.mktemp("cluster_job"), "cluster",
                          partitions=PARTITIONS, replication=topology.topic_replication(BROKERS)) as made:
        yield made


def describe_topic(kafka: KafkaResource, topic: str) -> list[dict]:
    with kafka.admin() as admin:
        return admin.describe_topics([topic])[0]["partitions"]


def partitions_or_none(kafka: KafkaResource, topic: str) -> list[dict] | None:
    """The topic's partitions, or None while the cluster cannot say (a broker just died, an election runs)."""
    try:
        return describe_topic(kafka, topic)
    except Exception:  # noqa: BLE001 - asked again by the caller's wait
        return None


def leaders(kafka: KafkaResource, topic: str) -> set[int] | None:
    partitions = partitions_or_none(kafka, topic)
    return {p["leader_id"] for p in partitions} if partitions else None


def busiest_broker(kafka: KafkaResource, topic: str) -> int:
    return topology.busiest_leader([p["leader_id"] for p in describe_topic(kafka, topic)])


def wait_in_sync(pipeline, timeout_s: float = 120) -> None:
    """Until every replica of every partition of the pipeline's topics is in sync again (after a broker is back),
    so the next fault starts from a whole cluster."""
    def whole() -> bool:
        described = [partitions_or_none(pipeline.kafka, topic) for topic in (pipeline.topic, pipeline.dlq_topic)]
        return all(partitions and all(len(p["isr_nodes"]) == BROKERS for p in partitions) for partitions in described)

    wait_for(whole, timeout_s, "every partition's replicas back in sync")


def under_load(pipeline, scenario: str, seed: int, fault) -> dict:
    """The generator at a steady rate and the stream running through `fault(watch)`; then drained and accounted."""
    pipeline.begin(scenario)
    generator = pipeline.generator(seed, rate=RATE)
    pipeline.wait_for_new_rows()
    watch = ProgressWatch(pipeline, generator)
    watch.start()
    try:
        fault(watch)
        # Losing nodes stops nothing: the stream ran through the fault without dying (no supervisor restarted it).
        assert pipeline.stream.alive(), f"the stream died during the fault\n{pipeline.stream.tail()}"
        time.sleep(SETTLE_S)
        pipeline.stop_generator(generator)
    finally:
        stalls = watch.stop()
        pipeline.mend()
    pipeline.drain()
    figures = pipeline.assert_exactly_once(**stalls)
    assert figures["lost"] == 0 and figures["duplicated"] == 0
    return figures


def grew(watch: ProgressWatch, start: float, end: float) -> bool:
    return watch.rows_at(end) > watch.rows_at(start)


def stalled(pipeline, what: str) -> str:
    """A failure message saying where the stream stood: its threads and the end of its log."""
    return f"{what}; {pipeline.stream.thread_dump()}\n{pipeline.stream.tail()}"


# ---------------------------------------------------------------- the cluster itself

def test_the_cluster_is_one_ring_and_one_kafka_cluster(cluster, pipeline):
    """Three nodes each seeing two peers, a keyspace on three replicas, topics on three brokers with min ISR 2."""
    addresses = set(topology.cassandra_addresses(cluster))
    for number in range(1, NODES + 1):
        local, peers = stack.node(f"cassandra-{number}", cluster).ring_view()
        assert local == topology.cassandra_address(cluster, number) and peers == addresses - {local}
    with pipeline.cassandra.session() as session:
        replication = session.execute("SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s",
                                      (pipeline.cassandra.keyspace,)).one().replication
    assert replication == {"class": "org.apache.cassandra.locator.NetworkTopologyStrategy", "datacenter1": "3"}

    admin = KafkaAdminClient(bootstrap_servers=pipeline.kafka.bootstrap_servers)
    try:
        assert sorted(b["broker_id"] for b in admin.describe_cluster()["brokers"]) == [1, 2, 3]
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, pipeline.topic)])
    finally:
        admin.close()
    assert configs["topic"][pipeline.topic]["min.insync.replicas"]["value"] == "2"
    partitions = describe_topic(pipeline.kafka, pipeline.topic)
    assert len(partitions) == PARTITIONS and all(sorted(p["replica_nodes"]) == [1, 2, 3] for p in partitions)


# ---------------------------------------------------------------- node faults under load, in order

def test_a_cassandra_node_killed_for_a_minute(pipeline):
    def fault(watch):
        stack.kill("cassandra-2", config=pipeline.config, progress=quiet)
        killed = time.monotonic()
        pipeline.phase("cassandra-2 killed -9")
        time.sleep(CASSANDRA_DOWN_S)
        # Rows kept coming in the second half of the minute, once clients knew the node was gone.
        assert grew(watch, killed + CASSANDRA_DOWN_S / 2, time.monotonic()), \
            stalled(pipeline, "no rows stored while cassandra-2 was down")
        stack.up(["cassandra-2"], config=pipeline.config, progress=quiet)
        pipeline.phase("cassandra-2 started again")

    under_load(pipeline, "cassandra node down 60 s", 11, fault)


def test_the_broker_leading_most_partitions_killed(pipeline):
    def fault(watch):
        broker = busiest_broker(pipeline.kafka, pipeline.topic)
        stack.kill(f"kafka-{broker}", config=pipeline.config, progress=quiet)
        killed = time.monotonic()
        pipeline.phase(f"kafka-{broker} (leader of the most partitions) killed -9")
        wait_for(lambda: (now := leaders(pipeline.kafka, pipeline.topic)) and broker not in now and -1 not in now,
                 60, "new leaders for the killed broker's partitions")
        elected = time.monotonic()
        pipeline.phase(f"leaders elected after {elected - killed:.0f} s")
        time.sleep(AFTER_ELECTION_S)
        # After the election both the generator and the stream carried on.
        acked = [a for t, _, a in watch.samples if t >= elected]
        assert acked and acked[-1] > acked[0], "the generator made no progress after the election"
        assert grew(watch, elected, time.monotonic()), stalled(pipeline, "the stream stored no rows after the election")
        stack.up([f"kafka-{broker}"], config=pipeline.config, progress=quiet)
        pipeline.phase(f"kafka-{broker} started again")
        wait_in_sync(pipeline)

    under_load(pipeline, "busiest broker down", 12, fault)


def test_a_rolling_restart_of_every_cassandra_node(pipeline):
    def fault(watch):
        for number in range(1, NODES + 1):
            node = f"cassandra-{number}"
            stack.down([node], config=pipeline.config, progress=quiet)
            pipeline.phase(f"{node} stopped")
            stack.up([node], config=pipeline.config, progress=quiet)
            pipeline.phase(f"{node} started again, and sees its peers alive")

    under_load(pipeline, "rolling restart", 13, fault)


def test_a_cassandra_node_and_a_broker_down_together(pipeline):
    def fault(watch):
        broker = busiest_broker(pipeline.kafka, pipeline.topic)
        stack.kill("cassandra-3", config=pipeline.config, progress=quiet)
        stack.kill(f"kafka-{broker}", config=pipeline.config, progress=quiet)
        killed = time.monotonic()
        pipeline.phase(f"cassandra-3 and kafka-{broker} killed -9")
        time.sleep(BOTH_DOWN_S)
        # As with one node down: rows kept coming in the second half, once every client knew both were gone
        # (a broker's death is known after Kafka's broker session timeout; a transaction it coordinated waits).
        assert grew(watch, killed + BOTH_DOWN_S / 2, time.monotonic()), \
            stalled(pipeline, "no rows stored with two nodes down")
        stack.up(["cassandra-3", f"kafka-{broker}"], config=pipeline.config, progress=quiet)
        pipeline.phase(f"cassandra-3 and kafka-{broker} started again")
        wait_in_sync(pipeline)

    under_load(pipeline, "cassandra node and broker down", 14, fault)
