"""What a stage's rule sees of the stream core: the `Processor` it implements and the
`Transaction` it writes through (Kafka Streams keeps its processor API apart from its
internals the same way; the machinery is `runner`).
"""

from __future__ import annotations

import logging
from collections.abc import Container
from typing import Any, Protocol, TypeVar

from confluent_kafka import Message, Producer
from pydantic import BaseModel

from ndtms.clocks import Clock
from ndtms.metrics import DEAD_LETTERS, PRODUCED, labelled
from ndtms.stream.state import Store, StoreSpec
from ndtms_contract.topics import DLQ
from ndtms_contract.transcoding import AvroTranscoder, UndecodableRecord

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)
Headers = list[tuple[str, str | bytes | None]]


class NotHere(Exception):
    """A processor cannot handle this record in this instance now: the state it needs is held by
    another member of the group (their assignments disagree for a moment, as in a rolling
    upgrade). Not a bad record, so never dead-lettered: its partition is held at it (its offset is
    what is committed for that partition, so whoever holds the partition next starts there) and
    tried again after the runner's `HOLD_SECONDS`."""


class Processor(Protocol):
    """A stage's rule around its pure domain: what to do with one record, and with the clock."""

    service: str
    topics: tuple[str, ...]
    stores: tuple[StoreSpec[Any], ...]
    punctuate_seconds: float
    clock: Clock

    def process(self, message: Message, out: Transaction) -> None: ...

    def erase(self, client_key: str, topic: str, partition: int, out: Transaction) -> dict[str, int]:
        """Remove everything the state of one input partition holds of an erased person, with its
        tombstones; what was removed, counted by topic or store."""
        ...

    def after_batch(self, out: Transaction) -> None:
        """Called after each batch of records (with or without records): work done once per batch."""

    def assigned(self, stores: dict[str, Store[Any]], partitions: dict[str, list[int]]) -> None:
        """Partitions arrived (state restored) or left; rebuild anything derived from the stores."""

    def punctuate(self, out: Transaction) -> None:
        """Called between batches every `punctuate_seconds`, with or without input."""


class Machinery(Protocol):
    """What a transaction needs of the runner that opens it (`StageRunner`)."""

    processor: Processor
    producer: Producer
    stores: dict[str, Store[Any]]

    @property
    def erased(self) -> Container[str]: ...

    def begin(self) -> None: ...


class Transaction:
    """What a processor may do while handling records: read and write state, produce."""

    def __init__(self, runner: Machinery):
        self._runner = runner
        self.stores = runner.stores

    def produce(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers | None = None
    ) -> None:
        self._runner.begin()
        produce = self._runner.producer.produce
        while True:
            try:
                produce(topic, value, key, headers=headers)
                break
            except BufferError:
                self._runner.producer.poll(0.05)
        labelled(PRODUCED, self._runner.processor.service, topic).inc()

    @property
    def erased(self) -> Container[str]:
        """The client keys on the erasure ledger: nothing of theirs may be kept or passed on."""
        return self._runner.erased

    def decoded(self, message: Message, codec: AvroTranscoder[M]) -> M | None:
        """The record's value, or None once it has been dead-lettered as undecodable."""
        try:
            return codec.decode(message.value())
        except UndecodableRecord as exc:
            self.dead_letter(message, str(exc))
            return None

    def dead_letter(self, message: Message, reason: str) -> None:
        log.warning(
            "dead-lettered: %s",
            reason.split("\n", maxsplit=1)[0][:300],
            extra={"topic": message.topic(), "partition": message.partition(), "offset": message.offset()},
        )
        labelled(DEAD_LETTERS, self._runner.processor.service).inc()
        headers = dead_letter_headers(self._runner.processor.service, reason, message)
        self.produce(DLQ.name, message.key(), message.value(), headers)


def dead_letter_headers(service: str, reason: str, message: Message) -> Headers:
    return [
        ("ndtms.dlq.reason", reason.encode("utf-8")[:2000]),
        ("ndtms.dlq.service", service.encode()),
        ("ndtms.dlq.source", f"{message.topic()}/{message.partition()}/{message.offset()}".encode()),
    ]


# A broker away or a coordinator still loading after a restart: librdkafka does not flag these
