"""A batch's rows into the store in a few round trips: COPY on PostgreSQL, executemany elsewhere.

Through psycopg, SQLAlchemy's executemany sends one INSERT per row (pipelined): at a batch's
thousands of rows, that per-row work was the journey's largest cost on PostgreSQL (measured
with cProfile for #27). COPY streams the rows instead. An upsert copies into a temporary
staging table, then merges it with one INSERT … SELECT … ON CONFLICT, so the rule about which
row wins stays in SQL, where two writers see each other. Lists of people are sent as one array
parameter (`= ANY`), not as a statement with hundreds of placeholders compiled each batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from psycopg import sql
from psycopg.types.json import Json
from sqlalchemy import JSON, Column, ColumnElement, MetaData, String, Table, any_, bindparam, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

Excluded = Callable[[Any], Any]
_PLACEHOLDERS = 500
_STAGING = MetaData()


def on_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def among(session: Session, column: Any, keys: Sequence[str]) -> ColumnElement[bool]:
    """`column` is one of these keys: one array parameter on PostgreSQL, IN (…) elsewhere."""
    condition: ColumnElement[bool]
    if on_postgresql(session):
        condition = column == any_(bindparam(None, list(keys), type_=ARRAY(String)))
    else:
        condition = column.in_(keys)
    return condition


def chunks(session: Session, keys: Sequence[str]) -> Iterator[Sequence[str]]:
    """These keys in as few lists as one statement may name: all at once as PostgreSQL's one
    array parameter; 500 at a time as SQLite's placeholders."""
    size = len(keys) if on_postgresql(session) else _PLACEHOLDERS
    for start in range(0, len(keys), max(size, 1)):
        yield keys[start : start + size]


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Add these rows (each with every column the first has), in this order."""
    if not rows:
        return
    if on_postgresql(session):
        _copy(session, table.name, table, rows)
    else:
        session.execute(table.insert(), list(rows))


def upsert_rows(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    update: Mapping[str, Excluded],
    where: Excluded | None = None,
) -> None:
    """Insert these rows, or set the `update` columns of those whose key exists, where
    `where(excluded)` holds when given. No two rows may share a key."""
    if not rows:
        return
    keys = [column.name for column in table.primary_key.columns]
    if on_postgresql(session):
        staging = _staging(session, table)
        _copy(session, staging.name, table, rows)
        columns = list(rows[0])
        source = select(*(staging.c[name] for name in columns))
        statement = postgresql_insert(table).from_select(columns, source)
        values = {name: value(statement.excluded) for name, value in update.items()}
        condition = where(statement.excluded) if where is not None else None
        session.execute(statement.on_conflict_do_update(index_elements=keys, set_=values, where=condition))
        return
    lite = sqlite_insert(table)
    values = {name: value(lite.excluded) for name, value in update.items()}
    condition = where(lite.excluded) if where is not None else None
    session.execute(lite.on_conflict_do_update(index_elements=keys, set_=values, where=condition), list(rows))


def _staging(session: Session, table: Table) -> Table:
    """The session's temporary copy of `table`'s columns, emptied at every commit."""
    name = f"staging_{table.name}"
    # Created in the transaction if absent: a rolled-back transaction takes it away again, so
    # "created once per connection" would be a guess; this costs one round trip with no rows.
    session.execute(
        text(f'CREATE TEMPORARY TABLE IF NOT EXISTS "{name}" (LIKE "{table.name}") ON COMMIT DELETE ROWS')
    )
    held = _STAGING.tables.get(name)
    if held is None:
        held = Table(name, _STAGING, *(Column(c.name, c.type) for c in table.columns))
    return held


def _copy(session: Session, name: str, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    columns = list(rows[0])
    as_json = [isinstance(table.c[c].type, JSON) for c in columns]
    driver = session.connection().connection.driver_connection
    assert driver is not None
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(name), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(
                [
                    Json(row[c]) if json and row[c] is not None else row[c]
                    for c, json in zip(columns, as_json, strict=True)
                ]
            )
