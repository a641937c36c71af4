"""The journey store: accepted episodes, consumed offsets and the outbox, in one database.

Offsets live in the same transaction as the state they produced, so a crash neither loses
nor double-applies an update; journeys to publish wait in the outbox until the broker has
them, so a crash between commit and publish loses no publication either.

Longer than most modules (about 480 lines): the tables and the statements over them are kept
together because every statement is written against these tables and Alembic migrates them
from here; the bulk statements are `bulk`, ownership `ownership`, the measure facts
`measuring`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
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
    func,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from ndtms.databases import schema_changes
from ndtms_contract.journeys import ClientJourneys
from services.journey.bulk import among, chunks, insert_rows, upsert_rows
from services.journey.journeys import EpisodeSpan


class Base(DeclarativeBase):
    pass


class EpisodeRow(Base):
    __tablename__ = "episodes"
    __table_args__ = (Index("ix_episodes_provider_episode", "provider_id", "episode_id"),)

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
    __table_args__ = (Index("ix_outbox_partition_id", "partition", "id"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_key: Mapped[str] = mapped_column(String(32))
    value: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    topic: Mapped[str | None] = mapped_column(String(200), nullable=True)  # None: ndtms.journeys
    # The person's partition of ndtms.episodes.valid: its owner publishes the row. None only in
    # rows older than partition ownership, until the next start gives them one.
    partition: Mapped[int | None] = mapped_column(Integer, nullable=True)


class JourneyPartitionRow(Base):
    """Who owns a partition of ndtms.episodes.valid now (services.journey.ownership)."""

    __tablename__ = "journey_partitions"

    partition: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    # Raised by each claim; every batch, erasure and publication checks it in its own transaction.
    epoch: Mapped[int] = mapped_column(BigInteger)
    owner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # The next offset of the erasure ledger not yet swept for this partition's people.
    erasure_position: Mapped[int] = mapped_column(BigInteger)


class ErasureRow(Base):
    """A person erased (from the ledger `ndtms.erasures`): never stored again, kept through rebuilds."""

    __tablename__ = "erasures"

    client_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    ledger_offset: Mapped[int] = mapped_column(BigInteger)
    erased_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MeasureEpisodeRow(Base):
    """A community episode as the treatment measures need it (`services.journey.measures`)."""

    # No date indexes on the measure tables: a period selects a large share of the rows, and a
    # scan counts them several times faster than an index walk (measured: benchmarks.measures).
    __tablename__ = "measure_episodes"

    client_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    provider_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    episode_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    local_authority: Mapped[str] = mapped_column(String(16))
    referral_date: Mapped[date] = mapped_column(Date)
    first_structured_start: Mapped[date | None] = mapped_column(Date, nullable=True)
    wait_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    discharge_date: Mapped[date | None] = mapped_column(Date, nullable=True)


class MeasureInterventionRow(Base):
    """A structured intervention's span: start, and its end, else the episode's discharge, else open."""

    __tablename__ = "measure_interventions"

    client_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    provider_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    episode_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date, nullable=True)


class MeasureJourneyRow(Base):
    """A journey as the treatment measures need it; day counts kept so SQL need not subtract dates."""

    __tablename__ = "measure_journeys"

    client_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    journey_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    structured_start: Mapped[date | None] = mapped_column(Date, nullable=True)
    discharge_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    discharge_reason: Mapped[str | None] = mapped_column(String(60), nullable=True)
    provider_id: Mapped[str] = mapped_column(String(40))
    local_authority: Mapped[str] = mapped_column(String(16))
    next_start: Mapped[date | None] = mapped_column(Date, nullable=True)
    days_to_discharge: Mapped[int | None] = mapped_column(Integer, nullable=True)  # from structured start
    days_to_next: Mapped[int | None] = mapped_column(Integer, nullable=True)  # discharge to next start


class MeasuresStateRow(Base):
    """Whether every stored episode has its measure facts (false in a store older than them)."""

    __tablename__ = "measures_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    complete: Mapped[bool] = mapped_column(Boolean)


class StoreIdentityRow(Base):
    """This store's random name, carried by its publications (see the fence in service.py)."""

    __tablename__ = "store_identity"

    name: Mapped[str] = mapped_column(String(36), primary_key=True)


