import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ratings_assets.core.events import InvalidEvent, RatingEvent, Reason, decode_json, parse_event

NOW = datetime(2025, 3, 15, 12, 0, tzinfo=timezone.utc)
GOOD = {
    "event_id": "e-1",
    "name": "Ada Lovelace",
    "movie_id": 42,
    "movie": "Alice in Wonderland",
    "timestamp": "2025-03-15T10:30:00.123+00:00",
    "rating": 7,
}


def doc(**changes):
    body = {**GOOD, **changes}
    return json.dumps({k: v for k, v in body.items() if v is not ...})


def test_valid_event_parses_with_utc_time_and_hour():
    event = parse_event(doc(timestamp="2025-03-15T12:30:00.123+02:00"), now=NOW)
    assert event.rating == 7 and event.movie_id == 42 and event.name == "Ada Lovelace"
    assert event.time == datetime(2025, 3, 15, 10, 30, 0, 123000, tzinfo=timezone.utc)
    assert event.hour == datetime(2025, 3, 15, 10, tzinfo=timezone.utc)


def test_zulu_suffix_is_utc():
    assert parse_event(doc(timestamp="2025-03-15T10:00:00Z"), now=NOW).hour.hour == 10


@pytest.mark.parametrize(
    "raw, reason",
    [
        (b"{not json", Reason.MALFORMED_JSON),
        (b"\xff\xfe", Reason.MALFORMED_JSON),
        (b"", Reason.MALFORMED_JSON),
        (b'{"rating": NaN}', Reason.MALFORMED_JSON),
        (b"[1, 2]", Reason.NOT_AN_OBJECT),
        (doc(rating=...), Reason.MISSING_FIELD),
        (doc(name=None), Reason.MISSING_FIELD),
        (doc(extra=1), Reason.UNEXPECTED_FIELD),
        (doc(rating="7"), Reason.WRONG_TYPE),
        (doc(rating=7.0), Reason.WRONG_TYPE),
        (doc(rating=True), Reason.WRONG_TYPE),
        (doc(movie_id="42"), Reason.WRONG_TYPE),
        (doc(name=5), Reason.WRONG_TYPE),
        (doc(rating=0), Reason.RATING_OUT_OF_RANGE),
        (doc(rating=11), Reason.RATING_OUT_OF_RANGE),
        (doc(name=""), Reason.BAD_NAME),
        (doc(name="   "), Reason.BAD_NAME),
        (doc(name="x" * 257), Reason.BAD_NAME),
        (doc(name="bell\x07"), Reason.BAD_NAME),
        (doc(event_id=""), Reason.BAD_EVENT_ID),
        (doc(movie_id=0), Reason.UNKNOWN_MOVIE),
        (doc(movie_id=2**31), Reason.UNKNOWN_MOVIE),
        (doc(timestamp="yesterday"), Reason.BAD_TIMESTAMP),
        (doc(timestamp="2025-03-15T10:00:00"), Reason.BAD_TIMESTAMP),
        (doc(timestamp="2025-03-15T12:11:00+00:00"), Reason.FUTURE_TIMESTAMP),
        # Inputs that used to raise something other than InvalidEvent (and stall the stream):
        (b"[" * 100_000 + b"]" * 100_000, Reason.MALFORMED_JSON),  # RecursionError
        (doc(name="Ada \ud800"), Reason.BAD_NAME),  # lone surrogate escape
        (doc(event_id="\udfff"), Reason.BAD_EVENT_ID),
        (doc(movie="\udc00"), Reason.BAD_TITLE),
        (doc(timestamp="0001-01-01T00:00:00+14:00"), Reason.BAD_TIMESTAMP),  # OverflowError in UTC
        (doc(timestamp="9999-12-31T23:59:59-14:00"), Reason.BAD_TIMESTAMP),
        (doc(timestamp="0001-01-01T00:00:00+00:00"), Reason.BAD_TIMESTAMP),  # stopped the stream in Spark
        (doc(timestamp="1582-10-10T12:00:00+00:00"), Reason.BAD_TIMESTAMP),  # stored days off
        (doc(timestamp="1899-12-31T23:59:59.999+00:00"), Reason.BAD_TIMESTAMP),
    ],
)
def test_invalid_events_are_rejected_with_their_reason(raw, reason):
    with pytest.raises(InvalidEvent) as caught:
        parse_event(raw, now=NOW)
    assert caught.value.reason == reason
    assert caught.value.detail


def test_odd_but_legal_content_is_kept_intact():
    name = "Zoë O'Brien \"the critic\" 東京 🎬"
    event = parse_event(doc(name=name, movie="Amélie"), now=NOW)
    assert event.name == name and event.movie == "Amélie"


