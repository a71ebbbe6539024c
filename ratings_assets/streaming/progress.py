"""What a person watches of the running query, distilled from Spark's progress reports."""

from __future__ import annotations

import json
from typing import Any


def _offsets(value: Any) -> dict[int, int]:
    """Spark reports Kafka offsets as {topic: {partition: offset}}, sometimes as a JSON string."""
    if isinstance(value, str):
        value = json.loads(value)
    merged: dict[int, int] = {}
    for partitions in (value or {}).values():
        merged.update({int(p): int(o) for p, o in partitions.items()})
    return merged


def consumer_lag(end_offsets: Any, latest_offsets: Any) -> int | None:
    """Messages in the topic that the query has not read yet (None before Spark knows)."""
    end, latest = _offsets(end_offsets), _offsets(latest_offsets)
    if not latest:
        return None
    return sum(max(0, offset - end.get(partition, 0)) for partition, offset in latest.items())


def progress_summary(progress: dict) -> dict:
    """The numbers of one StreamingQueryProgress: rows, rates, batch time, offsets, lag."""
    source = (progress.get("sources") or [{}])[0]
    return {
        "batch_id": progress.get("batchId"),
        "input_rows": progress.get("numInputRows", 0),
        "input_rows_per_second": round(progress.get("inputRowsPerSecond") or 0.0, 1),
        "processed_rows_per_second": round(progress.get("processedRowsPerSecond") or 0.0, 1),
        "batch_duration_ms": (progress.get("durationMs") or {}).get("triggerExecution"),
        "end_offsets": _offsets(source.get("endOffset")),
        "consumer_lag": consumer_lag(source.get("endOffset"), source.get("latestOffset")),
        "timestamp": progress.get("timestamp"),
    }


def startup_text(startup_seconds: dict[str, float]) -> str:
    """`12.3 s after the start (spark_session 6.1 s, ...)`: where a stream's start-up went, for a log line."""
    steps = {step: seconds for step, seconds in startup_seconds.items() if step != "total"}
    return f"{startup_seconds.get('total', sum(steps.values())):.1f} s after the start ({steps_text(steps)})"


def steps_text(step_seconds: dict[str, float]) -> str:
    """`records 4.1 s, counts 0.5 s`: where a batch's time went, for a log line."""
    return ", ".join(f"{step} {seconds:.1f} s" for step, seconds in step_seconds.items()) or "no steps timed"
