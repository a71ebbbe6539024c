"""Host ports of the Compose stack: overridable, checked, and refused with what to do when taken."""

import socket

import pytest

from ratings_assets.compose.errors import DockerError
from ratings_assets.compose.stack import Stack, port_is_free


def test_ports_default_to_those_of_make_run_and_are_overridable(monkeypatch):
    for variable in ("DOCKER_UI_PORT", "DOCKER_KAFKA_PORT", "DOCKER_CASSANDRA_PORT"):
        monkeypatch.delenv(variable, raising=False)
    assert Stack.from_env() == Stack("ratings", 3000, 9092, 9042)
    monkeypatch.setenv("DOCKER_KAFKA_PORT", "19092")
    stack = Stack.from_env("other")
    assert (stack.project, stack.kafka_port) == ("other", 19092)
    assert stack.client_env()["RATINGS_KAFKA_BOOTSTRAP"] == "127.0.0.1:19092"
    assert stack.compose_env()["DOCKER_KAFKA_PORT"] == "19092"


@pytest.mark.parametrize("raw", ["abc", "0", "70000"])
def test_a_port_that_is_no_port_is_refused_naming_the_variable(monkeypatch, raw):
    monkeypatch.setenv("DOCKER_UI_PORT", raw)
    with pytest.raises(DockerError, match="DOCKER_UI_PORT"):
        Stack.from_env()


def test_a_port_someone_listens_on_is_not_free():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert not port_is_free(port)
    assert port_is_free(port)
