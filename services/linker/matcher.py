"""The linker's national search for probable matches: episodes with attributors in, candidates out.

Part of the linker stage: it reads `ndtms.matching.episodes` (one partition, so one instance
holds the national search: with the range assignment and every instance subscribed alike, the
one that also holds partition 0 of `ndtms.links.decisions`; when assignments disagree a decision
is held back, never lost, until they agree: `NotHere`) and
keeps every episode it compares in a store (attributors included; kept no longer than
`NDTMS_LINKER_MATCH_HORIZON_DAYS` after the episode's latest date). After each batch the queue
is brought up to date (`services.linker.proposals.MatchBook`) and what changed goes out on
`ndtms.links.candidates`, in the stage's transaction.
"""

from __future__ import annotations

import logging
from collections import Counter as Tally
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import msgspec
from confluent_kafka import Message
from confluent_kafka.schema_registry import SchemaRegistryClient
from prometheus_client import Counter, Gauge

from ndtms.clocks import Clock, today_in_england
from ndtms.metrics import labelled
from ndtms.stream.processor import NotHere, Transaction
from ndtms.stream.state import Store, StoreSpec
from ndtms_contract.candidates import (
    MATCH_DECODER,
    MATCH_ENCODER,
    ConfirmedMatch,
    Decision,
    LinkCandidate,
    MatchDecision,
)
from ndtms_contract.episodes import AcceptedEpisode
from ndtms_contract.topics import CANDIDATES, CONFIRMED, DECISIONS, MATCHING
from ndtms_contract.transcoding import AvroTranscoder
from services.linker.comparisons import Attributors
from services.linker.match_model import default_model
from services.linker.matching import EpisodeFacts
from services.linker.people import facts_of, last_date
from services.linker.proposals import HeldEpisode, MatchBook, Ruling, changes
from services.linker.settings import LinkerSettings

log = logging.getLogger(__name__)

PUBLISHED = Counter(
    "ndtms_linker_candidates_published_total",
    "Probable-match candidates published, by decision",
    ["decision"],
)
OPEN = Gauge(
    "ndtms_linker_candidates_open",
    "Probable-match candidates waiting for a person's decision, by prison",
    ["prison"],
)
EPISODES = "match-episodes"
SENT = "match-published"
RULINGS = "match-rulings"
CONFIRMED_SENT = "match-confirmed"


@dataclass(frozen=True)
class ConfirmedSent:
    """What the released person's partition was last told about a transfer's confirmed match."""

    client_key: str
    community: EpisodeFacts


