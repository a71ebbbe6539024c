"""The cluster's shape: node names, addresses, ports, tokens, per-node configs, and the clear errors for bad input."""

import dataclasses
import json

import pytest
import yaml

from ratings_assets.localstack import stack, topology
from ratings_assets.localstack.__main__ import main
from ratings_assets.localstack.cassandra import CassandraServer
from ratings_assets.localstack.config import StackConfig
from ratings_assets.localstack.errors import StackError
from ratings_assets.localstack.kafka import KafkaServer
from ratings_assets_tests.localstack.conftest import properties


@pytest.fixture
def cluster_config(tmp_config) -> StackConfig:
    return dataclasses.replace(tmp_config, bind_host="127.0.0.21", cassandra_nodes=3, kafka_brokers=3,
                               kafka_port=29092, kafka_controller_port=29093)


pytestmark = pytest.mark.usefixtures("no_java")


def test_the_default_stack_keeps_its_names_addresses_and_client_settings():
    config = StackConfig()
    assert list(stack.services(config))[:2] == ["kafka", "cassandra"]
    assert topology.client_settings(config) == {
        "RATINGS_KAFKA_BOOTSTRAP": "127.0.0.1:9092", "RATINGS_TOPIC_REPLICATION": "1",
        "RATINGS_CASSANDRA_HOSTS": "127.0.0.1", "RATINGS_CASSANDRA_PORT": "9042",
        "RATINGS_CASSANDRA_REPLICATION": "{'class': 'SimpleStrategy', 'replication_factor': 1}",
    }


def test_a_cluster_numbers_its_nodes(cluster_config):
    names = list(stack.services(cluster_config))
    assert names == ["kafka-1", "kafka-2", "kafka-3", "cassandra-1", "cassandra-2", "cassandra-3",
                     "spark-master", "spark-worker"]
    assert [s.home.name for s in stack.services(cluster_config).values()][:6] == names[:6]


def test_cassandra_nodes_take_consecutive_loopback_addresses_and_share_ports(cluster_config):
    nodes = [CassandraServer(cluster_config, n) for n in (1, 2, 3)]
    assert [n.host for n in nodes] == ["127.0.0.21", "127.0.0.22", "127.0.0.23"]
    assert {n.ports["cql"] for n in nodes} == {cluster_config.cassandra_port}
    assert {n.ports["storage"] for n in nodes} == {cluster_config.cassandra_storage_port}
    jmx = cluster_config.cassandra_jmx_port
    assert [n.ports["jmx"] for n in nodes] == [jmx, jmx + 1, jmx + 2]  # JMX binds to loopback for every node


