import re

from bench.validator import cpu_us_per_item, run_validator_bench


def test_cpu_time_is_divided_over_the_items_and_the_best_pass_is_kept():
    durations = iter([3.0, 2.0, 5.0])  # seconds each pass takes on a fake CPU clock
    now = [0.0]

    def work():
        now[0] += next(durations)

    per_item = cpu_us_per_item(work, items=1000, passes=3, clock=lambda: now[0])
    assert per_item == 2.0 / 1000 * 1e6  # the best pass, 2 s over 1,000 items: 2,000 µs each


def test_the_command_prints_each_figure(capsys):
    assert run_validator_bench(300, passes=1) == 0
    out = capsys.readouterr().out
    assert "300 generator events" in out
    assert re.search(r"parse_event\s+\d+\.\d\d µs", out) and re.search(r"validate_rows\s+\d+\.\d\d µs", out)
    assert re.search(r"validate_batch\s+\d+\.\d\d µs", out)
