"""The pipeline with authentication on: SASL/PLAIN on Kafka, PasswordAuthenticator on Cassandra.

Runs on a stack of its own (other ports, other state folder), so the shared
services keep running without authentication.
"""

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

from collections import Counter

import dagster as dg
import pytest
from cassandra.cluster import NoHostAvailable
from confluent_kafka import KafkaError as KafkaErrorCode
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient
from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from ratings_assets.core.catalog import read_catalog
from ratings_assets.core.events import RatingEvent
from ratings_assets.defs.records import RECORDS_KEY, no_unknown_movies
from ratings_assets.generator.publisher import connect, publish
from ratings_assets.generator.ratings import EventClock, Pacer, RatingFactory, generate
from ratings_assets.generator.users import user_pool
from ratings_assets.localstack import stack
from ratings_assets.localstack.config import StackConfig
from ratings_assets.paths import CATALOG_CSV, REPO_ROOT
from ratings_assets.resources.cassandra import CassandraResource
from ratings_assets.resources.kafka import KafkaResource
from ratings_assets_tests.localstack.conftest import free_port

pytestmark = pytest.mark.integration

SECRET = f"pw-{uuid.uuid4().hex}"
EVENTS = 2000


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    ports = {name: str(free_port()) for name in (
        "RATINGS_KAFKA_PORT", "RATINGS_KAFKA_CONTROLLER_PORT", "RATINGS_CASSANDRA_PORT",
        "RATINGS_CASSANDRA_STORAGE_PORT", "RATINGS_CASSANDRA_JMX_PORT")}
    env = {
        **os.environ, **ports,
        "RATINGS_STATE_DIR": str(tmp_path_factory.mktemp("secured-stack")),
        "RATINGS_KAFKA_HEAP": "256m", "RATINGS_CASSANDRA_HEAP": "768m",
        "RATINGS_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "RATINGS_KAFKA_USERNAME": "ratings", "RATINGS_KAFKA_PASSWORD": SECRET,
        "RATINGS_CASSANDRA_USERNAME": "ratings", "RATINGS_CASSANDRA_PASSWORD": SECRET,
        "RATINGS_KAFKA_BOOTSTRAP": f"127.0.0.1:{ports['RATINGS_KAFKA_PORT']}",
        "RATINGS_TOPIC": "secured_ratings", "RATINGS_DLQ_TOPIC": "secured_ratings.dlq",
        "RATINGS_KEYSPACE": "secured",
    }
    # Jars are shared with the default stack: resolving again would only cost time.
    jars = StackConfig.from_env().state_dir / "jars"
    (Path(env["RATINGS_STATE_DIR"]) / "jars").symlink_to(jars, target_is_directory=True)
    config = StackConfig.from_env(env)
    stack.up(config=config, progress=lambda message: None)
    yield env
    stack.down(config=config, progress=lambda message: None)


def kafka(env, **overrides) -> KafkaResource:
    options = dict(bootstrap_servers=env["RATINGS_KAFKA_BOOTSTRAP"], security_protocol="SASL_PLAINTEXT",
                   sasl_username="ratings", sasl_password=SECRET)
    return KafkaResource(**{**options, **overrides})


def cassandra(env, **overrides) -> CassandraResource:
    options = dict(hosts="127.0.0.1", port=int(env["RATINGS_CASSANDRA_PORT"]), keyspace="secured",
                   username="ratings", password=SECRET)
    return CassandraResource(**{**options, **overrides})


def refusals(env, **overrides) -> list[int]:
    """The error codes librdkafka reports while trying to list topics with these credentials."""
    errors = []
    admin = AdminClient({**kafka(env, **overrides).librdkafka_options(), "error_cb": errors.append, "log_level": 0})
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=10)
    admin.poll(2)  # serves the error callbacks
    return [error.code() for error in errors]


