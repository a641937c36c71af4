"""How every stateful stage runs: batches in, one Kafka transaction per commit interval, exactly once.

A stage consumes a batch, hands each record to its rule (a `Processor`), and everything the
rule produces (outputs, dead letters, one changelog record per changed state key) goes out in
the same transaction as the consumed offsets. Consumers downstream read committed, so a crash,
a redelivery or a rebalance never shows them a record twice: an aborted transaction's records
are invisible and its input is processed again from the committed offsets.

Modelled on Quix Streams' checkpoints (measured faster here: see the README). Zombies are fenced
twice over: the transactional id is stable per instance (a restarted instance aborts what its
predecessor left open), and the offsets carry the consumer group generation (KIP-447), so an
instance that lost its partitions cannot commit for them.

The processor API a stage's rule touches is `processor`; the transaction calls' failures are
`transactions`, a store's restore `replay`. Longer than most modules (about 480 lines): what
is left here is one state machine, the `StageRunner` (consumer, producer, stores, held
partitions, erasure sweeps), kept whole because its parts share its fields and its order of
events.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Container, Sequence
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from ndtms.stream.erasures import MARK_KEY, ErasureMark, LedgerEntry, LedgerFollower
from ndtms.stream.processor import NotHere, Processor, Transaction
from ndtms.stream.replay import replayer
from ndtms.stream.state import Store, StoreSpec
from ndtms.stream.transactions import MEMBERSHIP_LOST, TransactionHung, offsets_sent, retrying, within
from ndtms_contract.audit import AuditEvent
from ndtms_contract.settings import PlatformSettings
from ndtms_contract.topics import AUDIT
from ndtms_contract.transcoding import AvroTranscoder, registry_client

log = logging.getLogger(__name__)

HOLD_SECONDS = 5.0


def stage_consumer_config(settings: PlatformSettings, group_id: str, instance: str) -> dict[str, Any]:
    """How every stage reads its inputs (the floor benchmark reads with the same)."""
    return {
        **settings.kafka_client_config(),
        "group.id": group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        # Static membership: a restarted instance takes its partitions straight back instead
        # of waiting out its killed predecessor's session; one that does not come back loses
        # them after 10 s (librdkafka's default is 45). A member fenced by its own rejoin
        # (seen after a broker restart) is replaced in place: see `_replace_consumer`.
        "group.instance.id": f"{group_id}-{instance}",
        "session.timeout.ms": 10_000,
        "heartbeat.interval.ms": 3_000,
        "partition.assignment.strategy": "range",  # co-partitioned inputs stay together
        # A fetch is answered once 64 KB are there or after 50 ms (librdkafka: 1 byte or
        # 500 ms): under load few, full fetches (the broker's CPU goes on requests, not
        # bytes); at a trickle, a committed upstream record is seen within 50 ms.
        "fetch.wait.max.ms": 50,
        "fetch.min.bytes": 65536,
    }


def stage_producer_config(settings: PlatformSettings, group_id: str, instance: str) -> dict[str, Any]:
    """How every stage writes, in transactions named by group and instance."""
    return {
        **settings.producer_config(),
        "transactional.id": f"{group_id}-{instance}",
        # Bounds how long an instance that dies for good can hold readers back.
        "transaction.timeout.ms": max(10_000, int(settings.stream_commit_seconds * 4000)),
        "linger.ms": 20,
    }


class StageRunner:
    def __init__(self, settings: PlatformSettings, processor: Processor, group_id: str, instance: str):
        self.settings = settings
        self.processor = processor
        self.group_id = group_id
        folder = Path(settings.state_dir) / group_id
        self.stores: dict[str, Store[Any]] = {s.name: Store(s, folder) for s in processor.stores}
        # How far each input partition's state has been swept for erasures (one store per input).
        self.marks: dict[str, Store[ErasureMark]] = {}
        for n, topic in enumerate(processor.topics):
            name = "erasures" if n == 0 else f"erasures-{n}"
            changelog = f"{group_id}-{name}-state"
            self.marks[topic] = self.stores[name] = Store(
                StoreSpec(name, topic, changelog, ErasureMark), folder
            )
        self.ledger = LedgerFollower(settings, group_id)
        # (ledger end, partitions) last swept to: the marks need reading again only when either moves.
        self._swept: tuple[int, tuple[tuple[str, tuple[int, ...]], ...]] | None = None
        self.instance = instance
        self.audit_codec = AvroTranscoder(registry_client(settings.registry_url), AUDIT, AuditEvent)
        self.consumer_config = stage_consumer_config(settings, group_id, instance)
        self.consumer = Consumer(self.consumer_config)
        self.producer_config = stage_producer_config(settings, group_id, instance)
        self.producer = Producer(self.producer_config)
        self.producer.init_transactions(30)
        self.in_transaction = False
        self.started_at = 0.0
        # What the group has committed, as far as this instance knows: to notice when its
        # position moved past transaction markers only, which must be committed too (lag 0).
        self.committed_offsets: dict[tuple[str, int], int] = {}
        self.changelog_offsets: dict[tuple[str, int], int] = {}
        self.ready = False
        # The input partitions this instance holds now (read by the lag sampler's thread).
        self.assigned: frozenset[tuple[str, int]] = frozenset()
        # Partitions held back at a record (see `NotHere`), and when each is tried again.
        self.holding: dict[tuple[str, int], int] = {}
        self.resume_at: dict[tuple[str, int], float] = {}
        self.last_loop = time.monotonic()
        self.replacements: list[float] = []  # when the consumer was last replaced
        # Set when the group refused our offsets because this member is no longer its own; the
        # loop then replaces the consumer (never inside one of the old consumer's callbacks).
        self.membership_lost: KafkaError | None = None

    # --- transactions ---------------------------------------------------------------------
    @property
    def erased(self) -> Container[str]:
        """The client keys on the erasure ledger (what a `Transaction` tells its processor)."""
        return self.ledger.erased

    def begin(self) -> None:
        if not self.in_transaction:
            self.producer.begin_transaction()
            self.in_transaction, self.started_at = True, time.monotonic()

    def commit(self) -> None:
        if not self.in_transaction:
            return
        changed = {name: list(store.changes()) for name, store in self.stores.items()}
        for name, changes in changed.items():
            changelog = self.stores[name].spec.changelog
            for partition, key, value in changes:
                self._produce_changelog(name, changelog, partition, key, value)
        # Positions, not last offsets + 1: a position also steps over transaction markers.
        offsets = self._offsets()
        try:
            if offsets:
                metadata = self.consumer.consumer_group_metadata()
                send = self.producer.send_offsets_to_transaction
                # Milliseconds normally; a stuck call holds every read-committed reader back.
                retrying(lambda: within(15, lambda: offsets_sent(send, offsets, metadata)))
            retrying(lambda: within(90, lambda: self.producer.commit_transaction(60)))
        except TransactionHung as exc:
            log.error(
                "transaction call hung (%s): replacing the producer; input will be processed again", exc
            )
            # A new producer with the same transactional id fences the stuck one and aborts its
            # transaction, so nothing it wrote becomes visible.
            self._new_producer()
            self.in_transaction = False
            self._rewind()
            return
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if error.txn_requires_abort():
                log.warning("transaction aborted, input will be processed again: %s", error)
                retrying(lambda: self.producer.abort_transaction(60))
                self.in_transaction = False
                if error.code() in MEMBERSHIP_LOST:
                    # Our partitions may already be another member's: seeking them would fail,
                    # and this may be a rebalance callback of the consumer to be replaced.
                    for store in self.stores.values():
                        store.discard()
                    self.membership_lost = error
                else:
                    self._rewind()
                return
            raise  # fenced or fatal: the process stops and its partitions move on
        self.in_transaction = False
        for name, store in self.stores.items():
            store.committed({p: self.changelog_offsets.get((name, p), 0) for p in store.partitions})
        self.committed_offsets.update({(tp.topic, tp.partition): tp.offset for tp in offsets})

    def _new_producer(self) -> None:
        """A producer with the same transactional id: it fences the old one, whose transaction
        the coordinator aborts (which can take a moment: its init is retried meanwhile)."""
        self.producer = Producer(self.producer_config)
        retrying(lambda: self.producer.init_transactions(60))

    def _moved_without_records(self) -> bool:
        return any(
            self.committed_offsets.get((tp.topic, tp.partition)) != tp.offset for tp in self._offsets()
        )

    def _produce_changelog(
        self, store: str, topic: str, partition: int, key: bytes, value: bytes | None
    ) -> None:
        def delivered(error: KafkaError | None, message: Message) -> None:
            if error is None:
                self.changelog_offsets[(store, partition)] = (message.offset() or 0) + 1

        while True:
            try:
                self.producer.produce(topic, value, key, partition=partition, on_delivery=delivered)
                return
            except BufferError:
                self.producer.poll(0.05)

    def _rewind(self) -> None:
        """After an abort: forget uncommitted state and consume again from the committed offsets."""
        for store in self.stores.values():
            store.discard()
        assignment = self.consumer.assignment()
        committed: list[TopicPartition] = []
        retrying(lambda: committed.extend(self.consumer.committed(assignment, timeout=30)))
        for tp in committed:
            self.consumer.seek(TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else -2))
        self._announce()

    def _replace_consumer(self, error: KafkaError) -> None:
        """The consumer cannot go on (fenced, say): abort, forget, and join again with a new one.

        Nothing uncommitted is kept, so this loses and repeats nothing. A stage fenced again
        and again stops instead (and its supervisor restarts it).
        """
        now = time.monotonic()
        self.replacements = [t for t in self.replacements if now - t < 300] + [now]
        if len(self.replacements) > 3:
            raise KafkaException(error)
        log.warning("consumer failed (%s): aborting and joining the group again", error.name())
        self.ready = False
        if self.in_transaction:
            try:
                within(90, lambda: self.producer.abort_transaction(60))
            except (KafkaException, TransactionHung):
                self._new_producer()
            self.in_transaction = False
        for store in self.stores.values():
            store.discard()
        self._close(
            [TopicPartition(store.spec.topic, p) for store in self.stores.values() for p in store.partitions]
        )
        try:
            self.consumer.close()
        except KafkaException as exc:  # a fatal consumer may refuse to close cleanly
            log.warning("closing the failed consumer: %s", exc)
        self.consumer = Consumer(self.consumer_config)
        self.committed_offsets.clear()
        self._subscribe()

    # --- partitions -----------------------------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.ready = False
        self.assigned = self.assigned | {(tp.topic, tp.partition) for tp in partitions}
        reader = Consumer(
            {
                **self.settings.kafka_client_config(),
                "group.id": f"{self.group_id}-restore",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "isolation.level": "read_committed",
                # A changelog read to its end ends on an empty fetch: answered at once, not
                # after librdkafka's 500 ms wait (which was most of a restart's time).
                "fetch.wait.max.ms": 10,
            }
        )
        ends = Consumer(
            {
                **self.settings.kafka_client_config(),
                "group.id": f"{self.group_id}-restore",
                "isolation.level": "read_uncommitted",
            }
        )
        try:
            for store in self.stores.values():
                for tp in partitions:
                    if tp.topic == store.spec.topic:
                        replay = replayer(reader, store.spec.changelog, tp.partition, ends=ends)
                        replayed = store.open(tp.partition, replay)
                        log.info(
                            "restored %s partition %d: %d changelog records",
                            store.spec.name,
                            tp.partition,
                            replayed,
                        )
        finally:
            reader.close()
            ends.close()
        self._announce()
        self.ready = True

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.ready = False
        self.commit()  # finish what this instance did with them before another takes them
        self._close(partitions)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.ready = False
        if self.in_transaction:
            try:
                within(90, lambda: self.producer.abort_transaction(60))
            except (KafkaException, TransactionHung) as exc:
                # Lost partitions usually mean this instance is fenced anyway: start afresh.
                log.warning("abort after losing partitions failed (%s): replacing the producer", exc)
                self._new_producer()
            self.in_transaction = False
        for store in self.stores.values():
            store.discard()
        self._close(partitions)

    def _close(self, partitions: list[TopicPartition]) -> None:
        gone = {(tp.topic, tp.partition) for tp in partitions}
        self.assigned = self.assigned - gone
        for where in gone:  # committed at the held record on revoke: the next owner starts there
            self.holding.pop(where, None)
            self.resume_at.pop(where, None)
        for store in self.stores.values():
            for tp in partitions:
                if tp.topic == store.spec.topic:
                    store.close(tp.partition)
        self._announce()

    def _announce(self) -> None:
        self._swept = None  # held partitions or their state changed: look at their marks again
        held = {name: store.partitions for name, store in self.stores.items()}
        self.processor.assigned(self.stores, held)

    # --- the loop -------------------------------------------------------------------------
    def _subscribe(self) -> None:
        self.consumer.subscribe(
            list(self.processor.topics),
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )

    def run(self, stopping: Callable[[], bool]) -> None:
        # Everyone erased so far is known before the first record is looked at.
        log.info("erasure ledger read: %d people erased", self.ledger.catch_up())
        self._subscribe()
        commit_every = self.settings.stream_commit_seconds
        punctuate_every = self.processor.punctuate_seconds
        punctuated = time.monotonic()
        out = Transaction(self)
        try:
            while not stopping():
                self.last_loop = time.monotonic()
                messages = self.consumer.consume(self.settings.stream_batch_size, timeout=commit_every / 2)
                if self.membership_lost is not None:
                    # What the fenced consumer still handed over is read again after rejoining.
                    lost, self.membership_lost = self.membership_lost, None
                    self._replace_consumer(lost)
                    continue
                self._resume_due()
                self._sweep(out)
                self._handle(messages, out)
                self.processor.after_batch(out)
                now = time.monotonic()
                if not messages and not self.in_transaction and self.ready and self._moved_without_records():
                    self.begin()
                if self.ready and now - punctuated >= punctuate_every:
                    punctuated = now
                    self.processor.punctuate(out)
                if self.in_transaction and now - self.started_at >= commit_every:
                    self.commit()
            self.commit()
        finally:
            self.consumer.close()  # revokes: anything still open is committed there
            for store in self.stores.values():
                store.close_all()
            self.ledger.close()

    # --- records held back ------------------------------------------------------------------
    def _hold(self, where: tuple[str, int], offset: int, why: str) -> None:
        """Hold a partition at a record this instance cannot handle now (see `NotHere`)."""
        topic, partition = where
        if where not in self.holding:
            log.warning(
                "holding %s [%d] at offset %d: %s",
                topic,
                partition,
                offset,
                why,
                extra={"topic": topic, "partition": partition, "offset": offset},
            )
        self.holding[where] = offset
        self.consumer.pause([TopicPartition(topic, partition)])
        self.consumer.seek(TopicPartition(topic, partition, offset))
        self.resume_at[where] = time.monotonic() + HOLD_SECONDS

    def _resume_due(self) -> None:
        now = time.monotonic()
        due = [where for where, at in self.resume_at.items() if at <= now]
        if due:
            self.consumer.resume([TopicPartition(t, p) for t, p in due])
            for where in due:
                del self.resume_at[where]

    def _offsets(self) -> list[TopicPartition]:
        """What to commit: each partition's position, or the record it is held at."""
        positions = self.consumer.position(self.consumer.assignment())
        return [
            TopicPartition(tp.topic, tp.partition, self.holding.get((tp.topic, tp.partition), tp.offset))
            for tp in positions
            if self.holding.get((tp.topic, tp.partition), tp.offset) >= 0
        ]

    # --- erasures -------------------------------------------------------------------------
    def _sweep(self, out: Transaction) -> None:
        """Erase, in the partitions held, whoever the ledger names that they were not swept for."""
        self.ledger.poll()
        end = self.ledger.next_offset
        held = tuple((topic, tuple(marks.partitions)) for topic, marks in self.marks.items())
        if self._swept == (end, held):
            return
        self._swept = (end, held)
        for topic, marks in self.marks.items():
            self._sweep_topic(topic, marks, end, out)

    def _sweep_topic(self, topic: str, marks: Store[ErasureMark], end: int, out: Transaction) -> None:
        starts: dict[int, int] = {}
        for partition in marks.partitions:
            mark = marks.get(partition, MARK_KEY)
            if mark is None or mark.next_offset < end:
                starts[partition] = mark.next_offset if mark else 0
        if not starts:
            return
        self.begin()
        for entry in self.ledger.since(min(starts.values())):
            covered = tuple(p for p, start in sorted(starts.items()) if start <= entry.offset)
            removed: dict[str, int] = {}
            for partition in covered:
                erased = self.processor.erase(entry.erasure.client_key, topic, partition, out)
                for what, count in erased.items():
                    removed[what] = removed.get(what, 0) + count
            self._receipt(entry, topic, covered, removed, out)
        for partition in starts:
            marks.put(partition, MARK_KEY, ErasureMark(end))

    def _receipt(
        self,
        entry: LedgerEntry,
        topic: str,
        covered: tuple[int, ...],
        removed: dict[str, int],
        out: Transaction,
    ) -> None:
        now = self.processor.clock()
        if not entry.worth_a_receipt(sum(removed.values()), now):
            return
        event = entry.receipt(self.processor.service, self.instance, topic, covered, removed, now)
        out.produce(AUDIT.name, event.subject.encode(), self.audit_codec.encode(event))

    def _handle(self, messages: Sequence[Message], out: Transaction) -> None:
        process = self.processor.process
        held_now: set[tuple[str, int]] = set()
        for message in messages:
            error = message.error()
            if error is not None:
                if error.fatal() or error.code() == KafkaError._FATAL:
                    self._replace_consumer(error)
                    return
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("consume error: %s", error)
                continue
            where = (message.topic() or "", int(message.partition() or 0))
            if where in held_now:
                continue  # after a held record, the rest of its partition waits too
            self.begin()
            try:
                process(message, out)
                self.holding.pop(where, None)
            except NotHere as exc:
                held_now.add(where)
                self._hold(where, int(message.offset() or 0), str(exc))
            except Exception as exc:  # noqa: BLE001 - a bug must not stop the stream: the record waits in the DLQ
                # The type only: a message could quote the record, and logs never carry attributors.
                log.error(
                    "processing failed: %s",
                    type(exc).__name__,
                    extra={
                        "topic": message.topic(),
                        "partition": message.partition(),
                        "offset": message.offset(),
                    },
                )
                out.dead_letter(message, f"processing failed: {type(exc).__name__}")
