"""Writing accepted updates to `ndtms.episodes.raw`, answering only once the broker has them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from confluent_kafka import KafkaError, Message, Producer

from ndtms.contract.episodes import EpisodeUpdate
from ndtms.contract.topics import RAW
from ndtms.contract.transcoding import AvroTranscoder


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

    def write(self, updates: Sequence[EpisodeUpdate]) -> list[Delivery]:
        outcomes: dict[int, str | None] = {}

        def on_delivery(index: int) -> Callable[[KafkaError | None, Message], None]:
            def callback(error: KafkaError | None, _message: object) -> None:
                outcomes[index] = None if error is None else f"broker did not accept it: {error.str()}"

            return callback

        for index, update in enumerate(updates):
            value = self.codec.encode(update)
            while True:
                try:
                    self.producer.produce(
                        RAW.name, key=update.episode_key.encode(), value=value, on_delivery=on_delivery(index)
                    )
                    break
                except BufferError:
                    self.producer.poll(0.1)
            self.producer.poll(0)
        self.producer.flush(self.timeout)
        return [
            Delivery(update, outcomes.get(index, "no acknowledgement from the broker in time; send it again"))
            for index, update in enumerate(updates)
        ]
