"""The review's reads: the candidate queue followed on `ndtms.links.candidates`, and the
linker's record of two episodes (attributors included) from its state changelog."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import msgspec
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

from ndtms_contract.candidates import LinkCandidate
from ndtms_contract.settings import PlatformSettings
from ndtms_contract.topics import CANDIDATES, MATCH_EPISODES_STATE
from ndtms_contract.transcoding import AvroTranscoder, UndecodableRecord, registry_client
from services.linker.proposals import HeldEpisode

log = logging.getLogger(__name__)


class CandidateQueue:
    """The candidates now, read from `ndtms.links.candidates` (one partition)."""

    def __init__(self, settings: PlatformSettings):
        self._codec = AvroTranscoder(registry_client(settings.registry_url), CANDIDATES, LinkCandidate)
        self._consumer = Consumer(
            {
                **settings.kafka_client_config(),
                "group.id": f"ndtms-review-{time.time_ns()}",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "isolation.level": "read_committed",
            }
        )
        self._latest: dict[str, LinkCandidate] = {}
        self._lock = threading.Lock()
        self.caught_up = threading.Event()
        self.stopping = threading.Event()

    def catch_up(self, timeout: float = 60.0) -> None:
        """Read to the end of the topic (the CLI's whole use of it)."""
        self._assign()
        deadline = time.monotonic() + timeout
        while not self.caught_up.is_set():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{CANDIDATES.name} could not be read to its end in {timeout:g}s")
            self._consume(timeout=0.5)

    def follow(self) -> None:
        """Read to the end and keep reading, in a thread, until `stop`."""

        def run() -> None:
            try:
                self._assign()
                while not self.stopping.is_set():
                    self._consume(timeout=0.5)
            except Exception:  # the API answers 503 for the queue rather than stale data
                log.exception("the review queue stopped following %s", CANDIDATES.name)
                self.caught_up.clear()
            finally:
                self._consumer.close()

        threading.Thread(target=run, name="review-queue", daemon=True).start()

    def stop(self) -> None:
        self.stopping.set()

    def close(self) -> None:
        self._consumer.close()

    def get(self, key: str) -> LinkCandidate | None:
        with self._lock:
            return self._latest.get(key)

    def all(self) -> list[LinkCandidate]:
        with self._lock:
            return list(self._latest.values())

    def _assign(self) -> None:
        self._consumer.assign(
            [TopicPartition(CANDIDATES.name, p, OFFSET_BEGINNING) for p in range(CANDIDATES.partitions)]
        )

    def _consume(self, timeout: float) -> None:
        for message in self._consumer.consume(1000, timeout=timeout):
            error = message.error()
            if error is None:
                self._apply(message)
            elif error.code() == KafkaError._PARTITION_EOF:
                self.caught_up.set()
            else:
                log.warning("reading %s: %s", CANDIDATES.name, error)

    def _apply(self, message: Message) -> None:
        key = (message.key() or b"").decode("utf-8", "replace")
        value = message.value()
        try:
            candidate = self._codec.decode(value) if value else None
        except UndecodableRecord:
            log.error("undecodable candidate at %s offset %s: skipped", CANDIDATES.name, message.offset())
            return
        with self._lock:
            if candidate is None:
                self._latest.pop(key, None)
            else:
                self._latest[key] = candidate


def held_episodes(
    settings: PlatformSettings, keys: set[str], timeout: float = 60.0
) -> dict[str, HeldEpisode]:
    """The linker's record of these episodes, attributors included, from its state changelog."""
    decoder = msgspec.msgpack.Decoder(HeldEpisode)
    reader = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": f"ndtms-matches-{time.time_ns()}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
        }
    )
    found: dict[str, HeldEpisode | None] = {}
    try:
        topic = MATCH_EPISODES_STATE.name
        partitions = reader.list_topics(topic, timeout=10).topics[topic].partitions
        reader.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        ended: set[int] = set()
        deadline = time.monotonic() + timeout
        while len(ended) < len(partitions) and time.monotonic() < deadline:
            for message in reader.consume(1000, timeout=0.5):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        ended.add(message.partition() or 0)
                    continue
                key = (message.key() or b"").decode()
                if key in keys:
                    value = message.value()
                    found[key] = decoder.decode(value) if value else None
    finally:
        reader.close()
    return {key: held for key, held in found.items() if held is not None}


class RecordIndex:
    """Where the linker's record of each episode lies on its state changelog, for a service that
    shows many candidates: it keeps offsets only, never the records, and reads the two records a
    view needs at their offsets."""

    def __init__(self, settings: PlatformSettings):
        base = {
            **settings.kafka_client_config(),
            "group.id": f"ndtms-review-records-{time.time_ns()}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
        self._follower = Consumer({**base, "enable.partition.eof": True})
        self._reader = Consumer({**base, "fetch.wait.max.ms": 10})
        self._where: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()
        self._reading = threading.Lock()
        self._decoder = msgspec.msgpack.Decoder(HeldEpisode)
        self.caught_up = threading.Event()
        self.stopping = threading.Event()

    def follow(self) -> None:
        def run() -> None:
            topic = MATCH_EPISODES_STATE.name
            try:
                partitions = self._partitions(topic)
                self._follower.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
                ended: set[int] = set()
                while not self.stopping.is_set():
                    for message in self._follower.consume(1000, timeout=0.5):
                        error = message.error()
                        if error is None:
                            self._note(message)
                        elif error.code() == KafkaError._PARTITION_EOF:
                            ended.add(message.partition() or 0)
                            if len(ended) == len(partitions):
                                self.caught_up.set()
            except Exception:  # views answer 503 rather than "no longer held"
                log.exception("the review stopped following %s", topic)
                self.caught_up.clear()
            finally:
                self._follower.close()

        threading.Thread(target=run, name="review-records", daemon=True).start()

    def stop(self) -> None:
        self.stopping.set()

    def _partitions(self, topic: str) -> dict[int, Any]:
        """The changelog's partitions, once the linker has made it (views wait with 503 until then)."""
        while not self.stopping.is_set():
            found = self._follower.list_topics(topic, timeout=10).topics.get(topic)
            if found is not None and found.error is None and found.partitions:
                return dict(found.partitions)
            self.stopping.wait(2)
        return {}

    def _places(self, keys: set[str], patience: float = 5.0) -> dict[str, tuple[int, int]]:
        """Where these records are; a candidate can be read a moment before its records (two
        topics, two readers), so a missing one is waited for a little before it counts as gone."""
        deadline = time.monotonic() + patience
        while True:
            with self._lock:
                places = {key: self._where[key] for key in keys if key in self._where}
            if len(places) == len(keys) or time.monotonic() > deadline:
                return places
            time.sleep(0.1)

    def _note(self, message: Message) -> None:
        key = (message.key() or b"").decode("utf-8", "replace")
        with self._lock:
            if message.value():
                self._where[key] = (message.partition() or 0, message.offset() or 0)
            else:
                self._where.pop(key, None)

    def records(self, keys: set[str], timeout: float = 10.0) -> dict[str, HeldEpisode]:
        places = self._places(keys)
        found: dict[str, HeldEpisode] = {}
        with self._reading:
            for key, (partition, offset) in places.items():
                self._reader.assign([TopicPartition(MATCH_EPISODES_STATE.name, partition, offset)])
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    message = self._reader.poll(0.5)
                    if message is None or message.error() is not None:
                        continue
                    value = message.value()
                    if message.offset() == offset and value:
                        found[key] = self._decoder.decode(value)
                    break
            self._reader.unassign()
        return found
