import math

import pytest

from bench.stats import (
    Spread,
    Target,
    lag_is_stable,
    median,
    paired_ratios,
    parse_size,
    percentile,
    percentiles,
    rate,
    ratio,
    slope,
)


def test_median_of_odd_and_even_counts():
    assert median([3, 1, 2]) == 2
    assert median([4, 1, 3, 2]) == 2.5
    with pytest.raises(ValueError):
        median([])


def test_spread_keeps_median_min_max_and_ignores_missing_runs():
    spread = Spread.of([10.0, None, 30.0, 20.0, math.nan])
    assert (spread.median, spread.min, spread.max, spread.n) == (20.0, 10.0, 30.0, 3)
    assert Spread.of([None, None]) is None
    assert Spread.of([5]).fmt(0, "ev/s") == "5 ev/s (n=1)"
    assert Spread.of([1000, 2000, 3000]).fmt(0, "rows/s") == "2,000 [1,000–3,000] rows/s (n=3)"


def test_percentiles_interpolate_between_ranks_like_numpy():
    values = list(range(1, 101))  # 1..100
    assert percentile(values, 0) == 1 and percentile(values, 100) == 100
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile([7], 99) == 7
    assert percentiles([1, 2, 3, 4]) == {"p50": 2.5, "p95": pytest.approx(3.85), "p99": pytest.approx(3.97)}
    with pytest.raises(ValueError):
        percentile([1, 2], 101)
    with pytest.raises(ValueError):
        percentile([], 50)


def test_ratios_pair_figures_of_the_same_run():
    assert ratio(8, 10) == 0.8
    assert ratio(None, 10) is None and ratio(1, 0) is None
    assert paired_ratios([8, None, 9], [10, 10, 0]) == [0.8, None, None]
    with pytest.raises(ValueError):
        paired_ratios([1], [1, 2])
    assert rate(100, 4) == 25 and rate(5, 0) is None


@pytest.mark.parametrize(
    "op, threshold, value, verdict",
    [(">=", 0.8, 0.8, "PASS"), (">=", 0.8, 0.79, "MISS"), ("<=", 3000, 3000, "PASS"), ("<", 60, 60, "MISS"),
     ("<", 60, 12.5, "PASS"), (">=", 50_000, None, "n/a")],
)
def test_target_verdicts(op, threshold, value, verdict):
    assert Target("x", op, threshold).verdict(value) == verdict


def test_a_target_needs_a_known_comparison():
    with pytest.raises(ValueError):
        Target("x", "=>", 1)
    assert Target("p99", "<=", 3000, "ms").describe() == "<= 3,000 ms"


def test_slope_is_least_squares():
    assert slope([(0, 1), (1, 3), (2, 5)]) == pytest.approx(2)
    assert slope([(0, 5)]) == 0 and slope([(1, 1), (1, 2)]) == 0


def test_a_saw_tooth_lag_is_stable_and_a_growing_one_is_not():
    rate_per_s, trigger = 1000, 5
    saw = [(t, rate_per_s * (t % trigger)) for t in range(10, 60)]
    assert lag_is_stable(saw, rate_per_s)
    falling_behind = [(t, lag + 300 * t) for t, lag in saw]  # serves 700 of 1000 ev/s
    assert not lag_is_stable(falling_behind, rate_per_s)
    with pytest.raises(ValueError):
        lag_is_stable(saw, 0)


@pytest.mark.parametrize("text, count", [("1,000,000", 1_000_000), ("20k", 20_000), ("2M", 2_000_000),
                                         ("1e6", 1_000_000), ("250_000", 250_000)])
def test_parse_size(text, count):
    assert parse_size(text) == count


@pytest.mark.parametrize("text", ["0", "-5", "1.5", "lots"])
def test_parse_size_refuses_what_is_not_a_count(text):
    with pytest.raises(ValueError):
        parse_size(text)
