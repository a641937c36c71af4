"""Which community episodes of other people could be a released person's: blocked, windowed, scored.

A release's candidates are community episodes of *other* client keys whose triage or first
structured start lies in its window (exit date .. exit + 21 days + the linker's grace), and
whose attributors score at least the model's `possible` probability. Blocking keeps it cheap
without losing a record with one attributor wrong: an episode is looked up by its initials
(either order, by week of its triage and start dates: common initials are common) and by its
date of birth, so only a record wrong in both is never compared (and such a record would
score below `possible` anyway).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Container, Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from ndtms.continuity.window import WINDOW_DAYS
from services.linker.comparisons import Attributors
from services.linker.match_model import MatchModel
from services.linker.scoring import Score, levels_of, probability_of, score, weight_of


@dataclass(frozen=True)
class ReleaseFacts:
    transfer_id: str
    client_key: str
    attributors: Attributors
    exit_date: date
    destination_la: str | None

    def window_end(self, grace_days: int) -> date:
        return self.exit_date + timedelta(days=WINDOW_DAYS + grace_days)


@dataclass(frozen=True)
class CommunityFacts:
    episode: str  # provider/episode
    client_key: str
    attributors: Attributors
    local_authority: str | None
    triage_date: date | None
    structured_start_date: date | None

    def in_window(self, start: date, end: date) -> bool:
        return any(
            d is not None and start <= d <= end for d in (self.triage_date, self.structured_start_date)
        )


@dataclass(frozen=True)
class Candidate:
    transfer_id: str
    episode: str
    score: Score


def _initials_key(a: Attributors, week: int) -> tuple[str, str, int]:
    return (min(a.first_initial, a.second_initial), max(a.first_initial, a.second_initial), week)


def week_of(day: date) -> int:
    return day.toordinal() // 7


def _weeks(facts: CommunityFacts) -> set[int]:
    return {week_of(d) for d in (facts.triage_date, facts.structured_start_date) if d is not None}


class CommunityIndex:
    """Community episodes by blocking key (initials in either order; date of birth)."""

    def __init__(self) -> None:
        self.episodes: dict[str, CommunityFacts] = {}
        self._by_initials: dict[tuple[str, str, int], set[str]] = defaultdict(set)
        self._by_birth: dict[date, set[str]] = defaultdict(set)

    def add(self, facts: CommunityFacts) -> None:
        self.remove(facts.episode)
        self.episodes[facts.episode] = facts
        for week in _weeks(facts):
            self._by_initials[_initials_key(facts.attributors, week)].add(facts.episode)
        self._by_birth[facts.attributors.date_of_birth].add(facts.episode)

    def remove(self, episode: str) -> None:
        held = self.episodes.pop(episode, None)
        if held is not None:
            for week in _weeks(held):
                self._by_initials[_initials_key(held.attributors, week)].discard(episode)
            self._by_birth[held.attributors.date_of_birth].discard(episode)

    def near(self, attributors: Attributors, start: date, end: date) -> Iterable[CommunityFacts]:
        """Episodes sharing the initials (dated in the weeks of start..end) or the date of birth."""
        keys = set(self._by_birth.get(attributors.date_of_birth, ()))
        for week in range(week_of(start), week_of(end) + 1):
            keys |= self._by_initials.get(_initials_key(attributors, week), set())
        return (self.episodes[key] for key in sorted(keys))


def blocked_together(release: ReleaseFacts, community: CommunityFacts, grace_days: int) -> bool:
    """Whether a search for the release looks at this episode at all: the blocking of
    `CommunityIndex.near` over the release's window, for one pair."""
    if community.attributors.date_of_birth == release.attributors.date_of_birth:
        return True
    weeks = range(week_of(release.exit_date), week_of(release.window_end(grace_days)) + 1)
    pair = _initials_key(release.attributors, 0)[:2]
    return _initials_key(community.attributors, 0)[:2] == pair and any(w in weeks for w in _weeks(community))


def candidates_for(
    release: ReleaseFacts,
    index: CommunityIndex,
    model: MatchModel,
    grace_days: int = 0,
    rejected: Container[str] = frozenset(),
) -> list[Candidate]:
    """The release's candidates at or above `possible`, best first; `rejected` episodes left out."""
    end = release.window_end(grace_days)
    near = (c for c in index.near(release.attributors, release.exit_date, end) if c.episode not in rejected)
    found = candidates_within(release, near, model, grace_days)
    return sorted(found, key=lambda c: (-c.score.match_weight, c.episode))


def candidates_within(
    release: ReleaseFacts, community: Iterable[CommunityFacts], model: MatchModel, grace_days: int = 0
) -> list[Candidate]:
    """Those of these community episodes that are the release's candidates: other people's,
    dated in its window, scored at least `possible`."""
    end = release.window_end(grace_days)
    found = []
    for episode in community:
        if episode.client_key == release.client_key or not episode.in_window(release.exit_date, end):
            continue
        facts = (release.attributors, episode.attributors, release.destination_la, episode.local_authority)
        # The weight alone first: most pairs in a block are far below `possible`.
        if probability_of(weight_of(levels_of(*facts), release.attributors, model)) < model.possible:
            continue
        found.append(Candidate(release.transfer_id, episode.episode, score(*facts, model)))
    return found
