"""Reading a topic to its end on a real broker: to the offsets it had when the read began."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from ndtms.stream.replay import ChangelogUnreadable, replayer
from ndtms.whole_topic import read_whole_topic
from ndtms_contract.settings import PlatformSettings

pytestmark = pytest.mark.broker


def new_topic(platform: PlatformSettings, partitions: int) -> str:
    name = f"test.whole-topic.{uuid.uuid4().hex[:12]}"
    admin = AdminClient(platform.kafka_client_config())
    for future in admin.create_topics([NewTopic(name, partitions, 1)]).values():
        future.result(30)
    return name


def transactional(platform: PlatformSettings) -> Producer:
    producer = Producer({**platform.producer_config(), "transactional.id": f"test-{uuid.uuid4().hex}"})
    producer.init_transactions(30)
    return producer


def write(producer: Producer, topic: str, keys: list[str], commit: bool = True) -> None:
    producer.begin_transaction()
    for key in keys:
        producer.produce(topic, key=key.encode(), value=b"v")
    if commit:
        producer.commit_transaction(30)
    else:
        producer.abort_transaction(30)


def test_a_read_ends_at_the_offsets_it_began_with_while_records_keep_arriving(
    platform: PlatformSettings,
) -> None:
    topic = new_topic(platform, partitions=3)
    producer = transactional(platform)
    before = [f"before-{n}" for n in range(300)]
    for start in range(0, 300, 30):
        write(producer, topic, before[start : start + 30])
    write(producer, topic, ["aborted-1", "aborted-2"], commit=False)
    stop = threading.Event()

    def busy() -> None:
        # A transaction every 20 ms for as long as the read lasts: with the old "until quiet"
        # reading, the read never ended.
        other = transactional(platform)
        n = 0
        while not stop.is_set():
            write(other, topic, [f"after-{n}"])
            n += 1
            time.sleep(0.02)
        other.flush(10)

    writer = threading.Thread(target=busy, daemon=True)
    writer.start()
    try:
        time.sleep(0.5)  # records are arriving when the read begins
        read = [(m.key() or b"").decode() for m in read_whole_topic(platform, topic, timeout=60)]
    finally:
        stop.set()
        writer.join(30)
    assert "aborted-1" not in read and "aborted-2" not in read
    assert sorted(k for k in read if k.startswith("before-")) == sorted(before)
    assert len(read) == len(set(read))  # nothing twice


def test_a_topic_with_nothing_committed_reads_as_empty_at_once(platform: PlatformSettings) -> None:
    topic = new_topic(platform, partitions=2)
    assert list(read_whole_topic(platform, topic, timeout=30)) == []
    write(transactional(platform), topic, ["gone"], commit=False)  # offsets taken, nothing to read
    assert list(read_whole_topic(platform, topic, timeout=30)) == []


@pytest.mark.timeout(60)
def test_a_changelog_replay_stops_at_the_end_offset_it_was_given(platform: PlatformSettings) -> None:
    topic = new_topic(platform, partitions=1)
    producer = Producer(platform.producer_config())
    for n in range(5):
        producer.produce(topic, key=f"k{n}".encode(), value=b"v")
    producer.flush(30)
    # No end-of-partition events: the replay must know its end from the offsets alone.
    reader = Consumer(
        {**platform.kafka_client_config(), "group.id": "test-replay", "enable.partition.eof": False}
    )
    try:
        replayed = list(replayer(reader, topic, 0)(0))
    finally:
        reader.close()
    assert [key for key, _, _ in replayed] == [f"k{n}".encode() for n in range(5)]


@pytest.mark.timeout(120)
def uncommitted(platform: PlatformSettings) -> Consumer:
    """What a restore asks for a changelog's end: its high watermark."""
    return Consumer(
        {**platform.kafka_client_config(), "group.id": "test-ends", "isolation.level": "read_uncommitted"}
    )


def test_a_changelog_replay_waits_for_a_transaction_left_open_and_reads_on_to_the_end(
    platform: PlatformSettings,
) -> None:
    """A stage killed mid-transaction leaves its changelog records undecided until the
    transaction times out; what others committed after them cannot be read until then. A restore
    that stopped at that first end-of-partition lost those committed changes (the rehearsal
    then forwarded a resent revision a second time)."""
    topic = new_topic(platform, partitions=1)
    first = transactional(platform)
    write(first, topic, ["before"])
    killed = transactional(platform)
    write(killed, topic, ["undecided"], commit=False)  # written, not yet aborted
    killed.begin_transaction()
    killed.produce(topic, key=b"left-open", value=b"v")
    killed.flush(10)
    write(first, topic, ["after-1", "after-2"])  # committed behind the open transaction
    reader = Consumer(
        {**platform.kafka_client_config(), "group.id": "test-replay-open", "enable.partition.eof": True}
    )
    decided = threading.Timer(3.0, lambda: killed.abort_transaction(30))
    decided.start()
    try:
        ends = uncommitted(platform)
        replayed = [key.decode() for key, _, _ in replayer(reader, topic, 0, ends=ends)(0)]
    finally:
        decided.join()
        reader.close()
        ends.close()
    assert replayed == ["before", "after-1", "after-2"]


@pytest.mark.timeout(60)
def test_a_changelog_replay_that_cannot_reach_its_end_says_so(platform: PlatformSettings) -> None:
    topic = new_topic(platform, partitions=1)
    write(transactional(platform), topic, ["before"])
    stuck = transactional(platform)
    stuck.begin_transaction()
    stuck.produce(topic, key=b"left-open", value=b"v")
    stuck.flush(10)
    write(transactional(platform), topic, ["after"])
    reader = Consumer(
        {**platform.kafka_client_config(), "group.id": "test-replay-stuck", "enable.partition.eof": True}
    )
    try:
        ends = uncommitted(platform)
        with pytest.raises(ChangelogUnreadable, match="could be read only to"):
            list(replayer(reader, topic, 0, patience=3, ends=ends)(0))
    finally:
        stuck.abort_transaction(30)
        reader.close()
        ends.close()
