"""What each provider's extracts last published per episode: revision and content digest.

Kept in a small database (SQLite under the state folder by default, `NDTMS_INGEST_LEDGER_URL`
for a shared one) so that `ndtms publish extract.csv` and `POST /v1/extracts` on the same
deployment derive the same revisions. A row is recorded only after the broker acknowledged
its update: a crash in between republishes the same revision, which downstream applies once.

One extract of a provider at a time (`provider_lock`), from planning its revisions to recording
what was published, so two extracts sent at once (to two ingest instances, or the command and
the API) give each changed row its own revision instead of the same one with two contents.
"""

from __future__ import annotations

import fcntl
import hashlib
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import BigInteger, Boolean, String, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from ndtms.databases import create_tables, engine_for
from services.ingest.extracts import Held


class _Base(DeclarativeBase):
    pass


class LedgerRow(_Base):
    __tablename__ = "extract_episodes"

    provider_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    episode_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger)
    digest: Mapped[str] = mapped_column(String(64))


class ConsentRow(_Base):
    """The consent flag each episode was last published (or objected) with."""

    __tablename__ = "extract_consents"

    provider_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    episode_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    consented: Mapped[bool] = mapped_column(Boolean)


class ExtractLedger:
    def __init__(self, url: str):
        self.url = url
        self.engine = engine_for(url)
        create_tables(self.engine, _Base.metadata, "extract-ledger")

    @contextmanager
    def provider_lock(self, provider_id: str) -> Iterator[None]:
        """Hold the provider's extracts to one at a time, across processes: a PostgreSQL advisory
        lock on a shared ledger (released if the process dies: its session ends), a lock file
        beside a SQLite one (the same machine's processes are all that can open it)."""
        name = f"ndtms-extract|{provider_id}"
        if self.engine.dialect.name == "postgresql":
            with self.engine.connect() as connection:
                connection.execute(
                    text("SELECT pg_advisory_lock(hashtextextended(:name, 0))"), {"name": name}
                )
                try:
                    yield
                finally:
                    connection.execute(
                        text("SELECT pg_advisory_unlock(hashtextextended(:name, 0))"), {"name": name}
                    )
            return
        database = Path(self.url.removeprefix("sqlite:///")) if self.url.startswith("sqlite:///") else None
        folder = database.parent if database is not None else Path(tempfile.gettempdir())
        digest = hashlib.sha256(f"{self.url}|{name}".encode()).hexdigest()[:16]
        with (folder / f".extract-{digest}.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def held(self, provider_id: str, episode_ids: Iterable[str]) -> dict[str, Held]:
        ids = sorted(set(episode_ids))
        found: dict[str, Held] = {}
        with Session(self.engine) as session:
            for start in range(0, len(ids), 500):
                query = select(LedgerRow).where(
                    LedgerRow.provider_id == provider_id, LedgerRow.episode_id.in_(ids[start : start + 500])
                )
                consents = {
                    c.episode_id: c.consented
                    for c in session.scalars(
                        select(ConsentRow).where(
                            ConsentRow.provider_id == provider_id,
                            ConsentRow.episode_id.in_(ids[start : start + 500]),
                        )
                    )
                }
                for row in session.scalars(query):
                    found[row.episode_id] = Held(row.revision, row.digest, consents.get(row.episode_id))
        return found

    def record(self, provider_id: str, published: Iterable[tuple[str, int, str, bool]]) -> None:
        """(episode, revision, digest, consent) of what the broker acknowledged (or the objection
        it recorded)."""
        with Session(self.engine) as session, session.begin():
            for episode_id, revision, digest, consented in published:
                session.merge(ConsentRow(provider_id=provider_id, episode_id=episode_id, consented=consented))
                row = session.get(LedgerRow, (provider_id, episode_id))
                if row is None:
                    session.add(
                        LedgerRow(
                            provider_id=provider_id, episode_id=episode_id, revision=revision, digest=digest
                        )
                    )
                elif revision >= row.revision:
                    row.revision, row.digest = revision, digest

    def known(self, provider_id: str) -> Iterator[str]:
        with Session(self.engine) as session:
            yield from session.scalars(
                select(LedgerRow.episode_id)
                .where(LedgerRow.provider_id == provider_id)
                .order_by(LedgerRow.episode_id)
            )
