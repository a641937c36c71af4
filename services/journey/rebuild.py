"""Rebuilding the journey store from `ndtms.episodes.valid`, from its first offset to its end.

The same processor applies the same batches as live processing, so a rebuild gives the same
store. The store's list of erased people is kept (and brought up to the ledger first), so a
rebuild never brings an erased person back. `publish=False` rebuilds side by side (into
another database) without publishing; in place, every person's journeys are republished
(idempotent on the compacted topic).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, TopicPartition
from sqlalchemy import delete
from sqlalchemy.orm import Session

from ndtms.clocks import Clock
from ndtms_contract.topics import VALID
from services.journey import measuring, store
from services.journey.service import build_processor
from services.journey.settings import JourneySettings

REBUILD_GROUP = "ndtms-journey-rebuild"


@dataclass(frozen=True)
class RebuildSummary:
    records: int
    people: int
    journeys: int
    seconds: float


def wipe(session: Session) -> None:
    for table in (
        *store.MEASURE_TABLES,
        store.JourneyProviderRow,
        store.JourneyRow,
        store.PersonRow,
        store.OutboxRow,
        store.OffsetRow,
        store.EpisodeRow,
    ):
        session.execute(delete(table))


def rebuild(
    settings: JourneySettings,
    clock: Clock,
    publish: bool,
    progress: Callable[[int, int], None] = lambda done, total: None,
    timeout: float = 3600,
) -> RebuildSummary:
    started = time.monotonic()
    processor = build_processor(settings.model_copy(update={"journey_group_id": REBUILD_GROUP}), clock)
    with Session(processor.engine) as session, session.begin():
        wipe(session)
    # Erased people are known (and kept erased) before the first record is replayed.
    processor.follow_ledger()
    processor.prepare()
    partitions = range(processor.partitions)
    processor.take(list(partitions))  # every partition: a live instance left running stops writing
    consumer = processor.consumer
    ends = {
        p: consumer.get_watermark_offsets(TopicPartition(VALID.name, p), timeout=10)[1] for p in partitions
    }
    total = sum(ends.values())
    consumer.assign([TopicPartition(VALID.name, p, OFFSET_BEGINNING) for p in partitions])
    done = 0
    try:
        while True:
            positions = {
                tp.partition: tp.offset
                for tp in consumer.position([TopicPartition(VALID.name, p) for p in partitions])
            }
            if all(ends[p] == 0 or positions[p] >= ends[p] for p in partitions):
                break
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"rebuild did not reach the end of {VALID.name} in {timeout:.0f}s")
            messages = consumer.consume(settings.journey_batch_size, timeout=1)
            if messages:
                processor.apply_batch(messages)
                done += len(messages)
                progress(done, total)
        with Session(processor.engine) as session, session.begin():
            measuring.mark_complete(session)  # every episode has been replayed with its facts
        if publish:
            while processor.publish_outbox():
                pass
        else:
            with Session(processor.engine) as session, session.begin():
                session.execute(delete(store.OutboxRow))
    finally:
        processor.close()
    with Session(processor.engine) as session:
        people = session.query(store.PersonRow).count()
        journeys = session.query(store.JourneyRow).count()
    return RebuildSummary(done, people, journeys, time.monotonic() - started)
