"""The Dagster UI in a real browser: Debian's Chromium, driven by Playwright, against a webserver of our own.

The test starts `dagster-webserver` on a free 127.0.0.1 port with a temporary DAGSTER_HOME and points the
project at an isolated keyspace and topic, so the demo's data is never touched. It inserts a few ratings for
one closed hour, then, as a user would: opens the asset graph and finds the four assets, opens the hourly
aggregates asset, materializes that hour through the Materialize button and the partition picker, waits for
the run to succeed and checks the aggregates in Cassandra. Screenshots go to .local/screenshots/.

Needs /usr/bin/chromium (`make browser`: apt-get install chromium) and the `playwright` package (the test
extra). Playwright's own browser download (`playwright install`) is never used.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from ratings_assets.dagster_api import graphql
from ratings_assets.core.hours import HOUR, hour_of, partition_key
from ratings_assets.dagster_home import prepare_dagster_home
from ratings_assets.paths import REPO_ROOT
from ratings_assets_tests.localstack.conftest import free_port
from ratings_assets_tests.conftest import SCREENSHOTS
from ratings_assets_tests.stored_rows import insert_ratings

pytestmark = pytest.mark.integration

ASSETS = ("movie_catalog", "ratings_topic", "records", "hourly_user_ratings")
LAUNCH_TIMEOUT_MS = 180_000  # the launch dialogs, which wait for a heavier query
SERVER_TIMEOUT_S = 180       # webserver up and the code location loaded
RUN_TIMEOUT_S = 240          # the launched run finished

# The hour to aggregate: closed for over an hour, so the UI offers it as a partition.
THE_HOUR = hour_of(datetime.now(timezone.utc)) - 2 * HOUR
# Ratings in THE_HOUR: (user, minutes into the hour, movie, rating, duration).
RATINGS = [
    ("Grace Hopper", 3, "Alien", 4, 117),
    ("Edsger Dijkstra", 10, "Dune", 2, 137),
    ("Grace Hopper", 17, "Brazil", 5, 142),
    ("Ada Lovelace", 30, "Ran", 5, 162),
    ("Grace Hopper", 42, "Cube", 3, 90),
    ("Edsger Dijkstra", 50, "Heat", 4, 170),
]
# The same aggregates worked out by hand: name -> (ratings, avg, min, max, avg duration, movies in time order).
EXPECTED = {
    "Ada Lovelace": (1, 5.0, 5, 5, 162.0, ["Ran"]),
    "Edsger Dijkstra": (2, 3.0, 2, 4, 153.5, ["Dune", "Heat"]),
    "Grace Hopper": (3, 4.0, 3, 5, 349 / 3, ["Alien", "Brazil", "Cube"]),
}
# A rating of the next hour: must stay out of THE_HOUR's aggregates.
NEXT_HOUR_RATING = ("Ada Lovelace", 65, "Fargo", 3, 98)


def _wait(what: str, timeout_s: float, probe, interval_s: float = 1.0):
    """Poll `probe` until it returns something truthy; fail naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    last_error = None
    while time.monotonic() < deadline:
        try:
            if result := probe():
                return result
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            last_error = exc
        time.sleep(interval_s)
    pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}" + (f" (last error: {last_error})" if last_error else ""))


@pytest.fixture(scope="module")
def ratings_rows(cassandra) -> None:
    """The hour's ratings, stored as the stream stores them."""
    keyspace = cassandra.keyspace
    with cassandra.session() as session:
        insert_ratings(session, keyspace, [
            {"name": name, "time": THE_HOUR + timedelta(minutes=minutes), "event_id": f"ui-{number}", "movie": movie,
             "rating": rating, "duration": duration}
            for number, (name, minutes, movie, rating, duration) in enumerate([*RATINGS, NEXT_HOUR_RATING])])


