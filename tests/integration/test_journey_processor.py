"""The journey consumer on the real broker with SQLite: state, offsets and outbox in one transaction."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from itertools import pairwise

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from sqlalchemy.orm import Session

from ndtms_contract.episodes import AcceptedEpisode
from ndtms_contract.journeys import ClientJourneys
from ndtms_contract.settings import PlatformSettings
from ndtms_contract.topics import AUDIT, JOURNEYS, VALID
from ndtms_contract.transcoding import AvroTranscoder, registry_client
from services.journey import store
from services.journey.outbox import (
    OUTBOX_HEADER,
    PARTITION_HEADER,
    TRANSACTION_ROWS,
    last_published_outbox_ids,
)
from services.journey.service import JourneyProcessor, build_processor
from services.journey.settings import JourneySettings
from tests.builders import NOW, accepted, community

pytestmark = pytest.mark.broker


def journeys_for(
    settings: PlatformSettings, client_key: str, store_name: str, timeout: float = 120
) -> list[ClientJourneys | None]:
    """This store's publications for the person. Other journey services may be running on the
    same broker (the end-to-end tests' `ndtms up`): their records carry another store's name."""
    codec = AvroTranscoder(registry_client(settings.registry_url), JOURNEYS, ClientJourneys)
    consumer = Consumer({**settings.kafka_client_config(), "group.id": f"t-{time.time_ns()}"})
    consumer.assign([TopicPartition(JOURNEYS.name, p, 0) for p in range(JOURNEYS.partitions)])
    found: list[ClientJourneys | None] = []
    deadline = time.monotonic() + timeout
    idle_since = time.monotonic()
    while time.monotonic() < deadline and (not found or time.monotonic() - idle_since < 2):
        message = consumer.poll(0.2)
        if message is None or message.error():
            continue
        header = dict(message.headers() or []).get(OUTBOX_HEADER)
        ours = isinstance(header, bytes) and header.decode().startswith(f"{store_name}:")
        if message.key() == client_key.encode() and ours:
            found.append(codec.decode(message.value()) if message.value() is not None else None)
            idle_since = time.monotonic()
    consumer.close()
    return found


@pytest.fixture
def journey_service(platform: PlatformSettings, database_url: str) -> Iterator[JourneyProcessor]:
    settings = JourneySettings(
        **platform.model_dump(),
        database_url=database_url,
        journey_group_id=f"journey-test-{time.time_ns()}",
    )
    processor = build_processor(settings, lambda: NOW)
    thread = threading.Thread(target=processor.run, daemon=True)
    thread.start()
    yield processor
    processor.stopping.set()
    thread.join(timeout=30)


def test_journeys_are_published_and_offsets_stored_with_the_state(
    platform: PlatformSettings, journey_service: JourneyProcessor
) -> None:
    client_key = f"{time.time_ns():032d}"[-32:]
    codec = AvroTranscoder(registry_client(platform.registry_url), VALID, AcceptedEpisode)
    producer = Producer(platform.producer_config())
    first = accepted(
        community(episode_id="JT1", discharge_date="2024-03-20", discharge_reason="incomplete_dropped_out"),
        client_key,
    )
    later = accepted(
        community(
            episode_id="JT2",
            referral_date="2024-04-01",
            triage_date="2024-04-12",
            recorded_at="2024-05-01T00:00:00Z",
            interventions=[],
        ),
        client_key,
    )
    for record in (first, later, first):  # the repeat is a redelivery and changes nothing
        producer.produce(VALID.name, key=client_key.encode(), value=codec.encode(record))
    producer.flush(10)
    found = journeys_for(platform, client_key, journey_service.store_name)
    final = found[-1]
    assert final is not None
    assert [[e.episode_id for e in j.episodes] for j in final.journeys] == [["JT1"], ["JT2"]]
    with Session(journey_service.engine) as session:
        episodes = store.episodes_of(session, client_key)
        assert sorted(e.episode_id for e in episodes) == ["JT1", "JT2"]
        assert sum(store.stored_offsets(session, VALID.name).values()) >= 3
        assert store.every_pending_publication(session) == []


def test_the_groups_offsets_reach_the_end_past_a_transactions_marker(
    platform: PlatformSettings, journey_service: JourneyProcessor
) -> None:
    """The validator writes in transactions, so a partition ends with a marker, which is no
    record, or with an aborted transaction's records, which are not delivered: the group's
    committed offset must pass them, or the journey shows a lag for good (on /ops, and to
    anyone waiting for it to catch up)."""
    client_key = f"{time.time_ns():032d}"[-32:]
    codec = AvroTranscoder(registry_client(platform.registry_url), VALID, AcceptedEpisode)
    producer = Producer({**platform.producer_config(), "transactional.id": f"marker-{time.time_ns()}"})
    producer.init_transactions(30)
    producer.begin_transaction()
    record = accepted(community(episode_id="MK1"), client_key)
    producer.produce(VALID.name, key=client_key.encode(), value=codec.encode(record))
    producer.commit_transaction(30)
    # An aborted transaction after it: its records are skipped, never delivered, and so is
    # its marker; nothing but the consumer's position says they were read past.
    producer.begin_transaction()
    producer.produce(VALID.name, key=client_key.encode(), value=codec.encode(record))
    producer.flush(30)
    producer.abort_transaction(30)
    partition = journey_service.partition_of(client_key)
    probe = Consumer(
        {**platform.kafka_client_config(), "group.id": journey_service.settings.journey_group_id}
    )
    deadline = time.monotonic() + 60
    try:
        while True:
            [committed] = probe.committed([TopicPartition(VALID.name, partition)], timeout=10)
            _, end = probe.get_watermark_offsets(TopicPartition(VALID.name, partition), timeout=10)
            if committed.offset == end:
                break
            assert time.monotonic() < deadline, f"committed {committed.offset}, end {end}"
            time.sleep(0.2)
    finally:
        probe.close()


def test_the_fence_finds_each_partitions_last_published_id_in_one_pass(platform: PlatformSettings) -> None:
    """What a store published before a crash is found on the topics: the highest committed id
    per partition header, from every partition of both topics at once; another store's rows,
    an aborted transaction's and those of other partitions are not mistaken for it."""
    name, other = f"fence-{time.time_ns()}", f"other-{time.time_ns()}"
    settings = JourneySettings(**platform.model_dump(), journey_group_id=f"fence-test-{time.time_ns()}")
    producer = Producer({**platform.producer_config(), "transactional.id": f"fence-test-{time.time_ns()}"})
    producer.init_transactions(30)

    def send(topic: str, partition: int, store_name: str, row_id: int, marked: int | None) -> None:
        headers: list[tuple[str, str | bytes | None]] = [(OUTBOX_HEADER, f"{store_name}:{row_id}".encode())]
        if marked is not None:
            headers.append((PARTITION_HEADER, str(marked).encode()))
        producer.produce(topic, key=b"k", value=b"v", partition=partition, headers=headers)

    producer.begin_transaction()
    send(JOURNEYS.name, 0, name, 3, 0)
    send(JOURNEYS.name, 0, name, 7, 0)
    send(JOURNEYS.name, 4, name, 9, 4)
    send(AUDIT.name, 0, name, 12, 4)  # an erasure receipt of partition 4's owner, on the audit topic
    send(JOURNEYS.name, 5, name, 2, None)  # older than the partition header
    send(JOURNEYS.name, 1, other, 99, 1)
    producer.commit_transaction(30)
    producer.begin_transaction()
    send(JOURNEYS.name, 0, name, 50, 0)
    producer.flush(30)
    producer.abort_transaction(30)

    found = last_published_outbox_ids(settings, (JOURNEYS.name, AUDIT.name), name)
    assert found == {0: 7, 4: 12, None: 2}


def test_the_fence_reads_a_partition_whose_start_was_deleted(platform: PlatformSettings) -> None:
    """A tail of 2,000 that reaches before the first record still there (retention deleted the
    start) reads from that record: the store's last id is found, not skipped."""
    topic, name = f"fence-start-{time.time_ns()}", f"fence-{time.time_ns()}"
    admin = AdminClient(platform.kafka_client_config())
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(30)
    settings = JourneySettings(**platform.model_dump(), journey_group_id=f"fence-test-{time.time_ns()}")
    producer = Producer(platform.producer_config())
    for row_id in range(1, 6):
        headers: list[tuple[str, str | bytes | None]] = [
            (OUTBOX_HEADER, f"{name}:{row_id}".encode()),
            (PARTITION_HEADER, b"0"),
        ]
        producer.produce(topic, key=b"k", value=b"v", partition=0, headers=headers)
    assert producer.flush(30) == 0
    deleted = admin.delete_records([TopicPartition(topic, 0, 3)])
    assert next(iter(deleted.values())).result(30).low_watermark == 3

    assert last_published_outbox_ids(settings, (topic,), name) == {0: 5}


def test_a_long_outbox_goes_out_in_transactions_the_fence_can_see_past(
    platform: PlatformSettings, journey_service: JourneyProcessor
) -> None:
    """A partition's outbox beyond one transaction's rows goes out whole, in transactions of at
    most TRANSACTION_ROWS: the fence reads only FENCE_TAIL records back for a store's last id."""
    client_key = f"{time.time_ns():032d}"[-32:]
    rows = TRANSACTION_ROWS * 2 + 500
    with Session(journey_service.engine) as session, session.begin():
        store.add_publications(session, [(client_key, None)] * rows, journey_service.partition_of)
    deadline = time.monotonic() + 60
    while True:
        with Session(journey_service.engine) as session:
            if not store.every_pending_publication(session):
                break
        assert time.monotonic() < deadline, "the outbox never emptied"
        time.sleep(0.1)
    # One key, one partition of the topic: each commit marker takes an offset between the
    # records, so a run of consecutive offsets is at most one transaction.
    consumer = Consumer({**platform.kafka_client_config(), "group.id": f"t-{time.time_ns()}"})
    consumer.assign([TopicPartition(JOURNEYS.name, p, 0) for p in range(JOURNEYS.partitions)])
    offsets: list[int] = []
    idle_since = time.monotonic()
    while len(offsets) < rows and time.monotonic() - idle_since < 10:
        for message in consumer.consume(1000, timeout=0.5):
            header = dict(message.headers() or []).get(OUTBOX_HEADER)
            ours = isinstance(header, bytes) and header.decode().startswith(f"{journey_service.store_name}:")
            if message.error() is None and message.key() == client_key.encode() and ours:
                offsets.append(message.offset() or 0)
                idle_since = time.monotonic()
    consumer.close()
    assert len(offsets) == rows
    runs, run = [], 1
    for before, after in pairwise(offsets):
        if after == before + 1:
            run += 1
        else:
            runs.append(run)
            run = 1
    runs.append(run)
    assert max(runs) <= TRANSACTION_ROWS
    assert len(runs) >= 3
