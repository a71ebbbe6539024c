"""The sustained-rate search, against a fake stream of known capacity (no services)."""

from types import SimpleNamespace

from bench.pipeline import search_sustained_rate


def fake_stream(capacity: float, short_capacity: float | None = None):
    """A stream that keeps up with `capacity` ev/s for any time, and `short_capacity` for a screening window."""
    windows = []

    def try_rate(rate, seconds, phase):
        limit = capacity if seconds >= 300 or short_capacity is None else short_capacity
        windows.append((phase, rate, seconds))
        return SimpleNamespace(rate=rate, stable=rate <= limit)

    return windows, try_rate


def test_screens_upwards_then_bisects_then_confirms_the_best_held_rate():
    windows, try_rate = fake_stream(capacity=17_000)
    results = search_sustained_rate(try_rate, [10_000, 15_000, 20_000, 25_000], screen_s=60, confirm_s=300)
    assert windows == [("screen", 10_000, 60), ("screen", 15_000, 60), ("screen", 20_000, 60),
                       ("refine", 17_500, 60), ("refine", 16_250, 60), ("confirm", 16_250, 300)]
    assert [r.stable for r in results] == [True, True, False, False, True, True]


def test_a_rate_that_holds_a_minute_but_not_five_falls_back_to_the_next_best():
    windows, try_rate = fake_stream(capacity=15_000, short_capacity=18_000)
    results = search_sustained_rate(try_rate, [10_000, 15_000, 20_000], screen_s=60, confirm_s=300, refine_steps=1)
    assert windows[3] == ("refine", 17_500, 60) and results[3].stable
    confirms = [(rate, seconds, result.stable) for (phase, rate, seconds), result in zip(windows, results)
                if phase == "confirm"]
    assert confirms == [(17_500, 300, False), (15_000, 300, True)]


def test_every_rate_held_confirms_the_highest_and_none_held_confirms_nothing():
    windows, try_rate = fake_stream(capacity=50_000)
    search_sustained_rate(try_rate, [10_000, 20_000], screen_s=60, confirm_s=300)
    assert windows[-1] == ("confirm", 20_000, 300) and len(windows) == 3
    windows, try_rate = fake_stream(capacity=5_000)
    assert [r.stable for r in search_sustained_rate(try_rate, [10_000, 20_000], screen_s=60, confirm_s=300)] == [False]
