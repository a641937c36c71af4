"""The continuity-of-care rule: a pure function of one person's accepted episodes and today's date.

A transfer is a secure episode discharged `transferred_not_in_custody` with exit reason
`released` and a prison exit date D. Its window is D..D+21 days, both ends included.
engaged: a community structured intervention starts in the window (earliest start wins,
ties by lowest provider_id then episode_id). triaged: otherwise a community triage falls in
the window. pending: neither, window (plus grace) still open. not_engaged: neither, closed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date

from ndtms.continuity.window import closes_on, window_end
from ndtms_contract.episodes import DischargeReason, ExitReason, InterventionType, Setting
from ndtms_contract.links import LinkStatus, MatchedOn


@dataclass(frozen=True)
class InterventionFacts:
    type: InterventionType
    start_date: date


@dataclass(frozen=True)
class EpisodeFacts:
    """The linker's view of one accepted episode revision."""

    provider_id: str
    episode_id: str
    revision: int
    setting: Setting
    triage_date: date | None = None
    interventions: tuple[InterventionFacts, ...] = ()
    discharge_reason: DischargeReason | None = None
    reception_date: date | None = None
    prison_exit_date: date | None = None
    exit_reason: ExitReason | None = None
    exit_destination_la: str | None = None

    @property
    def key(self) -> str:
        return f"{self.provider_id}/{self.episode_id}"

    @property
    def release_date(self) -> date | None:
        """D, when this episode is a transfer to the community; None otherwise."""
        if (
            self.setting is Setting.SECURE
            and self.discharge_reason is DischargeReason.TRANSFERRED_NOT_IN_CUSTODY
            and self.exit_reason is ExitReason.RELEASED
        ):
            return self.prison_exit_date
        return None


@dataclass(frozen=True)
class Outcome:
    """The outcome of one transfer, everything but the moment it was decided."""

    transfer_id: str
    client_key: str
    prison_provider_id: str
    prison_episode_id: str
    prison_exit_date: date
    exit_destination_la: str | None
    window_end_date: date
    status: LinkStatus
    community_provider_id: str | None = None
    community_episode_id: str | None = None
    triage_date: date | None = None
    structured_start_date: date | None = None
    days_to_engagement: int | None = None
    matched_on: MatchedOn = MatchedOn.CLIENT_KEY
    # The earliest community triage in the window, whichever episode: with the structured start
    # it tells the outcome on any past day (a person engaged on day 15 was triaged on day 3).
    window_triage_date: date | None = None


def outcomes(
    client_key: str,
    episodes: Iterable[EpisodeFacts],
    today: date,
    grace_days: int,
    confirmed: Mapping[str, EpisodeFacts] | None = None,
) -> dict[str, Outcome]:
    """Every transfer of this person and its current outcome, by transfer_id.

    `confirmed` holds, per transfer, a community episode of another client key that a person
    confirmed as this person's (a probable match): the rule treats it as one of theirs for that
    transfer alone, and says so (`matched_on`) when it is the episode that decides.
    """
    facts = list(episodes)
    community = [e for e in facts if e.setting is Setting.COMMUNITY]
    result: dict[str, Outcome] = {}
    for prison in facts:
        release = prison.release_date
        if release is None:
            continue
        extra = (confirmed or {}).get(prison.key)
        own = community if extra is None else [*community, extra]
        outcome = _outcome(client_key, prison, release, own, today, grace_days)
        decided_by = (outcome.community_provider_id, outcome.community_episode_id)
        if (
            extra is not None
            and extra not in community
            and decided_by == (extra.provider_id, extra.episode_id)
        ):
            outcome = replace(outcome, matched_on=MatchedOn.CONFIRMED_CANDIDATE)
        result[prison.key] = outcome
    return result


def _outcome(
    client_key: str,
    prison: EpisodeFacts,
    release: date,
    community: list[EpisodeFacts],
    today: date,
    grace_days: int,
) -> Outcome:
    end = window_end(release)
    base = Outcome(
        transfer_id=prison.key,
        client_key=client_key,
        prison_provider_id=prison.provider_id,
        prison_episode_id=prison.episode_id,
        prison_exit_date=release,
        exit_destination_la=prison.exit_destination_la,
        window_end_date=end,
        status=LinkStatus.PENDING,
    )
    triages = sorted(
        (e.triage_date, e.provider_id, e.episode_id, e)
        for e in community
        if e.triage_date is not None and release <= e.triage_date <= end
    )
    if triages:
        base = replace(base, window_triage_date=triages[0][0])
    starts = sorted(
        (i.start_date, e.provider_id, e.episode_id, e)
        for e in community
        for i in e.interventions
        if i.type.is_structured and release <= i.start_date <= end
    )
    if starts:
        start, _, _, episode = starts[0]
        return _with(base, LinkStatus.ENGAGED, episode, episode.triage_date, start, (start - release).days)
    if triages:
        triage, _, _, episode = triages[0]
        return _with(base, LinkStatus.TRIAGED, episode, triage, None, None)
    if today >= closes_on(release, grace_days):
        return _with(base, LinkStatus.NOT_ENGAGED, None, None, None, None)
    return base


def _with(
    base: Outcome,
    status: LinkStatus,
    episode: EpisodeFacts | None,
    triage: date | None,
    start: date | None,
    days: int | None,
) -> Outcome:
    return replace(
        base,
        status=status,
        community_provider_id=episode.provider_id if episode else None,
        community_episode_id=episode.episode_id if episode else None,
        triage_date=triage,
        structured_start_date=start,
        days_to_engagement=days,
    )


def next_decision_day(outcomes_now: Mapping[str, Outcome], grace_days: int) -> date | None:
    """The day the clock alone will next change an outcome (a pending window closing)."""
    days = [
        closes_on(o.prison_exit_date, grace_days)
        for o in outcomes_now.values()
        if o.status is LinkStatus.PENDING
    ]
    return min(days) if days else None
