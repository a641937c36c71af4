"""The review queue: every probable match of every release not engaged by its own client key.

Pure: from the episodes held (attributors included: only the matcher holds them), the
operators' rulings and today's date, `current` gives every candidate with its band and
decision; `changes` compares that with what was published and says what to publish now
(a new or changed candidate, `superseded` when the evidence went, a tombstone when the release
or the community episode itself went).

A rejected pair is never proposed again for its release; a confirmed one stays confirmed while
its evidence holds (the linker then counts it, see `matching.outcomes`), and is superseded
when a correction or withdrawal removes the evidence, which reverts the outcome.

Longer than most modules (about 410 lines): `MatchBook` keeps the queue one change at a time
and must equal `current` at every step (a property test holds them equal), so the two stay
side by side; the search is `candidates`, the bands `banding`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from ndtms.continuity.window import WINDOW_DAYS, window_end
from ndtms_contract.candidates import Band, Decision, DifferenceKind, LinkCandidate
from ndtms_contract.episodes import Setting
from ndtms_contract.links import LinkStatus
from services.linker.banding import among, band_of, proposal
from services.linker.candidates import (
    Candidate,
    CommunityFacts,
    CommunityIndex,
    ReleaseFacts,
    blocked_together,
    candidates_for,
    candidates_within,
    week_of,
)
from services.linker.comparisons import Attributors
from services.linker.match_model import MatchModel
from services.linker.matching import EpisodeFacts, outcomes

SEARCHED = frozenset({LinkStatus.PENDING, LinkStatus.TRIAGED, LinkStatus.NOT_ENGAGED})


@dataclass(frozen=True)
class HeldEpisode:
    """One accepted episode as the matcher holds it."""

    client_key: str
    attributors: Attributors
    local_authority: str | None
    facts: EpisodeFacts

    @property
    def key(self) -> str:
        return self.facts.key


@dataclass(frozen=True)
class Ruling:
    """An operator's decision on a candidate."""

    decision: Decision  # confirmed or rejected
    decided_by: str
    decided_at: datetime


def candidate_key(transfer_id: str, community_episode: str) -> str:
    return f"{transfer_id}|{community_episode}"


@dataclass(frozen=True)
class Settled:
    """What may have changed in the queue since it was last brought up to date."""

    keys: frozenset[str]  # candidate keys whose view may have changed, or that were ruled on
    episodes: frozenset[str]  # episodes held, changed or let go: a pair of one may no longer hold


