"""The journey store: accepted episodes, consumed offsets and the outbox, in one database.

Offsets live in the same transaction as the state they produced, so a crash neither loses
nor double-applies an update; journeys to publish wait in the outbox until the broker has
them, so a crash between commit and publish loses no publication either.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    delete,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from ndtms.contract.journeys import ClientJourneys


class Base(DeclarativeBase):
    pass


class EpisodeRow(Base):
    __tablename__ = "episodes"

    # Keyed by person too: when attributors change, the validator withdraws the episode from
    # the old person and files it under the new one with the same revision.
    client_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    provider_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    episode_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    span: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class OffsetRow(Base):
    __tablename__ = "consumer_offsets"

    topic: Mapped[str] = mapped_column(String(200), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    next_offset: Mapped[int] = mapped_column(BigInteger)


class PersonRow(Base):
    """The person's current journeys as published (the query API's read model)."""

    __tablename__ = "people"

    client_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class JourneyRow(Base):
    """One journey, for listing and filtering across people."""

    __tablename__ = "journeys"
    __table_args__ = (Index("ix_journeys_status_start", "status", "start_date"),)

    client_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    journey_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    start_date: Mapped[date] = mapped_column(Date)
    discharge_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    discharge_reason: Mapped[str | None] = mapped_column(String(60), nullable=True)
    status: Mapped[str] = mapped_column(String(10))


class JourneyProviderRow(Base):
    """Which providers a journey's episodes are with, for the provider filter."""

    __tablename__ = "journey_providers"
    __table_args__ = (Index("ix_journey_providers_provider", "provider_id"),)

    client_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    journey_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    provider_id: Mapped[str] = mapped_column(String(40), primary_key=True)


class OutboxRow(Base):
    __tablename__ = "outbox"
    # Ids only grow, even after every row is deleted: the publication fence relies on it.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_key: Mapped[str] = mapped_column(String(32))
    value: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class StoreIdentityRow(Base):
    """This store's random name, carried by its publications (see the fence in service.py)."""

    __tablename__ = "store_identity"

    name: Mapped[str] = mapped_column(String(36), primary_key=True)


MIGRATIONS = Path(__file__).parent / "migrations"


def migrate(engine: Engine) -> None:
    """Bring the database to the newest schema (Alembic, `services/journey/migrations/`)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def save_people(session: Session, records: Mapping[str, ClientJourneys | None]) -> set[str]:
    """Replace these people's read model: document, journeys and providers (None removes them).

    Returns the people whose stored document changed: only they need publishing again.
    """
    keys = sorted(records)
    if not keys:
        return set()
    people = {
        p.client_key: p for p in session.scalars(select(PersonRow).where(PersonRow.client_key.in_(keys)))
    }
    documents = {k: None if r is None else r.model_dump(mode="json") for k, r in records.items()}
    changed = sorted(
        k for k in keys if _content(documents[k]) != _content(people[k].document if k in people else None)
    )
    if not changed:
        return set()
    session.execute(delete(JourneyProviderRow).where(JourneyProviderRow.client_key.in_(changed)))
    session.execute(delete(JourneyRow).where(JourneyRow.client_key.in_(changed)))
    for client_key in changed:
        record, person, document = records[client_key], people.get(client_key), documents[client_key]
        if record is None or document is None:
            if person is not None:
                session.delete(person)
            continue
        if person is None:
            session.add(PersonRow(client_key=client_key, document=document, updated_at=record.updated_at))
        else:
            person.document, person.updated_at = document, record.updated_at
        session.add_all(_journey_rows(client_key, record))
    return set(changed)


def _content(document: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a person's record says, leaving out when it was computed."""
    return None if document is None else {k: v for k, v in document.items() if k != "updated_at"}


def save_person(session: Session, client_key: str, record: ClientJourneys | None) -> None:
    save_people(session, {client_key: record})


def _journey_rows(client_key: str, record: ClientJourneys) -> list[Base]:
    rows: list[Base] = []
    for journey in record.journeys:
        rows.append(
            JourneyRow(
                client_key=client_key,
                journey_id=journey.journey_id,
                start_date=journey.start_date,
                discharge_date=journey.discharge_date,
                discharge_reason=journey.discharge_reason.value if journey.discharge_reason else None,
                status=journey.status.value,
            )
        )
        rows.extend(
            JourneyProviderRow(client_key=client_key, journey_id=journey.journey_id, provider_id=provider)
            for provider in sorted({e.provider_id for e in journey.episodes})
        )
    return rows


def stored_offsets(session: Session, topic: str) -> dict[int, int]:
    rows = session.scalars(select(OffsetRow).where(OffsetRow.topic == topic))
    return {row.partition: row.next_offset for row in rows}


def record_offset(session: Session, topic: str, partition: int, next_offset: int) -> None:
    row = session.get(OffsetRow, (topic, partition))
    if row is None:
        session.add(OffsetRow(topic=topic, partition=partition, next_offset=next_offset))
    elif next_offset > row.next_offset:
        row.next_offset = next_offset


HeldEpisodes = defaultdict[str, dict[tuple[str, str], "EpisodeRow"]]


def episodes_of_people(session: Session, client_keys: Iterable[str]) -> HeldEpisodes:
    """Every stored episode of these people, by person and (provider, episode)."""
    held: HeldEpisodes = defaultdict(dict)
    keys = sorted(client_keys)
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        for row in session.scalars(select(EpisodeRow).where(EpisodeRow.client_key.in_(chunk))):
            held[row.client_key][(row.provider_id, row.episode_id)] = row
    return held


def episodes_of(session: Session, client_key: str) -> Sequence[EpisodeRow]:
    return session.scalars(select(EpisodeRow).where(EpisodeRow.client_key == client_key)).all()


def pending_publications(session: Session, limit: int = 1000) -> Sequence[OutboxRow]:
    return session.scalars(select(OutboxRow).order_by(OutboxRow.id).limit(limit)).all()


def forget_publications(session: Session, ids: Sequence[int]) -> None:
    if ids:
        session.execute(delete(OutboxRow).where(OutboxRow.id.in_(ids)))


def store_name(session: Session) -> str:
    name = session.scalars(select(StoreIdentityRow.name)).first()
    if name is None:
        raise RuntimeError("the journey store has no name: run its migrations")
    return name


def forget_publications_through(session: Session, last_id: int) -> int:
    """Rows up to `last_id` are on the topic already; the number forgotten."""
    result = session.execute(delete(OutboxRow).where(OutboxRow.id <= last_id))
    return int(getattr(result, "rowcount", 0) or 0)
