"""The shape of the local cluster: node names, addresses, ports, tokens, and what clients connect to.

Pure functions of a StackConfig, so every node's configuration can be checked
without starting anything. One Cassandra node and one Kafka broker (the
default) keep today's names, folders and ports; a cluster numbers its nodes:

- Cassandra node i listens on the i-th address from RATINGS_BIND_HOST
  (127.0.0.1, 127.0.0.2, ...) with the same CQL and storage ports: the driver
  and the Spark connector take one port for every contact point. JMX binds to
  loopback whatever the node's address, so node i takes the JMX port + i - 1.
- Kafka broker i listens on RATINGS_BIND_HOST, client port + 2(i - 1) and
  controller port + 2(i - 1) (9092/9093, 9094/9095, ...); the first three
  are the KRaft controller quorum.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ratings_assets.localstack.config import StackConfig
from ratings_assets.localstack.errors import StackError

SERVICES = ("kafka", "cassandra")
MAX_CONTROLLERS = 3
MAX_REPLICATION = 3
DATA_CENTER = "datacenter1"  # what SimpleSnitch reports
MURMUR3_MIN = -(2**63)


@dataclass(frozen=True)
class Node:
    """One server of the stack as `status` names it."""

    service: str  # "kafka" or "cassandra"
    number: int  # 1-based
    count: int  # nodes of that service

    @property
    def name(self) -> str:
        return self.service if self.count == 1 else f"{self.service}-{self.number}"


def node_count(config: StackConfig, service: str) -> int:
    return config.kafka_brokers if service == "kafka" else config.cassandra_nodes


def nodes(config: StackConfig, service: str) -> list[Node]:
    count = node_count(config, service)
    return [Node(service, number, count) for number in range(1, count + 1)]


def parse_node(name: str, config: StackConfig) -> Node:
    """A node from its name (`cassandra-2`, `kafka-3`; `kafka` or `kafka-1` for a lone broker)."""
    service, _, number = name.partition("-")
    if service not in SERVICES or (number and not number.isdigit()):
        raise StackError(f"unknown node {name!r}; nodes are named like cassandra-2 or kafka-3 "
                         "(see `ratings stack status`).")
    count = node_count(config, service)
    if not number:
        if count == 1:
            return Node(service, 1, 1)
        raise StackError(f"{service} has {count} nodes: name one, {service}-1 … {service}-{count}.")
    if not 1 <= int(number) <= count:
        raise StackError(f"no node {name}: {service} has {count} node{'s' if count > 1 else ''} "
                         f"({_range_text(service, count)}); set {_count_variable(service)} for more.")
    return Node(service, int(number), count)


def _range_text(service: str, count: int) -> str:
    return service if count == 1 else f"{service}-1 … {service}-{count}"


def _count_variable(service: str) -> str:
    return "RATINGS_KAFKA_BROKERS" if service == "kafka" else "RATINGS_CASSANDRA_NODES"


# ---------------------------------------------------------------- Cassandra

def cassandra_address(config: StackConfig, number: int) -> str:
    """The number-th loopback address from the bind host: Linux routes all of 127.0.0.0/8 to lo."""
    return str(ipaddress.IPv4Address(config.bind_host) + (number - 1))


def cassandra_addresses(config: StackConfig) -> list[str]:
    return [cassandra_address(config, n) for n in range(1, config.cassandra_nodes + 1)]


def cassandra_jmx_port(config: StackConfig, number: int) -> int:
    return config.cassandra_jmx_port + number - 1


def cassandra_token(number: int, count: int) -> int:
    """Evenly spaced Murmur3 tokens (one per node), so nodes join with no bootstrap; a lone node keeps 0."""
    if count == 1:
        return 0
    return MURMUR3_MIN + (number - 1) * (2**64 // count)


def cassandra_replication(count: int) -> str:
    """The keyspace replication a ring of `count` nodes wants: every row on three of them."""
    if count == 1:
        return "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    return f"{{'class': 'NetworkTopologyStrategy', '{DATA_CENTER}': {min(count, MAX_REPLICATION)}}}"


# ---------------------------------------------------------------- Kafka

def kafka_ports(config: StackConfig, number: int) -> tuple[int, int]:
    """(client, controller) ports of broker `number`."""
    step = 2 * (number - 1)
    return config.kafka_port + step, config.kafka_controller_port + step


def kafka_is_controller(config: StackConfig, number: int) -> bool:
    return number <= min(config.kafka_brokers, MAX_CONTROLLERS)


def kafka_quorum_voters(config: StackConfig) -> str:
    """controller.quorum.voters: id@host:port of the controllers (a static quorum)."""
    voters = [n for n in range(1, config.kafka_brokers + 1) if kafka_is_controller(config, n)]
    return ",".join(f"{n}@{config.bind_host}:{kafka_ports(config, n)[1]}" for n in voters)


def kafka_bootstrap(config: StackConfig) -> str:
    return ",".join(f"{config.bind_host}:{kafka_ports(config, n)[0]}" for n in range(1, config.kafka_brokers + 1))


def topic_replication(brokers: int) -> int:
    return min(brokers, MAX_REPLICATION)


def min_insync_replicas(replication: int) -> int:
    """Two in-sync copies before acks=all succeeds once there are three: one broker may be down."""
    return 2 if replication >= MAX_REPLICATION else 1


def busiest_leader(leaders: list[int]) -> int:
    """The broker leading the most partitions (the lowest id on a tie), from each partition's leader."""
    if not leaders:
        raise ValueError("no partition has a leader")
    counts: dict[int, int] = {}
    for leader in leaders:
        counts[leader] = counts.get(leader, 0) + 1
    return min(counts, key=lambda broker: (-counts[broker], broker))


