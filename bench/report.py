"""The benchmark's figures as data (JSON), as text (the terminal) and as docs (README, plots).

`assemble` turns per-run figures into medians with min/max, within-run
ratios and target verdicts; the writers only format what it produced.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

from bench.stats import Spread, Target, median, paired_ratios

GIB = 1024**3
MIB = 1024**2
MEMORY_PARTS = ("kafka", "cassandra", "spark_driver_jvm", "spark_python_workers", "dagster_webserver")
MEMORY_LABELS = {
    "kafka": "Kafka broker (JVM, shared)",
    "cassandra": "Cassandra (JVM, shared)",
    "spark_driver_jvm": "Spark driver JVM (local[2])",
    "spark_python_workers": "Spark Python workers",
    "dagster_webserver": "Dagster webserver + code server",
}

# key, label, unit; ratios are shown as percentages.
FIGURES = [
    ("ceiling_sink_rows_s", "ceiling (a) Spark batch write of the enriched rows to records", "rows/s"),
    ("ceiling_source_rows_s", "ceiling (b) Spark batch read of the topic + validation + catalog lookup", "rows/s"),
    ("ceiling_broker_rec_s", "ceiling (c) Kafka ProducerPerformance, acks=all, 160 B", "records/s"),
    ("generator_ev_s", "generator alone (publish, acks=all, Pacer(None))", "ev/s"),
    ("pipeline_ev_s", "pipeline: run_stream available-now, start to last row", "ev/s"),
    ("ratio_pipeline_to_sink", "pipeline / ceiling (a)", "%"),
    ("ratio_pipeline_to_source", "pipeline / ceiling (b)", "%"),
    ("ratio_generator_to_broker", "generator / ceiling (c)", "%"),
    ("latency_p50_ms", "latency p50 (WRITETIME - event time)", "ms"),
    ("latency_p95_ms", "latency p95", "ms"),
    ("latency_p99_ms", "latency p99", "ms"),
    ("latency_achieved_ev_s", "latency run: achieved arrival rate", "ev/s"),
    ("aggregate_big_s", "aggregate the hour of N events (dagster.materialize)", "s"),
    ("aggregate_big_asset_s", "  of which the asset body", "s"),
    ("aggregate_small_s", "aggregate the small hour", "s"),
    ("aggregate_small_asset_s", "  of which the asset body", "s"),
]


def _within_run_ratios(runs: list[dict]) -> None:
    for key, num, den in (("ratio_pipeline_to_source", "pipeline_ev_s", "ceiling_source_rows_s"),
                          ("ratio_generator_to_broker", "generator_ev_s", "ceiling_broker_rec_s"),
                          ("ratio_pipeline_to_sink", "pipeline_ev_s", "ceiling_sink_rows_s")):
        for run, value in zip(runs, paired_ratios([r.get(num) for r in runs], [r.get(den) for r in runs])):
            if value is not None:
                run[key] = value


def _small_batch_ms(runs: list[dict]) -> float | None:
    """Median duration of the latency runs' micro-batches (at 1,000 ev/s and a 1 s trigger, about 1,000 events each)."""
    durations = [ms for r in runs for ms in r.get("latency_batch_ms") or [] if ms is not None]
    return median(durations) if durations else None


P99_GOAL_MS = 1500  # issue 13: p99 latency at 1,000 ev/s with a 1 s trigger


