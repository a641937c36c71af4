"""Reading the journey store for the query API: one person, or journeys filtered and paged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ndtms_contract.journeys import JourneyStatus
from services.journey.store import EpisodeRow, JourneyProviderRow, JourneyRow, PersonRow


@dataclass(frozen=True)
class JourneyFilter:
    status: JourneyStatus | None = None
    provider: str | None = None
    started_from: date | None = None
    started_to: date | None = None


@dataclass(frozen=True)
class JourneyPage:
    items: list[dict[str, Any]]
    page: int
    page_size: int
    total: int

    @property
    def next_page(self) -> int | None:
        return self.page + 1 if self.page * self.page_size < self.total else None


def person_document(session: Session, client_key: str) -> dict[str, Any] | None:
    row = session.get(PersonRow, client_key)
    return dict(row.document) if row is not None else None


def person_of_episode(session: Session, provider_id: str, episode_id: str) -> str | None:
    """The client key of the person an episode is filed under now (not withdrawn)."""
    return session.scalar(
        select(EpisodeRow.client_key)
        .where(
            EpisodeRow.provider_id == provider_id,
            EpisodeRow.episode_id == episode_id,
            EpisodeRow.deleted.is_(False),
        )
        .order_by(EpisodeRow.revision.desc())
        .limit(1)
    )


def list_journeys(session: Session, where: JourneyFilter, page: int, page_size: int) -> JourneyPage:
    query = select(JourneyRow)
    if where.status is not None:
        query = query.where(JourneyRow.status == where.status.value)
    if where.started_from is not None:
        query = query.where(JourneyRow.start_date >= where.started_from)
    if where.started_to is not None:
        query = query.where(JourneyRow.start_date <= where.started_to)
    if where.provider is not None:
        query = query.where(
            select(JourneyProviderRow)
            .where(
                JourneyProviderRow.client_key == JourneyRow.client_key,
                JourneyProviderRow.journey_id == JourneyRow.journey_id,
                JourneyProviderRow.provider_id == where.provider,
            )
            .exists()
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(JourneyRow.start_date, JourneyRow.client_key, JourneyRow.journey_id)
        .offset((page - 1) * page_size)
        .limit(page_size)
    ).all()
    providers = _providers_of(session, [(r.client_key, r.journey_id) for r in rows])
    items = [
        {
            "client_key": r.client_key,
            "journey_id": r.journey_id,
            "start_date": r.start_date.isoformat(),
            "discharge_date": r.discharge_date.isoformat() if r.discharge_date else None,
            "discharge_reason": r.discharge_reason,
            "status": r.status,
            "providers": providers.get((r.client_key, r.journey_id), []),
        }
        for r in rows
    ]
    return JourneyPage(items, page, page_size, total)


def _providers_of(session: Session, keys: list[tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
    if not keys:
        return {}
    people = sorted({client_key for client_key, _ in keys})
    rows = session.execute(
        select(JourneyProviderRow.client_key, JourneyProviderRow.journey_id, JourneyProviderRow.provider_id)
        .where(JourneyProviderRow.client_key.in_(people))
        .order_by(JourneyProviderRow.provider_id)
    ).all()
    found: dict[tuple[str, str], list[str]] = {}
    for client_key, journey_id, provider_id in rows:
        found.setdefault((client_key, journey_id), []).append(provider_id)
    return found
