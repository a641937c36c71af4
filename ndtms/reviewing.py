"""The probable-match review, shared by `ndtms matches` and the journey API.

The queue is `ndtms.links.candidates` (compacted): the latest record per key, a tombstone
removing it. The CLI reads it once to its end; the journey service follows it in a thread.
Side by side, the only place attributors are shown, reads the linker's record of the two
episodes from its state changelog. A decision is audited first, then written to
`ndtms.links.decisions` and acknowledged; the linker then republishes the candidate with it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

import msgspec
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, Producer, TopicPartition

from ndtms.audit import Audit
from ndtms.clocks import Clock
from ndtms.contract.audit import AuditAction
from ndtms.contract.candidates import Band, Decision, LinkCandidate, MatchDecision, MatchVerdict
from ndtms.contract.settings import PlatformSettings
from ndtms.contract.topics import CANDIDATES, DECISIONS, MATCH_EPISODES_STATE
from ndtms.contract.transcoding import AvroTranscoder, UndecodableRecord, registry_client
from ndtms.delivery import NotDelivered, deliver
from services.linker.proposals import HeldEpisode

log = logging.getLogger(__name__)

DIFFERENCE_WORDS = {
    "day_month_transposed": "day and month swapped",
    "one_edit": "one digit apart",
    "year_off": "year off by 1 or 10",
    "swapped": "first and second swapped",
    "one_differs": "one differs",
    "both_differ": "both differ",
}


class NoSuchCandidate(LookupError):
    """No candidate has this key (never proposed, or tombstoned)."""


class CandidateSuperseded(ValueError):
    """The candidate's evidence changed: there is nothing left to decide."""


class DecisionNotRecorded(RuntimeError):
    """The broker did not acknowledge the decision: nothing was decided."""


class RecordsGone(LookupError):
    """The linker no longer holds one of the two records (withdrawn, erased or aged out)."""


@dataclass(frozen=True)
class Waiting:
    candidate: LinkCandidate
    days_left: int

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.candidate.key,
            **self.candidate.model_dump(mode="json"),
            "days_left": self.days_left,
        }


def waiting(
    candidates: Iterable[LinkCandidate],
    today: date,
    band: Band | None = None,
    prison: str | None = None,
    decided_too: bool = False,
) -> list[Waiting]:
    """The queue a reviewer works through: oldest window first, then the most probable."""
    chosen = [
        Waiting(c, (c.window_end_date - today).days)
        for c in candidates
        if (decided_too or c.decision is Decision.OPEN)
        and (band is None or c.band is band)
        and (prison is None or c.prison_provider_id == prison)
    ]
    return sorted(
        chosen, key=lambda w: (w.candidate.window_end_date, -w.candidate.probability, w.candidate.key)
    )


@dataclass(frozen=True)
class Compared:
    """One line of the side-by-side view; `difference` in words when the model saw one."""

    attribute: str
    prison: str
    community: str
    difference: str | None


def side_by_side(candidate: LinkCandidate, prison: HeldEpisode, community: HeldEpisode) -> list[Compared]:
    marked = {d.attribute: DIFFERENCE_WORDS.get(d.kind, d.kind) for d in candidate.differences}
    p, c = prison.attributors, community.attributors
    lines = [
        ("initials", f"{p.first_initial} {p.second_initial}", f"{c.first_initial} {c.second_initial}"),
        ("date_of_birth", p.date_of_birth.isoformat(), c.date_of_birth.isoformat()),
        ("sex", str(p.sex), str(c.sex)),
        ("local_authority", prison.facts.exit_destination_la or "-", community.local_authority or "-"),
    ]
    return [Compared(attribute, left, right, marked.get(attribute)) for attribute, left, right in lines]


def attributors_of(episode: HeldEpisode) -> dict[str, Any]:
    a = episode.attributors
    return {
        "episode": episode.key,
        "first_initial": a.first_initial,
        "second_initial": a.second_initial,
        "date_of_birth": a.date_of_birth.isoformat(),
        "sex": str(a.sex),
        "local_authority": episode.local_authority,
    }


