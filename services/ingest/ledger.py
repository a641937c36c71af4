"""What each provider's extracts last published per episode: revision and content digest.

Kept in a small database (SQLite under the state folder by default, `NDTMS_INGEST_LEDGER_URL`
for a shared one) so that `ndtms publish extract.csv` and `POST /v1/extracts` on the same
deployment derive the same revisions. A row is recorded only after the broker acknowledged
its update: a crash in between republishes the same revision, which downstream applies once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from sqlalchemy import BigInteger, Boolean, String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from ndtms.databases import engine_for
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
        self.engine = engine_for(url)
        _Base.metadata.create_all(self.engine)

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
