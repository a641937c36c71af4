"""Instances started together on one fresh PostgreSQL database all come up: the journey store's
migrations, the extract ledger's and the API keys' tables are made once, the others wait
(a rehearsal's second journey instance died of a duplicate CREATE TABLE before)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from sqlalchemy import inspect

from ndtms.databases import engine_for
from ndtms.localrun.postgres import fresh_database

START = """
import sys
from ndtms.credential_table import CredentialTable
from ndtms.databases import engine_for
from services.ingest.ledger import ExtractLedger
from services.journey import store
url = sys.argv[1]
store.migrate(engine_for(url))
ExtractLedger(url)
CredentialTable(url)
"""


@pytest.mark.parametrize("attempt", range(2))
def test_instances_starting_at_once_on_a_fresh_database_all_start(postgres_server: str, attempt: int) -> None:
    url = fresh_database(postgres_server, f"test_{time.time_ns()}")
    starting = [
        subprocess.Popen([sys.executable, "-c", START, url], stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    failures = [p.communicate(timeout=120)[1] for p in starting if p.wait(120) != 0]
    assert failures == [], failures[0][-2000:] if failures else ""
    tables = set(inspect(engine_for(url)).get_table_names())
    assert {"journey_partitions", "extract_episodes", "api_credentials", "alembic_version"} <= tables
