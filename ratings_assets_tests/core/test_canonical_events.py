"""read_canonical against parse_event, the one definition of a valid event.

Whatever read_canonical reads must be what parse_event returns for it, and
every message in the generator's ASCII form must be read (else the stream
silently loses its fast path).
"""

import json
from datetime import datetime, timedelta, timezone

import pyarrow as pa
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ratings_assets.core.canonical_events import read_canonical
from ratings_assets.core.events import DEFAULT_MAX_FUTURE, InvalidEvent, RatingEvent, parse_event
from ratings_assets.core.tables import hour_bucket

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
GOOD = {"event_id": "0d9b8b0e-3c1f-4e59-8d2e-3b7c3d0f9a11", "name": "Ada Lovelace", "movie_id": 42,
        "movie": "Alice in Wonderland", "timestamp": "2026-11-25T10:30:00.123+00:00", "rating": 7}


def compact(doc: dict) -> bytes:
    """The generator's layout, whatever the values (RatingEvent.to_json for well-typed ones)."""
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")


def expected_fields(raw: bytes) -> dict | None:
    """What parse_event makes of `raw`, in read_canonical's columns; None if it rejects it."""
    try:
        event = parse_event(raw, now=NOW)
    except InvalidEvent:
        return None
    return {"event_id": event.event_id, "name": event.name, "movie_id": event.movie_id, "movie": event.movie,
            "time": event.time, "hour": event.hour, "bucket": hour_bucket(event.name), "rating": event.rating}


def read_fields(values: list[bytes | None]) -> list[dict | None]:
    """read_canonical's result per message: its fields, or None where it left the message to parse_event."""
    canonical = read_canonical(pa.array(values, pa.binary()), NOW)
    rows = iter(pa.table(canonical.columns).to_pylist())
    return [next(rows) if read else None for read in canonical.read.to_pylist()]


def is_canonical_ascii(raw: bytes) -> bool:
    """The generator's exact bytes for a valid event in UTC, printable ASCII without escapes."""
    try:
        event = parse_event(raw, now=NOW)
    except InvalidEvent:
        return False
    in_utc = event.timestamp.utcoffset() == timedelta(0)
    return raw == event.to_json() and in_utc and raw.isascii() and b"\\" not in raw


def check(values: list[bytes | None]) -> None:
    for raw, fields in zip(values, read_fields(values), strict=True):
        if fields is not None:
            assert fields == expected_fields(raw), raw
        else:
            assert raw is None or not is_canonical_ascii(raw), f"canonical but not read: {raw!r}"


def test_generator_events_are_all_read_with_parse_events_values():
    from ratings_assets.core.catalog import Movie
    from ratings_assets.generator.ratings import RatingFactory

    movies = [Movie(i, title, 2000, 90, "", "Drama", 7.0, 10) for i, title in
              enumerate(["Heat", "$40,000", "'?' Motorist, The", "Amélie", 'The "Quoted"'], start=1)]
    factory = RatingFactory(movies, ["Ada", "Zoë Smith", "Bob O'Neil"], seed=3)
    values = [factory.make(NOW - timedelta(minutes=i)).to_json() for i in range(300)]
    fields = read_fields(values)
    check(values)
    ascii_values = [raw for raw in values if raw.isascii() and b"\\" not in raw]
    assert ascii_values and sum(f is not None for f in fields) == len(ascii_values)


text = st.one_of(
    st.text(max_size=12),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x7f), max_size=12),
    st.sampled_from([" ", "   ", "a b", "x" * 128, "x" * 129, "x" * 256, "x" * 257, "x" * 1024, "x" * 1025,
                     'say "hi"', "back\\slash", "tab\there", "del\x7f", "\ud800"]),
)
integer = st.one_of(st.integers(-3, 13), st.integers(2**31 - 3, 2**31 + 3), st.integers(), st.booleans(),
                    st.floats(allow_nan=False), st.text(max_size=3))
timestamp = st.one_of(
    st.datetimes(datetime(1850, 1, 1), datetime(2100, 1, 1), timezones=st.just(timezone.utc))
    .map(lambda t: t.isoformat(timespec="milliseconds")),
    st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}\+00:00\Z"),
    st.sampled_from(["2026-11-25T10:30:00Z", "2026-11-25T10:30:00.123+02:00", "2026-11-25T10:30:00+00:00",
                     "2026-02-29T00:00:00.000+00:00", "2024-02-29T00:00:00.000+00:00", "0000-01-01T00:00:00.000+00:00",
                     "1899-12-31T23:59:59.999+00:00", "1900-01-01T00:00:00.000+00:00", "2026-11-25T23:59:60.000+00:00",
                     (NOW + DEFAULT_MAX_FUTURE).isoformat(timespec="milliseconds"),
                     (NOW + DEFAULT_MAX_FUTURE + timedelta(milliseconds=1)).isoformat(timespec="milliseconds")]),
)
field_values = {"event_id": text, "name": text, "movie_id": integer, "movie": text, "timestamp": timestamp,
                "rating": integer}


@st.composite
def messages(draw) -> bytes | None:
    """A good event with some fields redrawn, some dropped or reordered, some bytes changed; or no value."""
    if draw(st.integers(0, 30)) == 0:
        return None
    doc = dict(GOOD)
    for key in draw(st.lists(st.sampled_from(list(GOOD)), unique=True, max_size=3)):
        doc[key] = draw(field_values[key])
    if draw(st.integers(0, 9)) == 0:
        doc.pop(draw(st.sampled_from(list(doc))))
    if draw(st.integers(0, 9)) == 0:
        doc = dict(reversed(list(doc.items())))
    raw = compact(doc)
    for _ in range(draw(st.integers(0, 2)) if draw(st.booleans()) else 0):
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.binary(max_size=2)) + raw[at + draw(st.integers(0, 2)):]
    return raw


@settings(max_examples=300, deadline=None)
@given(st.lists(messages(), min_size=1, max_size=40))
@example([compact({**GOOD, "timestamp": "2026-02-30T00:00:00.000+00:00"}), compact(GOOD)])
@example([compact({**GOOD, "movie_id": 2**31}), compact({**GOOD, "movie_id": 2**31 - 1})])
def test_what_is_read_is_what_parse_event_returns(values):
    check(values)


def test_an_empty_array_reads_nothing():
    canonical = read_canonical(pa.array([], pa.binary()), NOW)
    assert len(canonical.read) == 0 and all(len(column) == 0 for column in canonical.columns.values())


def test_a_bad_date_among_good_ones_is_left_alone_and_the_rest_read():
    bad = compact({**GOOD, "timestamp": "2026-02-30T00:00:00.000+00:00"})
    assert read_fields([compact(GOOD), bad, compact(GOOD)])[1] is None
    assert read_fields([compact(GOOD), bad])[0] == expected_fields(compact(GOOD))


def test_a_good_event_written_by_to_json_round_trips():
    event = parse_event(compact(GOOD), now=NOW)
    assert isinstance(event, RatingEvent) and event.to_json() == compact(GOOD)
    assert read_fields([event.to_json()]) == [expected_fields(compact(GOOD))]
