"""The running Dagster webserver's GraphQL API, as `make run` uses it: what the supervisor says, stopping the stream.

Public API of the webserver (what its UI calls), so the demo needs no access to the instance's internals.
"""

from __future__ import annotations

import json
import urllib.request

from ratings_assets.defs.stream_job import STREAM_JOB

SUPERVISOR = {"repositoryLocationName": "ratings_assets", "repositoryName": "__repository__",
              "sensorName": "ratings_stream_supervisor"}
ACTIVE = ["QUEUED", "NOT_STARTED", "STARTING", "STARTED"]


def graphql(base_url: str, query: str, variables: dict | None = None, timeout_s: float = 15) -> dict:
    """One GraphQL call; its `data`, or RuntimeError naming the errors."""
    request = urllib.request.Request(f"{base_url}/graphql", headers={"Content-Type": "application/json"},
                                     data=json.dumps({"query": query, "variables": variables or {}}).encode())
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        body = json.load(response)
    if body.get("errors"):
        raise RuntimeError(f"Dagster GraphQL errors: {body['errors']}")
    return body["data"]


def supervisor_says(base_url: str) -> str | None:
    """The reason the supervising sensor gave at its latest tick (`launch: …`, `wait: …`, `give_up: …`)."""
    data = graphql(base_url, """query($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) {
        ... on Sensor { sensorState { ticks(limit: 1) { status skipReason error { message } } } } } }""",
                   {"selector": SUPERVISOR})
    ticks = ((data.get("sensorOrError") or {}).get("sensorState") or {}).get("ticks") or []
    if not ticks:
        return None
    tick = ticks[0]
    return tick["skipReason"] or (tick["error"] or {}).get("message") or None


def active_stream_runs(base_url: str) -> list[str]:
    data = graphql(base_url, """query($filter: RunsFilter!) { runsOrError(filter: $filter) {
        ... on Runs { results { runId } } } }""", {"filter": {"pipelineName": STREAM_JOB, "statuses": ACTIVE}})
    return [run["runId"] for run in (data.get("runsOrError") or {}).get("results") or []]


def terminate_stream_runs(base_url: str) -> list[str]:
    """Terminate the stream's runs, as the UI's Terminate button does: they end CANCELED, which the
    supervisor does not count as failures. Returns their ids."""
    run_ids = active_stream_runs(base_url)
    for run_id in run_ids:
        graphql(base_url, """mutation($runId: String!) { terminateRun(runId: $runId) { __typename } }""",
                {"runId": run_id})
    return run_ids


def launch_partition_run(base_url: str, asset_path: list[str], partition_key: str) -> str:
    """Materialize one partition of an asset, as the UI's Materialize button does; returns the run id."""
    selector = {**{k: SUPERVISOR[k] for k in ("repositoryLocationName", "repositoryName")},
                "pipelineName": "__ASSET_JOB", "assetSelection": [{"path": asset_path}]}
    data = graphql(base_url, """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
        __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
        ... on InvalidSubsetError { message } ... on RunConfigValidationInvalid { errors { message } } } }""",
                   {"params": {"selector": selector,
                               "executionMetadata": {"tags": [{"key": "dagster/partition", "value": partition_key}]}}})
    result = data["launchRun"]
    if result["__typename"] != "LaunchRunSuccess":
        raise RuntimeError(f"launching {'/'.join(asset_path)} [{partition_key}] failed: {result}")
    return result["run"]["runId"]


def run_status(base_url: str, run_id: str) -> str:
    data = graphql(base_url, """query($runId: ID!) { runOrError(runId: $runId) { ... on Run { status } } }""",
                   {"runId": run_id})
    return data["runOrError"]["status"]