def test_clients_without_credentials_are_refused_while_the_right_ones_get_in(secured):
    # The same services answer the right credentials: a refusal below is the authentication's, not an outage.
    with KafkaAdminClient(**kafka(secured).client_options(), bootstrap_timeout_ms=30000) as admin:
        assert isinstance(admin.list_topics(), list)
    with cassandra(secured).session() as session:
        assert session.execute("SELECT release_version FROM system.local").one()
    # A client without SASL is dropped by the SASL listener; a wrong password is refused as such.
    with pytest.raises(KafkaError):
        KafkaAdminClient(bootstrap_servers=secured["RATINGS_KAFKA_BOOTSTRAP"], bootstrap_timeout_ms=5000).list_topics()
    assert KafkaErrorCode._AUTHENTICATION in refusals(secured, sasl_password="wrong")
    with pytest.raises(NoHostAvailable) as no_login:
        with cassandra(secured, username=None, password=None).session():
            pass
    assert all("authentication" in repr(error).lower() for error in no_login.value.errors.values()), no_login.value.errors


# Messages the stream must reject, by the reason their dead letter carries.
INVALID = {
    b"not json at all": "malformed_json",
    b"[1, 2, 3]": "not_an_object",
    b'{"event_id": "x"}': "missing_field",
}


def test_the_pipeline_runs_with_authentication_and_never_prints_the_secret(secured):
    cassandra(secured).ensure_schema()
    resource = kafka(secured, topic="secured_ratings", dead_letter_topic="secured_ratings.dlq")
    resource.ensure_topic("secured_ratings", 2, 1)
    factory = RatingFactory(list(read_catalog(CATALOG_CSV).values()), user_pool(10, seed=3), seed=3)
    events = list(generate(factory, EventClock(), Pacer(None), count=EVENTS))
    assert publish(connect(resource), "secured_ratings", events).acked == EVENTS
    unknown = RatingEvent("e-unknown-movie", "Ann Known", 2_000_000_000, "Nowhere", events[0].timestamp, 5)
    raw = Producer(resource.librdkafka_options())
    for value in [*INVALID, unknown.to_json()]:
        raw.produce("secured_ratings", value)
    assert raw.flush(30) == 0

    ratings = str(Path(sys.executable).with_name("ratings"))
    produced = subprocess.run([ratings, "produce", "--count", "50", "--rate", "0", "--seed", "9"], env=secured,
                              cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert produced.returncode == 0, produced.stderr[-3000:]
    assert re.search(r"done: sent 50\s+acked 50\b", produced.stdout), produced.stdout[-500:]

    ratings = str(Path(sys.executable).with_name("ratings"))
    stream = subprocess.run(
        [ratings, "stream", "--available-now", "--checkpoint", str(Path(secured["RATINGS_STATE_DIR"]) / "cp")],
        env={**secured, "RATINGS_CASSANDRA_PORT": secured["RATINGS_CASSANDRA_PORT"]},
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )
    assert stream.returncode == 0, stream.stderr[-3000:]
    assert SECRET not in stream.stdout + stream.stderr + produced.stdout + produced.stderr
    # Nor a line per message: Spark's Kafka consumer warns on each one it hands the validation (QUIET_LOGGERS).
    assert "KafkaDataConsumer" not in stream.stderr, stream.stderr[-3000:]
    with cassandra(secured).session("secured") as session:
        stored = {row.event_id for row in session.execute("SELECT event_id FROM records", timeout=60)}
    assert len(stored) == EVENTS + 50 and {e.event_id for e in events} <= stored
    # The dead letters, and their marks, went out through the authenticated transactional producer.
    assert resource.dead_letter_counts() == {**Counter(INVALID.values()), "unknown_movie": 1}
    assert sum(resource.end_offsets("secured_ratings.dlq.marks").values()) > 0
    # The records checks, executed as the UI would, read the dead letters under SASL too.
    checks = dg.Definitions(assets=[dg.AssetSpec(RECORDS_KEY)], asset_checks=[no_unknown_movies],
                            resources={"kafka": resource})
    with dg.instance_for_test() as instance:
        result = checks.resolve_implicit_global_asset_job_def().execute_in_process(instance=instance,
                                                                                   asset_selection=[])
    (evaluation,) = result.get_asset_check_evaluations()
    assert not evaluation.passed and evaluation.metadata["unknown_movie"].value == 1
