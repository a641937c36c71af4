"""The API-key store on disk, written by several processes at once (operators, instances)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from ndtms.access import CredentialStore

ISSUE = """
import sys
from datetime import UTC, datetime
from pathlib import Path
from ndtms.access import CredentialStore
store = CredentialStore(Path(sys.argv[1]))
for n in range(15):
    store.issue(f"{sys.argv[2]}-{n}", ("P0001",), operations=False, now=datetime.now(UTC))
"""


def test_keys_issued_at_once_by_several_processes_are_all_kept(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    writers = [subprocess.Popen([sys.executable, "-c", ISSUE, str(path), f"writer{w}"]) for w in range(6)]
    assert [w.wait(120) for w in writers] == [0] * 6
    names = sorted(c.name for c in CredentialStore(path).all())
    assert names == sorted(f"writer{w}-{n}" for w in range(6) for n in range(15))


def test_a_revocation_and_an_issue_at_once_both_land(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    store = CredentialStore(path)
    first, _ = store.issue("old", ("P0001",), operations=False, now=datetime.now(UTC))
    issuing = subprocess.Popen([sys.executable, "-c", ISSUE, str(path), "new"])
    store.revoke(first.id, datetime.now(UTC))
    assert issuing.wait(120) == 0
    kept = {c.name: c for c in CredentialStore(path).all()}
    assert kept["old"].revoked_at is not None and len(kept) == 16
