"""What the generator emits and when: pure logic, no Kafka.

`RatingFactory` draws (user, movie, rating) triples, `EventClock` stamps them
with the current time or a time inside a past window (for backfills and late
data), and `Pacer` spaces them to a target rate.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from ratings_assets.core.catalog import Movie
from ratings_assets.core.events import RATING_MAX, RATING_MIN, RatingEvent


# What uuid.UUID(int=..., version=4) does to the bits: variant RFC 4122 (10xx), version 4 (0100).
_UUID4_KEEP = ~((0xC000 << 48) | (0xF000 << 64))
_UUID4_SET = (0x8000 << 48) | (4 << 76)


def uuid4_text(bits: int) -> str:
    """str(uuid.UUID(int=bits, version=4)) for 128 random bits, without building the UUID (4x faster)."""
    h = "%032x" % (bits & _UUID4_KEEP | _UUID4_SET)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class RatingFactory:
    def __init__(self, movies: Sequence[Movie], users: Sequence[str], seed: int | None = None):
        if not movies or not users:
            raise ValueError("the generator needs at least one movie and one user")
        self.movies = movies
        self.users = users
        self.rng = random.Random(seed)

    def make(self, timestamp: datetime) -> RatingEvent:
        movie = self.rng.choice(self.movies)
        return RatingEvent(
            event_id=uuid4_text(self.rng.getrandbits(128)),
            name=self.rng.choice(self.users),
            movie_id=movie.movie_id,
            movie=movie.title,
            timestamp=timestamp,
            rating=self.rng.randint(RATING_MIN, RATING_MAX),
        )


@dataclass
class EventClock:
    """Event times: now, or uniformly random within [window_start, window_end)."""

    window_start: datetime | None = None
    window_end: datetime | None = None
    seed: int | None = None

    def __post_init__(self):
        if (self.window_start is None) != (self.window_end is None):
            raise ValueError("a past window needs both a start and an end")
        if self.window_start is not None and self.window_start >= self.window_end:
            raise ValueError(f"window start {self.window_start} is not before its end {self.window_end}")
        self.rng = random.Random(self.seed)

    @classmethod
    def past_hours(cls, hours: float, now: datetime | None = None, seed: int | None = None) -> EventClock:
        end = now or datetime.now(timezone.utc)
        return cls(end - timedelta(hours=hours), end, seed)

    def __call__(self) -> datetime:
        if self.window_start is None:
            return datetime.now(timezone.utc)
        span = (self.window_end - self.window_start).total_seconds()
        return self.window_start + timedelta(seconds=self.rng.random() * span)


class Pacer:
    """Holds a target rate (events/s) by sleeping until each event's due time; None means flat out."""

    def __init__(self, rate: float | None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if rate is not None and rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.rate, self.clock, self.sleep = rate, clock, sleep
        self.start = clock()
        self.count = 0

    def wait(self) -> None:
        if self.rate is not None:
            delay = self.start + self.count / self.rate - self.clock()
            if delay > 0:
                self.sleep(delay)
        self.count += 1


def generate(factory: RatingFactory, clock: EventClock, pacer: Pacer, count: int | None = None,
             duration_s: float | None = None, monotonic: Callable[[], float] = time.monotonic) -> Iterator[RatingEvent]:
    """Paced events until `count` are made or `duration_s` has passed (forever if neither)."""
    deadline = None if duration_s is None else monotonic() + duration_s
    made = 0
    while count is None or made < count:
        pacer.wait()
        if deadline is not None and monotonic() >= deadline:
            return
        yield factory.make(clock())
        made += 1
