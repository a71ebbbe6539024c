"""Publishes rating events to Kafka, keyed by user, and counts what the broker acknowledged.

The generator's producer is confluent-kafka (librdkafka): its per-message cost
in Python is a fraction of kafka-python's, which capped one process at about
14,000 events/s. Everything else in the project (Dagster resources, topic
administration, consumers) stays on kafka-python.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException, Producer

from ratings_assets.core.events import RatingEvent
from ratings_assets.resources.kafka import KafkaResource

log = logging.getLogger(__name__)

# The generator may start before its broker, or while it restarts: `connect` waits up to CONNECT_TIMEOUT_S, and
# librdkafka reconnects by itself, backing off exponentially; capped at a second, a broker back is used at once.
CONNECT_TIMEOUT_S = 30.0

# What the generator adds to the connection settings (librdkafka names).
PRODUCER_SETTINGS = {
    "reconnect.backoff.max.ms": 1000,
    # A message counted as acked is on every in-sync replica, once (retries cannot duplicate it).
    "acks": "all",
    "enable.idempotence": True,
    # The Java client's partitioner (and kafka-python's): a user's ratings go to the partition they always did.
    "partitioner": "murmur2_random",
    # Batching. Flat out, longer linger or larger batches made no difference beyond noise (making and serializing
    # the events is the limit); a short linger keeps paced events' latency low.
    "linger.ms": 5,
    "batch.size": 1_000_000,
    # librdkafka logs each failed connection attempt (tens a second while a broker is away) at level 3 (error):
    # keep its critical lines only, through Python logging. Its errors come to `ClientErrors` instead.
    "log_level": 2,
    "logger": logging.getLogger(f"{__name__}.librdkafka"),
}


class BrokerUnreachable(ConnectionError):
    """No broker answered within the wait; nothing was sent."""


def producer_config(kafka: KafkaResource) -> dict:
    """librdkafka configuration of the generator's producer: the resource's address, client id and SASL
    settings, plus PRODUCER_SETTINGS. It holds the SASL password: never log it."""
    return {**kafka.librdkafka_options(), **PRODUCER_SETTINGS}


class ClientErrors:
    """The producer's own errors (served by poll): librdkafka retries all but fatal ones by itself, so only those
    are logged above debug; the last one explains a failed connection."""

    def __init__(self):
        self.last: KafkaError | None = None

    def __call__(self, error: KafkaError) -> None:
        if error.code() != KafkaError._ALL_BROKERS_DOWN:  # says less than the error before it
            self.last = error
        if error.fatal():
            log.error("Kafka producer failed: %s", error.str())
        else:
            log.debug("Kafka client: %s", error.str())


def connect(kafka: KafkaResource, wait_s: float = CONNECT_TIMEOUT_S) -> Producer:
    """The generator's producer, once a broker answered a metadata request; BrokerUnreachable after `wait_s`."""
    errors = ClientErrors()
    try:
        producer = Producer({**producer_config(kafka), "error_cb": errors})
    except KafkaException as exc:  # a setting librdkafka refuses (it names the setting, not a secret's value)
        raise ValueError(f"Kafka producer settings: {exc.args[0].str()}") from None
    deadline = time.monotonic() + wait_s
    while True:
        try:
            producer.list_topics(timeout=max(0.1, min(1.0, deadline - time.monotonic())))
            return producer
        except KafkaException as exc:
            producer.poll(0)  # serve the errors queued meanwhile
            if time.monotonic() >= deadline:
                reason = (errors.last or exc.args[0]).str()
                raise BrokerUnreachable(
                    f"no Kafka broker answered at {kafka.bootstrap_servers} within {wait_s:g} s ({reason})") from None


@dataclass
class PublishStats:
    sent: int = 0
    acked: int = 0
    errors: int = 0
    first_error: str | None = None
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        return self.acked / self.elapsed if self.elapsed > 0 else 0.0

    def line(self) -> str:
        return f"sent {self.sent:,}  acked {self.acked:,}  {self.rate:,.0f} ev/s  errors {self.errors:,}"

    def on_delivery(self, error: KafkaError | None, _message) -> None:
        """librdkafka's delivery report: no error means the broker acknowledged the message (acks=all)."""
        if error is None:
            self.acked += 1
            return
        self.errors += 1
        if self.first_error is None:
            self.first_error = f"{error.name()}: {error.str()}"
            log.error("Kafka did not accept an event: %s", self.first_error)


def publish(
    producer: Producer,
    topic: str,
    events: Iterable[RatingEvent],
    progress: Callable[[PublishStats], None] | None = None,
    progress_every_s: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
) -> PublishStats:
    """Send every event and flush; `acked` counts only events the broker confirmed (acks=all).

    `progress` gets the stats every `progress_every_s` seconds of `clock`, and once at the end.
    """
    stats = PublishStats()
    produce, poll, on_delivery = producer.produce, producer.poll, stats.on_delivery
    next_report = clock() + progress_every_s
    try:
        for event in events:
            key, value = event.name.encode(), event.to_json()
            while True:
                try:
                    produce(topic, value, key, on_delivery=on_delivery)
                    break
                except BufferError:  # the local queue is full: let deliveries make room
                    poll(0.05)
            stats.sent += 1
            poll(0)  # serves delivery reports (the callbacks run here, in this thread)
            if progress and clock() >= next_report:
                progress(stats)
                next_report = clock() + progress_every_s
    finally:
        # In slices: one flush() waits for a broker that is away (up to the delivery timeout) deaf to Ctrl-C.
        while producer.flush(0.5):
            pass
    if progress:
        progress(stats)
    return stats
