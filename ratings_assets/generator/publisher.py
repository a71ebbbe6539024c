"""Publishes rating events to Kafka, keyed by user, and counts what the broker acknowledged."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from kafka import KafkaProducer

from ratings_assets.core.events import RatingEvent

log = logging.getLogger(__name__)

# Producer options for a generator that may start before its broker, or during a restart.
# kafka-python backs off exponentially between connection attempts (up to 30 s), so after
# ~9 s without a broker it stops trying before its 30 s bootstrap deadline: a broker back
# at 10 s would not be noticed and the generator would fail. Retry at least every second.
CONNECT_OPTIONS = {"reconnect_backoff_max_ms": 1000, "bootstrap_timeout_ms": 30_000}


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

    def on_ack(self, _metadata) -> None:
        self.acked += 1

    def on_error(self, exc: BaseException) -> None:
        self.errors += 1
        if self.first_error is None:
            self.first_error = repr(exc)
            log.error("Kafka did not accept an event: %r", exc)


def publish(
    producer: KafkaProducer,
    topic: str,
    events: Iterable[RatingEvent],
    progress: Callable[[PublishStats], None] | None = None,
    progress_every_s: float = 1.0,
) -> PublishStats:
    """Send every event and flush; `acked` counts only events the broker confirmed (acks=all)."""
    stats = PublishStats()
    next_report = stats.started + progress_every_s
    try:
        for event in events:
            future = producer.send(topic, key=event.name.encode(), value=event.to_json())
            future.add_callback(stats.on_ack).add_errback(stats.on_error)
            stats.sent += 1
            if progress and time.monotonic() >= next_report:
                progress(stats)
                next_report = time.monotonic() + progress_every_s
    finally:
        producer.flush()
    if progress:
        progress(stats)
    return stats
