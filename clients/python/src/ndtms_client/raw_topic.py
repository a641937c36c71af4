"""Writing accepted updates to `ndtms.episodes.raw`, answering only once the broker has them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from confluent_kafka import KafkaError, Message, Producer

from ndtms_contract.episodes import EpisodeUpdate
from ndtms_contract.topics import RAW
from ndtms_contract.transcoding import AvroTranscoder

OnDelivery = Callable[[KafkaError | None, Message], None]
NOT_ACKNOWLEDGED = "no acknowledgement from the broker in time; send it again"


@dataclass(frozen=True)
class Delivery:
    update: EpisodeUpdate
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class RawTopicWriter:
    """An idempotent producer (acks=all): a write is reported only when acknowledged."""

    def __init__(self, producer: Producer, codec: AvroTranscoder[EpisodeUpdate], timeout: float = 30.0):
        self.producer = producer
        self.codec = codec
        self.timeout = timeout

    def write_stream(self, updates: Iterable[tuple[int, EpisodeUpdate]]) -> dict[int, str]:
        """Write every (position, update) without waiting between them; the failures by position.

        A file is streamed this way: the producer's queue bounds what is in flight, and only
        positions still waiting for their acknowledgement are held, never the whole input.
        """
        waiting: set[int] = set()
        failures: dict[int, str] = {}

        def on_delivery(position: int) -> OnDelivery:
            def callback(error: KafkaError | None, _message: object) -> None:
                waiting.discard(position)
                if error is not None:
                    failures[position] = f"broker did not accept it: {error.str()}"

            return callback

        for count, (position, update) in enumerate(updates):
            value = self.codec.encode(update)
            waiting.add(position)
            self._produce(update.episode_key.encode(), value, on_delivery(position))
            if count % 100 == 0:
                self.producer.poll(0)
        self.producer.flush(self.timeout)
        failures.update({position: NOT_ACKNOWLEDGED for position in waiting})
        return failures

    def _produce(self, key: bytes, value: bytes, callback: OnDelivery) -> None:
        while True:
            try:
                self.producer.produce(RAW.name, key=key, value=value, on_delivery=callback)
                return
            except BufferError:
                self.producer.poll(0.1)

    def write(self, updates: Sequence[EpisodeUpdate]) -> list[Delivery]:
        outcomes: dict[int, str | None] = {}

        def on_delivery(index: int) -> OnDelivery:
            def callback(error: KafkaError | None, _message: object) -> None:
                outcomes[index] = None if error is None else f"broker did not accept it: {error.str()}"

            return callback

        for index, update in enumerate(updates):
            self._produce(update.episode_key.encode(), self.codec.encode(update), on_delivery(index))
            self.producer.poll(0)
        self.producer.flush(self.timeout)
        return [
            Delivery(update, outcomes.get(index, NOT_ACKNOWLEDGED)) for index, update in enumerate(updates)
        ]
