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
        "RATINGS_SPARK_MASTER_PORT": tmp_config.spark_master_port,
        "RATINGS_SPARK_MASTER_UI_PORT": tmp_config.spark_master_ui_port,
        "RATINGS_SPARK_WORKER_PORT": tmp_config.spark_worker_port,
        "RATINGS_SPARK_WORKER_UI_PORT": tmp_config.spark_worker_ui_port,
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


def test_down_names_the_spark_cluster_only_when_asked(idle_env, capsys):
    assert main(["down"]) == 0
    assert "spark" not in capsys.readouterr().out
    assert main(["down", "spark-worker"]) == 0
    assert capsys.readouterr().out.strip() == "spark-worker was not running"


def test_status_with_spark_reports_the_cluster_too(idle_env, capsys):
    assert main(["status", "--spark", "--json"]) == 3
    report = json.loads(capsys.readouterr().out)
    assert list(report) == ["kafka", "cassandra", "spark-master", "spark-worker"]
    assert report["spark-master"]["detail"] == "not running"


@pytest.mark.parametrize("argv, names", [
    (["up"], None),
    (["up", "--spark"], ["kafka", "cassandra", "spark-master", "spark-worker"]),
    (["up", "kafka", "--spark"], ["kafka", "spark-master", "spark-worker"]),
    (["up", "spark-master"], ["spark-master"]),
    (["down"], None),
    (["status", "--spark"], ["kafka", "cassandra", "spark-master", "spark-worker"]),
])
def test_requested_services(argv, names):
    from ratings_assets.localstack.__main__ import build_parser, requested

    assert requested(build_parser().parse_args(argv)) == names


def test_logs_of_the_spark_worker_before_any_start(idle_env, capsys):
    assert main(["logs", "spark-worker"]) == 0
    assert "nothing in" in capsys.readouterr().out
