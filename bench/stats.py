"""The benchmark's arithmetic, pure so it can be unit-tested without services.

Repeated measurements are summarised as median with min and max (a median
resists one run disturbed by a compaction or another user's tests); ratios
are taken within one run, then summarised; targets give PASS/MISS verdicts
that are printed, never raised.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Spread:
    """Median, min and max of a figure measured `n` times."""

    median: float
    min: float
    max: float
    n: int

    @classmethod
    def of(cls, values: Iterable[float | None]) -> Spread | None:
        """None when no run produced the figure (a skipped or failed step)."""
        kept = sorted(v for v in values if v is not None and not math.isnan(v))
        if not kept:
            return None
        return cls(median(kept), kept[0], kept[-1], len(kept))

    def fmt(self, digits: int = 0, unit: str = "") -> str:
        """'12,345 [11,900–12,800] ev/s (n=3)'; a single run prints as one number."""
        num = lambda v: f"{v:,.{digits}f}"  # noqa: E731
        suffix = f" {unit}" if unit else ""
        if self.n == 1:
            return f"{num(self.median)}{suffix} (n=1)"
        return f"{num(self.median)} [{num(self.min)}–{num(self.max)}]{suffix} (n={self.n})"

    def to_dict(self) -> dict:
        return {"median": self.median, "min": self.min, "max": self.max, "n": self.n}


def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("median of no values")
    ordered = sorted(values)
    mid = len(ordered) // 2
    return float(ordered[mid]) if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between ranks (numpy's default)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is not within 0..100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def percentiles(values: Sequence[float], qs: Sequence[float] = (50, 95, 99)) -> dict[str, float]:
    return {f"p{q:g}": percentile(values, q) for q in qs}


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, None when either is missing or the denominator is 0."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def paired_ratios(numerators: Sequence[float | None], denominators: Sequence[float | None]) -> list[float | None]:
    """Ratios of figures from the same run: run i's numerator over run i's denominator."""
    if len(numerators) != len(denominators):
        raise ValueError(f"{len(numerators)} numerators for {len(denominators)} denominators")
    return [ratio(n, d) for n, d in zip(numerators, denominators)]


def rate(count: float, seconds: float) -> float | None:
    return None if seconds <= 0 else count / seconds


_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


@dataclass(frozen=True)
class Target:
    """A goal such as 'p99 latency <= 3000 ms'; `verdict` says PASS, MISS, or n/a when unmeasured."""

    name: str
    op: str
    threshold: float
    unit: str = ""

    def __post_init__(self):
        if self.op not in _OPS:
            raise ValueError(f"unknown comparison {self.op!r}; use one of {', '.join(_OPS)}")

    def verdict(self, value: float | None) -> str:
        if value is None:
            return "n/a"
        return "PASS" if _OPS[self.op](value, self.threshold) else "MISS"

    def describe(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.op} {self.threshold:,.6g}{unit}"


def slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope dy/dx of (x, y) points; 0 for fewer than two distinct x."""
    if len(points) < 2:
        return 0.0
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    var = sum((x - mean_x) ** 2 for x, _ in points)
    if var == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / var


def lag_is_stable(samples: Sequence[tuple[float, float]], rate_per_s: float, tolerance: float = 0.1) -> bool:
    """Whether consumer lag did not grow while events arrived at `rate_per_s`.

    `samples` are (seconds, lag in events). Lag saw-tooths with the trigger,
    so single samples mean little; the trend does: a query that keeps up has
    a slope near 0, one that cannot has slope = arrival rate - service rate.
    Stable when the slope is below `tolerance` of the arrival rate.
    """
    if rate_per_s <= 0:
        raise ValueError(f"rate must be positive, got {rate_per_s}")
    return slope(samples) < tolerance * rate_per_s


def parse_size(text: str) -> int:
    """'1,000,000' / '1e6' / '20k' / '2M' -> an event count (for --events)."""
    raw = text.strip().lower().replace(",", "").replace("_", "")
    factor = 1
    if raw and raw[-1] in "km":
        factor, raw = (1_000 if raw[-1] == "k" else 1_000_000), raw[:-1]
    value = float(raw) * factor
    if value < 1 or value != int(value):
        raise ValueError(f"{text!r} is not a positive whole number of events")
    return int(value)


def parse_settings(items: list[str], flag: str = "--conf") -> dict[str, str]:
    """KEY=VALUE strings as a dict (for --conf and --ab); a clear error for anything else."""
    parsed = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{flag} {item!r} is not KEY=VALUE")
        parsed[key.strip()] = value.strip()
    return parsed
