from datetime import datetime, timezone

from ratings_assets.core.aggregation import RatedRow, aggregate_hour, summarize

HOUR = datetime(2025, 3, 15, 10, tzinfo=timezone.utc)
ROWS = [
    RatedRow("Bea", 3, 100, "Heat"),
    RatedRow("Ada", 10, 90, "Up"),
    RatedRow("Bea", 8, None, "Ran"),
    RatedRow("Ada", 1, 120, "Jaws"),
    RatedRow("Ada", 5, 150, "Alien"),
]


def test_each_user_gets_count_mean_min_max_duration_and_movies():
    ada, bea = aggregate_hour(HOUR, ROWS)
    assert (ada.name, ada.ratings, ada.min_rating, ada.max_rating) == ("Ada", 3, 1, 10)
    assert ada.avg_rating == 16 / 3
    assert ada.avg_duration == 120.0
    assert ada.movies == ["Up", "Jaws", "Alien"]
    # A movie without a known duration counts for ratings but not for the mean duration.
    assert (bea.ratings, bea.avg_rating, bea.avg_duration) == (2, 5.5, 100.0)


def test_summary_of_an_hour():
    summary = summarize(aggregate_hour(HOUR, ROWS), top=1)
    assert (summary.users, summary.ratings, summary.mean_rating, summary.top_users) == (2, 5, 27 / 5, [("Ada", 3)])


def test_empty_hour():
    assert aggregate_hour(HOUR, []) == []
    assert summarize([]).mean_rating is None
