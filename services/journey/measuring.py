"""The treatment measures from the journey store: facts kept with each batch, counted in SQL.

Each batch rewrites the measure facts of the people it changed (`save_facts`, in the batch's
transaction). `tallies` counts them with one aggregate query per measure and breakdown, and
gives the same `Tallies` as the pure definitions in `services.journey.measures` (a test holds
the two equal on random stores, on SQLite and PostgreSQL); the rows are then made the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, func, not_, or_, select, update
from sqlalchemy.orm import Session

from ndtms_contract.journeys import Journey
from ndtms_contract.periods import Period
from services.journey import store
from services.journey.bulk import among, chunks, insert_rows
from services.journey.journeys import EpisodeSpan
from services.journey.measures import (
    COMPLETED,
    REPRESENTATION_DAYS,
    RETAINED_DAYS,
    UNPLANNED,
    WAIT_EXPECTED_DAYS,
    Breakdown,
    Facts,
    MeasureRow,
    Tallies,
    facts_of,
    rows_of,
)

EPISODES = store.MEASURE_EPISODES
INTERVENTIONS = store.MEASURE_INTERVENTIONS
JOURNEYS = store.MEASURE_JOURNEYS


class MeasuresIncomplete(RuntimeError):
    """The store predates the measures: its episodes lack the facts they need."""


def save_facts(
    session: Session,
    people: Mapping[str, Iterable[EpisodeSpan]],
    journeys_made: Mapping[str, Sequence[Journey]] | None = None,
) -> None:
    """Replace these people's measure facts with those of their current spans (and journeys,
    when the caller has made them already)."""
    keys = sorted(people)
    for chunk in chunks(session, keys):
        for table in store.MEASURE_TABLES:
            session.execute(delete(table).where(among(session, table.c.client_key, chunk)))
    episodes: list[dict[str, Any]] = []
    interventions: list[dict[str, Any]] = []
    journeys: list[dict[str, Any]] = []
    for client_key in keys:
        facts = facts_of(
            client_key, people[client_key], None if journeys_made is None else journeys_made[client_key]
        )
        _rows(facts, episodes, interventions, journeys)
    for table, rows in ((EPISODES, episodes), (INTERVENTIONS, interventions), (JOURNEYS, journeys)):
        insert_rows(session, table, rows)


def _rows(facts: Facts, episodes: list[Any], interventions: list[Any], journeys: list[Any]) -> None:
    for e in facts.episodes:
        first = e.first_structured_start
        key = {"client_key": e.client_key, "provider_id": e.provider_id, "episode_id": e.episode_id}
        episodes.append(
            {
                **key,
                "local_authority": e.local_authority,
                "referral_date": e.referral_date,
                "first_structured_start": first,
                "wait_days": (first - e.referral_date).days if first else None,
                "discharge_date": e.discharge_date,
            }
        )
        interventions.extend(
            {**key, "position": n, "start_date": s.start, "end_date": s.end}
            for n, s in enumerate(e.structured)
        )
    for j in facts.journeys:
        ended, start = j.discharge_date, j.structured_start
        journeys.append(
            {
                "client_key": j.client_key,
                "journey_id": j.journey_id,
                "structured_start": start,
                "discharge_date": ended,
                "discharge_reason": j.discharge_reason.value if j.discharge_reason else None,
                "provider_id": j.provider_id,
                "local_authority": j.local_authority,
                "next_start": j.next_start,
                "days_to_discharge": (ended - start).days if ended and start else None,
                "days_to_next": (j.next_start - ended).days if ended and j.next_start else None,
            }
        )


def mark_complete(session: Session) -> None:
    """Every episode's facts are in (after a rebuild from the first offset)."""
    session.execute(update(store.MeasuresStateRow).values(complete=True))


def is_complete(session: Session) -> bool:
    return bool(session.scalar(select(store.MeasuresStateRow.complete)))


def measure_rows(session: Session, period: Period, breakdown: Breakdown | None) -> list[MeasureRow]:
    if not is_complete(session):
        raise MeasuresIncomplete(
            "this journey store was made before the treatment measures: run `ndtms journeys rebuild` once"
        )
    return rows_of(tallies(session, period, breakdown), breakdown)


def tallies(session: Session, period: Period, breakdown: Breakdown | None) -> Tallies:
    t = Tallies()
    _in_treatment(session, t, period, breakdown)
    e = EPISODES.c
    started = e.first_structured_start.between(period.start, period.end)
    for group, days, n in _grouped(session, EPISODES, [e.wait_days], started, breakdown):
        for g in _national_and(group, breakdown):
            t.waits[g][int(days)] += n
    waiting = and_(
        e.referral_date < period.end - timedelta(days=WAIT_EXPECTED_DAYS),
        or_(e.discharge_date.is_(None), e.discharge_date > period.end),
        or_(e.first_structured_start.is_(None), e.first_structured_start > period.end),
    )
    _count(session, t, "waiting_now_over_21_days", EPISODES, waiting, breakdown)
    for measure, where in _journey_measures(period).items():
        _count(session, t, measure, JOURNEYS, where, breakdown)
    return t


