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
    from ratings_assets_tests.streaming.test_faults_integration import Outcome


def assert_exactly_once(ledger: Outcome, bootstrap_servers: str, topic: str, dlq_topic: str,
                        cassandra: CassandraResource, what: str) -> dict[str, int]:
    """Rows == acknowledged valid events; dead letters, by key, == acknowledged invalid ones. Returns the counts."""
    assert not ledger.failed, f"{len(ledger.failed)} sends failed, e.g. {next(iter(ledger.failed.values()))}"
    # Nothing the producer was told is acknowledged went missing, and its retries wrote nothing twice.
    source = read_topic(bootstrap_servers, topic)
    assert Counter(r.value for r in source) == Counter(list(ledger.acked))
    assert {(r.partition, r.offset) for r in source} == set(ledger.acked.values())

    with cassandra.session(cassandra.keyspace) as session:
        stored = [row.event_id for row in session.execute("SELECT event_id FROM records", timeout=120)]
        indexed = user_hours_of_index(session, cassandra.keyspace)
        partitions = user_hours_of_records(session, cassandra.keyspace)
    assert len(stored) == len(set(stored)), f"{what}: an event stored twice"
    assert set(stored) == ledger.acked_event_ids
    assert indexed == partitions, f"{what}: the users_by_hour index does not match the partitions of records"

    expected = ledger.acked_dead_letters
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
    return {"rows": len(stored), "dead_letters": len(keys)}
