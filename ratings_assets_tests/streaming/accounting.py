"""Test helper: after a fault, every message the broker acknowledged is accounted for exactly.

Valid events are rows of `records` (by event_id, none missing, none extra, none twice; each user's hour in
the users_by_hour index), invalid ones are
dead letters (one per "partition:offset" key, none twice, read committed) with the right reason and their
original bytes. The expectation is the test's own ledger of what it published, never the pipeline's figures.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from ratings_assets.resources.cassandra import CassandraResource
from ratings_assets_tests.stored_rows import user_hours_of_index, user_hours_of_records
from ratings_assets_tests.streaming.topics import headers_of, read_topic

if TYPE_CHECKING:
    from ratings_assets_tests.streaming.harness import Outcome


def assert_exactly_once(ledger: Outcome, bootstrap_servers: str, topic: str, dlq_topic: str,
                        cassandra: CassandraResource, what: str) -> dict[str, int]:
    """Rows == acknowledged valid events; dead letters, by key, == acknowledged invalid ones.

    Returns the counts: rows, acknowledged, lost, duplicated, unexpected, dead letters."""
    assert not ledger.failed, f"{len(ledger.failed)} sends failed, e.g. {next(iter(ledger.failed.values()))}"
    # Nothing the producer was told is acknowledged went missing, and its retries wrote nothing twice.
    source = read_topic(bootstrap_servers, topic)
    assert Counter(r.value for r in source) == Counter(list(ledger.acked))
    # Where each message landed is read back from the topic: a delivery report's offset can be wrong when the
    # idempotent producer retried a batch across a leader change or a timeout, though the message is there once.
    landed = {r.value: (r.partition, r.offset) for r in source}
    misreported = sum(landed[value] != position for value, position in ledger.acked.items())
    if misreported:
        print(f"{what}: {misreported} delivery reports gave another offset than the one the topic holds", flush=True)

    with cassandra.session(cassandra.keyspace) as session:
        stored = [row.event_id for row in session.execute("SELECT event_id FROM records", timeout=120)]
        indexed = user_hours_of_index(session, cassandra.keyspace)
        partitions = user_hours_of_records(session, cassandra.keyspace)
    expected_ids = ledger.acked_event_ids
    counts = {"rows": len(stored), "acknowledged": len(expected_ids), "lost": len(expected_ids - set(stored)),
              "duplicated": len(stored) - len(set(stored)), "unexpected": len(set(stored) - expected_ids)}
    print(what, counts, flush=True)  # before the checks, so a failure still shows them
    assert counts["duplicated"] == 0, f"{what}: an event stored twice"
    assert set(stored) == expected_ids
    assert indexed == partitions, f"{what}: the users_by_hour index does not match the partitions of records"

    expected = ledger.dead_letters_at(landed)
    letters = read_topic(bootstrap_servers, dlq_topic)
    keys = Counter(letter.key.decode() for letter in letters)
    assert set(keys) == set(expected)
    twice = {key: n for key, n in keys.items() if n > 1}
    assert not twice, f"{what}: {len(twice)} dead letters written more than once, e.g. {next(iter(twice))}"
    for letter in letters:
        value, reason = expected[letter.key.decode()]
        headers = headers_of(letter)
        assert letter.value == value and headers["reason"].decode() == reason
        assert f"{int(headers['source_partition'])}:{int(headers['source_offset'])}" == letter.key.decode()
    return {**counts, "dead_letters": len(keys)}
