"""The publication fence: outbox ids never reused, and a name for this store.

The fence compares outbox ids with those already on `ndtms.journeys`. SQLite reuses the highest
rowid once its row is deleted unless the table says AUTOINCREMENT (PostgreSQL's sequence never
goes back, so only SQLite's table is rebuilt); and ids of another store (a rebuilt or restored
database) must not count, so each store gets a random name that its publications carry.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    identity = op.create_table("store_identity", sa.Column("name", sa.String(36), primary_key=True))
    op.bulk_insert(identity, [{"name": str(uuid.uuid4())}])
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("outbox", recreate="always", table_kwargs={"sqlite_autoincrement": True}):
            pass


def downgrade() -> None:
    op.drop_table("store_identity")
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("outbox", recreate="always", table_kwargs={"sqlite_autoincrement": False}):
            pass
