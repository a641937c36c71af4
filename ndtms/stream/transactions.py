"""Calls to the cluster inside a stage's transaction: which failures to ask again about, and
which to call a hang (the producer is then replaced, which fences the stuck one)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, KafkaException

log = logging.getLogger(__name__)


# A broker away or a coordinator still loading after a restart: librdkafka does not flag these
# local errors retriable, but asking again is exactly right. A stage died of `_TIMED_OUT` from
# `committed()` while the group coordinator came back after a broker restart (a CI run saw it).
TRANSIENT = frozenset(
    {
        KafkaError._TIMED_OUT,
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.NOT_COORDINATOR,
    }
)


def retrying(call: Callable[[], None], attempts: int = 20) -> None:
    """Repeat a call to the cluster while trying again may help (the broker or coordinator is away)."""
    for attempt in range(attempts):
        try:
            call()
            return
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            # A transaction that must be aborted (its records timed out while a partition had
            # no leader, say) fails the same way however often it is committed: the caller aborts.
            hopeless = error.fatal() or error.txn_requires_abort()
            if hopeless or not (error.retriable() or error.code() in TRANSIENT) or attempt == attempts - 1:
                raise
            log.warning("transaction call failed, retrying: %s", error)
            time.sleep(min(0.5 * 2**attempt, 5))


# Offsets refused because this member is no longer the group's (another took its instance id,
# or a rebalance moved on without it): the consumer must join again, not seek.
MEMBERSHIP_LOST = frozenset(
    {KafkaError.FENCED_INSTANCE_ID, KafkaError.UNKNOWN_MEMBER_ID, KafkaError.ILLEGAL_GENERATION}
)


class TransactionHung(RuntimeError):
    """A transactional call outlived its deadline (librdkafka can ignore its own timeout)."""


def within(seconds: float, call: Callable[[], None]) -> None:
    """Run a blocking client call, giving up on it after `seconds`.

    librdkafka's send_offsets_to_transaction can block for ever when the group coordinator
    goes away (confluentinc/librdkafka#5456, #5511): the call is left to its thread, and the
    stage replaces its producer, which fences the stuck one.
    """
    failure: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread as it is
            failure.append(exc)

    worker = threading.Thread(target=run, name="transaction-call", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise TransactionHung(f"no answer in {seconds:.0f} s")
    if failure:
        raise failure[0]


def offsets_sent(send: Callable[[Any, Any, float], None], offsets: Any, metadata: Any) -> None:
    """Add the consumed offsets to the transaction, calling a time-out a hang.

    After a broker restart, a producer can time out on every try (found in CI: the linker's
    send timed out every 10 s for five minutes, while a replaced producer, as the validator's
    was, carried on at once). Asking the same producer again does not help; replacing it does,
    and is as safe as for a hang: the new one fences the old and its transaction is aborted."""
    try:
        send(offsets, metadata, 10)
    except KafkaException as exc:
        error: KafkaError = exc.args[0]
        if error.code() == KafkaError._TIMED_OUT:
            raise TransactionHung(f"no answer in 10 s: {error.str()}") from exc
        raise
