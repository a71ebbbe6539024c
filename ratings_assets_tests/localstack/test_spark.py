"""The opt-in Spark cluster's launcher logic: command lines, environment, config files and
readiness, against a fake master web UI instead of a JVM."""

from __future__ import annotations

import json
import shlex
import threading
from concurrent.futures import Future
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from ratings_assets.localstack import spark as spark_module, stack
from ratings_assets.localstack.errors import StackError
from ratings_assets.localstack.java import JavaInfo
from ratings_assets.localstack.spark import (
    MASTER_CLASS, WORKER_CLASS, SparkMaster, SparkWorker, alive_worker, master_state, spark_home,
)


@pytest.fixture(autouse=True)
def no_java(monkeypatch):
    """Building the environment must not run a real java: pretend one was found."""
    fake = JavaInfo(Path("/opt/jdk/bin/java"), "17.0.9", 17)
    monkeypatch.setattr(spark_module, "find_java", lambda *a, **k: fake)


def worker_entry(host: str, port: int, state: str = "ALIVE") -> dict:
    return {"id": f"worker-1-{host}-{port}", "host": host, "port": port, "cores": 2, "state": state}


def test_spark_home_is_the_pyspark_package():
    import pyspark

    assert spark_home() == Path(pyspark.__file__).parent
    assert (spark_home() / "jars").is_dir()


def test_master_command(tmp_config):
    master = SparkMaster(tmp_config)
    cmd = master.command()
    assert cmd[:2] == [str(spark_home() / "bin" / "spark-class"), MASTER_CLASS]
    assert cmd[2:] == ["--host", "127.0.0.1", "--port", str(tmp_config.spark_master_port),
                       "--webui-port", str(tmp_config.spark_master_ui_port)]
    assert master.address == f"spark://127.0.0.1:{tmp_config.spark_master_port}"


def test_worker_command(tmp_config):
    worker = SparkWorker(tmp_config)
    cmd = worker.command()
    assert cmd[1] == WORKER_CLASS
    args = cmd[3:]
    assert cmd[2] == tmp_config.spark_master_url
    assert dict(zip(args[::2], args[1::2])) == {
        "--cores": "2", "--memory": "1g", "--host": "127.0.0.1", "--port": str(tmp_config.spark_worker_port),
        "--webui-port": str(tmp_config.spark_worker_ui_port),
        "--work-dir": str(tmp_config.state_dir / "spark-worker" / "work"),
    }
    assert worker.requires == ("spark-master",)


@pytest.mark.parametrize("daemon, role", [(SparkMaster, "master"), (SparkWorker, "worker")])
def test_ports_and_the_variables_that_move_them(tmp_config, daemon, role):
    specs = daemon(tmp_config).port_specs()
    assert [(spec.label, spec.port, spec.env_var) for spec in specs] == [
        ("rpc", getattr(tmp_config, f"spark_{role}_port"), f"RATINGS_SPARK_{role.upper()}_PORT"),
        ("ui", getattr(tmp_config, f"spark_{role}_ui_port"), f"RATINGS_SPARK_{role.upper()}_UI_PORT"),
    ]
    assert daemon(tmp_config).name == f"spark-{role}"


def test_environment_binds_to_the_host_and_keeps_files_under_the_state_dir(tmp_config):
    worker = SparkWorker(tmp_config)
    env = worker.environment()
    assert env["SPARK_HOME"] == str(spark_home())
    assert env["SPARK_CONF_DIR"] == str(tmp_config.state_dir / "spark-worker" / "conf")
    assert env["JAVA_HOME"] == "/opt/jdk"
    assert env["SPARK_LOCAL_IP"] == env["SPARK_PUBLIC_DNS"] == "127.0.0.1"
    assert env["SPARK_LOCAL_DIRS"] == str(worker.data_dir)
    assert env["SPARK_DAEMON_MEMORY"] == "512m"
    assert shlex.split(env["SPARK_DAEMON_JAVA_OPTS"]) == [
        f"-Dlog4j2.configurationFile={worker.log4j_file}", "-Djava.net.preferIPv4Stack=true"]
    assert "PATH" in env  # the rest of this process's environment is kept


def _defaults(text: str) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))


def test_spark_defaults(tmp_config):
    assert _defaults(SparkMaster(tmp_config).render_defaults()) == {"spark.port.maxRetries": "0"}
    assert _defaults(SparkWorker(tmp_config).render_defaults()) == {
        "spark.port.maxRetries": "0", "spark.worker.cleanup.enabled": "true",
        "spark.worker.cleanup.appDataTtl": "86400"}


