"""The pure half of the dead-letter writer: which letters a replay still has to send, and the marks after."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

import pytest
from confluent_kafka import KafkaError, KafkaException

from ratings_assets.streaming.dead_letters import DeadLetter, during_failover, marks_after, not_yet_written, writer_id


def letter(partition: int, offset: int) -> DeadLetter:
    return DeadLetter(partition, offset, b"{}", "BAD_JSON", "detail")


def test_key_and_headers_name_the_source_message():
    dead = DeadLetter(3, 42, b"\xff", "BAD_JSON", None)
    assert dead.key == b"3:42"
    assert dict(dead.headers("ratings")) == {
        "reason": b"BAD_JSON", "detail": b"", "source_topic": b"ratings", "source_partition": b"3", "source_offset": b"42"}


def test_marks_are_one_past_the_last_letter_of_each_partition_and_keep_untouched_partitions():
    letters = [letter(0, 5), letter(0, 9), letter(2, 1)]
    assert marks_after(letters, {1: 7, 0: 3}) == {0: 10, 1: 7, 2: 2}


def test_a_replay_after_the_commit_sends_nothing_and_a_first_attempt_sends_everything():
    letters = [letter(0, 5), letter(1, 9)]
    assert not_yet_written(letters, {}) == letters
    assert not_yet_written(letters, marks_after(letters, {})) == []


def test_writer_id_differs_per_source_and_destination():
    assert len({writer_id("a", "a.dlq"), writer_id("b", "a.dlq"), writer_id("a", "b.dlq")}) == 3


coordinates = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 10_000)), unique=True, max_size=60)


@given(coordinates, coordinates)
def test_batches_in_offset_order_each_letter_is_sent_exactly_once_however_often_replayed(first, second):
    """Two consecutive batches, each replayed after its commit: the sends add up to every letter once."""
    cut = {p: max((o for q, o in first if q == p), default=-1) + 1 for p in range(4)}
    batch1 = [letter(p, o) for p, o in first]
    batch2 = [letter(p, o + cut[p]) for p, o in second]  # later offsets than batch 1 in every partition
    marks, sent = {}, []
    for batch in (batch1, batch1, batch2, batch2, batch1):
        todo = not_yet_written(batch, marks)
        sent += todo
        marks = marks_after(batch, marks)
    assert sorted(sent, key=lambda d: (d.partition, d.offset)) == sorted(batch1 + batch2, key=lambda d: (d.partition, d.offset))


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def failing(times: int, code: int):
    calls = []

    def action():
        calls.append(1)
        if len(calls) <= times:
            raise KafkaException(KafkaError(code))
        return (0, 42)
    return action, calls


def test_an_election_s_unknown_partition_is_asked_again_until_answered():
    clock = FakeClock()
    action, calls = failing(5, KafkaError._UNKNOWN_PARTITION)
    assert during_failover(action, 60, "reading", clock=clock, sleep=clock.sleep) == (0, 42)
    assert len(calls) == 6 and clock.now == 5.0


def test_failover_errors_are_asked_again_only_until_the_timeout():
    clock = FakeClock()
    action, calls = failing(100, KafkaError.LEADER_NOT_AVAILABLE)
    with pytest.raises(KafkaException):
        during_failover(action, 10, "reading", clock=clock, sleep=clock.sleep)
    assert clock.now == 10 and len(calls) == 11  # at 0, 1, … 10 s


def test_any_other_error_fails_at_once():
    clock = FakeClock()
    action, calls = failing(1, KafkaError.TOPIC_AUTHORIZATION_FAILED)
    with pytest.raises(KafkaException):
        during_failover(action, 60, "reading", clock=clock, sleep=clock.sleep)
    assert len(calls) == 1 and clock.now == 0.0
