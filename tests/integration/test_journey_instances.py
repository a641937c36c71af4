"""Journey instances sharing one PostgreSQL store: a stalled former owner of a partition can
change nothing, and a person's partition is where the broker puts their records."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, Message, Producer, TopicPartition
from sqlalchemy.orm import Session

from ndtms.localrun.postgres import fresh_database
from ndtms_contract.episodes import AcceptedEpisode
from ndtms_contract.partitioner import partition_of
from ndtms_contract.settings import PlatformSettings
from ndtms_contract.topics import VALID
from ndtms_contract.transcoding import AvroTranscoder, registry_client
from services.journey import ownership, store
from services.journey.service import JourneyProcessor, build_processor
from services.journey.settings import JourneySettings
from tests.builders import NOW, accepted, community
from tests.integration.test_journey_processor import journeys_for

pytestmark = pytest.mark.broker


def test_the_broker_puts_a_key_on_the_partition_partition_of_names(platform: PlatformSettings) -> None:
    producer = Producer(platform.producer_config())
    placed: dict[str, int] = {}

    def delivered(error: object, message: Message) -> None:
        assert error is None
        placed[(message.key() or b"").decode()] = message.partition() or 0

    keys = [f"{n:032x}" for n in range(9_100_000, 9_100_200)]
    for key in keys:
        producer.produce(VALID.name, key=key.encode(), value=None, on_delivery=delivered)
    producer.flush(30)
    assert placed == {key: partition_of(key, VALID.partitions) for key in keys}


@pytest.fixture
def pair(
    platform: PlatformSettings, postgres_server: str
) -> Iterator[tuple[JourneyProcessor, JourneyProcessor]]:
    database_url = fresh_database(postgres_server, f"test_{time.time_ns()}")
    group = f"journey-stall-{time.time_ns()}"
    made = []
    for name in ("stalled", "successor"):
        settings = JourneySettings(
            **(platform.model_dump() | {"stream_instance_id": name}),
            database_url=database_url,
            journey_group_id=group,
        )
        processor = build_processor(settings, lambda: NOW)
        processor.follow_ledger()
        processor.prepare()
        made.append(processor)
    yield made[0], made[1]
    for processor in made:
        processor.close()


def _published_record(platform: PlatformSettings, record: AcceptedEpisode) -> Message:
    """Write the record to ndtms.episodes.valid and read it back as a consumer hands it over."""
    codec = AvroTranscoder(registry_client(platform.registry_url), VALID, AcceptedEpisode)
    producer = Producer(platform.producer_config())
    where: list[Message] = []
    producer.produce(
        VALID.name,
        key=record.client_key.encode(),
        value=codec.encode(record),
        on_delivery=lambda _e, m: where.append(m),
    )
    producer.flush(30)
    reader = Consumer({**platform.kafka_client_config(), "group.id": f"stall-read-{time.time_ns()}"})
    reader.assign([TopicPartition(VALID.name, where[0].partition() or 0, where[0].offset() or 0)])
    message = None
    deadline = time.monotonic() + 30
    while message is None or message.error() is not None:
        assert time.monotonic() < deadline
        message = reader.poll(0.5)
    reader.close()
    return message


def test_a_stalled_former_owner_changes_nothing_once_its_partition_is_claimed(
    platform: PlatformSettings, pair: tuple[JourneyProcessor, JourneyProcessor]
) -> None:
    stalled, successor = pair
    client_key = f"{time.time_ns():032x}"[-32:]
    partition = partition_of(client_key, stalled.partitions)
    stalled.take(list(range(stalled.partitions)))
    first = accepted(community(episode_id="ST1", interventions=[]), client_key)
    stalled.apply_batch([_published_record(platform, first)])  # applied, waiting in its outbox

    # The stalled instance's partition goes to another (the group moved it while it was paused).
    successor.take([partition])
    with Session(successor.engine) as session:
        assert ownership.owners(session)[partition][0] == "successor"

    # It wakes: its publisher was fenced, so its outbox row stays for the successor ...
    stale = stalled.owned[partition]
    stalled.publish_outbox()  # other partitions' rows may go (receipts of the shared ledger)
    assert partition not in stalled.owned
    with Session(stalled.engine) as session:
        waiting = store.pending_publications_of(session, [partition], limit=1000)
        assert client_key in [row.client_key for row in waiting]
    # ... and had it not noticed the fence, the store refuses its batch: the epoch has moved.
    stalled.owned[partition] = stale
    second = accepted(community(episode_id="ST1", revision=2, interventions=[]), client_key)
    stalled.apply_batch([_published_record(platform, second)])
    assert partition not in stalled.owned
    with Session(stalled.engine) as session:
        episodes = store.episodes_of(session, client_key)
        assert [(e.episode_id, e.revision) for e in episodes] == [("ST1", 1)]

    # The successor publishes the waiting row once.
    assert successor.publish_outbox() >= 1
    found = journeys_for(platform, client_key, successor.store_name)
    assert len(found) == 1 and found[0] is not None
