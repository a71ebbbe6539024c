from pathlib import Path

import pytest

from ratings_assets.localstack.config import REPO_ROOT, StackConfig
from ratings_assets.localstack.errors import StackError


def test_defaults_without_env():
    config = StackConfig.from_env({})
    assert config.state_dir == (REPO_ROOT / ".local").resolve()
    assert REPO_ROOT == Path(__file__).resolve().parents[2]
    assert (config.bind_host, config.kafka_port, config.kafka_controller_port) == ("127.0.0.1", 9092, 9093)
    assert (config.cassandra_port, config.cassandra_storage_port, config.cassandra_jmx_port) == (9042, 7000, 7199)
    assert (config.kafka_heap, config.cassandra_heap) == ("512m", "1g")
    assert config.java_home is None
    assert config.start_timeout_s == 120


def test_env_overrides(tmp_path):
    env = {
        "RATINGS_STATE_DIR": str(tmp_path),
        "RATINGS_BIND_HOST": "127.0.0.2",
        "RATINGS_KAFKA_PORT": "19092",
        "RATINGS_KAFKA_CONTROLLER_PORT": "19093",
        "RATINGS_KAFKA_HEAP": "256m",
        "RATINGS_CASSANDRA_PORT": "19042",
        "RATINGS_CASSANDRA_STORAGE_PORT": "17000",
        "RATINGS_CASSANDRA_JMX_PORT": "17199",
        "RATINGS_CASSANDRA_HEAP": "2g",
        "RATINGS_JAVA_HOME": "/opt/jdk17",
        "RATINGS_START_TIMEOUT": "300",
    }
    config = StackConfig.from_env(env)
    assert config.state_dir == tmp_path.resolve()
    assert config.bind_host == "127.0.0.2"
    assert (config.kafka_port, config.kafka_controller_port, config.kafka_heap) == (19092, 19093, "256m")
    assert (config.cassandra_port, config.cassandra_storage_port, config.cassandra_jmx_port) == (19042, 17000, 17199)
    assert config.cassandra_heap == "2g"
    assert config.java_home == Path("/opt/jdk17")
    assert config.start_timeout_s == 300
    assert config.jars_dir("kafka") == tmp_path.resolve() / "jars" / "kafka"
    assert config.service_dir("cassandra") == tmp_path.resolve() / "cassandra"


def test_bad_number_names_the_variable():
    with pytest.raises(StackError, match="RATINGS_KAFKA_PORT"):
        StackConfig.from_env({"RATINGS_KAFKA_PORT": "ninety"})


def test_spark_cluster_defaults_and_overrides():
    config = StackConfig.from_env({})
    assert (config.spark_master_port, config.spark_master_ui_port) == (7077, 8080)
    assert (config.spark_worker_port, config.spark_worker_ui_port) == (7078, 8081)
    assert (config.spark_worker_cores, config.spark_worker_memory, config.spark_daemon_heap) == (2, "1g", "512m")
    assert config.spark_master_url == "spark://127.0.0.1:7077"
    config = StackConfig.from_env({
        "RATINGS_BIND_HOST": "10.0.0.5",
        "RATINGS_SPARK_MASTER_PORT": "17077",
        "RATINGS_SPARK_MASTER_UI_PORT": "18080",
        "RATINGS_SPARK_WORKER_PORT": "17078",
        "RATINGS_SPARK_WORKER_UI_PORT": "18081",
        "RATINGS_SPARK_WORKER_CORES": "1",
        "RATINGS_SPARK_WORKER_MEMORY": "2g",
        "RATINGS_SPARK_DAEMON_HEAP": "256m",
    })
    assert (config.spark_master_port, config.spark_master_ui_port) == (17077, 18080)
    assert (config.spark_worker_port, config.spark_worker_ui_port) == (17078, 18081)
    assert (config.spark_worker_cores, config.spark_worker_memory, config.spark_daemon_heap) == (1, "2g", "256m")
    assert config.spark_master_url == "spark://10.0.0.5:17077"


@pytest.mark.parametrize("cores", ["0", "-2", "two"])
def test_worker_cores_must_be_a_positive_number(cores):
    with pytest.raises(StackError, match="RATINGS_SPARK_WORKER_CORES"):
        StackConfig.from_env({"RATINGS_SPARK_WORKER_CORES": cores})
