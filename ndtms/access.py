"""Who may call the HTTP APIs: API keys bound to provider codes or to the operations role.

Operators issue and revoke keys with `ndtms credentials`; the services read the same store
and notice changes without a restart, so a revoked key stops working within a request or two
(a second for a database store). The store is a file (`NDTMS_CREDENTIALS_FILE`, default
`state/credentials.json`), or, where instances run on several machines, a table of a shared
database (`NDTMS_CREDENTIALS_URL`; the rehearsal's PostgreSQL when it runs several instances:
`ndtms.credential_table`). Only a SHA-256 digest of each key is stored (keys are 256-bit
random, so a plain digest is not guessable); the key itself is shown once, when issued, and
never logged.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import secrets
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass

KEY_PREFIX = "ndtms_"
log = logging.getLogger(__name__)


class UnknownCredential(KeyError):
    pass


@dataclass(frozen=True)
class Credential:
    id: str
    name: str
    key_digest: str
    providers: tuple[str, ...]
    operations: bool
    issued_at: str
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def may_publish_for(self, provider_id: str) -> bool:
        return provider_id in self.providers

    def public(self) -> dict[str, object]:
        """What may be shown: everything but the digest."""
        shown = asdict(self)
        shown.pop("key_digest")
        return shown


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class Credentials(ABC):
    """A store of credentials: what every backend shares (issuing, checking a key)."""

    @abstractmethod
    def _current(self) -> dict[str, Credential]:
        """Every credential by id, as the store has it now (or a moment ago)."""

    @abstractmethod
    def _add(self, credential: Credential) -> None: ...

    @abstractmethod
    def _revoke(self, credential_id: str, at: str) -> Credential:
        """The credential as revoked; UnknownCredential when there is none with this id."""

    def all(self) -> list[Credential]:
        return list(self._current().values())

    def issue(
        self, name: str, providers: tuple[str, ...], operations: bool, now: datetime
    ) -> tuple[Credential, str]:
        if not providers and not operations:
            raise ValueError("a credential needs at least one provider code or the operations role")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        credential = Credential(
            id=secrets.token_hex(6),
            name=name,
            key_digest=digest(key),
            providers=tuple(sorted(set(providers))),
            operations=operations,
            issued_at=now.isoformat(),
        )
        self._add(credential)
        return credential, key

    def revoke(self, credential_id: str, now: datetime) -> Credential:
        return self._revoke(credential_id, now.isoformat())

    def authenticate(self, key: str) -> Credential | None:
        """The active credential this key belongs to, or None."""
        credential = self.holder_of(key)
        return credential if credential is not None and credential.active else None

    def holder_of(self, key: str) -> Credential | None:
        """The credential this key was issued as, revoked or not; None for a key never issued."""
        wanted = digest(key)
        for credential in self._current().values():
            if secrets.compare_digest(credential.key_digest, wanted):
                return credential
        return None


class CredentialStore(Credentials):
    """Credentials in a JSON file, re-read when it changes; changed under a lock file."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._credentials: dict[str, Credential] = {}

    def _current(self) -> dict[str, Credential]:
        with self._lock:
            try:
                stat = self.path.stat()
            except FileNotFoundError:
                self._stamp, self._credentials = None, {}
                return self._credentials
            stamp = (stat.st_mtime_ns, stat.st_size)
            if stamp != self._stamp:
                try:
                    data = json.loads(self.path.read_text(encoding="utf-8"))
                    self._credentials = {
                        c["id"]: Credential(**{**c, "providers": tuple(c["providers"])})
                        for c in data["credentials"]
                    }
                except (ValueError, KeyError, TypeError) as exc:
                    # Keep the last good store: a half-edited file must not let anyone in or lock all out
                    log.error(
                        "credential store %s is not valid (%s); keeping the last good one", self.path, exc
                    )
                self._stamp = stamp
            return self._credentials

    def _save(self, credentials: dict[str, Credential]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        body = json.dumps({"credentials": [asdict(c) for c in credentials.values()]}, indent=2)
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(body)
        partial.replace(self.path)

    @contextmanager
    def _exclusive(self) -> Iterator[dict[str, Credential]]:
        """The store as it is on disk now, to change and save while no other writer (another
        operator, another process) can: without it two keys issued at once lost one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.with_suffix(".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            with self._lock:
                self._stamp = None  # read again: another writer may have saved a moment ago
            yield dict(self._current())

    def _add(self, credential: Credential) -> None:
        with self._exclusive() as credentials:
            self._save({**credentials, credential.id: credential})

    def _revoke(self, credential_id: str, at: str) -> Credential:
        with self._exclusive() as credentials:
            if credential_id not in credentials:
                raise UnknownCredential(credential_id)
            revoked = replace(credentials[credential_id], revoked_at=at)
            credentials[credential_id] = revoked
            self._save(credentials)
        return revoked
