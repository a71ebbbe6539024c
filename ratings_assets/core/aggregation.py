"""Hourly per-user aggregates: what each user rated in one UTC hour, summarised."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class RatedRow:
    """The part of a stored rating that the aggregates need."""

    name: str
    rating: int
    duration: int | None
    movie: str


@dataclass
class UserHour:
    hour: datetime
    name: str
    ratings: int = 0
    rating_sum: int = 0
    min_rating: int | None = None
    max_rating: int | None = None
    duration_sum: int = 0
    durations: int = 0
    movies: list[str] = field(default_factory=list)

    def add(self, row: RatedRow) -> None:
        self.ratings += 1
        self.rating_sum += row.rating
        self.min_rating = row.rating if self.min_rating is None else min(self.min_rating, row.rating)
        self.max_rating = row.rating if self.max_rating is None else max(self.max_rating, row.rating)
        if row.duration is not None:
            self.duration_sum += row.duration
            self.durations += 1
        self.movies.append(row.movie)

    @property
    def avg_rating(self) -> float:
        return self.rating_sum / self.ratings

    @property
    def avg_duration(self) -> float | None:
        return self.duration_sum / self.durations if self.durations else None


def aggregate_hour(hour: datetime, rows: Iterable[RatedRow]) -> list[UserHour]:
    """One UserHour per user who rated during `hour`, sorted by name; movies in arrival order."""
    users: dict[str, UserHour] = {}
    for row in rows:
        users.setdefault(row.name, UserHour(hour, row.name)).add(row)
    return [users[name] for name in sorted(users)]


@dataclass(frozen=True)
class HourSummary:
    users: int
    ratings: int
    mean_rating: float | None
    top_users: list[tuple[str, int]]


def summarize(user_hours: list[UserHour], top: int = 5) -> HourSummary:
    """The figures an hour's materialization shows in the UI."""
    ratings = sum(u.ratings for u in user_hours)
    mean = sum(u.rating_sum for u in user_hours) / ratings if ratings else None
    busiest = sorted(user_hours, key=lambda u: (-u.ratings, u.name))[:top]
    return HourSummary(len(user_hours), ratings, mean, [(u.name, u.ratings) for u in busiest])
