"""Writing one record and waiting until the broker has it: for acts that count only once written
(an audit record, an erasure on the ledger, a reviewer's decision)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, Producer


class NotDelivered(RuntimeError):
    """The record was not acknowledged: why, in words (no record content)."""


def deliver(producer: Producer, topic: str, key: str, encode: Callable[[], bytes], timeout: float) -> int:
    """Produce the record `encode()` makes and wait for the acknowledgement; its offset."""
    outcome: dict[str, Any] = {}

    def delivered(error: KafkaError | None, message: Any) -> None:
        outcome["error"], outcome["offset"] = error, None if error else message.offset()

    try:
        # Encoding is inside: a registry that cannot be reached means not written, like a broker.
        producer.produce(topic, key=key.encode(), value=encode(), on_delivery=delivered)
    except Exception as exc:  # BufferError, KafkaException, the registry: not even queued
        raise NotDelivered(str(exc)) from exc
    producer.flush(timeout)
    if outcome.get("offset") is None:
        error = outcome.get("error")
        raise NotDelivered(error.str() if error else f"no acknowledgement within {timeout:g}s")
    return int(outcome["offset"])
