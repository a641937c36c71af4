"""Rules across one person's episodes (by client_key). They only warn: an error would make
one episode's acceptance depend on another's arrival."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date

from ndtms.rules.rule import W
from ndtms_contract.episodes import AcceptedEpisode, Setting
from ndtms_contract.findings import Finding, Severity


@dataclass(frozen=True)
class EpisodeDates:
    """What the rules across one person's episodes read of an accepted episode (kept per person)."""

    provider_id: str
    episode_id: str
    revision: int
    setting: Setting | None = None
    referral_date: date | None = None
    triage_date: date | None = None
    discharge_date: date | None = None
    reception_date: date | None = None

    @property
    def episode_key(self) -> str:
        return f"{self.provider_id}/{self.episode_id}"

    @classmethod
    def of(cls, accepted: AcceptedEpisode) -> EpisodeDates:
        return cls(
            accepted.provider_id,
            accepted.episode_id,
            accepted.revision,
            accepted.setting,
            accepted.referral_date,
            accepted.triage_date,
            accepted.discharge_date,
            accepted.custody.reception_date if accepted.custody else None,
        )


@dataclass(frozen=True)
class PersonRule:
    code: str
    severity: Severity
    fields: tuple[str, ...]
    summary: str
    # yields (episode key, field path, message)
    check: Callable[[Sequence[EpisodeDates]], Iterator[tuple[str, str, str]]]


def _open_at_later_reception(episodes: Sequence[EpisodeDates]) -> Iterator[tuple[str, str, str]]:
    receptions = sorted(
        e.reception_date for e in episodes if e.setting is Setting.SECURE and e.reception_date is not None
    )
    for episode in episodes:
        if episode.setting is not Setting.COMMUNITY or episode.discharge_date is not None:
            continue
        began = episode.triage_date or episode.referral_date
        later = [r for r in receptions if began is not None and r > began]
        if later:
            yield (
                episode.episode_key,
                "discharge_date",
                f"the episode is still open but the client was received into custody on "
                f"{later[0].isoformat()}: close it (discharge reason transferred_in_custody, or "
                "incomplete_retained_in_custody) so that a return after release is recorded correctly",
            )


PERSON_CATALOGUE: tuple[PersonRule, ...] = (
    PersonRule(
        "CMT003",
        W,
        ("discharge_date",),
        "A community episode is not left open when the client later enters custody.",
        _open_at_later_reception,
    ),
)


def evaluate_person(episodes: Sequence[EpisodeDates]) -> dict[str, tuple[Finding, ...]]:
    """Cross-episode findings per episode key (every given episode has an entry, maybe empty)."""
    found: dict[str, list[Finding]] = {e.episode_key: [] for e in episodes}
    for rule in PERSON_CATALOGUE:
        for key, path, message in rule.check(episodes):
            found[key].append(Finding(rule=rule.code, severity=rule.severity, field=path, message=message))
    return {key: tuple(findings) for key, findings in found.items()}