class CandidateQueue:
    """The candidates now, read from `ndtms.links.candidates` (one partition)."""

    def __init__(self, settings: PlatformSettings):
        self._codec = AvroTranscoder(registry_client(settings.registry_url), CANDIDATES, LinkCandidate)
        self._consumer = Consumer(
            {
                **settings.kafka_client_config(),
                "group.id": f"ndtms-review-{time.time_ns()}",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "isolation.level": "read_committed",
            }
        )
        self._latest: dict[str, LinkCandidate] = {}
        self._lock = threading.Lock()
        self.caught_up = threading.Event()
        self.stopping = threading.Event()

    def catch_up(self, timeout: float = 60.0) -> None:
        """Read to the end of the topic (the CLI's whole use of it)."""
        self._assign()
        deadline = time.monotonic() + timeout
        while not self.caught_up.is_set():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{CANDIDATES.name} could not be read to its end in {timeout:g}s")
            self._consume(timeout=0.5)

    def follow(self) -> None:
        """Read to the end and keep reading, in a thread, until `stop`."""

        def run() -> None:
            try:
                self._assign()
                while not self.stopping.is_set():
                    self._consume(timeout=0.5)
            except Exception:  # the API answers 503 for the queue rather than stale data
                log.exception("the review queue stopped following %s", CANDIDATES.name)
                self.caught_up.clear()
            finally:
                self._consumer.close()

        threading.Thread(target=run, name="review-queue", daemon=True).start()

    def stop(self) -> None:
        self.stopping.set()

    def close(self) -> None:
        self._consumer.close()

    def get(self, key: str) -> LinkCandidate | None:
        with self._lock:
            return self._latest.get(key)

    def all(self) -> list[LinkCandidate]:
        with self._lock:
            return list(self._latest.values())

    def _assign(self) -> None:
        self._consumer.assign(
            [TopicPartition(CANDIDATES.name, p, OFFSET_BEGINNING) for p in range(CANDIDATES.partitions)]
        )

    def _consume(self, timeout: float) -> None:
        for message in self._consumer.consume(1000, timeout=timeout):
            error = message.error()
            if error is None:
                self._apply(message)
            elif error.code() == KafkaError._PARTITION_EOF:
                self.caught_up.set()
            else:
                log.warning("reading %s: %s", CANDIDATES.name, error)

    def _apply(self, message: Message) -> None:
        key = (message.key() or b"").decode("utf-8", "replace")
        value = message.value()
        try:
            candidate = self._codec.decode(value) if value else None
        except UndecodableRecord:
            log.error("undecodable candidate at %s offset %s: skipped", CANDIDATES.name, message.offset())
            return
        with self._lock:
            if candidate is None:
                self._latest.pop(key, None)
            else:
                self._latest[key] = candidate


def held_episodes(
    settings: PlatformSettings, keys: set[str], timeout: float = 60.0
) -> dict[str, HeldEpisode]:
    """The linker's record of these episodes, attributors included, from its state changelog."""
    decoder = msgspec.msgpack.Decoder(HeldEpisode)
    reader = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": f"ndtms-matches-{time.time_ns()}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
        }
    )
    found: dict[str, HeldEpisode | None] = {}
    try:
        topic = MATCH_EPISODES_STATE.name
        partitions = reader.list_topics(topic, timeout=10).topics[topic].partitions
        reader.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        ended: set[int] = set()
        deadline = time.monotonic() + timeout
        while len(ended) < len(partitions) and time.monotonic() < deadline:
            for message in reader.consume(1000, timeout=0.5):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        ended.add(message.partition() or 0)
                    continue
                key = (message.key() or b"").decode()
                if key in keys:
                    value = message.value()
                    found[key] = decoder.decode(value) if value else None
    finally:
        reader.close()
    return {key: held for key, held in found.items() if held is not None}