# The tables themselves, for bulk statements that need no objects per row.
EPISODES = Base.metadata.tables[EpisodeRow.__tablename__]
OFFSETS = Base.metadata.tables[OffsetRow.__tablename__]
PEOPLE = Base.metadata.tables[PersonRow.__tablename__]
JOURNEYS = Base.metadata.tables[JourneyRow.__tablename__]
JOURNEY_PROVIDERS = Base.metadata.tables[JourneyProviderRow.__tablename__]
OUTBOX = Base.metadata.tables[OutboxRow.__tablename__]
PARTITIONS = Base.metadata.tables[JourneyPartitionRow.__tablename__]
ERASURES = Base.metadata.tables[ErasureRow.__tablename__]
MEASURE_EPISODES = Base.metadata.tables[MeasureEpisodeRow.__tablename__]
MEASURE_INTERVENTIONS = Base.metadata.tables[MeasureInterventionRow.__tablename__]
MEASURE_JOURNEYS = Base.metadata.tables[MeasureJourneyRow.__tablename__]
MEASURE_TABLES = (MEASURE_EPISODES, MEASURE_INTERVENTIONS, MEASURE_JOURNEYS)
# Everything the store holds of a person, by table (the erasure list itself aside).
PERSONAL_TABLES = (EPISODES, PEOPLE, JOURNEYS, JOURNEY_PROVIDERS, OUTBOX, *MEASURE_TABLES)

MIGRATIONS = Path(__file__).parent / "migrations"


def migrate(engine: Engine) -> None:
    """Bring the database to the newest schema (Alembic, `services/journey/migrations/`)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Instances starting together take turns: the second finds the schema at head.
    with schema_changes(engine, "journey-store") as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


@dataclass(frozen=True)
class HeldEpisode:
    """An episode as the store holds it: what applying a newer revision needs to know."""

    revision: int
    deleted: bool
    span: dict[str, Any] | None
    # The span itself when this instance made it from a record: reading the JSON back was a
    # tenth of a batch on PostgreSQL (#27).
    made: EpisodeSpan | None = field(default=None, compare=False)


# Per person, per (provider, episode).
HeldEpisodes = defaultdict[str, dict[tuple[str, str], HeldEpisode]]


def episodes_of_people(session: Session, client_keys: Iterable[str]) -> HeldEpisodes:
    """Every stored episode of these people, by person and (provider, episode)."""
    held: HeldEpisodes = defaultdict(dict)
    keys = sorted(client_keys)
    table = EPISODES
    for chunk in chunks(session, keys):
        query = select(
            table.c.client_key,
            table.c.provider_id,
            table.c.episode_id,
            table.c.revision,
            table.c.deleted,
            table.c.span,
        ).where(among(session, table.c.client_key, chunk))
        for client_key, provider_id, episode_id, revision, deleted, span in session.execute(query):
            held[client_key][(provider_id, episode_id)] = HeldEpisode(revision, deleted, span)
    return held


def save_episodes(session: Session, episodes: Mapping[tuple[str, str, str], HeldEpisode]) -> None:
    """Write these (client key, provider, episode) entries, new or replacing what was held."""
    rows = [
        {
            "client_key": client_key,
            "provider_id": provider_id,
            "episode_id": episode_id,
            "revision": held.revision,
            "deleted": held.deleted,
            "span": held.span,
        }
        for (client_key, provider_id, episode_id), held in sorted(episodes.items())
    ]
    columns = ("revision", "deleted", "span")

    # An older revision never replaces a newer one, whoever writes it.
    def newer(excluded: Any) -> Any:
        return EPISODES.c.revision < excluded.revision

    upsert_rows(session, EPISODES, rows, {c: _excluded(c) for c in columns}, where=newer)


def _excluded(column: str) -> Any:
    return lambda excluded: excluded[column]


def save_people(session: Session, records: Mapping[str, ClientJourneys | None]) -> set[str]:
    """Replace these people's read model: document, journeys and providers (None removes them).

    Returns the people whose stored document changed: only they need publishing again.
    """
    keys = sorted(records)
    if not keys:
        return set()
    people = PEOPLE
    stored: dict[str, dict[str, Any]] = {}
    for chunk in chunks(session, keys):
        query = select(people.c.client_key, people.c.document).where(
            among(session, people.c.client_key, chunk)
        )
        stored.update({client_key: document for client_key, document in session.execute(query)})
    documents = {k: None if r is None else r.model_dump(mode="json") for k, r in records.items()}
    changed = [k for k in keys if _content(documents[k]) != _content(stored.get(k))]
    if not changed:
        return set()
    for chunk in chunks(session, changed):
        for table in (JOURNEY_PROVIDERS, JOURNEYS):
            session.execute(delete(table).where(among(session, table.c.client_key, chunk)))
        removed = [k for k in chunk if records[k] is None and k in stored]
        if removed:
            session.execute(delete(PEOPLE).where(among(session, PEOPLE.c.client_key, removed)))
    kept = [(k, record) for k in changed if (record := records[k]) is not None]
    person_rows = [
        {"client_key": k, "document": documents[k], "updated_at": record.updated_at} for k, record in kept
    ]
    upsert_rows(
        session,
        people,
        person_rows,
        {"document": _excluded("document"), "updated_at": _excluded("updated_at")},
    )
    journeys: list[dict[str, Any]] = []
    providers: list[dict[str, Any]] = []
    for client_key, record in kept:
        rows, provided = _journey_rows(client_key, record)
        journeys += rows
        providers += provided
    insert_rows(session, JOURNEYS, journeys)
    insert_rows(session, JOURNEY_PROVIDERS, providers)
    return set(changed)


def _content(document: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a person's record says, leaving out when it was computed."""
    return None if document is None else {k: v for k, v in document.items() if k != "updated_at"}


