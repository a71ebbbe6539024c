"""The generator's producer while its broker goes away: it waits, keeps going, and loses nothing it counted as acked.

Stops and restarts a Kafka of its own (separate state folder, free ports, small heap), never the shared one.
"""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest

from ratings_assets.core.catalog import read_catalog
from ratings_assets.generator.publisher import PublishStats, connect, publish
from ratings_assets.generator.ratings import EventClock, Pacer, RatingFactory
from ratings_assets.generator.users import user_pool
from ratings_assets.localstack import stack
from ratings_assets.localstack.config import StackConfig
from ratings_assets.paths import CATALOG_CSV
from ratings_assets.resources.kafka import KafkaResource
from ratings_assets_tests.conftest import own_stack, wait_for
from ratings_assets_tests.localstack.conftest import free_port
from ratings_assets_tests.streaming.topics import read_topic

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

MOVIES = list(read_catalog(CATALOG_CSV).values())


def quiet(message: str) -> None:
    pass


@pytest.fixture(scope="module")
def own_kafka(tmp_path_factory) -> StackConfig:
    with own_stack(tmp_path_factory, "generator_broker", ["kafka"], kafka_port=free_port(),
                   kafka_controller_port=free_port(), kafka_heap="256m", start_timeout_s=240) as config:
        yield config


def kafka_of(config: StackConfig) -> KafkaResource:
    return KafkaResource(bootstrap_servers=f"{config.bind_host}:{config.kafka_port}", client_id="ratings-generator-chaos")


class Generator(threading.Thread):
    """`publish` of paced events in a thread, until halted; remembers every event it handed to the producer."""

    def __init__(self, kafka: KafkaResource, topic: str, rate: float):
        super().__init__(daemon=True)
        self.kafka, self.topic, self.rate = kafka, topic, rate
        self.halt = threading.Event()
        self.sent: list[str] = []  # event ids
        self.stats: PublishStats | None = None
        self.error: BaseException | None = None

    def events(self):
        factory, clock, pacer = RatingFactory(MOVIES, user_pool(30, seed=8), seed=8), EventClock(), Pacer(self.rate)
        while not self.halt.is_set():
            pacer.wait()
            event = factory.make(clock())
            self.sent.append(event.event_id)
            yield event

    def run(self) -> None:
        try:
            self.stats = publish(connect(self.kafka), self.topic, self.events())
        except BaseException as exc:  # noqa: BLE001 - checked by stop()
            self.error = exc

    def stop(self) -> PublishStats:
        self.halt.set()
        self.join(180)
        assert not self.is_alive(), "the generator did not stop"
        assert self.error is None, f"the generator failed: {self.error!r}"
        return self.stats


def stored_ids(kafka: KafkaResource, topic: str) -> list[str]:
    return [json.loads(record.value)["event_id"] for record in read_topic(kafka.bootstrap_servers, topic)]


def test_a_broker_restart_mid_run_loses_nothing_acked_and_duplicates_nothing(own_kafka):
    kafka, topic = kafka_of(own_kafka), f"restart_{uuid.uuid4().hex[:8]}"
    kafka.ensure_topic(topic, 4, 1)
    generator = Generator(kafka, topic, rate=500.0)
    generator.start()
    time.sleep(3)
    stack.down(["kafka"], config=own_kafka, progress=quiet)
    gone = len(generator.sent)
    # It keeps going while the broker is away: events queue up locally, to be delivered once it is back.
    wait_for(lambda: len(generator.sent) >= gone + 2000, 180, "2,000 events made while the broker is down")
    stack.up(["kafka"], config=own_kafka, progress=quiet)
    time.sleep(5)
    stats = generator.stop()

    assert stats.errors == 0 and stats.acked == stats.sent == len(generator.sent)
    ids = stored_ids(kafka, topic)
    assert len(ids) == len(set(ids)), "a retry wrote an event twice"
    assert set(ids) == set(generator.sent)


def test_a_generator_started_before_its_broker_waits_for_it(own_kafka):
    kafka, topic = kafka_of(own_kafka), f"before_{uuid.uuid4().hex[:8]}"
    kafka.ensure_topic(topic, 4, 1)
    stack.down(["kafka"], config=own_kafka, progress=quiet)
    generator = Generator(kafka, topic, rate=300.0)
    generator.start()  # connect() waits up to 30 s
    time.sleep(10)
    assert generator.is_alive() and generator.error is None and not generator.sent  # still waiting
    stack.up(["kafka"], config=own_kafka, progress=quiet)
    wait_for(lambda: len(generator.sent) >= 600, 180, "600 events once the broker is up")
    stats = generator.stop()
    assert stats.errors == 0 and stats.acked == stats.sent >= 600
    assert sorted(stored_ids(kafka, topic)) == sorted(generator.sent)
