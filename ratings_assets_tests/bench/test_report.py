"""The report's arithmetic and the /proc readers, without services."""

import os
from types import SimpleNamespace

import pytest

from ratings_assets.bench import memory, report


def options(**changes):
    base = dict(latency_trigger_s=1.0, latency_rate=1000, events=1_000_000, small_events=10_000)
    return SimpleNamespace(**{**base, **changes})


def test_ratios_are_taken_within_each_run():
    runs = [{"pipeline_ev_s": 80, "ceiling_sink_rows_s": 100, "ceiling_source_rows_s": 200},
            {"pipeline_ev_s": 50, "ceiling_sink_rows_s": 200}]
    report._within_run_ratios(runs)
    assert runs[0]["ratio_pipeline_to_sink"] == 0.8 and runs[0]["ratio_pipeline_to_source"] == 0.4
    assert runs[1]["ratio_pipeline_to_sink"] == 0.25 and "ratio_pipeline_to_source" not in runs[1]


def test_targets_use_the_medians_and_the_trigger():
    summary = {"ratio_pipeline_to_sink": {"median": 0.85}, "latency_p99_ms": {"median": 3100.0},
               "aggregate_big_s": {"median": 59.0}, "generator_ev_s": {"median": 12_000.0}}
    verdicts = {t["target"]: t["verdict"] for t in report.targets(options(), summary, {"total": 5 * report.GIB})}
    assert verdicts["streaming throughput vs ceiling (a)"] == "PASS"
    assert verdicts["p99 latency at 1,000 ev/s (trigger 1 s + 2 s)"] == "MISS"
    assert verdicts["aggregate an hour of 1,000,000 ratings"] == "PASS"
    assert verdicts["aggregate an hour of 10,000 ratings"] == "n/a"
    assert verdicts["generator"] == "MISS"
    assert verdicts["whole stack resident (sum of peaks)"] == "PASS"


def test_histogram_counts_every_sample_once():
    hist = report.histogram([0.0, 1.0, 2.0, 10.0], bins=5)
    assert sum(hist["counts"]) == 4 and hist["counts"][-1] == 1 and hist["low_ms"] == 0.0
    assert report.histogram([]) == {}
    assert sum(report.histogram([5.0, 5.0]).get("counts")) == 2


def test_peak_memory_of_this_process_and_of_a_gone_one():
    resident = memory.status_field(os.getpid(), "VmRSS")  # first: the peak read after it can only be as high
    peak = memory.peak_bytes(os.getpid())
    assert peak and peak >= resident > 0
    assert memory.peak_bytes(2**22 + 12345) is None


def test_descendants_finds_a_child(tmp_path):
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in [pid for pid, _ in memory.descendants(os.getpid())]
    finally:
        child.kill()
        child.wait()


@pytest.mark.parametrize("unit, value, text", [("%", 0.314, "31%"), ("GiB", 4.2, "4.20 GiB"), ("s", 12.34, "12.3 s"),
                                               ("ev/s", 12345.6, "12,346 ev/s"), ("ms", None, "n/a")])
def test_values_print_in_their_unit(unit, value, text):
    assert report._value(value, unit) == text
