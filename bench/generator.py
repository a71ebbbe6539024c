"""The project's generator as the benchmark's load: a flat-out preload and a paced feed.

The preload is also measurement 2, "generator alone": `generate` with
Pacer(None) into `publish` with the generator's producer (`publisher.connect`:
confluent-kafka, acks=all, idempotent), with nothing else running in the
benchmark at that moment.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from ratings_assets.core.catalog import Movie
from ratings_assets.generator.publisher import PublishStats, connect, publish
from ratings_assets.generator.ratings import EventClock, Pacer, RatingFactory, generate
from ratings_assets.resources.kafka import KafkaResource


@dataclass(frozen=True)
class Workload:
    """Who rates what: the same movies and users for every measurement of a benchmark run."""

    movies: list[Movie]
    users: list[str]
    seed: int

    def factory(self, salt: int) -> RatingFactory:
        return RatingFactory(self.movies, self.users, seed=self.seed * 1000 + salt)


@dataclass(frozen=True)
class PublishResult:
    acked: int
    errors: int
    seconds: float
    first_error: str | None

    @property
    def rate(self) -> float:
        return self.acked / self.seconds if self.seconds > 0 else 0.0

    @classmethod
    def of(cls, stats: PublishStats, seconds: float) -> PublishResult:
        return cls(stats.acked, stats.errors, seconds, stats.first_error)


def preload(kafka: KafkaResource, topic: str, workload: Workload, salt: int, count: int,
            window: tuple[datetime, datetime]) -> PublishResult:
    """`count` events with event times inside `window`, as fast as the generator goes; acked, then timed."""
    events = generate(workload.factory(salt), EventClock(*window, seed=salt), Pacer(None), count=count)
    producer = connect(kafka)
    started = time.monotonic()
    stats = publish(producer, topic, events)
    seconds = time.monotonic() - started
    if stats.acked != count:
        raise RuntimeError(f"preload of {topic}: {stats.acked:,} of {count:,} events acknowledged ({stats.first_error})")
    return PublishResult.of(stats, seconds)


@dataclass
class PacedFeed:
    """Events stamped 'now' at `rate` per second for `seconds`, published from a background thread."""

    kafka: KafkaResource
    topic: str
    workload: Workload
    salt: int
    rate: float
    seconds: float
    result: PublishResult | None = None
    started_at: float | None = None  # time.time() of the first event
    _thread: threading.Thread | None = field(default=None, repr=False)
    _error: BaseException | None = field(default=None, repr=False)

    def start(self) -> PacedFeed:
        self._thread = threading.Thread(target=self._run, name=f"feed-{self.topic}", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            producer = connect(self.kafka)
            events = generate(self.workload.factory(self.salt), EventClock(), Pacer(self.rate), duration_s=self.seconds)
            self.started_at = time.time()
            began = time.monotonic()
            stats = publish(producer, self.topic, events)
            self.result = PublishResult.of(stats, time.monotonic() - began)
        except BaseException as exc:  # noqa: BLE001 - re-raised by join()
            self._error = exc

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def join(self, timeout: float | None = None) -> PublishResult:
        assert self._thread is not None, "start() first"
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"the feed of {self.topic} did not finish within {timeout} s")
        if self._error is not None:
            raise self._error
        return self.result