@pytest.fixture(scope="module")
def dagster_home(tmp_path_factory) -> Path:
    """A throw-away instance: the repo's dagster.yaml, copied the way `make run` does, with one change.

    The repo's instance queues runs (QueuedRunCoordinator), and only the daemon dequeues them; the daemon
    would also run the sensors, whose supervisor launches the never-ending streaming job. Instead of the
    daemon, this instance uses the DefaultRunCoordinator: a run launched from the UI starts at once, in a
    process of the webserver's code server, and nothing else runs.
    """
    home = tmp_path_factory.mktemp("dagster_home")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DAGSTER_HOME", str(home))
        env.delenv("DAGSTER_POSTGRES_HOST", raising=False)
        assert prepare_dagster_home() == home
    config = yaml.safe_load((home / "dagster.yaml").read_text())
    config["run_coordinator"] = {"module": "dagster.core.run_coordinator", "class": "DefaultRunCoordinator"}
    (home / "dagster.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return home


@pytest.fixture(scope="module")
def webserver(services, isolated, cassandra, dagster_home, tmp_path_factory) -> SimpleNamespace:
    """`dagster-webserver -w workspace.yaml` on a free local port, once its code location loaded: its url and log."""
    port = free_port()
    # The developer's environment, minus any other Dagster instance; the project pointed at the isolated names.
    env = {key: value for key, value in os.environ.items() if not key.startswith("DAGSTER_")}
    env.update({
        "DAGSTER_HOME": str(dagster_home),
        "RATINGS_KEYSPACE": isolated["keyspace"],
        "RATINGS_TOPIC": isolated["topic"],
        "RATINGS_DLQ_TOPIC": isolated["dlq_topic"],
        "RATINGS_CHECKPOINT_DIR": isolated["checkpoint_dir"],
        "RATINGS_CASSANDRA_HOSTS": services.bind_host,
        "RATINGS_CASSANDRA_PORT": str(services.cassandra_port),
        "RATINGS_KAFKA_BOOTSTRAP": f"{services.bind_host}:{services.kafka_port}",
        # A handful of hour partitions, THE_HOUR among them: a short picker, a small page.
        "RATINGS_HOURLY_START": partition_key(THE_HOUR - 3 * HOUR),
    })
    log_path = tmp_path_factory.mktemp("webserver") / "webserver.log"
    executable = Path(sys.executable).with_name("dagster-webserver")
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(executable), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"

    def loaded() -> bool:
        if process.poll() is not None:
            pytest.fail(f"dagster-webserver exited with {process.returncode}:\n{log_path.read_text()[-4000:]}")
        entries = graphql(base_url, """{ workspaceOrError { ... on Workspace { locationEntries {
            name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }""")
        entries = entries["workspaceOrError"]["locationEntries"]
        for entry in entries:
            if entry["locationOrLoadError"] and entry["locationOrLoadError"]["__typename"] == "PythonError":
                pytest.fail(f"code location {entry['name']} failed to load: {entry['locationOrLoadError']['message']}")
        return bool(entries) and all(e["loadStatus"] == "LOADED" and e["locationOrLoadError"] for e in entries)

    try:
        _wait("the webserver and its code location", SERVER_TIMEOUT_S, loaded)
        yield SimpleNamespace(url=base_url, log=log_path)
    finally:
        # The whole session: the webserver, its code server and any run worker it started.
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def _screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=path)
    return path


def _runs_of_partition(base_url: str, key: str) -> list[dict]:
    data = graphql(base_url, """query Runs($key: String!) {
        runsOrError(filter: {tags: [{key: "dagster/partition", value: $key}]}) {
            ... on Runs { results { runId status } } } }""", {"key": key})
    return data["runsOrError"]["results"]


def _run_messages(base_url: str, run_id: str) -> str:
    data = graphql(base_url, """query Logs($runId: ID!) { logsForRun(runId: $runId) {
        ... on EventConnection { events { __typename ... on MessageEvent { message } } } } }""", {"runId": run_id})
    events = (data["logsForRun"] or {}).get("events") or []
    return "\n".join(f"{e['__typename']}: {e.get('message')}" for e in events[-25:])


def test_materialize_an_hour_from_the_ui(webserver, page, ratings_rows, cassandra):
    key = partition_key(THE_HOUR)
    assert not _runs_of_partition(webserver.url, key)
    try:
        _materialize_through_the_ui(webserver.url, page, key)
    except BaseException:
        # What the browser showed when it went wrong, beside the other screenshots, and what the server said.
        try:
            _screenshot(page, "ui_failure.png")
        except Exception:
            pass
        print(f"--- {webserver.log} (end) ---\n{webserver.log.read_text(errors='replace')[-6000:]}")
        raise

    # 5. The aggregates landed in the isolated keyspace, for that hour only.
    with cassandra.session() as session:
        rows = {row["name"]: row for row in cassandra.read_hour_users(session, THE_HOUR)}
        later = cassandra.read_hour_users(session, THE_HOUR + HOUR)
    assert sorted(rows) == sorted(EXPECTED)
    for name, (ratings, avg, low, high, duration, movies) in EXPECTED.items():
        row = rows[name]
        assert (row["ratings"], row["min_rating"], row["max_rating"], list(row["movies"])) == (ratings, low, high, movies)
        assert row["avg_rating"] == pytest.approx(avg) and row["avg_duration"] == pytest.approx(duration)
    assert later == []


