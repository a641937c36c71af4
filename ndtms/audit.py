"""Writing the audit trail: an act is on `ndtms.audit`, acknowledged by the broker, before it counts.

Callers record first and act (or answer) only when `record` returned: a trail that cannot be
written stops the act instead of letting it go unrecorded.
"""

from __future__ import annotations

from typing import Protocol

from confluent_kafka import Producer

from ndtms.clocks import Clock
from ndtms.delivery import NotDelivered, deliver
from ndtms_contract.audit import AuditAction, AuditEvent
from ndtms_contract.settings import PlatformSettings
from ndtms_contract.topics import AUDIT
from ndtms_contract.transcoding import AvroTranscoder, registry_client


class AuditUnavailable(RuntimeError):
    """The broker did not acknowledge the audit record in time."""


class Audit(Protocol):
    def __call__(self, actor: str, action: AuditAction, subject: str, detail: str = "") -> AuditEvent: ...


class AuditTrail:
    def __init__(self, settings: PlatformSettings, clock: Clock, timeout: float = 10.0):
        self._producer = Producer(settings.producer_config())
        self._codec = AvroTranscoder(registry_client(settings.registry_url), AUDIT, AuditEvent)
        self._clock = clock
        self._timeout = timeout

    def __call__(self, actor: str, action: AuditAction, subject: str, detail: str = "") -> AuditEvent:
        event = AuditEvent(at=self._clock(), actor=actor, action=action, subject=subject, detail=detail)
        try:
            deliver(self._producer, AUDIT.name, subject, lambda: self._codec.encode(event), self._timeout)
        except NotDelivered as exc:
            raise AuditUnavailable(f"the audit trail could not be written: {exc}") from exc
        return event

    def close(self) -> None:
        self._producer.close()
