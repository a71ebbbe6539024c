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
