import re

from bench.validator import cpu_us_per_item, run_validator_bench


def test_cpu_time_is_divided_over_the_items_and_the_best_pass_is_kept():
    calls = []

    def work():
        calls.append(sum(range(200_000)))

    per_item = cpu_us_per_item(work, items=1000, passes=3)
    assert len(calls) == 3
    assert 0 < per_item < 1_000_000  # 200k additions take well under a second, and more than nothing


def test_the_command_prints_each_figure(capsys):
    assert run_validator_bench(300, passes=1) == 0
    out = capsys.readouterr().out
    assert "300 generator events" in out
    assert re.search(r"parse_event\s+\d+\.\d\d µs", out) and re.search(r"validate_rows\s+\d+\.\d\d µs", out)
    assert re.search(r"validate_batch\s+\d+\.\d\d µs", out)