class RecordIndex:
    """Where the linker's record of each episode lies on its state changelog, for a service that
    shows many candidates: it keeps offsets only, never the records, and reads the two records a
    view needs at their offsets."""

    def __init__(self, settings: PlatformSettings):
        base = {
            **settings.kafka_client_config(),
            "group.id": f"ndtms-review-records-{time.time_ns()}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
        self._follower = Consumer({**base, "enable.partition.eof": True})
        self._reader = Consumer({**base, "fetch.wait.max.ms": 10})
        self._where: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()
        self._reading = threading.Lock()
        self._decoder = msgspec.msgpack.Decoder(HeldEpisode)
        self.caught_up = threading.Event()
        self.stopping = threading.Event()

    def follow(self) -> None:
        def run() -> None:
            topic = MATCH_EPISODES_STATE.name
            try:
                partitions = self._partitions(topic)
                self._follower.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
                ended: set[int] = set()
                while not self.stopping.is_set():
                    for message in self._follower.consume(1000, timeout=0.5):
                        error = message.error()
                        if error is None:
                            self._note(message)
                        elif error.code() == KafkaError._PARTITION_EOF:
                            ended.add(message.partition() or 0)
                            if len(ended) == len(partitions):
                                self.caught_up.set()
            except Exception:  # views answer 503 rather than "no longer held"
                log.exception("the review stopped following %s", topic)
                self.caught_up.clear()
            finally:
                self._follower.close()

        threading.Thread(target=run, name="review-records", daemon=True).start()

    def stop(self) -> None:
        self.stopping.set()

    def _partitions(self, topic: str) -> dict[int, Any]:
        """The changelog's partitions, once the linker has made it (views wait with 503 until then)."""
        while not self.stopping.is_set():
            found = self._follower.list_topics(topic, timeout=10).topics.get(topic)
            if found is not None and found.error is None and found.partitions:
                return dict(found.partitions)
            self.stopping.wait(2)
        return {}

    def _places(self, keys: set[str], patience: float = 5.0) -> dict[str, tuple[int, int]]:
        """Where these records are; a candidate can be read a moment before its records (two
        topics, two readers), so a missing one is waited for a little before it counts as gone."""
        deadline = time.monotonic() + patience
        while True:
            with self._lock:
                places = {key: self._where[key] for key in keys if key in self._where}
            if len(places) == len(keys) or time.monotonic() > deadline:
                return places
            time.sleep(0.1)

    def _note(self, message: Message) -> None:
        key = (message.key() or b"").decode("utf-8", "replace")
        with self._lock:
            if message.value():
                self._where[key] = (message.partition() or 0, message.offset() or 0)
            else:
                self._where.pop(key, None)

    def records(self, keys: set[str], timeout: float = 10.0) -> dict[str, HeldEpisode]:
        places = self._places(keys)
        found: dict[str, HeldEpisode] = {}
        with self._reading:
            for key, (partition, offset) in places.items():
                self._reader.assign([TopicPartition(MATCH_EPISODES_STATE.name, partition, offset)])
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    message = self._reader.poll(0.5)
                    if message is None or message.error() is not None:
                        continue
                    value = message.value()
                    if message.offset() == offset and value:
                        found[key] = self._decoder.decode(value)
                    break
            self._reader.unassign()
        return found


Lookup = Callable[[set[str]], dict[str, HeldEpisode]]


def the_two_records(lookup: Lookup, candidate: LinkCandidate) -> tuple[HeldEpisode, HeldEpisode]:
    community = f"{candidate.community_provider_id}/{candidate.community_episode_id}"
    held = lookup({candidate.transfer_id, community})
    if candidate.transfer_id not in held or community not in held:
        raise RecordsGone("the linker no longer holds one of the two records (withdrawn, erased or aged out)")
    return held[candidate.transfer_id], held[community]


class DecisionOutcome(StrEnum):
    RECORDED = "recorded"
    ALREADY = "already"  # the candidate already carries this decision: nothing written


class DecisionDesk:
    """Records operators' decisions: audited, then on `ndtms.links.decisions`, acknowledged."""

    def __init__(self, settings: PlatformSettings, audit: Audit, clock: Clock, timeout: float = 10.0):
        self._producer = Producer(settings.producer_config())
        self._codec = AvroTranscoder(registry_client(settings.registry_url), DECISIONS, MatchDecision)
        self._audit = audit
        self._clock = clock
        self._timeout = timeout

    def decide(
        self, key: str, candidate: LinkCandidate | None, verdict: MatchVerdict, actor: str
    ) -> tuple[DecisionOutcome, MatchDecision | None]:
        """Raises NoSuchCandidate, CandidateSuperseded, AuditUnavailable or DecisionNotRecorded."""
        if candidate is None:
            raise NoSuchCandidate(f"no candidate {key}")
        if candidate.decision.value == verdict.value:
            return DecisionOutcome.ALREADY, None
        if candidate.decision is Decision.SUPERSEDED:
            raise CandidateSuperseded(f"{key} was superseded (its evidence changed): nothing to decide")
        self._audit(actor, AuditAction.MATCH_DECIDED, key, verdict.value)
        decision = MatchDecision(
            candidate_key=key, decision=verdict, decided_by=actor, decided_at=self._clock()
        )
        try:
            deliver(self._producer, DECISIONS.name, key, lambda: self._codec.encode(decision), self._timeout)
        except NotDelivered as exc:
            raise DecisionNotRecorded(f"the decision could not be written: {exc}") from exc
        return DecisionOutcome.RECORDED, decision