def save_person(session: Session, client_key: str, record: ClientJourneys | None) -> None:
    save_people(session, {client_key: record})


def _journey_rows(
    client_key: str, record: ClientJourneys
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    journeys: list[dict[str, Any]] = []
    providers: list[dict[str, Any]] = []
    for journey in record.journeys:
        journeys.append(
            {
                "client_key": client_key,
                "journey_id": journey.journey_id,
                "start_date": journey.start_date,
                "discharge_date": journey.discharge_date,
                "discharge_reason": journey.discharge_reason.value if journey.discharge_reason else None,
                "status": journey.status.value,
            }
        )
        providers.extend(
            {"client_key": client_key, "journey_id": journey.journey_id, "provider_id": provider}
            for provider in sorted({e.provider_id for e in journey.episodes})
        )
    return journeys, providers


def stored_offsets(session: Session, topic: str) -> dict[int, int]:
    rows = session.scalars(select(OffsetRow).where(OffsetRow.topic == topic))
    return {row.partition: row.next_offset for row in rows}


def record_offsets(session: Session, topic: str, next_offsets: Mapping[int, int]) -> None:
    """Store each partition's next offset; a stored one is never moved back."""
    greatest = func.max if session.get_bind().dialect.name == "sqlite" else func.greatest
    table = OFFSETS
    rows = [{"topic": topic, "partition": p, "next_offset": o} for p, o in sorted(next_offsets.items())]
    upsert_rows(
        session,
        table,
        rows,
        {"next_offset": lambda excluded: greatest(table.c.next_offset, excluded.next_offset)},
    )


def add_publications(
    session: Session,
    publications: Sequence[tuple[str, bytes | None]],
    partition: Callable[[str], int],
    topic: str | None = None,
) -> None:
    """Queue these (client key, record or tombstone) for publishing, in this order (on `topic`,
    `ndtms.journeys` when None), each under its person's partition."""
    if publications:
        rows = [
            {"client_key": k, "value": value, "topic": topic, "partition": partition(k)}
            for k, value in publications
        ]
        insert_rows(session, OUTBOX, rows)


def erased_people(session: Session) -> set[str]:
    return set(session.scalars(select(ErasureRow.client_key)))


def ledger_position(session: Session) -> int:
    """The next ledger offset this store has not applied."""
    last = session.scalar(select(func.max(ErasureRow.ledger_offset)))
    return 0 if last is None else int(last) + 1


def erase(session: Session, client_key: str, ledger_offset: int, erased_at: datetime) -> int:
    """Delete every row of a person and list them as erased; the number of rows deleted."""
    removed = 0
    for table in PERSONAL_TABLES:
        result = session.execute(delete(table).where(table.c.client_key == client_key))
        removed += int(getattr(result, "rowcount", 0) or 0)
    row = {"client_key": client_key, "ledger_offset": ledger_offset, "erased_at": erased_at}
    upsert_rows(session, ERASURES, [row], {"ledger_offset": _excluded("ledger_offset")})
    return removed


def episodes_of(session: Session, client_key: str) -> Sequence[EpisodeRow]:
    return session.scalars(select(EpisodeRow).where(EpisodeRow.client_key == client_key)).all()


@dataclass(frozen=True)
class Pending:
    """An outbox row waiting for its partition's publisher."""

    id: int
    partition: int
    client_key: str
    value: bytes | None
    topic: str | None  # None: ndtms.journeys


def pending_publications_of(session: Session, partitions: Sequence[int], limit: int) -> list[Pending]:
    """The oldest `limit` rows waiting in these partitions, by id: each partition's in its order."""
    o = OUTBOX.c
    query = (
        select(o.id, o.partition, o.client_key, o.value, o.topic)
        .where(o.partition.in_(sorted(partitions)))
        .order_by(o.id)
        .limit(limit)
    )
    return [Pending(*row) for row in session.execute(query)]


def every_pending_publication(session: Session) -> Sequence[OutboxRow]:
    return session.scalars(select(OutboxRow).order_by(OutboxRow.id)).all()


def forget_publications(session: Session, ids: Sequence[int]) -> None:
    if ids:
        session.execute(delete(OutboxRow).where(OutboxRow.id.in_(ids)))


def store_name(session: Session) -> str:
    name = session.scalars(select(StoreIdentityRow.name)).first()
    if name is None:
        raise RuntimeError("the journey store has no name: run its migrations")
    return name


def forget_publications_through(session: Session, partition: int, last_id: int) -> int:
    """The partition's rows up to `last_id` are on the topic already; the number forgotten."""
    result = session.execute(
        delete(OutboxRow).where(OutboxRow.partition == partition, OutboxRow.id <= last_id)
    )
    return int(getattr(result, "rowcount", 0) or 0)
