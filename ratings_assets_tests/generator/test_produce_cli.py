"""`ratings produce` without a broker: a bounded wait that retries often, then one clear line and exit code 1.

The real client (librdkafka) on a port nothing listens on, with the wait shortened; the full 30 s wait, and a
broker that comes back within it, are in the chaos test (test_faults_integration.py).
"""

import logging
import socket
import time

import pytest

from ratings_assets import cli
from ratings_assets.generator import publisher

SECRET = "pw-that-must-never-show"


@pytest.fixture
def closed_port(monkeypatch):
    """RATINGS_KAFKA_BOOTSTRAP at a port bound but not listening: connections are refused, nobody else gets it."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{held.getsockname()[1]}"
        monkeypatch.setenv("RATINGS_KAFKA_BOOTSTRAP", address)
        monkeypatch.setenv("RATINGS_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
        monkeypatch.setattr(publisher, "CONNECT_TIMEOUT_S", 2.5)
        yield address


def test_no_broker_is_one_clear_error_and_exit_code_1(closed_port, capsys):
    started = time.monotonic()
    assert cli.main(["produce", "--count", "5", "--users", "3"]) == 1
    elapsed = time.monotonic() - started
    out, err = capsys.readouterr()
    assert f"connecting to Kafka at {closed_port} (waiting up to 2.5 s)" in out
    assert 2.5 <= elapsed < 15
    assert err.startswith(f"error: no Kafka broker answered at {closed_port} within 2.5 s")
    assert "Connection refused" in err and "ratings stack up" in err and "nothing was sent" in err
    assert len(err.splitlines()) == 1, err  # no log line per failed attempt, no traceback
    assert "producing to" not in out  # nothing else was attempted


def test_the_sasl_password_is_never_printed_nor_logged(closed_port, monkeypatch, capsys, caplog):
    monkeypatch.setenv("RATINGS_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("RATINGS_KAFKA_USERNAME", "ratings")
    monkeypatch.setenv("RATINGS_KAFKA_PASSWORD", SECRET)
    caplog.set_level(logging.DEBUG)  # the client's own errors included
    assert cli.main(["produce", "--count", "5", "--users", "3"]) == 1
    out, err = capsys.readouterr()
    assert err.startswith(f"error: no Kafka broker answered at {closed_port}")
    assert any(r.name.startswith("ratings_assets.generator") for r in caplog.records)
    assert SECRET not in out + err + caplog.text


@pytest.mark.parametrize("args, message", [
    (["--users", "0"], "argument --users: 0 is below 1"),
    (["--rate", "-1"], "argument --rate: -1 is below 0"),
    (["--count", "ten"], "argument --count: 'ten' is not a whole number"),
])
def test_bad_numbers_are_refused_at_once_with_one_line_before_any_connection(closed_port, capsys, args, message):
    # Refused by the parser: no connection is tried (which would wait CONNECT_TIMEOUT_S).
    assert cli.main(["produce", *args]) == 1
    out, err = capsys.readouterr()
    assert err.strip().splitlines() == [f"error: ratings produce: {message}"]
    assert out == ""
