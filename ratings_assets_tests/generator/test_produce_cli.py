"""`ratings produce` without a broker: a bounded wait that retries often, then one clear line and exit code 1."""

import socket
import time

import pytest
from kafka.errors import KafkaTimeoutError

from ratings_assets import cli
from ratings_assets.generator import publisher


class NoBroker:
    """A KafkaResource whose broker never answers."""

    def __init__(self):
        self.producer_options = None
        self.topics = []

    def producer(self, **options):
        self.producer_options = options
        raise KafkaTimeoutError("Unable to bootstrap from 127.0.0.1:1")

    def ensure_topic(self, *args, **kwargs):
        self.topics.append(args)


@pytest.fixture
def no_broker(monkeypatch):
    fake = NoBroker()
    monkeypatch.setattr("ratings_assets.resources.kafka_resource", lambda: fake)
    monkeypatch.setenv("RATINGS_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    return fake


def test_no_broker_is_one_clear_error_and_exit_code_1(no_broker, capsys):
    assert cli.main(["produce", "--count", "5", "--users", "3"]) == 1
    out, err = capsys.readouterr()
    assert "connecting to Kafka at 127.0.0.1:1" in out
    assert err.startswith("error: no Kafka broker answered at 127.0.0.1:1 within 30 s")
    assert "ratings stack up" in err and "Traceback" not in err
    assert no_broker.topics == []  # nothing else was attempted


def test_the_producer_retries_at_least_every_second_within_a_bounded_wait(no_broker):
    cli.main(["produce", "--count", "5", "--users", "3"])
    assert no_broker.producer_options["reconnect_backoff_max_ms"] <= 1000
    assert no_broker.producer_options["bootstrap_timeout_ms"] == 30_000


def test_with_the_real_client_against_a_closed_port(monkeypatch, capsys):
    """kafka-python itself, on a port nothing listens on: gives up after the wait, quietly but clearly."""
    with socket.socket() as held:  # bound, not listening: connections are refused, and nobody else gets it
        held.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{held.getsockname()[1]}"
        monkeypatch.setenv("RATINGS_KAFKA_BOOTSTRAP", address)
        monkeypatch.setenv("RATINGS_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
        monkeypatch.setitem(publisher.CONNECT_OPTIONS, "bootstrap_timeout_ms", 2500)
        started = time.monotonic()
        assert cli.main(["produce", "--count", "5", "--users", "3"]) == 1
        elapsed = time.monotonic() - started
    out, err = capsys.readouterr()
    assert 2 <= elapsed < 15
    assert err.splitlines()[-1].startswith(f"error: no Kafka broker answered at {address} within 2.5 s")
    assert len(err.splitlines()) == 1, err  # no log line per failed attempt, no traceback