class MatchBook:
    """The queue kept up to date one episode at a time, searching only where a change can matter.

    A changed episode can change the candidates of its own person's releases (their status, or
    the release itself) and of the releases whose blocks its attributors fall in (before and
    after the change), and of releases it was a candidate for. Only those are searched again.
    A band depends on how many candidates a release has and how many releases an episode is
    proposed for, so `settle` rebuilds the views of the releases searched and of those sharing
    an episode whose count changed, and nothing else: the work follows the change, not the
    length of the queue.
    """

    def __init__(self, model: MatchModel, grace_days: int):
        self.model = model
        self.grace_days = grace_days
        self.episodes: dict[str, HeldEpisode] = {}
        self.rulings: dict[str, Ruling] = {}
        self._people: dict[str, set[str]] = defaultdict(set)
        self._community = CommunityIndex()
        self._releases: dict[str, tuple[ReleaseFacts, HeldEpisode]] = {}
        self._releases_of: dict[str, set[str]] = defaultdict(set)  # client key -> searched transfers
        self._release_blocks: dict[object, set[str]] = defaultdict(set)
        self._found: dict[str, list[Candidate]] = {}
        self._proposed_for: dict[str, set[str]] = defaultdict(set)  # community episode -> transfers
        self._views: dict[str, LinkCandidate] = {}
        self._view_keys: dict[str, set[str]] = {}  # transfer -> its keys in _views
        self._searched: set[str] = set()  # transfers whose candidates may differ since `settle`
        self._recounted: set[str] = set()  # community episodes proposed for a different set of releases
        self._moved: set[str] = set()
        self._ruled: set[str] = set()

    def put(self, key: str, episode: HeldEpisode | None) -> None:
        """Hold this episode as it is now (None: no longer held), and search where it matters."""
        self._moved.add(key)
        old = self.episodes.pop(key, None)
        near: set[str] = set(self._proposed_for.get(key, set()))
        people: set[str] = set()
        for held in (old, episode):
            if held is None:
                continue
            people.add(held.client_key)
            if held.facts.setting is Setting.COMMUNITY:
                near |= self._releases_near(_community_facts(held))
        if old is not None:
            self._people[old.client_key].discard(key)
            self._community.remove(key)
        if episode is not None:
            self.episodes[key] = episode
            self._people[episode.client_key].add(key)
            if episode.facts.setting is Setting.COMMUNITY:
                self._community.add(_community_facts(episode))
        searched: set[str] = set()
        for client_key in people:
            searched |= self._refresh_releases(client_key)
        for transfer_id in searched:
            self._search(transfer_id)
        # Other releases near this community episode: only this one pair can have changed.
        for transfer_id in near - searched:
            self._rescore(transfer_id, key)

    def rule(self, key: str, ruling: Ruling | None) -> None:
        """An operator's decision (None withdraws it); a rejection searches the release again."""
        if ruling is None:
            self.rulings.pop(key, None)
        else:
            self.rulings[key] = ruling
        self._ruled.add(key)
        self._search(key.partition("|")[0])

    def erase(self, client_key: str) -> int:
        """Forget every episode of a person; the number forgotten."""
        keys = sorted(self._people.get(client_key, set()))
        for key in keys:
            self.put(key, None)
        self._people.pop(client_key, None)
        return len(keys)

    def still_there(self, key: str) -> bool:
        transfer_id, _, community = key.partition("|")
        prison = self.episodes.get(transfer_id)
        return prison is not None and prison.facts.release_date is not None and community in self.episodes

    def views(self) -> dict[str, LinkCandidate]:
        """Every candidate that holds now, by candidate key (rejected pairs left out)."""
        self.settle()
        return dict(self._views)

    def view(self, key: str) -> LinkCandidate | None:
        """The candidate under this key as of the last `settle`, if it holds."""
        return self._views.get(key)

    def views_of(self, transfer_id: str) -> list[LinkCandidate]:
        """A release's candidates as of the last `settle`, by candidate key."""
        return [self._views[key] for key in sorted(self._view_keys.get(transfer_id, ()))]

    def settle(self) -> Settled:
        """Bring the views up to date with every change since the last call; what may differ."""
        transfers = set(self._searched)
        for episode in self._recounted:
            transfers |= self._proposed_for.get(episode, set())
        keys = set(self._ruled)
        for transfer_id in transfers:
            for key in self._view_keys.pop(transfer_id, set()):
                del self._views[key]
                keys.add(key)
            fresh = self._views_for(transfer_id)
            if fresh:
                self._views.update(fresh)
                self._view_keys[transfer_id] = set(fresh)
                keys |= fresh.keys()
        settled = Settled(frozenset(keys), frozenset(self._moved))
        self._searched, self._recounted, self._moved, self._ruled = set(), set(), set(), set()
        return settled

    def _views_for(self, transfer_id: str) -> dict[str, LinkCandidate]:
        kept = [(c, band) for c in self._found.get(transfer_id, []) if (band := self._band(c)) is not None]
        views = {}
        for candidate, band in kept:
            sharing = sum(
                1 for t in self._proposed_for.get(candidate.episode, ()) if self._kept(t, candidate.episode)
            )
            prison = self._releases[transfer_id][1]
            community = self._community.episodes[candidate.episode]
            view = _view(candidate, prison, community, among(band, len(kept), sharing))
            decided = self.rulings.get(view.key)
            if decided is not None and decided.decision is Decision.CONFIRMED:
                decision = {"decision": decided.decision, "decided_by": decided.decided_by}
                view = view.model_copy(update=decision | {"decided_at": decided.decided_at})
            views[view.key] = view
        return views

    def _band(self, candidate: Candidate) -> Band | None:
        pair = proposal(candidate.transfer_id, candidate.episode, candidate.score)
        return band_of(pair.probability, self.model, pair.elsewhere)

    def _kept(self, transfer_id: str, episode: str) -> bool:
        return any(
            c.episode == episode and self._band(c) is not None for c in self._found.get(transfer_id, ())
        )

    def _refresh_releases(self, client_key: str) -> set[str]:
        """Recompute a person's searched releases; the transfers whose search may have changed."""
        own = [self.episodes[k] for k in sorted(self._people.get(client_key, set()))]
        # By the person's index, not a scan of every release: this runs for every record.
        before = set(self._releases_of.get(client_key, set()))
        was = {transfer_id: self._releases[transfer_id][0] for transfer_id in before}
        for transfer_id in before:
            self._drop_release(transfer_id)
        by_key = {e.key: e for e in own}
        # Whether a release is engaged by its own client key does not depend on the day.
        any_day = date.max - timedelta(days=400)
        for transfer_id, outcome in outcomes(
            client_key, (e.facts for e in own), any_day, self.grace_days
        ).items():
            if outcome.status not in SEARCHED:
                continue
            prison = by_key[transfer_id]
            release = ReleaseFacts(
                transfer_id,
                client_key,
                prison.attributors,
                outcome.prison_exit_date,
                outcome.exit_destination_la,
            )
            if transfer_id in self._releases:  # still filed under the person it moved from
                self._drop_release(transfer_id)
            self._releases[transfer_id] = (release, prison)
            self._releases_of[client_key].add(transfer_id)
            for block in _blocks(release):
                self._release_blocks[block].add(transfer_id)
        after = set(self._releases_of.get(client_key, set()))
        if not after:
            self._releases_of.pop(client_key, None)
        # A release searched as it was finds what it found: only one added, gone or changed
        # (another exit date, destination or attributors) is searched again. Re-searching every
        # release of a person at each of their updates was a third of the national search (#27).
        return {t for t in before | after if was.get(t) != self._release_facts(t)}

    def _release_facts(self, transfer_id: str) -> ReleaseFacts | None:
        held = self._releases.get(transfer_id)
        return None if held is None else held[0]

    def _drop_release(self, transfer_id: str) -> None:
        release, _ = self._releases.pop(transfer_id)
        self._releases_of[release.client_key].discard(transfer_id)
        for block in _blocks(release):
            self._release_blocks[block].discard(transfer_id)

    def _releases_near(self, community: CommunityFacts) -> set[str]:
        """The releases whose window this episode's dates can fall in, sharing a block with it.

        Only a date in a release's window can make the episode its candidate, so the initials
        block is looked up by the weeks of the exits that would have one (a block of common
        initials across every date held thousands of releases, each scored for nothing)."""
        a = community.attributors
        found = set(self._release_blocks.get(a.date_of_birth, set()))
        pair = _pair(a)
        reach = timedelta(days=WINDOW_DAYS + self.grace_days)
        for day in {community.triage_date, community.structured_start_date} - {None}:
            assert day is not None
            for week in range(week_of(day - reach), week_of(day) + 1):
                found |= self._release_blocks.get((pair, week), set())
        return found

    def _rescore(self, transfer_id: str, key: str) -> None:
        """One community episode changed: its pair with this release, and nothing else."""
        before = self._found.get(transfer_id, [])
        held = self._releases.get(transfer_id)
        community = self._community.episodes.get(key)
        fresh = []
        if (
            held is not None
            and community is not None
            and not self._rejected(transfer_id, key)
            and blocked_together(held[0], community, self.grace_days)
        ):
            fresh = candidates_within(held[0], [community], self.model, self.grace_days)
        if not fresh and all(c.episode != key for c in before):
            return  # neither was nor is a candidate: the release's views stand as they are
        self._searched.add(transfer_id)
        self._recounted.add(key)
        self._proposed_for[key].discard(transfer_id)
        found = [c for c in before if c.episode != key] + fresh
        if fresh:
            self._proposed_for[key].add(transfer_id)
        if found:
            self._found[transfer_id] = sorted(found, key=lambda c: (-c.score.match_weight, c.episode))
        else:
            self._found.pop(transfer_id, None)

    def _rejected(self, transfer_id: str, community: str) -> bool:
        ruling = self.rulings.get(candidate_key(transfer_id, community))
        return ruling is not None and ruling.decision is Decision.REJECTED

    def _search(self, transfer_id: str) -> None:
        self._searched.add(transfer_id)
        for candidate in self._found.pop(transfer_id, []):
            self._recounted.add(candidate.episode)
            self._proposed_for[candidate.episode].discard(transfer_id)
        held = self._releases.get(transfer_id)
        if held is None:
            return
        rejected = {
            key.partition("|")[2]
            for key, ruling in self.rulings.items()
            if ruling.decision is Decision.REJECTED and key.startswith(f"{transfer_id}|")
        }
        found = candidates_for(held[0], self._community, self.model, self.grace_days, rejected)
        if found:
            self._found[transfer_id] = found
            for candidate in found:
                self._recounted.add(candidate.episode)
                self._proposed_for[candidate.episode].add(transfer_id)