def test_cassandra_tokens_are_evenly_spaced_and_a_lone_node_keeps_zero():
    assert topology.cassandra_token(1, 1) == 0
    tokens = [topology.cassandra_token(n, 3) for n in (1, 2, 3)]
    assert tokens == [-(2**63), -(2**63) + (2**64) // 3, -(2**63) + 2 * ((2**64) // 3)]
    assert all(-(2**63) <= t < 2**63 for t in tokens)


def test_cassandra_yaml_of_a_cluster_node(cluster_config):
    node = CassandraServer(cluster_config, 2)
    config = yaml.safe_load(node.render_yaml())
    port = cluster_config.cassandra_storage_port
    assert config["listen_address"] == config["rpc_address"] == "127.0.0.22"
    assert config["seed_provider"][0]["parameters"][0]["seeds"] == \
        f"127.0.0.21:{port},127.0.0.22:{port},127.0.0.23:{port}"
    assert config["initial_token"] == topology.cassandra_token(2, 3)
    assert config["auto_bootstrap"] is False and config["num_tokens"] == 1
    assert config["data_file_directories"] == [str(cluster_config.state_dir / "cassandra-2" / "data" / "data")]
    command = node.command()
    assert "-Dcassandra.ring_delay_ms=1000" in command
    assert f"-Dcassandra.jmx.local.port={cluster_config.cassandra_jmx_port + 1}" in command
    assert "-Djava.rmi.server.hostname=127.0.0.22" in command


def test_kafka_properties_of_a_three_broker_cluster(cluster_config):
    voters = "1@127.0.0.21:29093,2@127.0.0.21:29095,3@127.0.0.21:29097"
    for number, (port, cport) in zip((1, 2, 3), ((29092, 29093), (29094, 29095), (29096, 29097))):
        props = properties(KafkaServer(cluster_config, number).render_properties())
        assert props["node.id"] == str(number)
        assert props["process.roles"] == "broker,controller"
        assert props["controller.quorum.voters"] == voters
        assert props["listeners"] == f"PLAINTEXT://127.0.0.21:{port},CONTROLLER://127.0.0.21:{cport}"
        assert props["advertised.listeners"] == f"PLAINTEXT://127.0.0.21:{port}"
        for key in ("offsets.topic.replication.factor", "transaction.state.log.replication.factor",
                    "default.replication.factor"):
            assert props[key] == "3", key
        assert props["min.insync.replicas"] == props["transaction.state.log.min.isr"] == "2"
    assert topology.kafka_bootstrap(cluster_config) == "127.0.0.21:29092,127.0.0.21:29094,127.0.0.21:29096"


def test_brokers_past_the_third_are_brokers_only(cluster_config):
    config = dataclasses.replace(cluster_config, kafka_brokers=5)
    fourth = KafkaServer(config, 4)
    props = properties(fourth.render_properties())
    assert props["process.roles"] == "broker"
    assert props["listeners"] == "PLAINTEXT://127.0.0.21:29098"
    assert props["controller.quorum.voters"].count("@") == 3
    assert list(fourth.ports) == ["client"]


def test_every_broker_shares_the_first_brokers_cluster_id(cluster_config):
    first, third = KafkaServer(cluster_config, 1), KafkaServer(cluster_config, 3)
    assert third.cluster_id() == first.cluster_id()
    assert first.cluster_id_file.parent == first.home


@pytest.mark.parametrize("leaders, busiest", [([1, 2, 2, 3], 2), ([3, 1, 3, 1], 1), ([2], 2), ([3, 3, 1, 1, 1], 1)])
def test_busiest_leader(leaders, busiest):
    assert topology.busiest_leader(leaders) == busiest


@pytest.mark.parametrize("replication, min_isr", [(1, 1), (2, 1), (3, 2), (5, 2)])
def test_min_insync_replicas(replication, min_isr):
    assert topology.min_insync_replicas(replication) == min_isr


def test_replication_follows_the_size_of_the_cluster():
    assert topology.cassandra_replication(3) == "{'class': 'NetworkTopologyStrategy', 'datacenter1': 3}"
    assert topology.cassandra_replication(5) == "{'class': 'NetworkTopologyStrategy', 'datacenter1': 3}"
    assert [topology.topic_replication(n) for n in (1, 2, 3, 4)] == [1, 2, 3, 3]


@pytest.mark.parametrize("name, node", [("cassandra-2", ("cassandra", 2)), ("kafka-3", ("kafka", 3))])
def test_parse_node(cluster_config, name, node):
    parsed = topology.parse_node(name, cluster_config)
    assert (parsed.service, parsed.number, parsed.name) == (*node, name)


def test_a_lone_node_answers_to_both_names():
    assert topology.parse_node("kafka-1", StackConfig()).name == "kafka"
    assert topology.parse_node("cassandra", StackConfig()).name == "cassandra"


@pytest.mark.parametrize("name, message", [
    ("cassandra-4", "no node cassandra-4: cassandra has 3 nodes (cassandra-1 … cassandra-3)"),
    ("kafka-0", "no node kafka-0"),
    ("zookeeper-1", "unknown node 'zookeeper-1'"),
    ("kafka-x", "unknown node 'kafka-x'"),
    ("kafka", "kafka has 3 nodes: name one, kafka-1 … kafka-3."),
])
def test_bad_node_names_are_one_line_errors(cluster_config, name, message):
    with pytest.raises(StackError) as error:
        topology.parse_node(name, cluster_config)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_shapes_that_cannot_work_are_refused(cluster_config):
    with pytest.raises(StackError, match="past the loopback range"):
        topology.check(dataclasses.replace(cluster_config, bind_host="127.255.255.254"))
    with pytest.raises(StackError, match="must be an IPv4 address"):
        topology.check(dataclasses.replace(cluster_config, bind_host="localhost"))
    with pytest.raises(StackError, match="overlap"):
        topology.check(dataclasses.replace(cluster_config, kafka_controller_port=29094))
    topology.check(dataclasses.replace(cluster_config, bind_host="localhost", cassandra_nodes=1))


@pytest.fixture
def idle_cluster_env(cluster_config, monkeypatch):
    for var, value in {"RATINGS_STATE_DIR": cluster_config.state_dir, "RATINGS_BIND_HOST": "127.0.0.21",
                       "RATINGS_KAFKA_PORT": 29092, "RATINGS_KAFKA_CONTROLLER_PORT": 29093,
                       "RATINGS_CASSANDRA_PORT": cluster_config.cassandra_port,
                       "RATINGS_CASSANDRA_STORAGE_PORT": cluster_config.cassandra_storage_port,
                       "RATINGS_CASSANDRA_JMX_PORT": cluster_config.cassandra_jmx_port}.items():
        monkeypatch.setenv(var, str(value))
    for var in ("RATINGS_CASSANDRA_NODES", "RATINGS_KAFKA_BROKERS"):
        monkeypatch.setenv(var, "1")  # the options set them: restored after the test


def test_status_json_has_an_object_per_node(idle_cluster_env, capsys):
    assert main(["status", "--json", "--cassandra-nodes", "3", "--kafka-brokers", "2"]) == 3
    report = json.loads(capsys.readouterr().out)
    assert list(report) == ["kafka-1", "kafka-2", "cassandra-1", "cassandra-2", "cassandra-3"]
    node = report["cassandra-3"]
    assert (node["service"], node["node"], node["address"], node["pid"], node["state"]) == \
        ("cassandra", 3, f"127.0.0.23:{node['ports']['cql']}", None, "down")
    assert report["kafka-2"]["address"] == "127.0.0.21:29094"


@pytest.mark.parametrize("argv, message", [
    (["up", "--cassandra-nodes", "0"], "error: --cassandra-nodes must be 1 or more, not 0."),
    (["kill", "cassandra-4", "--cassandra-nodes", "3"], "error: no node cassandra-4"),
    (["start", "kafka-9", "--kafka-brokers", "3"], "error: no node kafka-9"),
    (["kill", "redis-1"], "error: unknown node 'redis-1'"),
])
def test_bad_cluster_input_is_a_one_line_error(idle_cluster_env, capsys, argv, message):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(message) and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_kill_of_a_node_that_is_not_running(idle_cluster_env, capsys):
    assert main(["kill", "kafka-2", "--kafka-brokers", "2"]) == 0
    assert capsys.readouterr().out.strip() == "kafka-2 was not running"
