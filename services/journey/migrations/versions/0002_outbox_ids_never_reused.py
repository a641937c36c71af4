"""Outbox ids are never reused: the publication fence compares them with what is on the topic.

SQLite reuses the highest rowid once its row is deleted unless the table says AUTOINCREMENT;
PostgreSQL's sequence never goes back, so only SQLite's table is rebuilt.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("outbox", recreate="always", table_kwargs={"sqlite_autoincrement": True}):
            pass


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("outbox", recreate="always", table_kwargs={"sqlite_autoincrement": False}):
            pass
