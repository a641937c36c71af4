"""A record an instance cannot handle now is held, never dead-lettered, and never skipped."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
from confluent_kafka import Consumer, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from ndtms.clocks import system_clock
from ndtms.metrics import offsets_reader
from ndtms.stream.processor import NotHere, Transaction
from ndtms.stream.runner import StageRunner
from ndtms.stream.state import Store, StoreSpec
from ndtms_contract.settings import PlatformSettings

pytestmark = pytest.mark.broker


class Picky:
    """Handles every record, except `b` until it is allowed (as the search's holder would)."""

    service = "picky"
    stores: tuple[StoreSpec[Any], ...] = ()
    punctuate_seconds = 3600.0

    def __init__(self, topic: str):
        self.topics = (topic,)
        self.clock = system_clock
        self.handled: list[str] = []
        self.refused = 0
        self.allowed = threading.Event()

    def process(self, message: Message, out: Transaction) -> None:
        value = (message.value() or b"").decode()
        if value == "b" and not self.allowed.is_set():
            self.refused += 1
            raise NotHere("not held here")
        self.handled.append(value)

    def erase(self, client_key: str, topic: str, partition: int, out: Transaction) -> dict[str, int]:
        return {}

    def after_batch(self, out: Transaction) -> None:
        return None

    def assigned(self, stores: dict[str, Store[Any]], partitions: dict[str, list[int]]) -> None:
        return None

    def punctuate(self, out: Transaction) -> None:
        return None


def committed(platform: PlatformSettings, group: str, topic: str) -> int:
    reader = Consumer(offsets_reader(platform, group))
    try:
        [tp] = reader.committed([TopicPartition(topic, 0)], timeout=10)
        return int(tp.offset)
    finally:
        reader.close()


def until(condition: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_a_held_record_waits_and_so_does_its_partition_then_goes_through_once(
    platform: PlatformSettings,
) -> None:
    name = f"test-hold-{uuid.uuid4().hex[:8]}"
    admin = AdminClient(platform.kafka_client_config())
    topics = [
        NewTopic(name, 1, 1),
        NewTopic(f"{name}-erasures-state", 1, 1, config={"cleanup.policy": "compact"}),
    ]
    for future in admin.create_topics(topics).values():
        future.result(30)
    producer = Producer(platform.producer_config())
    for value in ("a", "b", "c"):
        producer.produce(name, key=value.encode(), value=value.encode())
    producer.flush(30)

    settings = platform.model_copy(update={"stream_commit_seconds": 0.2})
    picky = Picky(name)
    runner = StageRunner(settings, picky, name, "only")  # type: ignore[arg-type]
    stopping = threading.Event()
    worker = threading.Thread(target=runner.run, args=(stopping.is_set,), daemon=True)
    worker.start()
    try:
        until(lambda: picky.refused >= 2, "b was never offered again after being held")
        time.sleep(1)
        # a is done; b and everything after it in the partition wait; the group's offset is b's.
        assert picky.handled == ["a"]
        assert committed(platform, name, name) == 1
        picky.allowed.set()
        until(lambda: picky.handled == ["a", "b", "c"], f"handled {picky.handled}")
        until(lambda: committed(platform, name, name) == 3, "the offset never moved past b")
    finally:
        stopping.set()
        worker.join(60)
    assert picky.handled == ["a", "b", "c"]  # b once, nothing skipped, nothing dead-lettered
