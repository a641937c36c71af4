"""The erasure ledger as every stage follows it: all of it, on every instance, before any input.

`ndtms.erasures` is small and permanent, so each instance reads it from its first offset at
start and follows it afterwards. Which of its entries a partition's state has been swept for
is kept in that partition's state (`ErasureMark`, changed in the same transaction as the
sweep), so a crash between an erasure and its commit repeats the sweep, and a partition that
moves to another instance is swept there for whatever its old owner had not committed.
"""

from __future__ import annotations

import bisect
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from ndtms_contract.audit import AuditAction, AuditEvent
from ndtms_contract.erasures import ErasureReceipt, ErasureRecorded
from ndtms_contract.settings import PlatformSettings
from ndtms_contract.topics import ERASURES
from ndtms_contract.transcoding import AvroTranscoder, UndecodableRecord, registry_client

log = logging.getLogger(__name__)

MARK_KEY = "ledger"
# Receipts that say "nothing removed here" are only worth writing while someone may be waiting
# for them (`ndtms erase` waits minutes); an instance catching up on an old ledger confirms
# only what it actually removed.
RECEIPT_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class ErasureMark:
    """The ledger offset up to which (exclusive) a partition's state has been swept."""

    next_offset: int


@dataclass(frozen=True)
class LedgerEntry:
    offset: int
    erasure: ErasureRecorded

    def worth_a_receipt(self, removed: int, now: datetime) -> bool:
        return removed > 0 or now - self.erasure.erased_at <= RECEIPT_WINDOW

    def receipt(
        self,
        service: str,
        instance: str,
        topic: str,
        partitions: tuple[int, ...],
        removed: dict[str, int],
        now: datetime,
    ) -> AuditEvent:
        """What one service instance removed for this erasure, as its audit record."""
        receipt = ErasureReceipt(
            service=service,
            input_topic=topic,
            partitions=partitions,
            removed=removed,
            ledger_offset=self.offset,
        )
        return AuditEvent(
            at=now,
            actor=f"{service} ({instance})",
            action=AuditAction.ERASURE_APPLIED,
            subject=self.erasure.client_key,
            detail=receipt.model_dump_json(),
        )


class LedgerFollower:
    """Reads `ndtms.erasures` (read committed) from its first offset, then follows it."""

    def __init__(self, settings: PlatformSettings, reader_name: str):
        self.codec = AvroTranscoder(registry_client(settings.registry_url), ERASURES, ErasureRecorded)
        self.consumer = Consumer(
            {
                **settings.kafka_client_config(),
                "group.id": f"{reader_name}-ledger",  # never joined: partitions are assigned
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "isolation.level": "read_committed",
                "fetch.wait.max.ms": 50,
            }
        )
        self.entries: list[LedgerEntry] = []
        self.erased: set[str] = set()
        self.next_offset = 0
        partitions = [TopicPartition(ERASURES.name, p, OFFSET_BEGINNING) for p in range(ERASURES.partitions)]
        self.consumer.assign(partitions)

    def catch_up(self, patience: float = 120) -> int:
        """Read to the ledger's current end; the number of entries known."""
        deadline = time.monotonic() + patience
        end = self._end(deadline)
        while self.next_offset < end:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{ERASURES.name} not read to its end ({end}) in {patience:.0f} s")
            self._take(self.consumer.consume(1000, timeout=0.2))
        return len(self.entries)

    def _end(self, deadline: float) -> int:
        while True:
            try:
                return int(self.consumer.get_watermark_offsets(TopicPartition(ERASURES.name, 0), 10)[1])
            except KafkaException as exc:
                if time.monotonic() > deadline:
                    raise
                log.warning("end of %s not known yet (%s); asking again", ERASURES.name, exc)
                time.sleep(1)

    def poll(self) -> list[LedgerEntry]:
        """Entries committed since the last call (none without waiting)."""
        return self._take(self.consumer.consume(1000, timeout=0))

    def _take(self, messages: list) -> list[LedgerEntry]:  # type: ignore[type-arg]
        taken: list[LedgerEntry] = []
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    self.next_offset = max(self.next_offset, message.offset() or 0)
                elif error.fatal():
                    raise KafkaException(error)
                else:
                    log.warning("reading %s: %s", ERASURES.name, error)
                continue
            offset = message.offset() or 0
            self.next_offset = max(self.next_offset, offset + 1)
            if message.value() is None:
                continue  # the ledger is never tombstoned; one that is erases nothing
            try:
                erasure = self.codec.decode(message.value())
            except UndecodableRecord as exc:
                log.error("unreadable erasure at %s offset %d: %s", ERASURES.name, offset, exc)
                continue
            entry = LedgerEntry(offset, erasure)
            self.entries.append(entry)
            self.erased.add(erasure.client_key)
            taken.append(entry)
        return taken

    def since(self, offset: int) -> list[LedgerEntry]:
        """The entries at or after a ledger offset, in ledger order."""
        start = bisect.bisect_left(self.entries, offset, key=lambda e: e.offset)
        return self.entries[start:]

    def close(self) -> None:
        self.consumer.close()
