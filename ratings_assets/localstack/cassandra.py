"""A single Apache Cassandra 5.0 node, run on Java 17 straight from the Maven jars."""

from __future__ import annotations

from pathlib import Path

from ratings_assets.localstack import topology
from ratings_assets.localstack.config import StackConfig
from ratings_assets.localstack.java import find_java
from ratings_assets.localstack.maven import resolve_jars
from ratings_assets.localstack.process import LocalService, PortSpec, quiet_loggers

MAIN_CLASS = "org.apache.cassandra.service.CassandraDaemon"
# Cassandra 5.0 calls System.setSecurityManager, which Java 24+ refuses.
JAVA_MIN, JAVA_MAX = 17, 23

# From upstream conf/jvm17-server.options: the JDK internals Cassandra (and
# chronicle, netty, jamm) reach into. Without them the JVM dies at start on 17.
JPMS_FLAGS = [
    "--add-exports", "java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-exports", "java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-exports", "java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-exports", "java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED",
    "--add-exports", "java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports", "java.rmi/sun.rmi.server=ALL-UNNAMED",
    "--add-exports", "java.sql/java.sql=ALL-UNNAMED",
    "--add-exports", "java.base/java.lang.ref=ALL-UNNAMED",
    "--add-exports", "jdk.unsupported/sun.misc=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang.module=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.loader=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.reflect=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.math=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.module=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.util.jar=ALL-UNNAMED",
    "--add-opens", "jdk.management/com.sun.management.internal=ALL-UNNAMED",
    "--add-opens", "java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens", "java.base/java.io=ALL-UNNAMED",
    "--add-opens", "java.base/java.nio=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens", "java.base/java.util=ALL-UNNAMED",
    "--add-opens", "java.base/java.util.concurrent=ALL-UNNAMED",
    "--add-opens", "java.base/java.util.concurrent.atomic=ALL-UNNAMED",
    "--add-opens", "java.base/java.net=ALL-UNNAMED",
]
# Essentials of upstream jvm-server.options and the G1 block of jvm17-server.options.
# Left out on purpose for a fast dev start: -ea and -XX:+AlwaysPreTouch.
JVM_FLAGS = [
    "-Xss256k", "-XX:+UseG1GC", "-XX:+ParallelRefProcEnabled", "-XX:MaxTenuringThreshold=1",
    "-XX:G1RSetUpdatingPauseTimePercent=5", "-XX:MaxGCPauseMillis=300",
    "-XX:InitiatingHeapOccupancyPercent=70", "-XX:+UseThreadPriorities", "-XX:+UseTLAB",
    "-XX:+ResizeTLAB", "-XX:+PerfDisableSharedMem", "-XX:+ExitOnOutOfMemoryError",
    "-Djava.net.preferIPv4Stack=true", "-Djdk.attach.allowAttachSelf=true",
    "-Dio.netty.tryReflectionSetAccessible=true", "-Dio.netty.allocator.useCacheForAllThreads=true",
    "-Dio.netty.allocator.maxOrder=11",
    # CQL timestamp literals without a zone ('2025-03-15 10:00:00') are read in the
    # node's zone: UTC makes the specification's queries mean UTC hours.
    "-Duser.timezone=UTC",
]


# The cluster waits neither for gossip to settle nor for a ring delay (ccm's and Cassandra's own tests do the
# same): every node is a seed with its token set in advance, so none bootstraps or streams.
CLUSTER_FLAGS = ["-Dcassandra.ring_delay_ms=1000"]
# A node of a cluster is ready when, as coordinator, it reads a system_distributed table (replicated on three
# nodes) at a consistency of as many nodes as run: it then sees the others alive.
LIVE_PEERS_QUERY = "SELECT * FROM system_distributed.repair_history LIMIT 1"


