"""Where Spark spends the time: streaming progress per micro-batch, and the Spark UI's stage figures.

`ProgressRecorder` is a StreamingQueryListener: it keeps every progress
report (durationMs per phase, rows, offsets) of the queries the benchmark
starts, including those `run_stream` starts, which hides its query object.
`StageWindow` diffs the UI's REST API (/api/v1/.../stages) before and after
a measurement, so each step reports the stages it ran.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections import defaultdict

from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQueryListener

from ratings_assets.streaming.progress import progress_summary


class ProgressRecorder(StreamingQueryListener):
    def __init__(self):
        self._lock = threading.Lock()
        self._progress: dict[str, list[dict]] = defaultdict(list)

    def onQueryStarted(self, event) -> None:
        pass

    def onQueryProgress(self, event) -> None:
        report = json.loads(event.progress.json)
        with self._lock:
            self._progress[report["name"] or report["id"]].append(report)

    def onQueryIdle(self, event) -> None:
        pass

    def onQueryTerminated(self, event) -> None:
        pass

    def take(self, query_name: str, rows: int = 0, timeout_s: float = 15.0) -> list[dict]:
        """The progress reports of the query named `query_name`, forgetting them.

        The listener bus is asynchronous: reports may arrive after the query
        stopped, so this waits (up to `timeout_s`) until they cover `rows` input rows.
        """
        deadline = time.monotonic() + timeout_s
        while sum(r.get("numInputRows", 0) for r in self.peek(query_name)) < rows and time.monotonic() < deadline:
            time.sleep(0.2)
        with self._lock:
            return self._progress.pop(query_name, [])

    def peek(self, query_name: str) -> list[dict]:
        with self._lock:
            return list(self._progress.get(query_name, []))

    @classmethod
    def attach(cls, spark: SparkSession) -> ProgressRecorder:
        recorder = cls()
        spark.streams.addListener(recorder)
        return recorder


def batch_table(reports: list[dict]) -> list[dict]:
    """Per micro-batch that read rows: rows, phase durations (ms) and processing rate."""
    rows = []
    for report in reports:
        if not report.get("numInputRows"):
            continue
        summary = progress_summary(report)
        rows.append({
            "batch": report["batchId"],
            "rows": report["numInputRows"],
            "duration_ms": dict(report.get("durationMs") or {}),
            "rows_per_s": summary["processed_rows_per_second"],
        })
    return rows


def phase_totals(reports: list[dict]) -> dict[str, int]:
    """Milliseconds per phase (addBatch = the foreachBatch body, latestOffset, walCommit...) summed over batches."""
    totals: dict[str, int] = defaultdict(int)
    for report in reports:
        if not report.get("numInputRows"):
            continue
        for phase, ms in (report.get("durationMs") or {}).items():
            totals[phase] += int(ms)
    return dict(totals)


class StageWindow:
    """Completed stages between `open()` and `close()`, grouped by their name (Spark UI REST API)."""

    def __init__(self, spark: SparkSession):
        context = spark.sparkContext
        self.base = f"{context.uiWebUrl}/api/v1/applications/{context.applicationId}" if context.uiWebUrl else None
        self._seen: set[tuple[int, int]] = set()

    def _stages(self) -> list[dict]:
        if self.base is None:
            return []
        try:
            with urllib.request.urlopen(f"{self.base}/stages?status=complete", timeout=10) as response:
                return json.load(response)
        except OSError:
            return []

    def open(self) -> StageWindow:
        self._seen = {(s["stageId"], s["attemptId"]) for s in self._stages()}
        return self

    def close(self) -> list[dict]:
        """Stage groups by name, slowest first: count, wall seconds, task seconds (run and CPU), tasks, records."""
        groups: dict[str, dict] = {}
        new = sorted((s for s in self._stages() if (s["stageId"], s["attemptId"]) not in self._seen),
                     key=lambda s: s["stageId"])
        for stage in new:
            label = _stage_label(stage)
            group = groups.setdefault(label, {
                "stage": label, "stages": 0, "tasks": 0, "wall_s": 0.0, "task_run_s": 0.0,
                "task_cpu_s": 0.0, "input_records": 0, "shuffle_write_records": 0, "gc_s": 0.0,
            })
            group["stages"] += 1
            group["tasks"] += stage.get("numTasks", 0)
            if stage.get("submissionTime") and stage.get("completionTime"):
                group["wall_s"] += _ms_between(stage["submissionTime"], stage["completionTime"]) / 1000
            group["task_run_s"] += stage.get("executorRunTime", 0) / 1000
            group["task_cpu_s"] += stage.get("executorCpuTime", 0) / 1e9
            group["gc_s"] += stage.get("jvmGcTime", 0) / 1000
            group["input_records"] += stage.get("inputRecords", 0)
            group["shuffle_write_records"] += stage.get("shuffleWriteRecords", 0)
        for group in groups.values():
            for key in ("wall_s", "task_run_s", "task_cpu_s", "gc_s"):
                group[key] = round(group[key], 2)
        return sorted(groups.values(), key=lambda g: -g["wall_s"])


# PySpark names stages after the Python call site: "call" is the foreachBatch body's collect,
# "$anonfun..." a broadcast being built.
_LABELS = {"call": "foreachBatch collect", "count": "count",
           "$anonfun$withThreadLocalCaptured$1": "broadcast build"}


def _stage_label(stage: dict) -> str:
    """A write is named by its job's description ("save <table>", set by BatchWriter); others by their call."""
    name = stage.get("name", "?").split(" at ")[0]
    if name == "save":
        return stage.get("description") or name
    label = _LABELS.get(name, name)
    return label if label == "save" else f"{label} [{stage.get('numTasks', 0)} tasks]"


def _ms_between(start: str, end: str) -> float:
    from datetime import datetime

    parse = lambda text: datetime.strptime(text.replace("GMT", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")  # noqa: E731
    return (parse(end) - parse(start)).total_seconds() * 1000
