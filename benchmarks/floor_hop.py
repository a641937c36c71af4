"""One pass-through hop of the floor pipeline (`benchmarks.floor`), as its own process.

    python -m benchmarks.floor_hop validator|linker|journey SHARES_JSON

The stage's shape with none of its rules, state lookups or database: the same inputs and
outputs, the same client configuration (`ndtms.stream.runner.stage_*_config`), the same batch
size and commit interval, in Kafka transactions with the consumed offsets, Avro decoded and
encoded with the contract's codecs. Outputs go to `floor.*` topics shaped like the real ones.
Stops (committing what it holds) on SIGTERM.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, Message, Producer

from ndtms.stream.runner import stage_consumer_config, stage_producer_config
from ndtms_contract.candidates import MATCH_DECODER, MATCH_ENCODER, LinkCandidate, MatchEpisode
from ndtms_contract.episodes import AcceptedEpisode, EpisodeUpdate
from ndtms_contract.journeys import ClientJourneys
from ndtms_contract.links import TransferLink
from ndtms_contract.pseudonyms import client_key
from ndtms_contract.settings import PlatformSettings
from ndtms_contract.topics import CANDIDATES, JOURNEYS, LINKS, RAW, VALID
from ndtms_contract.transcoding import AvroTranscoder, registry_client
from services.validator.acceptance import accepted_form

FLOOR_VALID = "floor.valid"
FLOOR_MATCHING = "floor.matching"
FLOOR_LINKS = "floor.links"
FLOOR_CANDIDATES = "floor.candidates"
FLOOR_JOURNEYS = "floor.journeys"
FLOOR_STATE = "floor.state"
GROUPS = {"validator": "floor-validator", "linker": "floor-linker", "journey": "floor-journey"}
INPUTS = {"validator": (RAW.name,), "linker": (FLOOR_VALID, FLOOR_MATCHING), "journey": (FLOOR_VALID,)}


class Shares:
    """Emits a record for a fraction of its inputs, evenly: 0.4 gives 2 of every 5."""

    def __init__(self, share: float):
        self.share, self.owed = share, 0.0

    def due(self) -> int:
        self.owed += self.share
        whole = int(self.owed)
        self.owed -= whole
        return whole


def main() -> None:
    shape, shares = sys.argv[1], json.loads(sys.argv[2])
    settings = PlatformSettings()
    group = GROUPS[shape]
    consumer = Consumer(stage_consumer_config(settings, group, "0"))
    producer = Producer(stage_producer_config(settings, group, "0"))
    producer.init_transactions(30)
    registry = registry_client(settings.registry_url)
    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    handle, flush = hop(shape, shares, registry, settings, producer)
    consumer.subscribe(list(INPUTS[shape]))
    in_transaction, started = False, 0.0
    batch, every = settings.stream_batch_size, settings.stream_commit_seconds
    committed: dict[tuple[str, int], int] = {}
    while True:
        messages = consumer.consume(batch, timeout=every / 2)
        for message in messages:
            if message.error() is not None:
                continue
            if not in_transaction:
                producer.begin_transaction()
                in_transaction, started = True, time.monotonic()
            handle(message)
        positions = consumer.position(consumer.assignment())
        moved = [tp for tp in positions if tp.offset >= 0]
        # A position moved over transaction markers only is committed too, as the stages do:
        # otherwise the group would never show its input read to the end.
        if not in_transaction and any(committed.get((tp.topic, tp.partition)) != tp.offset for tp in moved):
            producer.begin_transaction()
            in_transaction, started = True, 0.0
        if in_transaction and (stopping or time.monotonic() - started >= every):
            flush()
            producer.send_offsets_to_transaction(moved, consumer.consumer_group_metadata(), 30)
            producer.commit_transaction(60)
            committed.update({(tp.topic, tp.partition): tp.offset for tp in moved})
            in_transaction = False
        if stopping and not in_transaction:
            break
    consumer.close()


def hop(
    shape: str, shares: dict[str, float], registry: Any, settings: PlatformSettings, producer: Producer
) -> tuple[Callable[[Message], None], Callable[[], None]]:
    """What the hop does with each record, and at each commit (one state record per key)."""
    changed: dict[bytes, int] = {}

    def produce(topic: str, key: bytes, value: bytes, partition: int | None = None) -> None:
        while True:
            try:
                if partition is None:
                    producer.produce(topic, value, key)
                else:
                    producer.produce(topic, value, key, partition=partition)
                return
            except BufferError:
                producer.poll(0.05)

    def flush() -> None:
        for key, partition in changed.items():
            produce(FLOOR_STATE, key, b"\x80", partition)
        changed.clear()

    if shape == "validator":
        raw = AvroTranscoder(registry, RAW, EpisodeUpdate, "trusted")
        valid = AvroTranscoder(registry, VALID, AcceptedEpisode)
        secret = settings.pseudonym_key.get_secret_value().encode()

        def validator(message: Message) -> None:
            update = raw.decode(message.value() or b"")
            c = update.client
            key = (
                client_key(secret, c.first_initial, c.second_initial, c.date_of_birth, c.sex)
                if c
                else "0" * 32
            )
            accepted = accepted_form(update, key, (), datetime.now(UTC))
            produce(FLOOR_VALID, key.encode(), valid.encode(accepted))
            matching = MatchEpisode.of(accepted, c.first_initial if c else None, None, None)
            produce(FLOOR_MATCHING, accepted.episode_key.encode(), MATCH_ENCODER.encode(matching))
            changed[message.key() or b""] = message.partition() or 0

        return validator, flush

    accepted_codec = AvroTranscoder(registry, VALID, AcceptedEpisode, "trusted")
    if shape == "linker":
        links = AvroTranscoder(registry, LINKS, TransferLink)
        candidates = AvroTranscoder(registry, CANDIDATES, LinkCandidate)
        link = TransferLink.model_validate(shares["link_template"])
        # No candidate in the real run: none in the floor either.
        held = shares["candidate_template"]
        candidate = LinkCandidate.model_validate(held) if held else None
        per_link, per_candidate = Shares(shares["links"]), Shares(shares["candidates"] if held else 0.0)
        per_state = Shares(shares["state"])

        def linker(message: Message) -> None:
            if message.topic() == FLOOR_MATCHING:
                MATCH_DECODER.decode(message.value() or b"")  # what the search reads of it
                for _ in range(per_candidate.due()):
                    assert candidate is not None
                    produce(FLOOR_CANDIDATES, message.key() or b"", candidates.encode(candidate))
                return
            accepted = accepted_codec.decode(message.value() or b"")
            for _ in range(per_link.due()):
                produce(FLOOR_LINKS, accepted.episode_key.encode(), links.encode(link))
            # The real linker's share of state records is counted after its own per-commit
            # dedup: written here as they come.
            for _ in range(per_state.due()):
                produce(FLOOR_STATE, accepted.client_key.encode(), b"\x80", message.partition() or 0)

        return linker, flush

    journeys = AvroTranscoder(registry, JOURNEYS, ClientJourneys)
    person = ClientJourneys.model_validate(shares["journey_template"])

    def journey(message: Message) -> None:
        accepted = accepted_codec.decode(message.value() or b"")
        changed[accepted.client_key.encode()] = message.partition() or 0

    def publish() -> None:
        # One journeys record per person changed in the batch, as the outbox publishes.
        for key in changed:
            produce(FLOOR_JOURNEYS, key, journeys.encode(person))
        changed.clear()

    return journey, publish


if __name__ == "__main__":
    main()