def _materialize_through_the_ui(webserver: str, page, key: str) -> None:
    from playwright.sync_api import expect

    started = time.monotonic()

    def reached(step: str) -> None:  # printed with the failure, if any: where the time went
        print(f"{time.monotonic() - started:6.1f} s  {step}")

    # 1. The asset graph: the four assets, in the explorer list and as nodes of the graph.
    page.goto(f"{webserver}/asset-groups")
    expect(page.get_by_text("Global asset lineage")).to_be_visible()
    graph = page.locator("svg")
    for asset in ASSETS:
        # The explorer's entry is named with its status icon too ("missing records records").
        expect(page.get_by_role("button", name=re.compile(rf"(^|\s){asset}(\s|$)"))).to_be_visible()
        expect(graph.get_by_text(asset, exact=True)).to_be_visible()
    # The partitioned nodes count this instance's partitions: the test's RATINGS_HOURLY_START is in use.
    # The aggregates: THE_HOUR - 3 h to the last closed hour (5, or 6 once the clock passed another hour);
    # the records have the open hour too.
    def partition_count(asset: str):
        return graph.locator(f"a[href='/assets/reviews/{asset}?view=partitions']", has_text=re.compile(r"partitions$"))

    expect(partition_count("hourly_user_ratings")).to_have_text(re.compile(r"^[56] partitions$"))
    expect(partition_count("records")).to_have_text(re.compile(r"^[67] partitions$"))
    _screenshot(page, "01_asset_graph.png")
    reached("asset graph")

    # 2. The hourly aggregates asset: select its node, then open it in the catalog.
    graph.get_by_text("hourly_user_ratings", exact=True).click()
    page.get_by_role("link", name="View in Asset Catalog").or_(page.get_by_role("button", name="View in Asset Catalog")).click()
    expect(page).to_have_url(re.compile(r"/assets/reviews/hourly_user_ratings"))
    materialize = page.get_by_role("button", name="Materialize…")
    expect(materialize).to_be_enabled()
    expect(page.get_by_text("Never materialized").first).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Per user and UTC hour: number of ratings"))).to_be_visible()
    _screenshot(page, "02_asset_page.png")
    reached("asset page")

    # 3. Materialize one hour: the upstream warning (records was never materialized here), then the partition picker.
    materialize.click()
    dialog = page.get_by_role("dialog")
    launch_title = page.get_by_text("Launch runs to materialize reviews / hourly_user_ratings")
    upstream_warning = page.get_by_text("Are you sure?")
    # The button first loads what the launch needs (a spinner on it): slow when the machine is busy.
    expect(launch_title.or_(upstream_warning)).to_be_visible(timeout=LAUNCH_TIMEOUT_MS)
    if upstream_warning.is_visible():
        reached("upstream warning")
        dialog.get_by_role("button", name="Confirm").click()
    expect(launch_title).to_be_visible(timeout=LAUNCH_TIMEOUT_MS)
    reached("launch dialog")
    dialog.get_by_role("button", name="Custom").click()
    partitions = dialog.get_by_role("textbox").first
    partitions.fill(key)
    partitions.press("Enter")
    expect(dialog.get_by_text("1 partition", exact=True)).to_be_visible()
    launch = dialog.get_by_role("button", name="Launch 1 run")
    expect(launch).to_be_enabled()
    _screenshot(page, "03_launch_dialog.png")
    launch.click()
    expect(launch_title).to_be_hidden(timeout=LAUNCH_TIMEOUT_MS)
    reached("launched")

    # 4. The run: found through the webserver's API, watched until it ends, then shown in the UI.
    run = _wait(f"a run of partition {key}", 30, lambda: next(iter(_runs_of_partition(webserver, key)), None))
    ended = {"SUCCESS", "FAILURE", "CANCELED"}
    status = _wait(
        f"run {run['runId']} to end", RUN_TIMEOUT_S,
        lambda: next((r["status"] for r in _runs_of_partition(webserver, key) if r["status"] in ended), None),
    )
    assert status == "SUCCESS", _run_messages(webserver, run["runId"])
    reached(f"run {run['runId']} succeeded")
    page.goto(f"{webserver}/runs/{run['runId']}")
    expect(page.get_by_text("Success", exact=True).first).to_be_visible()
    expect(page.get_by_text(f"partition: {key}")).to_be_visible()
    for check in ("counts_match_records", "ratings_within_range"):
        expect(page.get_by_text(re.compile(rf"^Check {check} succeeded for materialization"))).to_be_visible()
    _screenshot(page, "04_run_success.png")
    reached("run page")
