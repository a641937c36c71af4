"""How the stream core treats the transactional calls that can stall after a broker restart."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException

from ndtms.stream.transactions import TransactionHung, offsets_sent, retrying


def refusing(code: int) -> object:
    def send(offsets: object, metadata: object, timeout: float) -> None:
        raise KafkaException(KafkaError(code))

    return send


def test_a_send_that_times_out_is_a_hang_so_the_producer_is_replaced_not_asked_again() -> None:
    calls = []

    def send(offsets: object, metadata: object, timeout: float) -> None:
        calls.append(timeout)
        raise KafkaException(KafkaError(KafkaError._TIMED_OUT))

    with pytest.raises(TransactionHung, match="no answer in 10 s"):
        retrying(lambda: offsets_sent(send, [], None))
    assert calls == [10]  # once: retrying the same producer for minutes never helped


@pytest.mark.parametrize(
    "code", [KafkaError._FENCED, KafkaError.INVALID_PRODUCER_EPOCH, KafkaError.UNKNOWN_MEMBER_ID]
)
def test_other_refusals_stay_what_they_are(code: int) -> None:
    with pytest.raises(KafkaException) as raised:
        offsets_sent(refusing(code), [], None)  # type: ignore[arg-type]
    assert raised.value.args[0].code() == code


def test_an_answered_send_returns() -> None:
    sent = []
    offsets_sent(lambda offsets, metadata, timeout: sent.append(offsets), ["o"], None)
    assert sent == [["o"]]
