"""Writing the audit trail: an act is on `ndtms.audit`, acknowledged by the broker, before it counts.

Callers record first and act (or answer) only when `record` returned: a trail that cannot be
written stops the act instead of letting it go unrecorded.
"""

from __future__ import annotations

from typing import Any, Protocol

from confluent_kafka import KafkaError, Producer

from ndtms.clocks import Clock
from ndtms.contract.audit import AuditAction, AuditEvent
from ndtms.contract.settings import PlatformSettings
from ndtms.contract.topics import AUDIT
from ndtms.contract.transcoding import AvroTranscoder, registry_client


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
        failures: list[KafkaError] = []

        def delivered(error: KafkaError | None, _message: Any) -> None:
            if error is not None:
                failures.append(error)

        try:
            self._producer.produce(
                AUDIT.name, key=subject.encode(), value=self._codec.encode(event), on_delivery=delivered
            )
        except Exception as exc:  # BufferError, KafkaException: the record was not even queued
            raise AuditUnavailable(f"the audit trail could not be written: {exc}") from exc
        if self._producer.flush(self._timeout) or failures:
            reason = failures[0].str() if failures else f"no acknowledgement within {self._timeout:g}s"
            raise AuditUnavailable(f"the audit trail could not be written: {reason}")
        return event

    def close(self) -> None:
        self._producer.close()
