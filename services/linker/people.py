"""A person's linker state and how an accepted revision or a clock tick changes it.

Pure: the stream hands in the stored state, the accepted episode and today's date, and gets
back the new state and what to publish (outcome changes, tombstones, exit-date reports).

Retention keeps the state bounded: an episode whose latest date is older than the horizon
(`today - retention_days`) can no longer affect any transfer still inside it, so it is
compacted to a revision marker; its transfer's last published link stays the truth on the
compacted topic. Markers expire after the same period, and a person left with nothing is
deleted from the table.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from ndtms_contract.episodes import AcceptedEpisode, Setting
from services.linker.exit_dates import LOOKBACK_DAYS, ExitDateDoubt, exit_date_doubts
from services.linker.matching import (
    EpisodeFacts,
    InterventionFacts,
    Outcome,
    next_decision_day,
    outcomes,
)


@dataclass(frozen=True)
class Policy:
    """The linker's tunable rules: grace after a window, and how long state is kept."""

    grace_days: int = 0
    retention_days: int = 1095


@dataclass(frozen=True)
class Withdrawn:
    """An episode withdrawn or compacted at `revision`, kept so an older revision cannot bring it back."""

    revision: int
    since: date | None = None


@dataclass(frozen=True)
class Person:
    client_key: str
    episodes: dict[str, EpisodeFacts] = field(default_factory=dict)
    withdrawn: dict[str, Withdrawn] = field(default_factory=dict)
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    doubts: dict[str, ExitDateDoubt] = field(default_factory=dict)
    due: date | None = None
    # Per transfer, a community episode of another client key that a person confirmed as this
    # person's (a probable match): it counts for that transfer alone.
    confirmed: dict[str, EpisodeFacts] = field(default_factory=dict)

    def revision_of(self, episode_key: str) -> int:
        if episode_key in self.episodes:
            return self.episodes[episode_key].revision
        if episode_key in self.withdrawn:
            return self.withdrawn[episode_key].revision
        return 0

    @property
    def is_empty(self) -> bool:
        return not (self.episodes or self.withdrawn or self.outcomes or self.doubts or self.confirmed)


@dataclass(frozen=True)
class ExitDateReport:
    """The linker's current word on one prison episode's exit date: a doubt, or none (clears it)."""

    provider_id: str
    episode_id: str
    revision: int
    doubt: ExitDateDoubt | None


@dataclass(frozen=True)
class Changes:
    """Outcomes to publish (new or changed), transfer ids to tombstone, exit-date reports."""

    published: tuple[Outcome, ...] = ()
    tombstoned: tuple[str, ...] = ()
    reports: tuple[ExitDateReport, ...] = ()
    # Episodes compacted away by retention (counted, never published).
    retired: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.published or self.tombstoned or self.reports)


def facts_of(accepted: AcceptedEpisode) -> EpisodeFacts | None:
    if accepted.deleted or accepted.setting is None:
        return None
    custody = accepted.custody
    return EpisodeFacts(
        provider_id=accepted.provider_id,
        episode_id=accepted.episode_id,
        revision=accepted.revision,
        setting=Setting(accepted.setting),
        triage_date=accepted.triage_date,
        interventions=tuple(InterventionFacts(i.type, i.start_date) for i in accepted.interventions),
        discharge_reason=accepted.discharge_reason,
        reception_date=custody.reception_date if custody else None,
        prison_exit_date=custody.prison_exit_date if custody else None,
        exit_reason=custody.exit_reason if custody else None,
        exit_destination_la=custody.exit_destination_la if custody else None,
    )


def apply(person: Person, accepted: AcceptedEpisode, today: date, policy: Policy) -> tuple[Person, Changes]:
    """Apply one accepted revision; one already applied (or older) changes nothing."""
    key = accepted.episode_key
    if accepted.revision <= person.revision_of(key):
        return person, Changes()
    episodes = dict(person.episodes)
    withdrawn = dict(person.withdrawn)
    facts = facts_of(accepted)
    if facts is None:
        episodes.pop(key, None)
        withdrawn[key] = Withdrawn(accepted.revision, today)
    else:
        withdrawn.pop(key, None)
        episodes[key] = facts
    return _recompute(person, replace(person, episodes=episodes, withdrawn=withdrawn), today, policy)