def _journey_measures(period: Period) -> dict[str, ColumnElement[bool]]:
    j = JOURNEYS.c
    started = j.structured_start.between(period.start, period.end)
    cohort = and_(started, j.structured_start <= period.end - timedelta(days=RETAINED_DAYS))
    completed_reasons = [r.value for r in COMPLETED]
    ended = j.discharge_date.between(period.start, period.end)
    completed = and_(ended, j.discharge_reason.in_(completed_reasons))
    represented = and_(j.next_start <= period.end, j.days_to_next <= REPRESENTATION_DAYS)
    unplanned = and_(ended, j.discharge_reason.in_([r.value for r in UNPLANNED]))
    return {
        "new_presentations": started,
        "retention_cohort": cohort,
        "retained": and_(
            cohort,
            or_(
                j.discharge_date.is_(None),
                j.days_to_discharge >= RETAINED_DAYS,
                j.discharge_reason.in_(completed_reasons),
            ),
        ),
        "successful_completions": completed,
        "representations_6_months": and_(completed, represented),
        "representations_window_open": and_(
            completed,
            not_(func.coalesce(represented, False)),
            j.discharge_date > period.end - timedelta(days=REPRESENTATION_DAYS),
        ),
        "unplanned_exits": unplanned,
        "early_unplanned_exits": and_(unplanned, j.days_to_discharge < RETAINED_DAYS),
    }


def _group(table: Any, breakdown: Breakdown | None) -> Any:
    return table.c.provider_id if breakdown is Breakdown.PROVIDER else table.c.local_authority


def _grouped(session: Session, table: Any, keys: list[Any], where: Any, by: Breakdown | None) -> Any:
    """(group, *keys, count) rows; nationally the group is None (no GROUP BY on a constant:
    PostgreSQL refuses one)."""
    if by is None:
        query: Select[Any] = select(*keys, func.count()).where(where)
        return ((None, *row) for row in session.execute(query.group_by(*keys) if keys else query))
    group = _group(table, by)
    return session.execute(select(group, *keys, func.count()).where(where).group_by(group, *keys))


def _count(
    session: Session,
    t: Tallies,
    measure: str,
    table: Any,
    where: ColumnElement[bool],
    breakdown: Breakdown | None,
) -> None:
    for g, n in _grouped(session, table, [], where, breakdown):
        for target in _national_and(g, breakdown):
            t.counts[measure][target] += n


def _national_and(group: str | None, breakdown: Breakdown | None) -> tuple[str | None, ...]:
    return (None,) if breakdown is None else (None, group)


def _in_treatment(session: Session, t: Tallies, period: Period, breakdown: Breakdown | None) -> None:
    i, e = INTERVENTIONS.c, EPISODES.c
    overlapping = and_(i.start_date <= period.end, or_(i.end_date.is_(None), i.end_date >= period.start))
    national = select(func.count(func.distinct(i.client_key))).where(overlapping)
    t.counts["in_treatment"][None] += session.scalar(national) or 0
    if breakdown is Breakdown.PROVIDER:
        per_provider = (
            select(i.provider_id, func.count(func.distinct(i.client_key)))
            .where(overlapping)
            .group_by(i.provider_id)
        )
        for provider, n in session.execute(per_provider):
            t.counts["in_treatment"][provider] += n
    elif breakdown is Breakdown.LA:
        treated = (
            select(e.client_key, e.provider_id, e.episode_id, e.referral_date, e.local_authority)
            .join(
                INTERVENTIONS,
                and_(
                    i.client_key == e.client_key, i.provider_id == e.provider_id, i.episode_id == e.episode_id
                ),
            )
            .where(overlapping)
            .distinct()
            .subquery()
        )
        latest = func.row_number().over(
            partition_by=treated.c.client_key,
            order_by=(
                treated.c.referral_date.desc(),
                treated.c.provider_id.desc(),
                treated.c.episode_id.desc(),
            ),
        )
        ranked = select(treated.c.local_authority, latest.label("n")).subquery()
        per_la = (
            select(ranked.c.local_authority, func.count())
            .where(ranked.c.n == 1)
            .group_by(ranked.c.local_authority)
        )
        for la, n in session.execute(per_la):
            t.counts["in_treatment"][la] += n
