"""Opening a service's database: SQLite files made durable and concurrent, anything else as given."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, create_engine, event, text
from sqlalchemy.engine import Connection, Engine


def engine_for(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection: Any, _record: Any) -> None:
            # WAL lets readers (the query API, a second command) run beside the writer;
            # synchronous=FULL makes a committed transaction survive a power cut.
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


@contextmanager
def schema_changes(engine: Engine, name: str) -> Iterator[Connection]:
    """A transaction in which to create or migrate tables that several instances starting at
    once would otherwise create side by side (PostgreSQL refuses the second CREATE TABLE with a
    duplicate key, and the instance dies): a transaction-scoped advisory lock makes them take
    turns, and the second finds the tables made. SQLite serialises writers by itself."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))"),
                {"name": f"ndtms-schema|{name}"},
            )
        yield connection


def create_tables(engine: Engine, metadata: MetaData, name: str) -> None:
    with schema_changes(engine, name) as connection:
        metadata.create_all(connection)
