"""The NDTMS treatment-journey rule: a pure function of one person's accepted episodes.

Community episodes are ordered by their start (earliest intervention start, else triage,
else referral). A later episode starts a new journey when, against the episode before it:
the earlier one is closed; its discharge is not after the later one's (an open later episode
counts as not yet discharged); and the later start is more than 21 days after the earlier
discharge. Otherwise it continues the journey. Secure episodes are custody periods instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from ndtms_contract.episodes import DischargeReason, ExitReason, Setting
from ndtms_contract.journeys import CustodyPeriod, Journey, JourneyEpisode, JourneyStatus

NEW_JOURNEY_GAP = timedelta(days=21)


@dataclass(frozen=True)
class InterventionSpan:
    """A structured (pharmacological or psychosocial) intervention, for the measures."""

    start: date
    end: date | None = None


@dataclass(frozen=True)
class EpisodeSpan:
    """The journey service's view of one accepted episode revision."""

    provider_id: str
    episode_id: str
    setting: Setting
    referral_date: date
    triage_date: date | None = None
    first_intervention_start: date | None = None
    discharge_date: date | None = None
    discharge_reason: DischargeReason | None = None
    reception_date: date | None = None
    prison_exit_date: date | None = None
    exit_reason: ExitReason | None = None
    exit_destination_la: str | None = None
    # For the treatment measures: the client's local authority, the structured interventions.
    local_authority: str | None = None
    structured: tuple[InterventionSpan, ...] = ()

    @property
    def start_date(self) -> date:
        return self.first_intervention_start or self.triage_date or self.referral_date

    @property
    def is_open(self) -> bool:
        return self.discharge_date is None


def starts_new_journey(earlier: EpisodeSpan, later: EpisodeSpan) -> bool:
    if earlier.discharge_date is None:
        return False
    if later.discharge_date is not None and earlier.discharge_date > later.discharge_date:
        return False
    return later.start_date - earlier.discharge_date > NEW_JOURNEY_GAP


def journeys_of(episodes: Iterable[EpisodeSpan]) -> tuple[Journey, ...]:
    community = sorted(
        (e for e in episodes if e.setting is Setting.COMMUNITY),
        key=lambda e: (e.start_date, e.provider_id, e.episode_id),
    )
    groups: list[list[EpisodeSpan]] = []
    for episode in community:
        if groups and not starts_new_journey(groups[-1][-1], episode):
            groups[-1].append(episode)
        else:
            groups.append([episode])
    return tuple(_journey(group) for group in groups)


def _journey(group: list[EpisodeSpan]) -> Journey:
    first = group[0]
    is_open = any(e.is_open for e in group)
    last_discharged = max(
        (e for e in group if e.discharge_date is not None),
        key=lambda e: (e.discharge_date, e.provider_id, e.episode_id),
        default=None,
    )
    return Journey(
        journey_id=f"{first.provider_id}/{first.episode_id}",
        start_date=first.start_date,
        discharge_date=None if is_open or last_discharged is None else last_discharged.discharge_date,
        discharge_reason=None if is_open or last_discharged is None else last_discharged.discharge_reason,
        status=JourneyStatus.OPEN if is_open else JourneyStatus.CLOSED,
        episodes=tuple(
            JourneyEpisode(
                provider_id=e.provider_id,
                episode_id=e.episode_id,
                start_date=e.start_date,
                discharge_date=e.discharge_date,
            )
            for e in group
        ),
    )


def custody_periods_of(episodes: Iterable[EpisodeSpan]) -> tuple[CustodyPeriod, ...]:
    secure = sorted(
        (e for e in episodes if e.setting is Setting.SECURE),
        key=lambda e: (e.reception_date or e.referral_date, e.provider_id, e.episode_id),
    )
    return tuple(
        CustodyPeriod(
            provider_id=e.provider_id,
            episode_id=e.episode_id,
            reception_date=e.reception_date,
            prison_exit_date=e.prison_exit_date,
            exit_reason=e.exit_reason,
            exit_destination_la=e.exit_destination_la,
        )
        for e in secure
    )