class CassandraServer(LocalService):
    service = "cassandra"

    def __init__(self, config: StackConfig | None = None, node: int = 1):
        super().__init__(config)
        self.node = node
        self.count = self.config.cassandra_nodes

    @property
    def name(self) -> str:
        return topology.Node("cassandra", self.node, self.count).name

    @property
    def host(self) -> str:
        return topology.cassandra_address(self.config, self.node)

    @property
    def jmx_port(self) -> int:
        return topology.cassandra_jmx_port(self.config, self.node)

    def port_specs(self) -> list[PortSpec]:
        return [
            PortSpec("cql", self.config.cassandra_port, "RATINGS_CASSANDRA_PORT"),
            PortSpec("storage", self.config.cassandra_storage_port, "RATINGS_CASSANDRA_STORAGE_PORT"),
            PortSpec("jmx", self.jmx_port, "RATINGS_CASSANDRA_JMX_PORT"),
        ]

    @property
    def log_file(self) -> Path:
        return self.logs_dir / "system.log"

    @property
    def yaml_file(self) -> Path:
        return self.conf_dir / "cassandra.yaml"

    @property
    def logback_file(self) -> Path:
        return self.conf_dir / "logback.xml"

    def cmdline_marker(self) -> str:
        return f"-Dcassandra.config={self.yaml_file.as_uri()}"

    # --- config files
    def render_yaml(self) -> str:
        """A minimal cassandra.yaml for a dev node (5.0 wants unit-suffixed keys).

        In a cluster every node is a seed and has its token in advance, so the
        nodes can start together and none bootstraps.
        """
        host, data, port = self.host, self.data_dir, self.config.cassandra_storage_port
        seeds = ",".join(f"{address}:{port}" for address in topology.cassandra_addresses(self.config))
        return f"""\
# Written by ratings_assets.localstack; edits are overwritten at start.
cluster_name: ratings-local
num_tokens: 1
initial_token: {topology.cassandra_token(self.node, self.count)}
auto_bootstrap: false
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "{seeds}"
listen_address: {host}
rpc_address: {host}
storage_port: {self.config.cassandra_storage_port}
native_transport_port: {self.config.cassandra_port}
start_native_transport: true
commitlog_sync: periodic
commitlog_sync_period: 10000ms
data_file_directories:
  - {data}/data
commitlog_directory: {data}/commitlog
saved_caches_directory: {data}/saved_caches
hints_directory: {data}/hints
cdc_raw_directory: {data}/cdc_raw
auto_snapshot: false
{self._auth_yaml()}
storage_compatibility_mode: NONE
"""

    def render_logback(self) -> str:
        """INFO to a size-capped system.log only (the console goes to cassandra.out)."""
        return f"""\
<configuration scan="false">
  <appender name="SYSTEMLOG" class="ch.qos.logback.core.rolling.RollingFileAppender">
    <file>{self.log_file}</file>
    <rollingPolicy class="ch.qos.logback.core.rolling.FixedWindowRollingPolicy">
      <fileNamePattern>{self.logs_dir}/system.log.%i</fileNamePattern>
      <minIndex>1</minIndex>
      <maxIndex>3</maxIndex>
    </rollingPolicy>
    <triggeringPolicy class="ch.qos.logback.core.rolling.SizeBasedTriggeringPolicy">
      <maxFileSize>50MB</maxFileSize>
    </triggeringPolicy>
    <encoder>
      <pattern>%-5level [%thread] %date{{ISO8601}} %F:%L - %msg%n</pattern>
    </encoder>
  </appender>
  <root level="INFO">
    <appender-ref ref="SYSTEMLOG"/>
  </root>
</configuration>
"""

    # --- launch
    def prepare(self) -> None:
        super().prepare()
        resolve_jars("cassandra", self.config)
        self.yaml_file.write_text(self.render_yaml())
        self.logback_file.write_text(self.render_logback())

    def _auth_yaml(self) -> str:
        if not self.config.cassandra_user:
            return "authenticator: AllowAllAuthenticator\nauthorizer: AllowAllAuthorizer"
        return ("authenticator: PasswordAuthenticator\nauthorizer: CassandraAuthorizer\n"
                "role_manager: CassandraRoleManager")

    def system_properties(self) -> list[str]:
        return [
            "-Dcassandra.superuser_setup_delay_ms=0",
            f"-Dcassandra.config={self.yaml_file.as_uri()}",
            "-Dcassandra-foreground=yes",
            f"-Dcassandra.storagedir={self.data_dir}",
            f"-Dcassandra.logdir={self.logs_dir}",
            f"-Dlogback.configurationFile={self.logback_file}",
            "-Dcassandra.skip_wait_for_gossip_to_settle=0",
            f"-Dcassandra.initial_token={topology.cassandra_token(self.node, self.count)}",
            f"-Dcassandra.jmx.local.port={self.jmx_port}",
            f"-Djava.rmi.server.hostname={self.host}",
            *(CLUSTER_FLAGS if self.count > 1 else []),
        ]

    def command(self) -> list[str]:
        java = find_java(JAVA_MIN, JAVA_MAX, self.config.java_home, purpose="Cassandra 5.0").executable
        heap = self.config.cassandra_heap
        classpath = f"{self.conf_dir}:{self.config.jars_dir('cassandra')}/*"
        return [str(java), f"-Xms{heap}", f"-Xmx{heap}", *JVM_FLAGS, *JPMS_FLAGS,
                *self.system_properties(), "-cp", classpath, MAIN_CLASS]

    def check_ready(self) -> bool:
        """Ready when the Python driver connects and system.local answers; in a cluster, when it also sees
        the other running nodes alive."""
        return self.release_version(check_peers=self.count > 1) is not None

    def running_nodes(self) -> int:
        """Nodes of this cluster whose process runs (this one included)."""
        return sum(1 for n in range(1, self.count + 1)
                   if n == self.node or CassandraServer(self.config, n).find_pid(clean=False) is not None)

    def _cluster(self, user: str | None, password: str | None):
        """A driver that talks to this node alone (its peers answer for themselves)."""
        from cassandra.auth import PlainTextAuthProvider
        from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
        from cassandra.policies import WhiteListRoundRobinPolicy

        profile = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([self.host]), request_timeout=10)
        return Cluster([self.host], port=self.config.cassandra_port, connect_timeout=5,
                       control_connection_timeout=5, execution_profiles={EXEC_PROFILE_DEFAULT: profile},
                       auth_provider=PlainTextAuthProvider(user, password) if user else None)

    def ensure_role(self) -> None:
        """With authentication on, create the configured login role, as the built-in superuser."""
        cluster = self._cluster("cassandra", "cassandra")
        try:
            session = cluster.connect()
            session.execute(
                f"CREATE ROLE IF NOT EXISTS \"{self.config.cassandra_user}\" WITH PASSWORD = %s AND LOGIN = true "
                "AND SUPERUSER = true", (self.config.cassandra_password,), timeout=30)
        finally:
            cluster.shutdown()

    def release_version(self, check_peers: bool = False) -> str | None:
        from cassandra import AuthenticationFailed, ConsistencyLevel
        from cassandra.cluster import NoHostAvailable
        from cassandra.query import SimpleStatement

        with quiet_loggers("cassandra"):
            cluster = self._cluster(self.config.cassandra_user, self.config.cassandra_password)
            try:
                session = cluster.connect()
                row = session.execute("SELECT release_version FROM system.local", timeout=5).one()
                if row and check_peers:
                    alive = min(self.running_nodes(), topology.MAX_REPLICATION)
                    level = {1: ConsistencyLevel.ONE, 2: ConsistencyLevel.TWO, 3: ConsistencyLevel.THREE}[alive]
                    session.execute(SimpleStatement(LIVE_PEERS_QUERY, consistency_level=level), timeout=5)
                return row.release_version if row else None
            except NoHostAvailable as exc:
                refused = any(isinstance(e, AuthenticationFailed) for e in exc.errors.values())
                if refused and self.config.cassandra_user:
                    self._try_ensure_role()
                return None
            except Exception:
                return None
            finally:
                cluster.shutdown()

    def ring_view(self) -> tuple[str, set[str]]:
        """This node's own address and the peers it knows, as it answers them itself."""
        cluster = self._cluster(self.config.cassandra_user, self.config.cassandra_password)
        try:
            session = cluster.connect()
            local = session.execute("SELECT listen_address FROM system.local", timeout=10).one()
            peers = {str(row.peer) for row in session.execute("SELECT peer FROM system.peers_v2", timeout=10)}
            return str(local.listen_address), peers
        finally:
            cluster.shutdown()

    def _try_ensure_role(self) -> None:
        """First start with authentication: the role appears once the superuser is set up."""
        try:
            self.ensure_role()
        except Exception:
            pass
