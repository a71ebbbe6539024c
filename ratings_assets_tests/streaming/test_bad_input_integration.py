"""Bad input from an outside producer: thousands of malformed messages among valid ones with odd content.

Written with a plain kafka-python KafkaProducer (not the project's publisher),
streamed with the real job on the real services, and counted exactly on both
sides: every valid event is one row (its name stored byte for byte), every
invalid message is one dead letter with the expected reason, its original
bytes and the coordinates of the source message. A second run on the same
checkpoint changes nothing.
"""

from __future__ import annotations

import json
import random
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from kafka import KafkaProducer

from ratings_assets.core.catalog import read_catalog
from ratings_assets.core.events import Reason
from ratings_assets.paths import CATALOG_CSV
from ratings_assets.streaming.job import run_stream
from ratings_assets_tests.stored_rows import user_hours_of_index
from ratings_assets_tests.streaming.topics import headers_of, read_topic

pytestmark = pytest.mark.integration

COPIES = 50  # of each invalid variant
VALID_PER_NAME = 40
NOW = datetime.now(timezone.utc)
CATALOG = read_catalog(CATALOG_CSV)
MOVIE_IDS = sorted(CATALOG)
NOT_IN_CATALOG = (10**9, 99_999_999)

# Odd but legal user names: several scripts, emoji, quotes, backslashes, apostrophes.
ODD_NAMES = [
    "José Ñúñez", "Zoë Saldaña", "Zoe\u0308 Saldan\u0303a",  # precomposed and decomposed: two different users
    "Дмитрий Шостакович", "李小龙", "佐藤 健", "محمد صلاح", "עדי כהן", "Ελένη Παπαδοπούλου",
    "राज कपूर", "김민수", "ธนาธร จึงรุ่งเรืองกิจ", "Ἀριστοτέλης", "Łukasz Żółć", "Þórr Ægisson",
    "🎬 Movie Fan 🍿", "👩🏽‍💻 Dev", "🇫🇷 Amélie", "O'Brien", "D'Angelo O'Neil-Smith",
    'Dwayne "The Rock" Johnson', "back\\slash", "C:\\Users\\ada\\", "both \"double\" and 'single'",
    "Robert'); DROP TABLE records;--", "<b>bold</b> & co", "tab\u00a0nbsp\u00a0name",
    "  padded name  ", "\u200fرتل\u200f", "zero\u200dwidth\u200cjoiners", "line\u2028separator",
    "ß" * 256,  # exactly MAX_NAME_LENGTH characters (512 bytes)
    "😀" * 256,  # 256 characters, 1,024 bytes
    "Ada Lovelace", "%s %d {0} ${name}", "null", "ünïcödé ☃ ★ ♞ ∑ ∞",
]


# Old but legal event times (MIN_EVENT_TIME is 1900-01-01 UTC); they must be stored to the millisecond.
OLD_TIMES = [datetime(1900, 1, 1, tzinfo=timezone.utc), datetime(1969, 12, 31, 23, 59, 59, 999000, timezone.utc)]


def valid_doc(rng: random.Random, name: str) -> dict:
    movie_id = rng.choice(MOVIE_IDS)
    offset = rng.choice(["+00:00", "+05:30", "-08:00", "+14:00", "-00:30", "Z"])
    moment = NOW - timedelta(seconds=rng.uniform(60, 3 * 3600))
    if rng.random() < 0.02:
        moment = rng.choice(OLD_TIMES)
    tz = timezone.utc if offset == "Z" else datetime.strptime(offset, "%z").tzinfo
    stamp = moment.astimezone(tz).isoformat(timespec=rng.choice(["seconds", "milliseconds", "microseconds"]))
    return {
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "name": name,
        "movie_id": movie_id,
        # The title is the producer's; the stored one comes from the catalog.
        "movie": rng.choice([CATALOG[movie_id].title, "Amélie 🎥 \"quoted\" \\ title", "any title"]),
        "timestamp": stamp.replace("+00:00", "Z") if offset == "Z" else stamp,
        "rating": rng.randint(1, 10),
    }


def encode(doc: dict, rng: random.Random) -> bytes:
    """Legal JSON in several spellings: raw UTF-8, \\u escapes (emoji as surrogate pairs), pretty, reordered."""
    style = rng.randrange(4)
    if style == 1:
        return json.dumps(doc).encode()  # ensure_ascii: every non-ASCII character escaped
    if style == 2:
        return json.dumps(doc, ensure_ascii=False, indent=2).encode()
    if style == 3:
        items = list(doc.items())
        rng.shuffle(items)
        return json.dumps(dict(items), ensure_ascii=False).encode()
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def _with(doc: dict, **changes) -> bytes:
    return json.dumps({**doc, **changes}, ensure_ascii=False).encode()


