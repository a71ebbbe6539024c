"""The opt-in Spark standalone cluster: one master and one worker, from the pip pyspark package.

pyspark ships the whole Spark distribution (bin/spark-class, jars/), so the
cluster runs the very Spark version of the driver. `up --spark` starts them;
the streaming job then runs on them with RATINGS_SPARK_MASTER set to the
master's URL (config.spark_master_url). Each daemon gets its own SPARK_CONF_DIR
(state_dir/spark-<role>/conf) with a spark-defaults.conf, which both read.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import urllib.request
from pathlib import Path

from ratings_assets.localstack.errors import StackError
from ratings_assets.localstack.java import find_java
from ratings_assets.localstack.log4j import rolling_file_log4j2, stderr_log4j2
from ratings_assets.localstack.process import LocalService, PortSpec

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
JAVA_MIN, JAVA_MAX = 11, 17  # what Spark 3.5 supports (and 8)
LOG_PATTERN = "%d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex"  # Spark's own


def spark_home() -> Path:
    """The Spark distribution inside the installed pyspark package."""
    spec = importlib.util.find_spec("pyspark")
    home = Path(next(iter(spec.submodule_search_locations))) if spec and spec.submodule_search_locations else None
    if home is None or not (home / "bin" / "spark-class").is_file():
        raise StackError("the Spark cluster runs from the pyspark package, which this Python lacks "
                         "(or it has no bin/spark-class); run `make setup`.")
    return home


def master_state(host: str, ui_port: int, timeout_s: float = 2.0) -> dict | None:
    """The master's /json/ page (its status, workers, applications); None when it does not answer."""
    try:
        with urllib.request.urlopen(f"http://{host}:{ui_port}/json/", timeout=timeout_s) as response:
            return json.load(response)
    except (OSError, ValueError):
        return None


def alive_worker(state: dict | None, host: str, port: int) -> dict | None:
    """The worker at host:port in the master's state, if the master counts it as ALIVE."""
    for worker in (state or {}).get("workers", []):
        if (worker.get("host"), worker.get("port"), worker.get("state")) == (host, port, "ALIVE"):
            return worker
    return None


class SparkDaemon(LocalService):
    """A master or worker started by spark-class, which execs the JVM (so the pid is java's)."""

    role = ""  # "master" or "worker": the service is spark-<role>, its ports spark_<role>_port and _ui_port
    main_class = ""

    def port_specs(self) -> list[PortSpec]:
        prefix, variable = f"spark_{self.role}", f"RATINGS_SPARK_{self.role.upper()}"
        return [
            PortSpec("rpc", getattr(self.config, f"{prefix}_port"), f"{variable}_PORT"),
            PortSpec("ui", getattr(self.config, f"{prefix}_ui_port"), f"{variable}_UI_PORT"),
        ]

    @property
    def defaults_file(self) -> Path:
        return self.conf_dir / "spark-defaults.conf"

    @property
    def log4j_file(self) -> Path:
        # Not `log4j2.properties`: that name on the classpath (the conf dir is on it) would also
        # be picked up by the executors the worker starts, and they log to their own stderr.
        return self.conf_dir / "daemon-log4j2.properties"

    def spark_defaults(self) -> dict[str, str]:
        # Fail on a taken port instead of silently moving to the next one.
        return {"spark.port.maxRetries": "0"}

    def render_defaults(self) -> str:
        return "# Written by ratings_assets.localstack; edits are overwritten at start.\n" + "".join(
            f"{key} {value}\n" for key, value in self.spark_defaults().items()
        )

    def render_log4j(self) -> str:
        return rolling_file_log4j2(self.log_file, LOG_PATTERN, {"org.sparkproject.jetty": "WARN"})

    def prepare(self) -> None:
        super().prepare()
        self.defaults_file.write_text(self.render_defaults())
        self.log4j_file.write_text(self.render_log4j())

    def arguments(self) -> list[str]:
        raise NotImplementedError

    def command(self) -> list[str]:
        return [str(spark_home() / "bin" / "spark-class"), self.main_class, *self.arguments()]

    def environment(self) -> dict[str, str]:
        java = find_java(JAVA_MIN, JAVA_MAX, self.config.java_home, purpose="Spark 3.5").executable
        host = self.config.bind_host
        daemon_opts = [f"-Dlog4j2.configurationFile={self.log4j_file}", "-Djava.net.preferIPv4Stack=true"]
        return {
            **os.environ,
            "SPARK_HOME": str(spark_home()),
            "SPARK_CONF_DIR": str(self.conf_dir),
            "JAVA_HOME": str(java.parent.parent),
            "SPARK_LOCAL_IP": host,  # the web UIs (and the executors) bind here; the UIs default to 0.0.0.0
            "SPARK_PUBLIC_DNS": host,  # the address the UIs advertise
            "SPARK_LOCAL_DIRS": str(self.data_dir),  # scratch space (executors' shuffle files), not /tmp
            "SPARK_DAEMON_MEMORY": self.config.spark_daemon_heap,
            "SPARK_DAEMON_JAVA_OPTS": shlex.join(daemon_opts),
        }

    def master_state(self) -> dict | None:
        return master_state(self.config.bind_host, self.config.spark_master_ui_port)


