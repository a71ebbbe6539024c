"""Shared helpers: a throw-away state dir and free ports, so unit tests never touch the real stack."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from ratings_assets.localstack import cassandra as cassandra_module, kafka as kafka_module
from ratings_assets.localstack.config import StackConfig
from ratings_assets.localstack.java import JavaInfo


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def tmp_config(tmp_path) -> StackConfig:
    """A config on free ports under tmp_path; the JVM services are never started with it."""
    return StackConfig(
        state_dir=tmp_path / "state",
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        cassandra_port=free_port(),
        cassandra_storage_port=free_port(),
        cassandra_jmx_port=free_port(),
        spark_master_port=free_port(),
        spark_master_ui_port=free_port(),
        spark_worker_port=free_port(),
        spark_worker_ui_port=free_port(),
        start_timeout_s=10,
    )


@pytest.fixture
def no_java(monkeypatch):
    """Command building must not run a real java: pretend one was found."""
    fake = JavaInfo(Path("/opt/jdk/bin/java"), "17.0.9", 17)
    monkeypatch.setattr(kafka_module, "find_java", lambda *a, **k: fake)
    monkeypatch.setattr(cassandra_module, "find_java", lambda *a, **k: fake)


def properties(text: str) -> dict[str, str]:
    """A rendered .properties file as a dict (comments and blank lines left out)."""
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)