def _pair(a: Attributors) -> tuple[str, str]:
    return (min(a.first_initial, a.second_initial), max(a.first_initial, a.second_initial))


def _blocks(release: ReleaseFacts) -> tuple[object, ...]:
    """The blocking keys a release is filed under: its initials in either order with the week
    of its exit, and its date of birth."""
    return ((_pair(release.attributors), week_of(release.exit_date)), release.attributors.date_of_birth)


def _community_facts(episode: HeldEpisode) -> CommunityFacts:
    facts = episode.facts
    start = min((i.start_date for i in facts.interventions if i.type.is_structured), default=None)
    return CommunityFacts(
        facts.key, episode.client_key, episode.attributors, episode.local_authority, facts.triage_date, start
    )


def current(
    episodes: Iterable[HeldEpisode],
    rulings: Mapping[str, Ruling],
    today: date,
    grace_days: int,
    model: MatchModel,
) -> dict[str, LinkCandidate]:
    """Every candidate that holds, by candidate key, from scratch (rejected pairs left out).

    `today` does not change the queue (a release is searched whether its window is open or
    closed); it is taken so that callers state when they ask.
    """
    book = MatchBook(model, grace_days)
    book.rulings.update(rulings)
    for episode in episodes:
        book.put(episode.key, episode)
    return book.views()