# ---------------------------------------------------------------- checks and clients

def check(config: StackConfig) -> None:
    """Reject a cluster shape that cannot work, with a one-line reason."""
    try:
        first = ipaddress.IPv4Address(config.bind_host)
    except ValueError:
        if config.cassandra_nodes > 1:
            raise StackError(f"RATINGS_BIND_HOST={config.bind_host!r} must be an IPv4 address such as 127.0.0.1 "
                             "for a Cassandra cluster (node i takes the i-th address after it).") from None
        return
    last = int(first) + config.cassandra_nodes - 1
    if last > int(ipaddress.IPv4Address("255.255.255.255")) or (
            first.is_loopback and not ipaddress.IPv4Address(last).is_loopback):
        raise StackError(f"{config.cassandra_nodes} Cassandra nodes from {first} run past the loopback range; "
                         "choose a lower RATINGS_BIND_HOST.")
    clients = {kafka_ports(config, n)[0] for n in range(1, config.kafka_brokers + 1)}
    controllers = {kafka_ports(config, n)[1] for n in range(1, config.kafka_brokers + 1)}
    if clients & controllers:
        raise StackError(f"with {config.kafka_brokers} brokers the Kafka client ports {sorted(clients)} and controller "
                         f"ports {sorted(controllers)} overlap; set RATINGS_KAFKA_CONTROLLER_PORT to an odd offset "
                         "from RATINGS_KAFKA_PORT (e.g. port + 1).")


def client_settings(config: StackConfig) -> dict[str, str]:
    """The RATINGS_* client settings that point the pipeline at this stack (defaults of settings.py)."""
    return {
        "RATINGS_KAFKA_BOOTSTRAP": kafka_bootstrap(config),
        "RATINGS_TOPIC_REPLICATION": str(topic_replication(config.kafka_brokers)),
        "RATINGS_CASSANDRA_HOSTS": ",".join(cassandra_addresses(config)),
        "RATINGS_CASSANDRA_PORT": str(config.cassandra_port),
        "RATINGS_CASSANDRA_REPLICATION": cassandra_replication(config.cassandra_nodes),
    }
