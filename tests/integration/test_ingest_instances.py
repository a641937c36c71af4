"""Ingest and journey instances: one per SQLite ledger or store, and ingest says it is single-instance."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ndtms.localrun.services import service_environment
from ndtms_contract.settings import PlatformSettings


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


def wait_live(url: str, process: subprocess.Popen[str], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/v1/live", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline and process.poll() is None, log.read_text()
        time.sleep(0.2)


def test_a_second_ingest_on_the_same_sqlite_ledger_refuses_and_the_first_says_it_is_alone(
    tmp_path: Path,
) -> None:
    first = ingest(tmp_path, 28731, log=tmp_path / "first.log")
    second: subprocess.Popen[str] | None = None
    try:
        wait_live("http://127.0.0.1:28731", first, tmp_path / "first.log", 60)
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


@pytest.mark.broker
def test_a_second_journey_service_on_the_same_sqlite_store_refuses(
    platform: PlatformSettings, tmp_path: Path
) -> None:
    env = service_environment(platform) | {
        "NDTMS_STATE_DIR": str(tmp_path),
        "NDTMS_JOURNEY_GROUP_ID": f"journey-one-store-{time.time_ns()}",
        "NDTMS_CREDENTIALS_FILE": str(tmp_path / "credentials.json"),
    }
    argv = [sys.executable, "-m", "services.journey"]
    with (tmp_path / "first.log").open("w") as log:
        first = subprocess.Popen(argv, env=env | {"NDTMS_JOURNEY_PORT": "28733"}, stderr=log, text=True)
    try:
        wait_live("http://127.0.0.1:28733", first, tmp_path / "first.log", 120)
        second = subprocess.run(
            argv,
            check=False,
            env=env | {"NDTMS_JOURNEY_PORT": "28734"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode != 0
        assert f"already in use by process {first.pid}" in second.stderr
        assert "set NDTMS_DATABASE_URL to a shared PostgreSQL database" in second.stderr
        assert first.poll() is None
    finally:
        first.terminate()
        first.wait(30)