def _view(candidate: Candidate, prison: HeldEpisode, community: CommunityFacts, band: Band) -> LinkCandidate:
    exit_date = prison.facts.prison_exit_date
    assert exit_date is not None  # a transfer has one
    provider, _, episode = community.episode.partition("/")
    score = candidate.score
    return LinkCandidate(
        transfer_id=candidate.transfer_id,
        prison_provider_id=prison.facts.provider_id,
        prison_episode_id=prison.facts.episode_id,
        prison_exit_date=exit_date,
        window_end_date=window_end(exit_date),
        community_provider_id=provider,
        community_episode_id=episode,
        triage_date=community.triage_date,
        structured_start_date=community.structured_start_date,
        band=band,
        match_weight=score.match_weight,
        probability=round(score.probability, 6),
        differences=tuple(DifferenceKind(attribute=d.attribute, kind=d.kind) for d in score.differences),
        model_version=score.model_version,
    )


def changes(
    published: Mapping[str, LinkCandidate],
    now: Mapping[str, LinkCandidate],
    still_there: Mapping[str, bool],
    at: datetime,
) -> dict[str, LinkCandidate | None]:
    """What to publish: new or changed candidates; for one published that no longer holds,
    `superseded` while its release and episode still exist (`still_there[key]`), else a tombstone.
    A rejected candidate stays rejected until either record goes."""
    out: dict[str, LinkCandidate | None] = {}
    for key, view in now.items():
        if published.get(key) != view:
            out[key] = view
    for key, view in published.items():
        if key in now:
            continue
        if not still_there.get(key, False):
            out[key] = None
        elif view.decision not in (Decision.SUPERSEDED, Decision.REJECTED):
            superseded = {"decision": Decision.SUPERSEDED, "decided_by": None, "decided_at": at}
            out[key] = view.model_copy(update=superseded)
    return out
