"""The journey consumer: batches from `ndtms.episodes.valid` applied in one transaction each.

A batch's state changes, its outbox entries and the next offsets commit together; the
outbox is then published and cleared. On (re)assignment the consumer starts from the
offsets in the database, never from the broker's, which are kept only for lag reporting.

Several instances can share one PostgreSQL store: each owns the partitions the group gives it
(`services.journey.ownership`: an epoch per partition, checked in the transaction of every
batch, erasure and publication) and publishes its partitions' outbox rows with a transactional
producer of that partition's own, so the next owner's producer fences a stalled one.

Publication is exactly once: each outbox batch of a partition goes out in one Kafka
transaction, every record carrying its outbox id and partition in headers; when an instance
takes a partition, the last ids on the topics (read committed) say which of its rows a crash
left behind after publishing them, and those are forgotten, not resent (`outbox`).

Longer than most modules (about 480 lines): `JourneyProcessor` is one state machine (the
partitions it owns, its loop, a batch, an erasure, a publishing round), whose parts share the
owned partitions and the order of events; the rules it applies are `journeys`, `records` and
`measures`, the statements `store`, the publishing and the fence `outbox`.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    Message,
    Producer,
    TopicPartition,
)
from prometheus_client import Counter, Histogram
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ndtms.clocks import Clock
from ndtms.databases import engine_for
from ndtms.metrics import DEAD_LETTERS, labelled, observe
from ndtms.offsets import partition_count
from ndtms.stream.erasures import LedgerEntry, LedgerFollower
from ndtms.stream.processor import dead_letter_headers
from ndtms.stream.service import instance_name
from ndtms.stream.transactions import retrying
from ndtms_contract.audit import AuditEvent
from ndtms_contract.episodes import AcceptedEpisode
from ndtms_contract.journeys import ClientJourneys
from ndtms_contract.partitioner import partition_of
from ndtms_contract.topics import AUDIT, DLQ, JOURNEYS, VALID
from ndtms_contract.transcoding import AvroTranscoder, UndecodableRecord, registry_client
from services.journey import measuring, ownership, store
from services.journey.outbox import (
    TRANSACTION_ROWS,
    Publication,
    last_published_outbox_ids,
    publish_rows,
)
from services.journey.records import client_journeys, span_from_json, span_of, span_to_json
from services.journey.settings import JourneySettings

log = logging.getLogger(__name__)

APPLIED = Counter("ndtms_journey_updates_total", "Accepted episodes consumed, by outcome", ["outcome"])
ERASED = Counter("ndtms_journey_erasures_total", "People erased from the journey store")
WRITE_SECONDS = Histogram("ndtms_journey_store_write_seconds", "Time to apply and commit one batch")


@dataclass
class Owned:
    """A partition this instance holds: the epoch it claimed it with, and its own publisher."""

    epoch: int
    publisher: Producer
    active: bool = True  # False between a revocation and the assignment after it


class JourneyProcessor:
    def __init__(
        self,
        settings: JourneySettings,
        engine: Engine,
        valid_codec: AvroTranscoder[AcceptedEpisode],
        journeys_codec: AvroTranscoder[ClientJourneys],
        audit_codec: AvroTranscoder[AuditEvent],
        clock: Clock,
    ):
        self.settings = settings
        self.engine = engine
        self.valid_codec = valid_codec
        self.journeys_codec = journeys_codec
        self.audit_codec = audit_codec
        self.clock = clock
        self.stopping = threading.Event()
        self.consumer = Consumer(
            {
                **settings.kafka_client_config(),
                "group.id": settings.journey_group_id,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
                # A crashed consumer's partitions move on after 10 s, not librdkafka's 45.
                "session.timeout.ms": 10_000,
                "heartbeat.interval.ms": 3_000,
                "fetch.wait.max.ms": 100,
                "fetch.min.bytes": 65536,
            }
        )
        # Dead letters go out at once, outside any transaction; journeys through the publishers.
        self.producer = Producer(settings.producer_config())
        self.instance = instance_name(settings, settings.journey_port)
        self.partitions = partition_count(self.consumer, VALID.name)
        self.publishing = ThreadPoolExecutor(
            max_workers=self.partitions, thread_name_prefix="journey-publish"
        )
        self.owned: dict[int, Owned] = {}
        self.reported: dict[int, int] = {}  # partition -> offset last committed to the group
        with Session(engine) as session:
            self.store_name = store.store_name(session)
            self.erased = store.erased_people(session)
        self.ledger = LedgerFollower(settings, settings.journey_group_id)

    def partition_of(self, client_key: str) -> int:
        return partition_of(client_key, self.partitions)

    # -- ownership ----------------------------------------------------------------------------

    def take(self, partitions: Sequence[int]) -> dict[int, int]:
        """Own these partitions: claim them in the store (fencing a former owner's writes),
        fence its publisher, forget what it published, sweep them for erasures; the offsets
        to read them from."""
        kept = {
            p for p in partitions if p in self.owned and self._epochs_held({p: self.owned[p].epoch}) == {p}
        }
        for p in kept:
            self.owned[p].active = True
        fresh = sorted(set(partitions) - kept)
        for p in fresh:
            self._release(p)
        if fresh:
            with Session(self.engine) as session, session.begin():
                epochs = ownership.claim(session, fresh, self.instance)
            # The same transactional id as every former owner of the partition: this aborts
            # whatever transaction one left open, and fences it for good. Each takes a round of
            # coordinator calls; together they take one (all six were 1.7 s of a start, #27).
            publishers = {
                p: Producer(
                    {
                        **self.settings.producer_config(),
                        "transactional.id": f"{self.settings.journey_group_id}-p{p}",
                    }
                )
                for p in fresh
            }
            with ThreadPoolExecutor(max_workers=len(fresh)) as pool:
                for _ in pool.map(lambda p: retrying(partial(publishers[p].init_transactions, 30)), fresh):
                    pass
            for p in fresh:
                self.owned[p] = Owned(epochs[p], publishers[p])
            self.fence(fresh)
        # Kept ones too: erasures that arrived while they were revoked were left for their owner.
        self._sweep(sorted(partitions))
        with Session(self.engine) as session:
            offsets = store.stored_offsets(session, VALID.name)
        log.info("partitions %s claimed, %s kept", fresh, sorted(kept))
        return {p: offsets.get(p, OFFSET_BEGINNING) for p in partitions}

    def _epochs_held(self, epochs: dict[int, int]) -> set[int]:
        with Session(self.engine) as session, session.begin():
            return ownership.still_held(session, epochs)

    def _release(self, partition: int) -> None:
        owned = self.owned.pop(partition, None)
        if owned is not None:
            owned.publisher.flush(5)  # nothing is in flight: publications are synchronous

    def _held(self, session: Session, partitions: set[int]) -> set[int]:
        """Which of these partitions this instance still owns, locked for this transaction.
        One lost to another instance is given up here."""
        epochs = {p: self.owned[p].epoch for p in partitions if p in self.owned and self.owned[p].active}
        held = ownership.still_held(session, epochs)
        for p in set(epochs) - held:
            if p in self.owned:
                log.warning("partition %d of %s is owned by another instance now: left to it", p, VALID.name)
                self._release(p)
                self.consumer.pause([TopicPartition(VALID.name, p)])
        return held

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        offsets = self.take([tp.partition for tp in partitions])
        for tp in partitions:
            tp.offset = offsets[tp.partition]
        consumer.assign(partitions)
        self.reported.clear()
        for p in [p for p in self.owned if p not in offsets]:
            self._release(p)
        log.info("assigned %s", [(tp.partition, tp.offset) for tp in partitions])

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Kept (not released) until the next assignment: a partition given straight back needs
        # no new claim, no new publisher and no fence. Nothing is applied or published meanwhile.
        for tp in partitions:
            if tp.partition in self.owned:
                self.owned[tp.partition].active = False

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self._release(tp.partition)

    # -- the loop -----------------------------------------------------------------------------

    def run(self) -> None:
        self.follow_ledger()
        self.prepare()
        self.consumer.subscribe(
            [VALID.name], on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
        )
        try:
            while not self.stopping.is_set():
                messages = self.consumer.consume(self.settings.journey_batch_size, timeout=0.5)
                self.apply_erasures(self.ledger.poll())
                if messages:
                    self.apply_batch(messages)
                self._report_positions()
                self.publish_outbox()
        finally:
            self.close()

    def close(self) -> None:
        self.consumer.close()
        for p in list(self.owned):
            self._release(p)
        self.ledger.close()
        self.producer.flush(30)
        self.publishing.shutdown()

    def prepare(self) -> None:
        """The store's ownership rows for every partition of the topic as the cluster has it."""
        with Session(self.engine) as session, session.begin():
            position = store.ledger_position(session)
            ownership.prepare(session, self.partitions, position, self.partition_of)

    def follow_ledger(self) -> None:
        """Read the erasure ledger to its end (its entries are swept partition by partition)."""
        self.ledger.catch_up()

    def _sweep(self, partitions: Sequence[int]) -> None:
        """Apply the ledger entries these partitions have not been swept for."""
        with Session(self.engine) as session:
            positions = ownership.erasure_positions(session, partitions)
        start = min(positions.values(), default=0)
        self.apply_erasures(
            [
                e
                for e in self.ledger.since(start)
                if e.offset >= positions.get(self.partition_of(e.erasure.client_key), start)
            ],
            only=set(partitions),
        )

    def apply_erasures(self, entries: Sequence[LedgerEntry], only: set[int] | None = None) -> None:
        """Each erasure of a person on a partition this instance owns, in its own transaction:
        the person's rows go, the partition's sweep position moves, and the journeys tombstone
        and the receipt wait in the outbox (so they go out once). A person on another
        instance's partition is that instance's to erase (or the next owner's, from the
        partition's sweep position)."""
        for entry in entries:
            client_key = entry.erasure.client_key
            self.erased.add(client_key)
            partition = self.partition_of(client_key)
            mine = partition in self.owned and self.owned[partition].active
            if (only is not None and partition not in only) or not mine:
                continue
            now = self.clock()
            with Session(self.engine) as session, session.begin():
                if partition not in self._held(session, {partition}):
                    continue
                removed = store.erase(session, client_key, entry.offset, entry.erasure.erased_at)
                if removed:
                    store.add_publications(session, [(client_key, None)], self.partition_of)
                counts = {
                    "journey store rows deleted": removed,
                    f"tombstones on {JOURNEYS.name}": int(bool(removed)),
                }
                if entry.worth_a_receipt(removed, now):
                    receipt = self._receipt(entry, counts, now)
                    store.add_publications(session, [(client_key, receipt)], self.partition_of, AUDIT.name)
                ownership.swept_to(session, partition, entry.offset + 1)
            ERASED.inc()

    def _receipt(self, entry: LedgerEntry, counts: dict[str, int], now: datetime) -> bytes:
        # One store holds every partition's people, and a person's rows are all on one partition.
        every = tuple(range(self.partitions))
        return self.audit_codec.encode(
            entry.receipt("journey", self.instance, VALID.name, every, counts, now)
        )

    def apply_batch(self, messages: Sequence[Message]) -> None:
        decoded: list[tuple[Message, AcceptedEpisode | None]] = []
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("consume error: %s", error)
                continue
            try:
                decoded.append((message, self.valid_codec.decode(message.value())))
            except UndecodableRecord as exc:
                # Dead-lettered before the offset commits: a crash repeats it, never drops it.
                self._dead_letter(message, str(exc))
                decoded.append((message, None))
        if not decoded:
            return
        self.producer.flush(30)
        with WRITE_SECONDS.time(), Session(self.engine) as session, session.begin():
            held_partitions = self._held(session, {m.partition() or 0 for m, _ in decoded})
            decoded = [(m, a) for m, a in decoded if (m.partition() or 0) in held_partitions]
            # One read for every person in the batch, instead of one per record.
            held = store.episodes_of_people(session, {a.client_key for _, a in decoded if a is not None})
            written: dict[tuple[str, str, str], store.HeldEpisode] = {}
            offsets: dict[int, int] = {}
            for message, accepted in decoded:
                if accepted is not None and (
                    accepted.client_key in self.erased or accepted.client_key in self.ledger.erased
                ):
                    labelled(APPLIED, "erased").inc()
                elif accepted is not None and (episode := self._applied(held, accepted)) is not None:
                    written[(accepted.client_key, accepted.provider_id, accepted.episode_id)] = episode
                offsets[message.partition() or 0] = (message.offset() or 0) + 1
            store.save_episodes(session, written)
            store.record_offsets(session, VALID.name, offsets)
            now = self.clock()
            for message, accepted in decoded:
                appended = message.timestamp()[1]
                observe("journey", VALID.name, appended, accepted.recorded_at if accepted else None, now)
            changed = sorted({client_key for client_key, _, _ in written})
            spans = {
                client_key: [e.made or span_from_json(e.span) for e in held[client_key].values() if e.span]
                for client_key in changed
            }
            records = {
                client_key: client_journeys(client_key, spans[client_key], now) for client_key in changed
            }
            # The journeys made for the published record are the measure facts' journeys too.
            measuring.save_facts(
                session, spans, {k: record.journeys if record else () for k, record in records.items()}
            )
            # Published only when what the person's record says has changed.
            publications = [
                (client_key, self.journeys_codec.encode(record) if record is not None else None)
                for client_key in sorted(store.save_people(session, records))
                for record in [records[client_key]]
            ]
            store.add_publications(session, publications, self.partition_of)

    def _report_positions(self) -> None:
        """Commit to the group how far this instance has read, past a transaction's closing
        marker too: the group's lag is what operators and `drained` watch, and a marker after
        the last record left a lag of one for good. The offsets that count are in the store."""
        moved = [
            tp
            for tp in self.consumer.position(self.consumer.assignment())
            if tp.offset >= 0 and self.reported.get(tp.partition) != tp.offset
        ]
        if moved:
            self.consumer.commit(offsets=moved, asynchronous=True)
            self.reported.update({tp.partition: tp.offset for tp in moved})

    def _applied(self, held: store.HeldEpisodes, accepted: AcceptedEpisode) -> store.HeldEpisode | None:
        """The episode as held after this record, or None when the record changes nothing."""
        key = (accepted.provider_id, accepted.episode_id)
        row = held[accepted.client_key].get(key)
        if row is not None and row.revision >= accepted.revision:
            labelled(APPLIED, "unchanged").inc()
            return None
        span = span_of(accepted)
        episode = store.HeldEpisode(
            accepted.revision, accepted.deleted, span_to_json(span) if span else None, made=span
        )
        held[accepted.client_key][key] = episode
        labelled(APPLIED, "withdrawn" if accepted.deleted else "applied").inc()
        return episode

    def fence(self, partitions: Sequence[int]) -> int:
        """Forget these partitions' outbox rows that are on the topics already; the number forgotten."""
        found = last_published_outbox_ids(self.settings, (JOURNEYS.name, AUDIT.name), self.store_name)
        forgotten = 0
        with Session(self.engine) as session, session.begin():
            for p in self._held(session, set(partitions)):
                last = max((found[k] for k in (p, None) if k in found), default=None)
                if last is not None:
                    forgotten += store.forget_publications_through(session, p, last)
        if forgotten:
            log.info("%d journey publications were out before a restart; not sent again", forgotten)
        return forgotten

    def publish_outbox(self) -> int:
        """Publish every owned partition's waiting rows; the number published and forgotten."""
        published = 0
        while True:
            sent, more = self._publish_round()
            published += sent
            if not sent or not more:
                return published

    def _publish_round(self) -> tuple[int, bool]:
        """Publish up to `TRANSACTION_ROWS` waiting rows of each owned partition, in one
        transaction of its publisher each; the number published and forgotten, and whether more
        may be waiting. One read and one delete for every partition at once: per partition, they
        were a fifth of the journey's time (measured, #27)."""
        active = sorted(p for p, owned in self.owned.items() if owned.active)
        if not active:
            return 0, False
        limit = TRANSACTION_ROWS * len(active)
        with Session(self.engine) as session:
            waiting = store.pending_publications_of(session, active, limit=limit)
        if not waiting:
            return 0, False
        by_partition: dict[int, list[store.Pending]] = {}
        for row in waiting:
            by_partition.setdefault(row.partition, []).append(row)
        more = len(waiting) == limit or any(len(rows) > TRANSACTION_ROWS for rows in by_partition.values())
        # The fence looks for a store's last id in each partition's tail: a transaction may
        # not outgrow it.
        by_partition = {p: rows[:TRANSACTION_ROWS] for p, rows in by_partition.items()}
        # The partitions' transactions together: one after another, their commits' round trips
        # to the coordinator were a tenth of the journey's time (#27). Each publisher is used
        # by one thread; a fenced one is dropped once all are back.
        chosen = [
            (p, owned, rows) for p, rows in sorted(by_partition.items()) if (owned := self.owned.get(p))
        ]
        running = [
            self.publishing.submit(publish_rows, o.publisher, p, rows, self.store_name)
            for p, o, rows in chosen
        ]
        wait(running)  # all back before any error is raised: no publisher is left mid-call
        outcomes = [f.result() for f in running]
        for (p, owned, _), outcome in zip(chosen, outcomes, strict=True):
            if outcome is Publication.FENCED and self.owned.get(p) is owned:
                del self.owned[p]
        sent = {
            p: rows
            for (p, _, rows), outcome in zip(chosen, outcomes, strict=True)
            if outcome is Publication.SENT
        }
        if not sent:
            return 0, False
        with Session(self.engine) as session, session.begin():
            held = self._held(session, set(sent))
            store.forget_publications(session, [row.id for p in sorted(held) for row in sent[p]])
        return sum(len(rows) for rows in sent.values()), more

    def _dead_letter(self, message: Message, reason: str) -> None:
        DEAD_LETTERS.labels("journey").inc()
        headers = dead_letter_headers("journey", reason, message)
        self.producer.produce(DLQ.name, key=message.key(), value=message.value(), headers=headers)

    def install_signal_handlers(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.stopping.set())


def build_processor(settings: JourneySettings, clock: Clock) -> JourneyProcessor:
    """The one place the journey processor is wired: store, schema, transcoders, clock."""
    engine = engine_for(settings.effective_database_url)
    store.migrate(engine)
    registry = registry_client(settings.registry_url)
    return JourneyProcessor(
        settings,
        engine,
        AvroTranscoder(registry, VALID, AcceptedEpisode, "trusted"),
        AvroTranscoder(registry, JOURNEYS, ClientJourneys),
        AvroTranscoder(registry, AUDIT, AuditEvent),
        clock,
    )
