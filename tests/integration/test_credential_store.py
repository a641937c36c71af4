"""The API-key store written by several processes at once (operators, instances): the file on
one machine, and the table of a shared database (SQLite and a real PostgreSQL server)."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ndtms.access import Credentials, CredentialStore
from ndtms.credential_table import FRESH_FOR_SECONDS, CredentialTable
from ndtms.localrun.postgres import fresh_database

ISSUE = """
import sys
from datetime import UTC, datetime
from pathlib import Path
from ndtms.access import CredentialStore
from ndtms.credential_table import CredentialTable
where = sys.argv[1]
store = CredentialTable(where) if "://" in where else CredentialStore(Path(where))
for n in range(15):
    store.issue(f"{sys.argv[2]}-{n}", ("P0001",), operations=False, now=datetime.now(UTC))
"""


@pytest.fixture(params=["file", "sqlite", "postgresql"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A file, or a table of a database: SQLite, or a fresh database on the PostgreSQL server."""
    if request.param == "file":
        return str(tmp_path / "credentials.json")
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'credentials.db'}"
    server: str = request.getfixturevalue("postgres_server")
    return fresh_database(server, f"test_{time.time_ns()}")


def store_at(where: str) -> Credentials:
    return CredentialTable(where) if "://" in where else CredentialStore(Path(where))


def test_keys_issued_at_once_by_several_processes_are_all_kept(where: str) -> None:
    store_at(where)  # the table exists before the writers race to make it
    writers = [subprocess.Popen([sys.executable, "-c", ISSUE, where, f"writer{w}"]) for w in range(6)]
    assert [w.wait(120) for w in writers] == [0] * 6
    names = sorted(c.name for c in store_at(where).all())
    assert names == sorted(f"writer{w}-{n}" for w in range(6) for n in range(15))


def test_a_revocation_and_an_issue_at_once_both_land(where: str) -> None:
    store = store_at(where)
    first, _ = store.issue("old", ("P0001",), operations=False, now=datetime.now(UTC))
    issuing = subprocess.Popen([sys.executable, "-c", ISSUE, where, "new"])
    store.revoke(first.id, datetime.now(UTC))
    assert issuing.wait(120) == 0
    kept = {c.name: c for c in store_at(where).all()}
    assert kept["old"].revoked_at is not None and len(kept) == 16


def test_a_key_revoked_through_one_instance_stops_working_on_another_within_a_second(
    database_url: str,
) -> None:
    operator, other_instance = CredentialTable(database_url), CredentialTable(database_url)
    credential, key = operator.issue("vendor", ("P0001",), operations=False, now=datetime.now(UTC))
    time.sleep(FRESH_FOR_SECONDS)
    assert other_instance.authenticate(key) == credential
    operator.revoke(credential.id, datetime.now(UTC))
    time.sleep(FRESH_FOR_SECONDS)
    assert other_instance.authenticate(key) is None
    holder = other_instance.holder_of(key)
    assert holder is not None and holder.revoked_at is not None