def _without(doc: dict, field: str) -> bytes:
    return json.dumps({k: v for k, v in doc.items() if k != field}).encode()


def _escaped(doc: dict, **changes) -> bytes:
    """JSON with \\u escapes, so lone surrogates stay escapes (valid JSON text, not valid Unicode)."""
    return json.dumps({**doc, **changes}, ensure_ascii=True).encode()


# (label, reason, doc -> message value); each variant is sent COPIES times with fresh base documents.
INVALID = [
    ("truncated json", Reason.MALFORMED_JSON, lambda d: _with(d)[:-7]),
    ("not json", Reason.MALFORMED_JSON, lambda d: b"rating=7 name=Ada"),
    ("trailing comma", Reason.MALFORMED_JSON, lambda d: _with(d)[:-1] + b",}"),
    ("NaN rating", Reason.MALFORMED_JSON, lambda d: _with(d)[:-1].replace(b'"rating":', b'"rating": NaN, "x":') + b"}"),
    ("invalid utf-8", Reason.MALFORMED_JSON, lambda d: _with(d).replace(b'"name": "', b'"name": "\xff\xfe')),
    ("empty bytes", Reason.MALFORMED_JSON, lambda d: b""),
    ("tombstone", Reason.MALFORMED_JSON, lambda d: None),
    ("deeply nested", Reason.MALFORMED_JSON, lambda d: b"[" * 100_000 + b"]" * 100_000),
    ("json array", Reason.NOT_AN_OBJECT, lambda d: json.dumps(list(d.values())).encode()),
    ("json string", Reason.NOT_AN_OBJECT, lambda d: json.dumps(json.dumps(d)).encode()),
    ("json number", Reason.NOT_AN_OBJECT, lambda d: b"42"),
    ("json null", Reason.NOT_AN_OBJECT, lambda d: b"null"),
    *[(f"missing {f}", Reason.MISSING_FIELD, lambda d, f=f: _without(d, f))
      for f in ("event_id", "name", "movie_id", "movie", "timestamp", "rating")],
    ("null rating", Reason.MISSING_FIELD, lambda d: _with(d, rating=None)),
    ("empty object", Reason.MISSING_FIELD, lambda d: b"{}"),
    ("extra field", Reason.UNEXPECTED_FIELD, lambda d: _with(d, user_id=17)),
    ("lone surrogate key", Reason.UNEXPECTED_FIELD, lambda d: _escaped(d, **{"x\ud800": 1})),
    ("movie_id as string", Reason.WRONG_TYPE, lambda d: _with(d, movie_id=str(d["movie_id"]))),
    ("name as number", Reason.WRONG_TYPE, lambda d: _with(d, name=12345)),
    ("timestamp as epoch", Reason.WRONG_TYPE, lambda d: _with(d, timestamp=1_700_000_000)),
    ("event_id as object", Reason.WRONG_TYPE, lambda d: _with(d, event_id={"id": 1})),
    ("rating 7.5", Reason.WRONG_TYPE, lambda d: _with(d, rating=7.5)),
    ("rating 7.0", Reason.WRONG_TYPE, lambda d: _with(d, rating=7.0)),
    ('rating "7"', Reason.WRONG_TYPE, lambda d: _with(d, rating="7")),
    ("rating true", Reason.WRONG_TYPE, lambda d: _with(d, rating=True)),
    ("rating 0", Reason.RATING_OUT_OF_RANGE, lambda d: _with(d, rating=0)),
    ("rating 11", Reason.RATING_OUT_OF_RANGE, lambda d: _with(d, rating=11)),
    ("rating -3", Reason.RATING_OUT_OF_RANGE, lambda d: _with(d, rating=-3)),
    *[(f"movie {m}", Reason.UNKNOWN_MOVIE, lambda d, m=m: _with(d, movie_id=m))
      for m in (*NOT_IN_CATALOG, 2**31, 2**63, 0, -5)],
    ("unparseable timestamp", Reason.BAD_TIMESTAMP, lambda d: _with(d, timestamp="yesterday at noon")),
    ("impossible date", Reason.BAD_TIMESTAMP, lambda d: _with(d, timestamp="2025-13-45T10:00:00+00:00")),
    ("naive timestamp", Reason.BAD_TIMESTAMP, lambda d: _with(d, timestamp="2025-03-15T10:00:00")),
    ("timestamp out of range in UTC", Reason.BAD_TIMESTAMP, lambda d: _with(d, timestamp="0001-01-01T00:00:00+14:00")),
    ("timestamp in year 1", Reason.BAD_TIMESTAMP, lambda d: _with(d, timestamp="0001-01-01T00:00:00+00:00")),
    ("timestamp before the calendar switch", Reason.BAD_TIMESTAMP,
     lambda d: _with(d, timestamp="1582-10-10T12:00:00+00:00")),
    ("timestamp a day ahead", Reason.FUTURE_TIMESTAMP,
     lambda d: _with(d, timestamp=(NOW + timedelta(days=1)).isoformat())),
    ("future timestamp, odd separator", Reason.FUTURE_TIMESTAMP,
     lambda d: _escaped(d, timestamp=f"{NOW + timedelta(days=1):%Y-%m-%d}\ud80010:00:00+00:00")),
    ("empty name", Reason.BAD_NAME, lambda d: _with(d, name="")),
    ("whitespace name", Reason.BAD_NAME, lambda d: _with(d, name=" \t  ")),
    ("300-character name", Reason.BAD_NAME, lambda d: _with(d, name="x" * 300)),
    ("name with NUL", Reason.BAD_NAME, lambda d: _with(d, name="Ada\x00")),
    ("name with newline", Reason.BAD_NAME, lambda d: _with(d, name="Ada\nLovelace")),
    ("name with DEL", Reason.BAD_NAME, lambda d: _with(d, name="Ada\x7f")),
    ("name with ESC", Reason.BAD_NAME, lambda d: _with(d, name="\x1b[31mAda")),
    ("lone surrogate name", Reason.BAD_NAME, lambda d: _escaped(d, name="Ada \ud800")),
    ("empty event_id", Reason.BAD_EVENT_ID, lambda d: _with(d, event_id="")),
    ("129-character event_id", Reason.BAD_EVENT_ID, lambda d: _with(d, event_id="e" * 129)),
    ("lone surrogate event_id", Reason.BAD_EVENT_ID, lambda d: _escaped(d, event_id="\udfff")),
    ("empty title", Reason.BAD_TITLE, lambda d: _with(d, movie=" ")),
]


