"""The journey consumer: batches from `ndtms.episodes.valid` applied in one transaction each.

A batch's state changes, its outbox entries and the next offsets commit together; the
outbox is then published and cleared. On (re)assignment the consumer starts from the
offsets in the database, never from the broker's, which are kept only for lag reporting.

Publication is exactly once: each outbox batch goes out in one Kafka transaction, every record
carrying its outbox id in a header; on start the last ids on the topic (read committed) say
which rows a crash left behind after publishing them, and those are forgotten, not resent.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Sequence
from datetime import datetime

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from prometheus_client import Counter, Histogram
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ndtms.clocks import Clock
from ndtms.contract.audit import AuditEvent
from ndtms.contract.episodes import AcceptedEpisode
from ndtms.contract.journeys import ClientJourneys
from ndtms.contract.topics import AUDIT, DLQ, JOURNEYS, VALID
from ndtms.contract.transcoding import AvroTranscoder, UndecodableRecord, registry_client
from ndtms.databases import engine_for
from ndtms.metrics import DEAD_LETTERS, PRODUCED, observe
from ndtms.stream.erasures import LedgerEntry, LedgerFollower
from ndtms.stream.runner import dead_letter_headers, retrying
from ndtms.stream.service import instance_name
from services.journey import measuring, store
from services.journey.records import client_journeys, span_from_json, span_of, span_to_json
from services.journey.settings import JourneySettings

log = logging.getLogger(__name__)
OUTBOX_HEADER = "ndtms.journey.outbox_id"

APPLIED = Counter("ndtms_journey_updates_total", "Accepted episodes consumed, by outcome", ["outcome"])
ERASED = Counter("ndtms_journey_erasures_total", "People erased from the journey store")
WRITE_SECONDS = Histogram("ndtms_journey_store_write_seconds", "Time to apply and commit one batch")


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
        # Dead letters go out at once, outside any transaction; journeys through the publisher.
        self.producer = Producer(settings.producer_config())
        instance = instance_name(settings, settings.journey_port)
        self.publisher = Producer(
            {**settings.producer_config(), "transactional.id": f"{settings.journey_group_id}-{instance}"}
        )
        self.publisher.init_transactions(30)
        with Session(engine) as session:
            self.store_name = store.store_name(session)
            self.erased = store.erased_people(session)
            self.ledger_position = store.ledger_position(session)
        self.ledger = LedgerFollower(settings, settings.journey_group_id)
        self.instance = instance

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        with Session(self.engine) as session:
            offsets = store.stored_offsets(session, VALID.name)
        for tp in partitions:
            tp.offset = offsets.get(tp.partition, OFFSET_BEGINNING)
        consumer.assign(partitions)
        log.info("assigned %s", [(tp.partition, tp.offset) for tp in partitions])

    def run(self) -> None:
        self.follow_ledger()
        self.consumer.subscribe([VALID.name], on_assign=self._on_assign)
        try:
            self.fence()
            self.publish_outbox()
            while not self.stopping.is_set():
                messages = self.consumer.consume(self.settings.journey_batch_size, timeout=0.5)
                self.apply_erasures(self.ledger.poll())
                if messages:
                    self.apply_batch(messages)
                self.publish_outbox()
        finally:
            self.consumer.close()
            self.ledger.close()
            self.producer.flush(30)

    def follow_ledger(self) -> None:
        """Read the erasure ledger to its end and erase whoever the store has not erased yet."""
        self.ledger.catch_up()
        self.apply_erasures(self.ledger.since(self.ledger_position))

    def apply_erasures(self, entries: Sequence[LedgerEntry]) -> None:
        """Each erasure in its own transaction: the person's rows go, the ledger position moves,
        and the journeys tombstone and the receipt wait in the outbox (so they go out once)."""
        for entry in entries:
            if entry.offset < self.ledger_position:
                continue
            client_key = entry.erasure.client_key
            now = self.clock()
            with Session(self.engine) as session, session.begin():
                removed = store.erase(session, client_key, entry.offset, entry.erasure.erased_at)
                if removed:
                    store.add_publications(session, [(client_key, None)])
                counts = {
                    "journey store rows deleted": removed,
                    f"tombstones on {JOURNEYS.name}": int(bool(removed)),
                }
                if entry.worth_a_receipt(removed, now):
                    receipt = self._receipt(entry, counts, now)
                    store.add_publications(session, [(client_key, receipt)], topic=AUDIT.name)
            self.erased.add(client_key)
            self.ledger_position = entry.offset + 1
            ERASED.inc()

    def _receipt(self, entry: LedgerEntry, counts: dict[str, int], now: datetime) -> bytes:
        # One store holds every partition's people.
        every = tuple(range(VALID.partitions))
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
            # One read for every person in the batch, instead of one per record.
            held = store.episodes_of_people(session, {a.client_key for _, a in decoded if a is not None})
            written: dict[tuple[str, str, str], store.HeldEpisode] = {}
            offsets: dict[int, int] = {}
            for message, accepted in decoded:
                if accepted is not None and accepted.client_key in self.erased:
                    APPLIED.labels("erased").inc()
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
                client_key: [span_from_json(e.span) for e in held[client_key].values() if e.span]
                for client_key in changed
            }
            records = {
                client_key: client_journeys(client_key, spans[client_key], now) for client_key in changed
            }
            measuring.save_facts(session, spans)
            # Published only when what the person's record says has changed.
            publications = [
                (client_key, self.journeys_codec.encode(record) if record is not None else None)
                for client_key in sorted(store.save_people(session, records))
                for record in [records[client_key]]
            ]
            store.add_publications(session, publications)
        self.consumer.commit(asynchronous=True)

    def _applied(self, held: store.HeldEpisodes, accepted: AcceptedEpisode) -> store.HeldEpisode | None:
        """The episode as held after this record, or None when the record changes nothing."""
        key = (accepted.provider_id, accepted.episode_id)
        row = held[accepted.client_key].get(key)
        if row is not None and row.revision >= accepted.revision:
            APPLIED.labels("unchanged").inc()
            return None
        span = span_of(accepted)
        episode = store.HeldEpisode(accepted.revision, accepted.deleted, span_to_json(span) if span else None)
        held[accepted.client_key][key] = episode
        APPLIED.labels("withdrawn" if accepted.deleted else "applied").inc()
        return episode

    def fence(self) -> int:
        """Forget outbox rows that are on `ndtms.journeys` already; the number forgotten."""
        found = [
            last_published_outbox_id(self.settings, t, self.store_name) for t in (JOURNEYS.name, AUDIT.name)
        ]
        last = max((f for f in found if f is not None), default=None)
        if last is None:
            return 0
        with Session(self.engine) as session, session.begin():
            forgotten = store.forget_publications_through(session, last)
        if forgotten:
            log.info("%d journey publications were out before a restart; not sent again", forgotten)
        return forgotten

    def publish_outbox(self) -> int:
        """Publish waiting journeys in one transaction; the number published and forgotten."""
        with Session(self.engine) as session:
            rows = [(r.id, r.client_key, r.value, r.topic) for r in store.pending_publications(session)]
        if not rows:
            return 0
        self.publisher.begin_transaction()
        for row_id, client_key, value, topic in rows:
            while True:
                try:
                    self.publisher.produce(
                        topic or JOURNEYS.name,
                        key=client_key.encode(),
                        value=value,
                        headers=[(OUTBOX_HEADER, f"{self.store_name}:{row_id}".encode())],
                    )
                    break
                except BufferError:
                    self.publisher.poll(0.05)
        try:
            retrying(lambda: self.publisher.commit_transaction(60))
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if not error.txn_requires_abort():
                raise
            retrying(lambda: self.publisher.abort_transaction(60))
            log.warning("%d journey publications not committed (%s); will retry", len(rows), error)
            return 0
        for topic in {row[3] or JOURNEYS.name for row in rows}:
            PRODUCED.labels("journey", topic).inc(sum(1 for r in rows if (r[3] or JOURNEYS.name) == topic))
        with Session(self.engine) as session, session.begin():
            store.forget_publications(session, [row[0] for row in rows])
        return len(rows)

    def _dead_letter(self, message: Message, reason: str) -> None:
        DEAD_LETTERS.labels("journey").inc()
        headers = dead_letter_headers("journey", reason, message)
        self.producer.produce(DLQ.name, key=message.key(), value=message.value(), headers=headers)

    def install_signal_handlers(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.stopping.set())


def last_published_outbox_id(
    settings: JourneySettings, topic: str, store_name: str, tail: int = 2000
) -> int | None:
    """The highest outbox id of this store in the last records of each partition, read committed.

    A transaction holds at most one outbox batch (1,000 rows), so its newest ids are among the
    last `tail` offsets of whichever partitions it wrote.
    """
    found: int | None = None
    reader = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": f"{settings.journey_group_id}-fence",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
        }
    )
    try:
        for partition in reader.list_topics(topic, timeout=30).topics[topic].partitions:
            low, high = reader.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)
            if high <= low:
                continue
            reader.assign([TopicPartition(topic, partition, max(low, high - tail))])
            at_end = False
            while not at_end:
                for message in reader.consume(1000, timeout=0.2):
                    error = message.error()
                    if error is not None:
                        at_end = at_end or error.code() == KafkaError._PARTITION_EOF
                        continue
                    value = dict(message.headers() or []).get(OUTBOX_HEADER)
                    if isinstance(value, bytes):
                        name, _, row_id = value.decode().partition(":")
                        if name == store_name:
                            found = max(found or 0, int(row_id))
    finally:
        reader.close()
    return found


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
