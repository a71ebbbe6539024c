"""Errors of the `ratings` command that need no service: one `error:` line, exit code 1, in seconds.

Bad query arguments are refused before any connection (the Cassandra port here is closed); `stream` and
`query` against ports nothing listens on say what they could not reach.
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

RATINGS = str(Path(sys.executable).with_name("ratings"))


@pytest.fixture
def closed_port():
    """A port bound but not listening: connections are refused, and nobody else gets it meanwhile."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield held.getsockname()[1]


def ratings(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([RATINGS, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=120)


def test_stream_without_kafka_says_so_in_one_line(closed_port, tmp_path):
    result = ratings("stream", "--available-now", "--checkpoint", str(tmp_path / "cp"),
                     RATINGS_KAFKA_BOOTSTRAP=f"127.0.0.1:{closed_port}")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: cannot reach Kafka at 127.0.0.1:{closed_port}: KafkaTimeoutError('Unable to bootstrap from "
        f"127.0.0.1:{closed_port}')"]


def test_query_without_cassandra_says_so_in_one_line(closed_port):
    result = ratings("query", "top", "--hour", "2025-03-15T10:00Z", RATINGS_CASSANDRA_HOSTS="127.0.0.1",
                     RATINGS_CASSANDRA_PORT=str(closed_port))
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: cannot reach Cassandra at 127.0.0.1 port {closed_port}: ")
    assert "refused" in line


@pytest.mark.parametrize(
    "args, message",
    [
        (["--user", "Ada", "--hour", "yesterday"], "--hour 'yesterday' is not a time"),
        (["--user", "Ada"], "needs --user and --hour"),
        (["hours", "--user", "Ada", "--from", "2025-03-15T10:00Z", "--to", "2025-03-15T09:00Z"], "is before --from"),
        (["top", "--hour", "2025-03-15T10:00Z", "--limit", "0"], "--limit must be at least 1"),
        (["top"], "the following arguments are required: --hour"),
    ],
)
def test_bad_query_arguments_are_one_line_before_any_connection(closed_port, args, message):
    result = ratings("query", *args, RATINGS_CASSANDRA_PORT=str(closed_port))
    assert (result.returncode, result.stdout) == (1, "")
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and message in line
