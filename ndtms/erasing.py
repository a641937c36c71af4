"""Asking for an erasure and waiting for it: the ledger entry, its audit record, the receipts.

Whoever asks (a provider's objection at ingest, an extract whose consent was withdrawn, an
operator's `ndtms erase`) goes through `ErasureLedger.record`: audited first, then written to
`ndtms.erasures` and acknowledged by the broker. `await_receipts` reads `ndtms.audit` for the
services' `erasure_applied` receipts of that entry.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from ndtms.audit import Audit
from ndtms.clocks import Clock
from ndtms.delivery import NotDelivered, deliver
from ndtms.offsets import partition_count
from ndtms_contract.audit import AuditAction, AuditEvent
from ndtms_contract.episodes import Sex
from ndtms_contract.erasures import (
    CONFIRMING,
    ErasureOrigin,
    ErasureReceipt,
    ErasureRecorded,
    ErasureTally,
)
from ndtms_contract.pseudonyms import client_key
from ndtms_contract.settings import PlatformSettings
from ndtms_contract.topics import AUDIT, ERASURES
from ndtms_contract.transcoding import AvroTranscoder, UndecodableRecord, registry_client


class ErasureNotRecorded(RuntimeError):
    """The broker did not acknowledge the ledger entry: the erasure was not asked for."""


class ErasureLedger:
    """Writes erasures to `ndtms.erasures` (idempotent producer, acks=all), each audited first."""

    def __init__(self, settings: PlatformSettings, audit: Audit, clock: Clock, timeout: float = 10.0):
        self._producer = Producer(settings.producer_config())
        self._codec = AvroTranscoder(registry_client(settings.registry_url), ERASURES, ErasureRecorded)
        self._secret = settings.pseudonym_secret()
        self._audit = audit
        self._clock = clock
        self._timeout = timeout

    def key_of(self, first_initial: str, second_initial: str, date_of_birth: Any, sex: Sex | str) -> str:
        """The client key these attributors make (the same HMAC as the validator's)."""
        return client_key(self._secret, first_initial, second_initial, date_of_birth, sex)

    def record(
        self, key: str, erased_by: str, origin: ErasureOrigin, reason: str, actor: str
    ) -> tuple[ErasureRecorded, int]:
        """Audit, then write, the erasure of `key`; the entry and its ledger offset."""
        erasure = ErasureRecorded(
            client_key=key, erased_at=self._clock(), erased_by=erased_by, origin=origin, reason=reason
        )
        self._audit(actor, AuditAction.ERASURE_REQUESTED, key, f"{origin.value}: {reason}")
        try:
            offset = deliver(
                self._producer, ERASURES.name, key, lambda: self._codec.encode(erasure), self._timeout
            )
        except NotDelivered as exc:
            raise ErasureNotRecorded(f"the erasure could not be written: {exc}") from exc
        return erasure, offset

    def close(self) -> None:
        self._producer.flush(self._timeout)


def audit_end(settings: PlatformSettings) -> int:
    """Where the audit trail ends now: receipts for an erasure asked for later come after it."""
    reader = Consumer({**settings.kafka_client_config(), "group.id": "ndtms-erase-audit"})
    try:
        return int(reader.get_watermark_offsets(TopicPartition(AUDIT.name, 0), timeout=10)[1])
    finally:
        reader.close()


def await_receipts(
    settings: PlatformSettings,
    key: str,
    ledger_offset: int,
    audit_from: int,
    timeout: float,
    progress: Callable[[ErasureTally], None] = lambda tally: None,
) -> ErasureTally:
    """Read `ndtms.audit` from `audit_from` until every service has confirmed, or `timeout` passes."""
    codec = AvroTranscoder(registry_client(settings.registry_url), AUDIT, AuditEvent)
    reader = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": "ndtms-erase-audit",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "fetch.wait.max.ms": 100,
        }
    )
    inputs = sorted({topic for _, topic in CONFIRMING})
    tally = ErasureTally(
        ledger_offset=ledger_offset, partitions={topic: partition_count(reader, topic) for topic in inputs}
    )
    reader.assign([TopicPartition(AUDIT.name, 0, audit_from)])
    deadline = time.monotonic() + timeout
    try:
        while not tally.complete and time.monotonic() < deadline:
            for message in reader.consume(500, timeout=0.2):
                if message.error() is not None or message.key() != key.encode():
                    continue
                try:
                    event = codec.decode(message.value())
                except UndecodableRecord:
                    continue
                if event.action is AuditAction.ERASURE_APPLIED:
                    tally.add(ErasureReceipt.model_validate_json(event.detail))
                    progress(tally)
    finally:
        reader.close()
    return tally