class SparkMaster(SparkDaemon):
    name, role = "spark-master", "master"
    main_class = MASTER_CLASS

    @property
    def address(self) -> str:
        return self.config.spark_master_url

    def arguments(self) -> list[str]:
        return ["--host", self.config.bind_host, "--port", str(self.config.spark_master_port),
                "--webui-port", str(self.config.spark_master_ui_port)]

    def check_ready(self) -> bool:
        """Ready when the master's web UI reports it ALIVE (elected, accepting workers and apps)."""
        state = self.master_state()
        return bool(state) and state.get("status") == "ALIVE"


class SparkWorker(SparkDaemon):
    name, role = "spark-worker", "worker"
    main_class = WORKER_CLASS
    requires = ("spark-master",)

    @property
    def work_dir(self) -> Path:
        """One folder per application and executor: its stdout, stderr and the jars it fetched."""
        return self.home / "work"

    def spark_defaults(self) -> dict[str, str]:
        # Finished applications' folders (each holds a copy of the connector jars) go after a day.
        return {**super().spark_defaults(), "spark.worker.cleanup.enabled": "true",
                "spark.worker.cleanup.appDataTtl": str(24 * 3600)}

    def arguments(self) -> list[str]:
        config = self.config
        return [config.spark_master_url, "--cores", str(config.spark_worker_cores),
                "--memory", config.spark_worker_memory, "--host", config.bind_host,
                "--port", str(config.spark_worker_port), "--webui-port", str(config.spark_worker_ui_port),
                "--work-dir", str(self.work_dir)]

    @property
    def executor_log4j_file(self) -> Path:
        """`log4j2.properties` in the conf dir, which is on the classpath of the executors the worker starts
        (and not of the worker, which is given daemon-log4j2.properties)."""
        return self.conf_dir / "log4j2.properties"

    def render_executor_log4j(self) -> str:
        """Spark's default for executors (INFO to stderr, their file in the work dir), with the driver's
        quieted loggers (resources/spark.py) quiet here too."""
        from ratings_assets.resources.spark import QUIET_LOGGERS  # brings Spark and Dagster: only when needed

        return stderr_log4j2(LOG_PATTERN, "INFO", QUIET_LOGGERS)

    def prepare(self) -> None:
        if not SparkMaster(self.config).healthy():
            raise StackError(f"spark-worker registers with the master at {self.config.spark_master_url}, "
                             "which does not answer: start both with `up --spark` (or `up spark-master` first).")
        super().prepare()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.executor_log4j_file.write_text(self.render_executor_log4j())

    def check_ready(self) -> bool:
        """Ready when the master lists this worker as ALIVE: registered, its cores on offer."""
        return alive_worker(self.master_state(), self.config.bind_host, self.config.spark_worker_port) is not None