@dataclass(frozen=True)
class Sent:
    value: bytes | None
    reason: str | None  # None: valid
    doc: dict | None  # the valid event


@pytest.fixture(scope="module")
def injected(kafka, isolated):
    """The messages, shuffled, from a plain KafkaProducer; returns {(partition, offset): Sent}."""
    kafka.ensure_topic(isolated["topic"], 4, 1)
    kafka.ensure_topic(isolated["dlq_topic"], 1, 1)
    assert not set(NOT_IN_CATALOG) & set(CATALOG)
    rng = random.Random(20250315)
    messages: list[Sent] = []
    for name in ODD_NAMES:
        for _ in range(VALID_PER_NAME):
            doc = valid_doc(rng, name)
            messages.append(Sent(encode(doc, rng), None, doc))
    for _label, reason, make in INVALID:
        for _ in range(COPIES):
            messages.append(Sent(make(valid_doc(rng, rng.choice(ODD_NAMES))), str(reason), None))
    rng.shuffle(messages)

    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all", linger_ms=10,
                             max_request_size=4 * 1024 * 1024)
    try:
        futures = [
            # A tombstone (null value) needs a key; other messages have none, a shared one or their own.
            (producer.send(isolated["topic"], value=m.value,
                           key=b"gone" if m.value is None else rng.choice([None, b"k", str(i).encode()])), m)
            for i, m in enumerate(messages)
        ]
        producer.flush()
        by_coordinates = {}
        for future, message in futures:
            meta = future.get(timeout=60)
            by_coordinates[(meta.partition, meta.offset)] = message
    finally:
        producer.close()
    assert len(by_coordinates) == len(messages)
    return by_coordinates


def run_available_now(spark, kafka, cassandra, drain_config):
    run_stream(spark, kafka, cassandra, drain_config(max_offsets_per_trigger=1500))  # several micro-batches


@pytest.fixture(scope="module")
def streamed(spark, kafka, cassandra, injected, drain_config):
    run_available_now(spark, kafka, cassandra, drain_config)
    return injected


def stored_rows(cassandra, keyspace: str) -> tuple[list, set]:
    """The rows of records, and the (name, hour) pairs of the users_by_hour index."""
    with cassandra.session(keyspace) as session:
        rows = session.execute("SELECT event_id, name, movie_id, movie, rating, time, hour FROM records", timeout=120).all()
        indexed = user_hours_of_index(session, keyspace)
    return rows, indexed


