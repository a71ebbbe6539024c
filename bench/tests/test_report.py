"""The report's arithmetic and the /proc readers, without services."""

import os
from types import SimpleNamespace

import pytest

from bench import memory, report


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
    summary = {"ratio_pipeline_to_sink": {"median": 0.85}, "latency_p99_ms": {"median": 1600.0},
               "aggregate_big_s": {"median": 19.0}, "generator_ev_s": {"median": 12_000.0}}
    runs = [{"latency_batch_ms": [900, 1200, None]}, {"latency_batch_ms": [800]}]
    versus = {"speedup_median": 1.9, "ours_first_row_s": [14.0, 17.0, 12.0]}
    probe = [{"phase": "confirm", "stable": True, "achieved": 31_000.0}]
    verdicts = {t["target"]: t["verdict"]
                for t in report.targets(options(), summary, {"total": 5 * report.GIB}, runs, versus, probe)}
    assert verdicts["ours vs the straightforward consumer, launch to last row of 1,000,000"] == "MISS"
    assert verdicts["ours: launch to first row on a preloaded topic"] == "PASS"  # median 14 s
    assert verdicts["streaming throughput vs ceiling (a), records alone"] == "PASS"
    assert verdicts["highest rate sustained for the confirmation window"] == "PASS"
    assert verdicts["micro-batch at 1,000 ev/s, trigger 1 s (median)"] == "PASS"  # median of 900, 1200, 800
    assert verdicts["p99 latency at 1,000 ev/s (trigger 1 s)"] == "MISS"
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


def window(phase: str, achieved: float, stable: bool | None) -> dict:
    return {"phase": phase, "achieved": achieved, "stable": stable}


def test_only_a_confirmation_window_that_held_gives_the_sustained_rate():
    probe = [window("screen", 20_000, True), window("refine", 22_000, True), window("confirm", 21_900, False),
             window("confirm", 19_950, True)]
    assert report.sustained_rate(probe) == 19_950
    assert report.sustained_rate(probe[:3]) is None
    assert report.sustained_rate([window("confirm", 30_000, None)]) == 30_000  # feed-limited: a lower bound


# What runner.machine_info() records, less the host-speed gauge (as in results from before it).
MACHINE = {"nproc": 2, "cpu": "test", "memory_gib": 24, "java_version": "17", "python": "3.11", "os": "Linux",
           "load_average_at_end": [1.0, 1.0, 1.0]}


def test_the_probe_windows_and_the_confirmed_rate_are_reported(tmp_path):
    from datetime import datetime, timezone

    from bench.runner import BenchOptions

    probe = [{**window("screen", 15_000, True), "rate": 15_000, "seconds": 60, "verdict": "sustained",
              "lag_slope": 10, "max_lag": 100},
             {**window("confirm", 14_990, True), "rate": 15_000, "seconds": 300, "verdict": "sustained",
              "lag_slope": 5, "max_lag": 90}]
    runs = [{"pipeline_ev_s": 80.0, "ceiling_sink_rows_s": 100.0}]
    machine = MACHINE
    results = report.assemble(BenchOptions.for_mode("full", output=tmp_path / "r.json"), runs, probe,
                              {"total": report.GIB}, [1.0],
                              machine, datetime.now(timezone.utc), 60.0, [], {})
    assert results["sustained_rate_ev_s"] == 14_990
    assert "confirm    15,000 ev/s asked for 300 s" in report.text(results)
    assert "Highest arrival rate sustained for 300 s: 14,990 ev/s." in report.markdown(results, [])
    assert "host speed" not in report.text(results)  # results of a run before the gauge


def test_the_host_speed_gauge_is_reported_beside_the_machine(tmp_path):
    from datetime import datetime, timezone

    from bench.runner import BenchOptions

    machine = {**MACHINE, "validator_us_per_event": 2.634}
    results = report.assemble(BenchOptions.for_mode("full", output=tmp_path / "r.json"),
                              [{"pipeline_ev_s": 80.0, "ceiling_sink_rows_s": 100.0}], [], {"total": report.GIB},
                              [1.0], machine, datetime.now(timezone.utc), 60.0, [], {})
    assert "validator's CPU per event 2.63 µs" in report.text(results)
    assert "- host speed: the validator's CPU per event 2.63 µs" in report.markdown(results, [])
