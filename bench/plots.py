"""PNG plots for docs/benchmarks (matplotlib, Agg: no display needed)."""

from __future__ import annotations

from pathlib import Path

from bench.report import P99_GOAL_MS

CEILING, PIPELINE, GENERATOR = "#9e9e9e", "#1f77b4", "#ff7f0e"
BARS = [  # summary key, label, colour
    ("ceiling_broker_rec_s", "Kafka\nProducerPerformance\n(c)", CEILING),
    ("ceiling_source_rows_s", "Spark batch read\n+ validation (b)", CEILING),
    ("ceiling_sink_rows_s", "Spark batch write\nto Cassandra (a)", CEILING),
    ("pipeline_ev_s", "streaming\npipeline", PIPELINE),
    ("generator_ev_s", "generator\n(publish)", GENERATOR),
]


def draw(results: dict, latency_samples: list[float], folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    summary = results["summary"]
    bars = [(label, summary[key], colour) for key, label, colour in BARS if key in summary]
    if bars:
        fig, ax = plt.subplots(figsize=(9, 4.8))
        medians = [s["median"] for _, s, _ in bars]
        errors = [[s["median"] - s["min"] for _, s, _ in bars], [s["max"] - s["median"] for _, s, _ in bars]]
        ax.bar([label for label, _, _ in bars], medians, yerr=errors, capsize=4, color=[c for _, _, c in bars])
        ax.set_yscale("log")
        ax.set_ylabel("events (rows, records) per second, log scale")
        ax.set_title(f"Throughput, {results['settings']['events']:,} events, median of runs (bars: min–max)")
        for x, value in enumerate(medians):
            ax.annotate(f"{value:,.0f}", (x, value), ha="center", va="bottom", fontsize=9,
                        xytext=(0, 3), textcoords="offset points")
        fig.tight_layout()
        written.append(folder / "throughput.png")
        fig.savefig(written[-1], dpi=110)
        plt.close(fig)
    if latency_samples:
        ordered = sorted(latency_samples)
        fig, (hist, cdf) = plt.subplots(1, 2, figsize=(11, 4.2))
        hist.hist([v / 1000 for v in ordered], bins=60, color="#1f77b4")
        hist.set_xlabel("latency, s (WRITETIME - event time)")
        hist.set_ylabel("rows")
        cdf.plot([v / 1000 for v in ordered], [(i + 1) / len(ordered) for i in range(len(ordered))])
        cdf.set_xlabel("latency, s")
        cdf.set_ylabel("fraction of rows")
        cdf.grid(True, alpha=0.3)
        for key, style in (("latency_p50_ms", ":"), ("latency_p95_ms", "--"), ("latency_p99_ms", "-.")):
            if key in results["summary"]:
                value = results["summary"][key]["median"] / 1000
                cdf.axvline(value, linestyle=style, color="grey", label=f"{key.split('_')[1]} {value:.2f} s")
        latency = results["settings"]["latency"]
        cdf.axvline(P99_GOAL_MS / 1000, color="red", alpha=0.6, label=f"goal p99 <= {P99_GOAL_MS / 1000:g} s")
        cdf.legend(loc="lower right")
        fig.suptitle(f"End-to-end latency at {latency['rate']:,.0f} ev/s, trigger {latency['trigger_s']:g} s "
                     f"({len(ordered):,} rows, all runs)")
        fig.tight_layout()
        written.append(folder / "latency.png")
        fig.savefig(written[-1], dpi=110)
        plt.close(fig)
    return written
