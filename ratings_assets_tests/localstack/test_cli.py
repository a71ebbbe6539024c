"""The CLI: exit codes and error output, against a stack that is not running."""

import json

import pytest

from ratings_assets.localstack.__main__ import main


@pytest.fixture
def idle_env(tmp_config, monkeypatch):
    for var, value in {
        "RATINGS_STATE_DIR": tmp_config.state_dir,
        "RATINGS_KAFKA_PORT": tmp_config.kafka_port,
        "RATINGS_KAFKA_CONTROLLER_PORT": tmp_config.kafka_controller_port,
        "RATINGS_CASSANDRA_PORT": tmp_config.cassandra_port,
        "RATINGS_CASSANDRA_STORAGE_PORT": tmp_config.cassandra_storage_port,
        "RATINGS_CASSANDRA_JMX_PORT": tmp_config.cassandra_jmx_port,
    }.items():
        monkeypatch.setenv(var, str(value))


def test_status_json_of_a_stopped_stack(idle_env, capsys):
    assert main(["status", "--json"]) == 3
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"kafka", "cassandra"}
    assert report["kafka"]["running"] is False and report["kafka"]["detail"] == "not running"


def test_unknown_service_is_an_error_without_traceback(idle_env, capsys):
    assert main(["up", "zookeeper"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: unknown service zookeeper") and "Traceback" not in err


def test_down_when_nothing_runs(idle_env, capsys):
    assert main(["down"]) == 0
    assert "kafka was not running" in capsys.readouterr().out


def test_logs_before_any_start(idle_env, capsys):
    assert main(["logs", "cassandra", "-n", "5"]) == 0
    assert "nothing in" in capsys.readouterr().out
