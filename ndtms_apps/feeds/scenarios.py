"""A messy synthetic feed for the continuity-of-care rule: what real submissions look like.

Made-up people, each released from prison once or twice, then seen in the community in one
of the ways the rule distinguishes (structured start in or out of the window, triage only,
recovery support only, a re-opened episode, a triage just before the recorded exit, nothing).
On top: corrections that move dates or stop a release being a transfer, withdrawals, invalid
revisions (rejected by the validator), duplicates, and the whole feed shuffled.

Every record carries whether it is valid, so a test can work out each episode's final
accepted revision by hand: the highest valid revision (a withdrawal removes the episode).
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from ndtms_apps.feeds.synthetic import (
    COMMUNITY,
    PRISONS,
    Person,
    community_episode,
    person,
    prison_release,
    recorded,
)


@dataclass(frozen=True)
class FeedRecord:
    data: dict[str, Any]
    valid: bool

    @property
    def episode_key(self) -> str:
        return f"{self.data['provider_id']}/{self.data['episode_id']}"


def _iso(day: date) -> str:
    return day.isoformat()


class _Episodes:
    """Revisions of one person's episodes as they are written, corrected, withdrawn."""

    def __init__(self, rng: random.Random, today: date, label: str):
        self.rng = rng
        self.today = today
        self.label = label
        self.records: list[FeedRecord] = []

    def add(self, data: dict[str, Any]) -> dict[str, Any]:
        self.records.append(FeedRecord(data, valid=True))
        return data

    def revise(self, data: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
        revised = copy.deepcopy(data) | {
            "revision": data["revision"] + 1,
            "recorded_at": recorded(self.today),
        }
        for key, value in change.items():
            if isinstance(value, dict):
                revised[key] = revised[key] | value
            else:
                revised[key] = value
        return self.add(revised)

    def invalid(self, data: dict[str, Any]) -> None:
        # Triage before referral (DAT002): an error, so this revision never counts.
        bad = copy.deepcopy(data) | {"revision": data["revision"] + 1, "triage_date": "2000-01-01"}
        self.records.append(FeedRecord(bad, valid=False))

    def withdraw(self, data: dict[str, Any]) -> None:
        withdrawal = {
            "provider_id": data["provider_id"],
            "episode_id": data["episode_id"],
            "revision": data["revision"] + 1,
            "deleted": True,
        }
        self.records.append(FeedRecord(withdrawal, valid=True))


def _community(episodes: _Episodes, who: Person, n: int, k: int, release: date) -> dict[str, Any] | None:
    rng, today = episodes.rng, episodes.today
    provider = rng.choice(COMMUNITY)
    episode = f"{episodes.label}{n:05d}C{k}"
    kind = rng.random()

    def clip(day: date) -> date:
        return min(day, today)

    if kind < 0.35:  # structured start around the window's end
        triage = clip(release + timedelta(days=rng.randrange(0, 20)))
        start = clip(triage + timedelta(days=rng.choice((0, 1, 5, 21 - (triage - release).days, 30))))
        return episodes.add(community_episode(who, provider, episode, triage, start))
    if kind < 0.5:  # triage only
        triage = clip(release + timedelta(days=rng.choice((0, 3, 21, 22))))
        return episodes.add(community_episode(who, provider, episode, triage, None))
    if kind < 0.6:  # recovery support only
        data = community_episode(who, provider, episode, clip(release + timedelta(days=25)), None)
        start = clip(release + timedelta(days=2))
        data["triage_date"] = _iso(start)
        data["referral_date"] = _iso(start - timedelta(days=1))
        data["interventions"] = [
            {"intervention_id": f"{episode}-I0", "type": "recovery_support", "start_date": _iso(start)}
        ]
        data["recorded_at"] = recorded(start)
        return episodes.add(data)
    if kind < 0.7:  # an episode opened before custody, re-opened with a new intervention after release
        triage = release - timedelta(days=200)
        start = clip(release + timedelta(days=rng.randrange(0, 25)))
        return episodes.add(community_episode(who, provider, episode, triage, start, recorded_on=start))
    if kind < 0.8:  # triaged a few days before the recorded exit: the exit date is in doubt
        triage = release - timedelta(days=rng.randrange(1, 6))
        return episodes.add(community_episode(who, provider, episode, triage, None))
    return None  # not seen


def person_feed(rng: random.Random, today: date, n: int, label: str = "S") -> list[FeedRecord]:
    """Everything one made-up person's providers submit, in the order they wrote it."""
    who = person(rng)
    episodes = _Episodes(rng, today, label)
    first = today - timedelta(days=rng.randrange(1, 150))
    releases = [first]
    if rng.random() < 0.2 and (today - first).days > 135:
        # Received again after the first release (reception is 120 days before exit).
        releases.append(first + timedelta(days=rng.randrange(125, (today - first).days)))
    for k, release in enumerate(releases):
        prison = episodes.add(
            prison_release(who, rng.choice(PRISONS), f"{episodes.label}{n:05d}P{k}", release)
        )
        seen = _community(episodes, who, n, k, release)
        roll = rng.random()
        if roll < 0.1:  # the exit date is corrected by a few days
            moved = min(release + timedelta(days=rng.choice((-3, -1, 2))), today)
            prison = episodes.revise(
                prison, {"discharge_date": _iso(moved), "custody": {"prison_exit_date": _iso(moved)}}
            )
        elif roll < 0.15:  # not a transfer after all: the person stayed in custody
            prison = episodes.revise(prison, {"discharge_reason": "transferred_in_custody"})
        elif roll < 0.2:
            episodes.withdraw(prison)
        elif roll < 0.3:
            episodes.invalid(prison)
        if seen is not None:
            roll = rng.random()
            if roll < 0.1 and seen["interventions"]:  # the start was keyed wrongly
                shifted = dict(seen["interventions"][0])
                shifted["start_date"] = _iso(
                    min(date.fromisoformat(shifted["start_date"]) + timedelta(days=9), today)
                )
                seen = episodes.revise(seen, {"interventions": [shifted]})
            elif roll < 0.15:
                episodes.withdraw(seen)
            elif roll < 0.25:
                episodes.invalid(seen)
    return episodes.records


def continuity_feed(
    today: date, people: int, seed: int = 216, batches: int = 3, label: str = "S"
) -> list[list[FeedRecord]]:
    """Many people's records as successive submissions: shuffled across `batches` (late arrivals,
    corrections before the records they correct), then a last one resending about a tenth of them."""
    rng = random.Random(seed)
    records = [record for n in range(people) for record in person_feed(rng, today, n, label)]
    rng.shuffle(records)
    submissions = [records[i::batches] for i in range(batches)]
    submissions.append([r for r in records if rng.random() < 0.1])
    return submissions


def final_accepted(records: list[FeedRecord]) -> dict[str, dict[str, Any]]:
    """Each episode's accepted revision in force: the highest valid one, unless it is a withdrawal."""
    best: dict[str, dict[str, Any]] = {}
    for record in records:
        if not record.valid:
            continue
        held = best.get(record.episode_key)
        if held is None or record.data["revision"] > held["revision"]:
            best[record.episode_key] = record.data
    return {key: data for key, data in best.items() if not data.get("deleted")}
