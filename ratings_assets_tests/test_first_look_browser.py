"""`make run` as a newcomer meets it: the demo on isolated names and ports, its first look in the UI, its clean stop.

The demo (`ratings demo`, what `make run` runs) starts on a temporary DAGSTER_HOME, a free UI port and its own
topic, keyspace and checkpoint, with the real services. The test waits for the line that says ratings flow and
runs the query it prints; then, on the instance and in headless Chromium, it waits for the first look the
README promises: every asset materialized, the last three closed hours aggregated, every check executed, no
"Never materialized". Ctrl-C (SIGINT to the demo's process group, as a terminal sends it) must leave no child
process, no open UI port and no stream run behind. Screenshots go to .local/screenshots/.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import pytest

from ratings_assets.core.hours import HOUR, hour_of, partition_key
from ratings_assets.demo import end_session
from ratings_assets.defs.hourly import HOURLY_KEY
from ratings_assets.defs.records import RECORDS_KEY
from ratings_assets.defs.stream_job import STREAM_JOB
from ratings_assets.paths import REPO_ROOT
from ratings_assets_tests.conftest import SCREENSHOTS, wait_for
from ratings_assets_tests.localstack.conftest import free_port

pytestmark = [pytest.mark.integration,
              pytest.mark.filterwarnings("ignore:Function `EventMethods.get_event_records` is deprecated")]

FLOWING_TIMEOUT_S = 420      # services reused, Dagster and the stream's Spark start on a loaded machine
FIRST_LOOK_TIMEOUT_S = 600   # the automation's ticks, then the aggregation runs
STOP_TIMEOUT_S = 300          # the stream's run canceled, then Dagster's processes, on a loaded machine
ASSETS = [dg.AssetKey("movie_catalog"), dg.AssetKey("ratings_topic"), RECORDS_KEY, HOURLY_KEY]


@pytest.fixture(scope="module")
def demo(services, isolated, tmp_path_factory):
    """`ratings demo` on isolated names; yields its env, port, output path and process."""
    home = tmp_path_factory.mktemp("first-look-dagster")
    port = free_port()
    started = datetime.now(timezone.utc)
    env = {key: value for key, value in os.environ.items() if not key.startswith("DAGSTER_")}
    env.update({
        "DAGSTER_HOME": str(home),
        "RATINGS_TOPIC": isolated["topic"], "RATINGS_DLQ_TOPIC": isolated["dlq_topic"],
        "RATINGS_KEYSPACE": isolated["keyspace"], "RATINGS_CHECKPOINT_DIR": isolated["checkpoint_dir"],
        "RATINGS_KAFKA_BOOTSTRAP": f"{services.bind_host}:{services.kafka_port}",
        "RATINGS_CASSANDRA_HOSTS": services.bind_host, "RATINGS_CASSANDRA_PORT": str(services.cassandra_port),
        # The demo's own pin is for the developer's `make run`: this run names its first hour itself, by the
        # same rule (the hour where its three hours of history begin).
        "RATINGS_HOURLY_START": partition_key(started - timedelta(hours=3)),
    })
    output = tmp_path_factory.mktemp("first-look") / "demo.out"
    ratings = Path(sys.executable).with_name("ratings")
    with output.open("wb") as out:
        process = subprocess.Popen([str(ratings), "demo", "--port", str(port)], cwd=REPO_ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield {"env": env, "port": port, "output": output, "process": process, "home": home, "started": started}
    finally:
        # A test that failed before the clean stop: the demo, and every process of its children's sessions.
        if process.poll() is None:
            children = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
            for child in children:
                end_session(int(child), grace_s=0)


def _printed(demo) -> str:
    if demo["process"].poll() is not None:
        pytest.fail(f"`ratings demo` exited with {demo['process'].returncode}:\n{demo['output'].read_text()[-4000:]}")
    return demo["output"].read_text()


def _first_look_ready(instance: dg.DagsterInstance, closed_hours: list[str]) -> bool:
    if not all(instance.get_latest_materialization_event(key) for key in ASSETS):
        return False
    if not set(closed_hours) <= set(instance.get_materialized_partitions(HOURLY_KEY)):
        return False
    executed = {
        record.event_log_entry.dagster_event.event_specific_data.check_name
        for record in instance.get_event_records(dg.EventRecordsFilter(dg.DagsterEventType.ASSET_CHECK_EVALUATION),
                                                 limit=500)
    }
    return executed >= {"consumer_lag_below_threshold", "no_unknown_movies", "counts_match_records",
                        "ratings_within_range"}


def test_make_run_shows_a_live_pipeline_at_first_look_and_stops_clean_on_ctrl_c(demo, page):
    printed = wait_for(lambda: "ratings are flowing" in _printed(demo) and _printed(demo), FLOWING_TIMEOUT_S,
                       "the 'ratings are flowing' line", poll_s=3)
    query = re.search(r"Query them:\s+(.+)", printed).group(1)
    command = shlex.split(query.replace(".venv/bin/ratings", str(Path(sys.executable).with_name("ratings"))))
    answer = subprocess.run([*command, "--json"], cwd=REPO_ROOT, env=demo["env"], capture_output=True, text=True,
                            timeout=120)
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout)["movies"], answer.stdout  # the printed user rated in that hour

    now_hour = hour_of(datetime.now(timezone.utc))
    closed = [partition_key(now_hour - n * HOUR) for n in (1, 2, 3)]
    with dg.DagsterInstance.from_config(str(demo["home"])) as instance:
        wait_for(lambda: _first_look_ready(instance, closed), FIRST_LOOK_TIMEOUT_S,
                 f"the first look: every asset materialized, hours {closed} aggregated, every check executed", poll_s=5)

        url = f"http://127.0.0.1:{demo['port']}"
        page.goto(f"{url}/asset-groups")
        for name in ("movie_catalog", "ratings_topic", "records", "hourly_user_ratings"):
            page.get_by_text(name, exact=True).first.wait_for()
        page.get_by_text("100% filled").first.wait_for()
        assert page.get_by_text("Never materialized").count() == 0
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / "first_look_graph.png")
        page.goto(f"{url}/assets/reviews/records?view=partitions")
        page.get_by_text(closed[0]).first.wait_for()
        page.screenshot(path=SCREENSHOTS / "first_look_records_partitions.png")

        process = demo["process"]
        # The demo starts each child (generator, Dagster) in a session of its own: none may outlive it.
        children = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
        assert len(children) >= 2, children
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C in the terminal of `make run`
        assert process.wait(timeout=STOP_TIMEOUT_S) == 0
        assert "stopped dagster" in demo["output"].read_text()
        for child in children:
            left = subprocess.run(["pgrep", "-s", child], capture_output=True, text=True).stdout.split()
            assert not left, f"processes left from the demo's child {child}: {left}"
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", demo["port"])) != 0, "the UI port is still open"
        live = instance.get_run_records(dg.RunsFilter(job_name=STREAM_JOB, statuses=[dg.DagsterRunStatus.STARTED]))
        assert not live, f"stream runs left started: {[r.dagster_run.run_id for r in live]}"
