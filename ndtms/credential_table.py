"""API credentials in a table of a shared database, for instances on several machines.

Each key is a row: issuing inserts one, revoking updates one, so writers never overwrite each
other and need no lock. Readers keep what they read for a second, so a request does not cost a
query and a revocation takes effect within a second on every instance.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import Boolean, String, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from ndtms.access import Credential, Credentials, UnknownCredential
from ndtms.databases import create_tables, engine_for

FRESH_FOR_SECONDS = 1.0


class _Base(DeclarativeBase):
    pass


class CredentialRow(_Base):
    __tablename__ = "api_credentials"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    key_digest: Mapped[str] = mapped_column(String(64), unique=True)
    providers: Mapped[str] = mapped_column(String(4000))  # space-separated provider codes
    operations: Mapped[bool] = mapped_column(Boolean)
    issued_at: Mapped[str] = mapped_column(String(40))
    revoked_at: Mapped[str | None] = mapped_column(String(40), nullable=True)


def _credential(row: CredentialRow) -> Credential:
    return Credential(
        id=row.id,
        name=row.name,
        key_digest=row.key_digest,
        providers=tuple(row.providers.split()),
        operations=row.operations,
        issued_at=row.issued_at,
        revoked_at=row.revoked_at,
    )


class CredentialTable(Credentials):
    def __init__(self, url: str):
        self.engine = engine_for(url)
        create_tables(self.engine, _Base.metadata, "credentials")
        self._lock = threading.Lock()
        self._read_at = -FRESH_FOR_SECONDS
        self._credentials: dict[str, Credential] = {}

    def _current(self) -> dict[str, Credential]:
        with self._lock:
            if time.monotonic() - self._read_at >= FRESH_FOR_SECONDS:
                with Session(self.engine) as session:
                    rows = session.scalars(select(CredentialRow)).all()
                    self._credentials = {row.id: _credential(row) for row in rows}
                self._read_at = time.monotonic()
            return self._credentials

    def _forget(self) -> None:
        with self._lock:
            self._read_at = -FRESH_FOR_SECONDS

    def _add(self, credential: Credential) -> None:
        with Session(self.engine) as session, session.begin():
            session.add(
                CredentialRow(
                    id=credential.id,
                    name=credential.name,
                    key_digest=credential.key_digest,
                    providers=" ".join(credential.providers),
                    operations=credential.operations,
                    issued_at=credential.issued_at,
                    revoked_at=credential.revoked_at,
                )
            )
        self._forget()

    def _revoke(self, credential_id: str, at: str) -> Credential:
        with Session(self.engine) as session, session.begin():
            result = session.execute(
                update(CredentialRow).where(CredentialRow.id == credential_id).values(revoked_at=at)
            )
            if not getattr(result, "rowcount", 0):
                raise UnknownCredential(credential_id)
            row = session.get(CredentialRow, credential_id)
            assert row is not None
            revoked = _credential(row)
        self._forget()
        return revoked
