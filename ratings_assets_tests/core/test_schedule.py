from datetime import datetime, timedelta, timezone

from ratings_assets.core.schedule import due_hours

NOW = datetime(2025, 3, 15, 12, 5, tzinfo=timezone.utc)
GRACE, BOUND = timedelta(minutes=2), timedelta(hours=48)


def test_open_hour_and_grace_period_wait():
    due = due_hours({"2025-03-15-12:00": 5, "2025-03-15-11:00": 4}, {}, NOW.replace(minute=1), GRACE, BOUND)
    assert due.requests == {} and set(due.waiting) == {"2025-03-15-12:00", "2025-03-15-11:00"}


def test_closed_hour_is_due_once_and_again_after_late_rows():
    written = {"2025-03-15-11:00": 40}
    assert due_hours(written, {}, NOW, GRACE, BOUND).requests == {"2025-03-15-11:00": 40}
    assert due_hours(written, {"2025-03-15-11:00": 41}, NOW, GRACE, BOUND).requests == {}
    late = {"2025-03-15-11:00": 57}
    assert due_hours(late, {"2025-03-15-11:00": 41}, NOW, GRACE, BOUND).requests == {"2025-03-15-11:00": 57}


def test_rows_older_than_the_late_bound_are_dropped():
    due = due_hours({"2025-03-13-11:00": 9}, {}, NOW, GRACE, BOUND)
    assert due.too_late == ["2025-03-13-11:00"] and due.requests == {}
