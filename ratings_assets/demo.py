"""`make run`: the whole pipeline on this machine, until Ctrl-C.

Starts (or reuses) Kafka and Cassandra, creates the topics and tables, then
runs the generator and Dagster (UI and daemon) as child processes. The
daemon's supervising sensor launches the streaming job as a Dagster run and
keeps it alive. Ctrl-C stops the children, and with them the stream run, and
the services this command started itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ratings_assets import dagster_api, settings
from ratings_assets.core.hours import hour_of, partition_key
from ratings_assets.dagster_home import prepare_dagster_home
from ratings_assets.localstack import stack
from ratings_assets.paths import REPO_ROOT
from ratings_assets.streaming.checkpoint_lock import LockHeld, exclusive_lock


@dataclass
class DemoOptions:
    rate: float = 50.0
    users: int = 200
    trigger_seconds: float = 10.0
    ui_host: str = "127.0.0.1"
    ui_port: int = 3000
    # History published before the live events, so the automation has closed hours to aggregate at once.
    past_hours: int = 3
    history_events: int = 6000


class AlreadyRunning(RuntimeError):
    pass


@contextmanager
def single_demo(state_dir: Path, ui_port: int) -> Iterator[None]:
    """One `make run` per state folder: a second would start a second generator and Dagster daemon."""
    try:
        with exclusive_lock(state_dir / "demo.lock", f"pid {os.getpid()}, Dagster UI on port {ui_port}", wait_s=0):
            yield
    except LockHeld as held:
        raise AlreadyRunning(
            f"`make run` is already running here ({held.holder}): use its Dagster UI, or stop it with Ctrl-C "
            "in its terminal first") from None


def pinned_hourly_start(state_dir: Path, past_hours: int) -> str:
    """The first hour partition, fixed at the first `make run` to the start of its history, so the partitions
    view holds hours that can have data; RATINGS_HOURLY_START, when set, wins."""
    pin = state_dir / "hourly_start"
    if not pin.exists():
        pin.write_text(partition_key(datetime.now(timezone.utc) - timedelta(hours=past_hours)))
    return pin.read_text().strip()


def _child(name: str, args: list[str], log_dir: Path, env: dict[str, str]) -> subprocess.Popen:
    log = (log_dir / f"{name}.log").open("ab")
    print(f"  {name:<9} {Path(args[0]).name} {' '.join(args[1:])}  (log: {log.name})", flush=True)
    return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT, start_new_session=True)


class SupervisorWatch:
    """While `make run` waits, repeats what the supervising sensor says when it is not simply launching."""

    QUIET = ("launch:", "ok:")

    def __init__(self, ui_url: str):
        self.ui_url, self.last = ui_url, None

    def __call__(self) -> None:
        try:
            says = dagster_api.supervisor_says(self.ui_url)
        except (OSError, RuntimeError):
            return  # the UI is still starting
        if says and says != self.last and not says.startswith(self.QUIET):
            print(f"   the stream's supervisor says: {says}", flush=True)
            if says.startswith("give_up:"):
                print("   fix the cause (the run's log in the UI says more), then Ctrl-C and `make run` again",
                      flush=True)
        self.last = says


def first_new_row(timeout_s: float, while_waiting) -> tuple[str, datetime] | None:
    """Wait until the stream stores a row it did not have when we started; returns a (name, hour) to query."""
    from ratings_assets.resources import cassandra_resource

    resource = cassandra_resource()
    deadline = time.monotonic() + timeout_s
    with resource.session(resource.keyspace) as session:
        before = resource.count_hour(session, hour_of(datetime.now(timezone.utc)))
        while time.monotonic() < deadline:
            while_waiting()
            if resource.count_hour(session, hour_of(datetime.now(timezone.utc))) > before:
                hour = hour_of(datetime.now(timezone.utc))
                return next(iter(resource.hour_users(session, hour)), "?"), hour
            time.sleep(2)
    return None


def announce_flowing(first: tuple[str, datetime], after_s: float, ui_url: str, query_env: str = "") -> None:
    """What `make run` (and `make docker-up`) print once ratings flow: where to look, what to query."""
    name, hour = first
    print(f"\nratings are flowing: first rows in Cassandra {after_s:.0f} s after start.")
    print(f"Dagster UI: {ui_url}")
    print(f"Query them:  {query_env}.venv/bin/ratings query --user '{name}' --hour '{hour.isoformat()}'", flush=True)


def cancel_stream(ui_url: str) -> None:
    """End the stream's run as the UI's Terminate does (canceled: no failure for the supervisor to count)."""
    try:
        if dagster_api.terminate_stream_runs(ui_url):
            deadline = time.monotonic() + 60
            while dagster_api.active_stream_runs(ui_url) and time.monotonic() < deadline:
                time.sleep(1)
            print("  stopped the streaming run", flush=True)
    except (OSError, RuntimeError) as exc:
        print(f"  could not terminate the streaming run through the UI ({exc}); stopping Dagster ends it", flush=True)


def _stop(children: dict[str, subprocess.Popen], ui_url: str, dagster_home: Path) -> None:
    # A second Ctrl-C must not cut the clean-up short and leave children running.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    if children["dagster"].poll() is None:
        cancel_stream(ui_url)
    for proc in children.values():
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for name, proc in children.items():
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        killed = end_session(proc.pid)
        print(f"  stopped {name}" + (f" (killed {killed} process(es) that did not stop)" if killed else ""),
              flush=True)
    cancel_leftover_stream_runs(dagster_home)


def end_session(sid: int, grace_s: float = 15, kill_s: float = 10) -> int:
    """Let a child's session end (Dagster's webserver, daemon, code server and runs end after `dg dev`), then
    kill what is left, again and again: a process can fork while its parent is killed (a run worker starting
    Spark). Returns when every process is gone, zombies reaped included, or after `kill_s`; and how many
    processes had to be killed."""
    deadline = time.monotonic() + grace_s
    while session_members(sid) and time.monotonic() < deadline:
        time.sleep(1)
    killed: set[int] = set()
    deadline = time.monotonic() + kill_s
    while (left := _session_states(sid)) and time.monotonic() < deadline:
        for pid in [pid for pid, state in left.items() if state != "Z"]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            killed.add(pid)
        time.sleep(0.2)
    return len(killed)


def cancel_leftover_stream_runs(dagster_home: Path) -> None:
    """Mark canceled a stream run whose process is gone but which Dagster still shows active (the supervisor
    may relaunch the stream while Dagster stops), so the UI and the next supervisor see no phantom run."""
    import dagster as dg

    from ratings_assets.defs.stream_job import STREAM_JOB

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        active = [dg.DagsterRunStatus(status) for status in dagster_api.ACTIVE]
        for record in instance.get_run_records(dg.RunsFilter(job_name=STREAM_JOB, statuses=active)):
            instance.report_run_canceled(record.dagster_run, "`make run` stopped while this run was starting")
            print(f"  marked the stream run {record.dagster_run.run_id} canceled: it was starting", flush=True)


def session_members(sid: int) -> list[int]:
    """Processes still running in the session `sid` (each child runs in a session of its own); not zombies,
    which are dead and only wait to be reaped."""
    return [pid for pid, state in _session_states(sid).items() if state != "Z"]


def _session_states(sid: int) -> dict[int, str]:
    states = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # ended meanwhile
        if int(fields[3]) == sid:  # after the name: state, ppid, pgrp, session
            states[int(stat.parent.name)] = fields[0]
    return states


def raise_interrupt(signum, _frame):
    """A signal handler that stops like Ctrl-C does, also where SIGINT was inherited ignored."""
    raise KeyboardInterrupt(signal.Signals(signum).name)


def run(options: DemoOptions) -> int:
    state_dir = Path(settings.STATE_DIR.value())
    try:
        with single_demo(state_dir, options.ui_port):
            return _run(options, state_dir)
    except AlreadyRunning as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _run(options: DemoOptions, state_dir: Path) -> int:
    # A terminal closing or `kill` must clean up like Ctrl-C does; and Ctrl-C itself even when this process
    # inherited SIGINT ignored (started in the background of a non-interactive shell, as CI does).
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, raise_interrupt)
    started_at = time.monotonic()
    print("1/4 services", flush=True)
    started = [name for name, s in stack.up().items() if s.startup_s is not None]
    print("2/4 topics and tables", flush=True)
    ratings = str(Path(sys.executable).with_name("ratings"))
    subprocess.run([ratings, "init"], check=True, cwd=REPO_ROOT)

    log_dir = state_dir / "demo"
    log_dir.mkdir(parents=True, exist_ok=True)
    dagster_home = prepare_dagster_home()
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home),
           "RATINGS_TRIGGER_SECONDS": str(options.trigger_seconds),
           settings.HOURLY_START.env: settings.HOURLY_START.value() if settings.HOURLY_START.is_set()
           else pinned_hourly_start(log_dir, options.past_hours)}
    print(f"   history: {options.history_events:,} ratings over the last {options.past_hours} hours", flush=True)
    subprocess.run([ratings, "produce", "--rate", "0", "--users", str(options.users), "--past-hours",
                    str(options.past_hours), "--count", str(options.history_events)],
                   check=True, cwd=REPO_ROOT, stdout=subprocess.DEVNULL)
    print(f"3/4 generator, Dagster UI and daemon; its sensor launches the streaming job (logs in {log_dir})", flush=True)
    ui_url = f"http://{options.ui_host}:{options.ui_port}"
    children = {
        "generator": _child("generator", [ratings, "produce", "--rate", str(options.rate), "--users", str(options.users)], log_dir, env),
        "dagster": _child("dagster", [str(Path(sys.executable).with_name("dg")), "dev", "--host", options.ui_host,
                                      "--port", str(options.ui_port)], log_dir, env),
    }
    try:
        print("4/4 waiting for the first rows in Cassandra…", flush=True)
        first = first_new_row(timeout_s=300, while_waiting=SupervisorWatch(ui_url))
        if first is None:
            print(f"no rows after 5 minutes: see the logs in {log_dir}", file=sys.stderr)
            return 1
        announce_flowing(first, time.monotonic() - started_at, ui_url)
        print("Ctrl-C stops everything this command started.", flush=True)
        while all(proc.poll() is None for proc in children.values()):
            time.sleep(1)
        dead = [name for name, proc in children.items() if proc.poll() is not None]
        print(f"{', '.join(dead)} exited: see {log_dir}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping…", flush=True)
        return 0
    finally:
        _stop(children, ui_url, dagster_home)
        if started:
            stack.down(started)