def targets(options, summary: dict, memory: dict, runs: list[dict], versus: dict, probe: list[dict]) -> list[dict]:
    def median_of(key):
        spread = summary.get(key)
        return spread["median"] if spread else None

    trigger = options.latency_trigger_s
    first_rows = Spread.of(versus.get("ours_first_row_s") or [])
    checks = [
        (Target(f"ours vs the straightforward consumer, launch to last row of {options.events:,}", ">=", 2.0, "x"),
         versus.get("speedup_median"), "x"),
        (Target("ours: launch to first row on a preloaded topic", "<=", 15, "s"),
         first_rows.median if first_rows else None, "s"),
        (Target("streaming throughput vs ceiling (a), records alone", ">=", 0.85), median_of("ratio_pipeline_to_sink"), "%"),
        (Target("highest rate sustained for the confirmation window", ">=", 30_000, "ev/s"), sustained_rate(probe), "ev/s"),
        (Target(f"micro-batch at {options.latency_rate:,.0f} ev/s, trigger {trigger:g} s (median)", "<", 1000, "ms"),
         _small_batch_ms(runs), "ms"),
        (Target(f"p99 latency at {options.latency_rate:,.0f} ev/s (trigger {trigger:g} s)", "<=", P99_GOAL_MS, "ms"),
         median_of("latency_p99_ms"), "ms"),
        (Target(f"aggregate an hour of {options.events:,} ratings", "<", 20, "s"), median_of("aggregate_big_s"), "s"),
        (Target(f"aggregate an hour of {options.small_events:,} ratings", "<", 2, "s"), median_of("aggregate_small_s"), "s"),
        (Target("generator", ">=", 50_000, "ev/s"), median_of("generator_ev_s"), "ev/s"),
        (Target("whole stack resident (sum of peaks)", "<", 6.0, "GiB"),
         memory["total"] / GIB if memory.get("total") else None, "GiB"),
    ]
    return [{"target": t.name, "goal": t.describe() if unit != "%" else f"{t.op} {t.threshold:.0%}",
             "value": value, "unit": unit, "verdict": t.verdict(value)} for t, value, unit in checks]


def histogram(samples: list[float], bins: int = 40) -> dict:
    """A compact latency histogram for the JSON (the samples themselves stay out of it)."""
    if not samples:
        return {}
    low, high = min(samples), max(samples)
    width = (high - low) / bins or 1.0
    counts = [0] * bins
    for value in samples:
        counts[min(int((value - low) / width), bins - 1)] += 1
    return {"low_ms": low, "bin_ms": width, "counts": counts}


def _confirmed(probe: list[dict]) -> list[dict]:
    """Confirmation windows whose lag did not grow: only they are long enough to count. A feed-limited one
    (the generator fell short of the asked rate) still shows the stream sustaining the rate that arrived."""
    return [p for p in probe if p["phase"] == "confirm" and p["stable"] is not False]


def sustained_rate(probe: list[dict]) -> float | None:
    return max((p["achieved"] for p in _confirmed(probe)), default=None)


def _sustained_text(results: dict) -> str:
    best, confirm_s = results["sustained_rate_ev_s"], results["settings"]["probe"]["confirm_seconds"]
    if best is None:
        return f"No rate was sustained for {confirm_s:g} s"
    limited = " (a lower bound: the in-process feed could not go faster)" if _confirmed(results["probe"])[-1]["stable"] is None else ""
    return f"Highest arrival rate sustained for {confirm_s:g} s: {best:,.0f} ev/s{limited}"


def assemble(options, runs, probe, memory, latency_samples, machine, started_at: datetime, seconds: float,
             failures: list[str], spark_conf: dict, versus: dict | None = None) -> dict:
    _within_run_ratios(runs)
    summary = {key: spread.to_dict() for key, _, _ in FIGURES if (spread := Spread.of(r.get(key) for r in runs))}
    return {
        "mode": options.mode,
        "command": options.command,
        "started_at": started_at.isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
        "machine": machine,
        "settings": {
            "events": options.events, "small_events": options.small_events, "runs": options.runs,
            "preload_runs": options.preload_runs or options.runs,
            "partitions": options.partitions, "users": options.users,
            "latency": {"rate": options.latency_rate, "seconds": options.latency_seconds,
                        "warmup_s": options.latency_warmup_s, "trigger_s": options.latency_trigger_s},
            "probe": {"enabled": options.probe, "fractions_of_pipeline_rate": list(options.probe_fractions),
                      "seconds": options.probe_seconds, "confirm_seconds": options.probe_confirm_seconds,
                      "refine_steps": options.probe_refine_steps, "trigger_s": options.probe_trigger_s},
            "broker_records": options.broker_records,
            "max_offsets_per_trigger": options.max_offsets_per_trigger or "job default",
            "spark_conf_overrides": options.conf,
            "spark": {k: v for k, v in spark_conf.items() if k != "spark.jars"},
        },
        "summary": summary,
        "targets": targets(options, summary, memory, runs, versus or {}, probe),
        "head_to_head": versus or {},
        "runs": runs,
        "probe": probe,
        "sustained_rate_ev_s": sustained_rate(probe),
        "memory": memory,
        "latency_histogram": histogram(latency_samples),
        "failures": failures,
        "files": [],
        "_latency_samples": latency_samples,
    }


# ---------------------------------------------------------------- text

