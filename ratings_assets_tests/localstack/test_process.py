"""The LocalService life cycle, exercised with a tiny Python TCP server instead of a JVM."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from ratings_assets.localstack.errors import StackError
from ratings_assets.localstack.kafka import KafkaServer
from ratings_assets.localstack.cassandra import CassandraServer
from ratings_assets.localstack.process import LocalService, PortSpec, process_alive

SERVER = """
import socket, sys, time
mode = sys.argv[2]
if mode == "crash":
    print("boom: bad config", flush=True)
    sys.exit(3)
if mode == "hang":
    time.sleep(60)
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1])))
srv.listen()
while True:
    srv.accept()[0].close()
"""


class DummyService(LocalService):
    """Stands in for a JVM: same bookkeeping, a Python one-liner as the server."""

    name = "dummy"
    executable_name = os.path.basename(sys.executable)

    def __init__(self, config, port, mode="serve"):
        super().__init__(config)
        self.port, self.mode = port, mode

    def port_specs(self):
        return [PortSpec("main", self.port, "RATINGS_DUMMY_PORT")]

    def command(self):
        return [sys.executable, "-c", SERVER, str(self.port), self.mode, self.cmdline_marker()]

    def check_ready(self):
        return True


@pytest.fixture
def dummy(tmp_config):
    from ratings_assets_tests.localstack.conftest import free_port

    service = DummyService(tmp_config, free_port())
    yield service
    service.stop(timeout_s=5)


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_start_reuse_stop(dummy):
    first = dummy.start()
    assert first.healthy and first.startup_s is not None
    assert dummy.pid_file.read_text().strip() == str(first.pid)
    again = dummy.start()
    assert (again.pid, again.startup_s) == (first.pid, None)
    status = dummy.status()
    assert status.running and status.healthy and status.pid == first.pid
    assert dummy.stop() == first.pid
    assert not process_alive(first.pid) and not dummy.pid_file.exists()
    assert dummy.stop() is None  # idempotent
    assert not dummy.status().running


def test_stale_pid_file_of_a_dead_process(dummy):
    dummy.home.mkdir(parents=True)
    dead = _dead_pid()
    dummy.pid_file.write_text(f"{dead}\n")
    status = dummy.status()
    assert (status.running, status.healthy, status.pid) == (False, False, None)
    assert status.detail == "not running"
    started = dummy.start()
    assert started.pid != dead and dummy.pid_file.read_text().strip() == str(started.pid)


def test_pid_reused_by_another_program_is_not_ours(dummy):
    dummy.home.mkdir(parents=True)
    stranger = subprocess.Popen(["sleep", "30"])
    try:
        dummy.pid_file.write_text(f"{stranger.pid}\n")
        assert not dummy.status().running
        assert dummy.find_pid() is None and not dummy.pid_file.exists()
        assert dummy.stop() is None
        assert stranger.poll() is None  # never signal a process that is not ours
    finally:
        stranger.kill()
        stranger.wait()


def test_lost_pid_file_is_recovered_from_the_port(dummy):
    pid = dummy.start().pid
    dummy.pid_file.unlink()
    assert dummy.status().pid == pid
    assert dummy.start().pid == pid
    assert dummy.pid_file.read_text().strip() == str(pid)


def test_exit_during_start_shows_log_tail(tmp_config):
    from ratings_assets_tests.localstack.conftest import free_port

    service = DummyService(tmp_config, free_port(), mode="crash")
    with pytest.raises(StackError) as err:
        service.start()
    message = str(err.value)
    assert "exited during start with exit code 3" in message
    assert "boom: bad config" in message and str(service.out_file) in message
    assert not service.pid_file.exists()


def test_start_timeout_leaves_it_running_and_says_what_to_do(tmp_config):
    from dataclasses import replace

    from ratings_assets_tests.localstack.conftest import free_port

    service = DummyService(replace(tmp_config, start_timeout_s=1), free_port(), mode="hang")
    try:
        with pytest.raises(StackError, match="(?s)did not answer .* within 1 s.*RATINGS_START_TIMEOUT"):
            service.start()
        assert service.status().running and not service.status().healthy
    finally:
        service.stop(timeout_s=5)


@pytest.fixture
def squatter():
    """Something that is not ours listening on a port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock.getsockname()[1]
    sock.close()


def test_port_taken_by_a_stranger_kafka(tmp_config, squatter):
    from dataclasses import replace

    kafka = KafkaServer(replace(tmp_config, kafka_port=squatter))
    with pytest.raises(StackError) as err:
        kafka.start()
    message = str(err.value)
    assert f"port {squatter}" in message
    assert f"ss -ltnp 'sport = :{squatter}'" in message
    assert "RATINGS_KAFKA_PORT" in message
    assert f"pid {os.getpid()}" in message  # the holder is named
    assert "port" in kafka.status().detail and not kafka.status().running


def test_port_taken_by_a_stranger_cassandra_jmx(tmp_config, squatter):
    from dataclasses import replace

    cassandra = CassandraServer(replace(tmp_config, cassandra_jmx_port=squatter))
    with pytest.raises(StackError, match=f"(?s)port {squatter}.*RATINGS_CASSANDRA_JMX_PORT"):
        cassandra.start()