def test_each_valid_event_is_one_row_with_its_name_byte_for_byte(streamed, cassandra, isolated):
    valid = {m.doc["event_id"]: m.doc for m in streamed.values() if m.reason is None}
    assert len(valid) == len(ODD_NAMES) * VALID_PER_NAME
    rows, indexed = stored_rows(cassandra, isolated["keyspace"])
    assert len(rows) == len(valid)
    assert indexed == {(row.name, row.hour.replace(tzinfo=timezone.utc)) for row in rows}
    assert {row.event_id for row in rows} == set(valid)
    for row in rows:
        doc = valid[row.event_id]
        assert row.name.encode("utf-8") == doc["name"].encode("utf-8")
        assert (row.movie_id, row.rating) == (doc["movie_id"], doc["rating"])
        assert row.movie == CATALOG[doc["movie_id"]].title
        sent_time = datetime.fromisoformat(doc["timestamp"]).astimezone(timezone.utc)
        assert row.time.replace(tzinfo=timezone.utc) == sent_time.replace(microsecond=sent_time.microsecond // 1000 * 1000)
    assert Counter(row.name for row in rows) == {name: VALID_PER_NAME for name in ODD_NAMES}


def test_each_invalid_message_is_one_dead_letter_with_its_bytes_reason_and_source(streamed, kafka, isolated):
    invalid = {coords: m for coords, m in streamed.items() if m.reason is not None}
    assert len(invalid) == len(INVALID) * COPIES
    source = {(r.partition, r.offset): r.value for r in read_topic(kafka.bootstrap_servers, isolated["topic"])}
    assert len(source) == len(streamed)
    dead = read_topic(kafka.bootstrap_servers, isolated["dlq_topic"])
    assert len(dead) == len(invalid)

    seen = set()
    for letter in dead:
        headers = headers_of(letter)
        coords = (int(headers["source_partition"]), int(headers["source_offset"]))
        assert coords not in seen
        seen.add(coords)
        assert letter.key == f"{coords[0]}:{coords[1]}".encode()
        assert headers["source_topic"] == isolated["topic"].encode()
        sent = invalid[coords]
        assert letter.value == sent.value  # the original bytes, unchanged (None for the tombstone)
        assert source[coords] == sent.value  # and the coordinates point at that very message
        assert headers["reason"].decode() == sent.reason, (sent.value or b"")[:200]
        assert headers["detail"]
    assert seen == set(invalid)

    expected = Counter(m.reason for m in invalid.values())
    assert kafka.dead_letter_counts(isolated["dlq_topic"]) == expected
    assert expected == {str(reason): COPIES * sum(1 for _, r, _ in INVALID if r is reason) for reason in Reason}
    assert set(expected) == {str(reason) for reason in Reason}  # every reason code is exercised


def test_a_second_run_on_the_same_checkpoint_changes_nothing(streamed, spark, cassandra, kafka, isolated, drain_config):
    before_rows, before_indexed = stored_rows(cassandra, isolated["keyspace"])
    before_dlq = kafka.end_offsets(isolated["dlq_topic"])
    before_letters = [letter.key for letter in read_topic(kafka.bootstrap_servers, isolated["dlq_topic"])]
    run_available_now(spark, kafka, cassandra, drain_config)
    after_rows, after_indexed = stored_rows(cassandra, isolated["keyspace"])
    assert (len(after_rows), after_indexed) == (len(before_rows), before_indexed)
    assert kafka.end_offsets(isolated["dlq_topic"]) == before_dlq  # not even an empty transaction
    assert [letter.key for letter in read_topic(kafka.bootstrap_servers, isolated["dlq_topic"])] == before_letters


def test_replaying_the_batches_from_a_fresh_checkpoint_writes_no_dead_letter_twice(
        streamed, spark, cassandra, kafka, isolated, drain_config, tmp_path):
    """As if the job died after every dead-letter transaction and before Spark recorded the batch."""
    before_letters = [letter.key for letter in read_topic(kafka.bootstrap_servers, isolated["dlq_topic"])]
    before_rows, _ = stored_rows(cassandra, isolated["keyspace"])
    run_stream(spark, kafka, cassandra, drain_config(max_offsets_per_trigger=700, checkpoint_dir=str(tmp_path / "replay")))
    after_rows, _ = stored_rows(cassandra, isolated["keyspace"])
    assert sorted(row.event_id for row in after_rows) == sorted(row.event_id for row in before_rows)
    assert [letter.key for letter in read_topic(kafka.bootstrap_servers, isolated["dlq_topic"])] == before_letters
