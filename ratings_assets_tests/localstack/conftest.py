"""Shared helpers: a throw-away state dir and free ports, so unit tests never touch the real stack."""

from __future__ import annotations

import socket

import pytest

from ratings_assets.localstack.config import StackConfig


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
