"""The generated config files carry the configured ports and paths and are well-formed."""

import xml.etree.ElementTree as ET

import pytest
import yaml

from ratings_assets.localstack import kafka as kafka_module
from ratings_assets.localstack.cassandra import CassandraServer
from ratings_assets.localstack.kafka import KafkaServer, new_cluster_id
from ratings_assets_tests.localstack.conftest import properties


pytestmark = pytest.mark.usefixtures("no_java")


def test_server_properties(tmp_config):
    kafka = KafkaServer(tmp_config)
    props = properties(kafka.render_properties())
    host, port, cport = "127.0.0.1", tmp_config.kafka_port, tmp_config.kafka_controller_port
    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["controller.quorum.voters"] == f"1@{host}:{cport}"
    assert props["listeners"] == f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{cport}"
    assert props["advertised.listeners"] == f"PLAINTEXT://{host}:{port}"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert props["log.dirs"].startswith(str(tmp_config.state_dir / "kafka" / "data"))
    for key in ("offsets.topic.replication.factor", "transaction.state.log.replication.factor",
                "transaction.state.log.min.isr", "share.coordinator.state.topic.replication.factor",
                "share.coordinator.state.topic.min.isr"):
        assert props[key] == "1", key
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert props["auto.create.topics.enable"] == "false"
    assert kafka.bootstrap_servers == f"{host}:{port}"


def test_kafka_log4j_writes_to_logs_dir(tmp_config):
    kafka = KafkaServer(tmp_config)
    props = {k.strip(): v.strip() for k, v in properties(kafka.render_log4j()).items()}
    assert props["appender.file.fileName"] == str(kafka.logs_dir / "server.log")
    assert props["rootLogger.level"] == "INFO"
    assert [k for k in props if k.startswith("rootLogger.appenderRef")] == ["rootLogger.appenderRef.file.ref"]


def test_cluster_id_is_22_char_base64url_and_persisted(tmp_config):
    cluster_id = new_cluster_id()
    assert len(cluster_id) == 22 and "=" not in cluster_id and "+" not in cluster_id and "/" not in cluster_id
    kafka = KafkaServer(tmp_config)
    kafka.home.mkdir(parents=True)
    assert kafka.cluster_id() == kafka.cluster_id()


def test_cluster_ids_never_start_with_a_dash(monkeypatch):
    # 0xF8 encodes to "-" first in base64url: a fresh id must not be taken for a command-line option.
    draws = iter([b"\xf8" + bytes(15), bytes(16)])
    monkeypatch.setattr(kafka_module.os, "urandom", lambda n: next(draws))
    assert new_cluster_id() == "A" * 22


def test_storage_format_passes_the_cluster_id_as_one_argument(tmp_config, monkeypatch):
    """An id persisted by an older version may start with "-": --cluster-id=ID still reads it as a value."""
    kafka = KafkaServer(tmp_config)
    kafka.home.mkdir(parents=True)
    kafka.cluster_id_file.write_text("-dash-first-cluster-id\n")
    seen = {}

    def run(cmd, **kwargs):
        seen["cmd"] = cmd
        return kafka_module.subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(kafka_module.subprocess, "run", run)
    kafka.format_storage()
    assert "--cluster-id=-dash-first-cluster-id" in seen["cmd"]


def test_kafka_command(tmp_config):
    cmd = KafkaServer(tmp_config).command()
    assert "-Xms512m" in cmd and "-Xmx512m" in cmd
    assert cmd[-2:] == ["kafka.Kafka", str(tmp_config.state_dir / "kafka" / "conf" / "server.properties")]


def test_cassandra_yaml(tmp_config):
    cassandra = CassandraServer(tmp_config)
    conf = yaml.safe_load(cassandra.render_yaml())
    data = str(tmp_config.state_dir / "cassandra" / "data")
    assert conf["native_transport_port"] == tmp_config.cassandra_port
    assert conf["storage_port"] == tmp_config.cassandra_storage_port
    seeds = conf["seed_provider"][0]["parameters"][0]["seeds"]
    assert seeds == f"127.0.0.1:{tmp_config.cassandra_storage_port}"
    assert conf["listen_address"] == conf["rpc_address"] == "127.0.0.1"
    assert conf["commitlog_sync"] == "periodic" and conf["commitlog_sync_period"] == "10000ms"
    for key in ("commitlog_directory", "saved_caches_directory", "hints_directory", "cdc_raw_directory"):
        assert conf[key].startswith(data), key
    assert all(d.startswith(data) for d in conf["data_file_directories"])
    assert conf["num_tokens"] == 1 and conf["auto_snapshot"] is False
    assert conf["start_native_transport"] is True


def test_cassandra_logback_and_command(tmp_config):
    cassandra = CassandraServer(tmp_config)
    root = ET.fromstring(cassandra.render_logback())
    assert root.find("appender/file").text == str(cassandra.logs_dir / "system.log")
    assert root.find("root").get("level") == "INFO"
    cmd = cassandra.command()
    assert "-Xmx1g" in cmd and "-Xss256k" in cmd
    assert f"-Dcassandra.config={cassandra.yaml_file.as_uri()}" in cmd
    assert f"-Dcassandra.jmx.local.port={tmp_config.cassandra_jmx_port}" in cmd
    assert "java.base/sun.nio.ch=ALL-UNNAMED" in cmd
    assert cmd[-1] == "org.apache.cassandra.service.CassandraDaemon"
