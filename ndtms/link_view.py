"""The current link record of every transfer, read from `ndtms.links` (all partitions, no group).

Each reader assigns itself every partition from the beginning, so every linker instance, every
journey instance (the companion report) and every `ndtms indicator` sees the national picture
whatever the consumer group holds. The topic is compacted: the latest record per key is the
truth, a tombstone (a withdrawn release, an erased person) removes it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, TopicPartition

from ndtms_contract.links import TransferLink
from ndtms_contract.settings import PlatformSettings
from ndtms_contract.topics import LINKS
from ndtms_contract.transcoding import AvroTranscoder, UndecodableRecord, registry_client

log = logging.getLogger(__name__)


class LinksUnavailable(RuntimeError):
    pass


class LinkView:
    def __init__(self, settings: PlatformSettings):
        self._codec = AvroTranscoder(registry_client(settings.registry_url), LINKS, TransferLink, "trusted")
        self._consumer = Consumer(
            {
                **settings.kafka_client_config(),
                # Required by the client; never used to commit: positions are assigned by hand.
                "group.id": "ndtms-link-view",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
            }
        )
        self._links: dict[str, TransferLink] = {}
        self._lock = threading.Lock()
        self.undecodable = 0
        self._partitions: list[int] = []
        self._at_end: set[int] = set()
        # Set once every partition has been read to its end: until then a count would be short.
        self.caught_up = threading.Event()
        # Raised by every change, so that what is worked out from a snapshot can be kept until then.
        self.version = 0

    def open(self, timeout: float = 10) -> None:
        metadata = self._consumer.list_topics(LINKS.name, timeout=timeout).topics.get(LINKS.name)
        if metadata is None or metadata.error is not None:
            raise LinksUnavailable(f"topic {LINKS.name} does not exist; run `ndtms up` first")
        self._partitions = sorted(metadata.partitions)
        self._consumer.assign([TopicPartition(LINKS.name, p, OFFSET_BEGINNING) for p in self._partitions])

    def close(self) -> None:
        self._consumer.close()

    def snapshot(self) -> list[TransferLink]:
        with self._lock:
            return list(self._links.values())

    def versioned(self) -> tuple[int, dict[str, TransferLink]]:
        """The links by transfer id, and the version they are at."""
        with self._lock:
            return self.version, dict(self._links)

    def poll(self, timeout: float) -> int:
        messages = self._consumer.consume(num_messages=1000, timeout=timeout)
        applied = 0
        with self._lock:
            for message in messages:
                error = message.error()
                if error is None:
                    applied += self._apply(message)
                elif error.code() == KafkaError._PARTITION_EOF:
                    self._at_end.add(message.partition() or 0)
                    if self._at_end.issuperset(self._partitions):
                        self.caught_up.set()
            self.version += applied
        return applied

    def _apply(self, message: Message) -> int:
        key = (message.key() or b"").decode("utf-8", "replace")
        value = message.value()
        if value is None:
            self._links.pop(key, None)
            return 1
        try:
            self._links[key] = self._codec.decode(value)
        except UndecodableRecord as exc:
            self.undecodable += 1
            log.warning("skipped an undecodable link record at %s: %s", message.offset(), exc)
            return 0
        return 1

    def read_to_end(self, timeout: float = 60) -> list[TransferLink]:
        """Everything on the topic up to the end offsets seen when called."""
        ends = {}
        for partition in self._partitions:
            _, high = self._consumer.get_watermark_offsets(TopicPartition(LINKS.name, partition), timeout=10)
            ends[partition] = high
        deadline = time.monotonic() + timeout
        while True:
            positions = self._consumer.position([TopicPartition(LINKS.name, p) for p in self._partitions])
            if all(tp.offset >= ends[tp.partition] or ends[tp.partition] == 0 for tp in positions):
                return self.snapshot()
            if time.monotonic() > deadline:
                raise LinksUnavailable(f"could not read {LINKS.name} to its end within {timeout:.0f}s")
            self.poll(0.5)

    def follow(self, stop: threading.Event) -> None:
        """Keep the view current until `stop` is set (run in a thread of its own); waits for the
        topic when it does not exist yet (a service started before `ndtms init`)."""
        while not self._partitions and not stop.is_set():
            try:
                self.open()
            except (LinksUnavailable, KafkaException) as exc:
                log.warning("link view: %s; trying again", exc)
                stop.wait(5)
        while not stop.is_set():
            try:
                self.poll(1.0)
            except KafkaException as exc:
                log.warning("link view: %s; retrying", exc)
                stop.wait(2)


@contextmanager
def link_view(settings: PlatformSettings) -> Iterator[LinkView]:
    view = LinkView(settings)
    try:
        view.open()
        yield view
    finally:
        view.close()
