"""Live treatment measures: NDTMS's definitions as pure functions of people's accepted episodes.

Community settings only. A period is `[start, end]`, both days included (the interface's
`from` and `to`). Structured treatment is a pharmacological or psychosocial intervention; a
journey is the service's glossary journey (`services.journey.journeys`) and its *structured
start* is the earliest structured intervention start among its episodes.

- `in_treatment`: people with a structured intervention whose span (start to its end, else to
  the episode's discharge, else open) overlaps the period. Once nationally; once per provider
  (provider rows may add up to more); once per local authority, the client's on their latest
  such episode (latest referral; ties by provider and episode id).
- `new_presentations`: journeys whose structured start is in the period.
- `waits`: each episode whose first structured intervention started in the period waited that
  start minus its referral, in days: `count`, `median_days`, `within_21_days` (wait <= 21).
  `waiting_now_over_21_days`: episodes open at `to` (not discharged on or before it) with no
  structured intervention started by `to` and referred more than 21 days before `to`.
- `retained_12_weeks`: of journeys whose structured start S is in the period and at least 84
  days before `to` (the denominator), those not discharged before S + 84 (open at `to`, or
  last discharged on day 84 or later), or that ended with a successful completion before it.
- `successful_completions`: closed journeys last discharged in the period with reason 80, 81
  or 82; `representations_6_months`: those followed by the person's next journey starting
  within 183 days of that discharge and by `to`; `representations_window_open`: those not
  represented whose 183 days run past `to`.
- `unplanned_exits`: closed journeys last discharged in the period with reason 85, 86 or 88;
  `early_unplanned_exits`: those discharged fewer than 84 days after their structured start.
- Breakdowns: the episode's provider and local authority for episode measures; the journey's
  last episode's for journey measures.

Longer than most modules (about 350 lines): the measures are one definition, whose parts
share the facts they read; counting them in SQL is `measuring`, publishing them `disclosure`.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from ndtms_contract.episodes import DischargeReason, Setting
from ndtms_contract.journeys import Journey
from ndtms_contract.periods import EARLIEST, Period, year_to
from services.journey.journeys import EpisodeSpan, journeys_of

WAIT_EXPECTED_DAYS = 21
RETAINED_DAYS = 84
REPRESENTATION_DAYS = 183
COMPLETED = frozenset(
    {
        DischargeReason.TREATMENT_COMPLETED_DRUG_FREE,  # 80
        DischargeReason.TREATMENT_COMPLETED_ALCOHOL_FREE,  # 81
        DischargeReason.TREATMENT_COMPLETED_OCCASIONAL_USER,  # 82
    }
)
UNPLANNED = frozenset(
    {
        DischargeReason.INCOMPLETE_DROPPED_OUT,  # 85
        DischargeReason.INCOMPLETE_TREATMENT_WITHDRAWN_BY_PROVIDER,  # 86
        DischargeReason.INCOMPLETE_TREATMENT_COMMENCEMENT_DECLINED,  # 88
    }
)
UNKNOWN_LA = "unknown"


class Breakdown(StrEnum):
    PROVIDER = "provider"
    LA = "la"


@dataclass(frozen=True)
class Structured:
    """One structured intervention: its start and where its span ends (None: open)."""

    start: date
    end: date | None


@dataclass(frozen=True)
class TreatmentEpisode:
    client_key: str
    provider_id: str
    episode_id: str
    local_authority: str
    referral_date: date
    structured: tuple[Structured, ...]
    discharge_date: date | None

    @property
    def first_structured_start(self) -> date | None:
        return min((s.start for s in self.structured), default=None)


@dataclass(frozen=True)
class TreatmentJourney:
    client_key: str
    journey_id: str
    structured_start: date | None
    discharge_date: date | None  # None while any of its episodes is open
    discharge_reason: DischargeReason | None
    provider_id: str  # of its last episode
    local_authority: str  # of its last episode
    next_start: date | None  # the person's next journey's start


@dataclass(frozen=True)
class Facts:
    episodes: tuple[TreatmentEpisode, ...]
    journeys: tuple[TreatmentJourney, ...]


def facts_of(
    client_key: str, spans: Iterable[EpisodeSpan], journeys: Sequence[Journey] | None = None
) -> Facts:
    """What the measures need of one person, from their accepted episode spans. `journeys` are
    `journeys_of(spans)` when the caller has them already (the journey service computes them
    once a batch for the published record and for these facts)."""
    community = {(s.provider_id, s.episode_id): s for s in spans if s.setting is Setting.COMMUNITY}
    episodes = tuple(_episode(client_key, s) for s in community.values())
    by_key = {(e.provider_id, e.episode_id): e for e in episodes}
    if journeys is None:
        journeys = journeys_of(community.values())
    made = []
    for n, journey in enumerate(journeys):
        members = [by_key[(e.provider_id, e.episode_id)] for e in journey.episodes]
        starts = [s for m in members if (s := m.first_structured_start) is not None]
        last = members[-1]
        made.append(
            TreatmentJourney(
                client_key=client_key,
                journey_id=journey.journey_id,
                structured_start=min(starts, default=None),
                discharge_date=journey.discharge_date,
                discharge_reason=journey.discharge_reason,
                provider_id=last.provider_id,
                local_authority=last.local_authority,
                next_start=journeys[n + 1].start_date if n + 1 < len(journeys) else None,
            )
        )
    return Facts(episodes, tuple(made))


def _episode(client_key: str, span: EpisodeSpan) -> TreatmentEpisode:
    return TreatmentEpisode(
        client_key=client_key,
        provider_id=span.provider_id,
        episode_id=span.episode_id,
        local_authority=span.local_authority or UNKNOWN_LA,
        referral_date=span.referral_date,
        structured=tuple(Structured(i.start, i.end or span.discharge_date) for i in span.structured),
        discharge_date=span.discharge_date,
    )


@dataclass(frozen=True)
class Waits:
    count: int = 0
    median_days: float | None = None
    within_21_days: int = 0


@dataclass(frozen=True)
class Ratio:
    numerator: int = 0
    denominator: int = 0


@dataclass(frozen=True)
class MeasureRow:
    scope: str  # national, provider or la
    group: str | None  # None nationally
    in_treatment: int = 0
    new_presentations: int = 0
    waits: Waits = field(default_factory=Waits)
    waiting_now_over_21_days: int = 0
    retained_12_weeks: Ratio = field(default_factory=Ratio)
    successful_completions: int = 0
    representations_6_months: int = 0
    representations_window_open: int = 0
    unplanned_exits: int = 0
    early_unplanned_exits: int = 0


Group = str | None  # None: national


@dataclass
class Tallies:
    """Counts by group (None nationally), measure by measure; what SQL and Python both produce."""

    counts: dict[str, Counter[Group]] = field(default_factory=lambda: defaultdict(Counter))
    waits: dict[Group, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))

    def add(self, measure: str, groups: Iterable[Group], n: int = 1) -> None:
        for group in groups:
            self.counts[measure][group] += n


def rows_of(tallies: Tallies, breakdown: Breakdown | None) -> list[MeasureRow]:
    """The national row, then one per group of the breakdown (sorted), from the tallies."""
    groups = sorted(
        {g for counter in tallies.counts.values() for g in counter if g is not None}
        | {g for g in tallies.waits if g is not None}
    )
    rows = [_row(tallies, "national", None)]
    if breakdown is not None:
        rows += [_row(tallies, breakdown.value, g) for g in groups]
    return rows


def _row(t: Tallies, scope: str, group: Group) -> MeasureRow:
    c = {measure: counter.get(group, 0) for measure, counter in t.counts.items()}
    return MeasureRow(
        scope=scope,
        group=group,
        in_treatment=c.get("in_treatment", 0),
        new_presentations=c.get("new_presentations", 0),
        waits=waits_of(t.waits.get(group, Counter())),
        waiting_now_over_21_days=c.get("waiting_now_over_21_days", 0),
        retained_12_weeks=Ratio(c.get("retained", 0), c.get("retention_cohort", 0)),
        successful_completions=c.get("successful_completions", 0),
        representations_6_months=c.get("representations_6_months", 0),
        representations_window_open=c.get("representations_window_open", 0),
        unplanned_exits=c.get("unplanned_exits", 0),
        early_unplanned_exits=c.get("early_unplanned_exits", 0),
    )


def waits_of(histogram: Mapping[int, int]) -> Waits:
    """Count, median and how many within 21 days, from waits in days and how often each occurs."""
    count = sum(histogram.values())
    if count == 0:
        return Waits()
    ordered = sorted(histogram.items())
    middle = [_nth(ordered, (count - 1) // 2), _nth(ordered, count // 2)]
    return Waits(
        count=count,
        median_days=statistics.fmean(middle),
        within_21_days=sum(n for days, n in ordered if days <= WAIT_EXPECTED_DAYS),
    )


def _nth(ordered: list[tuple[int, int]], index: int) -> int:
    seen = 0
    for days, n in ordered:
        seen += n
        if index < seen:
            return days
    raise IndexError(index)


def measures(people: Iterable[Facts], period: Period, breakdown: Breakdown | None = None) -> list[MeasureRow]:
    """Every measure over the period, nationally and by the breakdown (the definition)."""
    tallies = Tallies()
    for facts in people:
        tally_person(tallies, facts, period, breakdown)
    return rows_of(tallies, breakdown)


def tally_person(t: Tallies, facts: Facts, period: Period, breakdown: Breakdown | None) -> None:
    _in_treatment(t, facts.episodes, period, breakdown)
    for episode in facts.episodes:
        _episode_measures(
            t, episode, period, _groups(breakdown, episode.provider_id, episode.local_authority)
        )
    for journey in facts.journeys:
        _journey_measures(
            t, journey, period, _groups(breakdown, journey.provider_id, journey.local_authority)
        )


def _groups(breakdown: Breakdown | None, provider: str, la: str) -> tuple[Group, ...]:
    if breakdown is Breakdown.PROVIDER:
        return (None, provider)
    if breakdown is Breakdown.LA:
        return (None, la)
    return (None,)


def overlaps(span: Structured, period: Period) -> bool:
    return span.start <= period.end and (span.end is None or span.end >= period.start)


def _in_treatment(
    t: Tallies, episodes: Iterable[TreatmentEpisode], period: Period, by: Breakdown | None
) -> None:
    treated = [e for e in episodes if any(overlaps(s, period) for s in e.structured)]
    if not treated:
        return
    t.add("in_treatment", [None])
    if by is Breakdown.PROVIDER:
        t.add("in_treatment", sorted({e.provider_id for e in treated}))
    elif by is Breakdown.LA:
        latest = max(treated, key=lambda e: (e.referral_date, e.provider_id, e.episode_id))
        t.add("in_treatment", [latest.local_authority])


def _episode_measures(
    t: Tallies, episode: TreatmentEpisode, period: Period, groups: tuple[Group, ...]
) -> None:
    first = episode.first_structured_start
    if first is not None and first in period:
        for group in groups:
            t.waits[group][(first - episode.referral_date).days] += 1
    still_open = episode.discharge_date is None or episode.discharge_date > period.end
    untreated = first is None or first > period.end
    if still_open and untreated and (period.end - episode.referral_date).days > WAIT_EXPECTED_DAYS:
        t.add("waiting_now_over_21_days", groups)


def _journey_measures(
    t: Tallies, journey: TreatmentJourney, period: Period, groups: tuple[Group, ...]
) -> None:
    start = journey.structured_start
    if start is not None and start in period:
        t.add("new_presentations", groups)
        if (period.end - start).days >= RETAINED_DAYS:
            t.add("retention_cohort", groups)
            if retained(journey, start):
                t.add("retained", groups)
    ended = journey.discharge_date
    if ended is None or ended not in period:
        return
    if journey.discharge_reason in COMPLETED:
        t.add("successful_completions", groups)
        nxt = journey.next_start
        if nxt is not None and nxt <= period.end and (nxt - ended).days <= REPRESENTATION_DAYS:
            t.add("representations_6_months", groups)
        elif (period.end - ended).days < REPRESENTATION_DAYS:
            t.add("representations_window_open", groups)
    elif journey.discharge_reason in UNPLANNED:
        t.add("unplanned_exits", groups)
        if start is not None and (ended - start).days < RETAINED_DAYS:
            t.add("early_unplanned_exits", groups)


def retained(journey: TreatmentJourney, start: date) -> bool:
    ended = journey.discharge_date
    return ended is None or (ended - start).days >= RETAINED_DAYS or journey.discharge_reason in COMPLETED


class PeriodInverted(ValueError):
    """`from` is after `to`."""


def period_of(start: date | None, end: date | None, today: date) -> Period:
    """`[from, to]` as asked: `to` defaults to today and `from` to the day after `to` a year before."""
    end = end or today
    if end < EARLIEST or (start is not None and start < EARLIEST):
        raise ValueError(f"NDTMS periods start on or after {EARLIEST.isoformat()}")
    start = start or year_to(end).start
    if start > end:
        raise PeriodInverted(f"from {start} is after to {end}: a period ends on or after it starts")
    return Period(start, end)
