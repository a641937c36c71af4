"""Ingest instances: one per SQLite ledger, and it says it is single-instance."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx


def ingest(state: Path, port: int, log: Path | None = None) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "NDTMS_STATE_DIR": str(state),
        "NDTMS_INGEST_PORT": str(port),
        # No broker is needed to decide this: the ledger is claimed before anything else.
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "NDTMS_SCHEMA_REGISTRY_URL": "http://127.0.0.1:1",
    }
    out = log.open("w") if log is not None else subprocess.PIPE
    return subprocess.Popen([sys.executable, "-m", "services.ingest"], env=env, stderr=out, text=True)


def test_a_second_ingest_on_the_same_sqlite_ledger_refuses_and_the_first_says_it_is_alone(
    tmp_path: Path,
) -> None:
    first = ingest(tmp_path, 28731, log=tmp_path / "first.log")
    second: subprocess.Popen[str] | None = None
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get("http://127.0.0.1:28731/v1/live", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and first.poll() is None, (tmp_path / "first.log").read_text()
            time.sleep(0.2)
        assert "this ingest must be the only instance" in (tmp_path / "first.log").read_text()
        second = ingest(tmp_path, 28732)
        _, said = second.communicate(timeout=60)
        assert second.returncode != 0
        assert f"already in use by process {first.pid}" in said
        assert "set NDTMS_INGEST_LEDGER_URL to a shared PostgreSQL database" in said
        assert first.poll() is None
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(30)
