"""A single-node Apache Kafka 4 (KRaft, combined broker and controller)."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

from ratings_assets.localstack import topology
from ratings_assets.localstack.config import StackConfig
from ratings_assets.localstack.errors import StackError, tail_text
from ratings_assets.localstack.java import find_java
from ratings_assets.localstack.log4j import rolling_file_log4j2
from ratings_assets.localstack.maven import resolve_jars
from ratings_assets.localstack.process import LocalService, PortSpec, file_lock, quiet_loggers

MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"
# The JVM settings of Kafka's own kafka-run-class.sh / kafka-server-start.sh.
JVM_FLAGS = [
    "-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent", "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true",
]


def new_cluster_id() -> str:
    """What `kafka-storage random-uuid` prints: base64url of 16 random bytes, no padding.

    Like Kafka's own Uuid.randomUuid, never one starting with "-" (1 in 64 would), which
    command lines take for an option.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class KafkaServer(LocalService):
    """One broker; with several, a KRaft cluster whose first three brokers are also its controllers."""

    service = "kafka"

    def __init__(self, config: StackConfig | None = None, node: int = 1):
        super().__init__(config)
        self.node = node
        self.count = self.config.kafka_brokers
        self.client_port, self.controller_port = topology.kafka_ports(self.config, node)
        self.controller = topology.kafka_is_controller(self.config, node)

    @property
    def name(self) -> str:
        return topology.Node("kafka", self.node, self.count).name

    def port_specs(self) -> list[PortSpec]:
        specs = [PortSpec("client", self.client_port, "RATINGS_KAFKA_PORT")]
        if self.controller:
            specs.append(PortSpec("controller", self.controller_port, "RATINGS_KAFKA_CONTROLLER_PORT"))
        return specs

    @property
    def bootstrap_servers(self) -> str:
        return self.address

    @property
    def log_file(self) -> Path:
        return self.logs_dir / "server.log"

    @property
    def properties_file(self) -> Path:
        return self.conf_dir / "server.properties"

    @property
    def log4j_file(self) -> Path:
        return self.conf_dir / "log4j2.properties"

    @property
    def log_dirs(self) -> Path:
        return self.data_dir / "kraft-combined-logs"

    @property
    def cluster_id_file(self) -> Path:
        """Kept by the first broker; every broker's storage is formatted with it."""
        return KafkaServer(self.config, 1).home / "cluster.id" if self.node != 1 else self.home / "cluster.id"

    def cmdline_marker(self) -> str:
        return str(self.properties_file)

    # --- config files
    def render_properties(self) -> str:
        host, port, cport = self.host, self.client_port, self.controller_port
        replication = topology.topic_replication(self.count)
        min_isr = str(topology.min_insync_replicas(replication))
        listeners = f"PLAINTEXT://{host}:{port}" + (f",CONTROLLER://{host}:{cport}" if self.controller else "")
        settings = {
            "process.roles": "broker,controller" if self.controller else "broker",
            "node.id": str(self.node),
            "controller.quorum.voters": topology.kafka_quorum_voters(self.config),
            "listeners": listeners,
            "advertised.listeners": f"PLAINTEXT://{host}:{port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.log_dirs),
            "num.partitions": "1",
            "auto.create.topics.enable": "false",
            "offsets.topic.replication.factor": str(replication),
            "offsets.topic.num.partitions": "1",  # one partition keeps the first consumer-group start fast
            "transaction.state.log.replication.factor": str(replication),
            "transaction.state.log.min.isr": min_isr,
            "share.coordinator.state.topic.replication.factor": str(replication),
            "share.coordinator.state.topic.min.isr": min_isr,
            "min.insync.replicas": min_isr,
            "default.replication.factor": str(replication),
            "group.initial.rebalance.delay.ms": "0",
            "log.retention.hours": "168",
            "log.segment.bytes": str(256 * 1024 * 1024),
        }
        settings.update(self._sasl_settings())
        return "# Written by ratings_assets.localstack; edits are overwritten at start.\n" + "".join(
            f"{key}={value}\n" for key, value in settings.items()
        )

    def _sasl_settings(self) -> dict[str, str]:
        """SASL/PLAIN on the client listener; the controller listener stays on loopback, plain."""
        user, password = self.config.kafka_sasl_user, self.config.kafka_sasl_password
        if not user:
            return {}
        host, port, cport = self.host, self.client_port, self.controller_port
        controller = f",CONTROLLER://{host}:{cport}" if self.controller else ""
        return {
            "listeners": f"SASL_PLAINTEXT://{host}:{port}{controller}",
            "advertised.listeners": f"SASL_PLAINTEXT://{host}:{port}",
            "inter.broker.listener.name": "SASL_PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
            "sasl.enabled.mechanisms": "PLAIN",
            "sasl.mechanism.inter.broker.protocol": "PLAIN",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config": (
                "org.apache.kafka.common.security.plain.PlainLoginModule required "
                f'username="{user}" password="{password}" user_{user}="{password}";'
            ),
        }

    def client_options(self) -> dict:
        if not self.config.kafka_sasl_user:
            return {}
        return {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN",
                "sasl_plain_username": self.config.kafka_sasl_user,
                "sasl_plain_password": self.config.kafka_sasl_password}

    def render_log4j(self) -> str:
        """log4j2 .properties: INFO to a size-capped file only (the console goes to kafka.out)."""
        return rolling_file_log4j2(self.log_file, "[%d] %p %m (%c)%n", {"kafka.request.logger": "WARN"})

    def cluster_id(self) -> str:
        """The same id for the life of the data folder (the storage is formatted with it)."""
        self.cluster_id_file.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(self.cluster_id_file.with_suffix(".lock")):  # brokers prepared at once agree on one id
            if self.cluster_id_file.is_file():
                return self.cluster_id_file.read_text().strip()
            cluster_id = new_cluster_id()
            self.cluster_id_file.write_text(cluster_id + "\n")
            return cluster_id

    # --- launch
    def _java(self) -> str:
        return str(find_java(17, None, self.config.java_home, purpose="Kafka 4").executable)

    def _classpath(self) -> str:
        return f"{self.config.jars_dir('kafka')}/*"

    def _logging_flags(self) -> list[str]:
        return [f"-Dlog4j2.configurationFile={self.log4j_file}", f"-Dkafka.logs.dir={self.logs_dir}"]

    def prepare(self) -> None:
        super().prepare()
        resolve_jars("kafka", self.config)
        self.properties_file.write_text(self.render_properties())
        self.log4j_file.write_text(self.render_log4j())
        self.format_storage()

    def format_storage(self) -> None:
        """Format the KRaft storage once; StorageTool calls System.exit, so it runs on its own."""
        if (self.log_dirs / "meta.properties").is_file():
            return
        # No log4j config here: its default (errors to the console) is what we capture.
        cmd = [self._java(), "-Xmx256m", "-cp", self._classpath(), STORAGE_TOOL,
               "format", f"--cluster-id={self.cluster_id()}", "-c", str(self.properties_file), "--ignore-formatted"]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=self.home)
        if proc.returncode != 0:
            raise StackError(
                f"formatting the Kafka storage in {self.log_dirs} failed (exit {proc.returncode}):\n"
                f"{tail_text(proc.stdout + proc.stderr)}\n"
                f"If the folder holds data of another cluster, remove {self.data_dir} and run `up` again."
            )

    def command(self) -> list[str]:
        heap = self.config.kafka_heap
        return [self._java(), f"-Xms{heap}", f"-Xmx{heap}", *JVM_FLAGS, *self._logging_flags(),
                "-cp", self._classpath(), MAIN_CLASS, str(self.properties_file)]

    def check_ready(self) -> bool:
        """Ready when this broker answers cluster metadata that lists it (registered with the controllers)."""
        from kafka import KafkaAdminClient

        with quiet_loggers("kafka"):
            try:
                admin = KafkaAdminClient(bootstrap_servers=self.bootstrap_servers, request_timeout_ms=5000,
                                         bootstrap_timeout_ms=5000, client_id="ratings-localstack-probe",
                                         **self.client_options())
            except Exception:
                return False
            try:
                brokers = admin.describe_cluster().get("brokers") or []
                return any(broker["broker_id"] == self.node for broker in brokers)
            except Exception:
                return False
            finally:
                admin.close()