def confirm(
    person: Person, transfer_id: str, community: EpisodeFacts | None, today: date, policy: Policy
) -> tuple[Person, Changes]:
    """A confirmed probable match for one transfer (None: no longer confirmed, the outcome reverts)."""
    confirmed = dict(person.confirmed)
    if community is None:
        confirmed.pop(transfer_id, None)
    else:
        confirmed[transfer_id] = community
    if confirmed == person.confirmed:
        return person, Changes()
    return _recompute(person, replace(person, confirmed=confirmed), today, policy)


def tick(person: Person, today: date, policy: Policy) -> tuple[Person, Changes]:
    """The clock moved on: windows may have closed, old episodes may leave retention."""
    return _recompute(person, person, today, policy)


def _recompute(before: Person, person: Person, today: date, policy: Policy) -> tuple[Person, Changes]:
    person, retired = _compacted(person, today, policy.retention_days)
    current = outcomes(
        person.client_key, person.episodes.values(), today, policy.grace_days, person.confirmed
    )
    doubts = exit_date_doubts(person.episodes.values())
    published = tuple(o for tid, o in sorted(current.items()) if before.outcomes.get(tid) != o)
    tombstoned = tuple(sorted(set(before.outcomes) - set(current) - retired))
    updated = replace(person, outcomes=current, doubts=doubts)
    reports = tuple(
        _report(updated, tid, doubts.get(tid))
        for tid in sorted((set(doubts) | set(before.doubts)) - retired)
        if doubts.get(tid) != before.doubts.get(tid)
    )
    due = [d for d in (next_decision_day(current, policy.grace_days), _next_expiry(updated, policy)) if d]
    changes = Changes(published, tombstoned, reports, tuple(sorted(retired)))
    return replace(updated, due=min(due) if due else None), changes


def _report(person: Person, transfer_id: str, doubt: ExitDateDoubt | None) -> ExitDateReport:
    provider_id, episode_id = transfer_id.split("/", 1)
    return ExitDateReport(provider_id, episode_id, person.revision_of(transfer_id), doubt)


def last_date(facts: EpisodeFacts) -> date | None:
    """The latest date an episode carries: after it (plus the look-back), it can match nothing new."""
    dates = [facts.triage_date, facts.reception_date, facts.prison_exit_date]
    dates.extend(i.start_date for i in facts.interventions)
    known = [d for d in dates if d is not None]
    if not known:
        return None
    # A community triage can raise a doubt about an exit up to LOOKBACK_DAYS later.
    extra = LOOKBACK_DAYS if facts.setting is Setting.COMMUNITY else 0
    return max(known) + timedelta(days=extra)


def _compacted(person: Person, today: date, retention_days: int) -> tuple[Person, set[str]]:
    horizon = today - timedelta(days=retention_days)
    retired = {k for k, e in person.episodes.items() if (last := last_date(e)) is not None and last < horizon}
    if not retired and not any(w.since and w.since < horizon for w in person.withdrawn.values()):
        return person, set()
    withdrawn = {k: w for k, w in person.withdrawn.items() if w.since is None or w.since >= horizon} | {
        k: Withdrawn(person.episodes[k].revision, today) for k in retired
    }
    episodes = {k: e for k, e in person.episodes.items() if k not in retired}
    return replace(person, episodes=episodes, withdrawn=withdrawn), retired


def _next_expiry(person: Person, policy: Policy) -> date | None:
    """The first day on which retention will drop something of this person."""
    keep = timedelta(days=policy.retention_days + 1)
    days = [last + keep for e in person.episodes.values() if (last := last_date(e)) is not None]
    days.extend(w.since + keep for w in person.withdrawn.values() if w.since is not None)
    return min(days) if days else None
