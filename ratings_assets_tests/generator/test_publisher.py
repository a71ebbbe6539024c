"""The generator's producer settings (pure mapping) and its delivery accounting."""

import logging

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer

from ratings_assets.generator import publisher
from ratings_assets.generator.publisher import PublishStats, producer_config
from ratings_assets.resources.kafka import KafkaResource

SECRET = "s3cr3t-never-logged"


def resource(**overrides) -> KafkaResource:
    return KafkaResource(**{"bootstrap_servers": "b1:9092,b2:9092", **overrides})


def test_plaintext_maps_address_client_id_and_delivery_guarantees():
    config = producer_config(resource(client_id="gen"))
    assert config["bootstrap.servers"] == "b1:9092,b2:9092"
    assert config["client.id"] == "gen"
    assert config["security.protocol"] == "PLAINTEXT"
    assert config["acks"] == "all" and config["enable.idempotence"] is True
    assert not any(key.startswith("sasl.") for key in config)


@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
def test_sasl_maps_mechanism_and_credentials(protocol):
    config = producer_config(resource(security_protocol=protocol, sasl_mechanism="SCRAM-SHA-512",
                                      sasl_username="ratings", sasl_password=SECRET))
    assert config["security.protocol"] == protocol
    assert (config["sasl.mechanism"], config["sasl.username"], config["sasl.password"]) == (
        "SCRAM-SHA-512", "ratings", SECRET)


def test_keyed_like_the_java_client_and_kafka_python():
    # The same user lands on the partition other clients (and earlier versions of the generator) chose.
    assert producer_config(resource())["partitioner"] == "murmur2_random"


def test_retries_a_missing_broker_at_least_every_second_within_a_bounded_wait():
    assert producer_config(resource())["reconnect.backoff.max.ms"] <= 1000
    assert publisher.CONNECT_TIMEOUT_S == 30


def test_librdkafka_accepts_every_setting():
    # Building a producer validates the configuration (a refused one raises); it connects in the background only.
    for protocol in ("PLAINTEXT", "SASL_PLAINTEXT"):
        Producer(producer_config(resource(bootstrap_servers="127.0.0.1:1", security_protocol=protocol,
                                          sasl_username="u", sasl_password=SECRET)))
    with pytest.raises(KafkaException, match="security.protocol"):
        Producer(producer_config(resource(security_protocol="PLAINTXT")))


def test_a_setting_librdkafka_refuses_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match="security.protocol"):
        publisher.connect(resource(security_protocol="PLAINTXT"), wait_s=0.1)


def test_acked_counts_only_confirmed_deliveries_and_the_first_error_is_logged_once(caplog):
    stats = PublishStats()
    stats.on_delivery(None, object())
    stats.on_delivery(KafkaError(KafkaError._MSG_TIMED_OUT), None)
    stats.on_delivery(None, object())
    stats.on_delivery(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE), None)
    assert (stats.acked, stats.errors) == (2, 2)
    assert stats.first_error.startswith("_MSG_TIMED_OUT: ")
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "_MSG_TIMED_OUT" in errors[0].getMessage()
    assert stats.line().startswith("sent 0  acked 2  ") and stats.line().endswith("errors 2")


def test_client_errors_explain_a_failed_connection_but_only_fatal_ones_are_logged(caplog):
    errors = publisher.ClientErrors()
    refused = KafkaError(KafkaError._TRANSPORT, "Connect to ipv4#127.0.0.1:1 failed: Connection refused")
    errors(refused)
    errors(KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down"))
    assert errors.last is refused  # "all brokers down" says less than the error before it
    assert not [r for r in caplog.records if r.levelno > logging.DEBUG]
    errors(KafkaError(KafkaError._FENCED, "fenced", fatal=True))
    assert [r.levelno for r in caplog.records if r.levelno > logging.DEBUG] == [logging.ERROR]


class RecordingProducer:
    """What `publish` calls of a confluent-kafka Producer: every message is delivered at once."""

    def __init__(self):
        self.sent = []

    def produce(self, topic, value, key, on_delivery):
        self.sent.append(key)
        on_delivery(None, None)

    def poll(self, timeout):
        return 0

    def flush(self, timeout):
        return 0


def test_progress_every_interval_of_the_clock_and_once_at_the_end():
    from ratings_assets.core.catalog import read_catalog
    from ratings_assets.generator.ratings import EventClock, Pacer, RatingFactory, generate
    from ratings_assets.generator.users import user_pool
    from ratings_assets.paths import CATALOG_CSV

    now = [0.0]

    def clock() -> float:
        now[0] += 0.25  # each look at the clock: a quarter of a second later
        return now[0]

    movies = list(read_catalog(CATALOG_CSV).values())[:5]
    events = generate(RatingFactory(movies, user_pool(3, seed=1), seed=1), EventClock(), Pacer(None), count=10)
    reports = []
    stats = publisher.publish(RecordingProducer(), "t", events, progress=lambda s: reports.append(s.sent),
                              progress_every_s=1.0, clock=clock)
    # Read at the start (0.25: first report due at 1.25), once per event, once more after a report to set the
    # next: event 4 reads 1.25 and reports, the next is due at 2.5, which event 8 reads; then the final report.
    assert stats.sent == stats.acked == 10
    assert reports == [4, 8, 10]
