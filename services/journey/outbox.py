"""Publishing the journey store's outbox, and finding what a store published before a restart.

Each partition of `ndtms.episodes.valid` has its own transactional publisher. Its outbox rows
go out in transactions of at most `TRANSACTION_ROWS`, each record marked with the store's name
and the row's id (`OUTBOX_HEADER`) and the partition (`PARTITION_HEADER`): after a crash the
fence reads the last `FENCE_TAIL` records of every partition of the topics for the highest id
a store published, and forgets the rows up to it, so nothing goes out twice.
"""

from __future__ import annotations

import logging
from collections import Counter as Tally
from collections.abc import Sequence
from enum import Enum

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from ndtms.metrics import PRODUCED
from ndtms.offsets import partition_count
from ndtms.stream.transactions import retrying
from ndtms_contract.topics import JOURNEYS
from services.journey import store
from services.journey.settings import JourneySettings

log = logging.getLogger(__name__)
# librdkafka's logical offset RD_KAFKA_OFFSET_TAIL(n) is this base minus n: the last n records.
OFFSET_TAIL_BASE = -2000
OUTBOX_HEADER = "ndtms.journey.outbox_id"
# Rows of one partition's outbox in one transaction of its publisher (see `FENCE_TAIL`).
TRANSACTION_ROWS = 1000
# How far back the fence reads each partition: past two transactions of TRANSACTION_ROWS.
FENCE_TAIL = 2 * TRANSACTION_ROWS
# The partition of ndtms.episodes.valid an outbox row belongs to (absent from records older
# than partition ownership: their ids were one sequence over every partition).
PARTITION_HEADER = "ndtms.journey.partition"


class Publication(Enum):
    SENT = "sent"
    RETRY = "retry"  # aborted: the rows wait in the outbox for the next round
    FENCED = "fenced"  # another instance owns the partition and its publisher now


def publish_rows(
    publisher: Producer, partition: int, rows: Sequence[store.Pending], store_name: str
) -> Publication:
    """These rows in one transaction of the partition's publisher: sent, or why not."""
    try:
        publisher.begin_transaction()
        for row in rows:
            topic, key = row.topic or JOURNEYS.name, row.client_key.encode()
            headers: list[tuple[str, str | bytes | None]] = [
                (OUTBOX_HEADER, f"{store_name}:{row.id}".encode()),
                (PARTITION_HEADER, str(partition).encode()),
            ]
            while True:
                try:
                    publisher.produce(topic, key=key, value=row.value, headers=headers)
                    break
                except BufferError:
                    publisher.poll(0.05)
        retrying(lambda: publisher.commit_transaction(60))
    except KafkaException as exc:
        error: KafkaError = exc.args[0]
        if error.fatal():
            # Fenced: another instance has taken the partition and its publisher.
            log.warning(
                "publisher of partition %d fenced (%s): partition left to its new owner", partition, error
            )
            return Publication.FENCED
        if not error.txn_requires_abort():
            raise
        retrying(lambda: publisher.abort_transaction(60))
        log.warning("%d journey publications not committed (%s); will retry", len(rows), error)
        return Publication.RETRY
    for topic, count in Tally(row.topic or JOURNEYS.name for row in rows).items():
        PRODUCED.labels("journey", topic).inc(count)
    return Publication.SENT


def last_published_outbox_ids(
    settings: JourneySettings, topics: Sequence[str], store_name: str, tail: int = FENCE_TAIL
) -> dict[int | None, int]:
    """The highest outbox id of this store in the last records of each partition of these
    topics (read committed), by the partition header (None: records older than it, whose ids
    ran over every partition).

    A transaction holds at most `TRANSACTION_ROWS` of a partition's outbox, so its newest ids
    are among the last `tail` offsets of whichever partitions it wrote.
    """
    found: dict[int | None, int] = {}
    reader = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": f"{settings.journey_group_id}-fence",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            # A tail reaching before the partition's first record (retention deleted the start)
            # reads from that first record, not from the end: nothing published is missed.
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            # An empty partition's end is known only when a fetch comes back: the broker holds
            # one that finds nothing for this long (500 ms by default, most of a start's fence).
            "fetch.wait.max.ms": 10,
        }
    )
    try:
        # Every partition's tail at once, in one pass: read one by one, with a lookup of each
        # end first, a start or partition move took seconds once the topics held data (#27).
        tails = [
            TopicPartition(topic, partition, OFFSET_TAIL_BASE - tail)
            for topic in topics
            for partition in range(partition_count(reader, topic))
        ]
        reader.assign(tails)
        waiting = {(tp.topic, tp.partition) for tp in tails}
        while waiting:
            for message in reader.consume(1000, timeout=0.2):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        waiting.discard((message.topic(), message.partition()))
                    continue
                headers = dict(message.headers() or [])
                value = headers.get(OUTBOX_HEADER)
                if not isinstance(value, bytes):
                    continue
                name, _, row_id = value.decode().partition(":")
                if name != store_name:
                    continue
                marked = headers.get(PARTITION_HEADER)
                key = int(marked.decode()) if isinstance(marked, bytes) else None
                found[key] = max(found.get(key, 0), int(row_id))
    finally:
        reader.close()
    return found