def test_daemon_log4j_is_not_found_by_the_executors(tmp_config):
    """Executors have the worker's conf dir on their classpath: a log4j2.properties there would be theirs too."""
    worker = SparkWorker(tmp_config)
    assert worker.log4j_file.parent == worker.conf_dir and worker.log4j_file.name != "log4j2.properties"
    props = dict(line.split(" = ", 1) for line in worker.render_log4j().splitlines())
    assert props["appender.file.fileName"] == str(worker.logs_dir / "spark-worker.log")
    assert props["rootLogger.level"] == "INFO"


def test_the_executors_log_to_stderr_without_the_kafka_consumers_per_message_warning(tmp_config):
    worker = SparkWorker(tmp_config)
    assert worker.executor_log4j_file == worker.conf_dir / "log4j2.properties"  # the name log4j2 looks for
    props = dict(line.split(" = ", 1) for line in worker.render_executor_log4j().splitlines())
    assert props["appender.console.target"] == "SYSTEM_ERR" and props["rootLogger.level"] == "INFO"
    loggers = {props[key]: props[key.replace(".name", ".level")] for key in props if key.endswith(".name")
               and key.startswith("logger.")}
    assert loggers["org.apache.spark.sql.kafka010.consumer.KafkaDataConsumer"] == "ERROR"


def test_alive_worker_matches_host_port_and_state():
    state = {"status": "ALIVE", "workers": [worker_entry("127.0.0.1", 7078, "DEAD"), worker_entry("127.0.0.1", 7079)]}
    assert alive_worker(state, "127.0.0.1", 7078) is None  # an earlier worker on that port, gone
    assert alive_worker(state, "127.0.0.1", 7079)["id"] == "worker-1-127.0.0.1-7079"
    assert alive_worker(state, "127.0.0.2", 7079) is None
    assert alive_worker(None, "127.0.0.1", 7079) is None
    assert alive_worker({}, "127.0.0.1", 7079) is None


@pytest.fixture
def master_ui(tmp_config):
    """A stand-in for the master's web UI on its configured port: serves `state` at /json/."""
    page = {"state": {"status": "STANDBY", "workers": []}}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps(page["state"]).encode()
            self.send_response(200 if self.path == "/json/" else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", tmp_config.spark_master_ui_port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield page
    server.shutdown()
    server.server_close()


def test_readiness_follows_the_masters_json(tmp_config, master_ui):
    master, worker = SparkMaster(tmp_config), SparkWorker(tmp_config)
    assert master_state("127.0.0.1", tmp_config.spark_master_ui_port) == {"status": "STANDBY", "workers": []}
    assert not master.check_ready()
    master_ui["state"] = {"status": "ALIVE", "workers": []}
    assert master.check_ready() and not worker.check_ready()
    master_ui["state"]["workers"].append(worker_entry("127.0.0.1", tmp_config.spark_worker_port))
    assert worker.check_ready()


def test_no_master_answering(tmp_config):
    assert master_state("127.0.0.1", tmp_config.spark_master_ui_port, timeout_s=0.5) is None
    assert not SparkMaster(tmp_config).check_ready()


def test_worker_does_not_start_without_its_master(tmp_config):
    with pytest.raises(StackError, match=r"up --spark"):
        SparkWorker(tmp_config).prepare()
    assert not (tmp_config.state_dir / "spark-worker" / "work").exists()


def test_a_service_whose_requirement_failed_is_not_started(tmp_config):
    failed: Future = Future()
    failed.set_exception(StackError("spark-master exited during start"))
    with pytest.raises(StackError, match="spark-worker was not started: it needs spark-master"):
        stack._start_one(SparkWorker(tmp_config), lambda message: None, {"spark-master": failed})


def test_the_default_stack_leaves_spark_out(tmp_config):
    assert [s.name for s in stack._select(None, tmp_config)] == ["kafka", "cassandra"]
    chosen = stack._select(["spark-worker", "spark-master"], tmp_config)
    assert [s.name for s in chosen] == ["spark-master", "spark-worker"]  # a requirement comes first
    with pytest.raises(StackError, match="choose from kafka, cassandra, spark-master, spark-worker"):
        stack._select(["spark"], tmp_config)