def test_old_but_plausible_times_are_kept():
    assert parse_event(doc(timestamp="1900-01-01T00:00:00+00:00"), now=NOW).time.year == 1900
    assert parse_event(doc(timestamp="1969-12-31T23:59:59.999-00:30"), now=NOW).time.year == 1970


def test_small_clock_skew_is_tolerated():
    ahead = (NOW + timedelta(minutes=5)).isoformat()
    assert parse_event(doc(timestamp=ahead), now=NOW).timestamp == NOW + timedelta(minutes=5)


events = st.builds(
    RatingEvent,
    event_id=st.uuids().map(str),
    name=st.text(st.characters(min_codepoint=32, blacklist_categories=("Cs",), blacklist_characters="\x7f"), min_size=1, max_size=60).filter(str.strip),
    movie_id=st.integers(1, 58788),
    movie=st.text(st.characters(min_codepoint=32, blacklist_categories=("Cs",), blacklist_characters="\x7f"), min_size=1, max_size=60).filter(str.strip),
    timestamp=st.datetimes(datetime(2000, 1, 1), datetime(2025, 1, 1), timezones=st.timezones()).filter(lambda ts: ts.utcoffset() is not None),
    rating=st.integers(1, 10),
)


@given(events)
def test_every_generated_event_round_trips(event):
    parsed = parse_event(event.to_json(), now=NOW)
    assert (parsed.event_id, parsed.name, parsed.movie_id, parsed.movie, parsed.rating) == (
        event.event_id, event.name, event.movie_id, event.movie, event.rating)
    assert parsed.time == event.time


@given(st.binary(max_size=300))
def test_arbitrary_bytes_are_either_an_event_or_a_reason(raw):
    try:
        parse_event(raw, now=NOW)
    except InvalidEvent as exc:
        assert isinstance(exc.reason, Reason)


@pytest.mark.parametrize("raw", [doc(**{"x\ud800": 1}), doc(timestamp="2099-01-01\ud80010:00:00+00:00")])
def test_details_quoting_lone_surrogates_can_be_written_as_utf8(raw):
    with pytest.raises(InvalidEvent) as caught:
        parse_event(raw, now=NOW)
    assert caught.value.detail.encode("utf-8")
    assert "\\ud800" in caught.value.detail


def test_a_surrogate_pair_escape_is_one_legal_character():
    assert parse_event(doc(name="Fan \U0001F3AC"), now=NOW).name == "Fan \U0001F3AC"


# decode_json: orjson first, the standard library for what orjson refuses. Its results and errors must be json.loads's.
def _stdlib(raw):
    def refuse(token):
        raise ValueError(token)
    return json.loads(raw, parse_constant=refuse)


def _outcome(decode, raw):
    """repr of the document (tells 1 from 1.0, -0.0 from 0.0, key order), or the error's type and text."""
    try:
        return "ok", repr(decode(raw))
    except RecursionError:
        return "error", "RecursionError"
    except (ValueError, UnicodeDecodeError) as exc:
        return "error", type(exc).__name__


any_text = st.lists(st.integers(0, 0x10FFFF), max_size=12).map(lambda cps: "".join(map(chr, cps)))  # lone surrogates too
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(-(2**80), 2**80) | st.floats(allow_nan=False) | any_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=12,
)


@st.composite
def json_documents(draw):
    """Texts a producer might send: valid JSON in several encodings, with duplicate keys, or one character off."""
    text = json.dumps(draw(json_values), ensure_ascii=draw(st.booleans()))
    if draw(st.booleans()) and text.startswith("{") and len(text) > 2:
        text = text[:-1] + "," + text[1:]  # every key twice: the last one wins
    if draw(st.booleans()):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(['"', "\\", "\x00", "NaN", "-Infinity", "1e999", " ", "]"])) + text[at:]
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32-le", "str"]))
    return text if encoding == "str" else text.encode(encoding, "surrogatepass")


@given(json_documents() | st.binary(max_size=200))
def test_decode_json_agrees_with_the_standard_library(raw):
    assert _outcome(decode_json, raw) == _outcome(_stdlib, raw)


@pytest.mark.parametrize("raw", [b'{"a": 1, "a": 2}', b'{"n": 1e400}', b'{"n": 123456789012345678901234567890}',
                                 b"18446744073709551616", b"-9223372036854775809", b"[0.1000000000000000055511151231257827]",
                                 b'"\\ud800"', b"\xef\xbb\xbf{}", b"[" * 2000 + b"]" * 2000, b'{"x": NaN}'])
def test_decode_json_agrees_on_what_orjson_reads_differently(raw):
    assert _outcome(decode_json, raw) == _outcome(_stdlib, raw)
