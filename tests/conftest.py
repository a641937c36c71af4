from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ndtms.localrun.postgres import fresh_database, postgres_running
from ndtms_contract.settings import PlatformSettings
from tests.platform import running_platform

TEST_POSTGRES_PORT = 25432


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformSettings]:
    """A real Kafka broker and schema registry for the whole test session."""
    with running_platform(tmp_path_factory.mktemp("ndtms-state")) as settings:
        yield settings


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A real PostgreSQL server (Debian's binaries) for the session.

    `NDTMS_TEST_POSTGRES_URL` (a database the tests may create databases beside) uses another."""
    configured = os.environ.get("NDTMS_TEST_POSTGRES_URL")
    if configured:
        yield configured
        return
    with postgres_running(TEST_POSTGRES_PORT) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty journey database: SQLite in a file, or a fresh database on the PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'journeys.db'}"
    server: str = request.getfixturevalue("postgres_server")
    return fresh_database(server, f"test_{time.time_ns()}")
