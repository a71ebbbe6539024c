import json
import random
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ratings_assets.core.catalog import Movie
from ratings_assets.core.events import RatingEvent, parse_event
from ratings_assets.generator.ratings import EventClock, Pacer, RatingFactory, generate, uuid4_text

MOVIES = [Movie(i, f"Movie {i}", 2000, 90 + i, "", "Drama", 6.5, 10) for i in range(1, 21)]
USERS = ["Ada", "Grace", "Linus"]
NOW = datetime(2025, 3, 15, 12, tzinfo=timezone.utc)


def factory(seed=1):
    return RatingFactory(MOVIES, USERS, seed=seed)


def test_events_follow_the_schema_and_parse_back():
    for _ in range(200):
        event = factory(None).make(NOW)
        parsed = parse_event(event.to_json(), now=NOW)
        assert 1 <= parsed.rating <= 10 and parsed.name in USERS
        assert MOVIES[parsed.movie_id - 1].title == parsed.movie


def test_same_seed_same_events_and_unique_ids():
    first, second = factory(3), factory(3)
    a = [first.make(NOW) for _ in range(1000)]
    b = [second.make(NOW) for _ in range(1000)]
    assert a == b
    assert len({e.event_id for e in a}) == 1000
    assert {e.rating for e in a} == set(range(1, 11))


def test_past_window_times_stay_in_the_window():
    clock = EventClock.past_hours(3, now=NOW, seed=1)
    times = [clock() for _ in range(1000)]
    assert all(NOW - timedelta(hours=3) <= t < NOW for t in times)
    assert len({t.hour for t in times}) == 3


def test_window_must_be_ordered():
    with pytest.raises(ValueError, match="not before"):
        EventClock(NOW, NOW - timedelta(hours=1))


class FakeTime:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_pacer_holds_the_rate():
    fake = FakeTime()
    pacer = Pacer(50.0, clock=fake, sleep=fake.sleep)
    for _ in range(501):
        pacer.wait()
    assert fake.now == pytest.approx(10.0)


def test_unpaced_never_sleeps():
    fake = FakeTime()
    pacer = Pacer(None, clock=fake, sleep=fake.sleep)
    for _ in range(100):
        pacer.wait()
    assert fake.now == 0.0


def test_count_and_duration_limits():
    fake = FakeTime()
    events = list(generate(factory(), EventClock(), Pacer(10.0, clock=fake, sleep=fake.sleep), count=25, monotonic=fake))
    assert len(events) == 25
    fake = FakeTime()
    timed = list(generate(factory(), EventClock(), Pacer(10.0, clock=fake, sleep=fake.sleep), duration_s=3.0, monotonic=fake))
    assert len(timed) == 30


def test_event_ids_are_the_uuid4_the_uuid_module_makes():
    rng = random.Random(5)
    for bits in [0, 2**128 - 1] + [rng.getrandbits(128) for _ in range(10_000)]:
        assert uuid4_text(bits) == str(uuid.UUID(int=bits, version=4))


def json_dumps(event: RatingEvent) -> bytes:
    """What to_json wrote before it was made faster: the bytes the stream's parser has always read."""
    return json.dumps(event.to_dict(), ensure_ascii=False, separators=(",", ":")).encode()


@given(st.builds(
    RatingEvent,
    event_id=st.text(max_size=40),
    name=st.text(max_size=40),  # quotes, backslashes, control characters, non-ASCII
    movie_id=st.integers(-(2**40), 2**40),
    movie=st.text(max_size=40),
    timestamp=st.datetimes(timezones=st.timezones()),
    rating=st.integers(-20, 20),
))
def test_to_json_writes_the_bytes_json_dumps_writes(event):
    assert event.to_json() == json_dumps(event)


@pytest.mark.parametrize("odd", [dict(rating=True), dict(movie_id=7.0), dict(name=None)])
def test_to_json_of_fields_with_other_types_is_still_json_dumps(odd):
    event = RatingEvent(**{**factory().make(NOW).__dict__, **odd})
    assert event.to_json() == json_dumps(event)
