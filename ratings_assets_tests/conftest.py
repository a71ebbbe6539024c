"""Fixtures for the integration layer: the real services, an isolated topic and keyspace, one Spark session."""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator

import hypothesis
import pytest

from ratings_assets.localstack import stack, topology
from ratings_assets.localstack.config import StackConfig
from ratings_assets.localstack.maven import spark_connector_jars
from ratings_assets.paths import REPO_ROOT, SOURCE_DATASET
from ratings_assets.resources.cassandra import CassandraResource
from ratings_assets.resources.kafka import KafkaResource


def wait_for(condition, timeout_s: float, what: str, poll_s: float = 1.0):
    """Poll `condition` until it returns something truthy, and return that; fail naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


@contextlib.contextmanager
def own_stack(tmp_path_factory, name: str, services: list[str] | None = None, **settings) -> Iterator[StackConfig]:
    """Servers of a test module's own (all of them, or `services`), in a state folder of their own that reuses
    the jars `make setup` resolved: started, then stopped however the module ends."""
    state = tmp_path_factory.mktemp(name)
    (state / "jars").symlink_to(StackConfig.from_env().state_dir / "jars", target_is_directory=True)
    config = StackConfig(state_dir=state, **settings)
    try:
        stack.up(services, config=config, progress=lambda message: None)
        yield config
    finally:
        stack.down(services, config=config, progress=lambda message: None)


# Hypothesis tests here run real work (parsing, Arrow batches) on a shared, loaded machine: time is the benchmark's
# business, so no example has a deadline.
hypothesis.settings.register_profile("ratings", deadline=None)
hypothesis.settings.load_profile("ratings")


def required_in_ci(message: str) -> None:
    """Something a test needs is missing: skip on a developer's machine, fail in CI (CI=true), where it must be."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def source_dataset():
    """The original ggplot2movies CSV beside the repository (../shared/datasets), the catalog tests' oracle."""
    if not SOURCE_DATASET.exists():
        required_in_ci(f"the original dataset is not at {SOURCE_DATASET}")
    return SOURCE_DATASET


@pytest.fixture(scope="session")
def services() -> StackConfig:
    """Kafka and Cassandra, started once per session (healthy running ones are reused); a local cluster with
    RATINGS_CASSANDRA_NODES / RATINGS_KAFKA_BROKERS, whose replication the resources then take by default."""
    config = StackConfig.from_env()
    stack.up(config=config, progress=lambda message: None)
    return config


@pytest.fixture(scope="module")
def isolated(tmp_path_factory) -> dict[str, str]:
    """Names no other test module uses: a topic, a dead-letter topic, a keyspace and a checkpoint folder."""
    suffix = uuid.uuid4().hex[:10]
    return {
        "topic": f"it_ratings_{suffix}",
        "dlq_topic": f"it_ratings_{suffix}.dlq",
        "keyspace": f"it_{suffix}",
        "checkpoint_dir": str(tmp_path_factory.mktemp("checkpoint") / "records"),
    }


@pytest.fixture(scope="module")
def kafka(services, isolated) -> KafkaResource:
    """The real broker, with the module's own topic and dead-letter topic."""
    return KafkaResource(bootstrap_servers=topology.kafka_bootstrap(services), topic=isolated["topic"],
                         dead_letter_topic=isolated["dlq_topic"])


@pytest.fixture(scope="module")
def drain_config(isolated):
    """Makes a StreamConfig that drains what the topic holds, then stops (the job's run config otherwise)."""
    from ratings_assets.streaming.config import StreamConfig

    def make(**overrides) -> StreamConfig:
        return StreamConfig(**{"checkpoint_dir": isolated["checkpoint_dir"], "trigger_seconds": 1,
                               "available_now": True, **overrides})

    return make


@pytest.fixture(scope="module")
def cassandra(services, isolated) -> CassandraResource:
    resource = CassandraResource(
        hosts=",".join(topology.cassandra_addresses(services)), port=services.cassandra_port,
        keyspace=isolated["keyspace"]
    )
    resource.ensure_schema()
    yield resource
    with resource.session() as session:
        session.execute(f"DROP KEYSPACE IF EXISTS {isolated['keyspace']}", timeout=120)


@pytest.fixture(scope="session")
def spark_resource(services):
    """The project's Spark resource, as the definitions build it (RATINGS_SPARK_MASTER, local[2,4] by default)."""
    from ratings_assets.resources import spark_resource as build

    spark_connector_jars(services)
    resource = build()
    yield resource
    resource.stop()


@pytest.fixture(scope="session")
def spark(spark_resource):
    return spark_resource.spark_session


# Debian's Chromium, as the machine's probe starts it: without background networking, which a closed network refuses.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = REPO_ROOT / ".local" / "screenshots"
UI_TIMEOUT_MS = 60_000  # any single UI step (page load, element)


@pytest.fixture
def page(tmp_path):
    """A page of a fresh headless Chromium (new profile), with Dagster's one-time community pop-up dismissed."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        pytest.fail("playwright is missing: it is in the test extra (make setup)")
    expect.set_options(timeout=UI_TIMEOUT_MS)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1600, "height": 1000},
            timeout=UI_TIMEOUT_MS,
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(UI_TIMEOUT_MS)
            page.set_default_navigation_timeout(UI_TIMEOUT_MS)
            # The pop-up can open at any moment on a new profile; Playwright clears it before any action or check.
            page.add_locator_handler(
                page.get_by_text("Join the Dagster community"),
                lambda: page.get_by_role("button", name="Skip").click(),
            )
            yield page
        finally:
            context.close()
