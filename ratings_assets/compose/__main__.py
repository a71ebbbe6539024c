"""`make docker-up`, `docker-down`, `docker-clean`: the Compose deployment from this checkout.

up: prepares the engine, the base image and the images that are missing, starts
the stack, and waits until ratings arrive in Cassandra, printing what `make run`
prints. It returns then, leaving the stack running; Ctrl-C at any point stops
only the waiting (a second `up` carries on where it stopped).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from ratings_assets import settings
from ratings_assets.compose import base_image, engine, images
from ratings_assets.compose.errors import DockerError
from ratings_assets.compose.stack import Stack

FIRST_ROWS_TIMEOUT_S = 600


def up(stack: Stack) -> int:
    from ratings_assets import demo

    started_at = time.monotonic()
    print("1/4 Docker engine and Compose", flush=True)
    engine.ensure_engine()
    print("2/4 images", flush=True)
    base = base_image.ensure_base_image(os.environ.get("DOCKER_BASE_IMAGE", "").strip() or None)
    if not images.build(base):
        print(f"   up to date (built from {base})", flush=True)
    print(f"3/4 starting the stack {stack.project!r}: Kafka, Cassandra, Postgres, Dagster (code server, webserver, "
          "daemon; its sensor launches the streaming job), the generator", flush=True)
    state_dir = Path(settings.STATE_DIR.value()) / "docker"
    state_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault(settings.HOURLY_START.env, demo.pinned_hourly_start(state_dir, past_hours=3))
    stack.up()
    print("4/4 waiting for the first rows in Cassandra…", flush=True)
    os.environ.update(stack.client_env())
    first = _first_rows(stack, demo)
    if first is None:
        print(f"no rows after {FIRST_ROWS_TIMEOUT_S // 60} minutes: docker-compose -p {stack.project} ps and logs "
              "say more", file=sys.stderr)
        return 1
    query_env = "" if stack.cassandra_port == 9042 else f"RATINGS_CASSANDRA_PORT={stack.cassandra_port} "
    demo.announce_flowing(first, time.monotonic() - started_at, stack.ui_url, query_env)
    print("The stack keeps running: `make docker-down` stops it (data kept), `make docker-clean` removes the data.",
          flush=True)
    return 0


def _first_rows(stack: Stack, demo):
    """Rows the stream stores from now on, repeating what the supervisor says; Cassandra answers once healthy,
    and a connection lost meanwhile (a slow or restarting node) is tried again."""
    from cassandra.cluster import NoHostAvailable

    deadline = time.monotonic() + FIRST_ROWS_TIMEOUT_S
    stack.wait_healthy(FIRST_ROWS_TIMEOUT_S, ("cassandra",))
    watch = demo.SupervisorWatch(stack.ui_url)
    while (left := deadline - time.monotonic()) > 0:
        try:
            return demo.first_new_row(left, watch)
        except NoHostAvailable as exc:
            print(f"   Cassandra at 127.0.0.1:{stack.cassandra_port} did not answer ({exc}); trying again", flush=True)
            time.sleep(2)
    return None


def down(stack: Stack, volumes: bool) -> int:
    from ratings_assets import demo

    engine.ensure_engine(install=False)
    if stack.health().get("webserver") == "healthy":
        demo.cancel_stream(stack.ui_url)  # canceled, not failed: the next start is not counted as a crash
    stack.down(volumes=volumes)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ratings_assets.compose", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("up", "down", "clean"))
    parser.add_argument("--project", default="ratings", help="Compose project name (default: ratings)")
    args = parser.parse_args(argv)
    from ratings_assets.demo import raise_interrupt

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, raise_interrupt)
    try:
        stack = Stack.from_env(args.project)
        if args.action == "up":
            return up(stack)
        return down(stack, volumes=args.action == "clean")
    except DockerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: what was done stays done; run the same command again to carry on "
              "(`make docker-down` stops what was started)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
