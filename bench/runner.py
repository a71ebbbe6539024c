"""`python -m bench`: every measurement in one process, repeated, summarised and judged against the targets.

A run (repetition) uses its own topics and keyspace: it preloads N events
into one closed past hour (timing the generator), reads them back with a
Spark batch job (source ceiling), times Kafka's ProducerPerformance (broker
ceiling), drains them with the streaming job and writes as many rows with
a Spark batch job (sink ceiling; these two alternate in order between runs,
so neither always pays the other's compactions), measures latency at a
steady rate, and materializes the hour (and a small one) with Dagster.
Then, once: the sustained-rate probe (full mode: 60 s windows up the rates and
bisecting, then 5 minutes at the best rate found) and peak memory.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from bench import aggregate, ceilings, latency, memory, pipeline, report
from bench.env import (Hours, Names, Services, Stream, catalog_movies, isolated, new_run_id, spark_session,
                       stream_config)
from bench.generator import Workload, preload
from bench.sparkmon import ProgressRecorder, StageWindow
from bench.stats import Spread, paired_ratios
from bench.validator import host_speed_us
from ratings_assets import settings
from ratings_assets.paths import REPO_ROOT

GIB = 1024**3


@dataclass
class BenchOptions:
    mode: str  # "smoke" or "full"
    events: int  # preloaded events per run: pipeline, ceilings (a) and (b), the big aggregate
    small_events: int  # the small aggregated hour
    runs: int
    latency_rate: float
    latency_seconds: float
    latency_warmup_s: float
    broker_records: int
    probe: bool
    output: Path
    docs_dir: Path | None  # plots and README (full mode)
    latency_trigger_s: float = 1.0
    probe_fractions: tuple[float, ...] = (0.5, 0.75, 1.0, 1.25)  # of the drain rate, which includes start-up
    probe_seconds: float = 60.0  # each screening and refining window
    probe_confirm_seconds: float = 300.0  # the best rate must hold this long (the 5 minutes)
    probe_refine_steps: int = 2
    probe_warmup_s: float = 10.0
    probe_trigger_s: float = 5.0
    partitions: int = 4
    users: int = 1000
    seed: int = 7
    max_offsets_per_trigger: int | None = None  # None: the job's default
    preload_runs: int | None = None  # runs that do the N-event steps (None: all); the others only the light ones
    warmup_events: int = 2_000
    dagster_seconds: float = 20.0
    head_to_head_rounds: int = 2  # launch-to-last-row rounds of ours against the straightforward consumer
    conf: dict[str, str] = field(default_factory=dict)
    command: str = ""

    @classmethod
    def for_mode(cls, mode: str, **overrides) -> BenchOptions:
        """Smoke: small and quick (CI, 2 cores, a few minutes). Full: 1M events, plots and README in docs/benchmarks."""
        if mode == "smoke":
            base = dict(events=20_000, small_events=2_000, runs=3, latency_rate=200, latency_seconds=20,
                        latency_warmup_s=5, broker_records=200_000, probe=False, head_to_head_rounds=1,
                        output=REPO_ROOT / ".local" / "bench" / "smoke.json", docs_dir=None)
        elif mode == "full":
            base = dict(events=1_000_000, small_events=10_000, runs=3, latency_rate=1000, latency_seconds=120,
                        latency_warmup_s=15, broker_records=1_000_000, probe=True,
                        output=REPO_ROOT / "docs" / "benchmarks" / "results.json", docs_dir=REPO_ROOT / "docs" / "benchmarks")
        else:
            raise ValueError(f"unknown bench mode {mode!r}")
        overrides = {k: v for k, v in overrides.items() if v is not None}
        if overrides.get("preload_runs") is not None and overrides["preload_runs"] < 1:
            raise ValueError("--preload-runs must be at least 1")
        if mode == "full" and "output" in overrides:  # plots and README go next to a results file put elsewhere
            base["docs_dir"] = Path(overrides["output"]).parent
        base.update(overrides)
        return cls(mode=mode, **base)


class Bench:
    """State of one benchmark process: services, the Spark session, the workload, the figures."""

    def __init__(self, options: BenchOptions):
        self.options = options
        self.run_id = new_run_id()
        self.scratch = REPO_ROOT / ".local" / "bench" / "tmp"
        self.failures: list[str] = []
        self.latency_samples: list[float] = []  # pooled over runs, for the histogram
        self.began = time.monotonic()

    def say(self, message: str) -> None:
        print(f"[{time.monotonic() - self.began:6.0f}s] {message}", flush=True)

    # ------------------------------------------------------------ set-up
    def start(self) -> None:
        from ratings_assets.generator.users import user_pool
        from ratings_assets.streaming.job import broadcast_catalog

        o = self.options
        self.say(f"bench {o.mode}: {o.events:,} events x {o.runs} runs, {o.partitions}-partition topics, "
                 f"{o.users:,} users, run id {self.run_id}")
        self.services = Services.up(progress=self.say)
        self.spark, self.spark_conf = spark_session(o.conf, self.services)
        self.recorder = ProgressRecorder.attach(self.spark)
        self.say(f"spark {self.spark.version} session up: {self.spark_conf['spark.master']}, driver "
                 f"{self.spark_conf['spark.driver.memory']}, UI {self.spark.sparkContext.uiWebUrl}")
        movies = catalog_movies()
        self.workload = Workload(movies, user_pool(o.users, seed=o.seed), o.seed)
        self.movie_ids = [m.movie_id for m in movies]
        # The job's default unless --max-offsets says otherwise.
        self.config_changes = {"max_offsets_per_trigger": o.max_offsets_per_trigger} if o.max_offsets_per_trigger else {}
        self.catalog = broadcast_catalog(self.spark, settings.CATALOG.value())
        aggregate.warm_up()

    def config_for(self, names: Names, topic: str, purpose: str, **changes) -> Stream:
        return stream_config(self.services, names, topic, purpose, **{**self.config_changes, **changes})

    def step(self, figures: dict, name: str, func):
        """Run one measurement; a failure is reported and recorded, and the other steps still run."""
        try:
            return func()
        except Exception as exc:  # noqa: BLE001
            self.failures.append(f"{name}: {exc!r}")
            figures.setdefault("errors", {})[name] = repr(exc)
            self.say(f"  {name} FAILED: {exc!r}")
            traceback.print_exc()
            return None

    # ------------------------------------------------------------ warm-up
    def warm_up(self) -> None:
        """Not measured: the first write, stream and Python workers of a session pay JIT, connections and
        process start-up (about 2.5x slower), which would otherwise land on whichever run 1 measures first."""
        o = self.options
        self.say(f"warm-up (not measured): {o.warmup_events:,} events through the stream and the batch writer")
        names = Names.fresh(self.run_id, "w", self.scratch)
        hours = Hours.before()
        with isolated(self.services, names):
            topic = names.new_topic("events")
            self.services.kafka.ensure_topic(topic, o.partitions, 1)
            stream = self.config_for(names, topic, "warmup")
            preload(self.services.kafka, topic, self.workload, salt=0, count=o.warmup_events,
                    window=Hours.window(hours.pipeline))
            pipeline.drain(self.spark, stream, self.recorder, o.warmup_events)
            self._sink_ceiling(stream, hours.ceiling, o.warmup_events, salt=0)

    def _sink_ceiling(self, stream: Stream, hour, count: int, salt: int):
        return ceilings.sink_ceiling(self.spark, stream, self.catalog, self.workload.users, self.movie_ids, hour,
                                     count, self.options.partitions, salt=salt)

    def _write_hour(self, stream: Stream, hour, count: int, salt: int) -> None:
        ceilings.write_hour(self.spark, stream, self.catalog, self.workload.users, self.movie_ids, hour, count,
                            self.options.partitions, salt=salt)

    # ------------------------------------------------------------ one run
    def run_once(self, index: int) -> dict:
        """All steps; runs past --preload-runs skip the N-event ones (preload, ceilings a/b, pipeline, big hour)."""
        o = self.options
        heavy = o.preload_runs is None or index <= o.preload_runs
        names = Names.fresh(self.run_id, f"r{index}", self.scratch)
        hours = Hours.before()
        figures: dict = {"run": index, "load_1m_at_start": os.getloadavg()[0], "heavy": heavy}
        tag = f"run {index}/{o.runs}"
        self.say(f"{tag} starting{'' if heavy else ' (light: the N-event steps ran in the first runs only)'}; "
                 f"machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (the machine is shared)")
        with isolated(self.services, names) as cassandra:
            if heavy:
                self._heavy_steps(index, names, hours, figures, tag)
            self.step(figures, "ceiling_broker", lambda: self._broker(names, figures, tag))
            self.step(figures, "latency", lambda: self._latency(names, figures, tag))
            self.step(figures, "aggregate", lambda: self._aggregates(names, cassandra, hours, figures, tag, heavy))
            figures["load_1m_at_end"] = os.getloadavg()[0]
            self.say(f"{tag} dropping {names.keyspace} and {len(names.topics)} topics")
        return figures

    def _heavy_steps(self, index: int, names: Names, hours: Hours, figures: dict, tag: str) -> None:
        o = self.options
        topic = names.new_topic("events")
        self.services.kafka.ensure_topic(topic, o.partitions, 1)
        stream = self.config_for(names, topic, "drain")

        def generator_step():
            result = preload(self.services.kafka, topic, self.workload, salt=index, count=o.events,
                             window=Hours.window(hours.pipeline))
            figures["generator_ev_s"] = result.rate
            self.say(f"{tag} generator: {result.acked:,} events published (acks=all, flat out) in "
                     f"{result.seconds:.1f} s = {result.rate:,.0f} ev/s  [step 2; this is step 3's preload]")
            return result

        if self.step(figures, "generator", generator_step) is None:
            return  # nothing else of these can run without the preloaded topic

        def source_step():
            window = StageWindow(self.spark).open()
            result = ceilings.source_ceiling(self.spark, stream.kafka, self.catalog)
            figures["ceiling_source_rows_s"] = result.rate
            figures.setdefault("stages", {})["ceiling_source"] = window.close()
            self.say(f"{tag} ceiling (b) Spark batch read + validation: {result.rows:,} rows in "
                     f"{result.seconds:.1f} s = {result.rate:,.0f} rows/s")

        def pipeline_step():
            window = StageWindow(self.spark).open()
            result = pipeline.drain(self.spark, stream, self.recorder, o.events)
            figures["pipeline_ev_s"] = result.rate
            figures["pipeline_s"] = result.seconds
            figures["pipeline_batches"] = result.batches
            figures["pipeline_phases_ms"] = result.phases_ms
            figures.setdefault("stages", {})["pipeline"] = window.close()
            batches = ", ".join(report.batch_line(b) for b in result.batches)
            self.say(f"{tag} pipeline (run_stream, available-now): {result.stored:,} events stored in "
                     f"{result.seconds:.1f} s = {result.rate:,.0f} ev/s; batches: {batches}")

        def sink_step():
            window = StageWindow(self.spark).open()
            result = self._sink_ceiling(stream, hours.ceiling, o.events, salt=index)
            figures["ceiling_sink_rows_s"] = result.rate
            figures.setdefault("stages", {})["ceiling_sink"] = window.close()
            self.say(f"{tag} ceiling (a) Spark batch write of enriched rows to records: {result.rows:,} rows in "
                     f"{result.seconds:.1f} s = {result.rate:,.0f} rows/s")

        self.step(figures, "ceiling_source", source_step)
        # Pipeline and sink ceiling alternate, so neither always runs on a Cassandra busy compacting the other's rows.
        order = [("pipeline", pipeline_step), ("ceiling_sink", sink_step)]
        figures["order"] = "pipeline first" if index % 2 else "sink ceiling first"
        for name, func in (order if index % 2 else order[::-1]):
            self.step(figures, name, func)
        ratio = paired_ratios([figures.get("pipeline_ev_s")], [figures.get("ceiling_sink_rows_s")])[0]
        if ratio is not None:
            self.say(f"{tag} pipeline / ceiling (a) = {ratio:.0%}")

    def _broker(self, names: Names, figures: dict, tag: str) -> None:
        broker_topic = names.new_topic("broker")
        self.services.kafka.ensure_topic(broker_topic, self.options.partitions, 1)
        result = ceilings.broker_ceiling(self._producer_performance(broker_topic))
        figures["ceiling_broker_rec_s"] = result["records_per_s"]
        figures["broker"] = result
        self.say(f"{tag} ceiling (c) ProducerPerformance: {result['records']:,} x 160 B, acks=all: "
                 f"{result['records_per_s']:,.0f} records/s ({result['mb_per_s']:.1f} MB/s, "
                 f"avg latency {result['avg_latency_ms']:.0f} ms)")

    def _producer_performance(self, topic: str) -> list[str]:
        from ratings_assets.localstack.java import find_java

        stack, kafka = self.services.stack_config, self.services.kafka
        java = str(find_java(17, None, stack.java_home, purpose="ProducerPerformance").executable)
        # The SASL settings (if any) under the Kafka client's own names; the address is passed on its own.
        extra = {key.removeprefix("kafka."): value for key, value in kafka.spark_source_options().items()
                 if key != "kafka.bootstrap.servers"}
        return ceilings.producer_performance_command(java, str(stack.jars_dir("kafka")), topic, self.options.broker_records,
                                                     kafka.bootstrap_servers, extra_props=extra)

    def _latency(self, names: Names, figures: dict, tag: str) -> None:
        o = self.options
        topic = names.new_topic("latency")
        self.services.kafka.ensure_topic(topic, o.partitions, 1)
        stream = self.config_for(names, topic, "latency", trigger_seconds=o.latency_trigger_s)
        window = StageWindow(self.spark).open()
        result = latency.steady_latency(self.spark, stream, self.recorder, self.workload, o.latency_rate,
                                        o.latency_seconds, o.latency_warmup_s, salt=100 + figures["run"])
        p = result.percentiles
        figures.update({f"latency_{k}_ms": v for k, v in p.items()})
        figures["latency_achieved_ev_s"] = result.achieved
        figures["latency_rows"] = result.measured
        figures["latency_batches"] = len(result.batches)
        figures["latency_batch_ms"] = [b["duration_ms"].get("triggerExecution") for b in result.batches]
        figures["latency_phases_ms"] = result.phases_ms
        figures.setdefault("stages", {})["latency"] = window.close()
        self.latency_samples.extend(result.latencies_ms)
        self.say(f"{tag} latency at {result.achieved:,.0f} ev/s for {o.latency_seconds:g} s, trigger "
                 f"{o.latency_trigger_s:g} s: p50 {p.get('p50', 0):,.0f} ms, p95 {p.get('p95', 0):,.0f} ms, "
                 f"p99 {p.get('p99', 0):,.0f} ms over {result.measured:,} rows after a {o.latency_warmup_s:g} s warm-up")

    def _aggregates(self, names: Names, cassandra, hours: Hours, figures: dict, tag: str, heavy: bool) -> None:
        """The pipeline's hour (N events, heavy runs only) and a small hour written by the batch writer."""
        o = self.options
        self._write_hour(self.config_for(names, "-", "small"), hours.small, o.small_events, salt=200 + figures["run"])
        hours_to_do = [("small", hours.small, o.small_events)]
        if heavy and "pipeline_ev_s" in figures:
            hours_to_do.insert(0, ("big", hours.pipeline, o.events))
        for label, hour, expected in hours_to_do:
            result = aggregate.materialize_hour(cassandra, hour)
            if result.ratings != expected:
                raise RuntimeError(f"hour {result.hour} aggregated {result.ratings:,} ratings, expected {expected:,}")
            figures[f"aggregate_{label}_s"] = result.seconds
            figures[f"aggregate_{label}_asset_s"] = result.asset_seconds
            self.say(f"{tag} aggregate hour {result.hour} with {result.ratings:,} ratings by {result.users:,} users: "
                     f"{result.seconds:.1f} s (asset body {result.asset_seconds:.1f} s)")

    # ------------------------------------------------------------ once per benchmark
    def probe(self, reference_rate: float | None) -> list[dict]:
        o = self.options
        if not o.probe or not reference_rate:
            return []
        rates = [round(reference_rate * f, -1) for f in o.probe_fractions]
        self.say(f"sustained-rate probe: {', '.join(f'{r:,.0f}' for r in rates)} ev/s ({o.probe_seconds:g} s each, "
                 f"trigger {o.probe_trigger_s:g} s) until the lag grows, {o.probe_refine_steps} bisections, then "
                 f"the best rate for {o.probe_confirm_seconds:g} s")
        names = Names.fresh(self.run_id, "p", self.scratch)
        with isolated(self.services, names):
            base = self.config_for(names, "-", "probe", trigger_seconds=o.probe_trigger_s)
            results = pipeline.sustained_probe(self.spark, base, self.recorder, self.workload, rates, o.probe_seconds,
                                               o.probe_confirm_seconds, o.probe_warmup_s, names.new_topic,
                                               o.partitions, o.probe_refine_steps, progress=self.say)
        return [asdict(r) | {"verdict": r.verdict} for r in results]

    def head_to_head(self) -> dict:
        """`ratings stream` and the straightforward consumer, each a new process, on the same N preloaded events."""
        from bench import head_to_head

        o = self.options
        self.say(f"head to head: launch to last row of `ratings stream` and of bench/baseline.py on {o.events:,} "
                 f"events, {o.head_to_head_rounds} round(s)")
        names = Names.fresh(self.run_id, "h", self.scratch)
        with isolated(self.services, names):
            figures = head_to_head.measure(self.services, names, self.workload, o.events, o.head_to_head_rounds,
                                           o.partitions, timeout_s=900, progress=self.say)
        for line in head_to_head.report_lines(figures):
            self.say(line)
        return figures

    def memory(self) -> dict:
        self.say("memory: peak resident (VmHWM) of the stack's processes; starting a Dagster webserver for "
                 f"{self.options.dagster_seconds:g} s")
        spark = memory.spark_processes()
        figures = {
            "kafka": memory.peak_bytes(self.services.pids["kafka"]) if self.services.pids.get("kafka") else None,
            "cassandra": memory.peak_bytes(self.services.pids["cassandra"]) if self.services.pids.get("cassandra") else None,
            "spark_driver_jvm": memory.total_peak(spark["jvm"]),
            "spark_python_workers": memory.total_peak(spark["python_workers"]),
        }
        try:
            dagster = memory.dagster_webserver_peak(self.options.dagster_seconds)
            figures["dagster_webserver"] = dagster["webserver"] + dagster["code_servers"]
            figures["dagster_detail"] = dagster
        except Exception as exc:  # noqa: BLE001
            self.failures.append(f"memory/dagster: {exc!r}")
            figures["dagster_webserver"] = None
        figures["total"] = sum(v for k, v in figures.items() if k in report.MEMORY_PARTS and v)
        figures["bench_python_driver"] = memory.peak_bytes(os.getpid())
        figures["processes"] = {"spark_jvm": spark["jvm"], "spark_python_workers": spark["python_workers"],
                                **self.services.pids}
        return figures

    # ------------------------------------------------------------ all of it
    def run(self) -> dict:
        o = self.options
        started_at = datetime.now(timezone.utc)
        self.start()
        self.step({}, "warm-up", self.warm_up)
        runs = []
        try:
            for index in range(1, o.runs + 1):
                runs.append(self.run_once(index))
            versus = self.step({}, "head_to_head", self.head_to_head) or {}
            pipeline_rate = Spread.of(r.get("pipeline_ev_s") for r in runs)
            probe = self.step({}, "probe", lambda: self.probe(pipeline_rate.median if pipeline_rate else None)) or []
            mem = self.memory()
        finally:
            self.spark.stop()
        results = report.assemble(o, runs, probe, mem, self.latency_samples, machine_info(), started_at,
                                  time.monotonic() - self.began, self.failures, self.spark_conf, versus)
        return results


def machine_info() -> dict:
    def java_version() -> str:
        done = subprocess.run(["java", "-version"], capture_output=True, text=True)
        return (done.stderr or done.stdout).strip()

    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines() if ":" in line)
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(int(meminfo["MemTotal"].split()[0]) * 1024 / GIB, 1),
        "java_version": java_version(),
        "python": sys.version.split()[0],
        "os": platform.platform(),
        "load_average_at_end": os.getloadavg(),
        "validator_us_per_event": host_speed_us(),
    }


def run(options: BenchOptions) -> int:
    """The `python -m bench` command: measure, print the report, write the files. Targets never fail it."""
    results = Bench(options).run()
    print(report.text(results), flush=True)
    report.write(results, options)
    for path in results["files"]:
        print(f"wrote {path}")
    if results["failures"]:
        print(f"{len(results['failures'])} step(s) failed: " + "; ".join(results["failures"]), file=sys.stderr)
        return 1
    return 0
