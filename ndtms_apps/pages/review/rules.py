"""The probable-match review's pure rules: the queue's order, the side-by-side view, the two
records a candidate names. No Kafka: `reading` and `desk` bring the data and record decisions."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from ndtms_contract.candidates import Band, Decision, LinkCandidate
from services.linker.proposals import HeldEpisode

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


Lookup = Callable[[set[str]], dict[str, HeldEpisode]]


def the_two_records(lookup: Lookup, candidate: LinkCandidate) -> tuple[HeldEpisode, HeldEpisode]:
    community = f"{candidate.community_provider_id}/{candidate.community_episode_id}"
    held = lookup({candidate.transfer_id, community})
    if candidate.transfer_id not in held or community not in held:
        raise RecordsGone("the linker no longer holds one of the two records (withdrawn, erased or aged out)")
    return held[candidate.transfer_id], held[community]
