"""A person's linker state and how an accepted revision or a clock tick changes it.

Pure: the stream hands in the stored state, the accepted episode and today's date, and gets
back the new state and the outcome changes to publish.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

from ndtms.contract.episodes import AcceptedEpisode, Setting
from services.linker.matching import (
    EpisodeFacts,
    InterventionFacts,
    Outcome,
    next_decision_day,
    outcomes,
)


@dataclass(frozen=True)
class Withdrawn:
    """An episode withdrawn at `revision`: kept so an older revision cannot bring it back."""

    revision: int


@dataclass(frozen=True)
class Person:
    client_key: str
    episodes: dict[str, EpisodeFacts] = field(default_factory=dict)
    withdrawn: dict[str, Withdrawn] = field(default_factory=dict)
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    due: date | None = None

    def revision_of(self, episode_key: str) -> int:
        if episode_key in self.episodes:
            return self.episodes[episode_key].revision
        if episode_key in self.withdrawn:
            return self.withdrawn[episode_key].revision
        return 0


@dataclass(frozen=True)
class Changes:
    """Outcomes to publish (new or changed) and transfer ids to tombstone."""

    published: tuple[Outcome, ...] = ()
    tombstoned: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.published or self.tombstoned)


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


def apply(person: Person, accepted: AcceptedEpisode, today: date, grace_days: int) -> tuple[Person, Changes]:
    """Apply one accepted revision. A revision already applied republishes the current outcomes,
    because after a crash the earlier publication may not have reached the topic."""
    key = accepted.episode_key
    known = person.revision_of(key)
    if accepted.revision < known:
        return person, Changes()
    if accepted.revision == known:
        return person, Changes(published=tuple(person.outcomes.values()))
    episodes = dict(person.episodes)
    withdrawn = dict(person.withdrawn)
    facts = facts_of(accepted)
    if facts is None:
        episodes.pop(key, None)
        withdrawn[key] = Withdrawn(accepted.revision)
    else:
        withdrawn.pop(key, None)
        episodes[key] = facts
    return _recompute(replace(person, episodes=episodes, withdrawn=withdrawn), today, grace_days)


def tick(person: Person, today: date, grace_days: int) -> tuple[Person, Changes]:
    """The clock moved on: windows may have closed."""
    return _recompute(person, today, grace_days)


def _recompute(person: Person, today: date, grace_days: int) -> tuple[Person, Changes]:
    current = outcomes(person.client_key, person.episodes.values(), today, grace_days)
    published = tuple(o for tid, o in sorted(current.items()) if person.outcomes.get(tid) != o)
    tombstoned = tuple(sorted(set(person.outcomes) - set(current)))
    updated = replace(person, outcomes=current, due=next_decision_day(current, grace_days))
    return updated, Changes(published, tombstoned)
