"""The journey consumer: batches from `ndtms.episodes.valid` applied in one transaction each.

A batch's state changes, its outbox entries and the next offsets commit together; the
outbox is then published and cleared. On (re)assignment the consumer starts from the
offsets in the database, never from the broker's, which are kept only for lag reporting.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Sequence
from itertools import takewhile
from typing import Any

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
from ndtms.contract.episodes import AcceptedEpisode
from ndtms.contract.journeys import ClientJourneys
from ndtms.contract.topics import DLQ, JOURNEYS, VALID
from ndtms.contract.transcoding import AvroTranscoder, UndecodableRecord, registry_client
from ndtms.databases import engine_for
from ndtms.metrics import PRODUCED, observe
from services.journey import store
from services.journey.records import client_journeys, span_from_json, span_of, span_to_json
from services.journey.settings import JourneySettings

log = logging.getLogger(__name__)

APPLIED = Counter("ndtms_journey_updates_total", "Accepted episodes consumed, by outcome", ["outcome"])
WRITE_SECONDS = Histogram("ndtms_journey_store_write_seconds", "Time to apply and commit one batch")


class JourneyProcessor:
    def __init__(
        self,
        settings: JourneySettings,
        engine: Engine,
        valid_codec: AvroTranscoder[AcceptedEpisode],
        journeys_codec: AvroTranscoder[ClientJourneys],
        clock: Clock,
    ):
        self.settings = settings
        self.engine = engine
        self.valid_codec = valid_codec
        self.journeys_codec = journeys_codec
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
            }
        )
        self.producer = Producer(settings.producer_config())

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        with Session(self.engine) as session:
            offsets = store.stored_offsets(session, VALID.name)
        for tp in partitions:
            tp.offset = offsets.get(tp.partition, OFFSET_BEGINNING)
        consumer.assign(partitions)
        log.info("assigned %s", [(tp.partition, tp.offset) for tp in partitions])

    def run(self) -> None:
        self.consumer.subscribe([VALID.name], on_assign=self._on_assign)
        try:
            self.publish_outbox()
            while not self.stopping.is_set():
                messages = self.consumer.consume(self.settings.journey_batch_size, timeout=0.5)
                if messages:
                    self.apply_batch(messages)
                self.publish_outbox()
        finally:
            self.consumer.close()
            self.producer.flush(30)

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
            changed: set[str] = set()
            for message, accepted in decoded:
                if accepted is not None and self._apply(session, held, accepted):
                    changed.add(accepted.client_key)
                store.record_offset(
                    session, VALID.name, message.partition() or 0, (message.offset() or 0) + 1
                )
            now = self.clock()
            for message, accepted in decoded:
                appended = message.timestamp()[1]
                observe("journey", VALID.name, appended, accepted.recorded_at if accepted else None, now)
            records = {
                client_key: client_journeys(
                    client_key, [span_from_json(r.span) for r in held[client_key].values() if r.span], now
                )
                for client_key in sorted(changed)
            }
            store.save_people(session, records)
            for client_key, record in records.items():
                value = self.journeys_codec.encode(record) if record is not None else None
                session.add(store.OutboxRow(client_key=client_key, value=value))
        self.consumer.commit(asynchronous=True)

    def _apply(self, session: Session, held: store.HeldEpisodes, accepted: AcceptedEpisode) -> bool:
        row = held[accepted.client_key].get((accepted.provider_id, accepted.episode_id))
        if row is not None and row.revision >= accepted.revision:
            APPLIED.labels("unchanged").inc()
            return False
        span = span_of(accepted)
        payload = span_to_json(span) if span is not None else None
        if row is None:
            row = store.EpisodeRow(
                client_key=accepted.client_key,
                provider_id=accepted.provider_id,
                episode_id=accepted.episode_id,
                revision=accepted.revision,
                deleted=accepted.deleted,
                span=payload,
            )
            session.add(row)
            held[accepted.client_key][(accepted.provider_id, accepted.episode_id)] = row
        else:
            row.revision, row.deleted, row.span = accepted.revision, accepted.deleted, payload
        APPLIED.labels("withdrawn" if accepted.deleted else "applied").inc()
        return True

    def publish_outbox(self) -> int:
        """Publish waiting journeys; the number acknowledged and forgotten."""
        with Session(self.engine) as session:
            rows = [(r.id, r.client_key, r.value) for r in store.pending_publications(session)]
        if not rows:
            return 0
        delivered: set[int] = set()

        def acknowledged(row_id: int) -> Callable[[KafkaError | None, Message], None]:
            def callback(error: KafkaError | None, _message: Message) -> None:
                if error is None:
                    delivered.add(row_id)

            return callback

        for row_id, client_key, value in rows:
            self.producer.produce(
                JOURNEYS.name, key=client_key.encode(), value=value, on_delivery=acknowledged(row_id)
            )
        self.producer.flush(30)
        # Only the acknowledged prefix is forgotten: retrying the rest in id order means a
        # person's newest journeys are always the last ones written for their key.
        prefix = list(takewhile(lambda row_id: row_id in delivered, (row[0] for row in rows)))
        PRODUCED.labels("journey", JOURNEYS.name).inc(len(delivered))
        if len(prefix) < len(rows):
            log.warning("%d journey publications not acknowledged; will retry", len(rows) - len(prefix))
        with Session(self.engine) as session, session.begin():
            store.forget_publications(session, prefix)
        return len(prefix)

    def _dead_letter(self, message: Message, reason: str) -> None:
        headers: Any = [
            ("ndtms.dlq.reason", reason.encode()[:2000]),
            ("ndtms.dlq.service", b"journey"),
            ("ndtms.dlq.source", f"{message.topic()}/{message.partition()}/{message.offset()}".encode()),
        ]
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
        AvroTranscoder(registry, VALID, AcceptedEpisode),
        AvroTranscoder(registry, JOURNEYS, ClientJourneys),
        clock,
    )