def _fmt(spread: dict | None, unit: str) -> str:
    if not spread:
        return "n/a"
    s = Spread(**spread)
    if unit == "%":
        return (f"{s.median:.0%} (n=1)" if s.n == 1 else f"{s.median:.0%} [{s.min:.0%}–{s.max:.0%}] (n={s.n})")
    digits = 1 if unit == "s" else 0
    return s.fmt(digits, unit)


def _value(value, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "%":
        return f"{value:.0%}"
    if unit == "GiB":
        return f"{value:.2f} GiB"
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:,.1f} {unit}" if unit == "s" else f"{value:,.0f} {unit}"


def batch_line(batch: dict) -> str:
    phases = batch["duration_ms"]
    return (f"#{batch['batch']} {batch['rows']:,} rows in {phases.get('triggerExecution', 0) / 1000:.1f} s "
            f"(addBatch {phases.get('addBatch', 0) / 1000:.1f} s)")


def _stage_lines(stages: list[dict], limit: int = 6) -> list[str]:
    return [f"      {g['stage']:<58} {g['wall_s']:6.1f} s wall, {g['task_run_s']:6.1f} s in tasks "
            f"({g['task_cpu_s']:.1f} s CPU, GC {g['gc_s']:.1f} s)" for g in stages[:limit]]


def text(results: dict) -> str:
    s, m = results["settings"], results["machine"]
    lines = [
        "",
        f"== python -m bench ({results['mode']}): {s['runs']} run(s) of {s['events']:,} events, "
        f"{s['partitions']}-partition topics, {s['users']:,} users; {m['nproc']} CPUs, {m['memory_gib']} GiB; "
        f"{results['seconds'] / 60:.1f} min",
        f"{'figure':<62} median [min–max] (runs)",
    ]
    for key, label, unit in FIGURES:
        if key in results["summary"]:
            lines.append(f"  {label:<60} {_fmt(results['summary'][key], unit)}")
    if results["probe"]:
        lines.append("  sustained-rate probe (lag trend while feeding at a fixed rate):")
        for p in results["probe"]:
            lines.append(f"    {p['phase']:<8} {p['rate']:>8,.0f} ev/s asked for {p['seconds']:g} s, "
                         f"{p['achieved']:>8,.0f} achieved: {p['verdict']} "
                         f"(lag slope {p['lag_slope']:+,.0f} ev/s, max lag {p['max_lag']:,})")
        lines.append(f"    {_sustained_text(results)}")
    if results.get("head_to_head"):
        from bench.head_to_head import report_lines

        lines += report_lines(results["head_to_head"])
    lines.append("memory, peak resident (VmHWM), once at the end:")
    for key in MEMORY_PARTS:
        value = results["memory"].get(key)
        lines.append(f"  {MEMORY_LABELS[key]:<60} {'n/a' if value is None else f'{value / MIB:,.0f} MiB'}")
    lines.append(f"  {'total':<60} {results['memory']['total'] / GIB:.2f} GiB")
    if results["memory"].get("bench_python_driver"):
        lines.append(f"  {'(not in the total) this benchmark process, Python':<60} "
                     f"{results['memory']['bench_python_driver'] / MIB:,.0f} MiB")
    loads = [r["load_1m_at_start"] for r in results["runs"] if "load_1m_at_start" in r]
    if loads:
        lines.append(f"machine load average (1 min) at the start of each run: {', '.join(f'{v:.1f}' for v in loads)} "
                     f"on {m['nproc']} CPUs")
    if host := _host_speed_text(m):
        lines.append(host)
    lines.append("targets (reported, never failing the command):")
    for t in results["targets"]:
        lines.append(f"  {t['verdict']:<5} {t['target']:<58} {_value(t['value'], t['unit']):>14}  goal {t['goal']}")
    last = next((r for r in reversed(results["runs"]) if r.get("pipeline_batches")), None)
    if last:
        last = {**last, "stages": {**next((r.get("stages") for r in reversed(results["runs"])
                                          if r.get("stages", {}).get("latency")), {}), **last.get("stages", {})}}
        lines.append(f"where the time goes (run {last['run']}):")
        lines.append("  pipeline micro-batches: " + "; ".join(batch_line(b) for b in last["pipeline_batches"]))
        phases = last.get("pipeline_phases_ms") or {}
        lines.append("  pipeline phases, all batches: " + ", ".join(
            f"{k} {v / 1000:.1f} s" for k, v in sorted(phases.items(), key=lambda kv: -kv[1]) if v >= 50))
        for step in ("pipeline", "ceiling_sink", "ceiling_source", "latency"):
            if last.get("stages", {}).get(step):
                lines.append(f"    Spark stages of {step}:")
                lines.extend(_stage_lines(last["stages"][step]))
        lines.append(f"    ({STAGE_NOTE})")
        if last.get("latency_batch_ms"):
            durations = sorted(d for d in last["latency_batch_ms"] if d is not None)
            lines.append(f"  latency run: {len(durations)} micro-batches, duration median "
                         f"{durations[len(durations) // 2] / 1000:.2f} s, max {durations[-1] / 1000:.2f} s")
    if s["preload_runs"] < s["runs"]:
        lines.append(f"note: the {s['events']:,}-event steps (generator, ceilings a and b, pipeline, big hour) ran in "
                     f"{s['preload_runs']} of the {s['runs']} runs (time), the other figures in all of them; see n=.")
    lines.append("notes: the generator figure is step 3's preload (the same publish, flat out, nothing else running); "
                 "ratios are taken within each run, then summarised; "
                 "Kafka's and Cassandra's peaks cover their whole life (they are shared with other users).")
    if results["runs"] and any(r.get("errors") for r in results["runs"]):
        lines.append("errors: " + "; ".join(f"run {r['run']} {k}: {v}" for r in results["runs"]
                                            for k, v in (r.get("errors") or {}).items()))
    return "\n".join(lines)