class ProbableMatches:
    """The matching half of the linker stage (see the module docstring)."""

    def __init__(self, settings: LinkerSettings, clock: Clock, registry: SchemaRegistryClient):
        app = settings.linker_app_id
        self.stores: tuple[StoreSpec[Any], ...] = (
            StoreSpec(EPISODES, MATCHING.name, f"{app}-match-episodes-state", HeldEpisode),
            StoreSpec(SENT, MATCHING.name, f"{app}-match-published-state", LinkCandidate),
            StoreSpec(RULINGS, MATCHING.name, f"{app}-match-rulings-state", Ruling),
            StoreSpec(CONFIRMED_SENT, MATCHING.name, f"{app}-match-confirmed-state", ConfirmedSent),
        )
        self.model = default_model().with_bands(settings.linker_match_likely, settings.linker_match_possible)
        self.grace_days = settings.linker_grace_days
        self.horizon = timedelta(days=settings.linker_match_horizon_days)
        self.codec = AvroTranscoder(registry, CANDIDATES, LinkCandidate)
        self.decisions = AvroTranscoder(registry, DECISIONS, MatchDecision)
        self.clock = clock
        self.book = MatchBook(self.model, self.grace_days)
        self.published: dict[str, LinkCandidate] = {}
        self._published_with: dict[str, set[str]] = {}  # episode -> published candidate keys naming it
        self._open: Tally[str] = Tally()  # open candidates published, by prison
        self._whole = False  # the queue was rebuilt: every candidate is compared with what was sent
        self.confirmed_sent: dict[str, ConfirmedSent] = {}
        self.prisons_seen: set[str] = set()
        self.held = False  # whether this instance holds the national search
        self.changed = False

    def assigned(self, stores: dict[str, Store[Any]], partitions: dict[str, list[int]]) -> None:
        """Rebuilt from what is committed whenever the partitions or their state change (an
        aborted transaction included: what it published in memory never went out)."""
        was_held, self.held = self.held, 0 in partitions.get(EPISODES, [])
        if was_held and not self.held:
            # The search moved to another instance: its gauge is that instance's to report.
            OPEN.clear()
            self.prisons_seen = set()
        self.book = MatchBook(self.model, self.grace_days)
        self._published_as({})
        self.confirmed_sent = {}
        if self.held:
            self.confirmed_sent = dict(stores[CONFIRMED_SENT].items(0))
            for key, ruling in stores[RULINGS].items(0):
                self.book.rulings[key] = ruling
            for key, episode in stores[EPISODES].items(0):
                self.book.put(key, episode)
            self._published_as(dict(stores[SENT].items(0)))
            self.changed = self._whole = True

    def decide(self, message: Message, out: Transaction) -> None:
        """An operator's decision: kept, and the queue changed by it (the same decision again: nothing)."""
        if not self.held:
            # The member holding the search applies decisions; this one was given the decisions
            # partition without it (assignments that disagree during a rolling upgrade). Held,
            # never dead-lettered: a decision must not be lost.
            raise NotHere("decisions are applied where the probable-match search is held")
        decision = out.decoded(message, self.decisions)
        if decision is None:
            return
        ruling = Ruling(Decision(decision.decision.value), decision.decided_by, decision.decided_at)
        rulings: Store[Ruling] = out.stores[RULINGS]
        held = rulings.get(0, decision.candidate_key)
        if held is not None and held.decision is ruling.decision:
            return
        rulings.put(0, decision.candidate_key, ruling)
        self.book.rule(decision.candidate_key, ruling)
        self.changed = True

    def process(self, message: Message, out: Transaction) -> None:
        try:
            record = MATCH_DECODER.decode(message.value() or b"")
            accepted = AcceptedEpisode.model_validate(record.accepted)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
            out.dead_letter(message, f"not a matching record: {type(exc).__name__}")
            return
        if accepted.client_key in out.erased:
            return
        facts = facts_of(accepted)
        episode = None
        if facts is not None and record.date_of_birth is not None and accepted.sex is not None:
            who = Attributors.of(
                record.first_initial or "",
                record.second_initial or "",
                record.date_of_birth,
                accepted.sex.value,
            )
            episode = HeldEpisode(accepted.client_key, who, accepted.local_authority, facts)
        key = accepted.episode_key
        self.book.put(key, episode)
        out.stores[EPISODES].put(0, key, episode)
        self.changed = True

    def after_batch(self, out: Transaction) -> None:
        """Publish what the batch changed in the queue, looking only at the candidates it touched."""
        if not (self.held and self.changed):
            return
        self.changed = False
        settled = self.book.settle()
        keys = set(settled.keys)
        for episode in settled.episodes:
            keys |= self._published_with.get(episode, set())
        transfers: set[str] = set()
        if self._whole:
            keys |= self.published.keys()
            transfers |= self.confirmed_sent.keys()
            self._whole = False
        now = {key: view for key in keys if (view := self.book.view(key)) is not None}
        published = {key: self.published[key] for key in keys if key in self.published}
        # A rejected candidate stays on the topic as rejected while both episodes exist.
        for key, was in published.items():
            ruling = self.book.rulings.get(key)
            if ruling is not None and ruling.decision is Decision.REJECTED and self.book.still_there(key):
                rejected = {"decided_by": ruling.decided_by, "decided_at": ruling.decided_at}
                now[key] = was.model_copy(update={"decision": Decision.REJECTED} | rejected)
        sent: Store[LinkCandidate] = out.stores[SENT]
        decided = changes(published, now, {k: self.book.still_there(k) for k in published}, self.clock())
        for key, view in sorted(decided.items()):
            out.produce(CANDIDATES.name, key.encode(), None if view is None else self.codec.encode(view))
            labelled(PUBLISHED, "tombstone" if view is None else view.decision.value).inc()
            self._publish(key, view)
            sent.put(0, key, view)
        for prison in {*self._open, *self.prisons_seen}:
            labelled(OPEN, prison).set(self._open.get(prison, 0))
        self.prisons_seen |= {prison for prison, waiting in self._open.items() if waiting}
        self._send_confirmations(transfers | {key.partition("|")[0] for key in keys}, out)

    def _published_as(self, published: dict[str, LinkCandidate]) -> None:
        self.published, self._published_with, self._open = {}, {}, Tally()
        for key, view in published.items():
            self._publish(key, view)

    def _publish(self, key: str, view: LinkCandidate | None) -> None:
        """Note what the topic now says under this key (None: nothing)."""
        had = self.published.pop(key, None)
        if had is not None and had.decision is Decision.OPEN:
            self._open[had.prison_provider_id] -= 1
        if view is not None:
            self.published[key] = view
            if view.decision is Decision.OPEN:
                self._open[view.prison_provider_id] += 1
        for episode in key.split("|"):
            naming = self._published_with.setdefault(episode, set())
            if view is None:
                naming.discard(key)
                if not naming:
                    del self._published_with[episode]
            else:
                naming.add(key)

    def _send_confirmations(self, transfers: set[str], out: Transaction) -> None:
        """Tell each released person's partition which community episode a person confirmed as
        theirs, and when that stops holding (the evidence went: the outcome reverts)."""
        wanted: dict[str, ConfirmedSent] = {}
        for transfer_id in transfers:
            prison = self.book.episodes.get(transfer_id)
            for view in self.book.views_of(transfer_id):
                community = self.book.episodes.get(view.key.partition("|")[2])
                if view.decision is Decision.CONFIRMED and prison and community:
                    wanted[transfer_id] = ConfirmedSent(prison.client_key, community.facts)
                    break
        sent: Store[ConfirmedSent] = out.stores[CONFIRMED_SENT]
        for transfer_id in sorted(transfers):
            want, had = wanted.get(transfer_id), self.confirmed_sent.get(transfer_id)
            if want == had:
                continue
            to = want or had
            assert to is not None
            facts = None if want is None else msgspec.to_builtins(want.community)
            record = ConfirmedMatch(transfer_id, to.client_key, facts)
            out.produce(CONFIRMED.name, to.client_key.encode(), MATCH_ENCODER.encode(record))
            if want is None:
                self.confirmed_sent.pop(transfer_id, None)
            else:
                self.confirmed_sent[transfer_id] = want
            sent.put(0, transfer_id, want)

    def forget_old(self, out: Transaction) -> None:
        """Episodes past the horizon leave the search, and their attributors the state."""
        if not self.held:
            return
        horizon = today_in_england(self.clock) - self.horizon
        old = [
            key
            for key, episode in self.book.episodes.items()
            if (latest := last_date(episode.facts)) is not None and latest < horizon
        ]
        for key in old:
            self.book.put(key, None)
            out.stores[EPISODES].put(0, key, None)
        if old:
            self.changed = True
            self.after_batch(out)

    def erase(self, client_key: str, out: Transaction) -> int:
        if not self.held:
            return 0
        keys = sorted(k for k, e in self.book.episodes.items() if e.client_key == client_key)
        self.book.erase(client_key)
        for key in keys:
            out.stores[EPISODES].put(0, key, None)
        if keys:
            self.changed = True
            self.after_batch(out)
        return len(keys)