# ---------------------------------------------------------------- files

def write(results: dict, options) -> None:
    """The JSON always; in full mode (docs_dir set) the plots and docs/benchmarks/README.md too."""
    samples = results.pop("_latency_samples")
    files = [options.output]
    if options.docs_dir:
        from bench import plots

        options.docs_dir.mkdir(parents=True, exist_ok=True)
        files += plots.draw(results, samples, options.docs_dir)
        readme = options.docs_dir / "README.md"
        files.append(readme)
        results["files"] = [_rel(f) for f in files]
        readme.write_text(markdown(results, [_rel(f) for f in files]), encoding="utf-8")
    results["files"] = [_rel(f) for f in files]
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")


def _rel(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


STAGE_NOTE = ("In a micro-batch, 'save records' (one task per Kafka partition) reads the batch, validates it "
              "(Python), caches it and writes its rows, in one pass; 'foreachBatch collect' is the batch's counts by "
              "reason and hour, and 'save users_by_hour' (the hour index) its users, both read from the cache. Spark "
              "names stages after the call site, and inside foreachBatch some runs show 'start' instead. Task CPU "
              "counts the JVM only: validation runs in the Python workers and the writes wait on Cassandra, all on "
              "the same cores. The stream also times these steps itself (`records`, `counts`, `users_by_hour`, "
              "`dead_letters`: its log line and the UI's metadata). What each tuning change bought: "
              "[tuning.md](tuning.md).")


def _time_sections(results: dict) -> list[str]:
    """The last full run's micro-batches and Spark stages (the UI's figures), as a table."""
    last = next((r for r in reversed(results["runs"]) if r.get("pipeline_batches")), None)
    if not last:
        return []
    lines = ["", f"## Where the time goes (run {last['run']}, from the Spark UI's REST API)", "",
             "Pipeline micro-batches: " + "; ".join(batch_line(b) for b in last["pipeline_batches"]) + ".", "",
             "| step | stage | wall | in tasks | task CPU (JVM) |", "|---|---|---:|---:|---:|"]
    for step, groups in last.get("stages", {}).items():
        for g in groups[:5]:
            lines.append(f"| {step} | {g['stage']} | {g['wall_s']:.1f} s | {g['task_run_s']:.1f} s | {g['task_cpu_s']:.1f} s |")
    lines += ["", STAGE_NOTE]
    return lines


def _host_speed_text(machine: dict) -> str | None:
    """The run's gauge of the cores' speed (runner.machine_info), for comparing runs of different days."""
    us = machine.get("validator_us_per_event")
    if us is None:
        return None  # a results file from before the gauge
    return (f"host speed: the validator's CPU per event {us:.2f} µs (`python -m bench --validator`'s "
            "`validate_batch`; lower is faster): runs of different days compare through it")


def markdown(results: dict, files: list[str]) -> str:
    s, m = results["settings"], results["machine"]
    run_loads = ", ".join(f"{r['load_1m_at_start']:.1f}" for r in results["runs"] if "load_1m_at_start" in r)
    lines = [
        "# Benchmarks",
        "",
        f"Measured by `{results['command'] or 'python -m bench'}` on {results['started_at']} "
        f"({results['seconds'] / 60:.0f} min), one process, on the services `make run` starts. "
        "Each figure is the median of the runs, with min and max; ratios are taken within a run. "
        "Generated by `bench/report.py`: rerun `make bench` rather than editing.",
        "",
        "## Figures",
        "",
        "| figure | median | min | max | runs |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, label, unit in FIGURES:
        spread = results["summary"].get(key)
        if spread:
            cell = (lambda v: f"{v:.0%}") if unit == "%" else (lambda v: f"{v:,.1f} {unit}" if unit == "s" else f"{v:,.0f} {unit}")
            lines.append(f"| {label.strip()} | {cell(spread['median'])} | {cell(spread['min'])} | "
                         f"{cell(spread['max'])} | {spread['n']} |")
    if results["probe"]:
        probe = s["probe"]
        lines += ["", f"Sustained-rate probe (trigger {probe['trigger_s']:g} s, lag trend over each window): "
                  + "; ".join(f"{p['phase']} {p['rate']:,.0f} ev/s for {p['seconds']:g} s, {p['achieved']:,.0f} "
                              f"achieved, {p['verdict']}" for p in results["probe"])
                  + f". {_sustained_text(results)}."]
    lines += ["", "## Targets", "", "| target | goal | measured | verdict |", "|---|---|---:|---|"]
    lines += [f"| {t['target']} | {t['goal']} | {_value(t['value'], t['unit'])} | {t['verdict']} |" for t in results["targets"]]
    lines += ["", "## Memory (peak resident, VmHWM)", "", "| process | peak |", "|---|---:|"]
    for key in MEMORY_PARTS:
        value = results["memory"].get(key)
        lines.append(f"| {MEMORY_LABELS[key]} | {'n/a' if value is None else f'{value / MIB:,.0f} MiB'} |")
    lines.append(f"| **total** | **{results['memory']['total'] / GIB:.2f} GiB** |")
    lines += ["", "## Plots", ""] + [f"![{Path(f).stem}]({Path(f).name})" for f in files if f.endswith(".png")]
    lines += _time_sections(results)
    lines += [
        "",
        "## Set-up",
        "",
        f"- {s['runs']} runs ({s['preload_runs']} of them with the {s['events']:,}-event steps) of {s['events']:,} "
        f"events preloaded in one closed past hour, {s['partitions']}-partition "
        f"topics, {s['users']:,} users; small aggregated hour: {s['small_events']:,} events; "
        f"latency: {s['latency']['rate']:,.0f} ev/s for {s['latency']['seconds']:g} s, trigger "
        f"{s['latency']['trigger_s']:g} s, first {s['latency']['warmup_s']:g} s left out; "
        f"ProducerPerformance: {s['broker_records']:,} records.",
        f"- Spark: {s['spark'].get('spark.master')}, driver memory {s['spark'].get('spark.driver.memory')}, "
        f"shuffle partitions {s['spark'].get('spark.sql.shuffle.partitions')}, arrow batch "
        f"{s['spark'].get('spark.sql.execution.arrow.maxRecordsPerBatch')}; overrides: {s['spark_conf_overrides'] or 'none'}; "
        f"maxOffsetsPerTrigger: {s['max_offsets_per_trigger']}.",
        "",
        "## Commands",
        "",
        "```sh",
        "make bench          # full: this page, results.json and the plots",
        "make bench-smoke    # small, for CI: .local/bench/smoke.json",
        f"{results['command'] or 'python -m bench'}",
        "```",
        "",
        "## Machine",
        "",
        f"- nproc: {m['nproc']} ({m['cpu']})",
        f"- memory: {m['memory_gib']} GiB",
        f"- OS: {m['os']}; Python {m['python']}",
        f"- load average (1 min) at the start of each run: {run_loads}; "
        f"at the end: {', '.join(f'{v:.2f}' for v in m['load_average_at_end'])} "
        "(the machine is shared; other users' tests ran against the same Kafka and Cassandra)",
        *([f"- {host}"] if (host := _host_speed_text(m)) else []),
        "",
        "```",
        m["java_version"],
        "```",
        "",
    ]
    return "\n".join(lines)
